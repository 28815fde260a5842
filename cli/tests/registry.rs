//! One project registry, in one process with the real host: a project created on the OutLayer
//! contract (a fake NEAR node answering `list_projects` in NEAR's recorded `call_function`
//! envelope) is synced by a coordinator, called over HTTPS through the worker loop, and shares
//! guest storage with the on-chain path. The counter guest, run as the on-chain worker runs a
//! request of that project (`near::execute::job` on the request as `get_request` returns it → `job::request`, the worker's storage
//! backend), adds 5 for `bob.test`; the HTTPS call of the same project paid by `bob.test`'s key
//! adds 2 and answers 7 — and the reverse: the chain run after it reads what HTTPS wrote.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use ed25519_dalek::SigningKey;
use outlayer_coordinator::config::NearChainConfig;
use outlayer_coordinator::{AttestationConfig, CoordinatorConfig, DatabaseConfig};
use outlayer_host::{Runtime, RuntimeConfig};
use outlayer_storage::{MemoryStorage, StorageBackend};
use outlayer_worker::near::NearGrants;
use outlayer_worker::near::execute::{ExecutionSetting, job};
use outlayer_worker::near::types::PendingRequest;
use outlayer_worker::{Backends, WorkerConfig};
use serde_json::{Value, json};

const CONTRACT: &str = "outlayer.test";
const OWNER: &str = "alice.test";
const CALLER: &str = "bob.test";

fn view_result(value: &Value) -> Value {
    let mut answer: Value =
        serde_json::from_str(include_str!("../../crates/near/tests/data/rpc/call_function.response.json")).expect("recorded answer");
    answer["result"]["result"] = json!(serde_json::to_vec(value).unwrap());
    answer
}

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Runs the counter guest for a request of `OWNER/counter` exactly as the on-chain worker builds
/// it from the contract's view and event; returns its stdout.
async fn chain_run(runtime: &Runtime, backends: &Backends, wasm: &[u8], url: &str, sha: &str, input: &str) -> String {
    let request: PendingRequest = serde_json::from_value(json!({
        "request_id": 1, "sender_id": CALLER, "signer_id": CALLER, "payer_id": CALLER,
        "source": {"project_id": format!("{OWNER}/counter"), "project_owner": OWNER, "wasm_url": url, "wasm_sha256": sha},
        "limits": {"max_instructions": 100_000_000u64, "max_memory_mb": 64, "max_execution_seconds": 10},
        "response_format": "Text", "secrets_ref": null, "attached": "0", "developer_payment": "0",
        "created_at_ns": 1_700_000_000_000_000_000u64, "block_height": 100, "resolved": false, "input_data": input
    }))
    .expect("a pending request as the contract's view returns it");
    let grants = NearGrants { storage: true, rpc: false, vrf: false };
    let setting = ExecutionSetting { contract: CONTRACT, network: "testnet", grants: &grants, http_allowlist: &[] };
    let chain_job = job(&request, &setting);
    assert_eq!(chain_job.context.project.as_ref().unwrap().id, format!("{OWNER}/counter"), "the chain path's project id");
    let exec = outlayer_worker::job::request(&chain_job, backends, None).expect("request");
    let report = runtime.run(wasm, exec).await.expect("run");
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    String::from_utf8(report.output).unwrap()
}

#[tokio::test]
async fn a_chain_project_is_callable_over_https_and_shares_storage_with_the_chain_path() {
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::COUNTER);
    let sha = outlayer_protocol::receipt::sha256_hex(&wasm);
    let served = wasm.clone();
    let wasm_addr = serve(Router::new().route("/counter.wasm", get(move || async move { served }))).await;
    let wasm_url = format!("http://{wasm_addr}/counter.wasm");
    let listed = json!([{
        "project_id": format!("{OWNER}/counter"), "owner": OWNER, "name": "counter", "active_version": sha,
        "versions": [{"wasm_sha256": sha, "source_url": wasm_url, "added_at_ns": 1_700_000_000_000_000_000u64}],
        "http_allowlist": [], "grants": {"storage": true}
    }]);
    let node = serve(Router::new().route(
        "/",
        post(move |axum::Json(req): axum::Json<Value>| {
            let listed = listed.clone();
            async move {
                let p = &req["params"];
                assert_eq!((p["request_type"].as_str(), p["method_name"].as_str()), (Some("call_function"), Some("list_projects")));
                let from = serde_json::from_slice::<Value>(
                    &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, p["args_base64"].as_str().unwrap()).unwrap(),
                )
                .unwrap()["from_index"]
                    .as_u64()
                    .unwrap();
                let page = if from == 0 { listed } else { json!([]) };
                axum::Json(view_result(&page))
            }
        }),
    ))
    .await;

    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn StorageBackend> = Arc::new(MemoryStorage::new());
    let backends = Backends::new(SigningKey::from_bytes(&rand::random())).with_storage(storage);
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(dir.path().join("cache")), ..Default::default() }).unwrap();

    // The on-chain path writes first: 0 + 5.
    assert_eq!(chain_run(&runtime, &backends, &wasm, &wasm_url, &sha, "5").await, "5");

    // A coordinator that syncs the contract, with the same worker (backends) in process.
    let mut near = NearChainConfig::new(format!("http://{node}"), CONTRACT);
    near.registry_interval = Duration::from_millis(100);
    near.wasm_fetch_admit_loopback_for_tests = vec![wasm_addr];
    let config = CoordinatorConfig {
        database: DatabaseConfig::Sqlite { path: dir.path().join("coordinator.db") },
        attestation: AttestationConfig { allow_dev: true, ..AttestationConfig::default() },
        signin: outlayer_coordinator::signin::SigninConfig { dev_owners: true, ..Default::default() },
        near: Some(near),
        ..CoordinatorConfig::default()
    };
    let state = outlayer_coordinator::build_state(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = tokio::spawn(outlayer_coordinator::run(listener, state.clone(), stopped(stop_rx.clone())));
    let source = outlayer_coordinator::embedded::EmbeddedSource::register_dev(state, &backends.key).await.unwrap();
    let wcfg = WorkerConfig::new(&url, dir.path().join("wasm"));
    let (rt, b, stop) = (runtime.clone(), backends.clone(), stopped(stop_rx.clone()));
    let worker = tokio::spawn(async move { outlayer_worker::run_with_source(Arc::new(source), &wcfg, rt, b, stop).await });

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let project = loop {
        let p: Value = http.get(format!("{url}/projects/{OWNER}/counter")).send().await.unwrap().json().await.unwrap();
        if p["active_version"] == json!(sha) {
            break p;
        }
        assert!(Instant::now() < deadline, "never synced: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(project["origin"], "chain");
    assert_eq!(project["grants"], json!(["payment", "storage"]));

    // bob.test pays over HTTPS: the same caller scope of the same project, so 5 + 2.
    let token =
        http.post(format!("{url}/owners")).json(&json!({ "owner": CALLER })).send().await.unwrap().json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
    let key: Value = http
        .post(format!("{url}/payment-keys"))
        .bearer_auth(&token)
        .json(&json!({ "initial_balance": 10_000_000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = http
        .post(format!("{url}/call/{OWNER}/counter"))
        .header("x-payment-key", key["key"].as_str().unwrap())
        .json(&json!({ "input": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    // And the reverse: the chain path reads what the HTTPS call wrote (7 + 1).
    let after = chain_run(&runtime, &backends, &wasm, &wasm_url, &sha, "1").await;
    assert_eq!(v["output"], 7, "the HTTPS call read what the chain path wrote (the chain run after it saw {after}): {v}");
    assert!(v["compute_cost"].as_str().unwrap().parse::<u64>().unwrap() > 0, "{v}");
    assert_eq!(after, "8");

    let _ = stop_tx.send(true);
    worker.await.unwrap().unwrap();
    server.await.unwrap().unwrap();
}
