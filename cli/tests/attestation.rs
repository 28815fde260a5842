//! The forged-result attack against the real `outlayer coordinator` binary: anonymous and
//! unattested registrations are refused with typed codes, a registered worker cannot change a
//! result after signing it, charges come only from signed fields, and `outlayer serve` says dev
//! mode aloud on its first line.

mod common;
use common::{Proc, free_port};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use outlayer_attest::receipt::{Receipt, SignedReceipt, sha256_hex};
use outlayer_attest::{Challenge, Evidence, Measurements, Register, report_data};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What dev evidence claims (`outlayer_protocol::DEV_MEASUREMENTS`: all zero).
const DEV: Measurements = Measurements {
    mrtd: Register([0; 48]),
    rtmr0: Register([0; 48]),
    rtmr1: Register([0; 48]),
    rtmr2: Register([0; 48]),
    rtmr3: Register([0; 48]),
};

fn command(args: &[&str], data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_outlayer"));
    c.args(args).arg("--data-dir").arg(data_dir).env("OUTLAYER_LOG", "warn").env_remove("OUTLAYER_WORKER_TOKEN");
    c
}

/// A coordinator on a free port with a SQLite file in `dir`; returns it and its URL.
async fn coordinator(dir: &Path, extra: &[&str]) -> (Proc, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let db = dir.join("outlayer.db").display().to_string();
    let mut args = vec!["coordinator", "--listen", &listen, "--database", &db];
    args.extend_from_slice(extra);
    // Killed and waited for when the `Proc` is dropped.
    let child = Proc(command(&args, dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn"));
    let url = format!("http://{listen}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not become healthy");
}

async fn post(url: &str, path: &str, bearer: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(format!("{url}{path}")).json(body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn get(url: &str, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(format!("{url}{path}"));
    if let Some(k) = key {
        req = req.header("x-payment-key", k);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

async fn challenge(url: &str) -> Challenge {
    let (s, c) = post(url, "/workers/challenge", None, &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    serde_json::from_value(c).unwrap()
}

async fn register(url: &str, key: &SigningKey, challenge: &Challenge, evidence: &Evidence) -> (StatusCode, Value) {
    let body = json!({ "public_key": hex::encode(key.verifying_key().to_bytes()), "challenge": challenge, "evidence": evidence });
    post(url, "/workers/register", None, &body).await
}

#[test]
fn an_empty_worker_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outlayer.db").display().to_string();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let out = command(&["coordinator", "--listen", &listen, "--database", &db, "--worker-token", ""], dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("registration token is empty"), "{stderr}");
}

#[tokio::test]
async fn serve_says_dev_mode_on_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = command(&["serve", "--listen", &listen], dir.path()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut first).unwrap();
    let _p = Proc(child);
    assert_eq!(first.trim_end(), "DEV MODE: workers are not attested (--allow-dev-attestation); results are not TEE-backed");
}

#[tokio::test]
async fn unattested_workers_are_refused_at_a_production_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let (_c, url) = coordinator(dir.path(), &[]).await;
    let key = SigningKey::from_bytes(&[4; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    // The old open registration: a key and nothing else.
    let (s, b) = post(&url, "/workers/register", None, &json!({ "public_key": public })).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "attestation_invalid"), "{b}");
    let (s, b) = post(&url, "/workers/register", None, &json!({ "public_key": public, "attestation": { "quote": "00" } })).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "attestation_invalid"), "{b}");
    // Dev evidence, correctly bound: not at a coordinator without --allow-dev-attestation.
    let ch = challenge(&url).await;
    let dev = Evidence::dev(report_data(&key.verifying_key().to_bytes(), &ch), DEV);
    let (s, b) = register(&url, &key, &ch, &dev).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "dev_not_allowed"), "{b}");
    // Single use: the same challenge again.
    let (s, b) = register(&url, &key, &ch, &dev).await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{b}");
    // Expired.
    let old = Challenge::new([3; 32], 1_000, 300);
    let (s, b) = register(&url, &key, &old, &Evidence::dev(report_data(&key.verifying_key().to_bytes(), &old), DEV)).await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{b}");
    let (_, workers) = get(&url, "/workers", None).await;
    assert_eq!(workers["workers"], json!([]));
    // Without a worker token nothing is leased.
    let (s, b) = post(&url, "/workers/lease", Some("olw_forged"), &json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_worker_token"));
}

/// The receipt a worker signs for `job` and a result (what `outlayer_protocol::receipt_of` builds).
fn receipt(job: &Value, output: &[u8], wall_ms: u64, refund: u128, worker_id: &str, attestation_sha256: &str) -> Receipt {
    let p = &job["context"]["project"];
    Receipt {
        call_id: job["call_id"].as_str().unwrap().into(),
        project: format!("{}/{}", p["owner"].as_str().unwrap(), p["name"].as_str().unwrap()),
        wasm_sha256: job["wasm_sha256"].as_str().unwrap().into(),
        input_sha256: sha256_hex(job["input"].as_str().unwrap().as_bytes()),
        output_sha256: sha256_hex(output),
        outcome: "ok".into(),
        instructions: 2_000_000,
        wall_ms,
        peak_memory_bytes: 65_536,
        refund,
        max_instructions: job["limits"]["max_instructions"].as_u64().unwrap(),
        max_memory_mb: job["limits"]["max_memory_mb"].as_u64().unwrap(),
        max_execution_seconds: job["limits"]["max_execution_seconds"].as_u64().unwrap(),
        worker_id: worker_id.into(),
        attestation_sha256: attestation_sha256.into(),
    }
}

fn completion(job: &Value, output: &[u8], wall_ms: u64, refund: u128, signed: &SignedReceipt) -> Value {
    json!({
        "lease_id": job["lease_id"],
        "call_id": job["call_id"],
        "result": {
            "outcome": "ok", "output": STANDARD.encode(output), "stderr_tail": null, "instructions": 2_000_000,
            "wall_ms": wall_ms, "peak_memory_bytes": 65_536, "refund": refund.to_string(),
        },
        "receipt": signed,
    })
}

#[tokio::test]
async fn a_result_changed_after_signing_is_refused_and_charges_come_from_signed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (_c, url) =
        coordinator(dir.path(), &["--allow-dev-attestation", "--dev-owners", "--base-fee", "1000", "--price-per-second", "1000"]).await;
    let key = SigningKey::from_bytes(&[8; 32]);
    let public = key.verifying_key().to_bytes();

    // A dev worker whose evidence binds someone else's key: binding_mismatch.
    let ch = challenge(&url).await;
    let (s, b) = register(&url, &key, &ch, &Evidence::dev(report_data(&[1; 32], &ch), DEV)).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "binding_mismatch"), "{b}");
    // Registered properly (dev allowed here).
    let ch = challenge(&url).await;
    let (s, reg) = register(&url, &key, &ch, &Evidence::dev(report_data(&public, &ch), DEV)).await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    let (worker_id, token, att) =
        (reg["worker_id"].as_str().unwrap(), reg["token"].as_str().unwrap(), reg["attestation_sha256"].as_str().unwrap());

    // A tenant with an echo project and a key; one async call with a deposit of 500.
    let (_, o) = post(&url, "/owners", None, &json!({ "owner": "alice" })).await;
    let owner_token = o["token"].as_str().unwrap().to_owned();
    post(&url, "/projects", Some(&owner_token), &json!({ "name": "echo" })).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/projects/alice/echo/versions"))
        .bearer_auth(&owner_token)
        .body(b"\0asm\x01\0\0\0".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, k) = post(&url, "/payment-keys", Some(&owner_token), &json!({ "initial_balance": 1_000_000 })).await;
    let pay = k["key"].as_str().unwrap().to_owned();
    let limits = json!({ "max_instructions": 10_000_000, "max_execution_seconds": 1 });
    let r = reqwest::Client::new()
        .post(format!("{url}/call/alice/echo"))
        .header("x-payment-key", &pay)
        .header("x-attached-deposit", "500")
        .json(&json!({ "input": { "x": 1 }, "async": true, "resource_limits": limits }))
        .send()
        .await
        .unwrap();
    let call_id = r.json::<Value>().await.unwrap()["call_id"].as_str().unwrap().to_owned();
    let (s, job) = post(&url, "/workers/lease", Some(token), &json!({ "wait_seconds": 2 })).await;
    assert_eq!(s, StatusCode::OK, "{job}");

    // The worker signs the honest result: output = input, 10 ms, refund 100.
    let output = job["input"].as_str().unwrap().as_bytes().to_vec();
    let signed = receipt(&job, &output, 10, 100, worker_id, att).sign(&key);
    // Changed after signing: the output, the wall time (×13), the refund; each refused.
    for (what, body) in [
        ("output", completion(&job, b"{\"forged\":true}", 10, 100, &signed)),
        ("wall_ms", completion(&job, &output, 130, 100, &signed)),
        ("refund", completion(&job, &output, 10, 0, &signed)),
    ] {
        let (s, b) = post(&url, "/workers/complete", Some(token), &body).await;
        assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "receipt_mismatch"), "{what}: {b}");
    }
    // Re-signing the receipt fields without the key: the signature fails.
    let mut resigned = signed.clone();
    resigned.receipt.wall_ms = 130;
    let (s, b) = post(&url, "/workers/complete", Some(token), &completion(&job, &output, 130, 100, &resigned)).await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_signature"), "{b}");
    let (_, v) = get(&url, &format!("/calls/{call_id}"), Some(&pay)).await;
    assert_eq!(v["status"], "leased", "nothing settled: {v}");

    // The honest completion settles, charged from the signed fields: 1000 + ceil(2M × 1 / 1M)
    // + 10 ms at 1000/s = 1012 compute, and 400 of the 500 deposit kept.
    let (s, v) = post(&url, "/workers/complete", Some(token), &completion(&job, &output, 10, 100, &signed)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["compute_cost"].as_str(), v["refund"].as_u64(), v["charged"].as_u64()), (Some("1012"), Some(100), Some(1_412)));
    assert_eq!(v["time_ms"], 10);
    assert_eq!(v["output"], json!({ "x": 1 }));
    assert_eq!(STANDARD.decode(v["output_base64"].as_str().unwrap()).unwrap(), output);
    let back: SignedReceipt = serde_json::from_value(v["receipt"].clone()).unwrap();
    assert_eq!(back, signed);

    // The public record: receipt (digests only), worker, attestation — anyone can check them.
    let (s, pubr) = get(&url, &format!("/calls/{call_id}/receipt"), None).await;
    assert_eq!(s, StatusCode::OK, "{pubr}");
    assert!(pubr.get("output").is_none() && pubr.get("output_base64").is_none());
    let pr: SignedReceipt = serde_json::from_value(pubr["receipt"].clone()).unwrap();
    pr.verify().unwrap();
    assert_eq!(pubr["worker"]["id"], worker_id);
    let (s, a) = get(&url, pubr["attestation_url"].as_str().unwrap(), None).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let evidence: Evidence = serde_json::from_value(a["evidence"].clone()).unwrap();
    assert_eq!(hex::encode(outlayer_attest::evidence_digest(&evidence)), pr.receipt.attestation_sha256);
    assert_eq!(a["tee"], "dev");
    assert_eq!(a["public_key"], hex::encode(public));
    let (_, bal) = get(&url, &format!("/payment-keys/alice/{}", pay.split(':').nth(1).unwrap()), Some(&pay)).await;
    assert_eq!((bal["spent"].as_u64(), bal["reserved"].as_u64()), (Some(1_412), Some(0)), "{bal}");
}
