//! The dstack guest agent (and its predecessor tappd): an HTTP/1.1 JSON API on a unix socket
//! inside a dstack CVM.
//!
//! - dstack ≥ 0.5: `POST /GetQuote {"report_data": "<hex>"}` on `/var/run/dstack.sock`;
//! - tappd (legacy): `POST /prpc/Tappd.RawQuote {"report_data": "<128 hex>"}` on
//!   `/var/run/tappd.sock`.
//!
//! Both answer `{"quote": "<hex>", "event_log": "<json>", ...}`; errors are a non-200 status with
//! `{"error": "..."}`. One request per connection (`Connection: close`), std only.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{CollateralSource, ProviderError, QuoteProvider, check_quote_report_data};
use crate::evidence::Evidence;

/// The dstack guest agent's socket.
pub const DEFAULT_DSTACK_SOCKET: &str = "/var/run/dstack.sock";

/// The legacy tappd socket.
pub const DEFAULT_TAPPD_SOCKET: &str = "/var/run/tappd.sock";

/// Largest agent response read: a quote is ~5 KB and the event log tens of KB; this stops a
/// broken agent from making the worker buffer without bound.
pub const MAX_AGENT_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// Default read/write timeout on the agent socket: quote generation takes well under a second.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which agent API to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentApi {
    /// dstack ≥ 0.5: `POST /GetQuote`.
    Dstack,
    /// tappd (dstack < 0.5): `POST /prpc/Tappd.RawQuote`.
    Tappd,
}

impl AgentApi {
    fn path(self) -> &'static str {
        match self {
            Self::Dstack => "/GetQuote",
            Self::Tappd => "/prpc/Tappd.RawQuote",
        }
    }
}

/// Quotes from the dstack guest agent, collateral from a [`CollateralSource`].
pub struct DstackAgent<C> {
    socket: PathBuf,
    api: AgentApi,
    timeout: Duration,
    collateral: C,
}

#[derive(Deserialize)]
struct QuoteResponse {
    quote: String,
    #[serde(default)]
    event_log: Option<String>,
}

impl<C: CollateralSource> DstackAgent<C> {
    /// The dstack agent at [`DEFAULT_DSTACK_SOCKET`].
    pub fn new(collateral: C) -> Self {
        Self::with_socket(DEFAULT_DSTACK_SOCKET, AgentApi::Dstack, collateral)
    }

    /// An agent at another socket / with the legacy API.
    pub fn with_socket(socket: impl Into<PathBuf>, api: AgentApi, collateral: C) -> Self {
        Self { socket: socket.into(), api, timeout: DEFAULT_TIMEOUT, collateral }
    }

    /// Read/write timeout on the socket (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn call(&self, body: &str) -> Result<(u16, Vec<u8>), ProviderError> {
        let sock = self.socket.display().to_string();
        let mut stream = UnixStream::connect(&self.socket).map_err(ProviderError::io(format!("connect {sock}")))?;
        stream.set_read_timeout(Some(self.timeout)).map_err(ProviderError::io(&sock))?;
        stream.set_write_timeout(Some(self.timeout)).map_err(ProviderError::io(&sock))?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: dstack\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api.path(),
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(ProviderError::io(format!("write {sock}")))?;
        let mut raw = Vec::new();
        stream.take(MAX_AGENT_RESPONSE_BYTES + 1).read_to_end(&mut raw).map_err(ProviderError::io(format!("read {sock}")))?;
        if raw.len() as u64 > MAX_AGENT_RESPONSE_BYTES {
            return Err(ProviderError::BadResponse(format!("response larger than {MAX_AGENT_RESPONSE_BYTES} bytes")));
        }
        parse_response(&raw)
    }
}

impl<C: CollateralSource> QuoteProvider for DstackAgent<C> {
    fn evidence(&self, report_data: [u8; 64]) -> Result<Evidence, ProviderError> {
        let body = serde_json::json!({ "report_data": hex::encode(report_data) }).to_string();
        let (status, body) = self.call(&body)?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            return Err(ProviderError::Agent { status, body: text.chars().take(512).collect() });
        }
        let response: QuoteResponse = serde_json::from_slice(&body).map_err(|e| ProviderError::BadResponse(format!("agent JSON: {e}")))?;
        let quote = hex::decode(response.quote.trim()).map_err(|e| ProviderError::BadResponse(format!("quote hex: {e}")))?;
        check_quote_report_data(&quote, &report_data)?;
        let collateral = self.collateral.collateral(&quote)?;
        Ok(Evidence::Tdx { quote, collateral, event_log: response.event_log })
    }
}

/// Splits an HTTP/1.1 response into status and body (Content-Length, chunked or to EOF).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), ProviderError> {
    let bad = |m: &str| ProviderError::BadResponse(m.to_owned());
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("header is not UTF-8"))?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| bad("bad status line"))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad("bad content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    if chunked {
        return Ok((status, dechunk(body).ok_or_else(|| bad("bad chunked body"))?));
    }
    match length {
        Some(n) if n <= body.len() => Ok((status, body[..n].to_vec())),
        Some(_) => Err(bad("body shorter than content-length")),
        None => Ok((status, body.to_vec())),
    }
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn parses_length_chunked_and_eof_bodies() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi!").unwrap();
        assert_eq!(r, (200, b"hi".to_vec()));
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n").unwrap();
        assert_eq!(r, (200, b"hello".to_vec()));
        let r = parse_response(b"HTTP/1.0 500 Oops\r\n\r\n{}").unwrap();
        assert_eq!(r, (500, b"{}".to_vec()));
        assert!(parse_response(b"garbage").is_err());
    }
}
