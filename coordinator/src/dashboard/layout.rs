//! The page shell (skip link, header with navigation, `main`, footer), response headers, and the
//! formatting helpers every page uses.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Ctx;

/// The one stylesheet.
pub const STYLESHEET: &str = include_str!("../../assets/dashboard.css");
/// The one script: copy buttons and the drag-and-drop upload zone (progressive enhancement).
pub const SCRIPT: &str = include_str!("../../assets/dashboard.js");

/// `Content-Security-Policy` of every page: nothing from other origins, no inline script.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /ui/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "dashboard.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "dashboard.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// A full page (200).
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Response {
    page_with_status(ctx, StatusCode::OK, title, body)
}

/// A full page with a status code.
pub fn page_with_status(ctx: &Ctx, status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · OutLayer" }
                link rel="stylesheet" href="/ui/assets/dashboard.css";
                script src="/ui/assets/dashboard.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "OutLayer" }
                    nav aria-label="Main" {
                        ul {
                            li { a href="/" { "Overview" } }
                            @if ctx.owner.is_some() {
                                li { a href="/ui/projects" { "Projects" } }
                                li { a href="/ui/keys" { "Payment keys" } }
                            }
                            li { a href="/ui/workers" { "Workers" } }
                            li { a href="/ui/docs" { "Docs" } }
                        }
                    }
                    @if let Some(owner) = &ctx.owner {
                        form.signout method="post" action="/ui/signout" {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            span.who { "Signed in as " strong #account { (owner) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer { p { "OutLayer coordinator · " a href="/openapi.json" { "OpenAPI" } " · " a href="/healthz" { "health" } } }
            }
        }
    };
    with_headers(ctx, (status, axum::response::Html(markup.into_string())).into_response())
}

/// 303 to `to` (post/redirect/get), carrying the session cookie if one was set.
pub fn redirect(ctx: &Ctx, to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    with_headers(ctx, r)
}

/// A 404 page.
pub fn not_found(ctx: &Ctx, what: &str) -> Response {
    page_with_status(ctx, StatusCode::NOT_FOUND, "Not found", html! { p { (what) } p { a href="/" { "Back to the overview" } } })
}

/// A 400 page for a form that did not validate (the message says why).
pub fn invalid(ctx: &Ctx, back: &str, message: &str) -> Response {
    page_with_status(
        ctx,
        StatusCode::BAD_REQUEST,
        "Not accepted",
        html! { p.error role="alert" { (message) } p { a href=(back) { "Back" } } },
    )
}

fn with_headers(ctx: &Ctx, mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_TYPE) {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = &ctx.set_cookie
        && let Ok(v) = HeaderValue::from_str(c)
    {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

/// The hidden CSRF field of a form.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// micro-USD as dollars (`$0.001030`).
pub fn usd(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let m = micro.unsigned_abs();
    format!("{sign}${}.{:06}", m / 1_000_000, m % 1_000_000)
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The first 12 hex digits of a hash, with the whole value as a tooltip.
pub fn short(hash: &str) -> Markup {
    let s: String = hash.chars().take(12).collect();
    html! { code title=(hash) { (s) "…" } }
}

/// A byte count as `12.3 KiB`.
pub fn bytes(n: i64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// A status badge.
pub fn status(s: &str) -> Markup {
    html! { span class={ "badge " (s) } { (s) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(usd(1_030), "$0.001030");
        assert_eq!(usd(12_500_000), "$12.500000");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(1_764_028_800_000), "2025-11-25 00:00:00 UTC");
        assert_eq!(bytes(2048), "2.0 KiB");
    }
}
