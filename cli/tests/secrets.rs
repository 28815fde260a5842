//! Secrets and project keys end to end, with real processes: `outlayer serve` (embedded
//! keystore), `outlayer keystore` (restart, replication), `outlayer coordinator` + two `outlayer
//! worker` processes on one PostgreSQL sharing a project's storage through the keystore's key.

mod common;
use common::{Proc, free_port};

async fn wait_healthy(url: &str) {
    common::wait_healthy(&reqwest::Client::new(), url).await
}

use base64::Engine as _;
use outlayer_keystore::derive::{HkdfDerivation, KeyDerivation, Purpose};
use outlayer_keystore::master::MasterSecret;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const SECRET: &str = "s3cr3t-value-4711";

fn spawn(args: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(args)
        .env("OUTLAYER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn outlayer");
    Proc(child)
}

/// `outlayer` run to completion: (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_outlayer")).args(args).output().expect("run outlayer");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// An owner with a payment key, talking to one coordinator.
struct Owner {
    http: reqwest::Client,
    url: String,
    name: String,
    token: String,
    key: String,
}

impl Owner {
    async fn new(url: &str) -> Self {
        let http = reqwest::Client::new();
        let name = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": name })).send().await.unwrap().json().await.unwrap();
        let token = r["token"].as_str().expect("owner token").to_owned();
        let mut o = Self { http, url: url.into(), name, token, key: String::new() };
        let r = o.send(reqwest::Method::POST, "/payment-keys", Some(json!({ "initial_balance": 100_000_000 }))).await;
        o.key = r.1["key"].as_str().expect("payment key").to_owned();
        o
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn project(&self, name: &str, wasm: &str, grants: &[&str]) {
        let (status, _) = self.send(reqwest::Method::POST, "/projects", Some(json!({ "name": name, "grants": grants }))).await;
        assert_eq!(status, StatusCode::CREATED);
        let r = self
            .http
            .post(format!("{}/projects/{}/{name}/versions", self.url, self.name))
            .bearer_auth(&self.token)
            .body(outlayer_guest_artifacts::read(wasm))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    async fn call(&self, project: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/call/{}/{project}", self.url, self.name))
            .header("x-payment-key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    /// Seals `secrets` with the `outlayer secrets seal` command for the keystore at `keystore`.
    fn seal(&self, keystore: &str, scope: &str, secrets: &str, access: Option<&str>) -> Value {
        let mut args = vec!["secrets", "seal", "--keystore", keystore, "--scope", scope, "--json"];
        if let Some(a) = access {
            args.extend(["--access", a]);
        }
        args.push(secrets);
        let (ok, stdout, stderr) = run(&args);
        assert!(ok, "seal failed: {stderr}");
        serde_json::from_str(stdout.trim()).expect("seal prints a JSON body")
    }

    async fn put_secrets(&self, project: &str, profile: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, &format!("/projects/{}/{project}/secrets/{profile}", self.name), Some(body)).await
    }
}

/// The public half (hex) of the ticket key a coordinator keeps in `data_dir/ticket.key`.
fn ticket_key(data_dir: &Path) -> String {
    let seed: [u8; 32] = hex::decode(std::fs::read_to_string(data_dir.join("ticket.key")).unwrap().trim()).unwrap().try_into().unwrap();
    hex::encode(ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes())
}

/// `outlayer keystore` on `port` with its master in `master`, honouring the tickets of
/// `ticket_key`, accepting dev evidence.
fn trusting_keystore(port: u16, master: &Path, ticket_key: &str) -> Proc {
    spawn(&[
        "keystore",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--master-file",
        master.to_str().unwrap(),
        "--coordinator-key",
        ticket_key,
        "--allow-dev-attestation",
        "--quote-provider",
        "dev",
    ])
}

/// Every file under `dir` except the keystore's own directory, as bytes.
fn dump(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "keystore") {
            continue;
        }
        if path.is_dir() {
            out.extend(dump(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn sealed_secrets_reach_only_the_guest_and_denials_tampering_and_wrong_scopes_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut serve = spawn(&["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir", data.to_str().unwrap()]);
    wait_healthy(&url).await;
    let alice = Owner::new(&url).await;
    alice.project("reader", outlayer_guest_artifacts::SECRET_READER, &[]).await;
    alice.project("counter", outlayer_guest_artifacts::COUNTER, &["storage"]).await;

    let (status, info) = alice.send(reqwest::Method::GET, &format!("/projects/{}/reader/secrets", alice.name), None).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let keystore = info["keystore"].as_str().expect("serve names its keystore").to_owned();
    let scope = |profile: &str| format!("project:{}/reader|{}|{profile}", alice.name, alice.name);

    // seal → store → call → the guest reads it
    let body = alice.seal(&keystore, &scope("default"), &format!(r#"{{"API_KEY":"{SECRET}"}}"#), None);
    let (status, stored) = alice.put_secrets("reader", "default", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert!(!stored.to_string().contains(SECRET), "the coordinator answers the sealed blob only");
    let reference = json!({ "profile": "default", "account_id": alice.name });
    // The guest answers the value reversed: the result is stored like any output, and the dump
    // below then shows that the plaintext itself is stored nowhere.
    let reversed: String = SECRET.chars().rev().collect();
    let (status, call) = alice.call("reader", json!({ "input": "reversed:API_KEY", "secrets_ref": reference })).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["output"], reversed.as_str(), "{call}");

    // no secrets_ref: the guest gets no secrets
    let (_, call) = alice.call("reader", json!({ "input": "API_KEY" })).await;
    assert_eq!(call["status"], "failed", "{call}");
    // a profile that does not exist, another account's secrets
    let (status, e) =
        alice.call("reader", json!({ "input": "API_KEY", "secrets_ref": { "profile": "nope", "account_id": alice.name } })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("secrets_not_found")), "{e}");
    let (status, e) =
        alice.call("reader", json!({ "input": "API_KEY", "secrets_ref": { "profile": "default", "account_id": "bob" } })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_secrets_ref")), "{e}");

    // sealed for another project: stored, but the keystore does not open it for this one
    let other = alice.seal(&keystore, &format!("project:{}/other|{}|wrong", alice.name, alice.name), r#"{"API_KEY":"x"}"#, None);
    assert_eq!(alice.put_secrets("reader", "wrong", other).await.0, StatusCode::OK);
    // tampered: one byte of the ciphertext flipped
    let mut sealed = base64::engine::general_purpose::STANDARD.decode(body["sealed"].as_str().unwrap()).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    let tampered = json!({ "sealed": base64::engine::general_purpose::STANDARD.encode(&sealed), "access": body["access"] });
    assert_eq!(alice.put_secrets("reader", "tampered", tampered).await.0, StatusCode::OK);
    for profile in ["wrong", "tampered"] {
        let (_, call) =
            alice.call("reader", json!({ "input": "API_KEY", "secrets_ref": { "profile": profile, "account_id": alice.name } })).await;
        assert_eq!(call["status"], "failed", "{call}");
        let message = call["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("cannot_decrypt"), "{profile}: {call}");
    }
    // an access condition that fails: access_denied naming it, the guest never ran
    let guarded = alice.seal(&keystore, &scope("guarded"), r#"{"API_KEY":"x"}"#, Some(r#"{"type":"whitelist","accounts":["bob.near"]}"#));
    assert_eq!(alice.put_secrets("reader", "guarded", guarded).await.0, StatusCode::OK);
    let (_, call) =
        alice.call("reader", json!({ "input": "API_KEY", "secrets_ref": { "profile": "guarded", "account_id": alice.name } })).await;
    assert_eq!(call["status"], "failed", "{call}");
    assert_eq!(call["error"]["code"], "access_denied", "{call}");
    assert!(call["error"]["message"].as_str().unwrap().contains("whitelist"), "{call}");
    assert_eq!((call["instructions"].as_u64(), call["charged"].as_u64()), (Some(0), Some(1_000)), "only the base fee: {call}");
    // malformed uploads are refused before they are stored
    let (status, e) = alice.put_secrets("reader", "junk", json!({ "sealed": "AAAA" })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_sealed")), "{e}");

    // project storage under the keystore's key
    for expected in ["1", "2"] {
        let (_, call) = alice.call("counter", json!({ "input": 1 })).await;
        assert_eq!(call["status"], "completed", "{call}");
        assert_eq!(call["output"].to_string(), expected);
    }
    let _ = serve.0.kill();
    let _ = serve.0.wait();

    // A dump of the coordinator's database and the worker's files holds no plaintext secret and
    // no project storage key.
    let (master, _) = MasterSecret::load_or_create(&data.join("keystore/master.key")).unwrap();
    let storage_key = *HkdfDerivation::new(master).derive(Purpose::Storage, &format!("project:{}/counter", alice.name));
    let files = dump(&data);
    assert!(files.iter().any(|(p, _)| p.ends_with("outlayer.db")), "the dump has the coordinator's database");
    assert!(files.iter().any(|(_, b)| contains(b, reversed.as_bytes())), "the dump sees the stored results");
    for (path, bytes) in &files {
        assert!(!contains(bytes, SECRET.as_bytes()), "{path} holds the plaintext secret");
        assert!(!contains(bytes, &storage_key), "{path} holds the project storage key");
        assert!(!contains(bytes, hex::encode(storage_key).as_bytes()), "{path} holds the project storage key in hex");
    }
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_keystore_derives_the_same_keys_and_a_replica_agrees_only_when_attested() {
    let dir = tempfile::tempdir().unwrap();
    let master_file = dir.path().join("ks/master.key");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let keystore = |port: u16, master: &Path, extra: &[&str]| {
        let mut args = vec!["keystore", "--quote-provider", "dev"];
        let listen = format!("127.0.0.1:{port}");
        let master = master.to_str().unwrap().to_owned();
        args.extend(extra);
        let args: Vec<String> =
            args.iter().map(|s| s.to_string()).chain(["--listen".into(), listen, "--master-file".into(), master]).collect();
        spawn(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let accessor = "project:alice/demo";
    let ks = keystore(port, &master_file, &["--allow-dev-attestation"]);
    wait_healthy(&url).await;
    let pubkey = get_json(&format!("{url}/pubkey?accessor={accessor}")).await;
    let vrf = get_json(&format!("{url}/vrf/pubkey")).await;
    assert_eq!(pubkey["public_key"].as_str().unwrap().len(), 64, "{pubkey}");
    assert_eq!(vrf["suite"], "ECVRF-EDWARDS25519-SHA512-TAI");
    drop(ks);
    let ks = keystore(port, &master_file, &["--allow-dev-attestation"]);
    wait_healthy(&url).await;
    assert_eq!(get_json(&format!("{url}/pubkey?accessor={accessor}")).await, pubkey, "a restart keeps the sealing key");
    assert_eq!(get_json(&format!("{url}/vrf/pubkey")).await, vrf, "a restart keeps the VRF key");

    // A replica joins over mutual attestation and derives the same keys.
    let replica_port = free_port();
    let replica_url = format!("http://127.0.0.1:{replica_port}");
    let replica = keystore(replica_port, &dir.path().join("replica/master.key"), &["--allow-dev-attestation", "--join", &url]);
    wait_healthy(&replica_url).await;
    assert_eq!(get_json(&format!("{replica_url}/pubkey?accessor={accessor}")).await, pubkey);
    assert_eq!(get_json(&format!("{replica_url}/vrf/pubkey")).await, vrf);
    assert_eq!(get_json(&format!("{replica_url}/healthz")).await["fingerprint"], get_json(&format!("{url}/healthz")).await["fingerprint"]);
    drop(replica);

    // A primary that does not accept dev evidence refuses a dev joiner: the joiner exits.
    drop(ks);
    let _strict = keystore(port, &master_file, &[]);
    wait_healthy(&url).await;
    let (ok, _, stderr) = run(&[
        "keystore",
        "--quote-provider",
        "dev",
        "--allow-dev-attestation",
        "--join",
        &url,
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--master-file",
        dir.path().join("refused/master.key").to_str().unwrap(),
    ]);
    assert!(!ok, "a dev joiner must be refused by a strict primary");
    assert!(stderr.contains("dev_attestation_refused") || stderr.contains("refused"), "{stderr}");
    assert!(!dir.path().join("refused/master.key").exists(), "a refused joiner keeps no master");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_on_one_postgres_share_a_projects_storage_through_the_keystore() {
    let dir = tempfile::tempdir().unwrap();
    let (cport, kport) = (free_port(), free_port());
    let (url, ks_url) = (format!("http://127.0.0.1:{cport}"), format!("http://127.0.0.1:{kport}"));
    let schema = format!("ks_{}", uuid::Uuid::new_v4().simple());
    let cdir = dir.path().join("c");
    let _coordinator = spawn(&[
        "coordinator",
        "--listen",
        &format!("127.0.0.1:{cport}"),
        "--database",
        PG_URL,
        "--database-schema",
        &schema,
        "--allow-dev-attestation",
        "--dev-owners",
        "--data-dir",
        cdir.to_str().unwrap(),
    ]);
    wait_healthy(&url).await;
    // The keystore trusts this coordinator's ticket key (its public half, from the key file).
    let ticket_key = ticket_key(&cdir);
    let _keystore = trusting_keystore(kport, &dir.path().join("k/master.key"), &ticket_key);
    wait_healthy(&ks_url).await;
    let worker = |name: &str| {
        spawn(&[
            "worker",
            "--coordinator",
            &url,
            "--keystore",
            &ks_url,
            "--quote-provider",
            "dev",
            "--storage-database",
            PG_URL,
            "--data-dir",
            dir.path().join(name).to_str().unwrap(),
        ])
    };
    let alice = Owner::new(&url).await;
    alice.project("counter", outlayer_guest_artifacts::COUNTER, &["storage"]).await;
    // Each worker has its own data directory (its own operator key): only the project key from
    // the keystore lets the second read what the first wrote.
    let first = worker("w1");
    let (_, call) = alice.call("counter", json!({ "input": 5 })).await;
    assert_eq!((call["status"].as_str(), call["output"].to_string()), (Some("completed"), "5".into()), "{call}");
    drop(first);
    let _second = worker("w2");
    let (_, call) = alice.call("counter", json!({ "input": 1 })).await;
    assert_eq!((call["status"].as_str(), call["output"].to_string()), (Some("completed"), "6".into()), "{call}");
    assert_ne!(
        std::fs::read(dir.path().join("w1/worker.key")).unwrap(),
        std::fs::read(dir.path().join("w2/worker.key")).unwrap(),
        "two distinct workers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keystore_outage_delays_jobs_and_a_restarted_keystore_serves_the_same_project_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cport, kport) = (free_port(), free_port());
    let (url, ks_url) = (format!("http://127.0.0.1:{cport}"), format!("http://127.0.0.1:{kport}"));
    let cdir = dir.path().join("c");
    let _coordinator = spawn(&[
        "coordinator",
        "--listen",
        &format!("127.0.0.1:{cport}"),
        "--allow-dev-attestation",
        "--dev-owners",
        "--lease-seconds",
        "3",
        "--data-dir",
        cdir.to_str().unwrap(),
    ]);
    wait_healthy(&url).await;
    let ticket_key = ticket_key(&cdir);
    let master = dir.path().join("k/master.key");
    let keystore = || trusting_keystore(kport, &master, &ticket_key);
    let ks = keystore();
    wait_healthy(&ks_url).await;
    let _worker = spawn(&[
        "worker",
        "--coordinator",
        &url,
        "--keystore",
        &ks_url,
        "--quote-provider",
        "dev",
        "--data-dir",
        dir.path().join("w").to_str().unwrap(),
    ]);
    let alice = Owner::new(&url).await;
    alice.project("counter", outlayer_guest_artifacts::COUNTER, &["storage"]).await;
    let (_, call) = alice.call("counter", json!({ "input": 1 })).await;
    assert_eq!((call["status"].as_str(), call["output"].to_string()), (Some("completed"), "1".into()), "{call}");

    // The keystore goes away: the job is not failed, it waits (the worker retries, holding its
    // lease, for up to 20 s).
    drop(ks);
    let (status, call) = alice.call("counter", json!({ "input": 1, "async": true })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{call}");
    let id = call["call_id"].as_str().unwrap().to_owned();
    let poll = || async {
        let r = alice.http.get(format!("{url}/calls/{id}")).header("x-payment-key", &alice.key).send().await.unwrap();
        r.json::<Value>().await.unwrap()
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let waiting = poll().await;
    assert!(!matches!(waiting["status"].as_str(), Some("completed" | "failed")), "no keystore, no result: {waiting}");

    // Back with the same master: the session is reopened and the project key is the same one.
    let _ks = keystore();
    wait_healthy(&ks_url).await;
    let mut last = Value::Null;
    for _ in 0..200 {
        last = poll().await;
        if matches!(last["status"].as_str(), Some("completed" | "failed")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((last["status"].as_str(), last["output"].to_string()), (Some("completed"), "2".into()), "{last}");
}
