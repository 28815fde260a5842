//! One project registry (issue 12): a project created on the OutLayer contract — read from a
//! fake NEAR node answering in NEAR's recorded `call_function` envelope — is synced into the
//! coordinator and called over HTTPS under the same `owner/name`; the chain is its record.
//! Plus OutLayer's HTTPS wire: `version_key`, `compute_cost`, `poll_url`, `attestation_url`,
//! `GET /payment-keys/balance`. On SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::Router;
use axum::routing::{get, post};
use common::*;
use outlayer_coordinator::CoordinatorConfig;
use outlayer_coordinator::config::NearChainConfig;
use outlayer_coordinator::model::Capability;
use outlayer_protocol::receipt::sha256_hex;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONTRACT: &str = "outlayer.test";
const OWNER: &str = "alice.test";

/// The recorded `call_function` answer (crates/near/tests/data) holding `value` as the result.
fn view_result(value: &Value) -> Value {
    let mut answer: Value =
        serde_json::from_str(include_str!("../../crates/near/tests/data/rpc/call_function.response.json")).expect("recorded answer");
    answer["result"]["result"] = json!(serde_json::to_vec(value).unwrap());
    answer
}

/// A fake NEAR node: `list_projects` pages over `projects`; every request is kept.
#[derive(Clone, Default)]
struct Node {
    projects: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Node {
    async fn start(&self) -> String {
        let node = self.clone();
        let app = Router::new().route(
            "/",
            post(move |axum::Json(req): axum::Json<Value>| {
                let node = node.clone();
                async move {
                    node.requests.lock().unwrap().push(req.clone());
                    let p = &req["params"];
                    let answer = if req["method"] == "query" && p["request_type"] == "call_function" && p["method_name"] == "list_projects" {
                        let args: Value = serde_json::from_slice(
                            &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, p["args_base64"].as_str().unwrap()).unwrap(),
                        )
                        .unwrap();
                        let from = args["from_index"].as_u64().unwrap_or(0) as usize;
                        let limit = args["limit"].as_u64().unwrap_or(50) as usize;
                        let all = node.projects.lock().unwrap().clone();
                        view_result(&json!(all.into_iter().skip(from).take(limit).collect::<Vec<_>>()))
                    } else {
                        json!({"jsonrpc": "2.0", "id": req["id"], "error": {"name": "HANDLER_ERROR", "cause": {"name": "UNKNOWN"}, "message": "not recorded"}})
                    };
                    axum::Json(answer)
                }
            }),
        );
        serve(app).await
    }

    fn list_calls(&self) -> Vec<Value> {
        self.requests.lock().unwrap().iter().filter(|r| r["params"]["method_name"] == "list_projects").cloned().collect()
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Serves `/v1.wasm` and `/v2.wasm` (the latter's bytes are switchable); returns its address.
async fn wasm_server(v1: Vec<u8>, v2: Arc<Mutex<Vec<u8>>>) -> std::net::SocketAddr {
    let app = Router::new().route("/v1.wasm", get(move || async move { v1 })).route(
        "/v2.wasm",
        get(move || {
            let v2 = v2.clone();
            async move { v2.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn chain_config(mut config: CoordinatorConfig, rpc: &str, admit: Vec<std::net::SocketAddr>) -> CoordinatorConfig {
    let mut near = NearChainConfig::new(rpc, CONTRACT);
    near.registry_interval = Duration::from_millis(100);
    near.wasm_fetch_admit_loopback_for_tests = admit;
    config.near = Some(near);
    config
}

/// Polls `GET /projects/{id}` until `ready` holds (10 s at most).
async fn project_when(server: &Server, id: &str, ready: impl Fn(&Value) -> bool) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = server.get(&format!("/projects/{id}"), &[]).await?;
        if s == StatusCode::OK && ready(&b) {
            return Ok(b);
        }
        if Instant::now() > deadline {
            bail!("project {id} never got ready: {s} {b}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

/// A module whose bytes (and sha256) differ from [`EMPTY_MODULE`]: one custom section.
fn other_module() -> Vec<u8> {
    let mut m = EMPTY_MODULE.to_vec();
    m.extend_from_slice(&[0x00, 0x04, 0x03, b'a', b'b', b'c']);
    m
}

async fn chain_project_over_https(base: CoordinatorConfig) -> Result<()> {
    let v1 = EMPTY_MODULE.to_vec();
    let v2 = other_module();
    let (sha1, sha2) = (sha256_hex(&v1), sha256_hex(&v2));
    // v2's URL serves the wrong bytes at first: not stored, so not a version yet.
    let v2_served = Arc::new(Mutex::new(b"not the listed wasm".to_vec()));
    let wasm = wasm_server(v1.clone(), v2_served.clone()).await;
    let node = Node::default();
    let project = |active: &str| {
        json!({
            "project_id": format!("{OWNER}/app"), "owner": OWNER, "name": "app", "active_version": active,
            "versions": [
                {"wasm_sha256": sha1, "source_url": format!("http://{wasm}/v1.wasm"), "added_at_ns": 1_700_000_000_000_000_000u64},
                {"wasm_sha256": sha2, "source_url": format!("http://{wasm}/v2.wasm"), "added_at_ns": 1_700_000_001_000_000_000u64},
            ],
            "http_allowlist": ["api.example.com"],
            "grants": {"storage": true, "rpc": false, "vrf": false},
            "a_field_of_a_later_contract": true,
        })
    };
    *node.projects.lock().unwrap() = vec![project(&sha1)];
    let rpc = node.start().await;
    let config = chain_config(base, &rpc, vec![wasm]);
    let server = Server::start(config.clone()).await?;

    // Synced: origin chain, the contract's grants and allowlist, only the version whose bytes match.
    let p = project_when(&server, &format!("{OWNER}/app"), |p| p["active_version"] == sha1).await?;
    assert_eq!(p["origin"], "chain", "{p}");
    assert_eq!(p["grants"], json!(["http", "payment", "storage"]), "{p}");
    assert_eq!(p["http_allowlist"], json!(["api.example.com"]));
    let versions: Vec<&str> = p["versions"].as_array().unwrap().iter().map(|v| v["wasm_sha256"].as_str().unwrap()).collect();
    assert_eq!(versions, vec![sha1.as_str()], "v2's download had another sha256: not stored");
    // Read at final, one page of 100.
    let first = &node.list_calls()[0];
    assert_eq!(first["params"]["finality"], "final", "{first}");
    assert_eq!(first["params"]["account_id"], CONTRACT);

    // Called over HTTPS under the same owner/name by anyone's payment key.
    let (_, token) = server.owner().await?;
    let key = server.key(&token, json!({ "initial_balance": 1_000_000 })).await?;
    let worker = server.worker().await?;
    let lease = tokio::spawn(async move {
        let job = loop {
            if let Some(job) = worker.lease(Duration::from_secs(1)).await.unwrap() {
                break job;
            }
        };
        let view = worker.complete(&job, &echo(&job)).await.unwrap();
        (job, view)
    });
    let (s, b) = server.call(OWNER, "app", &key, &[], &json!({ "input": {"n": 1}, "resource_limits": small_limits() })).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (job, _) = lease.await?;
    assert_eq!(job.wasm_sha256, sha1);
    let project_ref = job.context.project.clone().unwrap();
    assert_eq!((project_ref.owner.as_str(), project_ref.name.as_str()), (OWNER, "app"));
    for cap in [Capability::Storage, Capability::Http, Capability::Payment] {
        assert!(job.grants.contains(&cap), "{cap:?} granted from the chain: {:?}", job.grants);
    }
    assert_eq!(job.http_allowlist, vec!["api.example.com".to_owned()]);
    // OutLayer's response fields.
    let call_id = b["call_id"].as_str().unwrap();
    assert_eq!(b["compute_cost"], ECHO_COST.to_string());
    assert_eq!(b["poll_url"], format!("/calls/{call_id}"));
    assert_eq!(b["attestation_url"], format!("/calls/{call_id}/receipt"));
    let (s, r) = server.get(b["attestation_url"].as_str().unwrap(), &[]).await?;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["receipt"]["project"], format!("{OWNER}/app"));

    // `version_key` names a version; v2 is not stored yet; the old `version` field is gone.
    let (s, b) = server.call(OWNER, "app", &key, &[], &json!({ "input": 1, "version_key": sha2, "async": true })).await?;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "version_not_found"), "{b}");
    let (s, b) = server.call(OWNER, "app", &key, &[], &json!({ "input": 1, "version": sha1, "async": true })).await?;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_json"), "{b}");
    let (s, b) = server.call(OWNER, "app", &key, &[], &json!({ "input": 1, "version_key": sha1, "async": true })).await?;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["poll_url"], format!("/calls/{}", b["call_id"].as_str().unwrap()));

    // The chain is the record: its owner (signed in) cannot upload or switch versions over HTTPS.
    let owner_token = "olo_chain_owner_test_token";
    assert!(server.state.db.set_owner_token(OWNER, &outlayer_coordinator::auth::hash_secret(owner_token)).await?, "synced owner row");
    let resp =
        server.http.post(server.url(&format!("/projects/{OWNER}/app/versions"))).bearer_auth(owner_token).body(v2.clone()).send().await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "chain_project"), "{b}");
    let resp = server
        .http
        .put(server.url(&format!("/projects/{OWNER}/app/active")))
        .bearer_auth(owner_token)
        .json(&json!({ "version": sha1 }))
        .send()
        .await?;
    let (s, b) = read(resp).await?;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "chain_project"), "{b}");

    // The contract changes: v2's URL now serves its bytes and it becomes active; grants drop.
    *v2_served.lock().unwrap() = v2.clone();
    let mut changed = project(&sha2);
    changed.as_object_mut().unwrap().remove("grants");
    changed["http_allowlist"] = json!([]);
    *node.projects.lock().unwrap() = vec![changed];
    let p = project_when(&server, &format!("{OWNER}/app"), |p| p["active_version"] == sha2).await?;
    assert_eq!(p["versions"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(p["grants"], json!(["payment"]), "missing grants = none: {p}");
    assert_eq!(p["http_allowlist"], json!([]));

    // GET /payment-keys/balance with the key header: the key's balance.
    let (s, b) = server.get("/payment-keys/balance", &[("x-payment-key", key.as_str())]).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["balance"], 1_000_000);
    assert_eq!(b["spent"], ECHO_COST);
    let (s, b) = server.get("/payment-keys/balance", &[]).await?;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_payment_key"), "{b}");

    // Projects created over HTTPS on a --dev-owners coordinator are labelled dev.
    let (s, b) = server.post("/projects", Some(&token), &json!({ "name": "scratch" })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["origin"], "dev");

    server.stop().await;
    drop_schema(&config).await;
    Ok(())
}

/// Without --dev-owners, a coordinator that syncs a contract takes projects only from it.
async fn dev_projects_only(base: CoordinatorConfig) -> Result<()> {
    let node = Node::default();
    let rpc = node.start().await;
    let mut config = chain_config(base, &rpc, vec![]);
    config.signin.dev_owners = false;
    let server = Server::start(config.clone()).await?;
    let token = "olo_signed_in_test_token";
    assert!(server.state.db.create_owner("bob.test", &outlayer_coordinator::auth::hash_secret(token), 0).await?);
    let (s, b) = server.post("/projects", Some(token), &json!({ "name": "app" })).await?;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "dev_projects_only"), "{b}");
    server.stop().await;
    drop_schema(&config).await;
    Ok(())
}

#[tokio::test]
async fn sqlite_chain_project_over_https() -> Result<()> {
    let dir = tempfile::tempdir()?;
    chain_project_over_https(sqlite_config(&dir)).await
}

#[tokio::test]
async fn postgres_chain_project_over_https() -> Result<()> {
    chain_project_over_https(pg_config()).await
}

#[tokio::test]
async fn sqlite_dev_projects_only() -> Result<()> {
    let dir = tempfile::tempdir()?;
    dev_projects_only(sqlite_config(&dir)).await
}

#[tokio::test]
async fn postgres_dev_projects_only() -> Result<()> {
    dev_projects_only(pg_config()).await
}
