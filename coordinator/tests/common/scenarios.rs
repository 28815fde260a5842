//! Scenarios run against every backend.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, ensure};
use outlayer_coordinator::CoordinatorConfig;
use outlayer_coordinator::RateLimitConfig;
use outlayer_protocol::client::ClientError;
use outlayer_protocol::receipt::{SignedReceipt, sha256_hex};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

/// Owner, project, upload, key, sync call, async call; costs, balances, receipt, earnings.
pub async fn end_to_end(config: CoordinatorConfig) -> Result<()> {
    let server = Server::start(config).await?;
    let workers = spawn_workers(&server, 1).await?;
    let (owner, token) = server.owner().await?;
    let sha = server.project(&owner, &token, "echo").await?;
    let (s, p) = server.get(&format!("/projects/{owner}/echo"), &[]).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["active_version"], sha);
    assert_eq!(p["versions"][0]["wasm_sha256"], sha);
    assert_eq!(p["versions"][0]["size"], 8);
    assert_eq!(p["grants"], json!(["storage"]));

    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    assert!(key.starts_with(&format!("{owner}:1:")));

    // Sync call: output is the input, cost is the echo cost, deposit partly refunded.
    let input = json!({ "hello": "world", "refund": 300 });
    let (s, b) = server
        .call(&owner, "echo", &key, &[("X-Attached-Deposit", "500".into())], &json!({ "input": input, "resource_limits": small_limits() }))
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "completed");
    assert_eq!(b["output"], input);
    assert_eq!(b["compute_cost"], ECHO_COST.to_string(), "compute_cost is a decimal string of micro-USD");
    assert_eq!(b["poll_url"], format!("/calls/{}", b["call_id"].as_str().unwrap()));
    assert_eq!(b["attestation_url"], format!("/calls/{}/receipt", b["call_id"].as_str().unwrap()));
    assert_eq!(b["refund"], 300);
    assert_eq!(b["charged"], ECHO_COST + 200);
    assert_eq!(b["instructions"], ECHO_INSTRUCTIONS);
    assert_eq!(b["time_ms"], ECHO_WALL_MS);
    assert_eq!(b["wasm_sha256"], sha);
    // The receipt (v2) verifies with the worker's key and binds the exact input and output
    // bytes (`output_base64`), every charged number, the worker and its attestation.
    let stdin = serde_json::to_string(&input)?;
    let signed: SignedReceipt = serde_json::from_value(b["receipt"].clone())?;
    signed.verify()?;
    assert_eq!(signed.public_key, b["worker"]["public_key"].as_str().unwrap());
    let r = &signed.receipt;
    assert_eq!(r.call_id, b["call_id"].as_str().unwrap());
    assert_eq!((r.project.clone(), r.wasm_sha256.clone()), (format!("{owner}/echo"), sha.clone()));
    assert_eq!(r.input_sha256, sha256_hex(stdin.as_bytes()));
    use base64::Engine as _;
    let output_bytes = base64::engine::general_purpose::STANDARD.decode(b["output_base64"].as_str().unwrap())?;
    assert_eq!(output_bytes, stdin.as_bytes());
    assert_eq!(r.output_sha256, sha256_hex(&output_bytes));
    assert_eq!((r.instructions, r.wall_ms, r.refund), (ECHO_INSTRUCTIONS, ECHO_WALL_MS, 300));
    assert_eq!(r.worker_id, b["worker"]["id"].as_str().unwrap());
    let (s, att) = server.get(&format!("/workers/{}/attestation", r.worker_id), &[]).await?;
    assert_eq!(s, StatusCode::OK, "{att}");
    assert_eq!(att["attestation_sha256"], r.attestation_sha256.as_str());
    assert_eq!(att["tee"], "dev");
    let (s, pubr) = server.get(&format!("/calls/{}/receipt", r.call_id), &[]).await?;
    assert_eq!(s, StatusCode::OK, "{pubr}");
    assert_eq!(pubr["receipt"], b["receipt"]);
    assert_eq!(pubr["attestation_url"], format!("/workers/{}/attestation", r.worker_id));

    let k = server.key_state(&key).await?;
    assert_eq!((k["balance"].as_i64(), k["spent"].as_i64(), k["reserved"].as_i64()), (Some(100_000), Some(ECHO_COST + 200), Some(0)));

    // Async call: 202 with a call id, then the result by polling.
    let (s, b) =
        server.call(&owner, "echo", &key, &[], &json!({ "input": [1, 2, 3], "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["status"], "queued");
    let done = server.wait_final(&key, b["call_id"].as_str().unwrap()).await?;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"], json!([1, 2, 3]));
    let k = server.key_state(&key).await?;
    assert_eq!(k["spent"].as_i64(), Some(2 * ECHO_COST + 200));
    assert_eq!(k["available"].as_i64(), Some(100_000 - 2 * ECHO_COST - 200));

    // Earnings: 80% of (cost - base fee) per call plus the kept deposit.
    let (s, e) = server.get("/earnings", &[("Authorization", &format!("Bearer {token}"))]).await?;
    assert_eq!(s, StatusCode::OK);
    let share = (ECHO_COST - 1_000) * 8 / 10;
    assert_eq!(e["total"].as_i64(), Some(2 * share + 200));
    assert_eq!(e["projects"][0]["calls"], 2);

    // Ledger: top_up, then reserve/settle/release per call.
    let kinds: Vec<String> = server.ledger(&key).await?.iter().map(|l| l["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["top_up", "reserve", "settle", "release", "reserve", "settle", "release"]);
    // Paging: two lines at a time, continuing after the last id.
    let (owner_part, nonce) = (owner.as_str(), key.split(':').nth(1).unwrap());
    let (s, page) = server.get(&format!("/payment-keys/{owner_part}/{nonce}/ledger?limit=2"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
    let last = page["entries"][1]["id"].as_i64().unwrap();
    let (_, next) =
        server.get(&format!("/payment-keys/{owner_part}/{nonce}/ledger?limit=2&after_id={last}"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!(next["entries"][0]["kind"], "settle");
    let (s, bad) = server.get(&format!("/payment-keys/{owner_part}/{nonce}/ledger?limit=x"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!((s, bad["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));

    // Guest failures: invalid JSON output and a trap; deposit returned, compute charged.
    let (s, b) = server
        .call(
            &owner,
            "echo",
            &key,
            &[("X-Attached-Deposit", "50".into())],
            &json!({ "input": "not-json", "resource_limits": small_limits() }),
        )
        .await?;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["status"], "failed");
    assert_eq!(b["error"]["code"], "invalid_output");
    assert_eq!(b["charged"], ECHO_COST);
    assert_eq!(b["refund"], 50);
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": { "trap": true }, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["code"], "trap");
    assert_eq!(b["error"]["message"], "boom");

    // Output over the cap: failed with output_too_large, never stored.
    let big = outlayer_coordinator::limits::MAX_OUTPUT_BYTES as u64;
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": { "big": big }, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}", b["error"]);
    assert_eq!(b["error"]["code"], "output_too_large");
    assert!(b.get("output").is_none());

    // Metrics and health.
    let text = server.http.get(server.url("/metrics")).send().await?.text().await?;
    assert!(text.contains("outlayer_calls_total{status=\"completed\"} 2"), "{text}");
    assert!(text.contains("outlayer_calls_total{status=\"failed\"} 3"), "{text}");
    assert!(text.contains("outlayer_call_latency_seconds_count 5"), "{text}");
    let (s, h) = server.get("/healthz", &[]).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    let (s, o) = server.get("/openapi.json", &[]).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(o["paths"]["/call/{owner}/{project}"]["post"].is_object());

    stop_workers(workers);
    server.stop().await;
    Ok(())
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

/// Every error of the public API, with its status and stable code.
pub async fn error_codes(config: CoordinatorConfig) -> Result<()> {
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 10_000, "allowed_projects": [format!("{owner}/echo")] })).await?;
    let body = json!({ "input": 1, "async": true, "resource_limits": small_limits() });

    // 409 owner exists, 400 invalid name, 401 bad token.
    let (s, b) = server.post("/owners", None, &json!({ "owner": owner })).await?;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "owner_exists"));
    let (s, b) = server.post("/owners", None, &json!({ "owner": "Bad:Name" })).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_name"));
    let (s, b) = server.post("/projects", Some("olo_nope"), &json!({ "name": "x1" })).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_token"));
    // Malformed JSON in the same shape.
    let resp = server.http.post(server.url("/owners")).body("{not json").send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_json"));
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "inptu": 1 })).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_json"));
    // Uploads: not wasm → 400, over the cap → 413, someone else's project → 403.
    let resp =
        server.http.post(server.url(&format!("/projects/{owner}/echo/versions"))).bearer_auth(&token).body("hello world").send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_wasm"));
    let mut big = EMPTY_MODULE.to_vec();
    big.resize(outlayer_coordinator::limits::MAX_WASM_BYTES + 1, 0);
    let resp = server.http.post(server.url(&format!("/projects/{owner}/echo/versions"))).bearer_auth(&token).body(big).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let (other, other_token) = server.owner().await?;
    let resp = server
        .http
        .post(server.url(&format!("/projects/{owner}/echo/versions")))
        .bearer_auth(&other_token)
        .body(EMPTY_MODULE)
        .send()
        .await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "not_owner"));
    let resp = server
        .http
        .put(server.url(&format!("/projects/{owner}/echo/active")))
        .bearer_auth(&token)
        .json(&json!({ "version": "00" }))
        .send()
        .await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "version_not_found"));

    // 401: missing, malformed, wrong secret.
    let (s, b) = server.call(&owner, "echo", "garbage", &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_payment_key"));
    let wrong = format!("{}:{}", key.rsplit_once(':').unwrap().0, "00".repeat(32));
    let (s, b) = server.call(&owner, "echo", &wrong, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_payment_key"));
    let resp = server.http.post(server.url(&format!("/call/{owner}/echo"))).json(&body).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_payment_key"));
    // 404 unknown project; 403 project not in allowed_projects.
    let (s, b) = server.call(&owner, "nope", &key, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "project_not_found"));
    server.project(&other, &other_token, "other").await?;
    let (s, b) = server.call(&other, "other", &key, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "project_not_allowed"));
    // 400 limits over the cap, bad header.
    let (s, b) =
        server.call(&owner, "echo", &key, &[], &json!({ "input": 1, "resource_limits": { "max_execution_seconds": 181 } })).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_limits"));
    let (s, b) = server.call(&owner, "echo", &key, &[("X-Compute-Limit", "lots".into())], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_header"));
    // 402: compute limit below the maximum cost; balance below the reservation.
    let (s, b) = server.call(&owner, "echo", &key, &[("X-Compute-Limit", (SMALL_RESERVE - 1).to_string())], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYMENT_REQUIRED, "compute_limit_too_low"));
    let (s, b) = server.call(&owner, "echo", &key, &[("X-Attached-Deposit", "9000".into())], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"));
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 1 })).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"), "default limits need 71000");
    let capped = server.key(&token, json!({ "initial_balance": 10_000, "max_per_call": 2_000 })).await?;
    let (s, b) = server.call(&owner, "echo", &capped, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYMENT_REQUIRED, "max_per_call_exceeded"));
    // Nothing above reserved anything.
    let k = server.key_state(&key).await?;
    assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(0), Some(0)));
    // 413: body over the call cap.
    let huge = json!({ "input": "x".repeat(outlayer_coordinator::limits::MAX_CALL_BODY_BYTES) });
    let (s, b) = server.call(&owner, "echo", &key, &[], &huge).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let big_input = json!({ "input": "x".repeat(outlayer_coordinator::limits::MAX_INPUT_BYTES) });
    let (s, b) = server.call(&owner, "echo", &key, &[], &big_input).await?;
    assert_eq!((s, code(&b)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    // Top-up by someone else is refused; by the owner it works.
    let (_, nonce) = (owner.clone(), key.split(':').nth(1).unwrap().to_owned());
    let (s, b) = server.post(&format!("/payment-keys/{owner}/{nonce}/top-up"), Some(&other_token), &json!({ "amount": 5 })).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "not_owner"));
    let (s, b) = server.post(&format!("/payment-keys/{owner}/{nonce}/top-up"), Some(&token), &json!({ "amount": 5 })).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["balance"], 10_005);
    // The backend refuses to push a balance past MAX_BALANCE (no overflow on either database).
    let max = outlayer_coordinator::limits::MAX_BALANCE;
    let n: i64 = nonce.parse()?;
    assert!(server.state.db.top_up(&owner, n, max, 0).await?.is_none());
    assert_eq!(server.key_state(&key).await?["balance"], 10_005);
    // Revoked keys: 401 payment_key_revoked.
    let resp = server.http.delete(server.url(&format!("/payment-keys/{owner}/{nonce}"))).bearer_auth(&token).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, b) = server.call(&owner, "echo", &key, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "payment_key_revoked"));
    // A project without any version: 409 no_active_version.
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "empty" })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let open_key = server.key(&token, json!({ "initial_balance": 10_000 })).await?;
    let (s, b) = server.call(&owner, "empty", &open_key, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "no_active_version"));
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "bad-grant", "grants": ["root"] })).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_grant"));
    // Heartbeat with too many leases: 413.
    let worker = server.worker().await?;
    let many: Vec<String> = (0..=outlayer_coordinator::limits::MAX_HEARTBEAT_LEASES).map(|i| i.to_string()).collect();
    match worker.heartbeat(&many).await {
        Err(ClientError::Api { status: 413, code, .. }) => assert_eq!(code, "payload_too_large"),
        other => panic!("expected 413, got {other:?}"),
    }
    // Unknown route / method, worker endpoints without a token.
    let (s, b) = server.get("/nope", &[]).await?;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "route_not_found"));
    let (s, b) = server.get("/owners", &[]).await?;
    assert_eq!((s, code(&b)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    let (s, b) = server.post("/workers/lease", Some("olw_nope"), &json!({})).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_worker_token"));
    let (s, b) = server.post("/workers/register", None, &json!({ "public_key": "abcd" })).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_public_key"));
    server.stop().await;
    Ok(())
}

/// A per-key rate limit of 3 calls per hour: the 4th call is 429, other keys are unaffected.
pub async fn rate_limit(mut config: CoordinatorConfig) -> Result<()> {
    config.rate_limit = RateLimitConfig { max_calls: 3, window: Duration::from_secs(3600) };
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let other = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let body = json!({ "input": 1, "async": true, "resource_limits": small_limits() });
    for _ in 0..3 {
        let (s, b) = server.call(&owner, "echo", &key, &[], &body).await?;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    let (s, b) = server.call(&owner, "echo", &key, &[], &body).await?;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let (s, _) = server.call(&owner, "echo", &other, &[], &body).await?;
    assert_eq!(s, StatusCode::ACCEPTED);
    server.stop().await;
    Ok(())
}

/// 200 concurrent sync calls on one key whose balance covers fewer than 200: the ledger never
/// over-commits, every settled call is charged exactly once, nothing stays reserved.
pub async fn concurrent_calls(config: CoordinatorConfig) -> Result<()> {
    const CALLS: usize = 200;
    const BALANCE: i64 = 150_000; // 200 × 1030 = 206 000 would be needed
    let server = std::sync::Arc::new(Server::start(config).await?);
    let workers = spawn_workers(&server, 4).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": BALANCE })).await?;

    let sampler = {
        let (server, key) = (server.clone(), key.clone());
        tokio::spawn(async move {
            let mut worst = 0i64;
            for _ in 0..50 {
                if let Ok(k) = server.key_state(&key).await {
                    worst = worst.max(k["spent"].as_i64().unwrap() + k["reserved"].as_i64().unwrap());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            worst
        })
    };
    let mut tasks = Vec::new();
    for i in 0..CALLS {
        let (server, owner, key) = (server.clone(), owner.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            server.call(&owner, "echo", &key, &[], &json!({ "input": { "i": i }, "resource_limits": small_limits() })).await
        }));
    }
    let mut charged = 0i64;
    let mut ok = 0usize;
    let mut refused = 0usize;
    let mut call_ids = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (s, b) = t.await??;
        match s {
            StatusCode::OK => {
                ensure!(b["output"] == json!({ "i": i }), "call {i} got {b}");
                charged += b["charged"].as_i64().unwrap();
                call_ids.push(b["call_id"].as_str().unwrap().to_owned());
                ok += 1;
            }
            StatusCode::PAYMENT_REQUIRED => {
                assert_eq!(code(&b), "insufficient_balance");
                refused += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    let worst = sampler.await?;
    assert_eq!(ok + refused, CALLS);
    assert!(ok >= (BALANCE / SMALL_RESERVE) as usize, "at least the calls that fit at once succeed ({ok})");
    assert!(refused > 0, "the balance cannot cover all calls");
    assert!(worst <= BALANCE, "spent + reserved reached {worst}");
    let k = server.key_state(&key).await?;
    assert_eq!(k["reserved"].as_i64(), Some(0));
    assert_eq!(k["spent"].as_i64(), Some(charged));
    assert_eq!(charged, ok as i64 * ECHO_COST);
    // Exactly one settle line per successful call, none for refused ones.
    let mut settles: HashMap<String, usize> = HashMap::new();
    for l in server.ledger(&key).await? {
        if l["kind"] == "settle" {
            *settles.entry(l["call_id"].as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    assert_eq!(settles.len(), ok);
    assert!(settles.values().all(|&n| n == 1));
    assert!(call_ids.iter().all(|id| settles.contains_key(id)));
    stop_workers(workers);
    std::sync::Arc::into_inner(server).expect("sole owner").stop().await;
    Ok(())
}

/// A worker leases and dies; after the lease expires another worker gets the job and completes
/// it exactly once; the dead worker's late completion is refused.
pub async fn lease_expiry(mut config: CoordinatorConfig) -> Result<()> {
    config.lease_duration = Duration::from_secs(1);
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (s, b) =
        server.call(&owner, "echo", &key, &[], &json!({ "input": "job", "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::ACCEPTED);
    let call_id = b["call_id"].as_str().unwrap().to_owned();

    let dead = server.worker().await?;
    let first = dead.lease(Duration::from_secs(2)).await?.expect("a job");
    assert_eq!(first.call_id, call_id);
    assert_eq!(first.input, "\"job\"");
    assert_eq!(first.grants, vec![outlayer_protocol::Capability::Storage]);
    assert_eq!(first.context.project.as_ref().map(|p| p.owner.as_str()), Some(owner.as_str()));
    assert_eq!(first.context.kind, outlayer_protocol::ExecutionKind::Https);
    assert_eq!(first.limits.max_instructions, 10_000_000);
    // The wasm is downloadable with a worker token.
    assert_eq!(dead.wasm(&first.wasm_sha256).await?, EMPTY_MODULE);

    let second_worker = server.worker().await?;
    let mut second = None;
    for _ in 0..10 {
        if let Some(job) = second_worker.lease(Duration::from_secs(2)).await? {
            second = Some(job);
            break;
        }
    }
    let second = second.expect("the expired job is handed out again");
    assert_eq!(second.call_id, call_id);
    assert_ne!(second.lease_id, first.lease_id);
    // The dead worker's heartbeat reports the lease lost; its completion is refused.
    let hb = dead.heartbeat(std::slice::from_ref(&first.lease_id)).await?;
    assert_eq!(hb.lost, vec![first.lease_id.clone()]);
    match dead.complete(&first, &echo(&first)).await {
        Err(ClientError::Api { status: 409, code, .. }) => assert_eq!(code, "lease_lost"),
        other => panic!("expected 409 lease_lost, got {other:?}"),
    }
    let hb = second_worker.heartbeat(std::slice::from_ref(&second.lease_id)).await?;
    assert_eq!(hb.extended, vec![second.lease_id.clone()]);
    let view = second_worker.complete(&second, &echo(&second)).await?;
    assert_eq!(view.status, outlayer_protocol::CallStatus::Completed);
    // Completing again is a no-op returning the same settlement.
    let again = second_worker.complete(&second, &echo(&second)).await?;
    assert_eq!(again, view);
    match dead.complete(&first, &echo(&first)).await {
        Err(ClientError::Api { status: 409, code, .. }) => assert_eq!(code, "lease_lost"),
        other => panic!("expected 409 lease_lost, got {other:?}"),
    }
    let k = server.key_state(&key).await?;
    assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(ECHO_COST), Some(0)));
    let settles = server.ledger(&key).await?.iter().filter(|l| l["kind"] == "settle").count();
    assert_eq!(settles, 1);
    let text = server.http.get(server.url("/metrics")).send().await?.text().await?;
    assert!(text.contains("outlayer_lease_expiries_total 1"), "{text}");
    server.stop().await;
    Ok(())
}

/// A forged signature is refused and settles nothing.
pub async fn bad_signature(config: CoordinatorConfig) -> Result<()> {
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (_, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 7, "async": true, "resource_limits": small_limits() })).await?;
    let call_id = b["call_id"].as_str().unwrap().to_owned();
    let worker = server.worker().await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("job");
    // Claims output 8 but signs with a different key: register another worker's key as ours.
    let mut tampered = job.clone();
    tampered.input = "8".into(); // the signed input no longer matches the stored one
    match worker.complete(&tampered, &echo(&tampered)).await {
        Err(ClientError::Api { status: 400, code, .. }) => assert_eq!(code, "receipt_mismatch"),
        other => panic!("expected receipt_mismatch, got {other:?}"),
    }
    let (_, v) = server.get(&format!("/calls/{call_id}"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!(v["status"], "leased");
    let view = worker.complete(&job, &echo(&job)).await?;
    assert_eq!(view.result.unwrap().output, Some(json!(7)));
    server.stop().await;
    Ok(())
}

/// A job whose only allowed lease expires is failed with `worker_lost` by the reaper; nothing
/// is charged and the reservation is released.
pub async fn worker_lost(mut config: CoordinatorConfig) -> Result<()> {
    config.lease_duration = Duration::from_secs(1);
    config.max_attempts = 1;
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (_, b) = server
        .call(
            &owner,
            "echo",
            &key,
            &[("X-Attached-Deposit", "100".into())],
            &json!({ "input": 1, "async": true, "resource_limits": small_limits() }),
        )
        .await?;
    let call_id = b["call_id"].as_str().unwrap().to_owned();
    let worker = server.worker().await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("job");
    let done = server.wait_final(&key, &call_id).await?;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["code"], "worker_lost");
    assert_eq!(done["refund"], 100);
    let k = server.key_state(&key).await?;
    assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(0), Some(0)));
    match worker.complete(&job, &echo(&job)).await {
        Err(ClientError::Api { status: 409, code, .. }) => assert_eq!(code, "lease_lost"),
        other => panic!("expected 409 lease_lost, got {other:?}"),
    }
    server.stop().await;
    Ok(())
}

/// A project's http allowlist (issue 11): validated with the host's rules (400
/// `invalid_http_allowlist` naming the entry), stored, shown, and carried into the job as the
/// call was accepted with; kept (without effect) when `http` is not granted.
pub async fn http_allowlist(config: CoordinatorConfig) -> Result<()> {
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    let list = json!(["api.example.com", "*.example.org:8443", "http://plain.example"]);
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "fetch", "grants": ["http"], "http_allowlist": list })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["http_allowlist"], list);
    assert_eq!(b["grants"], json!(["http"]));
    let (s, p) = server.get(&format!("/projects/{owner}/fetch"), &[]).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["http_allowlist"], list);

    for bad in ["x.com/path", "a.*.com", "ftp://x.com", "x.com:0", ""] {
        let (s, b) = server
            .post("/projects", Some(&token), &json!({ "name": "bad", "grants": ["http"], "http_allowlist": ["ok.example", bad] }))
            .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}: {b}");
        assert_eq!(b["error"]["code"], "invalid_http_allowlist", "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains(&format!("{bad:?}")), "the message names {bad:?}: {b}");
    }
    let too_many: Vec<String> = (0..65).map(|i| format!("h{i}.example")).collect();
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "bad", "http_allowlist": too_many })).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_http_allowlist")), "{b}");
    // Without the grant: kept, shown, carried (the host ignores it).
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "nohttp", "http_allowlist": ["api.example.com"] })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["http_allowlist"], json!(["api.example.com"]));
    // No allowlist: empty.
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "plain" })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["http_allowlist"], json!([]));

    // The job carries the allowlist the call was accepted with.
    let resp = server
        .http
        .post(server.url(&format!("/projects/{owner}/fetch/versions")))
        .bearer_auth(&token)
        .body(EMPTY_MODULE.to_vec())
        .send()
        .await?;
    let (s, b) = read(resp).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (s, b) =
        server.call(&owner, "fetch", &key, &[], &json!({ "input": "x", "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let worker = server.worker().await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("a job");
    assert_eq!(job.call_id, b["call_id"].as_str().unwrap());
    assert_eq!(job.grants, vec![outlayer_protocol::Capability::Http]);
    assert_eq!(job.http_allowlist, vec!["api.example.com", "*.example.org:8443", "http://plain.example"]);
    let view = worker.complete(&job, &echo(&job)).await?;
    assert_eq!(view.status, outlayer_protocol::CallStatus::Completed);
    server.stop().await;
    Ok(())
}
