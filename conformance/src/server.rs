//! The server side of the HTTP contract: an axum router answering `POST /conformance/run` with
//! an [`InProcessHost`]. `outlayer serve` can merge [`router`] into its own; tests bind it to a
//! loopback port and point an [`crate::HttpHost`] at it.
//!
//! Errors: `400` with `{"error": "..."}` when the host refuses the request (invalid wasm, limits
//! out of range, bad grant); bad JSON is rejected by axum's `Json` extractor (`4xx`).

use crate::host::{ConformanceHost, HostFailure};
use crate::http::RUN_PATH;
use crate::inprocess::InProcessHost;
use crate::wire::{CaseRequest, CaseResult};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use std::sync::Arc;

/// Largest request body: a component (tens of MB at most) and its input, base64-encoded.
pub const MAX_BODY_BYTES: usize = 200 << 20;

/// `POST /conformance/run` on `host`.
pub fn router(host: Arc<InProcessHost>) -> Router {
    Router::new().route(RUN_PATH, post(run)).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)).with_state(host)
}

async fn run(
    State(host): State<Arc<InProcessHost>>,
    Json(request): Json<CaseRequest>,
) -> Result<Json<CaseResult>, (StatusCode, Json<serde_json::Value>)> {
    match host.run(&request).await {
        Ok(result) => Ok(Json(result)),
        Err(HostFailure::Refused(why)) => Err((StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": why })))),
        Err(HostFailure::Transport(why)) => Err((StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({ "error": why })))),
    }
}
