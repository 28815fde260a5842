use near_sdk::json_types::{Base64VecU8, U128};
use near_sdk::serde_json::{self, json};

use super::*;

const ONE_NEAR: u128 = 1_000_000_000_000_000_000_000_000;

fn accessor() -> SecretAccessor {
    SecretAccessor::Project { project_id: "dev.near/app".into() }
}

fn condition() -> AccessCondition {
    AccessCondition::And {
        conditions: vec![
            AccessCondition::Or {
                conditions: vec![
                    AccessCondition::Whitelist { accounts: vec![acc("alice.near")] },
                    AccessCondition::AccountPattern { pattern: "*.dao.near".into() },
                ],
            },
            AccessCondition::NearBalance { min: U128(10) },
            AccessCondition::FtBalance { contract: acc("usdc.near"), min: U128(5) },
            AccessCondition::Not { condition: Box::new(AccessCondition::NftOwned { contract: acc("nft.near"), token_id: None }) },
        ],
    }
}

fn store(c: &mut Contract, deposit: u128, bytes: usize) -> U128 {
    set(&ctx("alice.near", deposit));
    c.store_secrets(accessor(), "default".into(), Base64VecU8(vec![7; bytes]), condition())
}

#[test]
fn storing_secrets_charges_the_bytes_and_refunds_the_rest() {
    let mut c = setup();
    let deposit = store(&mut c, ONE_NEAR, 100);
    // At least the ciphertext itself at 1e19 yoctoNEAR per byte.
    assert!(deposit.0 >= 100 * 10_000_000_000_000_000_000, "deposit {}", deposit.0);
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR - deposit.0)]);
    assert_eq!(
        event("secrets_stored"),
        json!({"owner": "alice.near", "accessor": {"project": {"project_id": "dev.near/app"}},
               "profile": "default", "storage_deposit": deposit.0.to_string()})
    );
    let stored = c.get_secrets(acc("alice.near"), accessor(), "default".into()).unwrap();
    assert_eq!(stored.storage_deposit, deposit);
    assert_eq!(stored.access, condition());
    assert_eq!(c.list_secrets(acc("alice.near")).len(), 1);
}

#[test]
fn condition_tree_has_a_stable_json_shape() {
    let value = serde_json::to_value(condition()).unwrap();
    assert_eq!(value["type"], "and");
    assert_eq!(value["conditions"][0]["conditions"][1], json!({"type": "account_pattern", "pattern": "*.dao.near"}));
    assert_eq!(value["conditions"][3]["condition"]["type"], "nft_owned");
}

#[test]
fn bigger_ciphertext_costs_more_and_replacement_reuses_the_deposit() {
    let mut c = setup();
    let small = store(&mut c, ONE_NEAR, 100);
    let big = store(&mut c, ONE_NEAR, 1100);
    assert_eq!(big.0 - small.0, 1000 * 10_000_000_000_000_000_000);
    // The old deposit came back as part of the refund.
    assert_eq!(transfers(), vec![("alice.near".to_string(), ONE_NEAR + small.0 - big.0)]);
    assert_eq!(c.list_secrets(acc("alice.near")).len(), 1);
}

#[test]
#[should_panic(expected = "Attached deposit 1 yoctoNEAR does not cover the storage cost")]
fn storing_without_enough_deposit_fails() {
    let mut c = setup();
    store(&mut c, 1, 100);
}

#[test]
fn deleting_secrets_refunds_the_deposit() {
    let mut c = setup();
    let deposit = store(&mut c, ONE_NEAR, 100);
    set(&ctx("alice.near", 0));
    assert_eq!(c.delete_secrets(accessor(), "default".into()), deposit);
    assert_eq!(transfers(), vec![("alice.near".to_string(), deposit.0)]);
    assert_eq!(event("secrets_deleted")["refund"], deposit.0.to_string());
    assert!(c.get_secrets(acc("alice.near"), accessor(), "default".into()).is_none());
    assert!(c.list_secrets(acc("alice.near")).is_empty());
}

#[test]
#[should_panic(expected = "Secrets not found")]
fn others_cannot_delete_secrets() {
    let mut c = setup();
    store(&mut c, ONE_NEAR, 100);
    set(&ctx("mallory.near", 0));
    c.delete_secrets(accessor(), "default".into());
}

#[test]
#[should_panic(expected = "Access condition is deeper than 6 levels")]
fn deep_conditions_are_refused() {
    let mut c = setup();
    let mut cond = AccessCondition::AllowAll;
    for _ in 0..6 {
        cond = AccessCondition::Not { condition: Box::new(cond) };
    }
    set(&ctx("alice.near", ONE_NEAR));
    c.store_secrets(accessor(), "default".into(), Base64VecU8(vec![1]), cond);
}

#[test]
#[should_panic(expected = "Access condition has more than 32 nodes")]
fn wide_conditions_are_refused() {
    let mut c = setup();
    let cond = AccessCondition::Or { conditions: vec![AccessCondition::AllowAll; 32] };
    set(&ctx("alice.near", ONE_NEAR));
    c.store_secrets(accessor(), "default".into(), Base64VecU8(vec![1]), cond);
}

#[test]
#[should_panic(expected = "A whitelist holds 1 to 100 accounts")]
fn empty_whitelists_are_refused() {
    let mut c = setup();
    set(&ctx("alice.near", ONE_NEAR));
    c.store_secrets(accessor(), "default".into(), Base64VecU8(vec![1]), AccessCondition::Whitelist { accounts: vec![] });
}

#[test]
#[should_panic(expected = "Encrypted data must be 1 to 16384 bytes")]
fn oversized_ciphertext_is_refused() {
    let mut c = setup();
    store(&mut c, ONE_NEAR, 16385);
}

#[test]
fn requests_may_reference_stored_secrets() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "11".repeat(32), "https://x.org/1.wasm".into(), None);
    store(&mut c, ONE_NEAR, 10);
    set(&ctx("alice.near", ONE_NEAR));
    let secrets = SecretsRef { account_id: acc("alice.near"), profile: "default".into() };
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None },
        None,
        None,
        Some(secrets),
        None,
        None,
        None,
    );
    assert_eq!(request_data()["secrets_ref"], json!({"account_id": "alice.near", "profile": "default"}));
}

#[test]
fn get_secrets_finds_only_the_exact_owner_accessor_and_profile() {
    let mut c = setup();
    store(&mut c, ONE_NEAR, 10);
    let wasm = |sha: &str| SecretAccessor::Wasm { sha256: sha.into() };
    set(&ctx("alice.near", ONE_NEAR));
    c.store_secrets(wasm(&"AB".repeat(32)), "prod".into(), Base64VecU8(vec![1, 2, 3]), AccessCondition::AllowAll);
    set(&ctx("anyone.near", 0));
    let found = c.get_secrets(acc("alice.near"), accessor(), "default".into()).unwrap();
    assert_eq!((found.owner, found.accessor, found.profile.as_str()), (acc("alice.near"), accessor(), "default"));
    assert_eq!(found.encrypted_data.0, vec![7; 10]);
    assert_eq!(found.access, condition());
    // Stored lowercase, found whatever the case of the sha256 asked for.
    for sha in ["ab".repeat(32), "AB".repeat(32)] {
        let record = c.get_secrets(acc("alice.near"), wasm(&sha), "prod".into()).unwrap();
        assert_eq!((record.accessor, record.encrypted_data.0), (wasm(&"ab".repeat(32)), vec![1, 2, 3]));
    }
    assert!(c.get_secrets(acc("bob.near"), accessor(), "default".into()).is_none());
    assert!(c.get_secrets(acc("alice.near"), accessor(), "prod".into()).is_none());
    assert!(c.get_secrets(acc("alice.near"), SecretAccessor::Project { project_id: "dev.near/other".into() }, "default".into()).is_none());
    assert!(c.get_secrets(acc("alice.near"), wasm(&"ab".repeat(32)), "default".into()).is_none());
}

/// The keystore decodes `get_secrets` and `get_request` from these answers
/// (`keystore/tests/data`); the fields it reads must be the contract's JSON.
#[test]
fn the_keystores_view_fixtures_are_this_contracts_json() {
    fn fixture(name: &str, text: &str) -> serde_json::Value {
        let answer: serde_json::Value = serde_json::from_str(text).unwrap();
        let bytes: Vec<u8> = serde_json::from_value(answer["result"]["result"].clone()).unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "11".repeat(32), "https://x.org/1.wasm".into(), None);
    store(&mut c, ONE_NEAR, 10);
    set(&ctx("alice.near", ONE_NEAR));
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None },
        None,
        None,
        Some(SecretsRef { account_id: acc("alice.near"), profile: "default".into() }),
        None,
        None,
        None,
    );
    let id = c.get_config().next_request_id - 1;

    let secrets = serde_json::to_value(c.get_secrets(acc("alice.near"), accessor(), "default".into())).unwrap();
    let expected = fixture("get_secrets", include_str!("../../../../keystore/tests/data/get_secrets.response.json"));
    for field in ["owner", "accessor", "profile", "encrypted_data", "access"] {
        assert_eq!(secrets[field], expected[field], "get_secrets {field}");
    }
    let request = serde_json::to_value(c.get_request(id)).unwrap();
    let expected = fixture("get_request", include_str!("../../../../keystore/tests/data/get_request.response.json"));
    for field in ["request_id", "sender_id", "secrets_ref", "resolved"] {
        assert_eq!(request[field], expected[field], "get_request {field}");
    }
    for field in ["project_id", "wasm_sha256"] {
        assert_eq!(request["source"][field], expected["source"][field], "get_request source.{field}");
    }
    let absent = fixture("view_null", include_str!("../../../../keystore/tests/data/view_null.response.json"));
    assert_eq!(serde_json::to_value(c.get_request(id + 1)).unwrap(), absent);
    assert_eq!(serde_json::to_value(c.get_secrets(acc("bob.near"), accessor(), "default".into())).unwrap(), absent);
}
