//! End-to-end tests on the SQLite backend (a temp file, in-process wake-ups).

mod common;

use anyhow::Result;
use common::scenarios;

fn config() -> (tempfile::TempDir, outlayer_coordinator::CoordinatorConfig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::sqlite_config(&dir);
    (dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_end_to_end() -> Result<()> {
    let (_dir, c) = config();
    scenarios::end_to_end(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_http_allowlist() -> Result<()> {
    let (_dir, c) = config();
    scenarios::http_allowlist(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_error_codes() -> Result<()> {
    let (_dir, c) = config();
    scenarios::error_codes(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rate_limit_in_process() -> Result<()> {
    let (_dir, c) = config();
    scenarios::rate_limit(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_200_concurrent_calls_keep_the_ledger() -> Result<()> {
    let (_dir, c) = config();
    scenarios::concurrent_calls(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expired_lease_goes_to_another_worker_once() -> Result<()> {
    let (_dir, c) = config();
    scenarios::lease_expiry(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bad_signature_is_refused() -> Result<()> {
    let (_dir, c) = config();
    scenarios::bad_signature(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_exhausted_job_fails_with_worker_lost() -> Result<()> {
    let (_dir, c) = config();
    scenarios::worker_lost(c).await
}

/// The embedded mode: a worker in the same process uses the state's methods, no HTTP for the
/// worker side; the caller still uses HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_embedded_worker_without_http() -> Result<()> {
    use outlayer_coordinator::model::Completion;
    use serde_json::json;
    use std::time::Duration;

    let (_dir, c) = config();
    let server = common::Server::start(c).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let public = hex::encode(signing.verifying_key().to_bytes());
    let worker = common::dev_register_state(&server.state, &signing).await?;
    let state = server.state.clone();
    let embedded = tokio::spawn(async move {
        let job = state.lease_job(&worker, Duration::from_secs(10)).await.expect("lease").expect("a job");
        assert_eq!(state.db.wasm(&job.wasm_sha256).await.expect("db"), Some(common::EMPTY_MODULE.to_vec()));
        let signer = outlayer_protocol::Signer { worker_id: &worker.id, attestation_sha256: &worker.attestation_sha256 };
        state.complete_job(&worker, &Completion::sign(&job, common::echo(&job), &signer, &signing)).await.expect("complete")
    });
    let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": { "x": 1 }, "resource_limits": common::small_limits() })).await?;
    assert_eq!(s, reqwest::StatusCode::OK, "{b}");
    assert_eq!(b["output"], json!({ "x": 1 }));
    assert_eq!(b["worker"]["public_key"], public);
    let view = embedded.await?;
    assert_eq!(view.call_id, b["call_id"].as_str().unwrap());
    server.stop().await;
    Ok(())
}

/// With a registration token configured, workers need it; the admin token may top up any key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_registration_and_admin_tokens() -> Result<()> {
    use serde_json::json;

    let (_dir, mut c) = config();
    c.worker_registration_token = Some("reg-secret".into());
    c.admin_token = Some("admin-secret".into());
    let server = common::Server::start(c).await?;
    let public = hex::encode(ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]).verifying_key().to_bytes());
    let (s, b) = server.post("/workers/register", None, &json!({ "public_key": public })).await?;
    assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (401, Some("invalid_registration_token")));
    let (s, b) = server.post("/workers/register", Some("wrong"), &json!({ "public_key": public })).await?;
    assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (401, Some("invalid_registration_token")));
    // The right token is not enough: an unchecked `attestation` blob is refused.
    let (s, b) =
        server.post("/workers/register", Some("reg-secret"), &json!({ "public_key": public, "attestation": { "quote": "00" } })).await?;
    assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (403, Some("attestation_invalid")), "{b}");
    // Challenges need the token too; with it and dev evidence (dev allowed here) it registers.
    let (s, b) = server.post("/workers/challenge", None, &json!({})).await?;
    assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (401, Some("invalid_registration_token")));
    let w = common::dev_register(&server.base, Some("reg-secret")).await?;
    assert!(!w.client.worker_id.is_empty());

    let (owner, token) = server.owner().await?;
    let key = server.key(&token, json!({ "initial_balance": 10 })).await?;
    let (s, b) = server.post(&format!("/payment-keys/{owner}/1/top-up"), Some("admin-secret"), &json!({ "amount": 90 })).await?;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(server.key_state(&key).await?["balance"], 100);
    let (s, b) = server.post(&format!("/payment-keys/{owner}/9/top-up"), Some("admin-secret"), &json!({ "amount": 1 })).await?;
    assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (404, Some("key_not_found")));
    server.stop().await;
    Ok(())
}
