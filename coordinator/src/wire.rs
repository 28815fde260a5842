//! The TCP side of the server: a listener whose connections answer hyper's own parse errors as the
//! documented JSON error, and the client address handlers see.
//!
//! hyper answers a request it cannot parse before any of our code runs — 414 for a URI longer
//! than 65 534 bytes, 431 for a header section over its buffer, 400 for a malformed request line
//! or header — with an empty body. [`JsonErrorListener`]'s connections recognise exactly those
//! automatic responses (status 400, 414 or 431 with `content-length: 0` as the first bytes hyper
//! writes for a response; every response of ours has a JSON body) and write the JSON error
//! instead; hyper closes the connection after them, so nothing else is written.
//!
//! They also bound how long a request head may take ([`REQUEST_HEAD_TIMEOUT`]): hyper's own
//! header timeout needs a timer `axum::serve` does not give it, so a client sending its head a
//! byte at a time (or nothing at all after connecting) would hold the connection forever. The
//! clock starts when a connection opens and when the first byte of a later request arrives (an
//! idle keep-alive connection is not timed), and stops at the blank line ending the head; past
//! it, the connection is closed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Duration, Instant, Sleep};

/// How long a client may take to send a request head (request line and headers), by default.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The address of the peer of a connection (`ConnectInfo<ClientAddr>` in handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, JsonErrorListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, JsonErrorListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// A TCP listener whose connections are [`JsonErrorStream`]s, each given `head_timeout` to send
/// a request head.
#[derive(Debug)]
pub struct JsonErrorListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// How long each connection may take to send a request head.
    pub head_timeout: Duration,
}

impl Listener for JsonErrorListener {
    type Io = JsonErrorStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.listener).await;
        let _ = stream.set_nodelay(true);
        let mut head = HeadClock { timeout: self.head_timeout, ..HeadClock::default() };
        // A connection that sends nothing is timed too.
        head.arm();
        (JsonErrorStream { inner: stream, replacement: None, head }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The request-head clock of one connection (see the module docs).
#[derive(Debug, Default)]
struct HeadClock {
    timeout: Duration,
    /// When the head being read must be complete (the timer is kept and reset per request).
    deadline: Option<Pin<Box<Sleep>>>,
    /// A head is in progress: `deadline` counts.
    armed: bool,
    /// A head has ended and its response not begun: bytes read now are the request's body.
    in_body: bool,
    /// The last three bytes of the head read so far (the blank line may span two reads).
    tail: [u8; 3],
    /// Not HTTP/1 (the HTTP/2 preface was read): not timed here.
    off: bool,
    /// Bytes of the connection read so far, up to the length of the HTTP/2 preface.
    seen: usize,
}

/// The HTTP/2 connection preface's first line.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl HeadClock {
    /// Whether the head in progress ran out of time (registers the waker if not).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.armed && self.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }

    fn arm(&mut self) {
        let at = Instant::now() + self.timeout;
        match &mut self.deadline {
            Some(d) => d.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.armed = true;
    }

    /// Takes the bytes just read: starts the clock on the first byte of a head, stops it at the
    /// blank line ending the head.
    fn read(&mut self, bytes: &[u8]) {
        if self.off || bytes.is_empty() {
            return;
        }
        if self.seen < H2_PREFACE.len() {
            let n = (H2_PREFACE.len() - self.seen).min(bytes.len());
            if bytes[..n] == H2_PREFACE[self.seen..self.seen + n] {
                self.seen += n;
                if self.seen == H2_PREFACE.len() {
                    self.off = true;
                    self.armed = false;
                    return;
                }
            } else {
                self.seen = H2_PREFACE.len();
            }
        }
        if self.in_body {
            return;
        }
        if !self.armed {
            self.arm();
        }
        // The blank line may start in the bytes kept from the previous read.
        let k = bytes.len().min(3);
        let mut joined = [0u8; 6];
        joined[..3].copy_from_slice(&self.tail);
        joined[3..3 + k].copy_from_slice(&bytes[..k]);
        let blank = |w: &[u8]| w == b"\r\n\r\n";
        if joined[..3 + k].windows(4).any(blank) || bytes.windows(4).any(blank) {
            self.armed = false;
            self.in_body = true;
            self.tail = [0; 3];
        } else if bytes.len() >= 3 {
            self.tail.copy_from_slice(&bytes[bytes.len() - 3..]);
        } else {
            self.tail.copy_from_slice(&joined[k..k + 3]);
        }
    }

    /// Takes a write of the response: a final (not 1xx) response means the next bytes read are a
    /// new request's head.
    fn wrote(&mut self, bytes: &[u8]) {
        let interim = bytes.starts_with(b"HTTP/1.1 1") || bytes.starts_with(b"HTTP/1.0 1");
        if !interim {
            self.in_body = false;
        }
    }
}

/// A TCP stream that rewrites hyper's automatic error responses (see the module docs).
#[derive(Debug)]
pub struct JsonErrorStream {
    inner: TcpStream,
    /// The JSON response being written in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
    head: HeadClock,
}

/// The JSON response for a hyper automatic response that starts `head`, if it is one.
pub fn replacement_for(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let (code, message) = match status {
        "400" => ("malformed_request", "the request could not be parsed as HTTP/1.1 (request line or a header)"),
        "414" => ("uri_too_long", "the request URI is longer than 65534 bytes"),
        "431" => ("headers_too_large", "the request's header section is too large"),
        _ => return None,
    };
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-length" => empty = value.trim() == "0",
            "content-type" => return None,
            _ => {}
        }
    }
    if !empty || end + 4 != head.len() {
        return None;
    }
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let reason = match status {
        "400" => "Bad Request",
        "414" => "URI Too Long",
        _ => "Request Header Fields Too Large",
    };
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl JsonErrorStream {
    /// Writes what is left of the replacement; ready when it is all written.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for JsonErrorStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.head.expired(cx) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the request head took too long")));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.head.read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for JsonErrorStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx))?;
        this.head.wrote(buf);
        if this.replacement.is_some() {
            // hyper writes nothing after an automatic response; swallow anything else.
            return Poll::Ready(Ok(buf.len()));
        }
        if buf.starts_with(b"HTTP/1.1 4")
            && let Some(json) = replacement_for(buf)
        {
            this.replacement = Some((json, 0));
            let _ = this.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// Not vectored: hyper then hands each response head over in one contiguous buffer, which
    /// is what [`replacement_for`] inspects.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::replacement_for;

    #[test]
    fn only_hypers_empty_error_heads_are_replaced() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 21:00:00 GMT\r\n\r\n";
        let json = String::from_utf8(replacement_for(hyper).expect("replaced")).unwrap();
        assert!(json.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\n"), "{json}");
        assert!(json.ends_with(r#"{"error":{"code":"uri_too_long","message":"the request URI is longer than 65534 bytes"}}"#), "{json}");
        // Ours: a JSON body follows the head.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{\"error\":{}}";
        assert!(replacement_for(ours).is_none());
        let ours_head_only = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement_for(ours_head_only).is_none());
        assert!(replacement_for(b"HTTP/1.1 204 No Content\r\n\r\n").is_none());
    }
}
