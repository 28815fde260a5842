//! Scopes: owners and namespaces never see each other's keys; `clear` empties one scope.

use outlayer_storage::Quota;
use outlayer_storage::Scope;

use crate::common::Fixture;

/// The same key under different owners and namespaces holds different values.
pub async fn scopes_are_isolated(f: &Fixture) {
    let s = &f.store;
    let scopes = [
        f.scope("one", "alice.near"),
        f.scope("one", "bob.near"),
        f.scope("two", "alice.near"),
        Scope::component(format!("{}/one", f.ns)),
        // Namespace and owner are separate fields: moving characters between them is another scope.
        f.scope("onea", "lice.near"),
    ];
    for (i, scope) in scopes.iter().enumerate() {
        s.set(scope, "k", format!("value {i}").as_bytes(), false, Quota::UNLIMITED).await.unwrap();
        s.set(scope, &format!("only-{i}"), b"x", false, Quota::UNLIMITED).await.unwrap();
    }
    for (i, scope) in scopes.iter().enumerate() {
        assert_eq!(s.get(scope, "k").await.unwrap().unwrap().value, format!("value {i}").as_bytes());
        assert_eq!(s.list_keys(scope, "", None, 100).await.unwrap(), ["k".to_string(), format!("only-{i}")]);
        assert_eq!(s.usage(scope).await.unwrap().keys, 2);
    }
    assert!(s.delete(&scopes[0], "k").await.unwrap());
    for scope in &scopes[1..] {
        assert!(s.has(scope, "k").await.unwrap(), "{scope:?} lost its key");
    }
    assert_eq!(s.increment(&scopes[1], "n", 1, Quota::UNLIMITED).await.unwrap(), 1);
    assert_eq!(s.increment(&scopes[2], "n", 1, Quota::UNLIMITED).await.unwrap(), 1);
}

/// `clear` removes every key of one scope, reports how many, and touches nothing else.
pub async fn clear_removes_only_its_scope(f: &Fixture) {
    let s = &f.store;
    let mine = f.scope("app", "alice.near");
    let other_owner = f.scope("app", "bob.near");
    let other_namespace = f.scope("other", "alice.near");
    for key in ["a", "b", "c"] {
        s.set(&mine, key, b"v", false, Quota::UNLIMITED).await.unwrap();
    }
    s.set(&other_owner, "a", b"v", false, Quota::UNLIMITED).await.unwrap();
    s.set(&other_namespace, "a", b"v", false, Quota::UNLIMITED).await.unwrap();

    assert_eq!(s.clear(&mine).await.unwrap(), 3);
    assert!(s.list_keys(&mine, "", None, 100).await.unwrap().is_empty());
    assert_eq!(s.usage(&mine).await.unwrap(), Default::default());
    assert_eq!(s.clear(&mine).await.unwrap(), 0);
    assert!(s.has(&other_owner, "a").await.unwrap());
    assert!(s.has(&other_namespace, "a").await.unwrap());

    s.set(&mine, "a", b"again", false, Quota::UNLIMITED).await.unwrap();
    assert_eq!(s.get(&mine, "a").await.unwrap().unwrap().value, b"again", "a cleared scope is usable");
}
