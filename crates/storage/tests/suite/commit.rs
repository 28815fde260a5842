//! Write sets: writes staged during an execution take effect only when committed, once per id,
//! and never over a change they did not see.

use std::sync::Arc;

use outlayer_storage::{Committed, EncryptedStorage, Quota, StagedStorage, StorageBackend};

use crate::common::{Fixture, TEST_KEY};

fn stage(f: &Fixture) -> StagedStorage {
    StagedStorage::new(f.store.clone())
}

fn id(f: &Fixture, name: &str) -> String {
    format!("{}/{name}", f.ns)
}

/// Reads through the stage see its own writes; the store sees nothing until the commit, then
/// everything at once; a second commit of the same id changes nothing and returns the first
/// record.
pub async fn staged_writes_apply_only_on_commit(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    f.store.set(&scope, "gone", b"old", false, Quota::UNLIMITED).await.unwrap();
    let staged = stage(f);
    staged.set(&scope, "k", b"v", true, Quota::UNLIMITED).await.unwrap();
    assert_eq!(staged.increment(&scope, "n", 5, Quota::UNLIMITED).await.unwrap(), 5);
    assert_eq!(staged.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap(), 6, "the stage reads its own writes");
    assert!(staged.delete(&scope, "gone").await.unwrap());
    assert!(!staged.has(&scope, "gone").await.unwrap());
    assert_eq!(staged.list_keys(&scope, "", None, 10).await.unwrap(), ["k", "n"]);
    assert_eq!(staged.usage(&scope).await.unwrap().keys, 2);

    assert!(f.store.get(&scope, "k").await.unwrap().is_none(), "nothing reaches the store before the commit");
    assert_eq!(f.store.get(&scope, "gone").await.unwrap().unwrap().value, b"old");

    let writes = staged.write_set();
    assert_eq!(writes.len(), 3);
    assert_eq!(f.store.commit(&id(f, "call-1"), &writes, b"first result").await.unwrap(), Committed::Applied);
    let entry = f.store.get(&scope, "k").await.unwrap().unwrap();
    assert_eq!((entry.value.as_slice(), entry.public), (&b"v"[..], true));
    assert_eq!(f.store.increment(&scope, "n", 0, Quota::UNLIMITED).await.unwrap(), 6);
    assert!(!f.store.has(&scope, "gone").await.unwrap());
    assert_eq!(f.store.usage(&scope).await.unwrap().keys, 2);

    // The same execution committed again (a retried completion, a re-run after a lost answer).
    let again = f.store.commit(&id(f, "call-1"), &writes, b"second result").await.unwrap();
    assert_eq!(again, Committed::Already(b"first result".to_vec()));
    assert_eq!(f.store.increment(&scope, "n", 0, Quota::UNLIMITED).await.unwrap(), 6, "applied once");
    assert_eq!(f.store.committed(&id(f, "call-1")).await.unwrap().as_deref(), Some(&b"first result"[..]));
    assert_eq!(f.store.committed(&id(f, "call-2")).await.unwrap(), None);

    assert_eq!(f.store.forget_commits(0, Some(&id(f, "call-1"))).await.unwrap(), 1);
    assert_eq!(f.store.committed(&id(f, "call-1")).await.unwrap(), None);
}

/// Two executions that read the same counter: the first commit wins, the second conflicts and
/// changes nothing; run again on the new state, it commits.
pub async fn a_commit_over_an_unseen_change_conflicts(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let (a, b) = (stage(f), stage(f));
    assert_eq!(a.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap(), 1);
    assert_eq!(b.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap(), 1);
    b.set(&scope, "other", b"b's", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(f.store.commit(&id(f, "a"), &a.write_set(), b"").await.unwrap(), Committed::Applied);
    match f.store.commit(&id(f, "b"), &b.write_set(), b"").await.unwrap() {
        Committed::Conflict { key, reason, .. } => assert_eq!((key.as_str(), reason), ("n", "changed")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(!f.store.has(&scope, "other").await.unwrap(), "a conflicting commit applies none of its writes");
    assert_eq!(f.store.committed(&id(f, "b")).await.unwrap(), None, "nor records itself");
    let rerun = stage(f);
    assert_eq!(rerun.increment(&scope, "n", 1, Quota::UNLIMITED).await.unwrap(), 2);
    assert_eq!(f.store.commit(&id(f, "b"), &rerun.write_set(), b"").await.unwrap(), Committed::Applied);
    assert_eq!(f.store.increment(&scope, "n", 0, Quota::UNLIMITED).await.unwrap(), 2);

    // set_if_absent is re-validated too: the key must still be absent.
    let (c, d) = (stage(f), stage(f));
    assert!(c.set_if_absent(&scope, "once", b"c", false, Quota::UNLIMITED).await.unwrap());
    assert!(d.set_if_absent(&scope, "once", b"d", false, Quota::UNLIMITED).await.unwrap());
    assert_eq!(f.store.commit(&id(f, "c"), &c.write_set(), b"").await.unwrap(), Committed::Applied);
    assert!(matches!(f.store.commit(&id(f, "d"), &d.write_set(), b"").await.unwrap(), Committed::Conflict { .. }));
    assert_eq!(f.store.get(&scope, "once").await.unwrap().unwrap().value, b"c");

    // Writes to keys never read are blind: the last commit wins, no conflict.
    let (e, g) = (stage(f), stage(f));
    e.set(&scope, "blind", b"e", false, Quota::UNLIMITED).await.unwrap();
    g.set(&scope, "blind", b"g", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(f.store.commit(&id(f, "e"), &e.write_set(), b"").await.unwrap(), Committed::Applied);
    assert_eq!(f.store.commit(&id(f, "g"), &g.write_set(), b"").await.unwrap(), Committed::Applied);
    assert_eq!(f.store.get(&scope, "blind").await.unwrap().unwrap().value, b"g");
}

/// Many executions incrementing one counter at once, each re-run on conflict until it commits:
/// the counter ends at exactly the number of executions — over encryption, as a worker runs it.
pub async fn concurrent_staged_increments_commit_exactly_once(f: &Fixture) {
    const EXECUTIONS: usize = 24;
    let scope = f.scope("app", "@component");
    let tasks: Vec<_> = (0..EXECUTIONS)
        .map(|i| {
            let (store, scope, call) = (f.store.clone(), scope.clone(), id(f, &format!("call-{i}")));
            tokio::spawn(async move {
                for attempt in 0.. {
                    assert!(attempt < 500, "an execution kept conflicting");
                    let staged = StagedStorage::new(store.clone());
                    let guest = EncryptedStorage::new(staged.clone(), TEST_KEY);
                    guest.increment(&scope, "count", 1, Quota::UNLIMITED).await.unwrap();
                    match store.commit(&call, &staged.write_set(), b"").await.unwrap() {
                        Committed::Applied => return attempt,
                        Committed::Conflict { .. } => tokio::task::yield_now().await,
                        Committed::Already(_) => panic!("{call} committed twice"),
                    }
                }
                unreachable!()
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let plain = EncryptedStorage::new(f.store.clone(), TEST_KEY);
    assert_eq!(plain.increment(&scope, "count", 0, Quota::UNLIMITED).await.unwrap(), EXECUTIONS as i64, "after {conflicts} conflicts");
    let stored = f.store.get(&scope, "count").await.unwrap().unwrap().value;
    assert_ne!(stored.len(), 8, "the store holds a ciphertext, not the counter");
}

/// The stage checks quotas against the store plus its own writes, and the commit checks them
/// again against the store as it is then.
pub async fn quotas_hold_in_the_stage_and_at_commit(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let quota = Quota::bytes(20);
    let staged = stage(f);
    staged.set(&scope, "a", b"123456789", false, quota).await.unwrap();
    assert!(staged.set(&scope, "b", b"123456789012", false, quota).await.is_err(), "10 + 13 bytes > 20");
    // Meanwhile another execution fills the scope.
    let other = stage(f);
    other.set(&scope, "c", b"1234567890123", false, quota).await.unwrap();
    assert_eq!(f.store.commit(&id(f, "other"), &other.write_set(), b"").await.unwrap(), Committed::Applied);
    match f.store.commit(&id(f, "staged"), &staged.write_set(), b"").await.unwrap() {
        Committed::Conflict { reason, .. } => assert_eq!(reason, "quota_exceeded"),
        other => panic!("expected a quota conflict, got {other:?}"),
    }
    assert!(!f.store.has(&scope, "a").await.unwrap());
}

/// A stage lists stored and staged keys together, without the staged deletions, page by page.
pub async fn the_stage_lists_what_the_execution_sees(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    for key in ["a", "b", "c", "d"] {
        f.store.set(&scope, key, b"x", false, Quota::UNLIMITED).await.unwrap();
    }
    let staged = stage(f);
    staged.delete(&scope, "b").await.unwrap();
    staged.set(&scope, "bb", b"y", false, Quota::UNLIMITED).await.unwrap();
    staged.set(&scope, "e", b"y", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(staged.list_keys(&scope, "", None, 2).await.unwrap(), ["a", "bb"]);
    assert_eq!(staged.list_keys(&scope, "", Some("bb"), 2).await.unwrap(), ["c", "d"]);
    assert_eq!(staged.list_keys(&scope, "", Some("d"), 2).await.unwrap(), ["e"]);
    assert_eq!(staged.list_keys(&scope, "b", None, 10).await.unwrap(), ["bb"]);
    assert_eq!(staged.clear(&scope).await.unwrap(), 5);
    assert!(staged.list_keys(&scope, "", None, 10).await.unwrap().is_empty());
    assert_eq!(f.store.list_keys(&scope, "", None, 10).await.unwrap().len(), 4, "the store is untouched");
    assert_eq!(f.store.commit(&id(f, "clear"), &staged.write_set(), b"").await.unwrap(), Committed::Applied);
    assert!(f.store.list_keys(&scope, "", None, 10).await.unwrap().is_empty());
    assert_eq!(f.store.usage(&scope).await.unwrap().keys, 0);
}

/// A stage cannot commit by itself, and a malformed set is refused before anything changes.
pub async fn malformed_sets_are_refused(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let staged = stage(f);
    staged.set(&scope, "k", b"v", false, Quota::UNLIMITED).await.unwrap();
    let mut writes = staged.write_set();
    assert!(staged.commit("x", &writes, b"").await.is_err(), "a stage does not apply write sets");
    writes.writes.push(writes.writes[0].clone());
    assert!(f.store.commit(&id(f, "dup"), &writes, b"").await.is_err());
    assert!(!f.store.has(&scope, "k").await.unwrap());
    let _: Arc<dyn StorageBackend> = Arc::new(staged);
}

/// One execution's writes travel in one message: past the write-set budget a write fails like a
/// write past the quota, and what was staged before stays.
pub async fn the_write_set_is_bounded(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    let staged = stage(f);
    let value = vec![7u8; 1 << 20];
    let mut stored = 0;
    let refused = loop {
        match staged.set(&scope, &format!("k{stored}"), &value, false, Quota::UNLIMITED).await {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 10, "the budget was never reached");
    };
    assert_eq!(stored, 3, "three 1 MiB values fit in 4 MiB with their framing, a fourth does not");
    assert!(
        matches!(refused, outlayer_storage::StorageError::QuotaExceeded { max_bytes } if max_bytes == outlayer_storage::MAX_WRITE_SET_BYTES as u64)
    );
    assert!(staged.write_set().size() <= outlayer_storage::MAX_WRITE_SET_BYTES);
    // Deleting frees the budget again.
    assert!(staged.delete(&scope, "k0").await.unwrap());
    staged.set(&scope, "k9", &value, false, Quota::UNLIMITED).await.unwrap();
}

/// A key written blind, then read (which makes its original value part of the write), then
/// written again keeps the stage's byte count exact: the second write neither underflows it
/// (a debug build panicked here) nor lets the set grow past the bound.
pub async fn rewriting_a_key_read_after_a_blind_write_keeps_the_count(f: &Fixture) {
    let scope = f.scope("app", "alice.near");
    f.store.set(&scope, "k", &vec![1u8; 512 << 10], false, Quota::UNLIMITED).await.unwrap();
    let staged = stage(f);
    staged.set(&scope, "k", b"small", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(staged.get(&scope, "k").await.unwrap().unwrap().value, b"small");
    staged.set(&scope, "k", b"again", false, Quota::UNLIMITED).await.unwrap();
    let set = staged.write_set();
    assert_eq!(set.len(), 1);
    assert_eq!(set.writes[0].value.as_ref().unwrap().value, b"again");
    // The bound still holds around it: 1 MiB values fill the rest of the 4 MiB budget.
    let value = vec![7u8; 1 << 20];
    let mut stored = 0;
    while staged.set(&scope, &format!("v{stored}"), &value, false, Quota::UNLIMITED).await.is_ok() {
        stored += 1;
        assert!(stored < 10, "the budget was never reached");
    }
    assert!(staged.write_set().size() <= outlayer_storage::MAX_WRITE_SET_BYTES, "{} bytes", staged.write_set().size());
    assert_eq!(stored, 3);
}
