//! Test harness: a coordinator on 127.0.0.1:0, an HTTP helper, and an in-test worker loop that
//! leases jobs over HTTP and completes them with a real ed25519 signature (echo semantics).
#![allow(dead_code)]

pub mod scenarios;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use outlayer_coordinator::model::{CallView, Completion, ExecutionResult, Job, Outcome};
use outlayer_coordinator::{
    AppState, AttestationConfig, CoordinatorConfig, DatabaseConfig, PricingConfig, RateLimitConfig, build_state, run,
};
use outlayer_protocol::client::{ClientError, WorkerClient};
use outlayer_protocol::{DEV_MEASUREMENTS, RegisterRequest, Signer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Smallest valid wasm module: magic + version 1.
pub const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";
/// Test prices: a 2M-instruction, 10 ms echo costs 1000 + 20 + 10 = 1030.
pub const PRICES: PricingConfig =
    PricingConfig { base_fee: 1_000, per_million_instructions: 10, per_second: 1_000, developer_share_bps: 8_000 };
/// Instructions every echo run reports.
pub const ECHO_INSTRUCTIONS: u64 = 2_000_000;
/// Wall time every echo run reports.
pub const ECHO_WALL_MS: u64 = 10;
/// Cost of one echo run under [`PRICES`].
pub const ECHO_COST: i64 = 1_030;
/// Small limits used by most calls: max compute = 1000 + 100 + 1000 = 2100.
pub fn small_limits() -> Value {
    json!({ "max_instructions": 10_000_000, "max_execution_seconds": 1 })
}
/// Reservation of a call with [`small_limits`] and no deposit.
pub const SMALL_RESERVE: i64 = 2_100;

pub fn random_name(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Base config for tests (generous rate limit, test prices).
pub fn base_config(database: DatabaseConfig) -> CoordinatorConfig {
    CoordinatorConfig {
        database,
        pricing: PRICES,
        rate_limit: RateLimitConfig { max_calls: 100_000, window: Duration::from_secs(1) },
        lease_long_poll: Duration::from_secs(2),
        // The fake workers below register with dev evidence.
        attestation: AttestationConfig { allow_dev: true, ..AttestationConfig::default() },
        // Every test client is 127.0.0.1 (and the per-IP window is shared in Redis by all test
        // processes): per-IP and per-owner limits are tested on their own, in hardening.rs.
        admission: outlayer_coordinator::admission::AdmissionConfig { ip_rate_limit: None, owner_rate_limit: None, ..Default::default() },
        // Test owners are created with POST /owners (sign-in is tested in signin.rs).
        signin: outlayer_coordinator::signin::SigninConfig { dev_owners: true, ..Default::default() },
        ..CoordinatorConfig::default()
    }
}

/// A SQLite config on a file inside `dir`.
pub fn sqlite_config(dir: &tempfile::TempDir) -> CoordinatorConfig {
    base_config(DatabaseConfig::Sqlite { path: dir.path().join("coordinator.db") })
}

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A PostgreSQL config on a fresh random schema, with the real Redis.
pub fn pg_config() -> CoordinatorConfig {
    let mut c = base_config(DatabaseConfig::Postgres { url: PG_URL.into(), schema: Some(random_name("coord_test_")) });
    c.redis_url = Some(REDIS_URL.into());
    c
}

/// Drops the schema of a PostgreSQL config (best effort).
pub async fn drop_schema(config: &CoordinatorConfig) {
    if let DatabaseConfig::Postgres { url, schema: Some(schema) } = &config.database {
        drop_schema_at(url, schema).await;
    }
}

/// Drops the schema `schema` of the test server ([`PG_URL`]).
pub async fn drop_pg_schema(schema: &str) {
    drop_schema_at(PG_URL, schema).await;
}

/// Runs `scenario` with the name of a fresh schema `schema` of the test server, then drops the
/// schema whatever the outcome.
pub async fn in_pg_schema<F: std::future::Future<Output = Result<()>>>(schema: &str, scenario: impl FnOnce(String) -> F) -> Result<()> {
    let result = scenario(schema.to_owned()).await;
    drop_pg_schema(schema).await;
    result
}

/// A project row of `owner` named `name`, created at `now` with no active version, grants or
/// allowlist: the database-level fixture of the hand-off and lookup tests.
pub fn new_project(owner: &str, name: &str, now: i64) -> outlayer_coordinator::db::ProjectRow {
    outlayer_coordinator::db::ProjectRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner: owner.into(),
        name: name.into(),
        active_version: None,
        grants: Vec::new(),
        http_allowlist: Vec::new(),
        created_ms: now,
    }
}

async fn drop_schema_at(url: &str, schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))).execute(&pool).await;
    }
}

/// A running coordinator.
pub struct Server {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub async fn start(config: CoordinatorConfig) -> Result<Self> {
        let state = build_state(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = oneshot::channel::<()>();
        let st = state.clone();
        let handle = tokio::spawn(async move {
            run(listener, st, async move {
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
        Ok(Self { base, state, http: reqwest::Client::new(), stop: Some(tx), handle: Some(handle) })
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST JSON with optional bearer; returns (status, body).
    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Result<(StatusCode, Value)> {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        read(req.send().await?).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<(StatusCode, Value)> {
        let mut req = self.http.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await?).await
    }

    /// Creates an owner; returns (name, token).
    pub async fn owner(&self) -> Result<(String, String)> {
        let name = random_name("o");
        let (s, b) = self.post("/owners", None, &json!({ "owner": name })).await?;
        if s != StatusCode::CREATED {
            bail!("create owner: {s} {b}");
        }
        Ok((name, b["token"].as_str().context("token")?.to_owned()))
    }

    /// Creates a project with an uploaded (active) version; returns its sha256.
    pub async fn project(&self, owner: &str, token: &str, name: &str) -> Result<String> {
        let (s, b) = self.post("/projects", Some(token), &json!({ "name": name, "grants": ["storage"] })).await?;
        if s != StatusCode::CREATED {
            bail!("create project: {s} {b}");
        }
        let resp = self
            .http
            .post(self.url(&format!("/projects/{owner}/{name}/versions")))
            .bearer_auth(token)
            .body(EMPTY_MODULE.to_vec())
            .send()
            .await?;
        let (s, b) = read(resp).await?;
        if s != StatusCode::CREATED {
            bail!("upload: {s} {b}");
        }
        Ok(b["sha256"].as_str().context("sha")?.to_owned())
    }

    /// Creates a payment key; returns the full key string.
    pub async fn key(&self, token: &str, body: Value) -> Result<String> {
        let (s, b) = self.post("/payment-keys", Some(token), &body).await?;
        if s != StatusCode::CREATED {
            bail!("create key: {s} {b}");
        }
        Ok(b["key"].as_str().context("key")?.to_owned())
    }

    /// `POST /call` with a payment key and extra headers.
    pub async fn call(
        &self,
        owner: &str,
        project: &str,
        key: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<(StatusCode, Value)> {
        let mut req = self.http.post(self.url(&format!("/call/{owner}/{project}"))).header("X-Payment-Key", key).json(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        read(req.send().await?).await
    }

    /// Key state as seen by its owner: (balance, spent, reserved).
    pub async fn key_state(&self, key: &str) -> Result<Value> {
        let mut parts = key.splitn(3, ':');
        let (owner, nonce) = (parts.next().unwrap(), parts.next().unwrap());
        let (s, b) = self.get(&format!("/payment-keys/{owner}/{nonce}"), &[("X-Payment-Key", key)]).await?;
        if s != StatusCode::OK {
            bail!("key state: {s} {b}");
        }
        Ok(b)
    }

    pub async fn ledger(&self, key: &str) -> Result<Vec<Value>> {
        let mut parts = key.splitn(3, ':');
        let (owner, nonce) = (parts.next().unwrap(), parts.next().unwrap());
        let (s, b) = self.get(&format!("/payment-keys/{owner}/{nonce}/ledger"), &[("X-Payment-Key", key)]).await?;
        if s != StatusCode::OK {
            bail!("ledger: {s} {b}");
        }
        Ok(b["entries"].as_array().cloned().unwrap_or_default())
    }

    /// Polls `GET /calls/{id}` until the call is final (bounded number of polls).
    pub async fn wait_final(&self, key: &str, call_id: &str) -> Result<Value> {
        for _ in 0..300 {
            let (s, b) = self.get(&format!("/calls/{call_id}"), &[("X-Payment-Key", key)]).await?;
            if s != StatusCode::OK {
                bail!("get call: {s} {b}");
            }
            if b["status"] == "completed" || b["status"] == "failed" {
                return Ok(b);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("call {call_id} never settled")
    }

    pub async fn worker(&self) -> Result<TestWorker> {
        dev_register(&self.base, None).await
    }
}

/// A worker over HTTP that signs what the test tells it to report.
pub struct TestWorker {
    pub client: WorkerClient,
    pub key: SigningKey,
}

impl std::ops::Deref for TestWorker {
    type Target = WorkerClient;
    fn deref(&self) -> &WorkerClient {
        &self.client
    }
}

impl TestWorker {
    /// This worker's receipt signer (its id and attestation digest).
    pub fn signer(&self) -> Signer<'_> {
        Signer { worker_id: &self.client.worker_id, attestation_sha256: &self.client.attestation_sha256 }
    }

    /// Signs `result` as this worker's result of `job` and reports it.
    pub async fn complete(&self, job: &Job, result: &ExecutionResult) -> Result<CallView, ClientError> {
        self.client.complete(&Completion::sign(job, result.clone(), &self.signer(), &self.key)).await
    }
}

/// Registers a fresh key over HTTP with dev evidence (attest's `DevProvider`, claiming
/// [`DEV_MEASUREMENTS`]) bound to a fresh challenge: the fake workers' way through attestation.
pub async fn dev_register(base: &str, token: Option<&str>) -> Result<TestWorker> {
    use outlayer_attest::providers::{DevProvider, QuoteProvider};
    let key = SigningKey::from_bytes(&rand::random());
    let challenge = WorkerClient::challenge(base, token).await?;
    let evidence = DevProvider { measurements: DEV_MEASUREMENTS }
        .evidence(outlayer_attest::report_data(&key.verifying_key().to_bytes(), &challenge))?;
    let client = WorkerClient::register(base, &key, &challenge, &evidence, token).await?;
    Ok(TestWorker { client, key })
}

/// The same for a worker in the process of `state` (no HTTP): returns the row and the request.
pub async fn dev_register_state(state: &AppState, key: &SigningKey) -> Result<outlayer_coordinator::db::WorkerRow> {
    let challenge = state.issue_challenge().await.map_err(|e| anyhow::anyhow!(e.message))?;
    let public = key.verifying_key().to_bytes();
    let evidence = outlayer_attest::Evidence::dev(outlayer_attest::report_data(&public, &challenge), DEV_MEASUREMENTS);
    let req = RegisterRequest { public_key: hex::encode(public), challenge: Some(challenge), evidence: Some(evidence) };
    Ok(state.register_worker(&req).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?.0)
}

pub async fn read(resp: reqwest::Response) -> Result<(StatusCode, Value)> {
    let status = resp.status();
    let text = resp.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).with_context(|| format!("non-JSON body {status}: {text}"))?
    };
    Ok((status, body))
}

/// What the echo worker does with a job: stdout = stdin, except for a few test switches in the
/// input object: `"not-json"` → raw text stdout; `{"refund": n}` → refunds n; `{"trap": true}` →
/// traps with stderr "boom"; `{"big": n}` → a JSON string of n letters.
pub fn echo(job: &Job) -> ExecutionResult {
    let input: Value = serde_json::from_str(&job.input).unwrap_or(Value::Null);
    let mut o = ExecutionResult {
        outcome: Outcome::Ok,
        output: job.input.as_bytes().to_vec(),
        stderr_tail: None,
        instructions: ECHO_INSTRUCTIONS,
        wall_ms: ECHO_WALL_MS,
        peak_memory_bytes: 65_536,
        refund: input.get("refund").and_then(Value::as_u64).unwrap_or(0).into(),
        http: None,
    };
    if input == json!("not-json") {
        o.output = b"not json".to_vec();
    }
    if let Some(n) = input.get("big").and_then(Value::as_u64) {
        o.output = serde_json::to_vec(&"a".repeat(n as usize)).expect("json");
    }
    if input.get("trap").is_some() {
        o.outcome = Outcome::Trap { message: "boom".into() };
        o.output = Vec::new();
        o.stderr_tail = Some("boom".into());
    }
    o
}

/// Runs `n` echo workers until the returned handles are aborted.
pub async fn spawn_workers(server: &Server, n: usize) -> Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let worker = server.worker().await?;
        handles.push(tokio::spawn(async move {
            loop {
                match worker.lease(Duration::from_secs(1)).await {
                    Ok(Some(job)) => {
                        let _ = worker.complete(&job, &echo(&job)).await;
                    }
                    Ok(None) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }
    Ok(handles)
}

pub fn stop_workers(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        h.abort();
    }
}

/// A settlement of `call_id` under `lease_id` as completed, charging `charged` (half of it
/// earned), settled at `now_ms`: the database-level fixture of the hand-off and group tests.
pub fn completed_finish(call_id: &str, lease_id: &str, charged: i64, now_ms: i64) -> outlayer_coordinator::db::Finish {
    outlayer_coordinator::db::Finish {
        call_id: call_id.into(),
        lease_id: lease_id.into(),
        status: outlayer_coordinator::model::CallStatus::Completed,
        result: outlayer_coordinator::model::SettledResult {
            output: Some(serde_json::json!({})),
            output_base64: None,
            error: None,
            cost: charged as u64,
            charged: charged as u64,
            instructions: 1,
            time_ms: 1,
            refund: 0,
            peak_memory_bytes: 0,
            http: None,
            worker: None,
            receipt: None,
        },
        charged,
        earnings: charged / 2,
        now_ms,
        rows: None,
    }
}

/// An unrestricted payment key `(owner, nonce)` holding `balance`: the database-level fixture of
/// the lease and group tests.
pub fn funded_key(owner: &str, nonce: i64, balance: i64) -> outlayer_coordinator::db::KeyRow {
    outlayer_coordinator::db::KeyRow {
        owner: owner.into(),
        nonce,
        secret_hash: "secret-hash".into(),
        balance,
        spent: 0,
        reserved: 0,
        allowed_projects: Vec::new(),
        max_per_call: None,
        revoked: false,
        created_ms: 1,
    }
}

/// A queued call (a fresh id) of the project `(id, owner, name)` at version `wasm_sha256`, paid
/// with `key` `(owner, nonce)`, reserving `reserved`: the database-level fixture of the hand-off
/// and group tests.
pub fn queued_call(
    project: (&str, &str, &str),
    wasm_sha256: &str,
    key: (&str, i64),
    reserved: i64,
    created_ms: i64,
) -> outlayer_coordinator::db::CallRow {
    outlayer_coordinator::db::CallRow {
        id: uuid::Uuid::new_v4().to_string(),
        request_id: uuid::Uuid::new_v4().to_string(),
        project_id: project.0.into(),
        project_owner: project.1.into(),
        project_name: project.2.into(),
        wasm_sha256: wasm_sha256.into(),
        key_owner: key.0.into(),
        key_nonce: key.1,
        input: "{}".into(),
        max_instructions: 10_000_000,
        max_memory_mb: 64,
        max_execution_seconds: 1,
        grants: Vec::new(),
        http_allowlist: Vec::new(),
        secrets_ref: None,
        attached_deposit: 0,
        compute_limit: reserved,
        reserved,
        status: outlayer_coordinator::model::CallStatus::Queued,
        lease_id: None,
        worker_id: None,
        lease_expires_ms: None,
        attempts: 0,
        created_ms,
        completed_ms: None,
        result: None,
    }
}
