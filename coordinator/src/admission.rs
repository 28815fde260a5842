//! Admission control: what is refused before it costs storage, memory or database work.
//!
//! * **wasm validation**: an upload must pass the WebAssembly validator (module or component)
//!   before it is stored: 400 `invalid_wasm` with the validator's reason. The coordinator uses
//!   `wasmparser` — the validator wasmtime itself runs, at the version wasmtime 48 links — rather
//!   than `wasmtime::{Module, Component}::validate`, which would link wasmtime and cranelift into
//!   a process that never runs wasm (see the crate README: the coordinator does not depend on the
//!   host). The feature set is wasmparser's default (a superset of what the host enables), so a
//!   component the host cannot compile still fails on the worker, as before; garbage never gets in.
//! * **quotas per owner** ([`Quotas`]): projects (409 `project_quota_exceeded`), versions per
//!   project (409 `version_quota_exceeded`), total bytes of wasm across the owner's versions (413
//!   `wasm_quota_exceeded`); and at most [`AdmissionConfig::max_concurrent_uploads`] upload
//!   bodies in memory at once (429 `rate_limited` beyond).
//! * **rate limits per client IP** on every route except the worker protocol, calls (limited per
//!   payment key), health and metrics; and **per owner** on every owner-authenticated request.
//!   429 `rate_limited` with `Retry-After`. The client IP is the TCP peer, or with
//!   [`AdmissionConfig::trust_forwarded_for`] the last address of `X-Forwarded-For` (the one your
//!   proxy appended).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::redis_link::RedisLink;
use crate::state::AppState;
use crate::wire::ClientAddr;

/// Default most projects an owner may have.
pub const DEFAULT_MAX_PROJECTS_PER_OWNER: u64 = 100;
/// Default most versions a project may have.
pub const DEFAULT_MAX_VERSIONS_PER_PROJECT: u64 = 100;
/// Default most bytes of wasm across all versions of all projects of an owner (256 MiB).
pub const DEFAULT_MAX_WASM_BYTES_PER_OWNER: u64 = 256 * 1024 * 1024;
/// Default most upload bodies read at once (each up to 20 MiB: bounds memory at ~80 MiB).
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 4;
/// Default per-IP budget: 60 requests per second (burst 60).
pub const DEFAULT_IP_RATE_LIMIT: RateLimitConfig = RateLimitConfig { max_calls: 60, window: Duration::from_secs(1) };
/// Default per-owner budget: 30 owner-authenticated requests per second (burst 30).
pub const DEFAULT_OWNER_RATE_LIMIT: RateLimitConfig = RateLimitConfig { max_calls: 30, window: Duration::from_secs(1) };

/// Per-owner quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Most projects per owner.
    pub max_projects_per_owner: u64,
    /// Most versions per project.
    pub max_versions_per_project: u64,
    /// Most wasm bytes over all of an owner's versions.
    pub max_wasm_bytes_per_owner: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_projects_per_owner: DEFAULT_MAX_PROJECTS_PER_OWNER,
            max_versions_per_project: DEFAULT_MAX_VERSIONS_PER_PROJECT,
            max_wasm_bytes_per_owner: DEFAULT_MAX_WASM_BYTES_PER_OWNER,
        }
    }
}

/// Admission settings (part of [`crate::CoordinatorConfig`]).
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Per-owner quotas.
    pub quotas: Quotas,
    /// Per-client-IP budget (`None` = no per-IP limit).
    pub ip_rate_limit: Option<RateLimitConfig>,
    /// Per-owner budget on owner-authenticated requests (`None` = none).
    pub owner_rate_limit: Option<RateLimitConfig>,
    /// Take the client IP from the last `X-Forwarded-For` address. Only behind a proxy you run
    /// that sets it: otherwise clients choose their own IP. Off by default.
    pub trust_forwarded_for: bool,
    /// Most upload bodies read at once.
    pub max_concurrent_uploads: usize,
    /// How long a client may take to send a request head; past it the connection is closed
    /// (slow-header clients; see [`crate::wire`]).
    pub request_head_timeout: std::time::Duration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            quotas: Quotas::default(),
            ip_rate_limit: Some(DEFAULT_IP_RATE_LIMIT),
            owner_rate_limit: Some(DEFAULT_OWNER_RATE_LIMIT),
            trust_forwarded_for: false,
            max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
            request_head_timeout: crate::wire::REQUEST_HEAD_TIMEOUT,
        }
    }
}

/// The live parts of admission control (in [`crate::state::Inner`]).
pub struct Admission {
    ip: Option<RateLimiter>,
    owner: Option<RateLimiter>,
    uploads: Arc<Semaphore>,
}

impl Admission {
    /// Limiters and the upload gate for `config` (Redis-backed when `redis` is given).
    pub fn new(config: &AdmissionConfig, redis: Option<Arc<RedisLink>>) -> Self {
        Self {
            ip: config.ip_rate_limit.map(|c| RateLimiter::new(c, redis.clone())),
            owner: config.owner_rate_limit.map(|c| RateLimiter::new(c, redis)),
            uploads: Arc::new(Semaphore::new(config.max_concurrent_uploads.max(1))),
        }
    }

    /// Takes one request from `owner`'s budget: 429 `rate_limited` with `Retry-After` when spent.
    pub async fn owner_request(&self, owner: &str) -> Result<(), ApiError> {
        match &self.owner {
            Some(limiter) => limiter.check(&format!("owner:{owner}")).await.map_err(|wait| rate_limited("owner", wait)),
            None => Ok(()),
        }
    }

    /// A place among the uploads read at once, or 429 `rate_limited` (retry in a second).
    pub fn upload_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.uploads
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::rate_limited("too many uploads in progress; retry shortly", Duration::from_secs(1)))
    }
}

fn rate_limited(whose: &str, wait: Duration) -> ApiError {
    ApiError::rate_limited(format!("too many requests from this {whose}; slow down"), wait)
}

/// 400 `invalid_wasm` unless `bytes` is a valid WebAssembly module or component.
pub fn validate_wasm(bytes: &[u8]) -> Result<(), ApiError> {
    if !crate::limits::looks_like_wasm(bytes) {
        return Err(ApiError::bad_request("invalid_wasm", "body is not a wasm module or component (missing \\0asm header)"));
    }
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::default());
    validator
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request("invalid_wasm", format!("not a valid wasm module or component: {e}")))
}

/// 409 `project_quota_exceeded` if `owner` has its most projects already.
pub async fn check_project_quota(state: &AppState, owner: &str) -> Result<(), ApiError> {
    let max = state.config.admission.quotas.max_projects_per_owner;
    let have = state.db.projects_of(owner).await?.len() as u64;
    if have >= max {
        return Err(ApiError::conflict("project_quota_exceeded", format!("{owner} has {have} projects; the quota is {max}")));
    }
    Ok(())
}

/// Before storing a version of `size` bytes in project `project_id` of `owner`: 409
/// `version_quota_exceeded` when the project has its most versions, 413 `wasm_quota_exceeded`
/// when the owner's versions would pass the byte quota. A re-upload of a version the project
/// already has is never refused (it stores nothing).
pub async fn check_version_quota(state: &AppState, owner: &str, project_id: &str, sha256: &str, size: u64) -> Result<(), ApiError> {
    let quotas = state.config.admission.quotas;
    let versions = state.db.versions(project_id).await?;
    if versions.iter().any(|v| v.wasm_sha256 == sha256) {
        return Ok(());
    }
    if versions.len() as u64 >= quotas.max_versions_per_project {
        return Err(ApiError::conflict(
            "version_quota_exceeded",
            format!("the project has {} versions; the quota is {}", versions.len(), quotas.max_versions_per_project),
        ));
    }
    let mut used = 0u64;
    for project in state.db.projects_of(owner).await? {
        let of = if project.id == project_id { versions.clone() } else { state.db.versions(&project.id).await? };
        used += of.iter().map(|v| v.size.max(0) as u64).sum::<u64>();
    }
    if used.saturating_add(size) > quotas.max_wasm_bytes_per_owner {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "wasm_quota_exceeded",
            format!("{owner}'s versions hold {used} bytes; {size} more would pass the quota of {}", quotas.max_wasm_bytes_per_owner),
        ));
    }
    Ok(())
}

/// `true` for the routes the per-IP limit skips: the worker protocol (authenticated workers),
/// calls and call reads (limited per payment key), health, metrics and static assets.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics" | "/workers/lease" | "/workers/heartbeat" | "/workers/complete")
        || path.starts_with("/wasm/")
        || path.starts_with("/call/")
        || (path.starts_with("/calls/") && !path.ends_with("/receipt"))
        || path.starts_with("/ui/assets/")
}

/// The client IP of a request: the TCP peer, or the last `X-Forwarded-For` address when trusted.
pub fn client_ip(request: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(ip) = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .next_back()
    {
        return Some(ip);
    }
    request.extensions().get::<ConnectInfo<ClientAddr>>().map(|c| c.0.0.ip())
}

/// The per-IP limit (a middleware over every route). Without a known client address (the app
/// served without [`crate::run`]'s connect info) nothing is limited here.
pub async fn limit_by_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &state.admission.ip
        && !exempt(request.uri().path())
        && let Some(ip) = client_ip(&request, state.config.admission.trust_forwarded_for)
        && let Err(wait) = limiter.check(&format!("ip:{ip}")).await
    {
        return rate_limited("IP address", wait).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::validate_wasm;

    #[test]
    fn the_validator_refuses_garbage_after_a_good_header() {
        assert!(validate_wasm(b"\0asm\x01\0\0\0").is_ok());
        let mut garbage = b"\0asm\x01\0\0\0".to_vec();
        garbage.extend((0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let e = validate_wasm(&garbage).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_wasm"));
        assert_eq!(validate_wasm(b"hello world").unwrap_err().code, "invalid_wasm");
    }
}
