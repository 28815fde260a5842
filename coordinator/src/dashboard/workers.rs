//! `/ui/workers` (public): registered workers with their key, attestation and last sign of life.
//!
//! The same data as `GET /workers` ([`AppState::worker_summaries`]): the TEE kind, measurements
//! and TCB status the coordinator verified when the worker registered, and its last lease or
//! heartbeat; each row links to the evidence (`GET /workers/{id}/attestation`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::Dashboard;
use super::layout::{self, time};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// A worker seen within this long is shown as online.
pub const ONLINE_WITHIN_MS: i64 = 60_000;

/// `GET /ui/workers`.
pub async fn page(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let workers = state.worker_summaries().await?;
    let now = now_ms();
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let body = html! {
        p { "Workers registered with this coordinator. A worker registers only with attestation evidence bound to its key, "
            "which the coordinator verified; each signs its results' receipts with the key shown, and a call's page checks that signature." }
        @if workers.is_empty() { p { "No worker has registered." } } @else {
            div.scroll { table {
                thead { tr {
                    th scope="col" { "Worker" } th scope="col" { "Public key" } th scope="col" { "Attestation" }
                    th.hide-narrow scope="col" { "Measurements" } th scope="col" { "Last seen" }
                } }
                tbody {
                    @for w in &workers {
                        @let tee = text(serde_json::to_value(w.tee).unwrap_or_default());
                        @let measurements = serde_json::to_value(w.measurements).unwrap_or_default();
                        tr {
                            td { code { (w.id) } }
                            td { code.sha { (w.public_key) } }
                            td {
                                span class={ "badge " @if tee == "dev" { "UNPROVEN" } @else { "PASS" } } { (tee) }
                                @if tee == "dev" { " (not a TEE)" }
                                br;
                                "TCB " (text(serde_json::to_value(w.tcb_status).unwrap_or_default()))
                                br;
                                span.hint { "verified " (time(w.verified_at as i64 * 1000)) }
                                br;
                                a href={ "/workers/" (w.id) "/attestation" } { "evidence (JSON)" }
                            }
                            td.hide-narrow {
                                @if let Some(m) = measurements.as_object() {
                                    dl { @for (k, v) in m { dt { (k) } dd { code.sha { (text(v.clone())) } } } }
                                } @else { code { (measurements.to_string()) } }
                            }
                            td {
                                (time(w.last_seen_ms))
                                @if now - w.last_seen_ms <= ONLINE_WITHIN_MS { " " span.badge.active { "online" } }
                            }
                        }
                    }
                }
            } }
        }
        p.hint { "As verified by this coordinator at registration (" code { "GET /workers" } "); "
            code { "outlayer verify" } " re-checks a worker's evidence independently." }
    };
    Ok(layout::page(&ctx, "Workers", body))
}
