//! The connector behind a guest's `wasi:http` request: resolve the name once, refuse non-public
//! addresses, connect to exactly an address that was checked, TLS (webpki roots, SNI = the host
//! name) unless plain http was allowed, send over HTTP/1.1, and meter the bodies.
//!
//! Every step is bounded: DNS + connect + TLS by the connect timeout, the response head by the
//! first-byte timeout, all of it by the execution's deadline; request and response bodies by
//! their byte caps. Redirects are never followed here: a guest that follows one makes a new
//! request, which is checked again. A leaf module (besides its siblings `address` and `stats`).

use crate::caps::http::address;
use crate::caps::http::stats::Meter;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Where a request goes, from its URI (host without brackets, lowercase).
#[derive(Clone, Debug)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Target {
    /// `https://host:port` for messages.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// The bounds of one request (from the execution's limits).
#[derive(Clone, Debug)]
pub struct SendLimits {
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub max_response_bytes: u64,
    pub max_total_response_bytes: u64,
    pub max_request_bytes: u64,
    pub deadline: Instant,
}

/// The future that drives the connection after the response head arrived.
pub type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Send `request` to `target`, connecting only to public addresses or to `admit` (the host's
/// test-only exception). Failures are counted in `meter`.
pub async fn send(
    request: http::Request<WasiBody>,
    target: Target,
    options: Option<RequestOptions>,
    limits: SendLimits,
    admit: Arc<[SocketAddr]>,
    meter: Meter,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let deadline = limits.deadline;
    let sent = tokio::time::timeout_at(deadline.into(), send_within(request, &target, options, limits, &admit, &meter)).await;
    let result = sent.unwrap_or(Err(Error::ConnectionReadTimeout));
    if let Err(e) = &result {
        let timeout = matches!(e, Error::ConnectionTimeout | Error::ConnectionReadTimeout | Error::DnsTimeout);
        if !matches!(e, Error::DestinationIpProhibited) {
            meter.with(|s| {
                s.failed += 1;
                s.timeouts += timeout as u32;
            });
        }
        tracing::debug!(target = %target.url(), error = %e, "guest http request failed");
    }
    result
}

async fn send_within(
    mut request: http::Request<WasiBody>,
    target: &Target,
    options: Option<RequestOptions>,
    limits: SendLimits,
    admit: &[SocketAddr],
    meter: &Meter,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let opt = |o: Option<Duration>, ours: Duration| o.map_or(ours, |o| o.min(ours));
    let connect_timeout = opt(options.and_then(|o| o.connect_timeout), limits.connect_timeout);
    let first_byte_timeout = opt(options.and_then(|o| o.first_byte_timeout), limits.first_byte_timeout);
    let connected_by = tokio::time::Instant::now() + connect_timeout;

    if let Some(len) = content_length(request.headers())
        && len > limits.max_request_bytes
    {
        return Err(Error::HttpRequestBodySize(Some(len)));
    }

    // One lookup; the addresses checked here are the only ones connected to.
    let resolved = tokio::time::timeout_at(connected_by, resolve(target)).await.map_err(|_| Error::DnsTimeout)??;
    let mut allowed = Vec::new();
    let mut refused = None;
    for addr in resolved {
        match address::refusal(addr.ip()) {
            _ if admit.contains(&addr) => allowed.push(addr),
            None => allowed.push(addr),
            Some(why) => {
                refused.get_or_insert((addr.ip(), why));
            }
        }
    }
    if allowed.is_empty() {
        let (ip, why) = refused.ok_or(Error::DestinationNotFound)?;
        meter.with(|s| s.prohibited += 1);
        meter.note_refusal(format!("prohibited {} ({ip}: {why})", target.url()));
        return Err(Error::DestinationIpProhibited);
    }

    let tcp = tokio::time::timeout_at(connected_by, connect_any(&allowed))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let stream: Box<dyn Stream> = if target.https {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| Error::HttpRequestUriInvalid)?;
        let tls = tokio::time::timeout_at(connected_by, tls().connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let handshake = hyper::client::conn::http1::handshake::<_, CappedRequestBody>(TokioIo::new(stream));
    let (mut sender, conn) = tokio::time::timeout_at(connected_by, handshake).await.map_err(|_| Error::ConnectionTimeout)??;
    let conn = wasmtime_wasi::runtime::spawn(conn);

    // On the wire the request line holds only the path (we are not talking to a proxy).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
    let over = Arc::new(AtomicBool::new(false));
    let request =
        request.map(|inner| CappedRequestBody { inner, left: limits.max_request_bytes, over: over.clone(), meter: meter.clone() });

    let response = match tokio::time::timeout(first_byte_timeout, sender.send_request(request)).await {
        Err(_) => return Err(Error::ConnectionReadTimeout),
        Ok(Err(_)) if over.load(Ordering::Relaxed) => return Err(Error::HttpRequestBodySize(Some(limits.max_request_bytes))),
        Ok(Err(e)) => return Err(Error::Hyper(e)),
        Ok(Ok(response)) => response,
    };
    // A body announced larger than what is left is refused up front, as the response's typed
    // error (a cut mid-stream reaches the guest as a stream error: wasi-http 48 does not hand
    // our error code to `http-error-code`).
    if let Some(len) = content_length(response.headers()) {
        let total_left = limits.max_total_response_bytes.saturating_sub(meter.with(|s| s.response_bytes));
        let cap = if len > limits.max_response_bytes {
            Some(limits.max_response_bytes)
        } else if len > total_left {
            Some(limits.max_total_response_bytes)
        } else {
            None
        };
        if let Some(cap) = cap {
            meter.with(|s| s.truncated += 1);
            return Err(Error::HttpResponseBodySize(Some(cap)));
        }
    }
    let response = response.map(|inner| {
        MeteredResponseBody {
            inner,
            read: 0,
            cap: limits.max_response_bytes,
            total_cap: limits.max_total_response_bytes,
            meter: meter.clone(),
        }
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move { conn.await.map_err(Error::Hyper) });
    Ok((response, io))
}

async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let found = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|_| Error::DnsError { rcode: Some("lookup failed".into()), info_code: None })?;
    Ok(found.collect())
}

async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address")))
}

/// The TLS client: webpki roots, ring, built once per process.
fn tls() -> &'static tokio_rustls::TlsConnector {
    static TLS: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();
    TLS.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    })
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The guest's request body, refused past its cap.
struct CappedRequestBody {
    inner: WasiBody,
    left: u64,
    over: Arc<AtomicBool>,
    meter: Meter,
}

impl Body for CappedRequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(|f| f.data_ref().map_or(0, |d| d.len() as u64))) {
            if data > self.left {
                self.over.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Error::HttpRequestBodySize(None))));
            }
            self.left -= data;
            self.meter.with(|s| s.request_bytes += data);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body, cut with `HTTP-response-body-size` past the per-request or total cap.
struct MeteredResponseBody {
    inner: hyper::body::Incoming,
    read: u64,
    cap: u64,
    total_cap: u64,
    meter: Meter,
}

impl Body for MeteredResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(Error::Hyper(e)))),
            Some(Ok(frame)) => frame,
        };
        let len = frame.data_ref().map_or(0, |d| d.len() as u64);
        let (read, cap, total_cap) = (self.read, self.cap, self.total_cap);
        let cut = self.meter.with(|s| {
            if read + len > cap || s.response_bytes + len > total_cap {
                s.truncated += 1;
                Some(if read + len > cap { cap } else { total_cap })
            } else {
                s.response_bytes += len;
                None
            }
        });
        if let Some(at) = cut {
            self.read = u64::MAX / 2;
            return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(at)))));
        }
        self.read += len;
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
