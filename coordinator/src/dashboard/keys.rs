//! Payment keys: list and create (the secret shown once, with a copy button and a ready `curl`),
//! a key's balance / spent / reserved, spending chart, ledger (paged) and calls, and revoking.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::Dashboard;
use super::calls::{CALLS_PAGE, calls_section, page_of};
use super::charts::{BLUE, Series, line_chart};
use super::layout::{self, csrf_field, time, usd};
use super::session::{Ctx, field, over_tls};
use crate::auth::{hash_secret, new_secret};
use crate::db::KeyRow;
use crate::error::ApiError;
use crate::limits::{MAX_AMOUNT, valid_name};
use crate::state::{AppState, now_ms};

/// Ledger lines per page.
pub const LEDGER_PAGE: i64 = 50;
/// Most `settle` lines drawn in a key's spending chart (the newest).
pub const MAX_CHART_LINES: i64 = 1_000;
/// Most entries in a key's allowed projects (as the API allows).
pub const MAX_ALLOWED_PROJECTS: usize = 100;

fn available(k: &KeyRow) -> i64 {
    k.balance - k.spent - k.reserved
}

/// `GET /ui/keys`.
pub async fn list(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let owner = match ctx.owner() {
        Ok(o) => o.to_owned(),
        Err(r) => return Ok(r),
    };
    let keys = state.db.keys_of(&owner).await?;
    Ok(layout::page(&ctx, "Payment keys", list_body(&ctx, &keys, None)))
}

fn list_body(ctx: &Ctx, keys: &[KeyRow], created: Option<Markup>) -> Markup {
    html! {
        @if let Some(c) = created { (c) }
        @if keys.is_empty() {
            p { "No payment keys yet." }
        } @else {
            div.scroll { table {
                caption.hint { "Amounts in USD (the API counts micro-USD)." }
                thead { tr {
                    th scope="col" { "Key" } th.num scope="col" { "Balance" } th.num scope="col" { "Spent" }
                    th.num.hide-narrow scope="col" { "Reserved" } th.num scope="col" { "Available" }
                    th.hide-narrow scope="col" { "Allowed projects" } th scope="col" { "State" }
                } }
                tbody {
                    @for k in keys {
                        tr {
                            td { a href={ "/ui/keys/" (k.nonce) } { (k.owner) ":" (k.nonce) } }
                            td.num { (usd(k.balance)) } td.num { (usd(k.spent)) }
                            td.num.hide-narrow { (usd(k.reserved)) } td.num { (usd(available(k))) }
                            td.hide-narrow { @if k.allowed_projects.is_empty() { "any" } @else { (k.allowed_projects.join(", ")) } }
                            td { @if k.revoked { (layout::status("revoked")) } @else { (layout::status("active")) } }
                        }
                    }
                }
            } }
        }
        h2 #new { "New payment key" }
        form method="post" action="/ui/keys" aria-labelledby="new" {
            (csrf_field(ctx))
            label for="initial_balance" { "Initial balance (micro-USD)" }
            input #initial_balance type="number" name="initial_balance" min="0" max=(MAX_AMOUNT) required value="1000000" aria-describedby="balance-hint";
            p #balance-hint .hint { "1 000 000 micro-USD = 1 USD." }
            label for="allowed_projects" { "Allowed projects (optional)" }
            input #allowed_projects type="text" name="allowed_projects" placeholder="alice/echo, alice/*" aria-describedby="allowed-hint";
            p #allowed-hint .hint { "Comma-separated " code { "owner/name" } " or " code { "owner/*" } "; empty = any project. Restrict keys you hand to a browser." }
            label for="max_per_call" { "Most per call (micro-USD, optional)" }
            input #max_per_call type="number" name="max_per_call" min="0" max=(MAX_AMOUNT);
            button type="submit" { "Create key" }
        }
    }
}

fn valid_pattern(p: &str) -> bool {
    matches!(p.split_once('/'), Some((o, n)) if valid_name(o) && (n == "*" || valid_name(n)))
}

fn amount(v: Option<&str>) -> Result<Option<i64>, String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= MAX_AMOUNT)
            .map(|v| Some(v as i64))
            .ok_or(format!("amounts are whole micro-USD from 0 to {MAX_AMOUNT}")),
    }
}

/// The base URL the browser reached us at (for the ready `curl`).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8080");
    format!("{}://{host}", if over_tls(headers) { "https" } else { "http" })
}

/// `POST /ui/keys` (`csrf`, `initial_balance`, `allowed_projects`, `max_per_call`): creates a key
/// and answers with the page itself (not a redirect), the only time the secret is shown.
pub async fn create(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (ctx, owner) = match dash.checked_owner(&headers, field(&form, "csrf")) {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let (balance, max_per_call) = match (amount(field(&form, "initial_balance")), amount(field(&form, "max_per_call"))) {
        (Ok(b), Ok(m)) => (b.unwrap_or(0), m),
        (Err(e), _) | (_, Err(e)) => return Ok(layout::invalid(&ctx, "/ui/keys", &e)),
    };
    // Money has a source: an owner credits its own key only on a --dev-owners coordinator.
    if balance > 0 && !state.config.signin.dev_owners {
        return Ok(layout::invalid(
            &ctx,
            "/ui/keys",
            "Keys start empty here: fund a key with the contract's top_up_payment_key (credited once the deposit is final), \
             or ask the operator for a grant.",
        ));
    }
    let allowed: Vec<String> = field(&form, "allowed_projects")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if allowed.len() > MAX_ALLOWED_PROJECTS || !allowed.iter().all(|p| valid_pattern(p)) {
        return Ok(layout::invalid(&ctx, "/ui/keys", "Allowed projects are owner/name or owner/* entries, at most 100."));
    }
    let mut made = None;
    for _ in 0..8 {
        let nonce = state.db.next_nonce(&owner).await?;
        let secret = new_secret("");
        let key = KeyRow {
            owner: owner.clone(),
            nonce,
            secret_hash: hash_secret(&secret),
            balance,
            spent: 0,
            reserved: 0,
            allowed_projects: allowed.clone(),
            max_per_call,
            revoked: false,
            created_ms: now_ms(),
        };
        if state.db.create_key(&key).await? {
            made = Some((key, secret));
            break;
        }
    }
    let Some((key, secret)) = made else { return Ok(layout::invalid(&ctx, "/ui/keys", "Could not pick a free key number; try again.")) };
    let full = format!("{owner}:{}:{secret}", key.nonce);
    // The curl targets the first project the key may pay for (one of the owner's, if allowed).
    let projects = state.db.projects_of(&owner).await?;
    let target = allowed
        .iter()
        .find(|p| !p.ends_with("/*"))
        .cloned()
        .or_else(|| projects.iter().find(|p| crate::auth::key_allows(&key, &p.owner, &p.name)).map(|p| format!("{}/{}", p.owner, p.name)))
        .unwrap_or_else(|| format!("{owner}/PROJECT"));
    let curl = format!(
        "curl -sS -X POST {}/call/{target} \\\n  -H 'content-type: application/json' \\\n  -H 'X-Payment-Key: {full}' \\\n  -d '{{\"input\": {{\"hello\": \"world\"}}}}'",
        base_url(&headers)
    );
    let created = html! {
        section.secret role="status" aria-labelledby="created" {
            h2 #created { "Key " (owner) ":" (key.nonce) " created" }
            p { strong { "Copy the key now: it is shown only this once" } " (only its sha256 is stored)." }
            pre #secret { (full) }
            button.secondary type="button" data-copy="secret" hidden { "Copy key" }
            p { "Call a project with it:" }
            pre #curl { (curl) }
            button.secondary type="button" data-copy="curl" hidden { "Copy curl" }
        }
    };
    let keys = state.db.keys_of(&owner).await?;
    Ok(layout::page_with_status(&ctx, StatusCode::CREATED, "Payment keys", list_body(&ctx, &keys, Some(created))))
}

/// `GET /ui/keys/{nonce}[?before=<cursor>][&ledger_before=<id>]`.
pub async fn show(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(nonce): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let owner = match ctx.owner() {
        Ok(o) => o.to_owned(),
        Err(r) => return Ok(r),
    };
    let key = match nonce.parse::<i64>() {
        Ok(n) => state.db.key(&owner, n).await?,
        Err(_) => None,
    };
    let Some(key) = key else { return Ok(layout::not_found(&ctx, "You have no such payment key.")) };
    let here = format!("/ui/keys/{}", key.nonce);
    let ledger_before = q.get("ledger_before").and_then(|v| v.parse::<i64>().ok());
    let ledger = state.db.ledger_before(&owner, key.nonce, ledger_before.unwrap_or(i64::MAX), LEDGER_PAGE).await?;
    let page = page_of(&q);
    let calls = state.db.calls_by_key(&owner, key.nonce, &page).await?;
    // Spending over time: cumulative `settle` lines of the newest ledger page(s), oldest first.
    let mut settles: Vec<(i64, i64)> = state
        .db
        .ledger_before(&owner, key.nonce, i64::MAX, MAX_CHART_LINES)
        .await?
        .into_iter()
        .filter(|l| l.kind == "settle")
        .map(|l| (l.created_ms, l.amount))
        .collect();
    settles.reverse();
    let now = now_ms();
    let start = settles.first().map(|s| s.0).unwrap_or(now - 3_600_000).min(now - 60_000);
    let mut total = 0i64;
    let mut points = vec![((start - now) as f64 / 60_000.0, 0.0)];
    for (t, amount) in &settles {
        total += amount;
        points.push(((t - now) as f64 / 60_000.0, total as f64 / 1e6));
    }
    points.push((0.0, total as f64 / 1e6));
    let x_min = (start - now) as f64 / 60_000.0;
    let body = html! {
        div.cards {
            div.card { h3 { "Balance" } p.stat #balance { (usd(key.balance)) } }
            div.card { h3 { "Spent" } p.stat #spent { (usd(key.spent)) } }
            div.card { h3 { "Reserved" } p.stat { (usd(key.reserved)) } }
            div.card { h3 { "Available" } p.stat { (usd(available(&key))) } }
        }
        dl {
            dt { "State" } dd #key-state { @if key.revoked { (layout::status("revoked")) } @else { (layout::status("active")) } }
            dt { "Allowed projects" } dd { @if key.allowed_projects.is_empty() { "any" } @else { (key.allowed_projects.join(", ")) } }
            dt { "Most per call" } dd { @match key.max_per_call { Some(m) => (usd(m)), None => "no limit" } }
            dt { "Created" } dd { (time(key.created_ms)) }
        }
        @if !key.revoked {
            form method="post" action={ (here) "/revoke" } {
                (csrf_field(&ctx))
                button.danger type="submit" { "Revoke this key" }
                p.hint { "A revoked key authenticates nothing; calls in flight still settle." }
            }
        }
        h2 { "Spending" }
        (line_chart("Cumulative spend (USD)", x_min.min(-1.0)..0.0, "minutes ago", "USD",
            &[Series { label: "spent", color: BLUE, points }]))
        h2 #ledger { "Ledger" }
        @if ledger.is_empty() { p { "No ledger lines." } } @else {
            div.scroll { table aria-labelledby="ledger" {
                thead { tr { th.num scope="col" { "#" } th scope="col" { "Kind" } th.num scope="col" { "Amount" } th.hide-narrow scope="col" { "Call" } th scope="col" { "When" } } }
                tbody {
                    @for l in &ledger {
                        tr {
                            td.num { (l.id) } td { (l.kind) } td.num { (usd(l.amount)) }
                            td.hide-narrow { @if let Some(c) = &l.call_id { a href={ "/ui/calls/" (c) } { code { (c.chars().take(8).collect::<String>()) } } } }
                            td { (time(l.created_ms)) }
                        }
                    }
                }
            } }
        }
        nav.pager aria-label="Ledger pages" {
            @if ledger_before.is_some() { a href={ (here) "#ledger" } { "Newest" } }
            @if let Some(last) = ledger.last().filter(|_| ledger.len() as i64 == LEDGER_PAGE) {
                a href={ (here) "?ledger_before=" (last.id) "#ledger" } { "Older lines" }
            }
        }
        (calls_section(&calls, &page, &here, CALLS_PAGE))
    };
    Ok(layout::page(&ctx, &format!("Key {}:{}", key.owner, key.nonce), body))
}

/// `POST /ui/keys/{nonce}/revoke` (`csrf`).
pub async fn revoke(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(nonce): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (ctx, owner) = match dash.checked_owner(&headers, field(&form, "csrf")) {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let Ok(nonce) = nonce.parse::<i64>() else { return Ok(layout::not_found(&ctx, "You have no such payment key.")) };
    if !state.db.revoke(&owner, nonce).await? {
        return Ok(layout::not_found(&ctx, "You have no such payment key."));
    }
    Ok(layout::redirect(&ctx, &format!("/ui/keys/{nonce}")))
}
