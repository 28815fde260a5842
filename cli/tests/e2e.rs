//! End to end over real HTTP with real processes: `outlayer serve`, `outlayer coordinator` and
//! `outlayer worker` binaries, real guests, SQLite and PostgreSQL + Redis.
//!
//! Each test starts its own processes on free loopback ports with their own data directories;
//! PostgreSQL tests use a fresh schema.

mod common;
use common::{Proc, free_port, outlayer, wait_healthy};

use outlayer_guest_artifacts as g;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl Proc {
    fn kill_hard(&mut self) {
        let _ = self.0.kill(); // SIGKILL: no graceful shutdown
        let _ = self.0.wait();
    }
}

/// An owner with a project (with `grants`) running `wasm`, and a payment key.
struct Tenant {
    http: reqwest::Client,
    url: String,
    token: String,
    key: String,
    owner: String,
}

impl Tenant {
    async fn new(url: &str, project: &str, wasm: &str, grants: &[&str], balance: u64) -> Self {
        let http = reqwest::Client::new();
        let owner = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": owner })).send().await.unwrap().json().await.unwrap();
        let token = r["token"].as_str().expect("owner token").to_string();
        let t = Self { http, url: url.to_string(), token, key: String::new(), owner };
        t.project(project, wasm, grants).await;
        let r: Value = t.post_owner("/payment-keys", json!({ "initial_balance": balance })).await;
        Self { key: r["key"].as_str().expect("payment key").to_string(), ..t }
    }

    async fn post_owner(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.url)).bearer_auth(&self.token).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn project(&self, name: &str, wasm: &str, grants: &[&str]) {
        self.post_owner("/projects", json!({ "name": name, "grants": grants })).await;
        let bytes = outlayer_guest_artifacts::read(wasm);
        let r = self
            .http
            .post(format!("{}/projects/{}/{name}/versions", self.url, self.owner))
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    async fn call(&self, project: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/call/{}/{project}", self.url, self.owner))
            .header("x-payment-key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn get_call(&self, id: &str) -> Value {
        self.http.get(format!("{}/calls/{id}", self.url)).header("x-payment-key", &self.key).send().await.unwrap().json().await.unwrap()
    }

    /// Poll a call until it leaves the queue (bounded).
    async fn wait_call(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..600 {
            let v = self.get_call(id).await;
            if done(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("call {id} never reached the expected state");
    }

    async fn balance(&self) -> Value {
        let nonce = self.key.split(':').nth(1).unwrap();
        self.http
            .get(format!("{}/payment-keys/{}/{nonce}", self.url, self.owner))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// What every backend must do: sync and async calls with storage, a hostile guest, and the
/// ledger adding up.
async fn full_flow(url: &str) {
    let t = Tenant::new(url, "counter", g::COUNTER, &["storage"], 10_000_000).await;
    t.project("loop", g::LOOP_FOREVER, &[]).await;

    let (status, v) = t.call("counter", json!({ "input": 5 })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["output"], 5);
    assert_eq!(v["receipt"]["outcome"], "ok");
    assert!(v["output_base64"].is_string(), "{v}");
    let first_cost: u64 = v["compute_cost"].as_str().unwrap().parse().unwrap();
    assert!(first_cost > 0);

    let (status, v) = t.call("counter", json!({ "input": 2, "async": true })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let id = v["call_id"].as_str().unwrap().to_string();
    let done = t.wait_call(&id, |v| v["status"] == "completed" || v["status"] == "failed").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 7, "storage kept the first call's value");

    let (status, v) = t.call("loop", json!({ "input": null, "resource_limits": { "max_instructions": 10_000_000 } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "out_of_instructions");
    assert_eq!(v["instructions"], 10_000_000);

    let cost = |v: &serde_json::Value| v["compute_cost"].as_str().unwrap().parse::<u64>().unwrap();
    let costs = first_cost + cost(&done) + cost(&v);
    let b = t.balance().await;
    assert_eq!(b["spent"].as_u64().unwrap(), costs, "{b}");
    assert_eq!(b["reserved"], 0);
    assert_eq!(b["available"].as_u64().unwrap(), 10_000_000 - costs);
}

#[tokio::test]
async fn serve_on_sqlite_runs_calls_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _serve = outlayer(&["serve", "--listen", &format!("127.0.0.1:{port}"), "--rate-limit", "1000"], dir.path());
    wait_healthy(&reqwest::Client::new(), &url).await;
    full_flow(&url).await;
}

fn pg_schema() -> String {
    format!("e2e_{}", uuid::Uuid::new_v4().simple())
}

/// `outlayer coordinator` on PostgreSQL (a fresh schema) at `port`, dev attestation and owners,
/// with `extra` arguments; its data directory is `dir/c`.
fn pg_coordinator(dir: &std::path::Path, port: u16, extra: &[&str]) -> Proc {
    let (listen, schema) = (format!("127.0.0.1:{port}"), pg_schema());
    let mut args = vec!["coordinator", "--listen", &listen, "--database", PG_URL, "--database-schema", &schema];
    args.extend(["--rate-limit", "1000", "--allow-dev-attestation", "--dev-owners"]);
    args.extend(extra);
    outlayer(&args, &dir.join("c"))
}

#[tokio::test]
async fn coordinator_on_postgres_and_redis_with_a_separate_worker() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _c = pg_coordinator(dir.path(), port, &["--redis-url", "redis://127.0.0.1:6379"]);
    wait_healthy(&reqwest::Client::new(), &url).await;
    let _w = outlayer(&["worker", "--coordinator", &url, "--storage-database", PG_URL, "--quote-provider", "dev"], &dir.path().join("w"));
    full_flow(&url).await;
}

#[tokio::test]
async fn calls_complete_when_redis_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    // Nothing listens on the port of this Redis URL.
    let dead_redis = format!("redis://127.0.0.1:{}", free_port());
    let _serve = outlayer(&["serve", "--listen", &format!("127.0.0.1:{port}"), "--redis-url", &dead_redis], dir.path());
    wait_healthy(&reqwest::Client::new(), &url).await;
    let t = Tenant::new(&url, "echo", g::ECHO, &[], 1_000_000).await;
    let (status, v) = t.call("echo", json!({ "input": { "degraded": true } })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["output"]["degraded"], true);
}

#[tokio::test]
async fn a_job_of_a_killed_worker_completes_on_another_worker_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let db = dir.path().join("c/outlayer.db").display().to_string();
    let _c = outlayer(
        &["coordinator", "--listen", &listen, "--database", &db, "--lease-seconds", "1", "--allow-dev-attestation", "--dev-owners"],
        &dir.path().join("c"),
    );
    wait_healthy(&reqwest::Client::new(), &url).await;
    let t = Tenant::new(&url, "slow", g::LOOP_FOREVER, &[], 100_000_000).await;

    let mut a = outlayer(&["worker", "--coordinator", &url, "--quote-provider", "dev"], &dir.path().join("a"));
    let limits = json!({ "max_instructions": 400_000_000_000u64, "max_execution_seconds": 2 });
    let (status, v) = t.call("slow", json!({ "input": null, "async": true, "resource_limits": limits })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let id = v["call_id"].as_str().unwrap().to_string();
    let leased = t.wait_call(&id, |v| v["status"] == "leased" || v["status"] == "running").await;
    assert!(leased["worker"].is_null() || leased["status"] != "completed");
    a.kill_hard();

    let b = outlayer(&["worker", "--coordinator", &url, "--quote-provider", "dev"], &dir.path().join("b"));
    let done = t.wait_call(&id, |v| v["status"] == "completed" || v["status"] == "failed").await;
    drop(b);
    assert_eq!(done["error"]["code"], "timeout", "the loop ran to its wall-clock limit on worker B: {done}");
    let key_b = std::fs::read_to_string(dir.path().join("b/worker.key")).unwrap();
    let pub_b = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&hex::decode(key_b.trim()).unwrap().try_into().unwrap()).verifying_key().to_bytes(),
    );
    assert_eq!(done["worker"]["public_key"], pub_b.as_str(), "worker B completed it");

    // Settled once: exactly one settle entry for the call in the key's ledger.
    let nonce = t.key.split(':').nth(1).unwrap();
    let ledger: Value = t
        .http
        .get(format!("{url}/payment-keys/{}/{nonce}/ledger", t.owner))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let settles = ledger["entries"].as_array().unwrap().iter().filter(|e| e["call_id"] == id.as_str() && e["kind"] == "settle").count();
    assert_eq!(settles, 1, "{ledger}");
}

#[tokio::test]
async fn accepted_jobs_survive_a_coordinator_restart_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let schema = pg_schema();
    let coord =
        ["coordinator", "--listen", &listen, "--database", PG_URL, "--database-schema", &schema, "--allow-dev-attestation", "--dev-owners"];
    let mut c = outlayer(&coord, &dir.path().join("c"));
    wait_healthy(&reqwest::Client::new(), &url).await;
    let t = Tenant::new(&url, "echo", g::ECHO, &[], 1_000_000).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, v) = t.call("echo", json!({ "input": i, "async": true })).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(v["call_id"].as_str().unwrap().to_string());
    }
    c.kill_hard();
    let _c2 = outlayer(&coord, &dir.path().join("c"));
    wait_healthy(&reqwest::Client::new(), &url).await;
    let _w = outlayer(&["worker", "--coordinator", &url, "--quote-provider", "dev"], &dir.path().join("w"));
    for (i, id) in ids.iter().enumerate() {
        let v = t.wait_call(id, |v| v["status"] == "completed" || v["status"] == "failed").await;
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(v["output"], i);
    }
}

/// Concurrent calls of one counter: each call's writes take effect exactly with its result, so
/// the outputs are exactly 1..=N (every call saw the writes of the calls settled before it, and
/// no two saw the same state), conflicting executions ran again instead of losing an increment,
/// and every settled call was charged once.
async fn concurrent_counter_calls(url: &str) {
    const CALLS: u64 = 24;
    let t = std::sync::Arc::new(Tenant::new(url, "counter", g::COUNTER, &["storage"], 100_000_000).await);
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.call("counter", json!({ "input": 1 })).await })
        })
        .collect();
    let mut outputs = Vec::new();
    let mut costs = 0;
    for call in calls {
        let (status, v) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        outputs.push(v["output"].as_u64().expect("a number"));
        costs += v["compute_cost"].as_str().unwrap().parse::<u64>().unwrap();
    }
    outputs.sort_unstable();
    assert_eq!(outputs, (1..=CALLS).collect::<Vec<_>>(), "each call saw a distinct, complete state");
    let b = t.balance().await;
    assert_eq!(b["spent"].as_u64().unwrap(), costs, "{b}");
    assert_eq!(b["reserved"], 0);
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    let count = |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok()).unwrap_or(0);
    eprintln!(
        "{CALLS} concurrent counter calls: {} keys committed, {} conflicts re-run",
        count("outlayer_storage_writes_committed_total"),
        count("outlayer_storage_write_conflicts_total")
    );
    assert_eq!(count("outlayer_storage_writes_committed_total"), CALLS, "one committed key per call");
}

#[tokio::test]
async fn concurrent_counter_calls_commit_exactly_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _serve = outlayer(&["serve", "--listen", &format!("127.0.0.1:{port}"), "--rate-limit", "1000", "--concurrency", "8"], dir.path());
    wait_healthy(&reqwest::Client::new(), &url).await;
    concurrent_counter_calls(&url).await;
}

#[tokio::test]
async fn concurrent_counter_calls_commit_exactly_once_across_two_workers_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _c = pg_coordinator(dir.path(), port, &[]);
    wait_healthy(&reqwest::Client::new(), &url).await;
    // No keystore here: both workers seal the project's data under one deployment key.
    let key = "42".repeat(32);
    let worker = |name: &str| {
        let args = [
            "worker",
            "--coordinator",
            &url,
            "--storage-database",
            PG_URL,
            "--storage-key",
            &key,
            "--quote-provider",
            "dev",
            "--concurrency",
            "4",
        ];
        outlayer(&args, &dir.path().join(name))
    };
    let (_w1, _w2) = (worker("w1"), worker("w2"));
    concurrent_counter_calls(&url).await;
}

/// Submits `calls` async counter calls (each adds 1) while `chaos` kills and restarts processes,
/// waits for every call to settle, and checks that the counter holds exactly the number of
/// completed calls: the writes of executions whose results were lost never took effect.
async fn counter_under_chaos<F, Fut>(url: &str, calls: usize, chaos: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let t = Tenant::new(url, "counter", g::COUNTER, &["storage"], 100_000_000).await;
    let mut ids = Vec::new();
    for _ in 0..calls {
        let (status, v) = t.call("counter", json!({ "input": 1, "async": true })).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        ids.push(v["call_id"].as_str().unwrap().to_owned());
    }
    let kills = chaos().await;
    let mut completed = 0;
    let mut failed = 0;
    for id in &ids {
        let v = t.wait_call(id, |v| v["status"] == "completed" || v["status"] == "failed").await;
        if v["status"] == "completed" { completed += 1 } else { failed += 1 }
    }
    let (status, v) = t.call("counter", json!({ "input": 0 })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    eprintln!("{calls} counter calls, {kills} SIGKILLs: {completed} completed, {failed} failed, counter {}", v["output"]);
    assert_eq!(v["output"].as_u64(), Some(completed), "the counter equals the completed calls");
    assert_eq!(completed + failed, calls as u64);
    let b = t.balance().await;
    assert_eq!(b["reserved"], 0, "{b}");
}

#[tokio::test]
async fn counter_calls_under_worker_kills_commit_exactly_once_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _c = pg_coordinator(dir.path(), port, &["--lease-seconds", "1"]);
    wait_healthy(&reqwest::Client::new(), &url).await;
    let key = "42".repeat(32);
    let worker = |name: &str| {
        let args = ["worker", "--coordinator", &url, "--storage-database", PG_URL, "--storage-key", &key, "--quote-provider", "dev"];
        outlayer(&args, &dir.path().join(name))
    };
    let mut workers = [worker("w0"), worker("w1")];
    let (workers, worker) = (&mut workers, &worker);
    counter_under_chaos(&url, 80, || async move {
        // Kill one worker or the other mid-run, and bring it back on the same data directory.
        for i in 0..8 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            workers[i % 2].kill_hard();
            workers[i % 2] = worker(&format!("w{}", i % 2));
        }
        8
    })
    .await;
}

#[tokio::test]
async fn counter_calls_under_serve_kills_commit_exactly_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let serve = || outlayer(&["serve", "--listen", &listen, "--rate-limit", "1000", "--lease-seconds", "1"], dir.path());
    let mut s = serve();
    wait_healthy(&reqwest::Client::new(), &url).await;
    let (running, serve, health) = (&mut s, &serve, &url);
    counter_under_chaos(&url, 80, || async move {
        // The whole process (coordinator and worker) killed mid-run, three times; the last one
        // started stays up (and is killed when the test ends).
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            running.kill_hard();
            *running = serve();
            wait_healthy(&reqwest::Client::new(), health).await;
        }
        3
    })
    .await;
}
