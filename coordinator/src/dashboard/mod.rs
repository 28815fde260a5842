//! The dashboard: server-rendered HTML pages at `/` and `/ui/…`, shipped inside the binary.
//!
//! # Layout
//!
//! - [`session`]: server-side sessions (cookie `outlayer_session`), sign in / out, CSRF tokens.
//! - [`layout`]: the page shell (landmarks, navigation), formatting helpers, the stylesheet and
//!   script (`coordinator/assets/`, embedded with `include_str!`).
//! - [`overview`]: `/`, the signed-in owner's charts (or the sign-in form).
//! - [`projects`]: projects, grants, versions (upload, set active), secrets (not yet), calls.
//! - [`keys`]: payment keys (create, secret shown once with a `curl`, revoke), ledger, spending.
//! - [`calls`]: a call's page: input/output, receipt and its verdict: the same checks as
//!   `outlayer verify`, run by this server ([`verify`]).
//! - [`workers`]: registered workers (public).
//! - [`docs`]: the repository's Markdown rendered with pulldown-cmark (the same text, embedded).
//! - [`charts`]: server-rendered SVG charts (plotters' SVG backend, no font features).
//!
//! # Choices
//!
//! * **Templates: maud.** Markup is Rust (`html!`), checked by the compiler, escaped by default,
//!   and needs no template files found at run time or build-time file lookups; a page is a function,
//!   so pages share helpers like any Rust code. (askama would also fit; maud keeps the markup next
//!   to the handler that fills it and has no template inheritance to learn.)
//! * **No JS framework.** Every page and form works with plain HTML forms and full-page POSTs
//!   (post/redirect/get, except the page that shows a new key's secret once). `dashboard.js` only
//!   adds the copy buttons and the drag-and-drop zone over the ordinary file input.
//! * **Charts: plotters** (SVG backend, no font features: text is `<text>` for the browser to
//!   lay out), rendered on the server into the page; no chart script runs in the browser.
//!
//! # Sessions and security
//!
//! * A session is a random 32-byte id in the cookie `outlayer_session` (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/`); the server keeps `sha256(id) → {owner, csrf token}` in memory
//!   (at most [`session::MAX_SESSIONS`], idle ones expire after [`session::SESSION_IDLE_MS`]). A
//!   restart signs everybody out; with several coordinator replicas, route a browser to one
//!   replica (sticky sessions).
//! * **`Secure`** is added when the request arrived over TLS. The coordinator serves plain HTTP;
//!   TLS ends at a reverse proxy, which must set `X-Forwarded-Proto: https` (or
//!   `Forwarded: proto=https`) — that header decides. Served directly on loopback (as by
//!   `outlayer serve`) the cookie is not `Secure`, or the browser would not send it back over
//!   `http://127.0.0.1`.
//! * Signing in takes the owner token (`POST /owners` returns it) in a form POST; the session id
//!   is replaced at sign-in (no fixation). Nothing secret goes in a URL or in browser storage.
//! * **CSRF:** every session, signed in or not, has a random token; every form carries it in a
//!   hidden `csrf` field and every POST handler checks it (constant time) before anything else,
//!   refusing with 403 otherwise. `SameSite=Strict` is the second fence.
//! * Every page is sent with a strict `Content-Security-Policy` (scripts and styles from this
//!   origin only), `X-Frame-Options: DENY`-equivalent `frame-ancestors 'none'`, `no-store`.
//! * **Who sees a call:** the payer key's owner and the project's owner — both handled its
//!   input and output already (the payer sent and received them, the project's code read and
//!   wrote them). Anybody else gets the same 404 as for a call that does not exist.

pub mod calls;
pub mod charts;
pub mod docs;
pub mod keys;
pub mod layout;
pub mod overview;
pub mod projects;
pub mod session;
pub mod verify;
pub mod workers;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::limits::MAX_WASM_BYTES;
use crate::state::AppState;

/// Room for the multipart framing and the CSRF field around an uploaded wasm file.
pub const UPLOAD_OVERHEAD_BYTES: usize = 64 * 1024;

/// The dashboard's per-process state (sessions).
#[derive(Default)]
pub struct Dashboard {
    /// Server-side sessions.
    pub sessions: session::Sessions,
}

/// The dashboard's routes, to be merged into the API router (`/` and `/ui/…` are not API paths).
pub fn router(_state: &AppState) -> Router<AppState> {
    let dash = Arc::new(Dashboard::default());
    Router::new()
        .route("/", get(overview::page))
        .route("/ui/assets/{file}", get(layout::asset))
        .route("/ui/signin", post(session::sign_in))
        .route("/ui/signout", post(session::sign_out))
        .route("/ui/projects", get(projects::list).post(projects::create))
        .route("/ui/projects/{name}", get(projects::show))
        .route("/ui/projects/{name}/versions", post(projects::upload).layer(DefaultBodyLimit::max(MAX_WASM_BYTES + UPLOAD_OVERHEAD_BYTES)))
        .route("/ui/projects/{name}/active", post(projects::set_active))
        .route("/ui/keys", get(keys::list).post(keys::create))
        .route("/ui/keys/{nonce}", get(keys::show))
        .route("/ui/keys/{nonce}/revoke", post(keys::revoke))
        .route("/ui/calls/{id}", get(calls::show))
        .route("/ui/workers", get(workers::page))
        .route("/ui/docs", get(docs::index))
        .route("/ui/docs/{slug}", get(docs::page))
        .layer(axum::Extension(dash))
}
