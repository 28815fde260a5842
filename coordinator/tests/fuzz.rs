//! A seeded fuzz harness over the HTTP API (issue 13): request parsers (paths, queries, headers,
//! JSON bodies) and the JSON → job path (`POST /call` bodies that are accepted are leased as jobs
//! and completed). Zero 5xx, zero panics, and every error is the documented JSON. Deterministic
//! (fixed seeds) and bounded: a few thousand requests in process, on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use anyhow::Result;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{EMPTY_MODULE, drop_schema, pg_config};
use outlayer_coordinator::{AppState, CoordinatorConfig, app, build_state};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Requests per backend.
const REQUESTS: usize = 3_000;

/// Route templates; `{}` segments are filled with fuzz.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/owners"),
    ("GET", "/earnings"),
    ("POST", "/projects"),
    ("GET", "/projects/{}/{}"),
    ("POST", "/projects/{}/{}/versions"),
    ("PUT", "/projects/{}/{}/active"),
    ("GET", "/wasm/{}"),
    ("POST", "/payment-keys"),
    ("GET", "/payment-keys/{}/{}"),
    ("DELETE", "/payment-keys/{}/{}"),
    ("POST", "/payment-keys/{}/{}/top-up"),
    ("GET", "/payment-keys/{}/{}/ledger"),
    ("POST", "/call/{}/{}"),
    ("GET", "/calls/{}"),
    ("GET", "/calls/{}/receipt"),
    ("GET", "/workers"),
    ("GET", "/workers/{}/attestation"),
    ("POST", "/workers/challenge"),
    ("POST", "/workers/register"),
    ("POST", "/workers/lease"),
    ("POST", "/workers/heartbeat"),
    ("POST", "/workers/complete"),
    ("GET", "/healthz"),
    ("GET", "/ui/projects/{}"),
    ("GET", "/ui/keys/{}"),
    ("GET", "/ui/calls/{}"),
    ("GET", "/{}"),
];

/// Known-good identities the fuzzer mixes in, so authenticated paths are reached too.
struct Known {
    owner: String,
    token: String,
    key: String,
    nonce: String,
    worker_token: String,
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// A path segment: names, numbers, hostile bytes (percent-encoded), long runs, unicode.
fn segment(rng: &mut StdRng, known: &Known) -> String {
    match rng.gen_range(0..12) {
        0 => known.owner.clone(),
        1 => "echo".into(),
        2 => known.nonce.clone(),
        3 => "%00".repeat(rng.gen_range(1..4)),
        4 => format!("a%{:02x}b", rng.r#gen::<u8>()),
        5 => "x".repeat(rng.gen_range(0..5000)),
        6 => "%".into(),
        7 => "caf%C3%A9".into(),
        8 => "%ED%A0%80".into(), // an encoded UTF-16 surrogate: not UTF-8
        9 => rng.r#gen::<u64>().to_string(),
        10 => "-1".into(),
        _ => (0..rng.gen_range(1..20)).map(|_| format!("%{:02X}", rng.r#gen::<u8>())).collect(),
    }
}

/// A JSON value, nested up to `depth`, with hostile strings and numbers.
fn value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.r#gen::<bool>()),
        2 => json!(rng.r#gen::<i64>()),
        3 => json!(rng.r#gen::<f64>() * 1e300),
        4 => json!(string(rng)),
        5 => json!(rng.r#gen::<u64>()),
        6 => Value::Array((0..rng.gen_range(0..5)).map(|_| value(rng, depth - 1)).collect()),
        _ => Value::Object((0..rng.gen_range(0..5)).map(|_| (string(rng), value(rng, depth - 1))).collect()),
    }
}

fn string(rng: &mut StdRng) -> String {
    match rng.gen_range(0..7) {
        0 => "\u{0}".into(),
        1 => "a\u{0}b".into(),
        2 => "x".repeat(rng.gen_range(0..300)),
        3 => "storage".into(),
        4 => "\u{FFFF}\u{10FFFF}é".into(),
        5 => "../..".into(),
        _ => (0..rng.gen_range(0..12)).map(|_| rng.gen_range(' '..='~')).collect(),
    }
}

/// A body for `route`: a mutation of a well-formed one, random JSON, or raw bytes.
fn body(rng: &mut StdRng, path: &str) -> Vec<u8> {
    let typed = if path.starts_with("/call/") {
        let mut v = json!({ "input": value(rng, 3) });
        if rng.gen_bool(0.3) {
            v["resource_limits"] = json!({
                "max_instructions": pick(rng, &[json!(0), json!(1), json!(1_000_000), json!(u64::MAX), json!(-1), json!("x")]),
                "max_memory_mb": pick(rng, &[json!(0), json!(1), json!(64), json!(1u64 << 40)]),
                "max_execution_seconds": pick(rng, &[json!(0), json!(1), json!(180), json!(181), json!(1.5)]),
            });
        }
        if rng.gen_bool(0.5) {
            v["async"] = json!(rng.r#gen::<bool>());
        }
        if rng.gen_bool(0.1) {
            v["version_key"] = value(rng, 0);
        }
        v
    } else if path == "/owners" {
        json!({ "owner": string(rng) })
    } else if path == "/projects" {
        json!({ "name": string(rng), "grants": [string(rng)], "http_allowlist": [string(rng)] })
    } else if path == "/payment-keys" {
        json!({ "initial_balance": value(rng, 0), "allowed_projects": [string(rng)], "max_per_call": value(rng, 0), "nonce": value(rng, 0) })
    } else if path.ends_with("/top-up") {
        json!({ "amount": value(rng, 0) })
    } else if path.ends_with("/active") {
        json!({ "version": string(rng) })
    } else if path == "/workers/heartbeat" {
        json!({ "lease_ids": [string(rng), string(rng)] })
    } else if path == "/workers/complete" {
        json!({ "lease_id": string(rng), "call_id": string(rng), "result": value(rng, 2), "receipt": value(rng, 2) })
    } else if path == "/workers/register" {
        json!({ "public_key": string(rng), "challenge": value(rng, 2), "evidence": value(rng, 2) })
    } else {
        value(rng, 2)
    };
    match rng.gen_range(0..16) {
        0 => (0..rng.gen_range(0..200)).map(|_| rng.r#gen::<u8>()).collect(),
        1 => {
            let mut b = serde_json::to_vec(&typed).unwrap();
            let cut = rng.gen_range(0..=b.len());
            b.truncate(cut);
            b
        }
        2 => EMPTY_MODULE.iter().copied().chain((0..rng.gen_range(0..300)).map(|_| rng.r#gen::<u8>())).collect(),
        _ => serde_json::to_vec(&typed).unwrap(),
    }
}

fn query(rng: &mut StdRng) -> String {
    match rng.gen_range(0..6) {
        0 => String::new(),
        1 => format!("?after_id={}&limit={}", rng.r#gen::<i64>(), rng.r#gen::<i64>()),
        2 => "?after_id=%00".into(),
        3 => "?limit=%ff%fe".into(),
        4 => format!("?before={}", "%".repeat(rng.gen_range(1..3))),
        _ => format!("?{}={}", string(rng).replace(['&', '#', ' '], ""), rng.r#gen::<u32>()),
    }
}

/// Sends one request in process; checks the answer.
async fn send(state: &AppState, request: Request<Body>, label: &str) -> Result<(StatusCode, Value)> {
    let response = app(state.clone()).oneshot(request).await?;
    let status = response.status();
    let json_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/json"));
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await?;
    assert!(!status.is_server_error(), "{label}: {status} {}", String::from_utf8_lossy(&bytes));
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let html = bytes.starts_with(b"<!DOCTYPE") || bytes.starts_with(b"<html") || status.is_redirection();
    if status.is_client_error() && !html {
        assert!(json_type && body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{label}: {status} {body}");
    }
    Ok((status, body))
}

fn request(method: &str, uri: &str, headers: &[(&str, String)], body: Vec<u8>) -> Option<Request<Body>> {
    let mut b = Request::builder().method(Method::from_bytes(method.as_bytes()).ok()?).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Body::from(body)).ok()
}

async fn setup(state: &AppState) -> Result<Known> {
    let owner = common::random_name("f");
    let (_, b) = send(state, request("POST", "/owners", &[], serde_json::to_vec(&json!({ "owner": owner }))?).unwrap(), "owner").await?;
    let token = b["token"].as_str().unwrap().to_owned();
    let auth = [("authorization", format!("Bearer {token}"))];
    send(state, request("POST", "/projects", &auth, serde_json::to_vec(&json!({ "name": "echo" }))?).unwrap(), "project").await?;
    let (s, _) =
        send(state, request("POST", &format!("/projects/{owner}/echo/versions"), &auth, EMPTY_MODULE.to_vec()).unwrap(), "up").await?;
    assert_eq!(s, StatusCode::CREATED);
    let (_, b) = send(
        state,
        request("POST", "/payment-keys", &auth, serde_json::to_vec(&json!({ "initial_balance": 1_000_000_000_000u64 }))?).unwrap(),
        "key",
    )
    .await?;
    let key = b["key"].as_str().unwrap().to_owned();
    let nonce = b["nonce"].to_string();
    // A registered worker's bearer token (shown only at registration).
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let challenge = state.issue_challenge().await.map_err(|e| anyhow::anyhow!(e.message))?;
    let public = signing.verifying_key().to_bytes();
    let evidence = outlayer_attest::Evidence::dev(outlayer_attest::report_data(&public, &challenge), outlayer_protocol::DEV_MEASUREMENTS);
    let req = outlayer_protocol::RegisterRequest { public_key: hex::encode(public), challenge: Some(challenge), evidence: Some(evidence) };
    let (_, worker_token) = state.register_worker(&req).await.map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(Known { owner, token, key, nonce, worker_token })
}

async fn fuzz(mut config: CoordinatorConfig, seed: u64) -> Result<()> {
    // No worker runs while fuzzing: a sync call answers 202 at once instead of waiting.
    config.sync_call_timeout = Duration::ZERO;
    let state = build_state(config).await?;
    let known = setup(&state).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..REQUESTS {
        let (method, template) = *pick(&mut rng, ROUTES);
        let method = if rng.gen_bool(0.05) { *pick(&mut rng, &["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) } else { method };
        let mut path = String::new();
        for (n, part) in template.split("{}").enumerate() {
            if n > 0 {
                path.push_str(&segment(&mut rng, &known));
            }
            path.push_str(part);
        }
        // Half the calls go to the real project, so bodies reach the JSON → job path.
        let real_call = template == "/call/{}/{}" && rng.gen_bool(0.6);
        if real_call {
            path = format!("/call/{}/echo", known.owner);
        }
        let uri = format!("{path}{}", query(&mut rng));
        let mut headers: Vec<(&str, String)> = Vec::new();
        match if real_call { 1 } else { rng.gen_range(0..5) } {
            0 => headers.push(("authorization", format!("Bearer {}", known.token))),
            1 => headers.push(("x-payment-key", known.key.clone())),
            2 => headers.push(("authorization", format!("Bearer {}", known.worker_token))),
            3 => headers.push(("x-payment-key", format!("{}:{}:{}", string(&mut rng), rng.r#gen::<i64>(), string(&mut rng)))),
            _ => {}
        }
        if rng.gen_bool(if real_call { 0.1 } else { 0.3 }) {
            headers.push(("x-compute-limit", pick(&mut rng, &["0", "1", "99999999999999999999", "-5", "abc", "1000000000"]).to_string()));
        }
        if rng.gen_bool(if real_call { 0.05 } else { 0.2 }) {
            headers.push(("x-attached-deposit", pick(&mut rng, &["0", "7", "18446744073709551615", "x"]).to_string()));
        }
        let body = body(&mut rng, &path);
        let Some(req) = request(method, &uri, &headers, body) else { continue };
        let (status, _) = send(&state, req, &format!("#{i} {method} {uri}")).await?;
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    // The JSON → job path: every call the fuzzer got accepted becomes a job and settles.
    let signing = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]);
    let worker = common::dev_register_state(&state, &signing).await?;
    let signer = outlayer_protocol::Signer { worker_id: &worker.id, attestation_sha256: &worker.attestation_sha256 };
    let mut jobs = 0;
    while let Some(job) = state.lease_job(&worker, Duration::ZERO).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))? {
        let completion = outlayer_protocol::Completion::sign(&job, common::echo(&job), &signer, &signing);
        state.complete_job(&worker, &completion).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        jobs += 1;
    }
    let accepted = statuses.get(&200).copied().unwrap_or(0) + statuses.get(&202).copied().unwrap_or(0);
    println!("seed {seed}: {REQUESTS} requests, statuses {statuses:?}, {jobs} jobs leased and settled");
    assert!(accepted > 0 && statuses.keys().any(|s| *s >= 400), "the fuzzer reached both sides: {statuses:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fuzzed_requests_never_answer_5xx() -> Result<()> {
    let dir = tempfile::tempdir()?;
    fuzz(common::sqlite_config(&dir), 13).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fuzzed_requests_never_answer_5xx() -> Result<()> {
    let config = pg_config();
    let result = fuzz(config.clone(), 1313).await;
    drop_schema(&config).await;
    result
}
