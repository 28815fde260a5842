//! The http capability: `wasi:http/outgoing-handler@0.2.x` (wasmtime-wasi-http's bindings, every
//! 0.2 minor version through semver), sent by our own connector.
//!
//! - [`allowlist`]: the hosts a grant may reach (`api.example.com`, `*.example.org`, `:port`,
//!   `http://` for plain http), parsed once per execution.
//! - [`address`]: SSRF protection, which addresses may be connected to.
//! - `send`: resolve once, check, connect to the checked address, TLS, HTTP/1.1, byte caps.
//! - [`stats`]: what the report shows (`host_calls.http`).
//!
//! A request is judged synchronously in the `send_request` hook, in this order: not granted →
//! `HTTP-request-denied`; over the per-execution budget → `connection-limit-reached`; a host
//! outside the allowlist (or plain http where the entry did not say `http://`) →
//! `HTTP-request-denied`. The guest sees these as the request's `error-code`, never a trap. Only
//! then does the connector resolve and connect, where a non-public address is
//! `destination-IP-prohibited`.
//!
//! `HttpGrant::test_admit` is the one escape hatch, for tests and local development only: exact
//! loopback `ip:port`s the binary chose to admit (`--http-admit-loopback-for-tests`). A guest
//! cannot ask for it, and production configurations leave it empty.

pub mod address;
pub mod allowlist;
mod send;
pub mod stats;

pub use allowlist::{Allowlist, AllowlistError, HostPattern};
pub use stats::HttpStats;

use crate::caps::guard::Refusal;
use send::{SendLimits, Target};
use stats::Meter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types as http_types};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttp, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks};

/// What an execution was allowed: the hosts, and the host's test-only loopback exceptions.
#[derive(Clone, Debug, Default)]
pub struct HttpGrant {
    pub allowlist: Arc<Allowlist>,
    /// Test-only: loopback `ip:port`s admitted despite the SSRF rules (see the module docs).
    pub test_admit: Arc<[SocketAddr]>,
}

/// The per-execution bounds of outbound HTTP (from [`crate::Limits`]).
#[derive(Clone, Debug)]
pub struct HttpLimits {
    pub max_requests: u32,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub max_response_bytes: u64,
    pub max_total_response_bytes: u64,
    pub max_request_bytes: u64,
}

impl From<&crate::limits::Limits> for HttpLimits {
    fn from(l: &crate::limits::Limits) -> Self {
        Self {
            max_requests: l.max_http_requests,
            connect_timeout: l.http_connect_timeout,
            first_byte_timeout: l.http_first_byte_timeout,
            max_response_bytes: l.max_http_response_bytes,
            max_total_response_bytes: l.max_http_total_response_bytes,
            max_request_bytes: l.max_http_request_bytes,
        }
    }
}

/// Per-execution http state: wasi-http's context and our hooks.
pub struct HttpCap {
    ctx: WasiHttpCtx,
    hooks: HttpHooks,
}

struct HttpHooks {
    grant: Option<HttpGrant>,
    limits: HttpLimits,
    deadline: Instant,
    meter: Meter,
}

impl HttpCap {
    /// State for one execution ending at `deadline`.
    pub fn new(grant: Option<HttpGrant>, limits: HttpLimits, deadline: Instant) -> Self {
        Self { ctx: WasiHttpCtx::new(), hooks: HttpHooks { grant, limits, deadline, meter: Meter::default() } }
    }

    /// What the execution's requests did so far.
    pub fn stats(&self) -> HttpStats {
        self.hooks.meter.snapshot()
    }

    /// The view wasi-http's host functions use, with the store's resource table.
    pub fn view<'a>(&'a mut self, table: &'a mut wasmtime::component::ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView { ctx: &mut self.ctx, hooks: &mut self.hooks, table }
    }
}

type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, send::IoFuture), Error>> + Send>;

impl HttpHooks {
    /// Judge a request before any network access.
    fn admit(&mut self, uri: &http::Uri) -> Result<(Target, HttpGrant), Error> {
        let https = uri.scheme() != Some(&http::uri::Scheme::HTTP);
        let host = uri.host().unwrap_or("");
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = Target { https, host, port };
        let refusal = match &self.grant {
            None => Some((Refusal::Denied, "http not granted to this execution")),
            Some(_) if self.meter.with(|s| s.calls) >= self.limits.max_requests => Some((Refusal::OverBudget, "request budget used up")),
            Some(g) if !g.allowlist.allows(https, &target.host, port) => Some((Refusal::Denied, "not on the allowlist")),
            Some(_) => None,
        };
        match refusal {
            Some((Refusal::Denied, why)) => {
                self.meter.with(|s| s.denied += 1);
                self.meter.note_refusal(format!("denied {} ({why})", target.url()));
                Err(Error::HttpRequestDenied)
            }
            Some((Refusal::OverBudget, why)) => {
                self.meter.with(|s| s.over_budget += 1);
                self.meter.note_refusal(format!("over budget {} ({why})", target.url()));
                Err(Error::ConnectionLimitReached)
            }
            None => {
                self.meter.with(|s| s.calls += 1);
                Ok((target, self.grant.clone().expect("granted")))
            }
        }
    }
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let (target, grant) = match self.admit(request.uri()) {
            Ok(admitted) => admitted,
            Err(e) => return Box::new(async move { Err(e) }),
        };
        let l = &self.limits;
        let limits = SendLimits {
            connect_timeout: l.connect_timeout,
            first_byte_timeout: l.first_byte_timeout,
            max_response_bytes: l.max_response_bytes,
            max_total_response_bytes: l.max_total_response_bytes,
            max_request_bytes: l.max_request_bytes,
            deadline: self.deadline,
        };
        Box::new(send::send(request, target, options, limits, grant.test_admit, self.meter.clone()))
    }

    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> http_types::ErrorCode {
        tracing::debug!(error = %err, "guest http: protocol error");
        if err.is_timeout() { http_types::ErrorCode::ConnectionReadTimeout } else { http_types::ErrorCode::HttpProtocolError }
    }

    fn p2_error_from_connect(&mut self, err: &std::io::Error) -> http_types::ErrorCode {
        tracing::debug!(error = %err, "guest http: connect error");
        http_types::ErrorCode::ConnectionRefused
    }

    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> http_types::ErrorCode {
        tracing::debug!(error = %err, "guest http: tls error");
        let certificate = err.get_ref().and_then(|e| e.downcast_ref::<tokio_rustls::rustls::Error>()).is_some_and(|e| {
            matches!(e, tokio_rustls::rustls::Error::InvalidCertificate(_) | tokio_rustls::rustls::Error::NoCertificatesPresented)
        });
        if certificate { http_types::ErrorCode::TlsCertificateError } else { http_types::ErrorCode::TlsProtocolError }
    }
}

/// Link `wasi:http/outgoing-handler` and `wasi:http/types`; `f` builds the view from the store's
/// data (this capability's [`HttpCap::view`] with the store's resource table).
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> WasiHttpCtxView<'_>) -> wasmtime::Result<()> {
    outgoing_handler::add_to_linker::<T, WasiHttp>(linker, f)?;
    http_types::add_to_linker::<T, WasiHttp>(linker, &Default::default(), f)?;
    Ok(())
}
