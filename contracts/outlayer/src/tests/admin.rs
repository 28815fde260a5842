use near_sdk::json_types::U128;
use near_sdk::serde_json::json;

use super::*;

#[test]
fn owner_adds_a_worker_key_with_a_resolve_only_access_key() {
    let mut c = setup();
    c.add_worker_key(worker_key());
    assert_eq!(event("worker_key_added"), json!({"public_key": worker_key().to_string()}));
    let added: Vec<_> = get_created_receipts()
        .into_iter()
        .flat_map(|r| {
            let receiver = r.receiver_id.clone();
            r.actions.into_iter().filter_map(move |a| match a {
                MockAction::AddKeyWithFunctionCall { receiver_id, method_names, .. } => {
                    Some((receiver.to_string(), receiver_id.to_string(), method_names))
                }
                _ => None,
            })
        })
        .collect();
    assert_eq!(added, vec![(CONTRACT.into(), CONTRACT.into(), vec!["resolve_execution".to_string()])]);
    assert!(c.is_worker_key(worker_key()));
    assert_eq!(c.get_worker_keys(), vec![worker_key()]);
}

#[test]
fn register_contract_may_add_and_remove_keys() {
    let mut c = setup();
    c.set_register_account(Some(acc("register.near")));
    set(&ctx("register.near", 0));
    c.add_worker_key(worker_key());
    c.remove_worker_key(worker_key());
    assert_eq!(event("worker_key_removed"), json!({"public_key": worker_key().to_string()}));
    assert!(get_created_receipts().iter().any(|r| { r.actions.iter().any(|a| matches!(a, MockAction::DeleteKey { .. })) }));
    assert!(!c.is_worker_key(worker_key()));
}

#[test]
#[should_panic(expected = "Only the owner or the register contract can manage worker keys")]
fn strangers_cannot_add_worker_keys() {
    let mut c = setup();
    set(&ctx("mallory.near", 0));
    c.add_worker_key(worker_key());
}

#[test]
#[should_panic(expected = "Worker key is already registered")]
fn worker_keys_are_added_once() {
    let mut c = setup_with_worker();
    c.add_worker_key(worker_key());
}

#[test]
#[should_panic(expected = "Worker key is not registered")]
fn removing_an_unknown_key_fails() {
    let mut c = setup();
    c.remove_worker_key(worker_key());
}

#[test]
fn pause_and_unpause_emit_events() {
    let mut c = setup();
    c.pause();
    assert_eq!(event("paused"), json!({"by": OWNER}));
    assert!(c.get_config().paused);
    set(&ctx(OWNER, 0));
    c.unpause();
    assert_eq!(event("unpaused"), json!({"by": OWNER}));
    request(&mut c, "alice.near", DEFAULT_ESTIMATE);
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn strangers_cannot_pause() {
    let mut c = setup();
    set(&ctx("mallory.near", 0));
    c.pause();
}

#[test]
fn new_pricing_changes_the_estimate() {
    let mut c = setup();
    let pricing = Pricing { base_fee: U128(10), per_million_instructions: U128(2), per_ms: U128(1) };
    c.set_pricing(pricing.clone());
    assert_eq!(event("pricing_updated"), json!({"pricing": {"base_fee": "10", "per_million_instructions": "2", "per_ms": "1"}}));
    // 10 + 1000 × 2 + 60_000 × 1
    assert_eq!(c.estimate_cost(None), U128(62_010));
    assert_eq!(c.get_config().pricing, pricing);
}

#[test]
fn ownership_moves() {
    let mut c = setup();
    c.set_owner(acc("new.near"));
    assert_eq!(event("owner_changed"), json!({"old_owner": OWNER, "new_owner": "new.near"}));
    set(&ctx("new.near", 0));
    c.pause();
    assert_eq!(c.get_config().owner_id, acc("new.near"));
}

#[test]
#[should_panic(expected = "Stale timeout must be at least 300 seconds (the yield timeout)")]
fn stale_timeout_has_a_floor() {
    let mut c = setup();
    c.set_stale_timeout(10);
}

#[test]
fn config_reports_limits_and_state_version() {
    let c = setup();
    let config = c.get_config();
    assert_eq!(config.state_version, STATE_VERSION);
    assert_eq!(config.max_instructions_cap, 500_000_000_000);
    assert_eq!(config.default_max_memory_mb, 128);
    assert_eq!(config.max_execution_seconds_cap, 180);
    assert_eq!(config.stale_timeout_secs, 900);
}

#[test]
fn a_shorter_stale_window_allows_earlier_cancellation() {
    let mut c = setup();
    c.set_stale_timeout(300);
    assert_eq!(c.get_config().stale_timeout_secs, 300);
    request(&mut c, "alice.near", DEFAULT_ESTIMATE);
    let mut later = ctx("bob.near", 0);
    later.block_timestamp(NOW_NS + 300 * 1_000_000_000);
    set(&later);
    assert_eq!(c.cancel_stale_request(0), U128(DEFAULT_ESTIMATE));
}

#[test]
#[should_panic(expected = "Only the owner or the register contract can manage worker keys")]
fn strangers_cannot_remove_worker_keys() {
    let mut c = setup_with_worker();
    set(&ctx("mallory.near", 0));
    c.remove_worker_key(worker_key());
}
