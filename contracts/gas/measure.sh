#!/usr/bin/env bash
# Measures the NEAR gas of the OutLayer contracts' methods in nearcore's own VM (near-vm-runner)
# and prints a table; see docs/gas.md.
#
#   contracts/gas/measure.sh                              # build the two contracts from this tree, measure
#   OUTLAYER_GAS_REV=HEAD contracts/gas/measure.sh        # build them from a commit (git archive), measure
#   contracts/gas/measure.sh --protocol-version 84        # arguments go to the runner
#   contracts/gas/measure.sh --json /tmp/gas.json --all   # also write JSON / list the setup calls
#   OUTLAYER_GAS_NO_BUILD=1 contracts/gas/measure.sh      # use the wasm already built
#
# The contracts (outlayer-contract and outlayer-register only) are built by contracts/build.sh:
# from this tree into ${CARGO_TARGET_DIR:-target/contracts-wasm}, or, with OUTLAYER_GAS_REV, from
# a clean export of that commit into $gas_target/contracts. The runner (contracts/gas, not a
# workspace member: it brings its own wasmtime) is built in its own target dir,
# $OUTLAYER_GAS_TARGET_DIR (default: gas-target next to the checkout), so it never locks or
# invalidates target/. The scenario (calls and arguments) is contracts/gas/scenario.json.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
gas_target="${OUTLAYER_GAS_TARGET_DIR:-$(dirname "$root")/gas-target}"
start=$(date +%s)

if [ -n "${OUTLAYER_GAS_REV:-}" ]; then
    commit=$(git rev-parse --verify "${OUTLAYER_GAS_REV}^{commit}")
    src="$gas_target/src-$commit"
    if [ ! -d "$src" ]; then
        mkdir -p "$src.tmp"
        git archive "$commit" | tar -x -C "$src.tmp"
        mv "$src.tmp" "$src"
    fi
    echo "contracts from commit $commit" >&2
    export CARGO_TARGET_DIR="$gas_target/contracts"
    if [ -z "${OUTLAYER_GAS_NO_BUILD:-}" ]; then
        "$src/contracts/build.sh" outlayer-contract outlayer-register >&2
    fi
    wasm_dir="$CARGO_TARGET_DIR/wasm32-unknown-unknown/contract"
else
    if [ -z "${OUTLAYER_GAS_NO_BUILD:-}" ]; then
        contracts/build.sh outlayer-contract outlayer-register >&2
    fi
    wasm_dir="${CARGO_TARGET_DIR:-$root/target/contracts-wasm}/wasm32-unknown-unknown/contract"
fi
built=$(date +%s)

CARGO_TARGET_DIR="$gas_target" cargo run --quiet --manifest-path contracts/gas/Cargo.toml -- --wasm-dir "$wasm_dir" "$@"
end=$(date +%s)

echo "contract build $((built - start)) s, runner build + measurement $((end - built)) s" >&2
