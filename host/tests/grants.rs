//! Grants are built in one place (`Grants::build`), and the storage quota a grant carries is
//! enforced by the backend atomically with each write, also against a hostile guest.

mod common;

use common::{guest, runtime};
use outlayer_guest_artifacts as g;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::{Backends, Capability, ExecutionContext, ExecutionRequest, GrantError, Grants, ProjectRef};
use outlayer_storage::{MemoryStorage, Scope, SqliteStorage, StorageBackend};
use serde_json::{Value, json};
use std::sync::Arc;

fn payment(attached: u128) -> PaymentGrant {
    PaymentGrant { currency: Currency::YoctoNear, attached, budget: 0 }
}

fn full_backends() -> Backends {
    Backends {
        storage: Some(Arc::new(MemoryStorage::new())),
        rpc_url: Some("http://127.0.0.1:1".into()),
        vrf_key: Some(Arc::new(outlayer_attest::vrf::VrfSecretKey::from_seed([7; 32]))),
        secrets: Some(Arc::default()),
        http_test_admit: Vec::new(),
    }
}

#[test]
fn build_grants_exactly_what_was_granted() {
    let grants = Grants::build(&[Capability::Vrf, Capability::Storage, Capability::Storage], &full_backends(), payment(5)).unwrap();
    assert_eq!(grants.granted(), [Capability::Storage, Capability::Vrf]);
    assert!(grants.payment.is_none(), "payment is used only when granted");

    let all = Grants::build(&Capability::ALL, &full_backends(), payment(5)).unwrap();
    assert_eq!(all.granted(), Capability::ALL);
    assert_eq!(all.payment, Some(payment(5)));

    assert!(Grants::build(&[], &Backends::default(), payment(0)).unwrap().granted().is_empty());
}

#[test]
fn a_granted_capability_without_a_backend_is_a_typed_error() {
    for capability in [Capability::Storage, Capability::Secrets, Capability::Rpc, Capability::Vrf] {
        let err = Grants::build(&[Capability::Payment, capability], &Backends::default(), payment(0)).err();
        assert_eq!(err, Some(GrantError::NoBackend { capability }));
        assert!(!Backends::default().serves(capability));
    }
    assert!(Backends::default().serves(Capability::Payment), "payment needs no backend");
    let message = GrantError::NoBackend { capability: Capability::Storage }.to_string();
    assert!(message.contains("storage") && message.contains("no storage backend"), "{message}");
}

fn ctx(caller: &str) -> ExecutionContext {
    ExecutionContext {
        request_id: "req-quota".into(),
        caller: Some(caller.into()),
        project: Some(ProjectRef { owner: "alice.testnet".into(), name: "quota".into(), id: "p-quota".into() }),
        ..Default::default()
    }
}

/// A v0.1 guest script run with a storage grant of `quota` bytes per scope.
async fn script(backend: &Arc<dyn StorageBackend>, quota: u64, ops: Value, caller: &str) -> Vec<Value> {
    let grants = Grants { storage: Some(StorageGrant { backend: backend.clone(), scope_quota_bytes: quota }), ..Default::default() };
    let request = ExecutionRequest { input: ops.to_string().into_bytes(), grants, context: ctx(caller), ..Default::default() };
    let r = runtime().run(&guest(g::V01_STORAGE), request).await.expect("execute");
    assert!(r.outcome.is_ok(), "{:?}: {}", r.outcome, String::from_utf8_lossy(&r.stderr));
    serde_json::from_slice(&r.output).expect("a JSON array")
}

/// A guest that keeps writing runs into its scope's quota: the write that would pass it fails
/// with the quota error and stores nothing; overwriting in place and deleting still work.
#[tokio::test]
async fn a_guest_runs_into_its_storage_quota() {
    let backend: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let ops = json!([
        {"op": "set", "key": "a", "value": "0123456789"},
        {"op": "set", "key": "b", "value": "0123456789"},
        {"op": "increment", "key": "n", "delta": 1},
        {"op": "set", "key": "c", "value": "x"},
        {"op": "set", "key": "a", "value": "9876543210"},
        {"op": "delete", "key": "n"},
        {"op": "set", "key": "c", "value": "x"},
    ]);
    let r = script(&backend, 20, ops, "mallory.testnet").await;
    assert_eq!(r[0]["error"], "", "11 bytes fit in 20");
    assert_eq!(r[1]["error"], "storage quota exceeded", "22 bytes do not");
    assert_eq!(r[2]["error"], "", "a counter (9 bytes) fills the quota exactly");
    assert_eq!(r[3]["error"], "storage quota exceeded", "full");
    assert_eq!(r[4]["error"], "", "a same-size overwrite of a full scope");
    assert_eq!(r[6]["error"], "", "room again after a delete");
    let usage = backend.usage(&Scope::project("p-quota", "mallory.testnet")).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (2, 13));
}

/// Concurrent executions of one caller race for the room of the quota on a shared SQLite
/// database: what they stored together never passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guests_never_pass_the_quota_together() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&dir.path().join("s.db")).await.unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let backend = backend.clone();
            // 4-byte key + 46-byte value = 50 bytes per execution; the quota holds three.
            let ops = json!([{"op": "set", "key": format!("k{i:03}"), "value": "v".repeat(46)}]);
            tokio::spawn(async move { script(&backend, 150, ops, "racer.testnet").await })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r[0]["error"].as_str().unwrap() {
            "" => stored += 1,
            "storage quota exceeded" => {}
            other => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(stored, 3);
    let usage = backend.usage(&Scope::project("p-quota", "racer.testnet")).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (3, 150));
}
