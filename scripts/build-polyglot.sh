#!/usr/bin/env bash
# Build the guests written in other languages into components of the typed world
# (outlayer:guest/typed@0.2.0), installing their tools (pinned) when missing:
#   guests/python/counter/app.py -> <target>/polyglot/counter-py.wasm   (componentize-py, PyPI)
#   guests/python/fetch/app.py   -> <target>/polyglot/fetch-py.wasm     (typed + wasi:http, its own wit/)
#   guests/js/counter/app.js     -> <target>/polyglot/counter-js.wasm   (componentize-js, npm)
#   guests/js/fetch/app.js       -> <target>/polyglot/fetch-js.wasm     (typed + fetch over wasi:http)
#
# Usage: scripts/build-polyglot.sh [--no-install] [python|js|all]   (default: all)
#   --no-install  fail instead of installing a missing tool (used by the tests).
# <target> is $CARGO_TARGET_DIR, else ./target. componentize-js is installed with npm into
# <target>/polyglot-tools/js (no node_modules in the repository). A component newer than its
# source is not rebuilt. Prints each build's time and size.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
WORLD=outlayer:guest/typed@0.2.0

install=1
which=all
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    python|js|all) which="$arg" ;;
    *) echo "usage: $0 [--no-install] [python|js|all]" >&2; exit 64 ;;
  esac
done

root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target="$root/$target" ;; esac
out="$target/polyglot"
tools="$target/polyglot-tools"
mkdir -p "$out" "$tools"

# A component is up to date when it is newer than its sources (files or folders) and the WIT files.
fresh() {
  local wasm=$1; shift
  [ -f "$wasm" ] && [ -z "$(find "$root/wit" "$@" -newer "$wasm" \( -name '*.wit' -o -name '*.py' -o -name '*.js' \) -print -quit)" ]
}

timed() {
  local label=$1; shift
  local start ms
  start=$(date +%s%N)
  "$@"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '%s: %d.%d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 100))
}

build_python() {
  if ! command -v componentize-py >/dev/null || [ "$(componentize-py --version | awk '{print $2}')" != "$COMPONENTIZE_PY_VERSION" ]; then
    if [ "$install" = 0 ]; then echo "componentize-py $COMPONENTIZE_PY_VERSION is not installed" >&2; return 3; fi
    timed "install componentize-py $COMPONENTIZE_PY_VERSION" python3 -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
  fi
  local src=guests/python/counter wasm="$out/counter-py.wasm"
  if fresh "$wasm" "$src/app.py"; then echo "counter-py.wasm is up to date"; else
    timed "build counter-py.wasm" componentize-py -d "$root/wit" -w "$WORLD" componentize -p "$src" app -o "$wasm"
    # componentize-py compiles the sources in place: keep the bytecode out of the tree.
    rm -rf "$src/__pycache__"
  fi
  echo "counter-py.wasm: $(stat -c %s "$wasm") bytes"
  # fetch: its world (wit/fetch.wit) is the typed world plus wasi:http/outgoing-handler. One world,
  # not `-w typed -w http-client`: componentize-py 0.25.1 panics merging those two.
  src=guests/python/fetch wasm="$out/fetch-py.wasm"
  if fresh "$wasm" "$src/app.py" "$src/wit"; then echo "fetch-py.wasm is up to date"; else
    timed "build fetch-py.wasm" componentize-py -d "$root/wit" -d "$src/wit" -w outlayer:python-fetch/fetch@0.1.0 \
      componentize -p "$src" app -o "$wasm"
    rm -rf "$src/__pycache__"
  fi
  echo "fetch-py.wasm: $(stat -c %s "$wasm") bytes"
}

build_js() {
  local js="$tools/js" cli="$tools/js/node_modules/@bytecodealliance/componentize-js/src/cli.js"
  if ! command -v node >/dev/null; then echo "node is not installed" >&2; return 3; fi
  if [ ! -f "$cli" ] || ! grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$js/node_modules/@bytecodealliance/componentize-js/package.json"; then
    if [ "$install" = 0 ]; then echo "componentize-js $COMPONENTIZE_JS_VERSION is not installed in $js" >&2; return 3; fi
    mkdir -p "$js"
    [ -f "$js/package.json" ] || echo '{"name":"outlayer-polyglot-tools","private":true}' > "$js/package.json"
    timed "install componentize-js $COMPONENTIZE_JS_VERSION" npm install --prefix "$js" --no-audit --no-fund --silent \
      "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION"
  fi
  local src=guests/js/counter/app.js wasm="$out/counter-js.wasm"
  if fresh "$wasm" "$src"; then echo "counter-js.wasm is up to date"; else
    # counter makes no HTTP request: leave wasi:http (and the fetch event) out of the component.
    timed "build counter-js.wasm" node "$cli" "$src" --wit "$root/wit" --world-name "$WORLD" -d http fetch-event -o "$wasm"
  fi
  echo "counter-js.wasm: $(stat -c %s "$wasm") bytes"
  # fetch keeps `http` (StarlingMonkey's fetch imports wasi:http/outgoing-handler@0.2.10, which
  # our hosts link through wasmtime's semver matching); OutLayer calls `run`, so no fetch event.
  src=guests/js/fetch/app.js wasm="$out/fetch-js.wasm"
  if fresh "$wasm" "$src"; then echo "fetch-js.wasm is up to date"; else
    timed "build fetch-js.wasm" node "$cli" "$src" --wit "$root/wit" --world-name "$WORLD" -d fetch-event -o "$wasm"
  fi
  echo "fetch-js.wasm: $(stat -c %s "$wasm") bytes"
}

case "$which" in
  python) build_python ;;
  js) build_js ;;
  all) build_python; build_js ;;
esac
