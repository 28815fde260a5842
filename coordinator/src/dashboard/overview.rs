//! `/`: the signed-in owner's last hour (calls per minute, success rate, p50/p99 latency, spend),
//! or the sign-in form.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};

use super::Dashboard;
use super::charts::{BLUE, ORANGE, Series, line_chart};
use super::layout::{self, csrf_field, usd};
use super::session::Ctx;
use crate::db::CallSample;
use crate::error::ApiError;
use crate::model::CallStatus;
use crate::state::{AppState, now_ms};

/// Minutes the overview covers (one chart point per minute).
pub const OVERVIEW_MINUTES: usize = 60;
/// Most calls read for the overview (bounds the work of a page view for a busy owner; the page
/// says when the window holds more).
pub const MAX_OVERVIEW_SAMPLES: i64 = 20_000;

/// The sign-in form (and what a visitor can read without an account).
pub fn signed_out(ctx: &Ctx, error: Option<&str>) -> Markup {
    html! {
        p { "Sign in with your owner token to manage projects, payment keys and calls. "
            "Workers and the documentation are public." }
        form method="post" action="/ui/signin" {
            (csrf_field(ctx))
            @if let Some(e) = error { p.error role="alert" { (e) } }
            label for="token" { "Owner token" }
            input #token type="password" name="token" autocomplete="current-password" required
                aria-describedby="token-hint" maxlength="256";
            p #token-hint .hint { "The " code { "olo_…" } " token that " code { "outlayer login" } " (NEAR sign-in) or, on a "
                code { "--dev-owners" } " coordinator, " code { "POST /owners" } " returned. "
                "It is sent once, in this form; the browser then keeps only a session cookie." }
            button type="submit" { "Sign in" }
        }
        h2 { "No account yet?" }
        p { "Owners are NEAR accounts: sign in with a full-access key of yours (the key file near-cli wrote)." }
        pre { "outlayer login --account alice.testnet --key-file ~/.near-credentials/testnet/alice.testnet.json --coordinator http://127.0.0.1:8080" }
        p { "On a development coordinator (" code { "outlayer serve" } ", " code { "--dev-owners" } "), any name works:" }
        pre { "curl -X POST http://127.0.0.1:8080/owners -H 'content-type: application/json' -d '{\"owner\":\"alice\"}'" }
        p { "See the " a href="/ui/docs/quick-start" { "quick start" } "." }
    }
}

/// Per-minute aggregates of the window.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Minute {
    /// Calls accepted in the minute.
    pub calls: u64,
    /// Settled calls that completed.
    pub completed: u64,
    /// Settled calls that failed.
    pub failed: u64,
    /// Accept → settle latencies (ms) of settled calls.
    pub latencies: Vec<i64>,
    /// micro-USD charged.
    pub spend: i64,
}

/// Buckets samples into `OVERVIEW_MINUTES` minutes ending at `now_ms` (index 0 = oldest).
pub fn bucket(samples: &[CallSample], now_ms: i64) -> Vec<Minute> {
    let mut minutes = vec![Minute::default(); OVERVIEW_MINUTES];
    for s in samples {
        let ago = (now_ms - s.created_ms).max(0) / 60_000;
        let Some(m) = usize::try_from(ago).ok().filter(|a| *a < OVERVIEW_MINUTES).map(|a| &mut minutes[OVERVIEW_MINUTES - 1 - a]) else {
            continue;
        };
        m.calls += 1;
        m.spend += s.charged;
        match s.status {
            CallStatus::Completed => m.completed += 1,
            CallStatus::Failed => m.failed += 1,
            CallStatus::Queued | CallStatus::Leased => {}
        }
        if let Some(done) = s.completed_ms {
            m.latencies.push((done - s.created_ms).max(0));
        }
    }
    minutes
}

/// The `p`-th percentile (0..=1, nearest rank) of unsorted values.
pub fn percentile(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let Some(owner) = ctx.owner.clone() else {
        return Ok(layout::page(&ctx, "Sign in", signed_out(&ctx, None)));
    };
    let now = now_ms();
    let since = now - OVERVIEW_MINUTES as i64 * 60_000;
    let samples = state.db.owner_call_samples(&owner, since, MAX_OVERVIEW_SAMPLES).await?;
    let minutes = bucket(&samples, now);
    let projects = state.db.projects_of(&owner).await?.len();
    let keys = state.db.keys_of(&owner).await?;
    let all_latencies: Vec<i64> = minutes.iter().flat_map(|m| m.latencies.iter().copied()).collect();
    let (completed, failed): (u64, u64) = minutes.iter().fold((0, 0), |(c, f), m| (c + m.completed, f + m.failed));
    let spend: i64 = minutes.iter().map(|m| m.spend).sum();
    let rate =
        if completed + failed > 0 { format!("{:.1} %", 100.0 * completed as f64 / (completed + failed) as f64) } else { "–".into() };
    let ms = |v: Option<i64>| v.map(|v| format!("{v} ms")).unwrap_or_else(|| "–".into());
    let x = |i: usize| i as f64 - (OVERVIEW_MINUTES as f64 - 1.0);
    let per_minute = |f: &dyn Fn(&Minute) -> Option<f64>| -> Vec<(f64, f64)> {
        minutes.iter().enumerate().filter_map(|(i, m)| f(m).map(|y| (x(i), y))).collect()
    };
    let range = -(OVERVIEW_MINUTES as f64 - 1.0)..0.0;
    let body = html! {
        p { "Calls paid by your payment keys in the last " (OVERVIEW_MINUTES) " minutes, per minute (UTC now: " (layout::time(now)) ")." }
        @if samples.len() as i64 >= MAX_OVERVIEW_SAMPLES {
            p.notice { "Only the newest " (MAX_OVERVIEW_SAMPLES) " calls of the window are counted." }
        }
        section aria-labelledby="totals" {
            h2 #totals { "Last hour" }
            div.cards {
                div.card { h3 { "Calls" } p.stat #stat-calls { (samples.len()) } }
                div.card { h3 { "Success rate" } p.stat { (rate) } }
                div.card { h3 { "Latency p50 / p99" } p.stat { (ms(percentile(&all_latencies, 0.5))) " / " (ms(percentile(&all_latencies, 0.99))) } }
                div.card { h3 { "Spend" } p.stat { (usd(spend)) } }
                div.card { h3 { "Projects · keys" } p.stat { a href="/ui/projects" { (projects) } " · " a href="/ui/keys" { (keys.len()) } } }
            }
        }
        section aria-labelledby="charts" {
            h2 #charts { "Charts" }
            div.charts {
                (line_chart("Calls per minute", range.clone(), "minutes ago", "calls",
                    &[Series { label: "calls", color: BLUE, points: per_minute(&|m| Some(m.calls as f64)) }]))
                (line_chart("Success rate (%)", range.clone(), "minutes ago", "%",
                    &[Series { label: "success", color: BLUE, points: per_minute(&|m| {
                        let n = m.completed + m.failed;
                        (n > 0).then(|| 100.0 * m.completed as f64 / n as f64)
                    }) }]))
                (line_chart("Latency (ms), p50 and p99", range.clone(), "minutes ago", "ms", &[
                    Series { label: "p50", color: BLUE, points: per_minute(&|m| percentile(&m.latencies, 0.5).map(|v| v as f64)) },
                    Series { label: "p99", color: ORANGE, points: per_minute(&|m| percentile(&m.latencies, 0.99).map(|v| v as f64)) },
                ]))
                (line_chart("Spend per minute (USD)", range, "minutes ago", "USD",
                    &[Series { label: "spend", color: BLUE, points: per_minute(&|m| Some(m.spend as f64 / 1e6)) }]))
            }
        }
    };
    Ok(layout::page(&ctx, "Overview", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_percentiles() {
        let now = 10 * 60_000;
        let s = |ago_ms: i64, status, latency: Option<i64>, charged| CallSample {
            created_ms: now - ago_ms,
            completed_ms: latency.map(|l| now - ago_ms + l),
            status,
            charged,
        };
        let samples = [
            s(1_000, CallStatus::Completed, Some(10), 5),
            s(2_000, CallStatus::Failed, Some(30), 0),
            s(61_000, CallStatus::Queued, None, 0),
            s(OVERVIEW_MINUTES as i64 * 60_000 + 1, CallStatus::Completed, Some(1), 1),
        ];
        let m = bucket(&samples, now);
        let last = &m[OVERVIEW_MINUTES - 1];
        assert_eq!((last.calls, last.completed, last.failed, last.spend), (2, 1, 1, 5));
        assert_eq!(m[OVERVIEW_MINUTES - 2].calls, 1);
        assert_eq!(m.iter().map(|m| m.calls).sum::<u64>(), 3, "the sample outside the window is left out");
        assert_eq!(percentile(&[5, 1, 3, 2, 4], 0.5), Some(3));
        assert_eq!(percentile(&(1..=100).collect::<Vec<_>>(), 0.99), Some(99));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
