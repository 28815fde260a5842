//! `cargo bench -p outlayer-coordinator --bench queue`: one call's way through the queue,
//! reserve → lease → settle, per backend, without HTTP and without running anything.
//!
//! - `{backend}/db`: the three storage operations alone (`Backend::enqueue`, `Backend::lease`,
//!   `Backend::finish`): what the database costs per call.
//! - `{backend}/service`: the same call through the coordinator's operations
//!   (`AppState::submit_call`, `AppState::lease_job`, `AppState::complete_job`): validation,
//!   pricing, the ticket-less job, the receipt recomputed and its ed25519 signature verified,
//!   notifications (and, on PostgreSQL, Redis publishes). The worker's signing of the receipt
//!   happens between lease and settle but is not timed (it is the worker's cost).
//!
//! SQLite runs on a file in a temporary directory (WAL, `synchronous = NORMAL`, as `serve`).
//! PostgreSQL runs on `BENCH_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`,
//! `scripts/services.sh` starts one) in a fresh schema dropped afterwards, with Redis at
//! `BENCH_REDIS_URL` (default `redis://127.0.0.1:6379`); it is skipped, saying so, when the
//! database does not answer. Calls run one at a time: this is the latency of one call's database
//! work, not a throughput figure (scripts/load.sh measures throughput).

use std::time::{Duration, Instant};

// The tests' fixtures (`queued_call`): the bench queues the same call rows the tests do.
#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use outlayer_coordinator::db::{Finish, KeyRow, ProjectRow, WorkerRow};
use outlayer_coordinator::model::{CallRequest, CallStatus, Completion, ExecutionResult, Outcome, SettledResult, Signer};
use outlayer_coordinator::service::CallMoney;
use outlayer_coordinator::{AppState, AttestationConfig, CoordinatorConfig, DatabaseConfig, RateLimitConfig, build_state};
use outlayer_protocol::{DEV_MEASUREMENTS, RegisterRequest};

/// What one backend's benches need: the coordinator, a project, a funded key, a worker.
struct Fixture {
    state: AppState,
    project: ProjectRow,
    key: KeyRow,
    worker: WorkerRow,
    signing: SigningKey,
}

fn config(database: DatabaseConfig) -> CoordinatorConfig {
    CoordinatorConfig {
        database,
        rate_limit: RateLimitConfig { max_calls: u32::MAX, window: Duration::from_secs(1) },
        attestation: AttestationConfig { allow_dev: true, ..AttestationConfig::default() },
        ..CoordinatorConfig::default()
    }
}

async fn fixture(config: CoordinatorConfig) -> Result<Fixture, String> {
    let state = build_state(config).await.map_err(|e| e.to_string())?;
    let db = &state.db;
    let now = outlayer_coordinator::state::now_ms();
    let e = |e: outlayer_coordinator::error::StoreError| e.to_string();
    db.create_owner("bench", "bench-token-hash", now).await.map_err(e)?;
    let project = ProjectRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner: "bench".into(),
        name: "echo".into(),
        active_version: None,
        grants: Vec::new(),
        http_allowlist: Vec::new(),
        created_ms: now,
    };
    db.create_project(&project).await.map_err(e)?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(common::EMPTY_MODULE));
    db.add_version(&project.id, &sha, common::EMPTY_MODULE, now).await.map_err(e)?;
    db.set_active(&project.id, &sha).await.map_err(e)?;
    let project = db.project("bench", "echo").await.map_err(e)?.ok_or("project not stored")?;
    let key = KeyRow {
        owner: "bench".into(),
        nonce: 1,
        secret_hash: "bench-secret-hash".into(),
        balance: outlayer_coordinator::limits::MAX_BALANCE,
        spent: 0,
        reserved: 0,
        allowed_projects: Vec::new(),
        max_per_call: None,
        revoked: false,
        created_ms: now,
    };
    db.create_key(&key).await.map_err(e)?;
    let signing = SigningKey::from_bytes(&[7; 32]);
    let challenge = state.issue_challenge().await.map_err(|e| e.message)?;
    let public = signing.verifying_key().to_bytes();
    let evidence = outlayer_attest::Evidence::dev(outlayer_attest::report_data(&public, &challenge), DEV_MEASUREMENTS);
    let req = RegisterRequest { public_key: hex::encode(public), challenge: Some(challenge), evidence: Some(evidence) };
    let (worker, _token) = state.register_worker(&req).await.map_err(|e| e.message)?;
    Ok(Fixture { state, project, key, worker, signing })
}

/// The echo result a worker reports for `input`.
fn echo(input: &str) -> ExecutionResult {
    ExecutionResult {
        outcome: Outcome::Ok,
        output: input.as_bytes().to_vec(),
        stderr_tail: None,
        instructions: 2_000_000,
        wall_ms: 1,
        peak_memory_bytes: 65_536,
        refund: 0,
        http: None,
    }
}

fn request() -> CallRequest {
    serde_json::from_value(serde_json::json!({ "input": { "hello": "world" }, "async": true })).expect("a call request")
}

/// reserve → lease → settle through the storage trait alone.
async fn db_round(f: &Fixture) {
    let db = &f.state.db;
    let now = outlayer_coordinator::state::now_ms();
    let project = (f.project.id.as_str(), f.project.owner.as_str(), f.project.name.as_str());
    let wasm = f.project.active_version.as_deref().expect("active version");
    let mut call = common::queued_call(project, wasm, (&f.key.owner, f.key.nonce), 10_000, now);
    call.input = r#"{"hello":"world"}"#.into();
    assert_eq!(db.enqueue(&call, None).await.expect("enqueue"), outlayer_coordinator::db::Enqueued::Queued);
    let lease_id = uuid::Uuid::new_v4().to_string();
    let leased = db.lease(&f.worker.id, &lease_id, now, 60_000, 5_000, 3).await.expect("lease").expect("a queued call");
    let result = SettledResult {
        output: Some(serde_json::json!({ "hello": "world" })),
        output_base64: None,
        error: None,
        cost: 1_000,
        charged: 1_000,
        instructions: 2_000_000,
        time_ms: 1,
        refund: 0,
        peak_memory_bytes: 65_536,
        http: None,
        worker: None,
        receipt: None,
    };
    let finish = Finish {
        rows: Some((&leased).into()),
        call_id: leased.id,
        lease_id,
        status: CallStatus::Completed,
        result,
        charged: 1_000,
        earnings: 800,
        now_ms: outlayer_coordinator::state::now_ms(),
    };
    assert!(db.finish(&finish).await.expect("finish").is_some(), "the call settles");
}

/// reserve → lease → settle through the coordinator's operations; returns the time spent in
/// them (not the worker's signing).
async fn service_round(f: &Fixture) -> Duration {
    let s = &f.state;
    let t = Instant::now();
    s.submit_call(&f.key, &f.project, &request(), CallMoney::default()).await.expect("submit");
    let job = s.lease_job(&f.worker, Duration::ZERO).await.expect("lease").expect("a queued job");
    let mut spent = t.elapsed();
    let signer = Signer { worker_id: &f.worker.id, attestation_sha256: &f.worker.attestation_sha256 };
    let completion = Completion::sign(&job, echo(&job.input), &signer, &f.signing);
    let t = Instant::now();
    let view = s.complete_job(&f.worker, &completion).await.expect("complete");
    spent += t.elapsed();
    assert_eq!(view.status, CallStatus::Completed);
    spent
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, f: &Fixture) {
    c.bench_function(&format!("{name}/db"), |b| b.iter(|| rt.block_on(db_round(f))));
    c.bench_function(&format!("{name}/service"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += service_round(f).await;
                }
                total
            })
        })
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = rt.block_on(fixture(config(DatabaseConfig::Sqlite { path: dir.path().join("coordinator.db") }))).expect("SQLite fixture");
    bench_backend(c, &rt, "sqlite", &sqlite);
    drop(sqlite);

    let url = std::env::var("BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut pg = config(DatabaseConfig::Postgres { url: url.clone(), schema: Some(schema.clone()) });
    pg.redis_url = Some(std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()));
    match rt.block_on(fixture(pg)) {
        Ok(f) => {
            bench_backend(c, &rt, "postgres", &f);
            drop(f);
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))).execute(&pool).await;
                }
            });
        }
        Err(e) => eprintln!("postgres benches skipped: {e} (scripts/services.sh starts PostgreSQL and Redis)"),
    }
}

criterion_group! {
    name = queue;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(queue);
