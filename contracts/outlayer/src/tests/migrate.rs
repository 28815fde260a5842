use near_sdk::store::{IterableMap, IterableSet, LookupMap};

use super::*;
use crate::migrate::ContractV1;

const ONE_NEAR: u128 = 1_000_000_000_000_000_000_000_000;

/// A version 1 state holding one project, written as the root state.
fn write_v1_state() {
    set(&ctx(CONTRACT, 0));
    let mut projects = IterableMap::new(StorageKey::Projects);
    projects.insert(
        "dev.near/app".to_owned(),
        Project {
            project_id: "dev.near/app".into(),
            owner: acc("dev.near"),
            name: "app".into(),
            active_version: Some("aa".repeat(32)),
            versions: vec![],
            http_allowlist: vec![],
            grants: ProjectGrants::default(),
        },
    );
    projects.flush();
    let old = ContractV1 {
        state_version: 1,
        owner_id: acc(OWNER),
        register_account: None,
        worker_account: None,
        paused: false,
        pricing: Pricing::default(),
        stale_timeout_ns: 5,
        worker_keys: IterableSet::new(StorageKey::WorkerKeys),
        next_request_id: 7,
        requests: IterableMap::new(StorageKey::Requests),
        large_outputs: LookupMap::new(StorageKey::LargeOutputs),
        projects,
        secrets: LookupMap::new(StorageKey::Secrets),
        secrets_by_owner: LookupMap::new(StorageKey::SecretsByOwner),
        developer_earnings: LookupMap::new(StorageKey::DeveloperEarnings),
        payment_keys: LookupMap::new(StorageKey::PaymentKeys),
        platform_fees: NearToken::from_yoctonear(3),
    };
    near_sdk::env::state_write(&old);
}

#[test]
fn a_version_1_state_migrates_and_keeps_its_projects() {
    write_v1_state();
    let mut c = Contract::migrate();
    let config = c.get_config();
    assert_eq!((config.state_version, config.next_request_id, config.platform_fees.0), (3, 7, 3));
    assert_eq!(c.get_payment_rate().0, 0);
    let project = c.get_project("dev.near/app".into()).unwrap();
    assert_eq!(project.active_version, Some("aa".repeat(32)));
    assert!(project.http_allowlist.is_empty());
    set(&ctx("dev.near", ONE_NEAR));
    c.set_project_http_allowlist("app".into(), vec!["api.example.com".into()]);
    assert_eq!(c.get_project("dev.near/app".into()).unwrap().http_allowlist, vec!["api.example.com".to_owned()]);
}

#[test]
#[should_panic(expected = "The state is already at version 3")]
fn a_current_state_is_not_migrated_again() {
    set(&ctx(CONTRACT, 0));
    near_sdk::env::state_write(&Contract::new(acc(OWNER)));
    Contract::migrate();
}

/// A version 2 state (version 1's fields + the http allowlists) holding one project with an
/// allowlist and `pending` requests, written as the root state.
fn write_v2_state(pending: bool) {
    write_v1_state();
    let mut old: crate::migrate::ContractV1 = near_sdk::env::state_read().unwrap();
    old.state_version = 2;
    if pending {
        set(&ctx("alice.near", ONE_NEAR));
        let mut c = Contract::new(acc(OWNER));
        c.request_execution(wasm_source(), None, Some("hi".into()), None, None, None, None);
        old.requests = c.requests;
        old.requests.flush();
    }
    let mut allowlists = LookupMap::new(StorageKey::ProjectHttpAllowlists);
    allowlists.insert("dev.near/app".to_owned(), vec!["api.example.com".to_owned()]);
    allowlists.flush();
    near_sdk::env::state_write(&crate::migrate::ContractV2 { v1: old, project_http_allowlists: allowlists });
}

#[test]
fn a_version_2_state_migrates_and_keeps_its_allowlists() {
    write_v2_state(false);
    let mut c = Contract::migrate();
    assert_eq!(c.get_config().state_version, 3);
    let project = c.get_project("dev.near/app".into()).unwrap();
    assert_eq!(project.http_allowlist, vec!["api.example.com".to_owned()]);
    assert_eq!(project.grants, ProjectGrants::default());
    set(&ctx("dev.near", 0));
    c.set_project_grants("app".into(), ProjectGrants { storage: true, ..Default::default() });
    assert!(c.get_project("dev.near/app".into()).unwrap().grants.storage);
}

#[test]
#[should_panic(expected = "1 requests are pending: pause, let them settle, then migrate (their input is not in state)")]
fn a_state_with_pending_requests_is_not_migrated() {
    write_v2_state(true);
    Contract::migrate();
}
