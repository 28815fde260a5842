//! On-chain requests with `secrets_ref`, end to end: the on-chain worker
//! (`outlayer_worker::near::NearWorker`) with a keystore link, the keystore served in process
//! (dev attestation allowed) reading the same local NEAR node as the worker, and the real
//! `secret-reader` guest.
//!
//! The node is `tests/common` (NEAR's recorded envelopes, `tests/data/PROVENANCE.md`) and, for
//! the keystore, the contract's `get_secrets` JSON (the shape of
//! `keystore/tests/data/get_secrets.response.json`, the contract's own output) holding a record
//! sealed here to the keystore's key for the project's accessor.

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use outlayer_attest::{Policy, seal};
use outlayer_host::{Runtime, RuntimeConfig};
use outlayer_keystore::chain::ContractReader;
use outlayer_keystore::derive::{HkdfDerivation, KeyDerivation, Purpose};
use outlayer_keystore::master::MasterSecret;
use outlayer_keystore::{Keystore, KeystoreConfig};
use outlayer_near::RpcClient;
use outlayer_protocol::DEV_MEASUREMENTS;
use outlayer_worker::Backends;
use outlayer_worker::evidence::QuoteSource;
use outlayer_worker::keys::KeystoreLink;
use outlayer_worker::near::{NearWorker, NearWorkerConfig};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

mod common;

use common::{CALLER, CONTRACT, Contract, Node, pending_request, secrets_key, serve, sha256_hex, with_input, worker_key};

/// The developer who stored the secrets, and their project.
const OWNER: &str = "dev.testnet";
const PROJECT: &str = "dev.testnet/app";
const MASTER: [u8; 32] = [0x42; 32];
const SECRET: &str = "s3cr3t-on-chain-4711";

/// A request of `PROJECT` (the contract's JSON, `common::pending_request`) asking for the
/// secrets of `OWNER` under `profile`, with `input`, as `get_request` answers it.
fn secrets_request(id: u64, url: &str, sha256: &str, profile: &str, input: &str) -> Value {
    let mut request = pending_request(id, url, sha256);
    request["source"]["project_id"] = json!(PROJECT);
    request["source"]["project_owner"] = json!(OWNER);
    request["secrets_ref"] = json!({"account_id": OWNER, "profile": profile});
    with_input(&request, input)
}

/// The contract's `StoredSecrets` JSON for `OWNER`'s record of `PROJECT` under `profile`:
/// `map` sealed to the keystore's key for the project (master [`MASTER`]) with the scope as
/// associated data, and `access`. Field names and the other fields are those of the contract's
/// `get_secrets` answer in `keystore/tests/data/get_secrets.response.json`.
fn stored_secrets(profile: &str, map: &Value, access: Value) -> Value {
    let derivation = HkdfDerivation::new(MasterSecret::from_bytes(MASTER));
    let public = seal::public_key(&derivation.derive(Purpose::Seal, &format!("project:{PROJECT}")));
    let sealed = seal::seal(&public, &format!("project:{PROJECT}|{OWNER}|{profile}"), &serde_json::to_vec(map).unwrap()).unwrap();
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../keystore/tests/data/get_secrets.response.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let bytes: Vec<u8> = serde_json::from_value(fixture["result"]["result"].clone()).unwrap();
    let mut record: Value = serde_json::from_slice(&bytes).unwrap();
    record["owner"] = json!(OWNER);
    record["accessor"] = json!({"project": {"project_id": PROJECT}});
    record["profile"] = json!(profile);
    record["encrypted_data"] = json!(BASE64.encode(sealed));
    record["access"] = access;
    record
}

/// The keystore (dev attestation allowed), reading the contract through `rpc_url`.
async fn keystore(rpc_url: &str) -> String {
    let config = KeystoreConfig {
        policy: Policy { allow_dev: true, ..Policy::new(vec![DEV_MEASUREMENTS]) },
        contract: Some(Arc::new(ContractReader::new(RpcClient::new(rpc_url), CONTRACT))),
        ..KeystoreConfig::default()
    };
    let keystore = Arc::new(Keystore::new(Arc::new(HkdfDerivation::new(MasterSecret::from_bytes(MASTER))), config));
    serve(outlayer_keystore::api::router(keystore)).await
}

async fn wasm_server(name: &'static str, bytes: Vec<u8>) -> String {
    format!("{}/{name}", common::wasm_server(vec![(name, bytes)]).await)
}

#[tokio::test]
async fn a_pending_requests_secret_reaches_the_guest_and_a_failed_condition_denies_it() -> Result<()> {
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::SECRET_READER);
    let url = wasm_server("secret-reader.wasm", wasm.clone()).await;
    let sha = sha256_hex(&wasm);
    let open = secrets_request(1, &url, &sha, "default", "\"API_KEY\"");
    let guarded = secrets_request(2, &url, &sha, "guarded", "\"API_KEY\"");
    let accessor = json!({"project": {"project_id": PROJECT}});
    let contract = Contract {
        pending: vec![open.clone(), guarded.clone()],
        requests: HashMap::from([(1, open), (2, guarded)]),
        secrets: HashMap::from([
            (
                secrets_key(OWNER, &accessor, "default"),
                stored_secrets("default", &json!({"API_KEY": SECRET}), json!({"type": "allow_all"})),
            ),
            (
                secrets_key(OWNER, &accessor, "guarded"),
                stored_secrets("guarded", &json!({"API_KEY": SECRET}), json!({"type": "whitelist", "accounts": ["someone-else.testnet"]})),
            ),
        ]),
        ..Contract::default()
    };
    let node = Node::start(contract).await;
    let rpc_url = node.url.clone();
    let keystore_url = keystore(&rpc_url).await;

    let key = Arc::new(SigningKey::from_bytes(&[9; 32]));
    let link = KeystoreLink::new(&keystore_url, key.clone(), QuoteSource::Dev)?;
    let backends = Backends::new((*key).clone()).with_keystore(link, None, None);
    let dir = tempfile::tempdir()?;
    let config = NearWorkerConfig::new(&rpc_url, CONTRACT, CONTRACT, worker_key(), dir.path().join("cursor.json"), dir.path().join("wasm"));
    let mut worker = NearWorker::new(config, Runtime::new(RuntimeConfig::default())?, backends)?;

    let mut report = worker.poll_once().await?;
    report.resolved.sort();
    assert_eq!(report.resolved, vec![1, 2], "{report:?}");
    let sent = node.resolutions();
    assert_eq!(sent.len(), 2);

    // The guest read the secret the keystore released for the project.
    let response = &sent[&1]["response"];
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["output"], json!({"Text": format!("\"{SECRET}\"")}), "{response}");

    // The other record's whitelist does not hold the caller: a failure naming the condition,
    // without running the guest.
    let response = &sent[&2]["response"];
    assert_eq!(response["success"], false, "{response}");
    assert_eq!(response["output"], Value::Null);
    let error = response["error"].as_str().unwrap();
    assert!(error.starts_with("access-denied: whitelist: "), "{error}");
    assert!(error.contains(CALLER), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    assert_eq!(response["resources_used"]["instructions"], 0, "never executed: {response}");

    // The keystore read each request and its record from the node itself.
    let views: Vec<(String, Value)> = node
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["params"]["method_name"] == "get_secrets")
        .map(|r| {
            let args: Value = serde_json::from_slice(&BASE64.decode(r["params"]["args_base64"].as_str().unwrap()).unwrap()).unwrap();
            (args["profile"].as_str().unwrap().to_owned(), args["accessor"].clone())
        })
        .collect();
    assert_eq!(views.len(), 2, "{views:?}");
    Ok(())
}
