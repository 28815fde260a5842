//! # outlayer-coordinator
//!
//! The coordinator of OutLayer: it owns projects (owner-authenticated), their wasm versions
//! (content-addressed by sha256), payment keys with a reserve → settle → release ledger, and a
//! durable job queue that workers lease over HTTP. Web developers call
//! `POST /call/{owner}/{project}` with a payment key and (by default) get the result in the
//! response, with a receipt signed by the worker that produced it.
//!
//! It does not run wasm: workers (the `outlayer worker` process, or the worker half of
//! `outlayer serve`) lease jobs through a [`outlayer_protocol::JobSource`] (HTTP, or
//! [`embedded::EmbeddedSource`] in the same process), run them, and complete them with a signed
//! receipt (v2, `outlayer_attest::receipt`) that the coordinator recomputes from its own data
//! before it settles anything. Workers register only with attestation evidence (a TDX quote, or
//! dev evidence when [`AttestationConfig::allow_dev`] is on) bound to their key and a fresh
//! challenge; the evidence and verification are public (`GET /workers/{id}/attestation`).
//!
//! Backends: SQLite (a file; the embedded default) and PostgreSQL (production), behind
//! [`db::Backend`]. Wake-ups are in-process ([`notify::Hub`]) and, with Redis configured,
//! published so several replicas cooperate; if Redis is down everything keeps working
//! (see [`redis_link`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), outlayer_coordinator::CoordinatorError> {
//! use outlayer_coordinator::{CoordinatorConfig, DatabaseConfig, build_state, run};
//! let config = CoordinatorConfig {
//!     database: DatabaseConfig::Sqlite { path: "coordinator.db".into() },
//!     ..CoordinatorConfig::default()
//! };
//! let state = build_state(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! run(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! The HTTP reference (endpoints, auth, error codes, ledger, leases) is in the crate README and
//! served as OpenAPI 3 at `/openapi.json`.

#![warn(missing_docs)]

pub mod admission;
pub mod api;
pub mod attestation;
pub mod auth;
pub mod builds;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod deposits;
pub mod embedded;
pub mod error;
pub mod files;
mod held;
pub mod hygiene;
pub mod limits;
pub mod logflood;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pricing;
pub mod ratelimit;
pub mod redis_link;
pub mod registry;
pub mod retention;
pub mod service;
pub mod signin;
pub mod state;
pub mod wire;
pub mod writes;

use std::future::Future;

pub use api::app;
pub use config::{AttestationConfig, Clock, CoordinatorConfig, DatabaseConfig, PricingConfig, RateLimitConfig};
pub use error::{ApiError, CoordinatorError};
pub use state::{AppState, build_state};

/// Starts the background tasks of a coordinator: the Redis subscriber (if configured), the
/// reaper that fails jobs whose last lease expired, and the project registry sync (with
/// [`CoordinatorConfig::near`]). They stop when shutdown begins
/// ([`notify::Hub::begin_shutdown`]). [`run`] calls this; embedders that serve [`app`]
/// themselves call it once.
pub fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(redis) = state.hub.redis() {
        tasks.push(tokio::spawn(redis.clone().run(state.hub.clone())));
    }
    let reaper = state.clone();
    tasks.push(tokio::spawn(async move {
        let stop = reaper.hub.shutdown_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(state::REAPER_INTERVAL) => {}
                _ = notify::Hub::until_shutdown(stop.clone()) => return,
            }
            if let Err(e) = reaper.reap().await
                && let Some(suppressed) = logflood::BACKGROUND.admit("reaper")
            {
                tracing::warn!(code = e.code, suppressed, "reaper failed");
            }
        }
    }));
    if let Some(near) = state.config.near.clone() {
        tasks.push(tokio::spawn(registry::run(state.clone(), near)));
    }
    let interval = state.config.retention.interval;
    if !interval.is_zero() {
        let collector = state.clone();
        tasks.push(tokio::spawn(async move {
            let stop = collector.hub.shutdown_signal();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = notify::Hub::until_shutdown(stop.clone()) => return,
                }
                match collector.collect(state::now_ms()).await {
                    Ok(c) => tracing::info!(?c, "retention collection"),
                    Err(e) => {
                        if let Some(suppressed) = logflood::BACKGROUND.admit("retention") {
                            tracing::warn!(code = e.code, suppressed, "retention collection failed");
                        }
                    }
                }
            }
        }));
    }
    // The deposit watcher ([`CoordinatorConfig::deposits`]): the only source of credit besides
    // admin grants (and dev credits on a --dev-owners coordinator).
    if let Some(deposits) = &state.config.deposits {
        let watcher = deposits::DepositWatcher::new(deposits, state.db.clone());
        tasks.push(tokio::spawn(watcher.run(deposits.poll_interval, state.hub.shutdown_signal())));
    }
    tasks
}

/// Serves the API on `listener` until `shutdown` resolves, then stops long polls and waiting
/// calls (they answer 204 / 202), finishes in-flight requests and stops background tasks.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CoordinatorError> {
    let tasks = spawn_background(&state);
    let hub = state.hub.clone();
    let signal = async move {
        shutdown.await;
        hub.begin_shutdown();
    };
    // JSON for hyper's own parse errors, and the client address for per-IP limits.
    let service = app(state.clone()).into_make_service_with_connect_info::<wire::ClientAddr>();
    let listener = wire::JsonErrorListener { listener, head_timeout: state.config.admission.request_head_timeout };
    let served = axum::serve(listener, service).with_graceful_shutdown(signal).await;
    state.hub.begin_shutdown();
    for task in tasks {
        let _ = task.await;
    }
    served.map_err(CoordinatorError::from)
}
