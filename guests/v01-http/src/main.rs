//! `v01-http`: an OutLayer v0.1 guest (plain `wit-bindgen` on the frozen
//! `near:payment/api@0.1.0` interface) that also imports `wasi:http/outgoing-handler@0.2.12`,
//! as a v0.1 author adding outbound HTTP by hand (no SDK) would write it.
//!
//! Input (stdin): one URL (`http://host:port/path` or `https://...`). The guest GETs it through
//! `wasi:http` and asks for a zero refund through the v0.1 payment interface.
//!
//! Output (stdout): `{"status": <u16>, "body": "<text>", "refund": "<v0.1 answer>"}`, or
//! `{"error": "<wasi:http error-code, debug form>", "refund": ...}` when the request failed
//! (denied, prohibited address, ...). A host should: instantiate it (both worlds' imports
//! linked), allow the request only with `http` granted and the host on the allowlist.

use std::io::Read;

wit_bindgen::generate!({
    inline: r#"
        package outlayer-guests:v01-http;
        world v01-http {
            import near:payment/api@0.1.0;
            import wasi:http/outgoing-handler@0.2.12;
        }
    "#,
    path: "../../wit",
    world: "outlayer-guests:v01-http/v01-http",
    generate_all,
});

use near::payment::api;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

fn get(url: &str) -> Result<(u16, String), String> {
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(r), _) => (true, r),
        (None, Some(r)) => (false, r),
        _ => return Err(format!("not an http(s) URL: {url}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&if https { Scheme::Https } else { Scheme::Http })).map_err(|()| "scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "path")?;
    let body = request.body().map_err(|()| "body")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(code))) => return Err(format!("{code:?}")),
        _ => return Err("no response".into()),
    };
    let status = response.status();
    let incoming = response.consume().map_err(|()| "consume")?;
    let mut bytes = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| "stream")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
            }
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn main() {
    let mut url = String::new();
    std::io::stdin().read_to_string(&mut url).expect("stdin");
    let refund = api::refund_usd(0);
    let out = match get(url.trim()) {
        Ok((status, body)) => serde_json::json!({ "status": status, "body": body, "refund": refund }),
        Err(error) => serde_json::json!({ "error": error, "refund": refund }),
    };
    println!("{out}");
}
