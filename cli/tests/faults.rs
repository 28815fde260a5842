//! Issue 13's fault suite, bounded (real processes, about a minute): SIGKILL of a worker and of
//! the coordinator mid-call, a full disk under the coordinator's database (and the coordinator
//! SIGKILLed while it holds results it could not record), a client that disconnects mid-call, a
//! slow client (its body trickles), slowloris (20 request heads at one byte a second), and — on a private PostgreSQL and Redis this test starts (never the machine's
//! shared servers) — a PostgreSQL restart, Redis down, results reported while PostgreSQL is
//! down, and results spooled to DATA_DIR/held (PostgreSQL refusing writes) with the coordinator
//! SIGKILLed and PostgreSQL down before the next one settles them. Each scenario asserts: no accepted call
//! lost, none settled twice, the ledger invariant (balance = Σ top_up, spent = Σ settle, reserved
//! = Σ reserve − Σ settle − Σ release = 0 at rest), recovery without operator action; where no
//! process died mid-execution, that no call executed twice (the `counter` guest counts executions
//! in guest storage). Prints scenario → accepted / settled / lost / duplicated.
//!
//! The disk-full scenarios need `mount -t tmpfs` (root); the PostgreSQL ones need
//! `/usr/lib/postgresql/*/bin` (`initdb`, `pg_ctl`) and `redis-server`. A missing one fails the
//! test, naming it, unless `OUTLAYER_FAULTS_SKIP` lists it (`disk`, `postgres`): a skip is then
//! printed in the table, never silent. `OUTLAYER_FAULTS_LOG_DIR=DIR` keeps every process's log
//! (`OUTLAYER_LOG=info`) in DIR.

mod common;
use common::{Proc, free_port, wait_healthy};

use outlayer_guest_artifacts as g;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

impl Proc {
    fn kill_hard(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

fn outlayer(args: &[&str], data_dir: &Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("OUTLAYER_LOG", if log_dir().is_some() { "info" } else { "error" })
        .stdout(Stdio::null())
        .stderr(match log_dir() {
            Some(d) => Stdio::from(std::fs::File::create(d.join(format!("{}-{}.log", args[0], uuid::Uuid::new_v4().simple()))).unwrap()),
            None => Stdio::null(),
        })
        .spawn()
        .expect("spawn outlayer");
    Proc(child)
}

fn log_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("OUTLAYER_FAULTS_LOG_DIR").map(Into::into)
}

/// Whether `OUTLAYER_FAULTS_SKIP` (comma-separated) lists `what`.
fn skipped(what: &str) -> bool {
    std::env::var("OUTLAYER_FAULTS_SKIP").is_ok_and(|v| v.split(',').any(|s| s.trim() == what))
}

/// A coordinator (on `db`) listening on `port`.
fn coordinator(port: u16, db: &str, dir: &Path, lease_seconds: &str) -> Proc {
    coordinator_with(port, db, dir, lease_seconds, &[])
}

/// [`coordinator`] with more flags.
fn coordinator_with(port: u16, db: &str, dir: &Path, lease_seconds: &str, more: &[&str]) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "coordinator",
        "--listen",
        &listen,
        "--database",
        db,
        "--lease-seconds",
        lease_seconds,
        "--allow-dev-attestation",
        "--dev-owners",
        "--ip-rate-limit",
        "0",
    ];
    args.extend_from_slice(more);
    outlayer(&args, dir)
}

fn worker(url: &str, dir: &Path) -> Proc {
    outlayer(&["worker", "--coordinator", url, "--quote-provider", "dev"], dir)
}

/// A worker whose guest storage is `storage` (the database the coordinator applies write sets to).
fn worker_on(url: &str, dir: &Path, storage: &str) -> Proc {
    outlayer(&["worker", "--coordinator", url, "--quote-provider", "dev", "--storage-database", storage], dir)
}

/// An owner with the `counter` project (storage granted) and a payment key.
struct Tenant {
    http: reqwest::Client,
    url: String,
    owner: String,
    token: String,
    key: String,
}

impl Tenant {
    async fn new(url: &str) -> Tenant {
        let http = reqwest::Client::new();
        let owner = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": owner })).send().await.unwrap().json().await.unwrap();
        let token = r["token"].as_str().unwrap_or_else(|| panic!("owner: {r}")).to_owned();
        let r = http
            .post(format!("{url}/projects"))
            .bearer_auth(&token)
            .json(&json!({ "name": "counter", "grants": ["storage"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let r = http
            .post(format!("{url}/projects/{owner}/counter/versions"))
            .bearer_auth(&token)
            .body(g::read(g::COUNTER))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let r: Value = http
            .post(format!("{url}/payment-keys"))
            .bearer_auth(&token)
            .json(&json!({ "initial_balance": 1_000_000_000u64 }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Tenant { http, url: url.to_owned(), owner, token, key: r["key"].as_str().unwrap().to_owned() }
    }

    fn call_request(&self, input: i64, is_async: bool) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/call/{}/counter", self.url, self.owner))
            .header("x-payment-key", &self.key)
            .json(&json!({ "input": input, "async": is_async, "resource_limits": { "max_execution_seconds": 5 } }))
    }

    /// Async calls; returns the ids of the accepted ones.
    async fn submit(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            if let Ok(r) = self.call_request(1, true).send().await
                && r.status().as_u16() == 202
                && let Ok(v) = r.json::<Value>().await
            {
                ids.push(v["call_id"].as_str().unwrap().to_owned());
            }
        }
        ids
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().await.ok()?;
        r.status().is_success().then_some(())?;
        r.json().await.ok()
    }

    async fn call_view(&self, id: &str) -> Option<Value> {
        let r = self.http.get(format!("{}/calls/{id}", self.url)).header("x-payment-key", &self.key).send().await.ok()?;
        r.json().await.ok()
    }

    /// Waits (60 s at most in all) until every call is final; returns the views.
    async fn settle_all(&self, ids: &[String]) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut views = Vec::new();
        for id in ids {
            let mut last = Value::Null;
            while std::time::Instant::now() < deadline {
                if let Some(v) = self.call_view(id).await {
                    last = v;
                    if last["status"] == "completed" || last["status"] == "failed" {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            views.push(last);
        }
        views
    }
}

/// Waits until `n` workers are registered (a worker exits if it cannot register).
async fn wait_workers(http: &reqwest::Client, url: &str, n: usize) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{url}/workers")).send().await
            && let Ok(v) = r.json::<Value>().await
            && v["workers"].as_array().is_some_and(|w| w.len() >= n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} workers never registered at {url}");
}

/// Waits until one of `ids` is leased (so a kill lands mid-call).
async fn wait_leased(t: &Tenant, ids: &[String]) {
    for _ in 0..600 {
        for id in ids {
            if t.call_view(id).await.is_some_and(|v| v["status"] != "queued") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 30 s) until one of `ids` has `status`.
async fn wait_status(t: &Tenant, ids: &[String], status: &str) {
    for _ in 0..1500 {
        for id in ids {
            if t.call_view(id).await.is_some_and(|v| v["status"] == status) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("none of the calls reached {status}");
}

/// Sends `SIG<name>` to a process.
fn signal(p: &Proc, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(p.0.id().to_string()).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{name}");
}

/// One scenario's outcome.
struct Row {
    scenario: &'static str,
    accepted: usize,
    settled: usize,
    lost: usize,
    duplicated: usize,
    skipped: bool,
}

impl Row {
    /// A scenario `OUTLAYER_FAULTS_SKIP` left out (shown in the table).
    fn skipped(scenario: &'static str) -> Row {
        Row { scenario, accepted: 0, settled: 0, lost: 0, duplicated: 0, skipped: true }
    }
}

/// Counts and checks the invariants for `ids`. With `executions_before` (the counter's value
/// before these calls), checks that each completed call executed exactly once; `None` where a
/// process died mid-execution (a killed run's partial storage writes are out of this scope).
async fn tally(scenario: &'static str, t: &Tenant, ids: &[String], executions_before: Option<i64>) -> Row {
    let views = t.settle_all(ids).await;
    let settled =
        views.iter().filter(|v| (v["status"] == "completed" || v["status"] == "failed") && v["error"]["code"] != "worker_lost").count();
    let nonce = t.key.split(':').nth(1).unwrap();
    let ledger = t.get(&format!("/payment-keys/{}/{nonce}/ledger", t.owner)).await.expect("ledger");
    let entries = ledger["entries"].as_array().unwrap();
    let duplicated =
        ids.iter().filter(|id| entries.iter().filter(|e| e["call_id"] == id.as_str() && e["kind"] == "settle").count() > 1).count();
    let sum = |kind: &str| entries.iter().filter(|e| e["kind"] == kind).map(|e| e["amount"].as_i64().unwrap()).sum::<i64>();
    let key = t.get(&format!("/payment-keys/{}/{nonce}", t.owner)).await.expect("key");
    assert_eq!(key["balance"].as_i64(), Some(sum("top_up")), "{scenario}: balance = Σ top_up");
    assert_eq!(key["spent"].as_i64(), Some(sum("settle")), "{scenario}: spent = Σ settle");
    assert_eq!(key["reserved"].as_i64(), Some(sum("reserve") - sum("settle") - sum("release")), "{scenario}: reserved");
    assert_eq!(key["reserved"].as_i64(), Some(0), "{scenario}: nothing stays reserved");
    if let Some(before) = executions_before {
        let completed = views.iter().filter(|v| v["status"] == "completed").count() as i64;
        assert_eq!(executions(t).await - before, completed, "{scenario}: each accepted call executed once");
    }
    Row { scenario, accepted: ids.len(), settled, lost: ids.len() - settled, duplicated, skipped: false }
}

/// The counter's value, by a call that adds 0 (sync).
async fn executions(t: &Tenant) -> i64 {
    let r: Value = t.call_request(0, false).send().await.unwrap().json().await.unwrap();
    r["output"].as_i64().unwrap_or_else(|| panic!("counter read: {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_nothing_and_settle_nothing_twice() {
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // 1. SIGKILL of the worker mid-call: its leases expire (1 s) and another worker settles them.
    {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let db = dir.path().join("k1/outlayer.db").display().to_string();
        let _c = coordinator(port, &db, &dir.path().join("k1"), "1");
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        let mut a = worker(&url, &dir.path().join("k1-a"));
        wait_workers(&http, &url, 1).await;
        let ids = t.submit(12).await;
        wait_leased(&t, &ids).await;
        a.kill_hard();
        let _b = worker(&url, &dir.path().join("k1-b"));
        rows.push(tally("worker SIGKILL mid-call", &t, &ids, None).await);
    }

    // 2. SIGKILL of the coordinator mid-call, restarted on the same database and port.
    {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let db = dir.path().join("k2/outlayer.db").display().to_string();
        let mut c = coordinator(port, &db, &dir.path().join("k2"), "1");
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        let _w = worker(&url, &dir.path().join("k2-w"));
        wait_workers(&http, &url, 1).await;
        let ids = t.submit(12).await;
        wait_leased(&t, &ids).await;
        c.kill_hard();
        let _c = coordinator(port, &db, &dir.path().join("k2"), "1");
        wait_healthy(&http, &url).await;
        rows.push(tally("coordinator SIGKILL mid-call", &t, &ids, None).await);
    }

    // 3. Disk full under the coordinator's SQLite file (a 3 MiB tmpfs), then space returns.
    if skipped("disk") {
        rows.push(Row::skipped("disk full (tmpfs), then space returns"));
    } else {
        let mnt = dir.path().join("tmpfs");
        let mount = Tmpfs::mount(&mnt);
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let db = mnt.join("outlayer.db").display().to_string();
        let c = coordinator(port, &db, &dir.path().join("k3"), "1");
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        let w = worker(&url, &dir.path().join("k3-w"));
        wait_workers(&http, &url, 1).await;
        let mut ids = t.submit(5).await;
        // Fill the disk, keep calling while it is full, then free it.
        let filler = fill(&mnt);
        ids.extend(t.submit(20).await);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        std::fs::remove_file(&filler).unwrap();
        rows.push(tally("disk full (tmpfs), then space returns", &t, &ids, Some(0)).await);
        drop(w);
        drop(c);

        drop(mount);
    }

    // 6. PostgreSQL restart and 7. Redis down: a coordinator on a private PostgreSQL and Redis
    // (started here), a separate worker.
    if skipped("postgres") {
        rows.push(Row::skipped("PostgreSQL restart mid-calls"));
        rows.push(Row::skipped("Redis down"));
        rows.push(Row::skipped("results during PostgreSQL down, coord. SIGKILL"));
        rows.push(Row::skipped("results spooled, coord. SIGKILL, PostgreSQL down"));
    } else {
        let mut pg = Postgres::start(&dir.path().join("pg"));
        let mut redis = Redis::start(&dir.path().join("redis"));
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let redis_url = redis.url();
        let c = coordinator_with(port, &pg.url(), &dir.path().join("k6"), "2", &["--redis-url", &redis_url]);
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        let _w = worker_on(&url, &dir.path().join("k6-w"), &pg.url());
        wait_workers(&http, &url, 1).await;
        let before = executions(&t).await;
        let mut ids = t.submit(10).await;
        wait_leased(&t, &ids).await;
        pg.stop();
        // While the database is down: a call is refused with 503 `database_unavailable` once the
        // pool gives up on a connection (`PG_ACQUIRE_TIMEOUT`, 5 s; it was 30 s). The time is
        // printed, not asserted; the 120 s bound only turns a hang into a failure.
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(120), t.call_request(1, true).send())
            .await
            .expect("a call while PostgreSQL is down answers, it does not hang")
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body: Value = r.json().await.expect("a JSON error body");
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("database_unavailable")), "database down: {body}");
        assert!(retry_after.is_some(), "503 database_unavailable says when to retry");
        eprintln!("PostgreSQL down: a call got {status} {} in {:?}", body["error"]["code"], started.elapsed());
        pg.start_again();
        ids.extend(t.submit(5).await);
        rows.push(tally("PostgreSQL restart mid-calls", &t, &ids, Some(before)).await);

        let before = executions(&t).await;
        redis.stop();
        let mut ids = t.submit(5).await;
        let sync = t.call_request(1, false).send().await.unwrap();
        assert_eq!(sync.status().as_u16(), 200, "a sync call completes with Redis down");
        let v: Value = sync.json().await.unwrap();
        ids.push(v["call_id"].as_str().unwrap().to_owned());
        let health: Value = http.get(format!("{url}/healthz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["redis"], "degraded", "{health}");
        redis.start_again();
        ids.extend(t.submit(3).await);
        rows.push(tally("Redis down", &t, &ids, Some(before)).await);
        drop(c);

        // 8. Results reported while PostgreSQL is down, the coordinator SIGKILLed, then both back:
        // the worker (frozen while it holds a leased job) reports after the database stopped. On
        // PostgreSQL the coordinator reads the worker's token from the database first, so every
        // report is refused (503 database_unavailable) before a result is verified: nothing can
        // be spooled here, the worker keeps its results and sends them again, and the next
        // coordinator settles each once, not run again. (Scenario 9 is the spool's.)
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let data = dir.path().join("k8");
        let mut c = coordinator_with(port, &pg.url(), &data, "30", &["--redis-url", &redis_url]);
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        let ids = t.submit(4).await;
        let w = worker_on(&url, &dir.path().join("k8-w"), &pg.url());
        wait_status(&t, &ids, "leased").await;
        signal(&w, "STOP");
        pg.stop();
        signal(&w, "CONT");
        let spool = data.join("held");
        let spooled = || {
            std::fs::read_dir(&spool)
                .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count())
                .unwrap_or(0)
        };
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        let held = spooled();
        c.kill_hard();
        pg.start_again();
        let c = coordinator_with(port, &pg.url(), &data, "30", &["--redis-url", &redis_url]);
        wait_healthy(&http, &url).await;
        rows.push(tally("results during PostgreSQL down, coord. SIGKILL", &t, &ids, Some(0)).await);
        assert_eq!(spooled(), 0, "settled results leave the spool");
        eprintln!("PostgreSQL down: {held} results spooled by the coordinator when it was killed (the worker kept them)");
        drop(w);
        drop(c);

        // 9. The spool, end to end: results the coordinator verified but could not record are
        // spooled, the coordinator is SIGKILLed with them, PostgreSQL goes down, then comes back,
        // and the next coordinator settles them from DATA_DIR/held alone — the worker that ran
        // them is SIGKILLed too, so nothing else could. To have the coordinator verify results it
        // cannot record, PostgreSQL first refuses writes while it still answers reads (restarted
        // read-only, as a failed-over standby would: the worker's token and the call are read, the
        // settling UPDATE fails), and the guest store is its own database (`--storage-database`,
        // SQLite: the write sets commit there, as they would to a storage database that is up).
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let data = dir.path().join("k9");
        let storage = data.join("storage.db").display().to_string();
        let flags = ["--redis-url", redis_url.as_str(), "--storage-database", storage.as_str()];
        let mut c = coordinator_with(port, &pg.url(), &data, "10", &flags);
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        let ids = t.submit(4).await;
        let mut w = worker_on(&url, &dir.path().join("k9-w"), &storage);
        wait_status(&t, &ids, "leased").await;
        signal(&w, "STOP");
        pg.restart_read_only();
        signal(&w, "CONT");
        let spool = data.join("held");
        let spooled = || -> Vec<(String, Value)> {
            let mut found = Vec::new();
            for e in std::fs::read_dir(&spool).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(id) = name.strip_suffix(".json")
                    && !name.starts_with('.')
                {
                    let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).expect("a spooled result is JSON");
                    found.push((id.to_owned(), v));
                }
            }
            found
        };
        // The worker reports: results are verified, their writes committed to the guest store,
        // and the settling write fails: each is spooled (503 settle_pending to the worker).
        // (Until every call is spooled, or the count stays the same for 3 s: the calls the
        // worker had not leased yet cannot be leased while PostgreSQL refuses writes.)
        let (mut held, mut same_since) = (Vec::new(), std::time::Instant::now());
        for _ in 0..600 {
            let now = spooled();
            if now.len() != held.len() {
                same_since = std::time::Instant::now();
            }
            held = now;
            if held.len() == ids.len() || (!held.is_empty() && same_since.elapsed() > Duration::from_secs(3)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!held.is_empty(), "results reported while PostgreSQL refuses writes are spooled");
        w.kill_hard();
        held = spooled();
        pg.stop();
        c.kill_hard();
        pg.start_again();
        let c = coordinator_with(port, &pg.url(), &data, "10", &flags);
        wait_healthy(&http, &url).await;
        // No worker runs: only the spool can settle these calls.
        for (id, _) in &held {
            wait_status(&t, std::slice::from_ref(id), "completed").await;
        }
        for (id, spooled_result) in &held {
            assert!(ids.contains(id), "the spool holds only this run's calls");
            let v = t.call_view(id).await.expect("call view");
            assert_eq!(
                v["receipt"]["signature"], spooled_result["result"]["receipt"]["signature"],
                "{id} settled with the spooled result: {v}"
            );
        }
        let settled_by_spool = held.len();
        assert!(spooled().is_empty(), "settled results leave the spool");
        // The rest (never reported, or run by the killed worker) go to the worker restarted on its
        // data directory (its storage key: a new worker could not read the encrypted values).
        let w = worker_on(&url, &dir.path().join("k9-w"), &storage);
        rows.push(tally("results spooled, coord. SIGKILL, PostgreSQL down", &t, &ids, Some(0)).await);
        eprintln!(
            "spool: {settled_by_spool} of {} results spooled while PostgreSQL refused writes, settled by the restarted coordinator",
            ids.len()
        );
        drop(w);
        drop(c);
    }

    // 4. A client that disconnects mid-call, and 5. a slow client (its body trickles in).
    {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let db = dir.path().join("k4/outlayer.db").display().to_string();
        let _c = coordinator(port, &db, &dir.path().join("k4"), "30");
        wait_healthy(&http, &url).await;
        let t = Tenant::new(&url).await;
        // Sync calls dropped before any answer: no worker yet, so each is mid-call when dropped.
        for _ in 0..6 {
            let dropped = tokio::time::timeout(Duration::from_millis(300), t.call_request(1, false).send()).await;
            assert!(dropped.is_err(), "no worker runs yet: the sync call cannot have answered");
        }
        let _w = worker(&url, &dir.path().join("k4-w"));
        wait_workers(&http, &url, 1).await;
        // The dropped calls were accepted (reserved) before the client left: find them.
        let calls: Value = t.get(&format!("/payment-keys/{}/{}/ledger", t.owner, t.key.split(':').nth(1).unwrap())).await.unwrap();
        let ids: Vec<String> = calls["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "reserve")
            .filter_map(|e| e["call_id"].as_str().map(str::to_owned))
            .collect();
        assert!(!ids.is_empty(), "the dropped calls were accepted");
        rows.push(tally("client disconnects mid-call", &t, &ids, Some(0)).await);
        let before = executions(&t).await;

        // A slow client: the request body arrives a byte at a time; others are served meanwhile.
        let addr = format!("127.0.0.1:{port}");
        let body = json!({ "input": 1, "async": true }).to_string();
        let head = format!(
            "POST /call/{}/counter HTTP/1.1\r\nhost: x\r\nx-payment-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            t.owner,
            t.key,
            body.len()
        );
        let slow = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            for b in body.as_bytes() {
                s.write_all(&[*b]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            let mut answer = String::new();
            s.read_to_string(&mut answer).await.unwrap();
            answer
        });
        let fast = t.submit(3).await;
        assert_eq!(fast.len(), 3, "served while the slow client trickles");
        let answer = slow.await.unwrap();
        let id = answer.split("\"call_id\":\"").nth(1).and_then(|r| r.split('"').next()).expect("the slow call's id").to_owned();
        let mut ids = fast;
        ids.push(id);
        rows.push(tally("slow client", &t, &ids, Some(before)).await);

        // 10. Slowloris: 20 connections send their request head one byte per second (12 s), while
        // calls on other connections are served; then each sends the rest of its request at once
        // and is answered: a slow but progressing client is neither a denial of service nor cut.
        let before = executions(&t).await;
        let body = json!({ "input": 1, "async": true }).to_string();
        let head = format!(
            "POST /call/{}/counter HTTP/1.1\r\nhost: x\r\nx-payment-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            t.owner,
            t.key,
            body.len()
        );
        let trickled = 12;
        let slow: Vec<_> = (0..20)
            .map(|_| {
                let (addr, request) = (format!("127.0.0.1:{port}"), head.clone());
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    for b in &request.as_bytes()[..trickled] {
                        if s.write_all(&[*b]).await.is_err() {
                            return Err("cut while trickling".to_owned());
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    s.write_all(&request.as_bytes()[trickled..]).await.map_err(|e| format!("cut: {e}"))?;
                    let mut answer = String::new();
                    s.read_to_string(&mut answer).await.map_err(|e| format!("cut: {e}"))?;
                    Ok(answer)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = std::time::Instant::now();
        let fast = t.submit(5).await;
        let fast_took = started.elapsed();
        assert_eq!(fast.len(), 5, "calls are served while 20 clients trickle their headers");
        let mut ids = fast;
        for task in slow {
            let answer = task.await.unwrap().expect("a slow client is answered, not cut");
            assert!(answer.starts_with("HTTP/1.1 202"), "a slow client's call is accepted: {answer}");
            ids.push(answer.split("\"call_id\":\"").nth(1).and_then(|r| r.split('"').next()).expect("call id").to_owned());
        }
        rows.push(tally("slowloris (headers 1 byte/s, 20 conns)", &t, &ids, Some(before)).await);
        eprintln!("slowloris: 5 calls served in {fast_took:?} while 20 connections trickled their headers");
    }

    println!("\n{:<48} {:>8} {:>8} {:>5} {:>10}", "scenario", "accepted", "settled", "lost", "duplicated");
    for r in &rows {
        if r.skipped {
            println!("{:<48} SKIPPED (OUTLAYER_FAULTS_SKIP)", r.scenario);
        } else {
            println!("{:<48} {:>8} {:>8} {:>5} {:>10}", r.scenario, r.accepted, r.settled, r.lost, r.duplicated);
        }
    }
    for r in rows.iter().filter(|r| !r.skipped) {
        assert_eq!((r.lost, r.duplicated), (0, 0), "{}: {} lost, {} duplicated", r.scenario, r.lost, r.duplicated);
        assert!(r.accepted > 0, "{}: nothing was accepted", r.scenario);
    }
}

/// A tmpfs of 3 MiB mounted at a directory, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(at).status().is_ok_and(|s| s.success());
        assert!(ok, "cannot mount a tmpfs at {} (needs root); OUTLAYER_FAULTS_SKIP=disk leaves the disk-full scenarios out", at.display());
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with a file; returns its path.
fn fill(dir: &Path) -> std::path::PathBuf {
    let filler = dir.join("filler");
    let mut chunk = 0;
    while std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&filler)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &[0u8; 16 * 1024]))
        .is_ok()
    {
        chunk += 1;
        assert!(chunk < 1000, "the tmpfs never filled");
    }
    filler
}

/// The PostgreSQL server binaries (`initdb`, `pg_ctl`): the newest /usr/lib/postgresql/N/bin.
fn pg_bin() -> std::path::PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|b| b.join("pg_ctl").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().expect("no /usr/lib/postgresql/*/bin/pg_ctl; OUTLAYER_FAULTS_SKIP=postgres leaves the PostgreSQL scenarios out")
}

/// Runs a PostgreSQL binary; as the `postgres` user when this test runs as root (the server
/// refuses root).
fn pg_command(bin: &Path, args: &[&str]) -> std::process::ExitStatus {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run a PostgreSQL binary")
}

/// A private PostgreSQL server (its own data directory and port), stopped when dropped.
struct Postgres {
    bin: std::path::PathBuf,
    data: String,
    port: u16,
}

impl Postgres {
    fn start(dir: &Path) -> Postgres {
        let bin = pg_bin();
        std::fs::create_dir_all(dir).unwrap();
        let _ = Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir).status();
        // The temporary directory above it must be traversable by the server's user.
        let mut up = dir.parent();
        while let Some(p) = up {
            if p == Path::new("/") {
                break;
            }
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(p) {
                let mode = m.permissions().mode();
                if mode & 0o001 == 0 {
                    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o011));
                }
            }
            up = p.parent();
        }
        let data = dir.join("data").display().to_string();
        let ok = pg_command(&bin.join("initdb"), &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(ok.success(), "initdb failed for the private PostgreSQL");
        let pg = Postgres { bin, data, port: free_port() };
        pg.start_again();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start_again(&self) {
        self.start_with("");
    }

    /// Stops and starts the server refusing writes (`default_transaction_read_only`): reads
    /// answer, every INSERT / UPDATE fails. [`Postgres::start_again`] makes it writable again.
    fn restart_read_only(&mut self) {
        self.stop();
        self.start_with("-c default_transaction_read_only=on");
    }

    fn start_with(&self, more: &str) {
        let opts = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off {more}", self.port);
        let ok = pg_command(&self.bin.join("pg_ctl"), &["-D", &self.data, "-o", &opts, "-w", "-t", "30", "start"]);
        assert!(ok.success(), "the private PostgreSQL did not start");
    }

    fn stop(&mut self) {
        pg_command(&self.bin.join("pg_ctl"), &["-D", &self.data, "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private Redis (no persistence) on a free port, killed when dropped.
struct Redis {
    port: u16,
    proc: Option<Proc>,
}

impl Redis {
    fn start(_dir: &Path) -> Redis {
        let mut r = Redis { port: free_port(), proc: None };
        r.start_again();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (OUTLAYER_FAULTS_SKIP=postgres leaves the PostgreSQL and Redis scenarios out)");
        self.proc = Some(Proc(child));
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the private redis-server did not listen on {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill_hard();
        }
    }
}
