//! Server-side sessions, the session cookie, sign in / sign out and CSRF checks (see the module
//! docs of [`crate::dashboard`] for the decisions).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Dashboard;
use super::layout;
use crate::auth::{ct_eq, hash_secret, new_secret};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "outlayer_session";
/// Most sessions kept in memory (anonymous ones included); defends against a client creating
/// sessions until memory runs out: when full, expired sessions go, then the least recently used.
pub const MAX_SESSIONS: usize = 10_000;
/// A session unused this long is gone (12 h).
pub const SESSION_IDLE_MS: i64 = 12 * 3600 * 1000;
/// Longest owner token accepted by the sign-in form (a real one is 68 characters).
pub const MAX_TOKEN_CHARS: usize = 256;

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in owner, if any.
    pub owner: Option<String>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Last use (unix ms).
    pub last_seen_ms: i64,
}

/// All sessions, keyed by sha256 of the cookie value.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live session of a cookie value (refreshing its last use).
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = now_ms();
        let mut map = self.lock();
        let s = map.get_mut(&hash_secret(id))?;
        if now - s.last_seen_ms > SESSION_IDLE_MS {
            map.remove(&hash_secret(id));
            return None;
        }
        s.last_seen_ms = now;
        Some(s.clone())
    }

    /// Starts a session; returns its cookie value.
    pub fn create(&self, owner: Option<String>) -> (String, Session) {
        let id = new_secret("");
        let session = Session { owner, csrf: new_secret(""), last_seen_ms: now_ms() };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            let now = now_ms();
            map.retain(|_, s| now - s.last_seen_ms <= SESSION_IDLE_MS);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen_ms).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(hash_secret(&id), session.clone());
        (id, session)
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.lock().remove(&hash_secret(id));
    }
}

/// What a page handler knows about the request's browser.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The signed-in owner.
    pub owner: Option<String>,
    /// CSRF token for the forms of this page.
    pub csrf: String,
    /// `Set-Cookie` to send (a session was started for this request).
    pub set_cookie: Option<String>,
}

impl Ctx {
    /// The signed-in owner or a redirect to the sign-in page.
    #[allow(clippy::result_large_err)] // the error is the handler's answer, returned at once
    pub fn owner(&self) -> Result<&str, Response> {
        self.owner.as_deref().ok_or_else(|| layout::redirect(self, "/"))
    }
}

/// The cookie value of the session, if the request has one.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `true` if a TLS-terminating proxy says the request came over HTTPS.
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).map(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split([';', ',']).any(|p| p.trim().eq_ignore_ascii_case("proto=https")));
    forwarded_proto.or(forwarded).unwrap_or(false)
}

/// The `Set-Cookie` value for a session id (empty id + `Max-Age=0` clears it).
pub fn set_cookie(headers: &HeaderMap, id: &str, max_age_secs: i64) -> String {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

impl Dashboard {
    /// The request's session, starting an anonymous one (with a CSRF token) if there is none.
    pub fn ctx(&self, headers: &HeaderMap) -> Ctx {
        if let Some(s) = cookie(headers).and_then(|id| self.sessions.get(&id)) {
            return Ctx { owner: s.owner, csrf: s.csrf, set_cookie: None };
        }
        let (id, s) = self.sessions.create(None);
        Ctx { owner: None, csrf: s.csrf, set_cookie: Some(set_cookie(headers, &id, SESSION_IDLE_MS / 1000)) }
    }

    /// The session of a form POST whose `csrf` field matches it; 403 otherwise.
    #[allow(clippy::result_large_err)] // the error is the handler's answer, returned at once
    pub fn checked(&self, headers: &HeaderMap, csrf: Option<&str>) -> Result<Ctx, Response> {
        let session = cookie(headers).and_then(|id| self.sessions.get(&id));
        match (session, csrf) {
            (Some(s), Some(given)) if ct_eq(s.csrf.as_bytes(), given.as_bytes()) => {
                Ok(Ctx { owner: s.owner, csrf: s.csrf, set_cookie: None })
            }
            _ => Err(csrf_refused()),
        }
    }

    /// [`Dashboard::checked`] for a form only a signed-in owner may post: the context and the
    /// owner, or the response to send instead (403, or the sign-in page).
    #[allow(clippy::result_large_err)] // the error is the handler's answer, returned at once
    pub fn checked_owner(&self, headers: &HeaderMap, csrf: Option<&str>) -> Result<(Ctx, String), Response> {
        let ctx = self.checked(headers, csrf)?;
        let owner = ctx.owner()?.to_owned();
        Ok((ctx, owner))
    }
}

/// 403 for a POST without a valid CSRF token (or without a session).
pub fn csrf_refused() -> Response {
    let mut r = (StatusCode::FORBIDDEN, "403 Forbidden: this form's CSRF token is missing or stale. Reload the page and try again.")
        .into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The value of a form field.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `POST /ui/signin` (`csrf`, `token`): signs in with an owner token, in a new session.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let ctx = match dash.checked(&headers, field(&form, "csrf")) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let token = field(&form, "token").unwrap_or_default().trim();
    let owner = if token.is_empty() || token.len() > MAX_TOKEN_CHARS { None } else { state.db.owner_by_token(&hash_secret(token)).await? };
    let Some(owner) = owner else {
        let body = super::overview::signed_out(&ctx, Some("That owner token is not valid."));
        return Ok(layout::page_with_status(&ctx, StatusCode::UNAUTHORIZED, "Sign in", body));
    };
    if let Some(old) = cookie(&headers) {
        dash.sessions.remove(&old);
    }
    let (id, s) = dash.sessions.create(Some(owner));
    let ctx = Ctx { owner: s.owner, csrf: s.csrf, set_cookie: Some(set_cookie(&headers, &id, SESSION_IDLE_MS / 1000)) };
    Ok(layout::redirect(&ctx, "/"))
}

/// `POST /ui/signout` (`csrf`): ends the session.
pub async fn sign_out(Extension(dash): Extension<Arc<Dashboard>>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    if let Err(r) = dash.checked(&headers, field(&form, "csrf")) {
        return r;
    }
    if let Some(id) = cookie(&headers) {
        dash.sessions.remove(&id);
    }
    let ctx = Ctx { owner: None, csrf: String::new(), set_cookie: Some(set_cookie(&headers, "", 0)) };
    layout::redirect(&ctx, "/")
}
