use near_sdk::json_types::U128;
use near_sdk::serde_json::json;

use super::*;

const CENT: u128 = 10_000_000_000_000_000_000_000;

#[test]
fn top_ups_accumulate_and_emit_an_event() {
    let mut c = setup();
    set(&ctx("alice.near", CENT));
    assert_eq!(c.top_up_payment_key(acc("alice.near"), 3), U128(CENT));
    set(&ctx("bob.near", 2 * CENT));
    assert_eq!(c.top_up_payment_key(acc("alice.near"), 3), U128(3 * CENT));
    assert_eq!(
        event("payment_key_topped_up"),
        json!({"owner": "alice.near", "nonce": 3, "amount": (2 * CENT).to_string(),
               "balance": (3 * CENT).to_string(), "payer": "bob.near"})
    );
    assert_eq!(c.get_payment_key_balance(acc("alice.near"), 3), U128(3 * CENT));
    assert_eq!(c.get_payment_key_balance(acc("alice.near"), 4), U128(0));
}

#[test]
#[should_panic(expected = "Top-up must be at least 10000000000000000000000 yoctoNEAR (0.01 NEAR)")]
fn tiny_top_ups_are_refused() {
    let mut c = setup();
    set(&ctx("alice.near", CENT - 1));
    c.top_up_payment_key(acc("alice.near"), 0);
}

#[test]
#[should_panic(expected = "No developer earnings to withdraw")]
fn withdrawing_nothing_fails() {
    let mut c = setup();
    set(&ctx("dev.near", 0));
    c.withdraw_developer_earnings();
}

#[test]
fn owner_withdraws_collected_fees() {
    let mut c = setup();
    request(&mut c, "alice.near", CENT);
    set(&ctx(CONTRACT, 0));
    c.on_execution_resolved(0, Err(near_sdk::PromiseError::Failed));
    set(&ctx(OWNER, 0));
    assert_eq!(c.withdraw_platform_fees(None, Some(acc("treasury.near"))), U128(BASE_FEE));
    assert_eq!(transfers(), vec![("treasury.near".to_string(), BASE_FEE)]);
    assert_eq!(event("platform_fees_withdrawn"), json!({"receiver": "treasury.near", "amount": BASE_FEE.to_string()}));
    assert_eq!(c.get_config().platform_fees, U128(0));
}

#[test]
#[should_panic(expected = "Amount must be between 1 and 0 yoctoNEAR")]
fn fees_cannot_be_overdrawn() {
    let mut c = setup();
    c.withdraw_platform_fees(Some(U128(1)), None);
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn only_the_owner_withdraws_fees() {
    let mut c = setup();
    set(&ctx("alice.near", 0));
    c.withdraw_platform_fees(None, None);
}

#[test]
fn the_owner_sets_the_payment_rate() {
    let mut c = setup();
    assert_eq!(c.get_payment_rate(), U128(0), "not set");
    set(&ctx(OWNER, 0));
    c.set_payment_rate(U128(3_500_000));
    assert_eq!(event("payment_rate_set"), json!({"micro_usd_per_near": "3500000"}));
    assert_eq!(c.get_payment_rate(), U128(3_500_000));
    assert_eq!(c.get_config().payment_rate, U128(3_500_000));
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn only_the_owner_sets_the_payment_rate() {
    let mut c = setup();
    set(&ctx("alice.near", 0));
    c.set_payment_rate(U128(1));
}
