#!/usr/bin/env bash
# Copy the repository's WIT (`wit/`, the single source of truth) into the SDK crate (`sdk/wit/`),
# so that `outlayer-sdk` is self-contained and can be published to crates.io.
#
# The whole folder is copied: `wit/worlds.wit` names every package in `wit/deps/` (its `runtime`
# world imports the v0.1 `near:*` packages too), so the worlds do not resolve with only a subset.
#
#   scripts/sync-sdk-wit.sh          # make sdk/wit an exact copy of wit/
#   scripts/sync-sdk-wit.sh --check  # exit 1, listing the differences, when they differ
#
# `cargo test -p outlayer-sdk` runs the same check (sdk/tests/wit_in_step.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    --check)
        if ! diff -r wit sdk/wit; then
            echo "sdk/wit differs from wit/: run scripts/sync-sdk-wit.sh" >&2
            exit 1
        fi
        ;;
    "")
        rm -rf sdk/wit
        cp -R wit sdk/wit
        echo "copied wit/ to sdk/wit/"
        ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac
