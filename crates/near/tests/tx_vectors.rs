//! Our borsh layout, hashing and signing against transactions NEAR published: near-api-js's
//! serialization tests and the real testnet transaction of NEAR's `send_tx` documentation.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::data;
use outlayer_near::tx::{AccessKey, AccessKeyPermission, Action, PublicKey, SecretKey, SignedTransaction, Transaction};
use serde_json::Value;

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("missing {field}"))
}

fn block_hash(v: &Value) -> [u8; 32] {
    bs58::decode(text(v, "block_hash")).into_vec().unwrap().try_into().unwrap()
}

#[test]
fn transfer_matches_near_api_js_bytes_and_signature() {
    let v = &data("near-api-js-vectors.json")["transfer"];
    let key: SecretKey = text(v, "secret_key").parse().unwrap();
    let public_key: PublicKey = text(v, "public_key").parse().unwrap();
    assert_eq!(key.public_key(), public_key);
    let tx = Transaction {
        signer_id: text(v, "signer_id").into(),
        public_key,
        nonce: v["nonce"].as_u64().unwrap(),
        receiver_id: text(v, "receiver_id").into(),
        block_hash: block_hash(v),
        actions: vec![Action::Transfer { deposit: text(v, "transfer_deposit").parse().unwrap() }],
    };
    assert_eq!(hex::encode(tx.to_borsh()), text(v, "tx_hex"));

    let signed = tx.sign(&key);
    assert_eq!(BASE64.encode(signed.signature.as_bytes()), text(v, "signature_base64"));
    assert_eq!(hex::encode(signed.to_borsh()), text(v, "signed_hex"));
    assert!(signed.verify());

    let decoded = SignedTransaction::from_borsh(&hex::decode(text(v, "signed_hex")).unwrap()).unwrap();
    assert_eq!(decoded, signed);
    assert_eq!(SignedTransaction::from_base64(&signed.to_base64()).unwrap(), signed);
}

#[test]
fn every_action_tag_matches_near_api_js() {
    let v = &data("near-api-js-vectors.json")["multi_action"];
    let key: SecretKey = text(v, "secret_key").parse().unwrap();
    let pk = key.public_key();
    // The actions of near-api-js "serialize and sign multi-action tx", in its order.
    let actions = vec![
        Action::CreateAccount,
        Action::DeployContract { code: vec![1, 2, 3] },
        Action::FunctionCall { method_name: "qqq".into(), args: vec![1, 2, 3], gas: 1000, deposit: 1_000_000 },
        Action::Transfer { deposit: 123 },
        Action::Stake { stake: 1_000_000, public_key: pk },
        Action::AddKey {
            public_key: pk,
            access_key: AccessKey {
                nonce: 0,
                permission: AccessKeyPermission::FunctionCall {
                    allowance: None,
                    receiver_id: "zzz".into(),
                    method_names: vec!["www".into()],
                },
            },
        },
        Action::DeleteKey { public_key: pk },
        Action::DeleteAccount { beneficiary_id: "123".into() },
    ];
    let tx = Transaction {
        signer_id: text(v, "signer_id").into(),
        public_key: pk,
        nonce: v["nonce"].as_u64().unwrap(),
        receiver_id: text(v, "receiver_id").into(),
        block_hash: block_hash(v),
        actions,
    };
    assert_eq!(hex::encode(tx.to_borsh()), text(v, "tx_hex"));
    assert_eq!(bs58::encode(tx.hash()).into_string(), text(v, "hash_base58"));
    let decoded: Transaction = borsh::from_slice(&hex::decode(text(v, "tx_hex")).unwrap()).unwrap();
    assert_eq!(decoded, tx);
}

#[test]
fn the_documented_testnet_transaction_decodes_hashes_and_verifies() {
    let request = data("rpc/send_tx.request.json");
    let b64 = request["params"]["signed_tx_base64"].as_str().unwrap();
    // The node's own view of this transaction (same hash) in the documented `tx` answer.
    let seen = &data("rpc/tx_status.response.json")["result"]["transaction"];

    let signed = SignedTransaction::from_base64(b64).unwrap();
    assert_eq!(signed.hash_base58(), text(seen, "hash"));
    assert_eq!(signed.signature.to_string(), text(seen, "signature"));
    assert_eq!(signed.transaction.public_key.to_string(), text(seen, "public_key"));
    assert_eq!(signed.transaction.signer_id, text(seen, "signer_id"));
    assert_eq!(signed.transaction.receiver_id, text(seen, "receiver_id"));
    assert_eq!(signed.transaction.nonce, seen["nonce"].as_u64().unwrap());
    let deposit: u128 = text(&seen["actions"][0]["Transfer"], "deposit").parse().unwrap();
    assert_eq!(signed.transaction.actions, vec![Action::Transfer { deposit }]);
    assert!(signed.verify(), "NEAR accepted this signature");
    assert_eq!(signed.to_base64(), b64, "re-encoding gives the same bytes");
}

#[test]
fn a_flipped_byte_breaks_the_signature() {
    let request = data("rpc/send_tx.request.json");
    let bytes = BASE64.decode(request["params"]["signed_tx_base64"].as_str().unwrap()).unwrap();
    let original = SignedTransaction::from_borsh(&bytes).unwrap();

    let mut tampered = original.clone();
    tampered.transaction.nonce += 1;
    assert!(!tampered.verify(), "changed nonce");

    let mut tampered = original.clone();
    tampered.signature.0[10] ^= 0x01;
    assert!(!tampered.verify(), "changed signature");

    // A flipped bit in the serialized deposit still decodes, but no longer verifies.
    let deposit_at = bytes.len() - 65 - 16;
    let mut flipped = bytes.clone();
    flipped[deposit_at] ^= 0x01;
    let decoded = SignedTransaction::from_borsh(&flipped).unwrap();
    assert_ne!(decoded.transaction.actions, original.transaction.actions);
    assert!(!decoded.verify());
}

#[test]
fn truncated_or_unknown_bytes_do_not_decode() {
    let request = data("rpc/send_tx.request.json");
    let bytes = BASE64.decode(request["params"]["signed_tx_base64"].as_str().unwrap()).unwrap();
    assert!(SignedTransaction::from_borsh(&bytes[..bytes.len() - 1]).is_err());
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(SignedTransaction::from_borsh(&extra).is_err(), "trailing bytes are rejected");
    assert!(SignedTransaction::from_base64("not base64!").is_err());
}
