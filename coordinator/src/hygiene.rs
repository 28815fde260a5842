//! Input hygiene: what a request may carry before any handler (and so any database) sees it, and
//! the safety net that turns every non-JSON error response into the documented JSON error.
//!
//! PostgreSQL refuses a NUL character in `text` and invalid UTF-8 anywhere; SQLite stores them. So
//! the same input must be refused the same way on both, before the database: a NUL or invalid
//! UTF-8 in the decoded path (400 `invalid_path`), in the decoded query (400 `invalid_query`), a
//! header the API reads that is not visible ASCII (400 `invalid_header`), and a `\u0000` escape in
//! a JSON body whose strings are stored or looked up as text (400 `invalid_json`, see
//! [`check_json_text`]). Call inputs and worker results are exempt: they are stored as JSON text,
//! where a NUL is the escape `\u0000`, never a raw byte.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Headers the API reads as text (their values reach lookups): they must be visible ASCII.
pub const CHECKED_HEADERS: [&str; 5] = ["authorization", "x-payment-key", "x-compute-limit", "x-attached-deposit", "x-forwarded-for"];

/// Largest error body read back when turning a plain-text error into JSON.
const MAX_PLAIN_ERROR_BYTES: usize = 4096;

/// Percent-decodes `s` (`+` stays `+` unless `plus_is_space`); `None` for a malformed escape.
fn percent_decode(s: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// `true` if `bytes` are UTF-8 without a NUL: what both databases store as text.
pub fn storable(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// 400 `invalid_json` if `value` (a JSON string that is bound as text) holds a NUL.
pub fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::bad_request("invalid_json", format!("{field} contains a NUL character")));
    }
    Ok(())
}

/// 400 `invalid_json` if the JSON text `bytes` holds a string with the escape `\u0000` (the only
/// way a NUL can be written in valid JSON). Invalid UTF-8 is refused by the JSON parser itself.
pub fn check_json_text(bytes: &[u8]) -> Result<(), ApiError> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            // Outside strings JSON has no backslash, so every backslash starts an escape.
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
                return Err(ApiError::bad_request("invalid_json", "a JSON string contains a NUL character (\\u0000)"));
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The request checks of this module (a middleware over every route).
pub async fn guard(request: Request, next: Next) -> Response {
    match check_request(&request) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn check_request(request: &Request) -> Result<(), ApiError> {
    let uri = request.uri();
    let path_ok = percent_decode(uri.path(), false).is_some_and(|p| storable(&p));
    if !path_ok {
        return Err(ApiError::bad_request("invalid_path", "the path has a NUL, invalid UTF-8 or a malformed %-escape"));
    }
    if let Some(query) = uri.query() {
        let query_ok = percent_decode(query, true).is_some_and(|q| storable(&q));
        if !query_ok {
            return Err(ApiError::bad_request("invalid_query", "the query has a NUL, invalid UTF-8 or a malformed %-escape"));
        }
    }
    for name in CHECKED_HEADERS {
        for value in request.headers().get_all(name) {
            if !visible_ascii(value) {
                return Err(ApiError::bad_request("invalid_header", format!("{name} must be visible ASCII")));
            }
        }
    }
    Ok(())
}

fn visible_ascii(value: &HeaderValue) -> bool {
    value.as_bytes().iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
}

/// The stable code of an error status that a layer below the handlers (axum's extractors and
/// body limits, the router) answered as plain text.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        404 => "route_not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "rate_limited",
        431 => "headers_too_large",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// Turns an error response that is not JSON (nor a dashboard page) into the documented
/// `{"error": {"code", "message"}}` (a middleware over every route): axum's own rejections
/// (path decoding, query, body limits) answer `text/plain`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain = match response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(ct) => ct.starts_with("text/plain"),
    };
    if !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_ERROR_BYTES).await.unwrap_or_default();
    let message = if status.is_server_error() {
        "internal error".to_owned()
    } else {
        let text = String::from_utf8_lossy(&text).trim().to_owned();
        if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text }
    };
    let mut json = ApiError::new(status, code_of(status), message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_only_as_escapes() {
        assert!(check_json_text(br#"{"a":"x\u0000"}"#).is_err());
        assert!(check_json_text(br#"{"a\u0000":1}"#).is_err());
        // An escaped backslash followed by the text u0000 is not a NUL.
        assert!(check_json_text(br#"{"a":"\\u0000"}"#).is_ok());
        assert!(check_json_text(br#"{"a":"\u0001 \n \""}"#).is_ok());
    }

    #[test]
    fn decoded_paths() {
        assert!(!storable(&percent_decode("/projects/%00%00/x", false).unwrap()));
        assert!(!storable(&percent_decode("/projects/%ff/x", false).unwrap()));
        assert!(percent_decode("/projects/%zz/x", false).is_none());
        assert!(percent_decode("/x%2", false).is_none());
        assert!(storable(&percent_decode("/projects/caf%C3%A9/x", false).unwrap()));
        assert_eq!(percent_decode("a+b", true).unwrap(), b"a b");
    }
}
