//! The TCP side of the server: a listener whose connections answer hyper's own parse errors as the
//! documented JSON error, and the client address handlers see.
//!
//! hyper answers a request it cannot parse before any of our code runs — 414 for a URI longer
//! than 65 534 bytes, 431 for a header section over its buffer, 400 for a malformed request line
//! or header — with an empty body. [`JsonErrorListener`]'s connections recognise exactly those
//! automatic responses (status 400, 414 or 431 with `content-length: 0` as the first bytes hyper
//! writes for a response; every response of ours has a JSON body) and write the JSON error
//! instead; hyper closes the connection after them, so nothing else is written.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The address of the peer of a connection (`ConnectInfo<ClientAddr>` in handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, JsonErrorListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, JsonErrorListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// A TCP listener whose connections are [`JsonErrorStream`]s.
#[derive(Debug)]
pub struct JsonErrorListener(pub TcpListener);

impl Listener for JsonErrorListener {
    type Io = JsonErrorStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let _ = stream.set_nodelay(true);
        (JsonErrorStream { inner: stream, replacement: None }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream that rewrites hyper's automatic error responses (see the module docs).
#[derive(Debug)]
pub struct JsonErrorStream {
    inner: TcpStream,
    /// The JSON response being written in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
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
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for JsonErrorStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx))?;
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
