//! Capped in-memory stdout/stderr for guests.
//!
//! A write that would take a stream past its cap traps the guest with [`OutputLimitExceeded`],
//! which the runtime reports as the `output-too-large` outcome. Bytes up to the cap are kept.

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Largest write permit handed to a guest at once.
const WRITE_PERMIT: usize = 64 << 10;

/// Which stream ran over its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    Stdout,
    Stderr,
}

/// The trap raised when a guest writes past a stream's cap.
#[derive(Debug, Clone, thiserror::Error)]
#[error("guest wrote more than {cap} bytes to {stream:?}")]
pub struct OutputLimitExceeded {
    pub stream: StreamName,
    pub cap: u64,
}

/// An in-memory output stream with a byte cap. Clones share the buffer.
#[derive(Clone)]
pub struct CappedPipe {
    name: StreamName,
    cap: usize,
    buffer: Arc<Mutex<BytesMut>>,
}

impl CappedPipe {
    /// A new empty pipe holding at most `cap` bytes.
    pub fn new(name: StreamName, cap: u64) -> Self {
        Self { name, cap: usize::try_from(cap).unwrap_or(usize::MAX), buffer: Arc::default() }
    }

    /// Everything written so far.
    pub fn contents(&self) -> Bytes {
        self.buffer.lock().expect("pipe lock").clone().freeze()
    }

    fn append(&self, bytes: &[u8]) -> Result<(), OutputLimitExceeded> {
        let mut buf = self.buffer.lock().expect("pipe lock");
        let room = self.cap - buf.len();
        if bytes.len() > room {
            buf.extend_from_slice(&bytes[..room]);
            return Err(OutputLimitExceeded { stream: self.name, cap: self.cap as u64 });
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

#[async_trait::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes).map_err(|e| StreamError::Trap(e.into()))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always hand out a permit, even when full: the write that overflows then traps with a
        // clear reason instead of a "stream closed" the guest would misreport.
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.append(buf).map(|()| buf.len()).map_err(|e| std::io::Error::new(std::io::ErrorKind::StorageFull, e)))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_up_to_the_cap_and_then_refuses() {
        let pipe = CappedPipe::new(StreamName::Stdout, 5);
        pipe.append(b"abc").unwrap();
        let err = pipe.append(b"defg").unwrap_err();
        assert_eq!(err.stream, StreamName::Stdout);
        assert_eq!(&pipe.contents()[..], b"abcde");
    }
}
