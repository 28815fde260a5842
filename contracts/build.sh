#!/usr/bin/env bash
# Builds every OutLayer contract for wasm32-unknown-unknown with the `contract` profile and
# prints the size of each .wasm. Exits non-zero if one fails to build.
#
#   contracts/build.sh            # all contracts
#   contracts/build.sh outlayer-register
#
# Output: $CARGO_TARGET_DIR (default target/contracts-wasm)/wasm32-unknown-unknown/contract/*.wasm
# `--cfg near` keeps near-sdk's panic messages in the wasm (they are lost without it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/contracts-wasm}"
export RUSTFLAGS="--cfg near"

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    crates=(outlayer-contract outlayer-register outlayer-keystore-dao outlayer-example-caller)
fi

out="$CARGO_TARGET_DIR/wasm32-unknown-unknown/contract"
failed=0
for crate in "${crates[@]}"; do
    start=$(date +%s)
    if cargo build -p "$crate" --target wasm32-unknown-unknown --profile contract; then
        wasm="$out/${crate//-/_}.wasm"
        if [ ! -f "$wasm" ]; then
            echo "error: $crate built but $wasm is missing" >&2
            failed=1
            continue
        fi
        printf '%-28s %9d bytes  (%ds)  %s\n' "$crate" "$(stat -c %s "$wasm")" "$(( $(date +%s) - start ))" "$wasm"
    else
        echo "error: $crate failed to build" >&2
        failed=1
    fi
done
exit "$failed"
