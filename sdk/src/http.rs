//! Outbound HTTP over `wasi:http/outgoing-handler` (capability `http`).
//!
//! The host lets a request through only when the execution was granted `http` and the URL's
//! host is on the project's allowlist (`outlayer run --grant http=api.example.com`); plain
//! `http://` only where the allowlist entry says so. Otherwise the request fails with
//! [`Error::Denied`]`(Capability::Http)`, which a guest can handle. Hosts that resolve to a
//! private or local address are refused (`Error::Http("destination-IP-prohibited")`). The host
//! never follows redirects: a 3xx is returned as it is, and following it is a new request,
//! checked again.
//!
//! ```no_run
//! use outlayer_sdk::http;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Price { usd: f64 }
//!
//! # fn demo() -> outlayer_sdk::Result<()> {
//! // GET and decode JSON (any 2xx status; other statuses are an error naming the status).
//! let price: Price = http::get_json("https://api.example.com/price/near")?;
//!
//! // Full control: method, headers, body; the response keeps status and headers.
//! let response = http::Request::post("https://api.example.com/echo")
//!     .header("x-api-key", "k")
//!     .json(&serde_json::json!({ "usd": price.usd }))?
//!     .send()?;
//! assert_eq!(response.status, 200);
//! let content_type = response.header("content-type");
//! let text = response.text()?;
//! # let _ = (content_type, text); Ok(()) }
//! ```
//!
//! [`Error::Denied`]: crate::Error::Denied

use crate::bindings::wasi_http::wasi::http::outgoing_handler;
use crate::bindings::wasi_http::wasi::http::types::{self as wit, ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use crate::bindings::wasi_http::wasi::io::streams::StreamError;
use crate::{Capability, Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes written to the request body per call (`wasi:io` allows 4096 per blocking write).
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// A request being built. Send it with [`Request::send`].
///
/// ```
/// use outlayer_sdk::http::Request;
/// let r = Request::get("https://api.example.com/items?page=2").header("accept", "application/json");
/// assert_eq!(r.method(), "GET");
/// assert_eq!(r.url(), "https://api.example.com/items?page=2");
/// ```
#[derive(Clone, Debug)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// A response: status, headers and the whole body (read up to the host's byte cap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, in the order received (names lower-case).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS`, ...).
    pub fn new(method: &str, url: &str) -> Self {
        Self { method: method.to_ascii_uppercase(), url: url.to_string(), headers: Vec::new(), body: Vec::new() }
    }

    /// A `GET`.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST`.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Add a header (repeatable).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Set a JSON body and `content-type: application/json`.
    ///
    /// ```
    /// use outlayer_sdk::http::Request;
    /// let r = Request::post("https://api.example.com/").json(&serde_json::json!({ "a": 1 })).unwrap();
    /// assert_eq!(r.body_bytes(), br#"{"a":1}"#);
    /// ```
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Other(format!("http: cannot encode JSON body: {e}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Send the request and read the whole response.
    pub fn send(self) -> Result<Response> {
        let url = Url::parse(&self.url)?;
        let fields = Fields::from_list(&self.headers).map_err(|e| Error::Http(format!("invalid header: {e:?}")))?;
        let request = OutgoingRequest::new(fields);
        let method = match self.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        };
        let scheme = if url.https { Scheme::Https } else { Scheme::Http };
        let bad = |what: &str| Error::Http(format!("invalid {what} in {:?}", self.url));
        request.set_method(&method).map_err(|()| bad("method"))?;
        request.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
        request.set_authority(Some(url.authority)).map_err(|()| bad("authority"))?;
        request.set_path_with_query(Some(url.path)).map_err(|()| bad("path"))?;
        let body = request.body().map_err(|()| Error::Http("request body taken".into()))?;

        // Hand the request over first, then stream the body: the host reads it as it is written.
        let future = outgoing_handler::handle(request, None).map_err(from_code)?;
        {
            let stream = body.write().map_err(|()| Error::Http("request body stream taken".into()))?;
            for chunk in self.body.chunks(WRITE_CHUNK) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    break; // the request failed; the response future says why
                }
            }
        }
        let finished = OutgoingBody::finish(body, None);

        let pollable = future.subscribe();
        pollable.block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_code(code)),
            Some(Err(())) | None => return Err(Error::Http("response already taken".into())),
        };
        finished.map_err(from_code)?;
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response.consume().map_err(|()| Error::Http("response body taken".into()))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| Error::Http("response body stream taken".into()))?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(bytes) => body.extend_from_slice(&bytes),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(match wit::http_error_code(&e) {
                            Some(code) => from_code(code),
                            None => Error::Http(format!("reading the response body: {}", e.to_debug_string())),
                        });
                    }
                }
            }
        }
        drop(incoming);
        Ok(Response { status, headers, body })
    }
}

impl Response {
    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|e| Error::decode("http response body", e))
    }

    /// The body decoded as JSON.
    ///
    /// ```
    /// use outlayer_sdk::http::Response;
    /// let r = Response { status: 200, headers: vec![], body: br#"{"n":7}"#.to_vec() };
    /// let v: serde_json::Value = r.json().unwrap();
    /// assert_eq!(v["n"], 7);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::decode("http response body", e))
    }

    /// `Ok(self)` for a 2xx status, otherwise an [`Error::Http`] naming the status.
    pub fn error_for_status(self) -> Result<Self> {
        if self.is_success() { Ok(self) } else { Err(Error::Http(format!("status {}", self.status))) }
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response> {
    Request::get(url).send()
}

/// `POST url` with `body`.
pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Result<Response> {
    Request::post(url).body(body).send()
}

/// `GET url` with `accept: application/json`; a 2xx body decoded as JSON.
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T> {
    Request::get(url).header("accept", "application/json").send()?.error_for_status()?.json()
}

/// `POST url` with `value` as JSON; a 2xx body decoded as JSON.
pub fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(url: &str, value: &B) -> Result<T> {
    Request::post(url).header("accept", "application/json").json(value)?.send()?.error_for_status()?.json()
}

/// The SDK error for a `wasi:http` error code.
fn from_code(code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => Error::Denied(Capability::Http),
        ErrorCode::ConnectionLimitReached => Error::LimitExceeded(Capability::Http),
        other => Error::Http(code_name(&other)),
    }
}

/// The WIT name of an error code (`destination-IP-prohibited`), with its payload if any.
fn code_name(code: &ErrorCode) -> String {
    match code {
        ErrorCode::DnsTimeout => "DNS-timeout".into(),
        ErrorCode::DnsError(_) => "DNS-error".into(),
        ErrorCode::DestinationNotFound => "destination-not-found".into(),
        ErrorCode::DestinationUnavailable => "destination-unavailable".into(),
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited".into(),
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable".into(),
        ErrorCode::ConnectionRefused => "connection-refused".into(),
        ErrorCode::ConnectionTerminated => "connection-terminated".into(),
        ErrorCode::ConnectionTimeout => "connection-timeout".into(),
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout".into(),
        ErrorCode::ConnectionWriteTimeout => "connection-write-timeout".into(),
        ErrorCode::TlsProtocolError => "TLS-protocol-error".into(),
        ErrorCode::TlsCertificateError => "TLS-certificate-error".into(),
        ErrorCode::HttpRequestBodySize(n) => format!("HTTP-request-body-size {}", n.unwrap_or(0)),
        ErrorCode::HttpResponseBodySize(n) => format!("HTTP-response-body-size {}", n.unwrap_or(0)),
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout".into(),
        ErrorCode::HttpProtocolError => "HTTP-protocol-error".into(),
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid".into(),
        other => format!("{other:?}"),
    }
}

/// The parts of an absolute `http(s)://authority/path?query` URL.
struct Url<'a> {
    https: bool,
    authority: &'a str,
    path: &'a str,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Result<Self> {
        let bad = || Error::Http(format!("not an absolute http(s) URL: {url:?}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad()),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.is_empty() { "/" } else { path };
        let path = path.split('#').next().unwrap_or(path);
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        Ok(Self { https, authority, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let u = Url::parse("https://api.example.com:8443/a/b?c=d#frag").unwrap();
        assert!(u.https);
        assert_eq!((u.authority, u.path), ("api.example.com:8443", "/a/b?c=d"));
        let u = Url::parse("http://[::1]").unwrap();
        assert_eq!((u.https, u.authority, u.path), (false, "[::1]", "/"));
        assert_eq!(Url::parse("http://h?x=1").unwrap().path, "?x=1");
        for bad in ["ftp://x", "x.com/a", "https://", "https://user@x.com/"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn denial_and_budget_are_the_common_errors() {
        assert_eq!(from_code(ErrorCode::HttpRequestDenied), Error::Denied(Capability::Http));
        assert_eq!(from_code(ErrorCode::ConnectionLimitReached), Error::LimitExceeded(Capability::Http));
        assert_eq!(from_code(ErrorCode::DestinationIpProhibited).to_string(), "http: destination-IP-prohibited");
    }
}
