//! Issue 13: the write set a worker sends with its completion is checked before anything reaches
//! the guest store. A registered worker (real key, dev attestation) completes its leased job with
//! a write set that is correctly signed but writes where the call's guest may not (another
//! project's storage, another caller's data, an unknown kind of scope), that is signed by another
//! key or for another set, that is malformed, or whose completion is past the body limit: each is
//! refused with the documented error, the guest store is untouched (no key, no commit record),
//! the call stays leased; the same worker's correct completion then settles the call once, with
//! its writes. A forged set replayed after the settlement is not applied either.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use common::{Server, TestWorker, echo, small_limits};
use ed25519_dalek::SigningKey;
use outlayer_coordinator::model::{Completion, Job};
use outlayer_coordinator::writes::GuestStorage;
use outlayer_protocol::CallStatus;
use outlayer_protocol::client::ClientError;
use outlayer_storage::{Entry, Quota, Scope, SqliteStorage, StorageBackend, Write, WriteSet};
use serde_json::{Value, json};

/// One write of `value` to `key` in `scope` (blind, no quota).
fn write(scope: &Scope, key: &str, value: &[u8]) -> Write {
    Write {
        scope: scope.clone(),
        key: key.into(),
        expect: None,
        value: Some(Entry { value: value.to_vec(), public: false }),
        quota: Quota::UNLIMITED,
    }
}

/// A set of `writes`, sorted as a worker's stage produces it.
fn set(mut writes: Vec<Write>) -> WriteSet {
    writes.sort_by(|a, b| (&a.scope, &a.key).cmp(&(&b.scope, &b.key)));
    WriteSet { writes }
}

/// `worker`'s signed completion of `job` (echo result) carrying `writes`, signed with `key`.
fn completion(worker: &TestWorker, job: &Job, writes: WriteSet, key: &SigningKey) -> Completion {
    Completion::sign(job, echo(job), &worker.signer(), &worker.key).with_writes(writes, key)
}

/// The (status, code) of a refused completion.
async fn refused(worker: &TestWorker, c: &Completion) -> (u16, String) {
    match worker.client.complete(c).await {
        Ok(view) => panic!("accepted: {view:?}"),
        Err(ClientError::Api { status, code, .. }) => (status, code),
        Err(e) => panic!("transport error instead of an answer: {e}"),
    }
}

struct Fixture {
    server: Server,
    store: Arc<dyn StorageBackend>,
    owner: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A SQLite coordinator that applies write sets to its own guest store (like `serve`), an
    /// owner with project `pp` and a payment key.
    async fn start() -> Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&dir.path().join("storage.db")).await?);
        let mut config = common::sqlite_config(&dir);
        config.guest_storage = Some(GuestStorage(store.clone()));
        let server = Server::start(config).await?;
        let (owner, token) = server.owner().await?;
        server.project(&owner, &token, "pp").await?;
        let key = server.key(&token, json!({ "initial_balance": 1_000_000 })).await?;
        Ok(Fixture { server, store, owner, key, _dir: dir })
    }

    /// An async call of project `pp`; returns its id.
    async fn call(&self) -> Result<String> {
        let (s, b) = self
            .server
            .call(&self.owner, "pp", &self.key, &[], &json!({ "input": 1, "async": true, "resource_limits": small_limits() }))
            .await?;
        assert_eq!(s.as_u16(), 202, "{b}");
        Ok(b["call_id"].as_str().expect("call id").to_owned())
    }

    async fn view(&self, call_id: &str) -> Result<Value> {
        Ok(self.server.get(&format!("/calls/{call_id}"), &[("X-Payment-Key", &self.key)]).await?.1)
    }

    /// Asserts that nothing of the call reached the guest store: no commit record, none of `sets`'
    /// keys, and that the call is still leased (not settled, nothing charged).
    async fn untouched(&self, call_id: &str, sets: &[&WriteSet]) -> Result<()> {
        assert_eq!(self.store.committed(&format!("call:{call_id}")).await?, None, "no commit record");
        for w in sets.iter().flat_map(|s| &s.writes) {
            assert_eq!(self.store.get(&w.scope, &w.key).await?, None, "{:?} {} was written", w.scope, w.key);
        }
        let v = self.view(call_id).await?;
        assert_eq!(v["status"], "leased", "{v}");
        assert_eq!(self.server.key_state(&self.key).await?["spent"], 0);
        Ok(())
    }
}

#[tokio::test]
async fn forged_write_sets_are_refused_before_the_guest_store() -> Result<()> {
    let f = Fixture::start().await?;
    let id = f.call().await?;
    let worker = f.server.worker().await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("the call's job");
    assert_eq!(job.call_id, id);
    assert!(job.settles_writes, "this coordinator applies write sets");

    let project = format!("{}/pp", f.owner);
    let home = Scope::project_component(&project);
    let mine = Scope::project(&project, &f.owner);

    // Correctly signed by the worker's registered key, but outside what the call's guest may write.
    let forged = [
        ("another project's component data", Scope::project_component("victim/vault")),
        ("another project's data of this caller", Scope::project("victim/vault", &f.owner)),
        ("another caller's data in this project", Scope::project(&project, "victim")),
        ("another caller's data of a bare component", Scope::wasm(&"ab".repeat(32), "victim")),
        ("an unknown kind of scope", Scope::caller(format!("secrets:{project}"), &f.owner)),
        ("another project whose name starts like this one's", Scope::project_component(&format!("{project}x"))),
    ];
    let mut refused_sets = Vec::new();
    for (what, scope) in forged {
        // Alone, and hidden after a write the guest may make.
        for writes in [set(vec![write(&scope, "k", b"forged")]), set(vec![write(&home, "ok", b"1"), write(&scope, "k", b"forged")])] {
            let c = completion(&worker, &job, writes.clone(), &worker.key);
            assert_eq!(refused(&worker, &c).await, (400, "invalid_writes".to_owned()), "{what}");
            refused_sets.push(writes);
        }
    }

    // Not signed by the worker's key: by another key, for another set, or not at all.
    let honest = set(vec![write(&home, "count", b"1"), write(&mine, "seen", b"yes")]);
    let other_key = SigningKey::from_bytes(&rand::random());
    let by_other = completion(&worker, &job, honest.clone(), &other_key);
    assert_eq!(refused(&worker, &by_other).await, (400, "invalid_signature".to_owned()));
    let mut swapped = completion(&worker, &job, honest.clone(), &worker.key);
    swapped.writes = set(vec![write(&home, "count", b"1000")]);
    assert_eq!(refused(&worker, &swapped).await, (400, "invalid_signature".to_owned()), "a signature of another set");
    let mut unsigned = completion(&worker, &job, honest.clone(), &worker.key);
    unsigned.writes_signature = None;
    assert_eq!(refused(&worker, &unsigned).await, (400, "invalid_signature".to_owned()), "no signature");
    refused_sets.push(swapped.writes.clone());

    // Malformed (a key written twice; unsorted): refused before the store even when signed.
    let twice = WriteSet { writes: vec![write(&home, "count", b"1"), write(&home, "count", b"2")] };
    let unsorted = WriteSet { writes: vec![write(&mine, "b", b"1"), write(&home, "a", b"2")] };
    for writes in [twice, unsorted] {
        let c = completion(&worker, &job, writes.clone(), &worker.key);
        assert_eq!(refused(&worker, &c).await, (400, "invalid_writes".to_owned()));
        refused_sets.push(writes);
    }

    // Past the size bound: a completion whose write set takes it over the body limit (the
    // coordinator's bound on what one completion may carry) is refused unread.
    let big = set(vec![write(&home, "big", &vec![7u8; outlayer_coordinator::limits::MAX_COMPLETE_BODY_BYTES])]);
    let c = completion(&worker, &job, big.clone(), &worker.key);
    assert_eq!(refused(&worker, &c).await, (413, "payload_too_large".to_owned()));
    refused_sets.push(big);

    let refs: Vec<&WriteSet> = refused_sets.iter().chain([&honest]).collect();
    f.untouched(&id, &refs).await?;

    // The lease is still the worker's: its correct completion settles the call, with its writes.
    let view = worker.client.complete(&completion(&worker, &job, honest.clone(), &worker.key)).await?;
    assert_eq!(view.status, CallStatus::Completed);
    assert_eq!(f.store.get(&home, "count").await?.map(|e| e.value), Some(b"1".to_vec()));
    assert_eq!(f.store.get(&mine, "seen").await?.map(|e| e.value), Some(b"yes".to_vec()));
    assert!(f.store.committed(&format!("call:{id}")).await?.is_some(), "the settlement is recorded with the writes");

    // A forged set sent again with the settled receipt gets the settled answer, and is not applied.
    let replay = completion(
        &worker,
        &job,
        set(vec![write(&home, "count", b"1000"), write(&Scope::project("victim/vault", &f.owner), "k", b"x")]),
        &worker.key,
    );
    let again = worker.client.complete(&replay).await?;
    assert_eq!(again.status, CallStatus::Completed);
    assert_eq!(f.store.get(&home, "count").await?.map(|e| e.value), Some(b"1".to_vec()), "the replayed set was applied");
    assert_eq!(f.store.get(&Scope::project("victim/vault", &f.owner), "k").await?, None);
    for writes in &refused_sets {
        for w in writes.writes.iter().filter(|w| w.scope != home && w.scope != mine) {
            assert_eq!(f.store.get(&w.scope, &w.key).await?, None, "{:?} {} was written", w.scope, w.key);
        }
    }

    // Settled once: one settle line, charged once.
    let settles = f.server.ledger(&f.key).await?.iter().filter(|e| e["call_id"] == id.as_str() && e["kind"] == "settle").count();
    assert_eq!(settles, 1);
    let state = f.server.key_state(&f.key).await?;
    assert_eq!(state["spent"].as_i64(), Some(common::ECHO_COST));
    assert_eq!(state["reserved"], 0);
    f.server.stop().await;
    Ok(())
}

/// A worker that keeps sending a forged set never settles the call: its lease runs out, and the
/// call goes to the next lease (the same job, attempt 2), where an honest completion settles it.
#[tokio::test]
async fn a_refused_write_set_leaves_the_call_to_the_next_lease() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn StorageBackend> = Arc::new(SqliteStorage::open(&dir.path().join("storage.db")).await?);
    let mut config = common::sqlite_config(&dir);
    config.guest_storage = Some(GuestStorage(store.clone()));
    config.lease_duration = Duration::from_secs(1);
    config.lease_grace = Duration::from_secs(1);
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    server.project(&owner, &token, "pp").await?;
    let key = server.key(&token, json!({ "initial_balance": 1_000_000 })).await?;
    let (s, b) = server.call(&owner, "pp", &key, &[], &json!({ "input": 1, "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s.as_u16(), 202, "{b}");
    let id = b["call_id"].as_str().unwrap().to_owned();

    let forger = server.worker().await?;
    let job = forger.lease(Duration::from_secs(2)).await?.expect("job");
    let victim = Scope::project_component("victim/vault");
    let c = completion(&forger, &job, set(vec![write(&victim, "k", b"forged")]), &forger.key);
    assert_eq!(refused(&forger, &c).await, (400, "invalid_writes".to_owned()));

    let honest = server.worker().await?;
    let mut next = None;
    for _ in 0..100 {
        if let Some(j) = honest.lease(Duration::from_secs(1)).await? {
            next = Some(j);
            break;
        }
    }
    let next = next.expect("the call is leased again once the forger's lease expired");
    assert_eq!(next.call_id, id);
    assert_ne!(next.lease_id, job.lease_id);
    // The forger's lease is gone: even its correct completion is refused now.
    let late = completion(&forger, &job, WriteSet::default(), &forger.key);
    assert_eq!(refused(&forger, &late).await.1, "lease_lost");

    let home = Scope::project_component(&format!("{owner}/pp"));
    let view = honest.client.complete(&completion(&honest, &next, set(vec![write(&home, "k", b"honest")]), &honest.key)).await?;
    assert_eq!(view.status, CallStatus::Completed);
    assert_eq!(store.get(&victim, "k").await?, None);
    assert_eq!(store.get(&home, "k").await?.map(|e| e.value), Some(b"honest".to_vec()));
    let settles = server.ledger(&key).await?.iter().filter(|e| e["call_id"] == id.as_str() && e["kind"] == "settle").count();
    assert_eq!(settles, 1);
    server.stop().await;
    Ok(())
}

/// Each write carries the quota its worker staged it under; the coordinator applies it no looser
/// than its own scope quota. A set claiming an unlimited quota (and a huge per-key allowance)
/// that would take a nearly full scope past the default quota is refused at commit, and nothing
/// is written.
#[tokio::test]
async fn a_write_set_cannot_grant_itself_quota() -> Result<()> {
    use outlayer_storage::{CIPHERTEXT_OVERHEAD, DEFAULT_SCOPE_QUOTA_BYTES};
    let f = Fixture::start().await?;
    let home = Scope::project_component(&format!("{}/pp", f.owner));
    // Fill the scope to 100 bytes under the quota, as the coordinator counts it (the store is
    // written through the encryption, so each key's ciphertext overhead is not counted).
    let allowance = CIPHERTEXT_OVERHEAD as u64;
    let mut counted = 0u64;
    for i in 0..64 {
        let key = format!("fill{i:02}");
        let len = if i < 63 { 1 << 20 } else { DEFAULT_SCOPE_QUOTA_BYTES - 100 - counted - key.len() as u64 + allowance };
        f.store.set(&home, &key, &vec![0u8; len as usize], false, Quota::UNLIMITED).await?;
        counted += key.len() as u64 + len - allowance;
    }
    assert_eq!(counted, DEFAULT_SCOPE_QUOTA_BYTES - 100);

    let id = f.call().await?;
    let worker = f.server.worker().await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("the call's job");
    let mut greedy = write(&home, "k", &[1u8; 1000]);
    greedy.quota = Quota::UNLIMITED.with_per_key_allowance(u64::MAX / 2);
    let writes = set(vec![greedy]);
    let c = completion(&worker, &job, writes.clone(), &worker.key);
    assert_eq!(refused(&worker, &c).await, (409, "storage_conflict".to_owned()), "past the coordinator's scope quota");
    f.untouched(&id, &[&writes]).await?;

    // What an honest worker claims (the default quota, its encryption's allowance) commits
    // within the quota: the cap takes away only what was never granted.
    let honest = Quota::bytes(DEFAULT_SCOPE_QUOTA_BYTES).with_per_key_allowance(allowance);
    let small = set(vec![Write { quota: honest, ..write(&home, "k", &[1u8; 10]) }]);
    let view = worker.client.complete(&completion(&worker, &job, small, &worker.key)).await?;
    assert_eq!(view.status, CallStatus::Completed);
    assert_eq!(f.store.get(&home, "k").await?.map(|e| e.value.len()), Some(10));
    f.server.stop().await;
    Ok(())
}
