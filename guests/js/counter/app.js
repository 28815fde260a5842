// `counter` in JavaScript: a typed OutLayer guest (world `outlayer:guest/typed@0.2.0`), built with
// componentize-js (SpiderMonkey inside the component).
//
// `run(input)` adds the integer in `input` (empty = 1) to the counter under key "counter" in the
// caller's scope of `outlayer:storage/store` and returns JSON:
// `{"counter":3,"caller":"alice.near","language":"javascript"}`.
//
// A host should observe: the counter growing across executions of the same caller; input that is
// not an integer gives `run-error::invalid-input`; without the storage grant,
// `run-error::denied("storage: denied")`.
//
// WIT in JS: s64 is a BigInt, list<u8> a Uint8Array, enums are strings ("caller"), variants are
// `{ tag, val }`; an import's error result is thrown (its `payload` is the WIT error) and a thrown
// value from `run` becomes its `err`.
//
// Build: componentize-js app.js --wit ../../../wit --world-name outlayer:guest/typed@0.2.0 -o counter.wasm
// (or scripts/build-polyglot.sh).

import { increment } from "outlayer:storage/store@0.2.0";
import { get as getContext } from "outlayer:context/context@0.2.0";

const KEY = "counter";

export function run(input) {
  const text = new TextDecoder().decode(input).trim();
  if (text !== "" && !/^-?\d+$/.test(text)) {
    throw { tag: "invalid-input", val: `${JSON.stringify(text)} is not an integer` };
  }
  const delta = text === "" ? 1n : BigInt(text);
  let value;
  try {
    value = increment("caller", KEY, delta);
  } catch (e) {
    const error = e.payload ?? e;
    if (error.tag === "denied") {
      throw { tag: "denied", val: "storage: denied" };
    }
    throw { tag: "other", val: `storage: ${JSON.stringify(error)}` };
  }
  const caller = getContext().caller ?? null;
  const body = JSON.stringify({ counter: Number(value), caller, language: "javascript" });
  return new TextEncoder().encode(body);
}
