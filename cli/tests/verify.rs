//! `outlayer verify` as a process: bundles written here from real data (dcap-qvl's sample TDX
//! quote, dev evidence with receipts signed here) re-verified offline, usage errors, and the
//! whole path against `outlayer serve`.

use ed25519_dalek::SigningKey;
use outlayer_attest::receipt::{Receipt, SignedReceipt, sha256_hex};
use outlayer_attest::testdata::{
    COLLATERAL_JSON, EXPIRED_AT_SECS, QUOTE, VERIFY_AT_SECS, sample_bound_key, sample_measurements, tampered_quote,
};
use outlayer_attest::{Allowlist, Challenge, Evidence, Measurements, evidence_digest, parse_collateral, report_data};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const INPUT: &[u8] = br#"{"hello":"world"}"#;
const OUTPUT: &[u8] = br#"{"hello":"world"}"#;
const NOW: u64 = 1_800_000_000;

fn verify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer")).arg("verify").args(args).env("OUTLAYER_LOG", "warn").output().expect("run outlayer verify")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit status")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_verdict(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), String::from_utf8_lossy(&out.stderr)))
}

fn layer_status(v: &Value, layer: &str) -> String {
    v["layers"].as_array().unwrap().iter().find(|l| l["name"] == layer).unwrap()["status"].as_str().unwrap().to_owned()
}

fn check<'a>(v: &'a Value, layer: &str, name: &str) -> &'a Value {
    let layer = v["layers"].as_array().unwrap().iter().find(|l| l["name"] == layer).unwrap();
    layer["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name} in {layer}"))
}

fn receipt(worker_id: &str, evidence: &Evidence, key: &SigningKey) -> SignedReceipt {
    Receipt {
        call_id: "c1".into(),
        project: "alice/echo".into(),
        wasm_sha256: sha256_hex(b"wasm"),
        input_sha256: sha256_hex(INPUT),
        output_sha256: sha256_hex(OUTPUT),
        outcome: "ok".into(),
        instructions: 3851,
        wall_ms: 2,
        peak_memory_bytes: 1 << 20,
        refund: 0,
        max_instructions: 1_000_000_000,
        max_memory_mb: 128,
        max_execution_seconds: 60,
        worker_id: worker_id.into(),
        attestation_sha256: hex::encode(evidence_digest(evidence)),
    }
    .sign(key)
}

/// A bundle as `outlayer verify --bundle` writes it (the attestation record in the coordinator's
/// `GET /workers/{id}/attestation` shape).
fn bundle(evidence: &Evidence, public_key: &str, challenge: Option<Challenge>, receipt: &SignedReceipt, at: u64) -> Value {
    let b64 = |b: &[u8]| base64_encode(b);
    json!({
        "format": "outlayer-verify-bundle/1",
        "verified_at": at,
        "source": "http://127.0.0.1:8080",
        "call_id": "c1",
        "project": "alice/echo",
        "receipt": receipt,
        "attestation": {
            "worker_id": "w1", "public_key": public_key, "tee": evidence.kind(), "evidence": evidence,
            "challenge": challenge, "verified": null, "policy_result": "accepted", "verified_at": at,
        },
        "input_base64": b64(INPUT),
        "output_base64": b64(OUTPUT),
        "policy": { "kind": "none" },
        "allow_dev_attestation": false,
        "verdict": { "status": "PASS", "verified_at": at, "layers": [] },
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path.display().to_string()
}

fn dev_bundle() -> (Value, Measurements) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let public_key = key.verifying_key().to_bytes();
    let challenge = Challenge::new([9; 32], NOW - 100, 60);
    let measurements = sample_measurements();
    let evidence = Evidence::dev(report_data(&public_key, &challenge), measurements);
    let signed = receipt("w1", &evidence, &key);
    (bundle(&evidence, &hex::encode(public_key), Some(challenge), &signed, NOW), measurements)
}

#[test]
fn a_dev_bundle_reverifies_offline_and_a_changed_field_or_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (good, measurements) = dev_bundle();
    let file = write(dir.path(), "good.json", &good);
    let allow = write(dir.path(), "allow.json", &serde_json::from_str::<Value>(&Allowlist(vec![measurements]).to_json()).unwrap());

    // Dev is not a TEE: unproven without the flag, with the reason.
    let out = verify(&["bundle", &file, "--offline", "--measurements", &allow]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains("dev attestation: not a TEE"), "{}", stdout(&out));
    assert!(stdout(&out).contains("RESULT UNPROVEN (exit 2)"), "{}", stdout(&out));

    let out = verify(&["bundle", &file, "--offline", "--measurements", &allow, "--allow-dev-attestation", "--short"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(stdout(&out), "authenticity PASS\nidentity PASS\nbinding PASS\n");

    // No policy: identity unproven, named.
    let out = verify(&["bundle", &file, "--offline", "--allow-dev-attestation", "--short"]);
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).contains("identity UNPROVEN: measurements: no measurement policy given"), "{}", stdout(&out));

    // One changed receipt field: FAIL naming the signature check and what differs, although the
    // stored verdict says PASS (it is never trusted).
    let mut forged = good.clone();
    forged["receipt"]["wall_ms"] = json!(1);
    let file = write(dir.path(), "forged.json", &forged);
    let out = verify(&["bundle", &file, "--offline", "--measurements", &allow, "--allow-dev-attestation", "--json"]);
    assert_eq!(code(&out), 1);
    let v = json_verdict(&out);
    assert_eq!((v["status"].as_str(), v["exit_code"].as_u64()), (Some("FAIL"), Some(1)));
    let sig = check(&v, "binding", "receipt signature");
    assert_eq!(sig["status"], "FAIL");
    assert!(sig["reason"].as_str().unwrap().contains("a field was changed after signing"), "{sig}");

    // One changed payload byte: FAIL naming the output digest, both values printed.
    let mut output = OUTPUT.to_vec();
    output[2] ^= 1;
    let mut changed = good.clone();
    changed["output_base64"] = json!(base64_encode(&output));
    let file = write(dir.path(), "payload.json", &changed);
    let out = verify(&["bundle", &file, "--offline", "--measurements", &allow, "--allow-dev-attestation", "--json"]);
    assert_eq!(code(&out), 1);
    let v = json_verdict(&out);
    let digest = check(&v, "binding", "output_sha256");
    assert_eq!(
        (digest["expected"].as_str().unwrap(), digest["found"].as_str().unwrap()),
        (sha256_hex(&output).as_str(), sha256_hex(OUTPUT).as_str())
    );
    let table = stdout(&verify(&["bundle", &file, "--offline", "--measurements", &allow, "--allow-dev-attestation"]));
    assert!(
        table.contains(&format!("expected: {}", sha256_hex(&output))) && table.contains(&format!("found:    {}", sha256_hex(OUTPUT))),
        "{table}"
    );

    // Another worker key recorded than the one that signed.
    let mut rekeyed = good.clone();
    rekeyed["attestation"]["public_key"] = json!(hex::encode([1u8; 32]));
    let file = write(dir.path(), "rekeyed.json", &rekeyed);
    let v = json_verdict(&verify(&["bundle", &file, "--offline", "--allow-dev-attestation", "--json"]));
    assert_eq!(check(&v, "binding", "receipt key")["status"], "FAIL");
    assert_eq!(check(&v, "binding", "report_data key")["status"], "FAIL");
}

#[test]
fn a_tdx_bundle_checks_the_sample_quote_offline() {
    let dir = tempfile::tempdir().unwrap();
    let allow = write(dir.path(), "allow.json", &serde_json::to_value(Allowlist(vec![sample_measurements()])).unwrap());
    let mut other = sample_measurements();
    other.mrtd.0[5] ^= 0x10;
    let deny = write(dir.path(), "deny.json", &serde_json::to_value(Allowlist(vec![other])).unwrap());
    // We do not hold the sample's bound key, so the receipt is signed by another one: binding
    // fails (and says so); authenticity and identity are the real checks here.
    let key = SigningKey::from_bytes(&[7; 32]);
    let tdx =
        |quote: Vec<u8>, collateral: &str| Evidence::Tdx { quote, collateral: parse_collateral(collateral).unwrap(), event_log: None };
    let evidence = tdx(QUOTE.to_vec(), COLLATERAL_JSON);
    let good = bundle(&evidence, &hex::encode(sample_bound_key()), None, &receipt("w1", &evidence, &key), VERIFY_AT_SECS);
    let file = write(dir.path(), "tdx.json", &good);

    let v = json_verdict(&verify(&["bundle", &file, "--offline", "--measurements", &allow, "--json"]));
    assert_eq!(layer_status(&v, "authenticity"), "PASS", "{v:#}");
    assert_eq!(layer_status(&v, "identity"), "PASS");
    assert_eq!(check(&v, "binding", "report_data key")["status"], "PASS");
    assert_eq!(check(&v, "binding", "receipt key")["status"], "FAIL");
    assert_eq!(check(&v, "binding", "report_data challenge")["status"], "UNPROVEN");

    let v = json_verdict(&verify(&["bundle", &file, "--offline", "--measurements", &deny, "--json"]));
    assert_eq!(layer_status(&v, "identity"), "FAIL");
    assert_eq!(check(&v, "identity", "mrtd")["found"], sample_measurements().mrtd.to_hex());

    // At a time the collateral has expired: unproven, not failed.
    let at = EXPIRED_AT_SECS.to_string();
    let v = json_verdict(&verify(&["bundle", &file, "--offline", "--measurements", &allow, "--json", "--at", &at]));
    assert_eq!(layer_status(&v, "authenticity"), "UNPROVEN", "{v:#}");

    // A flipped quote byte, a flipped collateral byte: failed.
    let forged = tdx(tampered_quote(), COLLATERAL_JSON);
    let file = write(
        dir.path(),
        "quote.json",
        &bundle(&forged, &hex::encode(sample_bound_key()), None, &receipt("w1", &forged, &key), VERIFY_AT_SECS),
    );
    let out = verify(&["bundle", &file, "--offline", "--measurements", &allow, "--json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(check(&json_verdict(&out), "authenticity", "signature chain")["status"], "FAIL");

    let mut collateral: Value = serde_json::from_str(COLLATERAL_JSON).unwrap();
    let sig = collateral["qe_identity_signature"].as_str().unwrap().to_owned();
    let first = if sig.starts_with('a') { 'b' } else { 'a' };
    collateral["qe_identity_signature"] = json!(format!("{first}{}", &sig[1..]));
    let forged = tdx(QUOTE.to_vec(), &collateral.to_string());
    let mut changed = good.clone();
    changed["attestation"]["evidence"] = serde_json::to_value(&forged).unwrap();
    let file = write(dir.path(), "collateral.json", &changed);
    let v = json_verdict(&verify(&["bundle", &file, "--offline", "--measurements", &allow, "--json"]));
    assert_eq!(check(&v, "authenticity", "signature chain")["status"], "FAIL", "{v:#}");
    assert_eq!(check(&v, "binding", "receipt attestation_sha256")["status"], "FAIL");
}

#[test]
fn usage_errors_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = dev_bundle();
    let file = write(dir.path(), "good.json", &good);
    for args in [
        vec!["bundle"],
        vec!["call"],
        vec!["nonsense"],
        vec!["bundle", &file, "--short", "--json"],
        vec!["bundle", &file, "--register-contract", "reg.near"],
        vec!["bundle", &file, "--offline", "--register-contract", "reg.near", "--rpc", "http://127.0.0.1:1"],
        vec!["bundle", "/nonexistent/bundle.json"],
        vec!["bundle", &file, "--measurements", "/nonexistent/m.json"],
        vec!["run", "noslash", "--input", "1", "--payment-key", "k"],
        vec!["run", "a/b", "--input", "{not json", "--payment-key", "k"],
    ] {
        let out = verify(&args);
        assert_eq!(code(&out), 3, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let help = verify(&["--help"]);
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).contains("call") && stdout(&help).contains("bundle"), "{}", stdout(&help));
}

#[test]
fn an_unreachable_coordinator_proves_nothing() {
    let out = verify(&["call", "c1", "--url", "http://127.0.0.1:1"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was proven"));
}

/// A child process killed when dropped.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_a_call_of_outlayer_serve_and_its_bundle_offline() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let _serve = Proc(
        Command::new(env!("CARGO_BIN_EXE_outlayer"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path().join("serve"))
            .env("OUTLAYER_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..300 {
        if http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(healthy, "outlayer serve did not start");

    // An owner with the echo guest and a payment key.
    let owner = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let token = post(&http, &format!("{url}/owners"), None, json!({ "owner": owner })).await["token"].as_str().unwrap().to_owned();
    post(&http, &format!("{url}/projects"), Some(&token), json!({ "name": "echo", "grants": [] })).await;
    let r = http
        .post(format!("{url}/projects/{owner}/echo/versions"))
        .bearer_auth(&token)
        .body(outlayer_guest_artifacts::read(outlayer_guest_artifacts::ECHO))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "upload: {}", r.status());
    let key = post(&http, &format!("{url}/payment-keys"), Some(&token), json!({ "initial_balance": 1_000_000 })).await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // A call; the caller keeps the input bytes as the coordinator hashes them, and the output.
    let input = json!({ "hello": "world", "n": [1, 2, 3] });
    let r =
        http.post(format!("{url}/call/{owner}/echo")).header("x-payment-key", &key).json(&json!({ "input": input })).send().await.unwrap();
    let call: Value = r.json().await.unwrap();
    assert_eq!(call["status"], "completed", "{call}");
    let id = call["call_id"].as_str().unwrap().to_owned();
    let input_file = dir.path().join("input.json");
    std::fs::write(&input_file, serde_json::to_string(&input).unwrap()).unwrap();
    let output_file = dir.path().join("output.bin");
    use base64::Engine;
    let output = base64::engine::general_purpose::STANDARD.decode(call["output_base64"].as_str().unwrap()).unwrap();
    std::fs::write(&output_file, output).unwrap();
    let (input_file, output_file) = (input_file.display().to_string(), output_file.display().to_string());

    // Dev attestation: unproven without the flag.
    let out = verify(&["call", &id, "--url", &url, "--input", &input_file, "--output", &output_file]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("dev attestation: not a TEE"), "{}", stdout(&out));

    // With it and the dev measurements as the policy: proven; the bundle re-verifies offline.
    let worker_id = call["worker"]["id"].as_str().unwrap();
    let record: Value = http.get(format!("{url}/workers/{worker_id}/attestation")).send().await.unwrap().json().await.unwrap();
    let allow = write(dir.path(), "allow.json", &json!([record["evidence"]["measurements"]]));
    let bundle_file = dir.path().join("call.bundle.json").display().to_string();
    let out = verify(&[
        "call",
        &id,
        "--url",
        &url,
        "--input",
        &input_file,
        "--output",
        &output_file,
        "--allow-dev-attestation",
        "--measurements",
        &allow,
        "--bundle",
        &bundle_file,
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    drop(_serve);
    let out = verify(&["bundle", &bundle_file, "--offline", "--allow-dev-attestation", "--short"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(stdout(&out), "authenticity PASS\nidentity PASS\nbinding PASS\n");

    // A changed byte of the saved output fails offline, naming the output digest.
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&bundle_file).unwrap()).unwrap();
    saved["output_base64"] = json!(base64_encode(b"{\"hello\":\"world!\"}"));
    let changed = write(dir.path(), "changed.json", &saved);
    let out = verify(&["bundle", &changed, "--offline", "--allow-dev-attestation", "--short"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("binding FAIL: output_sha256"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_run_makes_the_call_and_proves_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let _serve = Proc(
        Command::new(env!("CARGO_BIN_EXE_outlayer"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path().join("serve"))
            .env("OUTLAYER_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let owner = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let token = post(&http, &format!("{url}/owners"), None, json!({ "owner": owner })).await["token"].as_str().unwrap().to_owned();
    post(&http, &format!("{url}/projects"), Some(&token), json!({ "name": "echo", "grants": [] })).await;
    let r = http
        .post(format!("{url}/projects/{owner}/echo/versions"))
        .bearer_auth(&token)
        .body(outlayer_guest_artifacts::read(outlayer_guest_artifacts::ECHO))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let key = post(&http, &format!("{url}/payment-keys"), Some(&token), json!({ "initial_balance": 1_000_000 })).await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let project = format!("{owner}/echo");
    let bundle_file = dir.path().join("run.bundle.json").display().to_string();
    let out = verify(&[
        "run",
        &project,
        "--input",
        r#"{"b": 2, "a": [1, "x"]}"#,
        "--payment-key",
        &key,
        "--url",
        &url,
        "--json",
        "--bundle",
        &bundle_file,
    ]);
    let v = json_verdict(&out);
    assert_eq!(code(&out), 2, "{v:#}");
    assert_eq!(layer_status(&v, "binding"), "PASS", "{v:#}");
    assert_eq!(check(&v, "binding", "project")["found"], project);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&bundle_file).unwrap()).unwrap();
    let allow = write(dir.path(), "allow.json", &json!([saved["attestation"]["evidence"]["measurements"]]));
    let out = verify(&["bundle", &bundle_file, "--offline", "--allow-dev-attestation", "--measurements", &allow]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}
