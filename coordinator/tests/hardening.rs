//! Issue 13, hardening: input hygiene (NUL, invalid UTF-8, hyper's own errors as JSON),
//! admission control (wasm validation, quotas, rate limits), retention. Each scenario runs on
//! SQLite (a temp file) and on PostgreSQL + Redis (a fresh schema, dropped afterwards).

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{EMPTY_MODULE, Server, drop_schema, pg_config, read, small_limits};
use outlayer_coordinator::CoordinatorConfig;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

async fn on_sqlite<F, Fut>(f: F) -> Result<()>
where
    F: FnOnce(CoordinatorConfig) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let dir = tempfile::tempdir()?;
    f(common::sqlite_config(&dir)).await
}

async fn on_postgres<F, Fut>(f: F) -> Result<()>
where
    F: FnOnce(CoordinatorConfig) -> Fut,
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

/// A GET whose answer must be the documented JSON error: (status, code).
async fn get_error(server: &Server, path: &str) -> Result<(u16, String)> {
    let resp = server.http.get(server.url(path)).send().await?;
    let ct = resp.headers().get(CONTENT_TYPE).cloned();
    let (s, b) = read(resp).await?;
    assert_eq!(ct.as_ref().and_then(|v| v.to_str().ok()), Some("application/json"), "{path}: {s} {b}");
    Ok((s.as_u16(), code(&b).to_owned()))
}

/// Writes `request` on a raw connection and returns the whole answer as text.
async fn raw(server: &Server, request: &[u8]) -> Result<String> {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    // hyper may answer (and close) before the whole request is written.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The status line and the JSON error code of a raw answer; asserts the JSON content type.
fn raw_error(answer: &str) -> (String, String) {
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, code(&body).to_owned())
}

/// NUL and invalid UTF-8 in paths, queries, headers and JSON strings are 400 with the JSON error
/// before the database (PostgreSQL answered `GET /projects/%00%00/x` with 500); hyper's own
/// 400/414/431 and axum's 404/405/413 are the documented JSON too.
async fn input_hygiene(config: CoordinatorConfig) -> Result<()> {
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let nonce = key.split(':').nth(1).unwrap().to_owned();

    // Paths: NUL, invalid UTF-8, a broken escape — unauthenticated and authenticated routes.
    for path in [
        "/projects/%00%00/x",
        "/projects/a%00b/echo",
        "/projects/%ff%fe/x",
        "/calls/%00",
        "/calls/%c3%28/receipt",
        "/workers/%00/attestation",
        "/wasm/%00",
        "/projects/ab/x%zz",
    ] {
        assert_eq!(get_error(&server, path).await?, (400, "invalid_path".into()), "{path}");
    }
    let resp = server.http.get(server.url(&format!("/payment-keys/{owner}/%00"))).header("X-Payment-Key", &key).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (400, "invalid_path"));
    // Queries.
    for query in ["after_id=%00", "limit=%ff", "x=a%00"] {
        let path = format!("/payment-keys/{owner}/{nonce}/ledger?{query}");
        let resp = server.http.get(server.url(&path)).header("X-Payment-Key", &key).send().await?;
        let (s, b) = read(resp).await?;
        assert_eq!((s.as_u16(), code(&b)), (400, "invalid_query"), "{query}");
    }
    // Headers the API reads: only visible ASCII.
    let resp = server
        .http
        .get(server.url(&format!("/payment-keys/{owner}/{nonce}")))
        .header("X-Payment-Key", HeaderValue::from_bytes(b"o\xffo:1:x")?)
        .send()
        .await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (400, "invalid_header"));
    // JSON strings that are looked up as text.
    let (s, b) = server.post("/owners", None, &json!({ "owner": "a\u{0}b" })).await?;
    assert_eq!((s.as_u16(), code(&b)), (400, "invalid_json"));
    let resp = server
        .http
        .put(server.url(&format!("/projects/{owner}/echo/active")))
        .bearer_auth(&token)
        .json(&json!({ "version": "\u{0}" }))
        .send()
        .await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (400, "invalid_json"));
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 1, "version_key": "a\u{0}" })).await?;
    assert_eq!((s.as_u16(), code(&b)), (400, "invalid_json"));
    let worker = server.worker().await?;
    match worker.heartbeat(&["\u{0}".to_owned()]).await {
        Err(outlayer_protocol::client::ClientError::Api { status: 400, code, .. }) => assert_eq!(code, "invalid_json"),
        other => panic!("expected 400 invalid_json, got {other:?}"),
    }
    // A NUL inside a call's input is data: stored as the JSON escape, echoed back.
    let workers = common::spawn_workers(&server, 1).await?;
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": "a\u{0}b", "resource_limits": small_limits() })).await?;
    assert_eq!((s.as_u16(), &b["output"]), (200, &json!("a\u{0}b")), "{b}");
    common::stop_workers(workers);

    // axum's own answers: 404, 405, 413 — JSON.
    assert_eq!(get_error(&server, "/nope").await?, (404, "route_not_found".into()));
    let resp = server.http.delete(server.url("/owners")).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (405, "method_not_allowed"));
    let resp = server.http.post(server.url("/owners")).body(vec![b' '; 100 * 1024]).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (413, "payload_too_large"));

    // hyper's own: a URI over 65534 bytes (414), a header section over its buffer (431), a
    // malformed request line (400).
    let long = format!("GET /projects/{}/x HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let (status, c) = raw_error(&raw(&server, long.as_bytes()).await?);
    assert_eq!((status.as_str(), c.as_str()), ("HTTP/1.1 414 URI Too Long", "uri_too_long"));
    let fat = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-fat: {}\r\n\r\n", "a".repeat(500_000));
    let (status, c) = raw_error(&raw(&server, fat.as_bytes()).await?);
    assert_eq!((status.as_str(), c.as_str()), ("HTTP/1.1 431 Request Header Fields Too Large", "headers_too_large"));
    let (status, c) = raw_error(&raw(&server, b"GET /a\x01b HTTP/1.1\r\nhost: x\r\n\r\n").await?);
    assert_eq!((status.as_str(), c.as_str()), ("HTTP/1.1 400 Bad Request", "malformed_request"));
    // A header value with a NUL never reaches us either.
    let (status, c) = raw_error(&raw(&server, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-payment-key: a\0b\r\n\r\n").await?);
    assert_eq!((status.as_str(), c.as_str()), ("HTTP/1.1 400 Bad Request", "malformed_request"));

    // Still serving, and the database never saw any of it.
    let (s, b) = server.get("/healthz", &[]).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    let resp = server
        .http
        .post(server.url(&format!("/projects/{owner}/echo/versions")))
        .bearer_auth(&token)
        .body(EMPTY_MODULE.to_vec())
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 201);
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_input_hygiene() -> Result<()> {
    on_sqlite(input_hygiene).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_input_hygiene() -> Result<()> {
    on_postgres(input_hygiene).await
}

/// A valid module: the empty module plus a custom section of `payload` bytes named `tag`.
fn module(tag: &str, payload: usize) -> Vec<u8> {
    let mut section = vec![tag.len() as u8];
    section.extend(tag.as_bytes());
    section.extend(std::iter::repeat_n(0u8, payload));
    let mut m = EMPTY_MODULE.to_vec();
    m.push(0);
    let mut len = section.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            m.push(byte);
            break;
        }
        m.push(byte | 0x80);
    }
    m.extend(section);
    m
}

async fn upload(server: &Server, owner: &str, project: &str, token: &str, wasm: Vec<u8>) -> Result<(u16, Value)> {
    let resp = server.http.post(server.url(&format!("/projects/{owner}/{project}/versions"))).bearer_auth(token).body(wasm).send().await?;
    let (s, b) = read(resp).await?;
    Ok((s.as_u16(), b))
}

/// Uploads are validated before they are stored; quotas per owner; at most N upload bodies at
/// once.
async fn admission(mut config: CoordinatorConfig) -> Result<()> {
    config.admission.quotas =
        outlayer_coordinator::admission::Quotas { max_projects_per_owner: 2, max_versions_per_project: 2, max_wasm_bytes_per_owner: 3_000 };
    config.admission.max_concurrent_uploads = 2;
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "p1" })).await?;
    assert_eq!(s.as_u16(), 201, "{b}");

    // `\0asm` + a version + 1000 random bytes: refused, and nothing is stored.
    let mut garbage = EMPTY_MODULE.to_vec();
    garbage.extend((0..1000).map(|_| rand::random::<u8>()));
    let (s, b) = upload(&server, &owner, "p1", &token, garbage).await?;
    assert_eq!((s, code(&b)), (400, "invalid_wasm"), "{b}");
    assert!(b["error"]["message"].as_str().unwrap_or_default().starts_with("not a valid wasm module or component"), "{b}");
    let (_, p) = server.get(&format!("/projects/{owner}/p1"), &[]).await?;
    assert_eq!(p["versions"], json!([]));

    // Versions per project: two, then 409; the same bytes again are fine (nothing new stored).
    assert_eq!(upload(&server, &owner, "p1", &token, module("a", 10)).await?.0, 201);
    assert_eq!(upload(&server, &owner, "p1", &token, module("b", 10)).await?.0, 201);
    let (s, b) = upload(&server, &owner, "p1", &token, module("c", 10)).await?;
    assert_eq!((s, code(&b)), (409, "version_quota_exceeded"), "{b}");
    assert_eq!(upload(&server, &owner, "p1", &token, module("a", 10)).await?.0, 201);
    // Projects per owner: two, then 409.
    let (s, _) = server.post("/projects", Some(&token), &json!({ "name": "p2" })).await?;
    assert_eq!(s.as_u16(), 201);
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "p3" })).await?;
    assert_eq!((s.as_u16(), code(&b)), (409, "project_quota_exceeded"));
    // Bytes per owner (3000): the two small versions use ~60; 2900 more would pass it.
    let (s, b) = upload(&server, &owner, "p2", &token, module("big", 2_950)).await?;
    assert_eq!((s, code(&b)), (413, "wasm_quota_exceeded"), "{b}");
    assert_eq!(upload(&server, &owner, "p2", &token, module("fits", 2_000)).await?.0, 201);
    // Another owner has its own quotas.
    let (other, other_token) = server.owner().await?;
    server.project(&other, &other_token, "p1").await?;

    // Upload bodies in memory at once: with both slots taken, 429 with Retry-After.
    let held = (server.state.admission.upload_slot().ok(), server.state.admission.upload_slot().ok());
    let resp =
        server.http.post(server.url(&format!("/projects/{owner}/p2/versions"))).bearer_auth(&token).body(EMPTY_MODULE).send().await?;
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"));
    drop(held);
    assert_eq!(upload(&server, &owner, "p2", &token, EMPTY_MODULE.to_vec()).await?.0, 201);
    server.stop().await;
    Ok(())
}

/// Per-IP limits on unauthenticated and owner routes (not on calls or the worker protocol), per
/// owner limits, `X-Forwarded-For` only when trusted; 429 with `Retry-After`.
async fn rate_limits(mut config: CoordinatorConfig) -> Result<()> {
    use outlayer_coordinator::RateLimitConfig;
    // In-process limiters: the Redis window for 127.0.0.1 would be shared with other tests.
    config.redis_url = None;
    let hour = Duration::from_secs(3600);
    config.admission.ip_rate_limit = Some(RateLimitConfig { max_calls: 4, window: hour });
    let server = Server::start(config.clone()).await?;
    let (owner, token) = server.owner().await?; // 1
    server.project(&owner, &token, "echo").await?; // 2, 3
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?; // 4
    let resp = server.http.get(server.url("/projects/ab/cd")).header("x-forwarded-for", "10.0.0.1").send().await?;
    let retry: u64 = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let (s, b) = read(resp).await?;
    assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"), "X-Forwarded-For is not trusted by default");
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    let (s, b) = server.post("/owners", None, &json!({ "owner": "fresh-owner" })).await?;
    assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"));
    // Calls, health and the worker protocol are not limited per IP.
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 1, "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s.as_u16(), 202, "{b}");
    assert_eq!(server.get("/healthz", &[]).await?.0.as_u16(), 200);
    let (s, b) = server.post("/workers/lease", Some("olw_nope"), &json!({})).await?;
    assert_eq!((s.as_u16(), code(&b)), (401, "invalid_worker_token"));
    server.stop().await;

    // Trusted X-Forwarded-For: the last address is the client.
    config.admission.trust_forwarded_for = true;
    config.admission.ip_rate_limit = Some(RateLimitConfig { max_calls: 1, window: hour });
    let server = Server::start(config.clone()).await?;
    let get = |xff: &'static str| server.http.get(server.url("/projects/ab/cd")).header("x-forwarded-for", xff).send();
    assert_eq!(get("1.1.1.1, 10.0.0.1").await?.status().as_u16(), 404);
    assert_eq!(get("10.0.0.1").await?.status().as_u16(), 429);
    assert_eq!(get("10.0.0.1, 10.0.0.2").await?.status().as_u16(), 404);
    server.stop().await;

    // Per owner: three owner-authenticated requests per hour.
    config.admission.ip_rate_limit = None;
    config.admission.owner_rate_limit = Some(RateLimitConfig { max_calls: 3, window: hour });
    let server = Server::start(config).await?;
    let (_, token) = server.owner().await?;
    let (_, other) = server.owner().await?;
    for _ in 0..3 {
        assert_eq!(server.get("/earnings", &[("authorization", &format!("Bearer {token}"))]).await?.0.as_u16(), 200);
    }
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "nope" })).await?;
    assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"));
    assert_eq!(server.get("/earnings", &[("authorization", &format!("Bearer {other}"))]).await?.0.as_u16(), 200);
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_admission() -> Result<()> {
    on_sqlite(admission).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_admission() -> Result<()> {
    on_postgres(admission).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rate_limits() -> Result<()> {
    on_sqlite(rate_limits).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rate_limits() -> Result<()> {
    on_postgres(rate_limits).await
}

/// Runs `sql` on the coordinator's database (a connection of the test's own).
async fn exec_sql(config: &CoordinatorConfig, sql: &str) -> Result<()> {
    use outlayer_coordinator::DatabaseConfig;
    use sqlx::Connection as _;
    match &config.database {
        DatabaseConfig::Sqlite { path } => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await?;
        }
        DatabaseConfig::Postgres { url, schema } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let schema = schema.clone().unwrap_or_else(|| "public".into());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET search_path TO \"{schema}\"; {sql}"))).execute(&mut conn).await?;
        }
    }
    Ok(())
}

/// Sum of the ledger amounts of one kind.
fn sum(entries: &[Value], kind: &str) -> i64 {
    entries.iter().filter(|e| e["kind"] == kind).map(|e| e["amount"].as_i64().unwrap_or(0)).sum()
}

/// Retention at a fixed time: settled calls past 7 days go, unsettled ones stay; the ledger
/// compacts to one line per kind with every sum (and so the key's balance, spent and reserved)
/// unchanged; unreferenced wasm and dead workers go; the liveness map is pruned; /metrics counts.
async fn retention(config: CoordinatorConfig) -> Result<()> {
    const DAY: i64 = 24 * 3600 * 1000;
    let server = Server::start(config.clone()).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let workers = common::spawn_workers(&server, 1).await?;
    // Seen long ago: its next lease records a sign of life (and a liveness-map entry).
    exec_sql(&config, "UPDATE workers SET last_heartbeat_ms = 0").await?;
    let mut settled = Vec::new();
    for i in 0..3 {
        let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": i, "resource_limits": small_limits() })).await?;
        assert_eq!(s.as_u16(), 200, "{b}");
        settled.push(b["call_id"].as_str().unwrap().to_owned());
    }
    common::stop_workers(workers);
    assert!(server.state.liveness_entries() >= 1);
    // A lease request the stopped worker had already sent (it may reach the coordinator after the
    // stop) stays open there until its wait (1 s) ends; a call queued meanwhile would be handed to
    // it, leased to that worker, which would then not be collected. Let such a request arrive,
    // then wait for its end.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.state.hub.idle.waiting() > 0 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the stopped worker's long poll never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, b) =
        server.call(&owner, "echo", &key, &[], &json!({ "input": "later", "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s.as_u16(), 202, "{b}");
    let queued = b["call_id"].as_str().unwrap().to_owned();
    let idle = server.worker().await?;
    exec_sql(&config, "INSERT INTO wasm_blobs (sha256, size, bytes, created_ms) VALUES ('orphan', 0, '', 0)").await?;
    let before = server.key_state(&key).await?;
    let ledger_before = server.ledger(&key).await?;
    assert_eq!(ledger_before.len(), 11, "top_up + 3 × (reserve, settle, release) + reserve");

    // Six days later nothing has expired (only the orphan blob, past its hour).
    let now = outlayer_coordinator::state::now_ms();
    let c = server.state.collect(now + 6 * DAY).await.map_err(|e| anyhow::anyhow!(e.message))?;
    assert_eq!((c.calls, c.ledger_lines, c.wasm_blobs, c.workers), (0, 0, 1, 0), "{c:?}");
    // The liveness map keeps only entries that still save a write.
    assert!(c.liveness_entries >= 1);
    assert_eq!(server.state.liveness_entries(), 0);
    // Eight days later: the three settled calls and both workers (no retained call names them).
    let c = server.state.collect(now + 8 * DAY).await.map_err(|e| anyhow::anyhow!(e.message))?;
    assert_eq!((c.calls, c.ledger_lines, c.wasm_blobs, c.workers), (3, 0, 0, 2), "{c:?}");
    for id in &settled {
        let (s, b) = server.get(&format!("/calls/{id}"), &[("X-Payment-Key", &key)]).await?;
        assert_eq!((s.as_u16(), code(&b)), (404, "call_not_found"));
    }
    let (s, b) = server.get(&format!("/calls/{queued}"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("queued")), "an unsettled call stays");
    // Both workers were last seen 8 days before that time, and no retained call names them.
    let (_, w) = server.get("/workers", &[]).await?;
    assert_eq!(w["workers"], json!([]));
    let (s, b) = server.get(&format!("/workers/{}/attestation", idle.client.worker_id), &[]).await?;
    assert_eq!(s.as_u16(), 404, "{b}");

    // 31 days: the ledger compacts to one line per kind; every sum and the key are unchanged.
    let c = server.state.collect(now + 31 * DAY).await.map_err(|e| anyhow::anyhow!(e.message))?;
    assert_eq!(c.ledger_lines, 11 - 4, "{c:?}");
    let ledger = server.ledger(&key).await?;
    let kinds: Vec<&str> = ledger.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["top_up", "reserve", "settle", "release"]);
    assert!(ledger.iter().all(|e| e["call_id"].is_null()));
    for kind in ["top_up", "reserve", "settle", "release"] {
        assert_eq!(sum(&ledger, kind), sum(&ledger_before, kind), "{kind}");
    }
    let after = server.key_state(&key).await?;
    assert_eq!((&after["balance"], &after["spent"], &after["reserved"]), (&before["balance"], &before["spent"], &before["reserved"]));
    assert_eq!(after["balance"].as_i64(), Some(sum(&ledger, "top_up")));
    assert_eq!(after["spent"].as_i64(), Some(sum(&ledger, "settle")));
    assert_eq!(after["reserved"].as_i64(), Some(sum(&ledger, "reserve") - sum(&ledger, "settle") - sum(&ledger, "release")));
    // Compacting again changes nothing.
    let c = server.state.collect(now + 32 * DAY).await.map_err(|e| anyhow::anyhow!(e.message))?;
    assert_eq!(c.ledger_lines, 0);

    let metrics = server.http.get(server.url("/metrics")).send().await?.text().await?;
    for line in [
        "outlayer_retention_deleted_total{kind=\"calls\"} 3",
        "outlayer_retention_deleted_total{kind=\"ledger_lines\"} 7",
        "outlayer_retention_deleted_total{kind=\"wasm_blobs\"} 1",
        "outlayer_retention_runs_total{result=\"ok\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention() -> Result<()> {
    on_sqlite(retention).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention() -> Result<()> {
    on_postgres(retention).await
}

/// A sync call whose re-read fails while it waits answers 202 with its call id (the call was
/// accepted and reserved), not a bare 500; it can be polled once the database is back.
async fn failed_reread_keeps_the_call_id(config: CoordinatorConfig) -> Result<()> {
    let server = std::sync::Arc::new(Server::start(config.clone()).await?);
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (srv, k, o) = (server.clone(), key.clone(), owner.clone());
    let waiting =
        tokio::spawn(async move { srv.call(&o, "echo", &k, &[], &json!({ "input": 1, "resource_limits": small_limits() })).await });
    // Wait until the call is queued (no worker runs), then take its table away.
    for _ in 0..500 {
        if server.state.db.queue_depth().await.map_err(|e| anyhow::anyhow!("{e}"))?.0 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    exec_sql(&config, "ALTER TABLE calls RENAME TO calls_away").await?;
    let (s, b) = waiting.await??;
    exec_sql(&config, "ALTER TABLE calls_away RENAME TO calls").await?;
    assert_eq!((s.as_u16(), b["status"].as_str()), (202, Some("queued")), "{b}");
    let id = b["call_id"].as_str().expect("the call id");
    let (s, b) = server.get(&format!("/calls/{id}"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("queued")), "{b}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failed_reread_during_a_sync_wait_answers_the_call_id() -> Result<()> {
    on_sqlite(failed_reread_keeps_the_call_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failed_reread_during_a_sync_wait_answers_the_call_id() -> Result<()> {
    on_postgres(failed_reread_keeps_the_call_id).await
}

/// The largest completion a worker can send is accepted: an output of exactly
/// `MAX_OUTPUT_BYTES` (what `Job.max_output_bytes` caps the guest's stdout at), the longest
/// stderr tail the worker keeps, each character escaped in JSON, and the most listed HTTP
/// refusals; it fits `/workers/complete`'s body limit and settles once.
async fn largest_completion(config: CoordinatorConfig) -> Result<()> {
    use outlayer_coordinator::limits::{MAX_COMPLETE_BODY_BYTES, MAX_OUTPUT_BYTES};
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 1, "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s.as_u16(), 202, "{b}");
    let worker = server.worker().await?;
    let job = worker.lease(Duration::from_secs(5)).await?.expect("a job");
    assert_eq!(job.max_output_bytes, MAX_OUTPUT_BYTES as u64);
    let mut result = common::echo(&job);
    let mut output = vec![b'x'; MAX_OUTPUT_BYTES];
    (output[0], output[MAX_OUTPUT_BYTES - 1]) = (b'"', b'"');
    result.output = output;
    // The worker keeps 4096 bytes of stderr; a control character is 6 bytes of JSON.
    result.stderr_tail = Some("\u{1}".repeat(4096));
    let refused =
        (0..16).map(|i| format!("denied https://{}.example:443 (not on the allowlist)", "h".repeat(200) + &i.to_string())).collect();
    result.http = Some(outlayer_protocol::http::HttpStats { calls: 16, denied: 16, refused, ..Default::default() });
    let completion = outlayer_protocol::Completion::sign(&job, result, &worker.signer(), &worker.key);
    let size = serde_json::to_vec(&completion)?.len();
    assert!(size <= MAX_COMPLETE_BODY_BYTES, "the largest completion is {size} bytes; the limit {MAX_COMPLETE_BODY_BYTES}");
    let view = worker.client.complete(&completion).await?;
    assert_eq!(view.status, outlayer_protocol::CallStatus::Completed);
    let done = server.wait_final(&key, &job.call_id).await?;
    assert_eq!(done["output"].as_str().map(str::len), Some(MAX_OUTPUT_BYTES - 2));
    println!("largest completion: {size} bytes of {MAX_COMPLETE_BODY_BYTES}");
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_largest_completion_is_accepted() -> Result<()> {
    on_sqlite(largest_completion).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_largest_completion_is_accepted() -> Result<()> {
    on_postgres(largest_completion).await
}

/// Disk full, and the like: a worker's verified result whose settling write fails is held, the
/// worker told 503 `settle_pending`; once the database is back it settles — by the reaper's retry
/// or, if the lease expired first, instead of handing the job out again. Never run twice.
async fn held_result_settles_once(mut config: CoordinatorConfig) -> Result<()> {
    config.lease_duration = Duration::from_secs(1);
    let server = Server::start(config.clone()).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 5, "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s.as_u16(), 202, "{b}");
    let id = b["call_id"].as_str().unwrap().to_owned();
    let a = server.worker().await?;
    let job = a.lease(Duration::from_secs(5)).await?.expect("the job");
    // The settling write fails (its ledger lines cannot be written).
    exec_sql(&config, "ALTER TABLE ledger RENAME TO ledger_away").await?;
    match a.complete(&job, &common::echo(&job)).await {
        Err(outlayer_protocol::client::ClientError::Api { status: 503, code, .. }) => assert_eq!(code, "settle_pending"),
        other => panic!("expected 503 settle_pending, got {other:?}"),
    }
    assert_eq!(server.state.held_results(), 1);
    // The lease expires meanwhile; then the database comes back.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    exec_sql(&config, "ALTER TABLE ledger_away RENAME TO ledger").await?;
    let b_worker = server.worker().await?;
    for _ in 0..3 {
        let leased = b_worker.lease(Duration::from_secs(1)).await?;
        assert!(leased.is_none(), "a call whose result is known was handed out again: {leased:?}");
    }
    let done = server.wait_final(&key, &id).await?;
    assert_eq!((done["status"].as_str(), &done["output"]), (Some("completed"), &json!(5)), "{done}");
    assert_eq!(done["worker"]["id"], a.client.worker_id.as_str(), "worker A's result");
    assert_eq!(server.state.held_results(), 0);
    let ledger = server.ledger(&key).await?;
    let settles = ledger.iter().filter(|e| e["call_id"] == id.as_str() && e["kind"] == "settle").count();
    assert_eq!(settles, 1, "{ledger:?}");
    let k = server.key_state(&key).await?;
    assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(common::ECHO_COST), Some(0)));
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_result_whose_write_failed_settles_once() -> Result<()> {
    on_sqlite(held_result_settles_once).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_result_whose_write_failed_settles_once() -> Result<()> {
    on_postgres(held_result_settles_once).await
}
