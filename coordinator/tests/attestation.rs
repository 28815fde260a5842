//! Attested registration, receipts recomputed by the coordinator, and the lease cap (SQLite).

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{Server, dev_register, echo, small_limits};
use ed25519_dalek::SigningKey;
use outlayer_attest::testdata::{COLLATERAL_JSON, QUOTE, VERIFY_AT_SECS, sample_measurements};
use outlayer_attest::{Challenge, Evidence, Register, parse_collateral, report_data};
use outlayer_coordinator::{AttestationConfig, Clock, CoordinatorConfig};
use outlayer_protocol::client::ClientError;
use outlayer_protocol::{Completion, DEV_MEASUREMENTS};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A change made to a signed completion.
type Forgery = Box<dyn Fn(&mut Completion)>;

fn config(dir: &tempfile::TempDir) -> CoordinatorConfig {
    common::sqlite_config(dir)
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

/// POST /workers/register with this key, challenge and evidence.
async fn register(server: &Server, key: &SigningKey, challenge: &Value, evidence: &Value) -> Result<(StatusCode, Value)> {
    let public = hex::encode(key.verifying_key().to_bytes());
    server.post("/workers/register", None, &json!({ "public_key": public, "challenge": challenge, "evidence": evidence })).await
}

async fn challenge(server: &Server) -> Result<Challenge> {
    let (s, c) = server.post("/workers/challenge", None, &json!({})).await?;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["nonce"].as_str().map(str::len), Some(64));
    Ok(serde_json::from_value(c)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattested_registrations_are_refused_with_typed_codes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = config(&dir);
    c.attestation.allow_dev = false;
    let server = Server::start(c).await?;
    let key = SigningKey::from_bytes(&[5; 32]);
    let public = key.verifying_key().to_bytes();

    // No evidence at all.
    let (s, b) = server.post("/workers/register", None, &json!({ "public_key": hex::encode(public) })).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "attestation_invalid"), "{b}");
    // Dev evidence at a coordinator without dev mode.
    let ch = challenge(&server).await?;
    let dev = Evidence::dev(report_data(&public, &ch), DEV_MEASUREMENTS);
    let (s, b) = register(&server, &key, &json!(ch), &json!(dev)).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "dev_not_allowed"), "{b}");
    // The challenge was burnt by that attempt: reusing it is refused.
    let (s, b) = register(&server, &key, &json!(ch), &json!(dev)).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{b}");
    // A challenge this coordinator never issued, and an expired one.
    let made_up = Challenge::new([1; 32], ch.issued_at, 60);
    let (s, b) = register(&server, &key, &json!(made_up), &json!(Evidence::dev(report_data(&public, &made_up), DEV_MEASUREMENTS))).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{b}");
    let old = Challenge::new([2; 32], 1_000, 60);
    let (s, b) = register(&server, &key, &json!(old), &json!(Evidence::dev(report_data(&public, &old), DEV_MEASUREMENTS))).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("1000..1060"), "{b}");
    // Nobody registered.
    let (_, list) = server.get("/workers", &[]).await?;
    assert_eq!(list["workers"], json!([]));
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_evidence_must_bind_the_key_and_the_challenge() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(config(&dir)).await?;
    let key = SigningKey::from_bytes(&[5; 32]);
    let other = SigningKey::from_bytes(&[6; 32]).verifying_key().to_bytes();
    let ch = challenge(&server).await?;
    let wrong_key = Evidence::dev(report_data(&other, &ch), DEV_MEASUREMENTS);
    let (s, b) = register(&server, &key, &json!(ch), &json!(wrong_key)).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "binding_mismatch"), "{b}");
    let ch2 = challenge(&server).await?;
    let wrong_challenge = Evidence::dev(report_data(&key.verifying_key().to_bytes(), &ch), DEV_MEASUREMENTS);
    let (s, b) = register(&server, &key, &json!(ch2), &json!(wrong_challenge)).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "binding_mismatch"), "{b}");
    // Other measurements than the dev ones: not allowed.
    let ch3 = challenge(&server).await?;
    let mut m = DEV_MEASUREMENTS;
    m.rtmr3 = Register([9; 48]);
    let odd = Evidence::dev(report_data(&key.verifying_key().to_bytes(), &ch3), m);
    let (s, b) = register(&server, &key, &json!(ch3), &json!(odd)).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "measurements_not_allowed"), "{b}");
    // Done right, it registers and is listed publicly.
    let w = dev_register(&server.base, None).await?;
    let (_, list) = server.get("/workers", &[]).await?;
    assert_eq!(list["workers"][0]["id"], w.client.worker_id.as_str());
    assert_eq!(list["workers"][0]["tee"], "dev");
    assert_eq!(list["workers"][0]["tcb_status"], "UpToDate");
    let (s, att) = server.get(&format!("/workers/{}/attestation", w.client.worker_id), &[]).await?;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(att["policy_result"], "accepted");
    assert_eq!(att["evidence"]["kind"], "dev");
    let evidence: Evidence = serde_json::from_value(att["evidence"].clone())?;
    assert_eq!(hex::encode(outlayer_attest::evidence_digest(&evidence)), w.client.attestation_sha256);
    let (s, b) = server.get("/workers/nope/attestation", &[]).await?;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "worker_not_found"));
    server.stop().await;
    Ok(())
}

/// dcap-qvl's real sample TDX quote, verified at a time its collateral was valid: it gets past
/// authenticity and identity and fails exactly at the binding (its report data cannot be ours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_tdx_quote_fails_exactly_at_the_binding() -> Result<()> {
    for (measurements, expected) in [(sample_measurements(), "binding_mismatch"), (DEV_MEASUREMENTS, "measurements_not_allowed")] {
        let dir = tempfile::tempdir()?;
        let mut c = config(&dir);
        c.attestation = AttestationConfig {
            allowed_measurements: vec![measurements].into(),
            clock: Clock::Fixed(VERIFY_AT_SECS),
            ..AttestationConfig::default()
        };
        let server = Server::start(c).await?;
        let ch = challenge(&server).await?;
        assert_eq!(ch.issued_at, VERIFY_AT_SECS);
        let evidence = Evidence::Tdx { quote: QUOTE.to_vec(), collateral: parse_collateral(COLLATERAL_JSON)?, event_log: None };
        let key = SigningKey::from_bytes(&[5; 32]);
        let (s, b) = register(&server, &key, &json!(ch), &json!(evidence)).await?;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, expected), "{b}");
        server.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_registration_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir);
    c.worker_registration_token = Some(String::new());
    let err = outlayer_coordinator::build_state(c).await.err().expect("refused");
    assert!(err.to_string().contains("registration token is empty"), "{err}");
}

/// A result changed after signing (output, wall time, refund) is refused and settles nothing;
/// the honest one settles with charges from the signed fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_changed_after_signing_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(config(&dir)).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    let (_, b) = server
        .call(
            &owner,
            "echo",
            &key,
            &[("X-Attached-Deposit", "500".into())],
            &json!({ "input": { "refund": 100 }, "async": true, "resource_limits": small_limits() }),
        )
        .await?;
    let call_id = b["call_id"].as_str().unwrap().to_owned();
    let worker = dev_register(&server.base, None).await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("job");
    let honest = Completion::sign(&job, echo(&job), &worker.signer(), &worker.key);
    let forgeries: Vec<(&str, Forgery)> = vec![
        ("output", Box::new(|c| c.result.output = b"{\"forged\":true}".to_vec())),
        ("wall_ms", Box::new(|c| c.result.wall_ms *= 13)),
        ("refund", Box::new(|c| c.result.refund = 0)),
        ("signed wall_ms", Box::new(|c| c.receipt.receipt.wall_ms *= 13)),
        (
            "both wall_ms",
            Box::new(|c| {
                c.result.wall_ms *= 13;
                c.receipt.receipt.wall_ms *= 13;
            }),
        ),
    ];
    for (what, forge) in forgeries {
        let mut forged = honest.clone();
        forge(&mut forged);
        match worker.client.complete(&forged).await {
            Err(ClientError::Api { status: 400, code, .. }) => {
                assert!(code == "receipt_mismatch" || code == "invalid_signature", "{what}: {code}")
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    let (_, v) = server.get(&format!("/calls/{call_id}"), &[("X-Payment-Key", &key)]).await?;
    assert_eq!(v["status"], "leased", "nothing settled");
    // Another registered worker cannot complete it with its own valid signature either.
    let thief = dev_register(&server.base, None).await?;
    let stolen = Completion::sign(&job, echo(&job), &thief.signer(), &thief.key);
    assert!(thief.client.complete(&stolen).await.is_err());

    let view = worker.client.complete(&honest).await?;
    let settled = view.result.unwrap();
    assert_eq!(settled.time_ms, common::ECHO_WALL_MS);
    assert_eq!(settled.cost as i64, common::ECHO_COST);
    assert_eq!(settled.refund, 100);
    assert_eq!(settled.charged as i64, common::ECHO_COST + 400);
    assert_eq!(settled.receipt.as_ref().unwrap(), &honest.receipt);
    let k = server.key_state(&key).await?;
    assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(common::ECHO_COST + 400), Some(0)));
    server.stop().await;
    Ok(())
}

/// A lease heartbeated past its job's wall-time limit + grace is lost, taken back by the reaper,
/// and the call settles once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_cannot_stretch_a_lease_past_the_job_limit() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = config(&dir);
    c.lease_duration = Duration::from_secs(1);
    c.lease_grace = Duration::from_millis(500);
    c.max_attempts = 1;
    let server = Server::start(c).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "echo").await?;
    let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
    // max_execution_seconds 1: the lease ends at the latest 1.5 s after it was taken.
    let (_, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": 1, "async": true, "resource_limits": small_limits() })).await?;
    let call_id = b["call_id"].as_str().unwrap().to_owned();
    let worker = dev_register(&server.base, None).await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("job");
    let started = std::time::Instant::now();
    let mut lost_after = None;
    while started.elapsed() < Duration::from_secs(5) {
        let hb = worker.heartbeat(std::slice::from_ref(&job.lease_id)).await?;
        if hb.lost.contains(&job.lease_id) {
            lost_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lost_after = lost_after.expect("the heartbeat reports the lease lost");
    assert!(lost_after <= Duration::from_millis(1_800), "lost after {lost_after:?}");
    let done = server.wait_final(&key, &call_id).await?;
    assert_eq!(done["error"]["code"], "worker_lost", "{done}");
    match worker.complete(&job, &echo(&job)).await {
        Err(ClientError::Api { status: 409, code, .. }) => assert_eq!(code, "lease_lost"),
        other => panic!("expected 409 lease_lost, got {other:?}"),
    }
    let settles = server.ledger(&key).await?.iter().filter(|l| l["kind"] == "settle" && l["call_id"] == call_id.as_str()).count();
    assert_eq!(settles, 1);
    let k = server.key_state(&key).await?;
    assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(0), Some(0)));
    server.stop().await;
    Ok(())
}
