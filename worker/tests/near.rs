//! The on-chain worker (`outlayer_worker::near`) against a local NEAR node (`tests/common`) that
//! answers with NEAR's recorded RPC responses (`crates/near/tests/data/rpc`) and, for the
//! contract's views, the same recorded envelopes holding what the OutLayer contract returns
//! (`tests/data/PROVENANCE.md`; the request JSON is `outlayer-contract`'s own). Guests are real components run by the real
//! host through the worker loop (`NearWorker::poll_once`: one poll of the `NearSource`, then
//! `run_with_source` until its requests are handled); wasm is served by a local HTTP server.

use anyhow::Result;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use outlayer_host::{Runtime, RuntimeConfig};
use outlayer_near::tx::{Action, SignedTransaction};
use outlayer_protocol::job::ExecutionKind;
use outlayer_protocol::receipt::SignedReceipt;
use outlayer_protocol::{Capability, JobSource};
use outlayer_worker::Backends;
use outlayer_worker::near::cursor::Cursor;
use outlayer_worker::near::execute;
use outlayer_worker::near::tx_receipt::fetch_resolution;
use outlayer_worker::near::types::{ExecutionOutput, ExecutionResponse, PendingRequest, ResponseFormat};
use outlayer_worker::near::{NearGrants, NearSource, NearWorker, NearWorkerConfig, run_near_worker};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

mod common;

use common::{
    CALLER, CONTRACT, Contract, Node, final_block, final_height, pending_request, recorded, serve, sha256_hex, wasm_server, with_input,
    worker_key,
};

const INPUT: &str = "hello near";

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

fn config(node: &Node, dir: &Path) -> NearWorkerConfig {
    NearWorkerConfig::new(node.url.clone(), CONTRACT, CONTRACT, worker_key(), dir.join("cursor.json"), dir.join("wasm"))
}

fn backends() -> Backends {
    Backends::new(ed25519_dalek::SigningKey::from_bytes(&[9; 32]))
}

/// A node with one pending request for the ECHO guest served at `url`.
async fn echo_request_node(wasm_url: &str, sha256: &str) -> Node {
    Node::start(Contract::with_requests(&[pending_request(0, wasm_url, sha256)], INPUT)).await
}

/// The `resolve_execution` call inside a sent transaction, after checking who signed it.
fn resolve_call(signed_base64: &str) -> Value {
    let signed = SignedTransaction::from_base64(signed_base64).unwrap();
    assert!(signed.verify(), "the signature verifies with the transaction's public key");
    let tx = &signed.transaction;
    assert_eq!(tx.public_key, worker_key().public_key());
    assert_eq!(tx.signer_id, CONTRACT, "signed by the account holding the worker's function-call key");
    assert_eq!(tx.receiver_id, CONTRACT);
    let recorded_nonce = recorded("rpc/view_access_key.response.json")["result"]["nonce"].as_u64().unwrap();
    assert_eq!(tx.nonce, recorded_nonce + 1);
    let block_hash = final_block()["result"]["header"]["hash"].as_str().unwrap().to_owned();
    assert_eq!(bs58::encode(tx.block_hash).into_string(), block_hash);
    let [Action::FunctionCall { method_name, args, deposit, .. }] = tx.actions.as_slice() else {
        panic!("one function call: {:?}", tx.actions)
    };
    assert_eq!(method_name, "resolve_execution");
    assert_eq!(*deposit, 0);
    serde_json::from_slice(args).unwrap()
}

fn echo_wasm() -> Vec<u8> {
    outlayer_guest_artifacts::read(outlayer_guest_artifacts::ECHO)
}

#[tokio::test]
async fn request_is_discovered_executed_and_resolved() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;

    let report = worker.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    assert_eq!(report.block_height, final_height());

    let sent = node.sent_txs();
    assert_eq!(sent.len(), 1);
    let call = resolve_call(&sent[0]);
    assert_eq!(call["request_id"], 0);
    let response = &call["response"];
    assert_eq!(response["success"], true);
    assert_eq!(response["output"], json!({"Text": INPUT}), "the guest's output: ECHO prints its input");
    assert_eq!(response["error"], Value::Null);
    assert!(response["resources_used"]["instructions"].as_u64().unwrap() > 0);

    // The run's signed receipt goes with it, signed by the key signing the transaction (the
    // loop's key, `backends()`, is another one: the near source signs the same fields again).
    let receipt: SignedReceipt = serde_json::from_value(call["receipt"].clone())?;
    receipt.verify()?;
    assert_eq!(receipt.public_key, hex::encode(worker_key().public_key().as_bytes()));
    let r = &receipt.receipt;
    assert_eq!((r.call_id.as_str(), r.project.as_str(), r.outcome.as_str()), ("0", "", "ok"));
    assert_eq!(r.wasm_sha256, sha256_hex(&wasm));
    assert_eq!((r.input_sha256.clone(), r.output_sha256.clone()), (sha256_hex(INPUT.as_bytes()), sha256_hex(INPUT.as_bytes())));
    let used = &response["resources_used"];
    assert_eq!((r.instructions, r.wall_ms), (used["instructions"].as_u64().unwrap(), used["time_ms"].as_u64().unwrap()));
    assert_eq!((r.max_instructions, r.max_memory_mb, r.max_execution_seconds, r.refund), (1_000_000_000, 128, 60, 0));
    assert_eq!(r.worker_id, format!("near:{CONTRACT}:{}", worker_key().public_key()));

    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert_eq!(cursor.block_height, final_height());
    assert!(cursor.done.contains(&0));
    assert!(cursor.resolving.is_empty());
    Ok(())
}

#[tokio::test]
async fn restarted_worker_does_not_resolve_the_same_request_twice() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let first = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(first.resolved, vec![0]);

    // The node still lists the request (its callback has not run yet); a new process with the
    // same cursor file polls again.
    let mut restarted = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;
    let second = restarted.poll_once().await?;
    assert!(second.resolved.is_empty() && second.confirmed.is_empty(), "{second:?}");
    assert_eq!(node.sent_txs().len(), 1, "one resolution in total");
    assert_eq!(node.views_of("get_request"), 1, "the restarted worker did not look the request up again");
    Ok(())
}

#[tokio::test]
async fn failed_send_is_retried_with_the_identical_signed_transaction() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    node.contract.lock().unwrap().failing_sends = 1;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;

    let first = worker.poll_once().await?;
    assert_eq!(first.in_flight, vec![0]);
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    let stored = cursor.resolving.get(&0).expect("the signed transaction was persisted").clone();
    assert_eq!(node.sent_txs(), vec![stored.signed_tx_base64.clone()]);

    // A restart in between changes nothing: the persisted bytes are what is sent again.
    let mut restarted = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;
    let second = restarted.poll_once().await?;
    assert_eq!(second.resolved, vec![0]);
    let sent = node.sent_txs();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1], sent[0], "the retry sends the same signed bytes (same nonce, same hash)");
    assert_eq!(SignedTransaction::from_base64(&sent[1])?.hash_base58(), stored.tx_hash);
    assert_eq!(node.views_of("get_request"), 2, "read when leased, then once before the same bytes went out again");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert!(cursor.resolving.is_empty() && cursor.done.contains(&0));
    Ok(())
}

#[tokio::test]
async fn stale_nonce_drops_the_transaction_and_a_waiting_request_is_handled_again() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    node.contract.lock().unwrap().stale_sends = 1;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;

    // The nonce was spent by another transaction of the key: these bytes will never apply,
    // and InvalidNonce alone does not say the request was resolved.
    let first = worker.poll_once().await?;
    assert!(first.resolved.is_empty() && first.in_flight.is_empty(), "{first:?}");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert!(cursor.resolving.is_empty() && !cursor.done.contains(&0), "{cursor:?}");

    // The final state still shows it waiting: it is handled again.
    let second = worker.poll_once().await?;
    assert_eq!(second.resolved, vec![0]);
    assert_eq!(node.sent_txs().len(), 2);
    Ok(())
}

#[tokio::test]
async fn in_flight_resolution_of_a_settled_request_is_not_sent_again() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    node.contract.lock().unwrap().failing_sends = 1;
    let dir = tempfile::tempdir()?;
    let first = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(first.in_flight, vec![0]);

    // The transaction did land: the request is settled and gone (get_request → null).
    {
        let mut contract = node.contract.lock().unwrap();
        contract.pending.clear();
        contract.requests.clear();
    }
    let second = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(second.confirmed, vec![0]);
    assert_eq!(node.sent_txs().len(), 1, "nothing re-sent for a settled request");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert!(cursor.resolving.is_empty());
    assert!(cursor.done.is_empty(), "ids the contract no longer lists are forgotten");
    Ok(())
}

#[tokio::test]
async fn wasm_not_matching_its_sha256_is_refused_and_resolved_as_a_failure() -> Result<()> {
    let echo = echo_wasm();
    let other = outlayer_guest_artifacts::read(outlayer_guest_artifacts::COUNTER);
    let server = wasm_server(vec![("echo.wasm", other.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&echo)).await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);

    let call = resolve_call(&node.sent_txs()[0]);
    let response = &call["response"];
    assert_eq!(response["success"], false);
    assert_eq!(response["output"], Value::Null);
    let error = response["error"].as_str().unwrap();
    assert!(error.contains(&format!("has sha256 {}, expected {}", sha256_hex(&other), sha256_hex(&echo))), "{error}");
    assert!(error.contains("not executed"), "{error}");
    assert_eq!(response["resources_used"]["instructions"], 0, "never executed");
    assert!(call.get("receipt").is_none(), "nothing ran, so there is no receipt");
    assert!(std::fs::read_dir(dir.path().join("wasm"))?.next().is_none(), "the bytes were not kept");
    Ok(())
}

#[tokio::test]
async fn request_already_resolved_is_skipped() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let url = format!("{server}/echo.wasm");
    let mut resolved = pending_request(1, &url, &sha256_hex(&wasm));
    resolved["resolved"] = json!(true);
    let settled = pending_request(2, &url, &sha256_hex(&wasm));
    // 1 waits only for its callback; 2 is still listed by the final block but already gone.
    let node = Node::start(Contract {
        pending: vec![resolved.clone(), settled.clone()],
        requests: HashMap::from([(1, with_input(&resolved, INPUT))]),
        ..Contract::default()
    })
    .await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.skipped, vec![2]);
    assert!(report.resolved.is_empty());
    assert!(node.sent_txs().is_empty(), "nothing was run or resolved");
    Ok(())
}

#[tokio::test]
async fn two_pending_requests_are_both_resolved_through_the_worker_loop() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let url = format!("{server}/echo.wasm");
    let first = pending_request(1, &url, &sha256_hex(&wasm));
    let second = pending_request(2, &url, &sha256_hex(&wasm));
    let node = Node::start(Contract {
        pending: vec![first.clone(), second.clone()],
        requests: HashMap::from([(1, with_input(&first, "first input")), (2, with_input(&second, "second input"))]),
        ..Contract::default()
    })
    .await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.concurrency = 2;
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    let mut report = worker.poll_once().await?;
    report.resolved.sort();
    assert_eq!(report.resolved, vec![1, 2], "{report:?}");
    assert!(report.deferred.is_empty() && report.failed.is_empty(), "{report:?}");
    let outputs: HashMap<u64, Value> = node
        .sent_txs()
        .iter()
        .map(|tx| {
            let call = resolve_call(tx);
            (call["request_id"].as_u64().unwrap(), call["response"]["output"].clone())
        })
        .collect();
    assert_eq!(outputs.len(), 2, "one resolution each");
    assert_eq!(outputs[&1], json!({"Text": "first input"}));
    assert_eq!(outputs[&2], json!({"Text": "second input"}));
    assert_eq!((node.calls_of("chunk"), node.calls_of("tx")), (0, 0), "inputs come from get_request: no event search");
    let cursor = Cursor::load(&dir.path().join("cursor.json"))?;
    assert_eq!(cursor.done, [1, 2].into());
    assert!(cursor.resolving.is_empty());
    assert_eq!(worker.cursor(), cursor);
    Ok(())
}

#[tokio::test]
async fn the_source_leases_a_request_as_a_job_and_loses_it_once_settled_elsewhere() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let source = NearSource::new(config(&node, dir.path()))?;
    source.poll_once().await?;

    let job = source.lease(std::time::Duration::ZERO).await?.expect("the pending request is leased");
    assert_eq!(job.call_id, "0");
    assert_eq!(job.input, INPUT);
    assert_eq!(job.wasm_sha256, sha256_hex(&wasm));
    assert_eq!(job.max_output_bytes, 32 * 1024, "the contract's output limit");
    assert_eq!(job.limits.max_instructions, 1_000_000_000);
    assert_eq!(job.grants, vec![Capability::Payment], "payment is always granted");
    assert_eq!(job.context.kind, ExecutionKind::Near);
    assert_eq!(job.context.block_height, Some(final_height()));
    assert_eq!(job.context.near.contract_id.as_deref(), Some(CONTRACT));
    assert_eq!(source.wasm(&job).await?, wasm);
    assert!(source.lease(std::time::Duration::ZERO).await?.is_none(), "a leased request is not leased twice");

    let beat = source.heartbeat(std::slice::from_ref(&job.lease_id)).await?;
    assert_eq!((beat.extended, beat.lost), (vec![job.lease_id.clone()], vec![]));
    // Another worker resolved it meanwhile.
    node.contract.lock().unwrap().requests.clear();
    let beat = source.heartbeat(std::slice::from_ref(&job.lease_id)).await?;
    assert_eq!((beat.extended, beat.lost), (vec![], vec![job.lease_id.clone()]));
    assert_eq!(source.report().skipped, vec![0]);
    assert!(source.cursor().done.contains(&0));
    tokio::time::timeout(std::time::Duration::from_secs(1), source.idle()).await?;
    assert!(node.sent_txs().is_empty(), "nothing resolved by this worker");
    Ok(())
}

/// `request` as a request of the project `project_id` (the contract resolves the project to its
/// active version's URL and sha256).
fn of_project(mut request: Value, project_id: &str) -> Value {
    request["source"]["project_id"] = json!(project_id);
    request["source"]["project_owner"] = json!(project_id.split_once('/').unwrap().0);
    request
}

#[tokio::test]
async fn a_project_request_gets_the_project_grants_and_http_to_the_hosts_of_its_allowlist() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let url = format!("{server}/echo.wasm");
    let sha = sha256_hex(&wasm);
    let first = of_project(pending_request(1, &url, &sha), "dev.testnet/app");
    let second = of_project(pending_request(2, &url, &sha), "dev.testnet/app");
    let closed = of_project(pending_request(3, &url, &sha), "dev.testnet/closed");
    let plain = pending_request(4, &url, &sha);
    let all = [first, second, closed, plain];
    // The contract checks entries only roughly: a port out of range gets through and is
    // skipped by the worker.
    let stored = ["api.example.com", "x.org:99999", "*.example.org:8443"];
    let mut contract = Contract::with_requests(&all, INPUT);
    contract.projects = HashMap::from([
        ("dev.testnet/app".to_owned(), common::project("dev.testnet/app", &stored, json!({"storage": false, "rpc": false, "vrf": false}))),
        ("dev.testnet/closed".to_owned(), common::project("dev.testnet/closed", &[], json!({"storage": true, "rpc": true, "vrf": false}))),
    ]);
    let node = Node::start(contract).await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    // The worker's defaults: for requests without a project only.
    config.grants = NearGrants { vrf: true, ..NearGrants::default() };
    let source = NearSource::new(config)?;
    source.poll_once().await?;

    let mut jobs = HashMap::new();
    while let Some(job) = source.lease(std::time::Duration::ZERO).await? {
        jobs.insert(job.call_id.clone(), job);
    }
    assert_eq!(jobs.len(), 4, "every request is leased");
    for id in ["1", "2"] {
        let job = &jobs[id];
        assert_eq!(job.grants, vec![Capability::Payment, Capability::Http], "request {id}");
        assert_eq!(job.http_allowlist, vec!["api.example.com".to_owned(), "*.example.org:8443".into()], "request {id}");
        assert_eq!(job.context.project.as_ref().map(|p| p.id.as_str()), Some("dev.testnet/app"));
    }
    // No allowlist or no project: no http. Project 3's own grants (storage, rpc); request 4,
    // without a project, the worker's defaults (vrf).
    assert_eq!(jobs["3"].grants, vec![Capability::Payment, Capability::Storage, Capability::Rpc]);
    assert_eq!(jobs["4"].grants, vec![Capability::Payment, Capability::Vrf]);
    assert!(jobs["3"].http_allowlist.is_empty() && jobs["4"].http_allowlist.is_empty());
    assert_eq!(node.views_of("get_project"), 2, "one read per project per poll, none for a request without a project");
    Ok(())
}

/// Resolve one request for `wasm` with `input`, changed by `edit`; returns the sent response.
async fn resolve_one(wasm: Vec<u8>, input: &str, edit: impl FnOnce(&mut Value)) -> Result<Value> {
    let server = wasm_server(vec![("guest.wasm", wasm.clone())]).await;
    let mut request = pending_request(0, &format!("{server}/guest.wasm"), &sha256_hex(&wasm));
    edit(&mut request);
    let node = Node::start(Contract::with_requests(&[request], input)).await;
    let dir = tempfile::tempdir()?;
    let report = NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    Ok(resolve_call(&node.sent_txs()[0])["response"].clone())
}

#[tokio::test]
async fn bytes_format_returns_the_output_as_base64() -> Result<()> {
    let response = resolve_one(echo_wasm(), "raw \u{1} bytes", |r| r["response_format"] = json!("Bytes")).await?;
    assert_eq!(response["success"], true);
    assert_eq!(response["output"], json!({"Bytes": "raw \u{1} bytes".as_bytes()}), "OutLayer v0.1: bytes as a list of numbers");
    Ok(())
}

#[tokio::test]
async fn json_format_parses_the_output_and_refuses_what_is_not_json() -> Result<()> {
    // Valid JSON goes as the exact text printed (the receipt's output hash covers those bytes);
    // the contract's callback parses it.
    let ok = resolve_one(echo_wasm(), r#"{"n": [1, 2]}"#, |r| r["response_format"] = json!("Json")).await?;
    assert_eq!(ok["output"], json!({"Text": r#"{"n": [1, 2]}"#}));
    let bad = resolve_one(echo_wasm(), "not json", |r| r["response_format"] = json!("Json")).await?;
    assert_eq!(bad["success"], false);
    assert_eq!(bad["output"], Value::Null);
    assert!(bad["error"].as_str().unwrap().starts_with("output is not valid JSON"), "{bad}");
    Ok(())
}

#[tokio::test]
async fn the_request_limits_are_enforced() -> Result<()> {
    const BUDGET: u64 = 5_000_000;
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::LOOP_FOREVER);
    let response = resolve_one(wasm, "", |r| r["limits"]["max_instructions"] = json!(BUDGET)).await?;
    assert_eq!(response["success"], false);
    assert_eq!(response["error"], "out-of-instructions");
    assert_eq!(response["resources_used"]["instructions"], BUDGET, "the request's budget, all of it");
    Ok(())
}

#[tokio::test]
async fn run_near_worker_resolves_then_stops_on_shutdown() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(run_near_worker(config(&node, dir.path()), runtime(), backends(), async {
        let _ = stopped.await;
    }));
    let sent = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            if let Some(tx) = node.sent_txs().first() {
                return tx.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await?;
    assert_eq!(resolve_call(&sent)["response"]["output"]["Text"], INPUT);
    stop.send(()).unwrap();
    worker.await??;
    Ok(())
}

#[tokio::test]
async fn the_resolution_and_its_receipt_are_read_back_from_the_transaction() -> Result<()> {
    let wasm = echo_wasm();
    let server = wasm_server(vec![("echo.wasm", wasm.clone())]).await;
    let node = echo_request_node(&format!("{server}/echo.wasm"), &sha256_hex(&wasm)).await;
    let dir = tempfile::tempdir()?;
    NearWorker::new(config(&node, dir.path()), runtime(), backends())?.poll_once().await?;
    let sent = SignedTransaction::from_base64(&node.sent_txs()[0])?;
    let hash = sent.hash_base58();

    let found = fetch_resolution(&node.url, &hash, CONTRACT).await?;
    let asked = node.requests.lock().unwrap().iter().rev().find(|r| r["method"] == "tx").cloned().unwrap();
    assert_eq!(asked["params"], json!({"tx_hash": hash, "sender_account_id": CONTRACT, "wait_until": "FINAL"}));
    assert_eq!((found.tx_hash.as_str(), found.signer_id.as_str(), found.contract_id.as_str()), (hash.as_str(), CONTRACT, CONTRACT));
    assert_eq!(found.signer_public_key, worker_key().public_key().to_string());
    assert_eq!(found.request_id, 0);
    assert_eq!(serde_json::to_value(&found.response)?, resolve_call(&node.sent_txs()[0])["response"]);
    assert_eq!(found.failure, None);
    let receipt = found.receipt.clone().expect("the resolution carried a receipt");
    receipt.verify()?;
    assert_eq!(receipt.public_key, hex::encode(worker_key().public_key().as_bytes()), "signed by the transaction's key");
    assert_eq!(receipt.receipt.output_sha256, sha256_hex(INPUT.as_bytes()));
    let event = found.event.expect("the contract's execution_resolved event");
    assert_eq!(event.receipt.as_ref(), Some(&receipt));
    assert_eq!((event.request_id, event.success), (0, true));
    assert_eq!(event.worker_public_key, found.signer_public_key);
    Ok(())
}

/// A builder API (`POST /builds`, `GET /builds/{id}`, `GET /builds/{id}/wasm`) that has built
/// `wasm` in `duration_ms`; records the build requests it received.
async fn builder_api(wasm: Vec<u8>, duration_ms: u64, asked: Arc<Mutex<Vec<(String, Value)>>>) -> String {
    let view = json!({"id": "b1", "status": "succeeded", "wasm_sha256": sha256_hex(&wasm), "cache_hit": false, "duration_ms": duration_ms});
    builder_api_answering(view, wasm, asked).await
}

/// The same API whose build `b1` is `view` (what `GET /builds/b1` answers).
async fn builder_api_answering(view: Value, wasm: Vec<u8>, asked: Arc<Mutex<Vec<(String, Value)>>>) -> String {
    let router = Router::new()
        .route(
            "/builds",
            post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let asked = asked.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    asked.lock().unwrap().push((auth, body));
                    (StatusCode::ACCEPTED, axum::Json(json!({"build_id": "b1", "status": "queued", "poll_url": "/builds/b1"})))
                }
            }),
        )
        .route(
            "/builds/b1",
            get(move || {
                let view = view.clone();
                async move { axum::Json(view) }
            }),
        )
        .route("/builds/b1/wasm", get(move || async move { wasm.clone() }));
    serve(router).await
}

#[tokio::test]
async fn a_github_request_is_built_by_the_builder_and_executed() -> Result<()> {
    let wasm = echo_wasm();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let builder = builder_api(wasm.clone(), 4321, asked.clone()).await;
    // As the contract resolves `GitHub {repo, commit, build_target: None}` (contracts/outlayer/src/github.rs).
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let node = echo_request_node(&format!("git+https://github.com/alice/echo@{commit}#wasm32-wasip2"), "").await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.builder = Some(outlayer_worker::near::build::BuilderLink { url: builder, token: "owner-token".into() });
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    let report = worker.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![(
            "Bearer owner-token".to_owned(),
            json!({"source": {"git": "https://github.com/alice/echo", "commit": commit, "build_target": "wasm32-wasip2"}})
        )]
    );
    let call = resolve_call(&node.sent_txs()[0]);
    let response = &call["response"];
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["output"], json!({"Text": INPUT}));
    assert_eq!(response["resources_used"]["compile_time_ms"], 4321, "the compile time is reported for the contract to charge");
    let receipt: SignedReceipt = serde_json::from_value(call["receipt"].clone())?;
    assert_eq!(receipt.receipt.wasm_sha256, sha256_hex(&wasm), "the receipt names the built wasm");
    Ok(())
}

#[tokio::test]
async fn a_github_request_without_a_builder_is_resolved_as_a_failure() -> Result<()> {
    let node = echo_request_node(&format!("git+https://github.com/alice/echo@{}#wasm32-wasip2", "a".repeat(40)), "").await;
    let dir = tempfile::tempdir()?;
    let mut worker = NearWorker::new(config(&node, dir.path()), runtime(), backends())?;
    assert_eq!(worker.poll_once().await?.resolved, vec![0]);
    let call = resolve_call(&node.sent_txs()[0]);
    assert_eq!(call["response"]["success"], false);
    assert_eq!(call["response"]["error"], "this worker has no builder: GitHub sources are not run");
    Ok(())
}

/// A compile-only request as the contract stores it (`params: {compile_only: true,
/// force_rebuild: true}` on `GitHub {repo, commit, build_target: None}`; the fields of
/// contracts/outlayer/src/tests/github.rs): a git source without hash, every limit 0, a JSON
/// answer, `compile_only` and `force_rebuild` in its params.
async fn compile_only_node(commit: &str) -> Node {
    let mut request = pending_request(0, &format!("git+https://github.com/alice/echo@{commit}#wasm32-wasip2"), "");
    request["limits"] = json!({"max_instructions": 0, "max_memory_mb": 0, "max_execution_seconds": 0});
    request["response_format"] = json!("Json");
    request["estimate"] = json!("30000000000000000000000");
    request["params"]["compile_only"] = json!(true);
    request["params"]["force_rebuild"] = json!(true);
    Node::start(Contract::with_requests(&[request], "")).await
}

#[tokio::test]
async fn a_compile_only_request_is_built_and_resolved_with_the_hash_without_running() -> Result<()> {
    // A guest that never ends: had it run (with every limit 0, or any), the request would fail.
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::LOOP_FOREVER);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let builder = builder_api(wasm.clone(), 2500, asked.clone()).await;
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let node = compile_only_node(commit).await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.builder = Some(outlayer_worker::near::build::BuilderLink { url: builder, token: "owner-token".into() });
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    let report = worker.poll_once().await?;
    assert_eq!(report.resolved, vec![0]);
    let asked = asked.lock().unwrap().clone();
    let source = json!({"git": "https://github.com/alice/echo", "commit": commit, "build_target": "wasm32-wasip2"});
    assert_eq!(
        asked,
        vec![("Bearer owner-token".to_owned(), json!({"source": source, "force_rebuild": true}))],
        "force_rebuild passed through"
    );
    let sent = node.sent_txs();
    assert_eq!(sent.len(), 1);
    let call = resolve_call(&sent[0]);
    let response = &call["response"];
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["output"], json!({"Json": {"wasm_sha256": sha256_hex(&wasm), "compile_time_ms": 2500}}));
    assert_eq!(
        response["resources_used"],
        json!({"instructions": 0, "time_ms": 0, "compile_time_ms": 2500}),
        "nothing ran; the compile time is reported for the contract to charge"
    );
    assert_eq!(call.get("receipt"), None, "no receipt: nothing ran");
    Ok(())
}

#[tokio::test]
async fn a_compile_only_request_whose_build_fails_is_resolved_as_a_failure_with_the_code() -> Result<()> {
    let view = json!({
        "id": "b1", "status": "failed", "duration_ms": 800,
        "error": {"code": "build_failed", "message": "error[E0425]: cannot find value `x` in this scope"},
    });
    let builder = builder_api_answering(view, Vec::new(), Arc::default()).await;
    let node = compile_only_node(&"b".repeat(40)).await;
    let dir = tempfile::tempdir()?;
    let mut config = config(&node, dir.path());
    config.builder = Some(outlayer_worker::near::build::BuilderLink { url: builder, token: "owner-token".into() });
    let mut worker = NearWorker::new(config, runtime(), backends())?;

    assert_eq!(worker.poll_once().await?.resolved, vec![0]);
    let call = resolve_call(&node.sent_txs()[0]);
    let response = &call["response"];
    assert_eq!(response["success"], false);
    assert_eq!(response["output"], Value::Null);
    assert_eq!(response["error"], "build failed: build_failed: error[E0425]: cannot find value `x` in this scope");
    assert_eq!(response["resources_used"]["compile_time_ms"], 800, "the failed build's time is charged too");
    assert_eq!(call.get("receipt"), None);
    Ok(())
}

/// The contract's `get_request` JSON for a request made with OutLayer v0.1's arguments (as a
/// contract built from the compat file sends them) is what the worker reads: source, input,
/// params; an input of 10,000 bytes or more (not in the event) is read the same way.
#[test]
fn the_contracts_request_json_is_what_the_worker_reads() {
    let hash = "cd".repeat(32);
    let source = json!({"WasmUrl": {"url": "https://example.com/app.wasm", "hash": hash, "build_target": "wasm32-wasip2"}});
    let view = common::contract_request(source.clone(), "{\"n\":1}");
    let request: PendingRequest = serde_json::from_value(view.clone()).unwrap();
    assert_eq!(request.input_data.as_deref(), Some("{\"n\":1}"));
    assert_eq!((request.source.wasm_url.as_str(), request.source.wasm_sha256.as_str()), ("https://example.com/app.wasm", hash.as_str()));
    assert_eq!((request.sender_id.as_str(), request.limits.max_instructions), (CALLER, 1_000_000_000));
    assert_eq!(request.response_format, ResponseFormat::Text);
    assert!(!request.params.compile_only && request.params.attached_usd.is_none());
    // Serialised back by the worker, the fields it knows are the contract's.
    let back = serde_json::to_value(&request).unwrap();
    for field in ["request_id", "sender_id", "source", "limits", "response_format", "secrets_ref", "input_data", "resolved"] {
        assert_eq!(back[field], view[field], "{field}");
    }
    let large = "x".repeat(10_000);
    let view = common::contract_request(source, &large);
    assert_eq!(view["input_data_in_state"], true);
    let request: PendingRequest = serde_json::from_value(view).unwrap();
    assert_eq!(request.input_data, Some(large));
}

fn ran(output: &[u8], refund: u128) -> outlayer_protocol::ExecutionResult {
    outlayer_protocol::ExecutionResult {
        outcome: outlayer_protocol::Outcome::Ok,
        output: output.to_vec(),
        stderr_tail: None,
        instructions: 1234,
        wall_ms: 56,
        peak_memory_bytes: 0,
        refund,
        http: None,
    }
}

/// Every response the worker sends deserializes in the contract to the same values, and the
/// contract's serialization reads back in the worker: the two types cannot drift.
#[test]
fn the_workers_responses_round_trip_through_the_contracts_type() {
    let mut compiled = execute::compiled(&"ab".repeat(32), 2500);
    compiled.compilation_note = Some("cache miss".into());
    let mut refunded = execute::response(&ran(b"hi", 0), ResponseFormat::Text);
    refunded.refund_usd = Some(300);
    let responses = [
        execute::response(&ran(b"hello", 0), ResponseFormat::Text),
        execute::response(&ran(&[0, 255, 7], 0), ResponseFormat::Bytes),
        execute::response(&ran(br#"{"a": [1]}"#, 0), ResponseFormat::Json),
        execute::response(&ran(b"not json", 0), ResponseFormat::Json),
        execute::failure("wasm from URL has sha256 X, expected Y; not executed"),
        compiled,
        refunded,
        ExecutionResponse { output: Some(ExecutionOutput::Json(json!({"k": "v"}))), success: true, ..ExecutionResponse::default() },
    ];
    for response in responses {
        let sent = serde_json::to_value(&response).unwrap();
        let contract: outlayer_contract::ExecutionResponse = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(contract.success, response.success, "{sent}");
        assert_eq!(contract.error, response.error, "{sent}");
        assert_eq!(contract.refund_usd, response.refund_usd, "{sent}");
        assert_eq!(contract.compilation_note, response.compilation_note, "{sent}");
        let used = &response.resources_used;
        assert_eq!(
            (contract.resources_used.instructions, contract.resources_used.time_ms, contract.resources_used.compile_time_ms),
            (used.instructions, used.time_ms, used.compile_time_ms),
            "{sent}"
        );
        let output = contract.output.as_ref().map(|o| match o {
            outlayer_contract::ExecutionOutput::Bytes(b) => ExecutionOutput::Bytes(b.clone()),
            outlayer_contract::ExecutionOutput::Text(t) => ExecutionOutput::Text(t.clone()),
            outlayer_contract::ExecutionOutput::Json(v) => ExecutionOutput::Json(v.clone()),
        });
        assert_eq!(output, response.output, "{sent}");
        // And the contract's serialization (without its own resume fields) reads back.
        let again: ExecutionResponse = serde_json::from_value(serde_json::to_value(&contract).unwrap()).unwrap();
        assert_eq!(again, response);
    }
}
