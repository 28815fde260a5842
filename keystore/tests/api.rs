//! The keystore in process, through its HTTP API (`api::router` on 127.0.0.1), as a worker sees
//! it: who gets a session (attestation, binding, challenge, session-key signature), what a
//! session may obtain with a ticket or an on-chain request, that every answer is sealed to the
//! session, access conditions, and the VRF key.
//!
//! Evidence is dev evidence (`DevProvider` with `DEV_MEASUREMENTS`) or dcap-qvl's real sample
//! TDX quote verified at a time its collateral was valid (`KeystoreConfig::fixed_now_ms`). The
//! on-chain reads go to a local JSON-RPC node answering the contract's own `get_request` /
//! `get_secrets` JSON (`tests/data/PROVENANCE.md`), with the sealed blob made here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey};
use outlayer_attest::providers::{DevProvider, QuoteProvider};
use outlayer_attest::testdata::{COLLATERAL_JSON, EXPIRED_AT_SECS, QUOTE, VERIFY_AT_SECS, sample_measurements};
use outlayer_attest::vrf::VrfSecretKey;
use outlayer_attest::{Challenge, Evidence, Measurements, Policy, Register, parse_collateral, report_data, seal};
use outlayer_keystore::chain::ContractReader;
use outlayer_keystore::conditions::{ChainError, ChainView};
use outlayer_keystore::derive::{HkdfDerivation, KeyDerivation, Purpose};
use outlayer_keystore::master::MasterSecret;
use outlayer_keystore::{Keystore, KeystoreConfig};
use outlayer_near::RpcClient;
use outlayer_protocol::DEV_MEASUREMENTS;
use outlayer_protocol::secrets::{
    AccessCondition, JobProof, OpenSession, Released, ReleasedKeys, SealedSecrets, SecretsRef, SessionOpened, SignedTicket, TICKET_VERSION,
    Ticket, TicketSecrets,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The keystore's master in every test: keys are compared with an independent derivation.
const MASTER: [u8; 32] = [0x42; 32];
/// The coordinator whose tickets the keystore honours.
const COORDINATOR: [u8; 32] = [0xC0; 32];
const CALLER: &str = "alice.near";
const PROJECT_A: &str = "alice.near/a";
const PROJECT_B: &str = "bob.near/b";
const SECRET: &str = "s3cr3t-value-4711";

fn derivation() -> HkdfDerivation {
    HkdfDerivation::new(MasterSecret::from_bytes(MASTER))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("<none>")
}

// ---------------------------------------------------------------------------------------------
// The keystore, a worker, tickets.

/// Dev mode: dev evidence claiming `DEV_MEASUREMENTS` is accepted; tickets of [`COORDINATOR`].
fn dev_config() -> KeystoreConfig {
    KeystoreConfig {
        policy: Policy { allow_dev: true, ..Policy::new(vec![DEV_MEASUREMENTS]) },
        coordinators: vec![SigningKey::from_bytes(&COORDINATOR).verifying_key()],
        ..KeystoreConfig::default()
    }
}

/// A keystore served on 127.0.0.1.
struct Server {
    url: String,
    http: reqwest::Client,
}

impl Server {
    async fn start(config: KeystoreConfig) -> Self {
        let keystore = Arc::new(Keystore::new(Arc::new(derivation()), config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, outlayer_keystore::api::router(keystore)).await.unwrap() });
        Self { url, http: reqwest::Client::new() }
    }

    async fn post(&self, path: &str, body: &impl serde::Serialize) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).json(body).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn challenge(&self) -> Challenge {
        let (status, body) = self.post("/sessions/challenge", &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// `POST /sessions` with `req`.
    async fn open(&self, req: &OpenSession) -> (StatusCode, Value) {
        self.post("/sessions", req).await
    }

    /// A session for `worker` with dev evidence, done right.
    async fn session(&self, worker: &Worker) -> SessionOpened {
        let challenge = self.challenge().await;
        let (status, body) = self.open(&worker.open_request(challenge, worker.dev_evidence(&challenge))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    async fn release(&self, session_id: &str, proof: JobProof) -> (StatusCode, Value) {
        self.post("/release", &json!({"session_id": session_id, "proof": proof})).await
    }

    /// The public key secrets for `project:{project}` are sealed to (`GET /pubkey`).
    async fn sealing_key(&self, project: &str) -> [u8; 32] {
        let (status, body) = self.get(&format!("/pubkey?accessor=project:{project}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["seal_version"], 1);
        hex::decode(body["public_key"].as_str().unwrap()).unwrap().try_into().unwrap()
    }
}

/// A worker: its attested ed25519 key and its session's X25519 secret.
struct Worker {
    key: SigningKey,
    session_secret: [u8; 32],
}

impl Worker {
    fn new(seed: u8) -> Self {
        Self { key: SigningKey::from_bytes(&[seed; 32]), session_secret: [seed ^ 0x5A; 32] }
    }

    fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    fn dev_evidence(&self, challenge: &Challenge) -> Evidence {
        DevProvider { measurements: DEV_MEASUREMENTS }.evidence(report_data(&self.public(), challenge)).unwrap()
    }

    /// The session request for `challenge` with `evidence`, the session key signed by this
    /// worker's key.
    fn open_request(&self, challenge: Challenge, evidence: Evidence) -> OpenSession {
        let session_key = seal::public_key(&self.session_secret);
        let signature = self.key.sign(&OpenSession::signed_bytes(&session_key, &challenge));
        OpenSession {
            worker_key: hex::encode(self.public()),
            session_key: hex::encode(session_key),
            challenge,
            evidence,
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Opens a release answer of session `session_id` with this worker's session secret.
    fn open_keys(&self, session_id: &str, body: &Value) -> Result<ReleasedKeys, seal::SealError> {
        let released: Released = serde_json::from_value(body.clone()).unwrap();
        let plain = seal::open(&self.session_secret, &format!("session:{session_id}:job:{}", released.job_id), &released.sealed)?;
        Ok(serde_json::from_slice(&plain).unwrap())
    }
}

fn secrets_ref(profile: &str) -> SecretsRef {
    SecretsRef { profile: profile.into(), account_id: CALLER.into() }
}

/// `map` sealed to `public` under scope `scope`, with `access`, as the ticket carries it for
/// the reference `alice.near` / `default`.
fn record(public: &[u8; 32], scope: &str, map: &Value, access: AccessCondition) -> TicketSecrets {
    let sealed = seal::seal(public, scope, &serde_json::to_vec(map).unwrap()).unwrap();
    TicketSecrets { reference: secrets_ref("default"), record: SealedSecrets { sealed, access } }
}

/// The correct record of `project` for the reference `alice.near` / `default`.
async fn project_record(server: &Server, project: &str, access: AccessCondition) -> TicketSecrets {
    let public = server.sealing_key(project).await;
    record(&public, &format!("project:{project}|{CALLER}|default"), &json!({"API_KEY": SECRET}), access)
}

/// A ticket for job `job_id` of `project` on `worker`, valid for a minute.
fn ticket(worker: &Worker, job_id: &str, project: Option<&str>, secrets: Option<TicketSecrets>) -> Ticket {
    Ticket {
        version: TICKET_VERSION,
        job_id: job_id.into(),
        project_id: project.map(str::to_owned),
        wasm_sha256: "ab".repeat(32),
        caller: CALLER.into(),
        worker_key: hex::encode(worker.public()),
        expires_at_ms: now_ms() + 60_000,
        secrets,
    }
}

fn signed(ticket: Ticket) -> JobProof {
    JobProof::Ticket(Box::new(ticket.sign(&SigningKey::from_bytes(&COORDINATOR))))
}

// ---------------------------------------------------------------------------------------------
// A worker without valid attestation gets no session.

#[tokio::test]
async fn dev_evidence_gets_no_session_when_dev_is_not_allowed() {
    let server = Server::start(KeystoreConfig { policy: Policy::new(vec![DEV_MEASUREMENTS]), ..dev_config() }).await;
    let worker = Worker::new(1);
    let challenge = server.challenge().await;
    let req = worker.open_request(challenge, worker.dev_evidence(&challenge));
    let (status, body) = server.open(&req).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "dev_not_allowed"), "{body}");
    // The refused attempt burnt the challenge.
    let (status, body) = server.open(&req).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{body}");
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["dev_attestation"], false);
}

#[tokio::test]
async fn evidence_must_bind_the_worker_key_and_this_challenge() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let other = Worker::new(2);

    // Evidence of another worker's key.
    let challenge = server.challenge().await;
    let (status, body) = server.open(&worker.open_request(challenge, other.dev_evidence(&challenge))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "binding_mismatch"), "{body}");
    assert!(message(&body).contains("public_key"), "{body}");

    // Evidence made for another (also issued) challenge.
    let first = server.challenge().await;
    let second = server.challenge().await;
    let (status, body) = server.open(&worker.open_request(second, worker.dev_evidence(&first))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "binding_mismatch"), "{body}");
    assert!(message(&body).contains("challenge"), "{body}");

    // Done right, the first challenge (still unused) opens a session.
    let (status, body) = server.open(&worker.open_request(first, worker.dev_evidence(&first))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_reused_or_foreign_challenge_is_refused() {
    let server = Server::start(dev_config()).await;
    let elsewhere = Server::start(dev_config()).await;
    let worker = Worker::new(1);

    let challenge = server.challenge().await;
    let req = worker.open_request(challenge, worker.dev_evidence(&challenge));
    assert_eq!(server.open(&req).await.0, StatusCode::OK);
    // Used once: replaying the same valid request opens nothing.
    let (status, body) = server.open(&req).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{body}");

    // Issued by another keystore.
    let foreign = elsewhere.challenge().await;
    let (status, body) = server.open(&worker.open_request(foreign, worker.dev_evidence(&foreign))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{body}");

    // Made up, and an issued one with its validity stretched.
    let made_up = Challenge::new([7; 32], challenge.issued_at, 300);
    let (status, body) = server.open(&worker.open_request(made_up, worker.dev_evidence(&made_up))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{body}");
    let mut stretched = server.challenge().await;
    stretched.expires_at += 3600;
    let (status, body) = server.open(&worker.open_request(stretched, worker.dev_evidence(&stretched))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "challenge_expired"), "{body}");
}

#[tokio::test]
async fn a_session_key_not_signed_by_the_attested_worker_key_is_refused() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let intruder = Worker::new(2);

    // The intruder's session key, signed by the intruder, presented with the worker's evidence.
    let challenge = server.challenge().await;
    let mut req = intruder.open_request(challenge, worker.dev_evidence(&challenge));
    req.worker_key = hex::encode(worker.public());
    let (status, body) = server.open(&req).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_signature"), "{body}");

    // The worker's signature over its own session key, with the session key swapped.
    let challenge = server.challenge().await;
    let mut req = worker.open_request(challenge, worker.dev_evidence(&challenge));
    req.session_key = hex::encode(seal::public_key(&intruder.session_secret));
    let (status, body) = server.open(&req).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_signature"), "{body}");

    // A signature over another challenge.
    let challenge = server.challenge().await;
    let old = Challenge::new([3; 32], challenge.issued_at, 300);
    let mut req = worker.open_request(challenge, worker.dev_evidence(&challenge));
    req.signature = worker.open_request(old, worker.dev_evidence(&old)).signature;
    let (status, body) = server.open(&req).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_signature"), "{body}");
}

#[tokio::test]
async fn measurements_not_on_the_allowlist_get_no_session() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let challenge = server.challenge().await;
    let mut measurements = DEV_MEASUREMENTS;
    measurements.rtmr3 = Register([9; 48]);
    let evidence = DevProvider { measurements }.evidence(report_data(&worker.public(), &challenge)).unwrap();
    let (status, body) = server.open(&worker.open_request(challenge, evidence)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "measurements_not_allowed"), "{body}");
}

/// dcap-qvl's real sample TDX quote at a keystore whose clock is at a time its collateral was
/// valid: verified for real, it fails on the allowlist when its measurements are not allowed,
/// and exactly at the binding when they are (its report data cannot bind our key and
/// challenge); past its collateral's life it is refused as expired.
#[tokio::test]
async fn the_sample_tdx_quote_is_verified_and_refused_for_what_it_does_not_prove() {
    let evidence = Evidence::Tdx { quote: QUOTE.to_vec(), collateral: parse_collateral(COLLATERAL_JSON).unwrap(), event_log: None };
    let cases: [(Measurements, u64, StatusCode, &str); 3] = [
        (DEV_MEASUREMENTS, VERIFY_AT_SECS, StatusCode::FORBIDDEN, "measurements_not_allowed"),
        (sample_measurements(), VERIFY_AT_SECS, StatusCode::FORBIDDEN, "binding_mismatch"),
        (sample_measurements(), EXPIRED_AT_SECS, StatusCode::FORBIDDEN, "collateral_expired"),
    ];
    for (allowed, at, expected_status, expected_code) in cases {
        let config =
            KeystoreConfig { policy: Policy::new(vec![allowed]), fixed_now_ms: Some(at as i64 * 1000), ..KeystoreConfig::default() };
        let server = Server::start(config).await;
        let challenge = server.challenge().await;
        assert_eq!(challenge.issued_at, at);
        let worker = Worker::new(1);
        let (status, body) = server.open(&worker.open_request(challenge, evidence.clone())).await;
        assert_eq!((status, code(&body)), (expected_status, expected_code), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// A session for one job obtains that job's keys and nothing else.

#[tokio::test]
async fn a_ticket_naming_another_worker_is_refused() {
    let server = Server::start(dev_config()).await;
    let (worker, thief) = (Worker::new(1), Worker::new(2));
    let _ = server.session(&worker).await;
    let theirs = server.session(&thief).await;
    let secrets = project_record(&server, PROJECT_A, AccessCondition::AllowAll).await;
    let (status, body) = server.release(&theirs.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), Some(secrets)))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");
    assert!(message(&body).contains("another worker"), "{body}");
}

#[tokio::test]
async fn a_ticket_changed_after_signing_is_refused() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let record_b = project_record(&server, PROJECT_B, AccessCondition::AllowAll).await;
    let honest = ticket(&worker, "c1", Some(PROJECT_A), None).sign(&SigningKey::from_bytes(&COORDINATOR));

    // The project changed to B, with B's record.
    let mut forged: SignedTicket = honest.clone();
    forged.ticket.project_id = Some(PROJECT_B.into());
    forged.ticket.secrets = Some(record_b);
    let (status, body) = server.release(&session.session_id, JobProof::Ticket(Box::new(forged))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");
    assert!(message(&body).contains("signature"), "{body}");

    // The expiry pushed out.
    let mut forged = honest.clone();
    forged.ticket.expires_at_ms += 3_600_000;
    let (status, body) = server.release(&session.session_id, JobProof::Ticket(Box::new(forged))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");

    // Unchanged, it releases A's keys.
    let (status, body) = server.release(&session.session_id, JobProof::Ticket(Box::new(honest))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(worker.open_keys(&session.session_id, &body).unwrap().storage_scope, format!("project:{PROJECT_A}"));
}

#[tokio::test]
async fn a_ticket_of_a_coordinator_the_keystore_does_not_trust_is_refused() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let rogue = SigningKey::from_bytes(&[0xBA; 32]);

    let by_rogue = ticket(&worker, "c1", Some(PROJECT_A), None).sign(&rogue);
    let (status, body) = server.release(&session.session_id, JobProof::Ticket(Box::new(by_rogue.clone()))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");
    assert!(message(&body).contains("trusts"), "{body}");

    // Claiming to be the trusted coordinator does not make the rogue's signature its.
    let mut claimed = by_rogue;
    claimed.issuer = hex::encode(SigningKey::from_bytes(&COORDINATOR).verifying_key().to_bytes());
    let (status, body) = server.release(&session.session_id, JobProof::Ticket(Box::new(claimed))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");
    assert!(message(&body).contains("signature"), "{body}");

    // A keystore trusting no coordinator honours no ticket.
    let lonely = Server::start(KeystoreConfig { coordinators: vec![], ..dev_config() }).await;
    let session = lonely.session(&worker).await;
    let (status, body) = lonely.release(&session.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), None))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let mut expired = ticket(&worker, "c1", Some(PROJECT_A), None);
    expired.expires_at_ms = now_ms() - 1_000;
    let (status, body) = server.release(&session.session_id, signed(expired)).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "ticket_invalid"), "{body}");
    assert!(message(&body).contains("expired"), "{body}");
}

/// A record sealed for another project, account or profile than the ticket's reference does not
/// open, even when the ticket itself is valid; the right one does.
#[tokio::test]
async fn a_record_sealed_for_another_scope_does_not_open() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let (key_a, key_b) = (server.sealing_key(PROJECT_A).await, server.sealing_key(PROJECT_B).await);
    assert_ne!(key_a, key_b);
    let map = json!({"API_KEY": SECRET});
    let wrong = [
        ("B's record", record(&key_b, &format!("project:{PROJECT_B}|{CALLER}|default"), &map, AccessCondition::AllowAll)),
        ("A's key, B's scope", record(&key_a, &format!("project:{PROJECT_B}|{CALLER}|default"), &map, AccessCondition::AllowAll)),
        ("B's key, A's scope", record(&key_b, &format!("project:{PROJECT_A}|{CALLER}|default"), &map, AccessCondition::AllowAll)),
        ("another account", record(&key_a, &format!("project:{PROJECT_A}|mallory.near|default"), &map, AccessCondition::AllowAll)),
        ("another profile", record(&key_a, &format!("project:{PROJECT_A}|{CALLER}|prod"), &map, AccessCondition::AllowAll)),
    ];
    for (what, secrets) in wrong {
        let (status, body) = server.release(&session.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), Some(secrets)))).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "cannot_decrypt"), "{what}: {body}");
    }
    // A tampered blob.
    let mut tampered = project_record(&server, PROJECT_A, AccessCondition::AllowAll).await;
    let last = tampered.record.sealed.len() - 1;
    tampered.record.sealed[last] ^= 1;
    let (status, body) = server.release(&session.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), Some(tampered)))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "cannot_decrypt"), "{body}");

    let right = project_record(&server, PROJECT_A, AccessCondition::AllowAll).await;
    let (status, body) = server.release(&session.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), Some(right)))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys = worker.open_keys(&session.session_id, &body).unwrap();
    assert_eq!(keys.secrets, Some(BTreeMap::from([("API_KEY".to_owned(), SECRET.to_owned())])));
}

#[tokio::test]
async fn each_project_gets_its_own_storage_key() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let expected = |scope: &str| hex::encode(derivation().derive(Purpose::Storage, scope).as_ref());

    let mut released = HashMap::new();
    for (job, project) in [("ca", Some(PROJECT_A)), ("cb", Some(PROJECT_B)), ("cw", None)] {
        let (status, body) = server.release(&session.session_id, signed(ticket(&worker, job, project, None))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["job_id"], job);
        let keys = worker.open_keys(&session.session_id, &body).unwrap();
        assert_eq!(keys.job_id, job);
        assert_eq!(keys.secrets, None, "no secrets_ref, no secrets");
        released.insert(job, keys);
    }
    let (a, b, w) = (&released["ca"], &released["cb"], &released["cw"]);
    assert_eq!(a.storage_scope, format!("project:{PROJECT_A}"));
    assert_eq!(a.storage_key, expected(&format!("project:{PROJECT_A}")));
    assert_eq!(b.storage_scope, format!("project:{PROJECT_B}"));
    assert_eq!(b.storage_key, expected(&format!("project:{PROJECT_B}")));
    assert_ne!(a.storage_key, b.storage_key);
    // A job without a project gets its component's key.
    assert_eq!(w.storage_scope, format!("wasm:{}", "ab".repeat(32)));
    assert_eq!(w.storage_key, expected(&format!("wasm:{}", "ab".repeat(32))));
    // The keystore's derivation is not the bare master.
    assert_ne!(a.storage_key, hex::encode(MASTER));
}

// ---------------------------------------------------------------------------------------------
// The answer is sealed to the session.

#[tokio::test]
async fn the_answer_opens_only_with_its_sessions_key() {
    let server = Server::start(dev_config()).await;
    let (worker, other) = (Worker::new(1), Worker::new(2));
    let mine = server.session(&worker).await;
    let theirs = server.session(&other).await;
    let secrets = project_record(&server, PROJECT_A, AccessCondition::AllowAll).await;
    let (status, body) = server.release(&mine.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), Some(secrets)))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Nothing readable travels: neither the secret nor the storage key.
    let storage_key = hex::encode(derivation().derive(Purpose::Storage, &format!("project:{PROJECT_A}")).as_ref());
    let text = body.to_string();
    assert!(!text.contains(SECRET) && !text.contains(&storage_key), "{text}");
    let released: Released = serde_json::from_value(body.clone()).unwrap();
    let raw = String::from_utf8_lossy(&released.sealed).into_owned();
    assert!(!raw.contains(SECRET));

    // Another session's key, or this key under another session's scope, opens nothing.
    assert_eq!(other.open_keys(&mine.session_id, &body).unwrap_err(), seal::SealError::Decrypt);
    assert_eq!(worker.open_keys(&theirs.session_id, &body).unwrap_err(), seal::SealError::Decrypt);
    let keys = worker.open_keys(&mine.session_id, &body).unwrap();
    assert_eq!(keys.storage_key, storage_key);
    assert_eq!(keys.secrets.unwrap()["API_KEY"], SECRET);
}

#[tokio::test]
async fn a_release_in_an_unknown_session_is_refused() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let _live = server.session(&worker).await;
    let (status, body) = server.release("no-such-session", signed(ticket(&worker, "c1", Some(PROJECT_A), None))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "session_unknown"), "{body}");
    // A session of another keystore (restarted: sessions are in memory) is unknown too.
    let before = Server::start(dev_config()).await;
    let old = before.session(&worker).await;
    let (status, body) = server.release(&old.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), None))).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "session_unknown"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Access conditions.

/// NEAR as the conditions read it, from maps: an account not listed does not exist.
#[derive(Default)]
struct FakeChain {
    near: HashMap<String, u128>,
    ft: HashMap<(String, String), u128>,
    nfts: HashSet<(String, String)>,
}

#[async_trait::async_trait]
impl ChainView for FakeChain {
    async fn near_balance(&self, account: &str) -> Result<u128, ChainError> {
        self.near.get(account).copied().ok_or_else(|| ChainError::UnknownAccount { account: account.into() })
    }

    async fn ft_balance(&self, token: &str, account: &str) -> Result<u128, ChainError> {
        Ok(self.ft.get(&(token.to_owned(), account.to_owned())).copied().unwrap_or(0))
    }

    async fn nft_owned(&self, contract: &str, account: &str, _token_id: Option<&str>) -> Result<bool, ChainError> {
        Ok(self.nfts.contains(&(contract.to_owned(), account.to_owned())))
    }
}

fn chain_of(near: &[(&str, u128)]) -> Arc<dyn ChainView> {
    Arc::new(FakeChain { near: near.iter().map(|(a, b)| ((*a).to_owned(), *b)).collect(), ..FakeChain::default() })
}

/// Releases A's secrets under `access` for `CALLER` at `server`.
async fn release_with(server: &Server, access: AccessCondition) -> (StatusCode, Value) {
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let secrets = project_record(server, PROJECT_A, access).await;
    let (status, body) = server.release(&session.session_id, signed(ticket(&worker, "c1", Some(PROJECT_A), Some(secrets)))).await;
    if status == StatusCode::OK {
        assert_eq!(worker.open_keys(&session.session_id, &body).unwrap().secrets.unwrap()["API_KEY"], SECRET);
    }
    (status, body)
}

#[tokio::test]
async fn a_whitelist_without_the_caller_is_denied_naming_the_condition() {
    let server = Server::start(KeystoreConfig { chain: Some(chain_of(&[])), ..dev_config() }).await;
    let others = AccessCondition::Whitelist { accounts: vec!["bob.near".into(), "carol.near".into()] };
    let (status, body) = release_with(&server, others).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "access_denied"), "{body}");
    assert_eq!(body["error"]["condition"], "whitelist", "{body}");
    assert!(message(&body).contains(CALLER), "{body}");

    let with_caller = AccessCondition::Whitelist { accounts: vec!["bob.near".into(), CALLER.into()] };
    let (status, body) = release_with(&server, with_caller).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A whitelist or an account pattern needs nothing from NEAR: a keystore without a NEAR RPC
/// evaluates them; only conditions that read NEAR are refused as not configured.
#[tokio::test]
async fn conditions_that_read_nothing_from_near_work_without_near() {
    let server = Server::start(dev_config()).await;
    let (status, body) = release_with(&server, AccessCondition::Whitelist { accounts: vec!["bob.near".into()] }).await;
    assert_eq!((status, code(&body), &body["error"]["condition"]), (StatusCode::FORBIDDEN, "access_denied", &json!("whitelist")), "{body}");
    let (status, body) = release_with(&server, AccessCondition::AccountPattern { pattern: "*.near".into() }).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = release_with(&server, AccessCondition::NearBalance { min: 1 }).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_IMPLEMENTED, "not_configured"), "{body}");
}

#[tokio::test]
async fn a_near_balance_condition_is_read_from_near() {
    let server = Server::start(KeystoreConfig { chain: Some(chain_of(&[(CALLER, 1_000)])), ..dev_config() }).await;
    let (status, body) = release_with(&server, AccessCondition::NearBalance { min: 1_000 }).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = release_with(&server, AccessCondition::NearBalance { min: 1_001 }).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "access_denied"), "{body}");
    assert_eq!(body["error"]["condition"], "near_balance", "{body}");
    assert!(message(&body).contains("holds 1000 yoctoNEAR, needs at least 1001"), "{body}");

    // The caller does not exist on NEAR: it holds nothing.
    let nobody = Server::start(KeystoreConfig { chain: Some(chain_of(&[])), ..dev_config() }).await;
    let (status, body) = release_with(&nobody, AccessCondition::NearBalance { min: 1 }).await;
    assert_eq!(
        (status, code(&body), &body["error"]["condition"]),
        (StatusCode::FORBIDDEN, "access_denied", &json!("near_balance")),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// On-chain proofs: the keystore reads the request and the record from the contract.

const CONTRACT: &str = "outlayer.near";
/// The project, account and profile of the contract fixtures (`tests/data/PROVENANCE.md`).
const CHAIN_PROJECT: &str = "dev.near/app";

fn data(name: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// A view answer's `result.result` bytes as JSON, changed by `edit`.
fn edited(mut response: Value, edit: impl FnOnce(&mut Value)) -> Value {
    let bytes: Vec<u8> = serde_json::from_value(response["result"]["result"].clone()).unwrap();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap();
    edit(&mut value);
    response["result"]["result"] = json!(serde_json::to_vec(&value).unwrap());
    response
}

fn view(method: &str, args: Value) -> Value {
    json!({"request_type": "call_function", "finality": "final", "account_id": CONTRACT, "method_name": method, "args": args})
}

async fn node_answer(State(routes): State<Arc<Vec<(Value, Value)>>>, axum::Json(request): axum::Json<Value>) -> axum::Json<Value> {
    assert_eq!(request["method"], "query", "{request}");
    let mut params = request["params"].clone();
    if let Some(b64) = params.get("args_base64").and_then(Value::as_str).map(str::to_owned) {
        params.as_object_mut().unwrap().remove("args_base64");
        params["args"] = serde_json::from_slice(&BASE64.decode(b64).unwrap()).unwrap();
    }
    let found = routes.iter().find(|(p, _)| *p == params).map(|(_, r)| r.clone());
    axum::Json(found.unwrap_or_else(|| {
        json!({"jsonrpc": "2.0", "id": request["id"], "error": {"name": "REQUEST_VALIDATION_ERROR",
            "cause": {"name": "UNEXPECTED_REQUEST", "info": {}}, "code": -32602, "message": format!("no answer for {params}")}})
    }))
}

/// A NEAR node on 127.0.0.1 answering `routes` (params with decoded args → answer).
async fn near_node(routes: Vec<(Value, Value)>) -> Arc<ContractReader> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = Router::new().route("/", post(node_answer)).with_state(Arc::new(routes));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Arc::new(ContractReader::new(RpcClient::new(url), CONTRACT))
}

/// The contract's `get_secrets` fixture with `encrypted_data` = `map` sealed for the keystore
/// (master [`MASTER`]) to the project's accessor and its scope.
fn sealed_get_secrets(map: &Value) -> Value {
    let secret = derivation().derive(Purpose::Seal, &format!("project:{CHAIN_PROJECT}"));
    let scope = format!("project:{CHAIN_PROJECT}|{CALLER}|default");
    let sealed = seal::seal(&seal::public_key(&secret), &scope, &serde_json::to_vec(map).unwrap()).unwrap();
    edited(data("get_secrets.response.json"), |record| record["encrypted_data"] = json!(BASE64.encode(sealed)))
}

/// The chain the fixture's condition tree reads (`(whitelist alice.near | *.dao.near) &
/// near ≥ 10 & usdc ≥ 5 & !nft.near`): alice holds 100 NEAR and 5 usdc, and `nft` tokens.
fn fixture_chain(nft: bool) -> Arc<dyn ChainView> {
    let mut chain = FakeChain::default();
    chain.near.insert(CALLER.into(), 100);
    chain.ft.insert(("usdc.near".into(), CALLER.into()), 5);
    if nft {
        chain.nfts.insert(("nft.near".into(), CALLER.into()));
    }
    Arc::new(chain)
}

fn chain_routes() -> Vec<(Value, Value)> {
    let project = json!({"project": {"project_id": CHAIN_PROJECT}});
    vec![
        (view("get_request", json!({"request_id": 0})), data("get_request.response.json")),
        (view("get_request", json!({"request_id": 1})), edited(data("get_request.response.json"), |r| r["request_id"] = json!(1))),
        (
            view("get_request", json!({"request_id": 2})),
            edited(data("get_request.response.json"), |r| {
                r["request_id"] = json!(2);
                r["resolved"] = json!(true);
            }),
        ),
        (view("get_request", json!({"request_id": 9})), data("view_null.response.json")),
        (
            view("get_secrets", json!({"owner": CALLER, "accessor": project, "profile": "default"})),
            sealed_get_secrets(&json!({"API_KEY": SECRET, "OTHER": "x"})),
        ),
    ]
}

#[tokio::test]
async fn a_pending_requests_secrets_are_read_from_the_contract_and_released() {
    let contract = near_node(chain_routes()).await;
    let server = Server::start(KeystoreConfig { contract: Some(contract), chain: Some(fixture_chain(false)), ..dev_config() }).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let (status, body) = server.release(&session.session_id, JobProof::Near { request_id: 0 }).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["job_id"], "0");
    let keys = worker.open_keys(&session.session_id, &body).unwrap();
    assert_eq!(keys.secrets, Some(BTreeMap::from([("API_KEY".to_owned(), SECRET.to_owned()), ("OTHER".to_owned(), "x".to_owned())])));
    assert_eq!(keys.storage_scope, format!("project:{CHAIN_PROJECT}"));
    assert_eq!(keys.storage_key, hex::encode(derivation().derive(Purpose::Storage, &format!("project:{CHAIN_PROJECT}")).as_ref()));

    // The record's condition is the contract's: owning an NFT of nft.near denies (`not`).
    let denying =
        Server::start(KeystoreConfig { contract: Some(near_node(chain_routes()).await), chain: Some(fixture_chain(true)), ..dev_config() })
            .await;
    let session = denying.session(&worker).await;
    let (status, body) = denying.release(&session.session_id, JobProof::Near { request_id: 0 }).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "access_denied"), "{body}");
    assert_eq!(body["error"]["condition"], "not", "{body}");
}

#[tokio::test]
async fn a_resolved_or_absent_request_releases_nothing() {
    let contract = near_node(chain_routes()).await;
    let server = Server::start(KeystoreConfig { contract: Some(contract), chain: Some(fixture_chain(false)), ..dev_config() }).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    // Request 1 is pending (the same request under another id): released.
    let (status, body) = server.release(&session.session_id, JobProof::Near { request_id: 1 }).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for id in [2, 9] {
        let (status, body) = server.release(&session.session_id, JobProof::Near { request_id: id }).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "request_not_pending"), "request {id}: {body}");
    }
    // The node cannot say: a chain error, never "released" and never "not pending".
    let (status, body) = server.release(&session.session_id, JobProof::Near { request_id: 5 }).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_GATEWAY, "chain_unavailable"), "{body}");
}

#[tokio::test]
async fn an_on_chain_proof_needs_a_contract() {
    let server = Server::start(dev_config()).await;
    let worker = Worker::new(1);
    let session = server.session(&worker).await;
    let (status, body) = server.release(&session.session_id, JobProof::Near { request_id: 0 }).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_IMPLEMENTED, "not_configured"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// VRF.

#[tokio::test]
async fn the_sessions_vrf_seed_opens_with_the_session_key_and_matches_the_public_key() {
    let server = Server::start(dev_config()).await;
    let (worker, other) = (Worker::new(1), Worker::new(2));
    let opened = server.session(&worker).await;
    let (status, published) = server.get("/vrf/pubkey").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(published["suite"], "ECVRF-EDWARDS25519-SHA512-TAI");

    let scope = format!("session:{}:vrf", opened.session_id);
    let seed: [u8; 32] = seal::open(&worker.session_secret, &scope, &opened.sealed_vrf_seed).unwrap().try_into().unwrap();
    let vrf = VrfSecretKey::from_seed(seed);
    assert_eq!(published["public_key"], hex::encode(vrf.public_key()));
    assert_eq!(opened.vrf_public_key, hex::encode(vrf.public_key()));
    assert_eq!(seed, *derivation().derive(Purpose::Vrf, "default"));
    // A proof made with it verifies under the published key.
    let public: [u8; 32] = hex::decode(published["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    outlayer_attest::vrf::verify(&public, b"request-1", &vrf.prove(b"request-1")).unwrap();

    // Only this session's key opens it.
    assert_eq!(seal::open(&other.session_secret, &scope, &opened.sealed_vrf_seed).unwrap_err(), seal::SealError::Decrypt);
    // Every session gets the same key; a keystore with another master another one.
    let again = server.session(&other).await;
    assert_eq!(again.vrf_public_key, opened.vrf_public_key);
    let elsewhere = Keystore::new(Arc::new(HkdfDerivation::new(MasterSecret::from_bytes([1; 32]))), dev_config());
    assert_ne!(elsewhere.vrf_key().public_key, opened.vrf_public_key);
}
