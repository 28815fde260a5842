//! Every capability's happy path and its denial, as the guest and the caller see them.

mod common;

use common::{guest, runtime};
use outlayer_attest::vrf::{VrfError, VrfSecretKey, verify as vrf_verify};
use outlayer_guest_artifacts as g;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::caps::vrf::VrfGrant;
use outlayer_host::{Capability, ExecutionContext, ExecutionReport, ExecutionRequest, Grants, Outcome, ProjectRef, Runtime};
use outlayer_storage::{MemoryStorage, SqliteStorage, StorageBackend};
use std::collections::BTreeMap;
use std::sync::Arc;

fn ctx(caller: &str) -> ExecutionContext {
    ExecutionContext { request_id: "req-1".into(), caller: Some(caller.into()), network: "testnet".into(), ..Default::default() }
}

async fn exec(rt: &Runtime, wasm: &[u8], input: &str, grants: Grants, context: ExecutionContext) -> ExecutionReport {
    rt.run(wasm, ExecutionRequest { input: input.as_bytes().to_vec(), grants, context, ..Default::default() }).await.unwrap()
}

fn text(r: &ExecutionReport) -> String {
    String::from_utf8_lossy(&r.output).into_owned()
}

fn storage(backend: Arc<dyn StorageBackend>) -> Grants {
    Grants { storage: Some(StorageGrant::new(backend)), ..Default::default() }
}

#[tokio::test]
async fn storage_counter_counts_per_caller() {
    let rt = runtime();
    let wasm = guest(g::COUNTER);
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    for expected in ["1", "2", "3"] {
        let r = exec(&rt, &wasm, "", storage(backend.clone()), ctx("alice.testnet")).await;
        assert!(r.outcome.is_ok(), "{:?} {}", r.outcome, String::from_utf8_lossy(&r.stderr));
        assert_eq!(text(&r), expected);
        assert_eq!(r.host_calls.storage.calls, 1);
    }
    let r = exec(&rt, &wasm, "10", storage(backend.clone()), ctx("bob.testnet")).await;
    assert_eq!(text(&r), "10", "bob has his own counter");
}

#[tokio::test]
async fn storage_denied_without_a_grant() {
    let rt = runtime();
    let r = exec(&rt, &guest(g::COUNTER), "", Grants::default(), ctx("alice.testnet")).await;
    assert_eq!(r.outcome, Outcome::Denied { capabilities: vec![Capability::Storage], message: "storage error: Error::Denied".into() });
    assert_eq!(r.host_calls.storage.denied, 1);
}

#[tokio::test]
async fn typed_guests_return_output_or_a_typed_error() {
    let rt = runtime();
    let r = exec(&rt, &guest(g::ECHO_TYPED), "typed hello", Grants::default(), ctx("a")).await;
    assert!(r.outcome.is_ok());
    assert_eq!(text(&r), "typed hello");
    let r = exec(&rt, &guest(g::ECHO_TYPED), "fail", Grants::default(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::GuestError { kind: "invalid-input".into(), message: "fail requested".into() });

    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let r = exec(&rt, &guest(g::COUNTER_TYPED), "5", storage(backend.clone()), ctx("a")).await;
    assert_eq!(text(&r), "5");
    let r = exec(&rt, &guest(g::COUNTER_TYPED), "", Grants::default(), ctx("a")).await;
    assert!(matches!(r.outcome, Outcome::Denied { .. }), "{:?}", r.outcome);
}

#[tokio::test]
async fn command_and_typed_guests_share_the_same_storage() {
    let rt = runtime();
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let project = ProjectRef { owner: "alice.near".into(), name: "counter".into(), id: "p-1".into() };
    let c = || ExecutionContext { project: Some(project.clone()), ..ctx("carol.near") };
    assert_eq!(text(&exec(&rt, &guest(g::COUNTER), "", storage(backend.clone()), c()).await), "1");
    assert_eq!(text(&exec(&rt, &guest(g::COUNTER_TYPED), "", storage(backend.clone()), c()).await), "2");
}

#[tokio::test]
async fn sqlite_storage_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("storage.sqlite");
    let wasm = guest(g::COUNTER);
    {
        let rt = runtime();
        let backend: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&db).await.unwrap());
        assert_eq!(text(&exec(&rt, &wasm, "41", storage(backend), ctx("alice.testnet")).await), "41");
    }
    // A new runtime and a new connection to the same file: the value is still there.
    let rt = runtime();
    let backend: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&db).await.unwrap());
    assert_eq!(text(&exec(&rt, &wasm, "1", storage(backend), ctx("alice.testnet")).await), "42");
}

#[tokio::test]
async fn secrets_are_read_by_name_and_listed_and_denied_without_grant() {
    let rt = runtime();
    let map: BTreeMap<String, String> = [("API_KEY", "s3cr3t"), ("OTHER", "x")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    let grants = || Grants { secrets: Some(Arc::new(map.clone())), ..Default::default() };
    let r = exec(&rt, &guest(g::SECRET_READER), "API_KEY", grants(), ctx("a")).await;
    assert_eq!(text(&r), "s3cr3t");
    let r = exec(&rt, &guest(g::SECRET_READER), "", grants(), ctx("a")).await;
    assert_eq!(text(&r), r#"["API_KEY","OTHER"]"#);
    let r = exec(&rt, &guest(g::SECRET_READER), "MISSING", grants(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert!(String::from_utf8_lossy(&r.stderr).contains("NotFound"));
    let r = exec(&rt, &guest(g::SECRET_READER), "API_KEY", Grants::default(), ctx("a")).await;
    assert_eq!(r.outcome, Outcome::Denied { capabilities: vec![Capability::Secrets], message: "error: Error::Denied".into() });
}

#[tokio::test]
async fn secrets_are_environment_variables_but_never_override_reserved_names() {
    let rt = runtime();
    let map: BTreeMap<String, String> =
        [("NEAR_REQUEST_ID", "forged"), ("OUTLAYER_X", "forged")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    let grants = Grants { secrets: Some(Arc::new(map)), ..Default::default() };
    let r = exec(&rt, &guest(g::CONTEXT_DUMP), "", grants, ctx("alice.testnet")).await;
    let v: serde_json::Value = serde_json::from_slice(&r.output).unwrap();
    assert_eq!(v["env"]["NEAR_REQUEST_ID"], "req-1");
    assert!(v["env"].get("OUTLAYER_X").is_none());
}

#[tokio::test]
async fn refund_is_reported_once_and_bounded_by_the_attached_deposit() {
    let rt = runtime();
    let grants =
        || Grants { payment: Some(PaymentGrant { currency: Currency::UsdMicro, attached: 1_000, budget: 50_000 }), ..Default::default() };
    let r = exec(&rt, &guest(g::REFUND), "400", grants(), ctx("a")).await;
    assert!(r.outcome.is_ok(), "{:?}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(r.refund, Some(400));
    let out = text(&r);
    assert!(out.starts_with(r#"{"currency":"usd-micro","attached":"1000","budget":"50000","refunded":"0"}"#), "{out}");
    assert!(out.ends_with("refunded 400\n"));

    let r = exec(&rt, &guest(g::REFUND), "1001", grants(), ctx("a")).await;
    assert_eq!(r.refund, None);
    assert!(String::from_utf8_lossy(&r.stderr).contains("ExceedsAttached"));

    let r = exec(&rt, &guest(g::REFUND), "1", Grants::default(), ctx("a")).await;
    assert!(matches!(r.outcome, Outcome::Denied { ref capabilities, .. } if capabilities == &[Capability::Payment]));
}

#[tokio::test]
async fn vrf_output_is_verifiable_and_bound_to_the_request() {
    let rt = runtime();
    let key = Arc::new(VrfSecretKey::from_seed([7u8; 32]));
    let grants = || Grants { vrf: Some(VrfGrant { key: key.clone() }), ..Default::default() };
    let r = exec(&rt, &guest(g::VRF_DICE), "round-1", grants(), ctx("a")).await;
    assert!(r.outcome.is_ok(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.output).unwrap();
    assert_eq!(v["alpha"], "outlayer-vrf:v2:req-1:round-1");
    let proof = hex::decode(v["proof_hex"].as_str().unwrap()).unwrap();
    let pk: [u8; 32] = hex::decode(v["public_key_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    assert_eq!(pk, key.public_key());
    let beta = vrf_verify(&pk, b"outlayer-vrf:v2:req-1:round-1", &proof).expect("the ECVRF proof verifies");
    assert_eq!(hex::decode(v["output_hex"].as_str().unwrap()).unwrap(), beta, "output = beta of the proof");
    assert_eq!(vrf_verify(&pk, b"outlayer-vrf:v2:req-2:round-1", &proof), Err(VrfError::VerificationFailed));
    let roll = v["roll"].as_u64().unwrap();
    assert!((1..=6).contains(&roll));

    // Same request and seed: same output (no re-roll). Another request: another proof.
    let again = exec(&rt, &guest(g::VRF_DICE), "round-1", grants(), ctx("a")).await;
    assert_eq!(again.output, r.output);
    let other = exec(&rt, &guest(g::VRF_DICE), "round-1", grants(), ExecutionContext { request_id: "req-2".into(), ..ctx("a") }).await;
    assert_ne!(other.output, r.output);

    let denied = exec(&rt, &guest(g::VRF_DICE), "x", Grants::default(), ctx("a")).await;
    assert!(matches!(denied.outcome, Outcome::Denied { .. }));
}

#[tokio::test]
async fn vrf_calls_are_limited_per_execution() {
    let rt = runtime();
    let key = VrfSecretKey::from_seed([1u8; 32]);
    let grants = Grants { vrf: Some(VrfGrant { key: Arc::new(key) }), ..Default::default() };
    let limits = outlayer_host::Limits { max_vrf_calls: 0, ..Default::default() };
    let r = rt.run(&guest(g::VRF_DICE), ExecutionRequest { input: b"x".to_vec(), grants, context: ctx("a"), limits }).await.unwrap();
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert!(String::from_utf8_lossy(&r.stderr).contains("LimitExceeded"));
    assert_eq!(r.host_calls.vrf.over_budget, 1);
}

#[tokio::test]
async fn context_reaches_the_guest_through_the_interface_and_v01_environment() {
    let rt = runtime();
    let context = ExecutionContext {
        request_id: "req-42".into(),
        kind: outlayer_host::ExecutionKind::Https,
        network: "mainnet".into(),
        caller: Some("alice.near".into()),
        project: Some(ProjectRef { owner: "bob.near".into(), name: "app".into(), id: "uuid-1".into() }),
        block_height: Some(123),
        call_id: Some("call-9".into()),
        ..Default::default()
    };
    let r = exec(&rt, &guest(g::CONTEXT_DUMP), "", Grants::default(), context).await;
    assert!(r.outcome.is_ok());
    let v: serde_json::Value = serde_json::from_slice(&r.output).unwrap();
    assert_eq!(v["request_id"], "req-42");
    assert_eq!(v["kind"], "https");
    assert_eq!(v["caller"], "alice.near");
    assert_eq!(v["project"]["id"], "uuid-1");
    assert_eq!(v["block_height"], 123);
    assert_eq!(v["limits"]["max_instructions"], 1_000_000_000u64);
    assert_eq!(v["wasm_hash"], outlayer_host::cache::sha256_hex(&guest(g::CONTEXT_DUMP)));
    let env = &v["env"];
    assert_eq!(env["OUTLAYER_EXECUTION_TYPE"], "HTTPS");
    assert_eq!(env["NEAR_NETWORK_ID"], "mainnet");
    assert_eq!(env["OUTLAYER_PROJECT_ID"], "bob.near/app");
    assert_eq!(env["OUTLAYER_REQUEST_ID"], "req-42");
    assert_eq!(env["OUTLAYER_CALL_ID"], "call-9");
    assert_eq!(env["NEAR_BLOCK_HEIGHT"], "123");
    assert_eq!(env["NEAR_RPC_PROXY_AVAILABLE"], "");
}
