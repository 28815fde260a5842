// `fetch` in JavaScript: a typed OutLayer guest (world `outlayer:guest/typed@0.2.0`), built with
// componentize-js, that calls `fetch` (StarlingMonkey implements it on `wasi:http`).
//
// `run(input)` takes a URL (the whole input, trimmed), GETs it and returns JSON:
// `{"status":200,"json":<the response body parsed as JSON>,"language":"javascript"}`.
//
// A host should observe: with `http` granted for the URL's host, the server's JSON in `json`;
// input that is not an http(s) URL gives `run-error::invalid-input`, a body that is not JSON
// `run-error::other`. Without the grant (or for a host outside the allowlist) `fetch` rejects
// with a `TypeError` "NetworkError when attempting to fetch resource": StarlingMonkey does not
// expose the wasi:http error code, so `run` fails with `run-error::other("http: NetworkError...")`
// and the host, which recorded the refusal, reports the execution as `denied` (capability http).
//
// `run` is async: componentize-js runs the event loop until the promise an export returns settles.
//
// Build: componentize-js app.js --wit ../../../wit --world-name outlayer:guest/typed@0.2.0 -d fetch-event -o fetch.wasm
// (keep `http`: `-d http` would remove `fetch`; or scripts/build-polyglot.sh).

export async function run(input) {
  const url = new TextDecoder().decode(input).trim();
  if (!/^https?:\/\//.test(url)) {
    throw { tag: "invalid-input", val: `${JSON.stringify(url)} is not an http(s) URL` };
  }
  let response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" } });
  } catch (e) {
    throw { tag: "other", val: `http: ${e?.message ?? e}` };
  }
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw { tag: "other", val: `status ${response.status}, body is not JSON: ${text.slice(0, 200)}` };
  }
  const body = JSON.stringify({ status: response.status, json, language: "javascript" });
  return new TextEncoder().encode(body);
}
