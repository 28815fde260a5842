"""`counter` in Python: a typed OutLayer guest (world `outlayer:guest/typed@0.2.0`).

`run(input)` adds the integer in `input` (empty = 1) to the counter under key `"counter"` in the
caller's scope of `outlayer:storage/store` and returns JSON:
`{"counter": 3, "caller": "alice.near", "language": "python"}`.

A host should observe: the counter growing across executions of the same caller; input that is
not an integer gives `run-error::invalid-input`; without the storage grant,
`run-error::denied("storage: denied")`.

Build: `componentize-py -d ../../../wit -w outlayer:guest/typed@0.2.0 componentize app -o counter.wasm`
(or `scripts/build-polyglot.sh`).
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import context, store
from wit_world.imports.types import RunError_Denied, RunError_InvalidInput, RunError_Other

KEY = "counter"


class WitWorld(wit_world.WitWorld):
    def run(self, input: bytes) -> bytes:
        text = input.decode("utf-8", errors="replace").strip()
        try:
            delta = int(text) if text else 1
        except ValueError:
            raise Err(RunError_InvalidInput(f"{text!r} is not an integer"))
        try:
            value = store.increment(store.Scope.CALLER, KEY, delta)
        except Err as e:
            if isinstance(e.value, store.Error_Denied):
                raise Err(RunError_Denied("storage: denied"))
            raise Err(RunError_Other(f"storage: {e.value!r}"))
        caller = context.get().caller
        return json.dumps({"counter": value, "caller": caller, "language": "python"}).encode()
