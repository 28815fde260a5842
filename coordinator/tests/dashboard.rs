//! The dashboard over HTTP (sessions, CSRF, who sees what, the receipt's verdict) and its database
//! reads (calls by project / by key with paging, per-owner samples, ledger pages, lists) on both
//! backends. PostgreSQL tests use a fresh random schema, dropped at the end.

mod common;

use anyhow::{Context, Result, bail};
use common::{Server, drop_schema, pg_config, small_limits, spawn_workers, sqlite_config, stop_workers};
use outlayer_coordinator::db::CallPage;
use reqwest::StatusCode;
use serde_json::json;

/// A browser stand-in: keeps the session cookie, follows no redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: base.to_owned(), cookie: None }
    }

    fn keep(&mut self, r: &reqwest::Response) {
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = c.split(';').next().unwrap_or_default().to_owned();
            self.cookie = if value.ends_with('=') { None } else { Some(value) };
        }
    }

    async fn get(&mut self, path: &str) -> Result<(StatusCode, String)> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await?;
        self.keep(&r);
        Ok((r.status(), r.text().await?))
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Result<(StatusCode, String)> {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await?;
        self.keep(&r);
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let status = r.status();
        let body = r.text().await?;
        Ok((status, if status == StatusCode::SEE_OTHER { location } else { body }))
    }

    /// The CSRF token of the forms on `path`.
    async fn csrf(&mut self, path: &str) -> Result<String> {
        let (_, html) = self.get(path).await?;
        let at = html.find("name=\"csrf\" value=\"").context("no csrf field")? + 19;
        Ok(html[at..].split('"').next().unwrap_or_default().to_owned())
    }

    async fn sign_in(&mut self, token: &str) -> Result<()> {
        let csrf = self.csrf("/").await?;
        let (s, to) = self.post("/ui/signin", &[("csrf", &csrf), ("token", token)]).await?;
        if s != StatusCode::SEE_OTHER || to != "/" {
            bail!("sign in: {s} {to}");
        }
        Ok(())
    }
}

/// Sessions, CSRF, pages and access control over a running coordinator with echo workers.
/// The stored result JSON with its receipt's `input_sha256` changed (after signing).
fn altered(result: &str) -> Result<String> {
    let mut result: serde_json::Value = serde_json::from_str(result)?;
    result["receipt"]["input_sha256"] = json!(outlayer_protocol::receipt::sha256_hex(b"something else"));
    Ok(result.to_string())
}

/// Changes the stored receipt of call `id` behind the coordinator's back.
async fn tamper_receipt(config: &outlayer_coordinator::CoordinatorConfig, id: &str) -> Result<()> {
    use outlayer_coordinator::DatabaseConfig;
    use sqlx::Connection as _;
    const SELECT: &str = "SELECT result FROM calls WHERE id = $1";
    const UPDATE: &str = "UPDATE calls SET result = $1 WHERE id = $2";
    match &config.database {
        DatabaseConfig::Sqlite { path } => {
            let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
            let text: String = sqlx::query_scalar(SELECT).bind(id).fetch_one(&mut db).await?;
            sqlx::query(UPDATE).bind(altered(&text)?).bind(id).execute(&mut db).await?;
            db.close().await?;
        }
        DatabaseConfig::Postgres { url, schema } => {
            let mut db = sqlx::PgConnection::connect(url).await?;
            if let Some(schema) = schema {
                sqlx::query("SELECT set_config('search_path', $1, false)").bind(schema).execute(&mut db).await?;
            }
            let text: String = sqlx::query_scalar(SELECT).bind(id).fetch_one(&mut db).await?;
            sqlx::query(UPDATE).bind(altered(&text)?).bind(id).execute(&mut db).await?;
            db.close().await?;
        }
    }
    Ok(())
}

async fn dashboard_flow(config: outlayer_coordinator::CoordinatorConfig) -> Result<()> {
    let server = Server::start(config.clone()).await?;
    let workers = spawn_workers(&server, 1).await?;
    let (alice, alice_token) = server.owner().await?;
    let (_bob, bob_token) = server.owner().await?;

    // Anonymous visit: a session cookie with the right flags; Secure only behind TLS.
    let r = reqwest::get(server.url("/")).await?;
    let cookie = r.headers()["set-cookie"].to_str()?.to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"), "{cookie}");
    assert!(r.headers()["content-security-policy"].to_str()?.contains("default-src 'self'"));
    let r = server.http.get(server.url("/")).header("x-forwarded-proto", "https").send().await?;
    assert!(r.headers()["set-cookie"].to_str()?.contains("; Secure"));

    let mut a = Browser::new(&server.base);
    // A wrong token is refused; signing in replaces the session id.
    let csrf = a.csrf("/").await?;
    let anonymous = a.cookie.clone();
    let (s, html) = a.post("/ui/signin", &[("csrf", &csrf), ("token", "olo_wrong")]).await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(html.contains("not valid"));
    a.sign_in(&alice_token).await?;
    assert_ne!(a.cookie, anonymous, "the session id changes at sign-in");
    let (s, html) = a.get("/").await?;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("<strong id=\"account\">{alice}</strong>")), "{html}");

    // CSRF: a POST without the token, or with another session's, is refused.
    let (s, _) = a.post("/ui/projects", &[("name", "nocsrf")]).await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = a.post("/ui/projects", &[("name", "nocsrf"), ("csrf", "0000")]).await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(server.state.db.project(&alice, "nocsrf").await?.is_none());

    // Create a project with grants, upload a version (multipart), create a key.
    let csrf = a.csrf("/ui/projects").await?;
    let (s, to) = a.post("/ui/projects", &[("csrf", &csrf), ("name", "echo"), ("grants", "storage"), ("grants", "vrf")]).await?;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/ui/projects/echo"));
    let project = server.state.db.project(&alice, "echo").await?.context("project")?;
    assert_eq!(project.grants.iter().map(|c| c.name()).collect::<Vec<_>>(), ["storage", "vrf"]);
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .part("wasm", reqwest::multipart::Part::bytes(common::EMPTY_MODULE.to_vec()).file_name("echo.wasm"));
    let r =
        a.http.post(server.url("/ui/projects/echo/versions")).header("cookie", a.cookie.clone().unwrap()).multipart(form).send().await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = a.get("/ui/projects/echo").await?;
    let sha = outlayer_protocol::receipt::sha256_hex(common::EMPTY_MODULE);
    assert!(html.contains(&sha) && html.contains(">active<"), "{html}");
    let (s, html) = a.post("/ui/keys", &[("csrf", &csrf), ("initial_balance", "1000000"), ("allowed_projects", "")]).await?;
    assert_eq!(s, StatusCode::CREATED);
    let at = html.find("<pre id=\"secret\">").context("secret shown")? + 17;
    let key = html[at..].split('<').next().unwrap().to_owned();
    assert!(html.contains(&format!("/call/{alice}/echo")) && html.contains("X-Payment-Key"), "a ready curl");

    // A call, then its page with the receipt checked, visible to alice only.
    let (s, b) = server.call(&alice, "echo", &key, &[], &json!({ "input": {"hi": 1}, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    let call_id = b["call_id"].as_str().context("call id")?.to_owned();
    let (s, html) = a.get(&format!("/ui/calls/{call_id}")).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("badge PASS") && !html.contains("badge FAIL") && !html.contains("badge UNPROVEN"), "{html}");
    assert!(html.contains("&quot;hi&quot;: 1"), "{html}");
    // The verdict of `outlayer verify`'s checks, run by the server: dev evidence is PASS with
    // the dev note (this coordinator allows dev), the dev measurements are in its policy, and
    // the receipt binds to the worker's key, challenge, evidence and the call's payloads.
    for layer in ["authenticity", "identity", "binding"] {
        assert!(html.contains(&format!("<h3 id=\"layer-{layer}\">{layer} <span class=\"badge PASS\">")), "{layer}: {html}");
    }
    for check in
        ["tee", "allowlist", "mrtd", "report_data key", "report_data challenge", "receipt signature", "input_sha256", "output_sha256"]
    {
        assert!(html.contains(&format!("<code>{check}</code>")), "{check}: {html}");
    }
    assert!(html.contains("dev attestation: not a TEE (accepted because dev was allowed)"), "{html}");
    assert!(html.contains("this coordinator&#39;s policy") || html.contains("this coordinator's policy"), "{html}");
    assert!(html.contains("(crates/attest verdict), run by this server") && html.contains(&format!("outlayer verify call {call_id}")));
    assert!(html.contains("<code>billed usage</code>") && html.contains("<code>limits</code>"), "the coordinator's own records");

    // A receipt altered in the database after signing: the page says FAIL, naming the check.
    tamper_receipt(&config, &call_id).await?;
    let (_, html) = a.get(&format!("/ui/calls/{call_id}")).await?;
    assert!(html.contains("<h3 id=\"layer-binding\">binding <span class=\"badge FAIL\">"), "{html}");
    assert!(html.contains("a field was changed after signing"), "{html}");
    assert!(html.contains("<span id=\"verdict-status\"><span class=\"badge FAIL\">"), "{html}");
    let (_, html) = a.get("/ui/keys/1").await?;
    assert!(html.contains(&call_id[..8]) && html.contains("settle"), "the key page lists the call and the ledger");
    let (_, html) = a.get("/ui/projects/echo").await?;
    assert!(html.contains(&call_id[..8]));

    // Bob sees none of it.
    let mut b = Browser::new(&server.base);
    b.sign_in(&bob_token).await?;
    let (s, _) = b.get(&format!("/ui/calls/{call_id}")).await?;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, html) = b.get("/ui/keys").await?;
    assert!(!html.contains(&alice) && html.contains("No payment keys yet"));
    let (s, _) = b.get("/ui/projects/echo").await?;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Revoke, then the key no longer pays; sign out ends the session.
    let csrf = a.csrf("/ui/keys/1").await?;
    let (s, _) = a.post("/ui/keys/1/revoke", &[("csrf", &csrf)]).await?;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, b2) = server.call(&alice, "echo", &key, &[], &json!({ "input": 1 })).await?;
    assert_eq!((s, b2["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("payment_key_revoked")));
    let (s, _) = a.post("/ui/signout", &[("csrf", &csrf)]).await?;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(a.cookie.is_none());
    let (s, _) = a.get("/ui/keys").await?;
    assert_eq!(s, StatusCode::SEE_OTHER, "signed out: back to the sign-in page");

    // Public pages.
    let (s, html) = b.get("/ui/workers").await?;
    assert!(s == StatusCode::OK && html.contains("online"));
    let (s, html) = b.get("/ui/docs/api").await?;
    assert!(s == StatusCode::OK && html.contains("/payment-keys"));
    let (s, _) = b.get("/ui/docs/limits-errors").await?;
    assert_eq!(s, StatusCode::OK);
    // The overview charts (alice's call is in the last hour).
    let mut a = Browser::new(&server.base);
    a.sign_in(&alice_token).await?;
    let (_, html) = a.get("/").await?;
    assert!(html.contains("<svg") && html.contains("<p class=\"stat\" id=\"stat-calls\">1</p>"), "{html}");

    stop_workers(workers);
    server.stop().await;
    Ok(())
}

/// The dashboard's database reads.
async fn dashboard_queries(config: outlayer_coordinator::CoordinatorConfig) -> Result<()> {
    let server = Server::start(config).await?;
    let workers = spawn_workers(&server, 1).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "p1").await?;
    server.project(&owner, &token, "p0").await?;
    let k1 = server.key(&token, json!({ "initial_balance": 1_000_000 })).await?;
    let k2 = server.key(&token, json!({ "initial_balance": 1_000_000 })).await?;
    let mut ids = Vec::new();
    for key in [&k1, &k1, &k1, &k2] {
        let (s, b) = server.call(&owner, "p1", key, &[], &json!({ "input": 1, "resource_limits": small_limits() })).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        ids.push(b["call_id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let db = &server.state.db;
    let names: Vec<_> = db.projects_of(&owner).await?.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["p0", "p1"]);
    assert_eq!(db.keys_of(&owner).await?.iter().map(|k| k.nonce).collect::<Vec<_>>(), [1, 2]);
    assert!(db.keys_of("nobody").await?.is_empty());

    let p1 = db.project(&owner, "p1").await?.unwrap();
    let first = db.calls_by_project(&p1.id, &CallPage { before: None, limit: 3 }).await?;
    assert_eq!(first.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), [ids[3].clone(), ids[2].clone(), ids[1].clone()]);
    let last = first.last().unwrap();
    let second = db.calls_by_project(&p1.id, &CallPage { before: Some((last.created_ms, last.id.clone())), limit: 3 }).await?;
    assert_eq!(second.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), [ids[0].clone()]);
    let by_key = db.calls_by_key(&owner, 1, &CallPage { before: None, limit: 10 }).await?;
    assert_eq!(by_key.len(), 3);
    assert!(by_key.iter().all(|c| c.key_nonce == 1));
    let p0 = db.project(&owner, "p0").await?.unwrap();
    assert!(db.calls_by_project(&p0.id, &CallPage { before: None, limit: 10 }).await?.is_empty());

    let samples = db.owner_call_samples(&owner, 0, 100).await?;
    assert_eq!(samples.len(), 4);
    assert!(samples.iter().all(|s| s.charged == common::ECHO_COST && s.completed_ms.is_some()), "{samples:?}");
    assert_eq!(db.owner_call_samples(&owner, 0, 2).await?.len(), 2);
    assert!(db.owner_call_samples(&owner, i64::MAX, 100).await?.is_empty());

    let newest = db.ledger_before(&owner, 1, i64::MAX, 2).await?;
    assert_eq!(newest.len(), 2);
    assert!(newest[0].id > newest[1].id);
    let rest = db.ledger_before(&owner, 1, newest[1].id, 100).await?;
    let all = db.ledger(&owner, 1, 0, 1000).await?;
    assert_eq!(rest.len() + 2, all.len());
    assert!(!db.recent_workers(10).await?.is_empty());

    stop_workers(workers);
    server.stop().await;
    Ok(())
}

async fn on_postgres<F, Fut>(f: F) -> Result<()>
where
    F: FnOnce(outlayer_coordinator::CoordinatorConfig) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    use futures::FutureExt as _;
    let config = pg_config();
    let result = std::panic::AssertUnwindSafe(f(config.clone())).catch_unwind().await;
    drop_schema(&config).await;
    match result {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dashboard_flow() -> Result<()> {
    let dir = tempfile::tempdir()?;
    dashboard_flow(sqlite_config(&dir)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dashboard_flow() -> Result<()> {
    on_postgres(dashboard_flow).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dashboard_queries() -> Result<()> {
    let dir = tempfile::tempdir()?;
    dashboard_queries(sqlite_config(&dir)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dashboard_queries() -> Result<()> {
    on_postgres(dashboard_queries).await
}
