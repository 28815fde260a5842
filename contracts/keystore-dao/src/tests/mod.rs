//! Unit tests with the real dcap-qvl sample quote, verified at its fixed time.

use near_sdk::serde_json::{self, Value, json};
use near_sdk::test_utils::{VMContextBuilder, get_logs};
use near_sdk::{AccountId, testing_env};
use outlayer_contracts_common::testdata::*;

use crate::*;

const OWNER: &str = "owner.near";

fn acc(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn as_(predecessor: &str) {
    let mut c = VMContextBuilder::new();
    c.current_account_id(acc("keystore-dao.near")).predecessor_account_id(acc(predecessor)).block_timestamp(VERIFY_AT_NANOS);
    testing_env!(c.build());
}

/// A DAO with members a, b, c, the sample collateral and measurements.
fn setup() -> KeystoreDao {
    as_(OWNER);
    let mut dao = KeystoreDao::new(acc(OWNER), vec![acc("a.near"), acc("b.near"), acc("c.near")]);
    dao.set_collateral(COLLATERAL_JSON.to_string());
    dao.add_approved_measurements(sample_measurements());
    dao
}

fn events(name: &str) -> Vec<Value> {
    get_logs()
        .iter()
        .filter_map(|l| l.strip_prefix("EVENT_JSON:"))
        .map(|j| serde_json::from_str::<Value>(j).unwrap())
        .filter(|e| e["event"] == name && e["standard"] == "outlayer" && e["version"] == "1.0.0")
        .map(|e| e["data"].clone())
        .collect()
}

fn propose(dao: &mut KeystoreDao) -> u64 {
    as_("a.near");
    dao.propose_keystore(sample_bound_key(), quote_hex())
}

#[test]
fn a_verified_keystore_is_admitted_by_majority() {
    let mut dao = setup();
    let id = propose(&mut dao);
    assert_eq!(id, 0);
    assert_eq!(
        events("proposal_created"),
        vec![json!({
            "proposal_id": 0,
            "proposer": "a.near",
            "kind": {"register_keystore": {
                "public_key": sample_bound_key().to_string(),
                "measurements": serde_json::to_value(sample_measurements()).unwrap(),
            }},
        })]
    );
    assert_eq!(dao.vote(0, true), ProposalStatus::Open);
    assert!(!dao.is_keystore_approved(sample_bound_key()));
    as_("b.near");
    assert_eq!(dao.vote(0, true), ProposalStatus::Executed);
    assert_eq!(events("vote_cast"), vec![json!({"proposal_id": 0, "member": "b.near", "approve": true})]);
    assert_eq!(events("proposal_executed"), vec![json!({"proposal_id": 0})]);
    assert_eq!(events("keystore_registered").len(), 1);
    assert!(dao.is_keystore_approved(sample_bound_key()));
    assert_eq!(dao.get_keystores()[0].1.proposal_id, 0);
}

#[test]
fn two_votes_against_reject_the_proposal() {
    let mut dao = setup();
    propose(&mut dao);
    as_("b.near");
    assert_eq!(dao.vote(0, false), ProposalStatus::Open);
    as_("c.near");
    assert_eq!(dao.vote(0, false), ProposalStatus::Rejected);
    assert_eq!(events("proposal_rejected"), vec![json!({"proposal_id": 0})]);
    assert!(!dao.is_keystore_approved(sample_bound_key()));
    assert_eq!(dao.get_proposal(0).unwrap().status, ProposalStatus::Rejected);
}

#[test]
#[should_panic(expected = "Already voted")]
fn members_vote_once() {
    let mut dao = setup();
    propose(&mut dao);
    dao.vote(0, true);
    dao.vote(0, true);
}

#[test]
#[should_panic(expected = "Proposal 0 is closed")]
fn closed_proposals_take_no_votes() {
    let mut dao = setup();
    propose(&mut dao);
    dao.vote(0, true);
    as_("b.near");
    dao.vote(0, true);
    as_("c.near");
    dao.vote(0, true);
}

#[test]
#[should_panic(expected = "Only DAO members can call this method")]
fn outsiders_cannot_vote() {
    let mut dao = setup();
    propose(&mut dao);
    as_("mallory.near");
    dao.vote(0, true);
}

#[test]
#[should_panic(expected = "Only DAO members can call this method")]
fn outsiders_cannot_propose() {
    let mut dao = setup();
    as_("mallory.near");
    dao.propose_keystore(sample_bound_key(), quote_hex());
}

#[test]
#[should_panic(expected = "Quote verification failed")]
fn tampered_quotes_cannot_be_proposed() {
    let mut dao = setup();
    as_("a.near");
    dao.propose_keystore(sample_bound_key(), tampered_quote_hex());
}

#[test]
#[should_panic(expected = "Measurements are not approved")]
fn unapproved_measurements_cannot_be_proposed() {
    let mut dao = setup();
    as_(OWNER);
    dao.remove_approved_measurements(sample_measurements());
    propose(&mut dao);
}

#[test]
#[should_panic(expected = "report_data does not bind the public key")]
fn unbound_keys_cannot_be_proposed() {
    let mut dao = setup();
    as_("a.near");
    dao.propose_keystore(unbound_key(), quote_hex());
}

#[test]
fn an_admitted_keystore_is_revoked_by_vote() {
    let mut dao = setup();
    propose(&mut dao);
    dao.vote(0, true);
    as_("b.near");
    dao.vote(0, true);
    let id = dao.propose_revocation(sample_bound_key());
    assert_eq!(id, 1);
    dao.vote(1, true);
    as_("c.near");
    assert_eq!(dao.vote(1, true), ProposalStatus::Executed);
    assert_eq!(events("keystore_revoked"), vec![json!({"public_key": sample_bound_key().to_string()})]);
    assert!(!dao.is_keystore_approved(sample_bound_key()));
    assert_eq!(dao.list_proposals(None, None).len(), 2);
}

#[test]
#[should_panic(expected = "Keystore is not registered")]
fn unknown_keystores_cannot_be_revoked() {
    let mut dao = setup();
    as_("a.near");
    dao.propose_revocation(sample_bound_key());
}

#[test]
#[should_panic(expected = "Keystore is already registered")]
fn admitted_keystores_cannot_be_proposed_again() {
    let mut dao = setup();
    propose(&mut dao);
    dao.vote(0, true);
    as_("b.near");
    dao.vote(0, true);
    dao.propose_keystore(sample_bound_key(), quote_hex());
}

#[test]
fn a_single_member_dao_decides_alone() {
    as_(OWNER);
    let mut dao = KeystoreDao::new(acc(OWNER), vec![acc("a.near")]);
    dao.set_collateral(COLLATERAL_JSON.to_string());
    dao.add_approved_measurements(sample_measurements());
    propose(&mut dao);
    assert_eq!(dao.vote(0, true), ProposalStatus::Executed);
}

#[test]
fn a_new_member_raises_the_majority() {
    let mut dao = setup();
    as_(OWNER);
    dao.add_member(acc("d.near"));
    assert_eq!(events("members_changed")[0]["members"].as_array().unwrap().len(), 4);
    propose(&mut dao);
    dao.vote(0, true);
    as_("b.near");
    // 2 of 4 is not a majority.
    assert_eq!(dao.vote(0, true), ProposalStatus::Open);
    as_("d.near");
    assert_eq!(dao.vote(0, true), ProposalStatus::Executed);
}

#[test]
#[should_panic(expected = "The DAO needs at least one member")]
fn the_last_member_stays() {
    as_(OWNER);
    let mut dao = KeystoreDao::new(acc(OWNER), vec![acc("a.near")]);
    dao.remove_member(acc("a.near"));
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn only_the_owner_manages_members() {
    let mut dao = setup();
    as_("a.near");
    dao.add_member(acc("a2.near"));
}

#[test]
#[should_panic(expected = "No collateral stored: the owner must call set_collateral")]
fn proposals_need_collateral() {
    as_(OWNER);
    let mut dao = KeystoreDao::new(acc(OWNER), vec![acc("a.near")]);
    propose(&mut dao);
}

#[test]
fn a_removed_member_lowers_the_majority_and_loses_the_vote() {
    let mut dao = setup();
    propose(&mut dao);
    as_(OWNER);
    dao.remove_member(acc("c.near"));
    assert_eq!(events("members_changed"), vec![json!({"members": ["a.near", "b.near"]})]);
    as_("a.near");
    // 1 of 2 is not a majority.
    assert_eq!(dao.vote(0, true), ProposalStatus::Open);
    as_("b.near");
    assert_eq!(dao.vote(0, true), ProposalStatus::Executed);
    assert_eq!(dao.get_members(), vec![acc("a.near"), acc("b.near")]);
}

#[test]
#[should_panic(expected = "Only DAO members can call this method")]
fn removed_members_cannot_vote() {
    let mut dao = setup();
    propose(&mut dao);
    as_(OWNER);
    dao.remove_member(acc("c.near"));
    as_("c.near");
    dao.vote(0, true);
}

#[test]
#[should_panic(expected = "Only the owner can call this method")]
fn only_the_owner_sets_collateral() {
    let mut dao = setup();
    as_("a.near");
    dao.set_collateral(COLLATERAL_JSON.to_string());
}

#[test]
fn approved_measurements_are_listed() {
    let dao = setup();
    assert_eq!(dao.get_approved_measurements(), vec![sample_measurements()]);
}
