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
    assert_eq!((config.state_version, config.next_request_id, config.platform_fees.0), (2, 7, 3));
    let project = c.get_project("dev.near/app".into()).unwrap();
    assert_eq!(project.active_version, Some("aa".repeat(32)));
    assert!(project.http_allowlist.is_empty());
    set(&ctx("dev.near", ONE_NEAR));
    c.set_project_http_allowlist("app".into(), vec!["api.example.com".into()]);
    assert_eq!(c.get_project("dev.near/app".into()).unwrap().http_allowlist, vec!["api.example.com".to_owned()]);
}

#[test]
#[should_panic(expected = "The state is already at version 2")]
fn a_current_state_is_not_migrated_again() {
    set(&ctx(CONTRACT, 0));
    near_sdk::env::state_write(&Contract::new(acc(OWNER)));
    Contract::migrate();
}
