//! Call listings (per project, per key; newest first with keyset paging) and a call's page:
//! input and output, the receipt, and the result of verifying it: the same checks as `outlayer
//! verify`, run by this server ([`super::verify`]), each layer and check shown.
//!
//! A call's page is shown to the payer key's owner and to the project's owner (see the module
//! docs of [`crate::dashboard`]); anybody else gets the 404 of a call that does not exist.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use outlayer_attest::verdict::{Check, MeasurementPolicy, Options, Verdict, fmt_time};

use super::Dashboard;
use super::layout::{self, status, time, usd};
use super::verify;
use crate::db::{CallPage, CallRow};
use crate::error::ApiError;
use crate::state::AppState;

/// Calls per page of a listing.
pub const CALLS_PAGE: i64 = 20;

/// The page a `?before=<created_ms>_<id>` query asks for.
pub fn page_of(q: &HashMap<String, String>) -> CallPage {
    let before = q.get("before").and_then(|c| c.split_once('_')).and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_owned())));
    CallPage { before, limit: CALLS_PAGE }
}

/// The "Recent calls" section of a project or key page, with a link to older calls.
pub fn calls_section(calls: &[CallRow], page: &CallPage, here: &str, limit: i64) -> Markup {
    html! {
        h2 #calls { "Recent calls" }
        @if calls.is_empty() {
            p { @if page.before.is_some() { "No older calls." } @else { "No calls yet." } }
        } @else {
            div.scroll { table aria-labelledby="calls" {
                thead { tr {
                    th scope="col" { "Call" } th scope="col" { "Status" } th.hide-narrow scope="col" { "Project" }
                    th.hide-narrow scope="col" { "Key" } th.num scope="col" { "Cost" } th.num.hide-narrow scope="col" { "Instructions" }
                    th.num scope="col" { "Time" } th.hide-narrow scope="col" { "Accepted" }
                } }
                tbody {
                    @for c in calls {
                        @let r = c.result.as_ref();
                        tr {
                            td { a href={ "/ui/calls/" (c.id) } { code { (c.id.chars().take(8).collect::<String>()) } } }
                            td { (status(c.status.as_str())) }
                            td.hide-narrow { (c.project_owner) "/" (c.project_name) }
                            td.hide-narrow { (c.key_owner) ":" (c.key_nonce) }
                            td.num { @match r { Some(r) => (usd(r.charged as i64)), None => "–" } }
                            td.num.hide-narrow { @match r { Some(r) => (r.instructions), None => "–" } }
                            td.num { @match r { Some(r) => { (r.time_ms) " ms" }, None => "–" } }
                            td.hide-narrow { (time(c.created_ms)) }
                        }
                    }
                }
            } }
        }
        nav.pager aria-label="Calls pages" {
            @if page.before.is_some() { a href={ (here) "#calls" } { "Newest" } }
            @if let Some(last) = calls.last().filter(|_| calls.len() as i64 == limit) {
                a href={ (here) "?before=" (last.created_ms) "_" (last.id) "#calls" } { "Older calls" }
            }
        }
    }
}

fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text).and_then(|v| serde_json::to_string_pretty(&v)).unwrap_or_else(|_| text.to_owned())
}

/// `GET /ui/calls/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let owner = match ctx.owner() {
        Ok(o) => o.to_owned(),
        Err(r) => return Ok(r),
    };
    let call = match state.db.call(&id).await? {
        Some(c) if c.key_owner == owner || c.project_owner == owner => c,
        _ => return Ok(layout::not_found(&ctx, "No such call among yours (calls are shown to the payer and to the project owner).")),
    };
    let checks = match call.result.as_ref().and_then(|r| r.receipt.as_ref()) {
        Some(signed) => {
            let attestation = &state.config.attestation;
            let options = verify::options(attestation, attestation.clock.now_secs());
            let verdict = match state.db.worker_attestation(&signed.receipt.worker_id).await? {
                Some((row, evidence, challenge)) => match verify::attested_worker(&row, &evidence, &challenge) {
                    Ok(worker) => verify::call_verdict(&call, signed, &worker, &options),
                    Err(reason) => verify::unverifiable(options.at, &reason),
                },
                None => verify::unverifiable(
                    options.at,
                    &format!(
                        "no worker {} is registered here: there is no attestation to verify the receipt against",
                        signed.receipt.worker_id
                    ),
                ),
            };
            Some((verdict, options, verify::record_checks(&call)))
        }
        None => None,
    };
    let r = call.result.as_ref();
    let body = html! {
        dl {
            dt { "Status" } dd #call-status { (status(call.status.as_str())) }
            dt { "Project" } dd {
                @if call.project_owner == owner { a href={ "/ui/projects/" (call.project_name) } { (call.project_owner) "/" (call.project_name) } }
                @else { (call.project_owner) "/" (call.project_name) }
            }
            dt { "Paid by" } dd {
                @if call.key_owner == owner { a href={ "/ui/keys/" (call.key_nonce) } { (call.key_owner) ":" (call.key_nonce) } }
                @else { (call.key_owner) ":" (call.key_nonce) }
            }
            dt { "Version" } dd { code { (call.wasm_sha256) } }
            dt { "Accepted" } dd { (time(call.created_ms)) }
            @if let Some(done) = call.completed_ms { dt { "Settled" } dd { (time(done)) " (" (done - call.created_ms) " ms later)" } }
            dt { "Reserved" } dd { (usd(call.reserved)) }
            @if let Some(r) = r {
                dt { "Cost · charged" } dd { (usd(r.cost as i64)) " · " (usd(r.charged as i64)) }
                dt { "Instructions" } dd { (r.instructions) }
                dt { "Wall time" } dd { (r.time_ms) " ms" }
                dt { "Peak memory" } dd { (layout::bytes(r.peak_memory_bytes as i64)) }
                @if let Some(w) = &r.worker { dt { "Worker" } dd { code { (w.id) } } }
            }
        }
        h2 { "Input" }
        pre #input { (pretty(&call.input)) }
        @if let Some(r) = r {
            @if let Some(out) = &r.output {
                h2 { "Output" }
                pre #output { (serde_json::to_string_pretty(out).unwrap_or_default()) }
            }
            @if let Some(e) = &r.error {
                h2 { "Error" }
                p.error { code { (e.code) } ": " (e.message) }
            }
        }
        h2 #receipt { "Receipt" }
        @match r.and_then(|r| r.receipt.as_ref()) {
            None => p { "No receipt: " @if call.status.is_final() { "no worker reported a result for this call." } @else { "the call is not settled yet." } },
            Some(s) => {
                pre { (serde_json::to_string_pretty(s).unwrap_or_default()) }
                @if let Some((verdict, options, records)) = &checks { (checks_section(&call.id, verdict, options, records)) }
            }
        }
    };
    Ok(layout::page(&ctx, "Call", body))
}

/// Breaks a long unbroken token (hex, base64) every 16 characters with `<wbr>`, so a table cell
/// wraps instead of widening the page; copying the text yields it unchanged.
fn breakable(text: &str) -> Markup {
    html! {
        @for (i, word) in text.split(' ').enumerate() {
            @if i > 0 { " " }
            @let chars: Vec<char> = word.chars().collect();
            @for (j, chunk) in chars.chunks(16).enumerate() {
                @if j > 0 { (PreEscaped("<wbr>")) }
                (chunk.iter().collect::<String>())
            }
        }
    }
}

fn checks_table(id: &str, label: &str, checks: &[Check]) -> Markup {
    html! {
        div.scroll { table id=(id) aria-labelledby=(label) {
            thead { tr {
                th scope="col" { "Check" } th scope="col" { "Result" } th scope="col" { "Expected" }
                th scope="col" { "Found" } th scope="col" { "Reason" }
            } }
            tbody {
                @for c in checks {
                    tr {
                        td { code { (c.name) } }
                        td { (status(c.status.as_str())) }
                        td { code { (breakable(&c.expected)) } }
                        td { code { (breakable(&c.found)) } }
                        td { (breakable(&c.reason)) }
                    }
                }
            }
        } }
    }
}

/// The verdict of `outlayer verify`'s checks, layer by layer, then this coordinator's own
/// record checks, clearly apart.
fn checks_section(call_id: &str, verdict: &Verdict, options: &Options, records: &[Check]) -> Markup {
    let policy = match &options.policy {
        MeasurementPolicy::Allowlist { source, allowlist } => format!("{source} ({} allowed measurement set(s))", allowlist.0.len()),
        MeasurementPolicy::None => "none (this coordinator allows no measurements)".to_owned(),
        MeasurementPolicy::Unavailable { source, reason } => format!("{source}, unavailable: {reason}"),
    };
    let records_status = outlayer_attest::verdict::Status::combine(records.iter().map(|c| c.status));
    html! {
        h2 #checks { "Receipt checks" }
        p #verdict { "Verdict: " span #verdict-status { (status(verdict.status.as_str())) } " at " (fmt_time(verdict.verified_at))
            " · measurement policy: " (policy)
            " · dev attestation " @if options.allow_dev { "allowed (--allow-dev-attestation)" } @else { "not allowed" } }
        @for layer in &verdict.layers {
            @let label = format!("layer-{}", layer.name);
            h3 id=(label) { (layer.name) " " (status(layer.status.as_str())) }
            (checks_table(&format!("checks-{}", layer.name), &label, &layer.checks))
        }
        p.hint { "The same checks as " code { "outlayer verify" } " (crates/attest verdict), run by this server; run "
            code { "outlayer verify call " (call_id) } " to check without trusting this server." }
        h3 #records { "This coordinator's records (not part of outlayer verify) " (status(records_status.as_str())) }
        (checks_table("checks-records", "records", records))
        p.hint { "The receipt against what this coordinator recorded for the call: the version it ran, the limits it gave, "
            "the usage it billed and the worker that reported the result. A caller's verifier has no such records." }
    }
}
