"""`fetch` in Python: a typed OutLayer guest that GETs a URL through `wasi:http`.

Built with componentize-py against two merged worlds, `outlayer:guest/typed@0.2.0` (the `run`
export) and `outlayer:guest/http-client@0.2.0` (`wasi:http/outgoing-handler@0.2.12`):

    componentize-py -d ../../../wit -w outlayer:guest/typed@0.2.0 -w outlayer:guest/http-client@0.2.0 \
        componentize app -o fetch-py.wasm        (or scripts/build-polyglot.sh)

`run(input)` takes a URL (the whole input, trimmed), GETs it and returns JSON:
`{"status": 200, "json": <the response body parsed as JSON>, "language": "python"}`.

A host should observe: with `http` granted for the URL's host, the server's JSON in `json`;
without the grant (or for a host outside the allowlist), `run-error::denied("http: ...")`;
input that is not an http(s) URL gives `run-error::invalid-input`.

CPython on WASI has no sockets (`urllib`, `requests` cannot work), so this calls the generated
`wasi:http` bindings directly and blocks on their pollables: no asyncio needed for one request.
Both worlds have an interface named `types`, so componentize-py names the modules
`outlayer_guest_types` and `wasi_http_types`.
"""

import json
from urllib.parse import urlsplit

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as http
from wit_world.imports.outlayer_guest_types import RunError_Denied, RunError_InvalidInput, RunError_Other

READ_SIZE = 64 * 1024


def http_error(code) -> Err:
    """A run-error for a wasi:http error code: denied when the host refused the request."""
    if isinstance(code, http.ErrorCode_HttpRequestDenied):
        return Err(RunError_Denied("http: HTTP-request-denied"))
    return Err(RunError_Other(f"http: {code!r}"))


def get(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    request = http.OutgoingRequest(http.Fields.from_list([("accept", b"application/json")]))
    request.set_method(http.Method_Get())
    request.set_scheme(http.Scheme_Https() if parts.scheme == "https" else http.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise http_error(e.value)
    while (result := future.get()) is None:
        future.subscribe().block()
    # result: Ok(Ok(response)) | Ok(Err(error-code)) | Err(()) (taken twice, never here)
    if not isinstance(result, Ok):
        raise Err(RunError_Other("http: response already taken"))
    if not isinstance(result.value, Ok):
        raise http_error(result.value.value)
    response = result.value.value
    status = response.status()
    body = response.consume()
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunk = stream.read(READ_SIZE)
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise Err(RunError_Other(f"http: reading the body: {e.value!r}"))
        if chunk:
            chunks.append(chunk)
        else:
            stream.subscribe().block()
    stream.__exit__(None, None, None)  # the stream is a child of the body: drop it first
    http.IncomingBody.finish(body)
    return status, b"".join(chunks)


class WitWorld(wit_world.WitWorld):
    def run(self, input: bytes) -> bytes:
        url = input.decode().strip()
        if not (url.startswith("http://") or url.startswith("https://")):
            raise Err(RunError_InvalidInput(f"{url!r} is not an http(s) URL"))
        status, body = get(url)
        try:
            data = json.loads(body)
        except ValueError:
            raise Err(RunError_Other(f"status {status}, body is not JSON: {body[:200]!r}"))
        return json.dumps({"status": status, "json": data, "language": "python"}).encode()
