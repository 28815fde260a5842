//! Load generator: starts an embedded coordinator (SQLite temp file, or PostgreSQL with
//! `--pg URL`), N echo workers over HTTP and C concurrent callers, runs `--calls` synchronous
//! `POST /call` requests and prints rps and latency percentiles.
//!
//! ```text
//! cargo run -p outlayer-coordinator --release --example load -- --calls 2000 --concurrency 32 --workers 4
//! ```
//! Do not run it on a shared build machine while others compile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use outlayer_coordinator::model::{Completion, ExecutionResult, Outcome};
use outlayer_coordinator::{CoordinatorConfig, DatabaseConfig, RateLimitConfig, build_state, run};
use outlayer_protocol::client::WorkerClient;
use serde_json::{Value, json};

struct Args {
    calls: usize,
    concurrency: usize,
    workers: usize,
    pg: Option<String>,
    redis: Option<String>,
}

fn args() -> Result<Args> {
    let mut a = Args { calls: 1000, concurrency: 32, workers: 4, pg: None, redis: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--calls" => a.calls = value.parse()?,
            "--concurrency" => a.concurrency = value.parse()?,
            "--workers" => a.workers = value.parse()?,
            "--pg" => a.pg = Some(value),
            "--redis" => a.redis = Some(value),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

async fn post(http: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> Result<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    if !status.is_success() {
        bail!("{status}: {v}");
    }
    Ok(v)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let dir = tempfile::tempdir()?;
    let database = match &a.pg {
        Some(url) => DatabaseConfig::Postgres {
            url: url.clone(),
            schema: Some(format!("coord_load_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])),
        },
        None => DatabaseConfig::Sqlite { path: dir.path().join("load.db") },
    };
    let database_for_cleanup = database.clone();
    let config = CoordinatorConfig {
        database,
        redis_url: a.redis.clone(),
        rate_limit: RateLimitConfig { max_calls: 1_000_000, window: Duration::from_secs(1) },
        // The load workers register with dev evidence (not a TEE).
        attestation: outlayer_coordinator::AttestationConfig { allow_dev: true, ..Default::default() },
        // The load owner is created with POST /owners (unverified, dev only).
        signin: outlayer_coordinator::signin::SigninConfig { dev_owners: true, ..Default::default() },
        ..CoordinatorConfig::default()
    };
    let state = build_state(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, state, async move {
        let _ = stop_rx.await;
    }));

    let http = reqwest::Client::new();
    let owner = format!("load{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let token = post(&http, format!("{base}/owners"), None, json!({ "owner": owner })).await?["token"].as_str().unwrap().to_owned();
    post(&http, format!("{base}/projects"), Some(&token), json!({ "name": "echo" })).await?;
    http.post(format!("{base}/projects/{owner}/echo/versions")).bearer_auth(&token).body(b"\0asm\x01\0\0\0".to_vec()).send().await?;
    let key = post(&http, format!("{base}/payment-keys"), Some(&token), json!({ "initial_balance": 1_000_000_000_000u64 })).await?["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut workers = Vec::new();
    for _ in 0..a.workers {
        let key = SigningKey::from_bytes(&rand::random());
        let challenge = WorkerClient::challenge(&base, None).await?;
        let public = key.verifying_key().to_bytes();
        let evidence =
            outlayer_attest::Evidence::dev(outlayer_attest::report_data(&public, &challenge), outlayer_protocol::DEV_MEASUREMENTS);
        let w = WorkerClient::register(&base, &key, &challenge, &evidence, None).await?;
        workers.push(tokio::spawn(async move {
            while let Ok(next) = w.lease(Duration::from_secs(5)).await {
                if let Some(job) = next {
                    let o = ExecutionResult {
                        outcome: Outcome::Ok,
                        output: job.input.as_bytes().to_vec(),
                        stderr_tail: None,
                        instructions: 1_000,
                        wall_ms: 1,
                        peak_memory_bytes: 0,
                        refund: 0,
                        http: None,
                    };
                    let signer = outlayer_protocol::Signer { worker_id: &w.worker_id, attestation_sha256: &w.attestation_sha256 };
                    let _ = w.complete(&Completion::sign(&job, o, &signer, &key)).await;
                }
            }
        }));
    }

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut callers = Vec::new();
    for _ in 0..a.concurrency {
        let (http, base, owner, key, next, total) = (http.clone(), base.clone(), owner.clone(), key.clone(), next.clone(), a.calls);
        callers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let t = Instant::now();
                let resp = http
                    .post(format!("{base}/call/{owner}/echo"))
                    .header("X-Payment-Key", &key)
                    .json(&json!({ "input": { "n": 1 }, "resource_limits": { "max_instructions": 1_000_000, "max_execution_seconds": 1 } }))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for c in callers {
        let (l, e) = c.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or_default();
    println!(
        "backend={} calls={} ok={} errors={} concurrency={} workers={} elapsed={:.2}s rps={:.0} p50={:.2}ms p99={:.2}ms max={:.2}ms",
        if a.pg.is_some() { "postgres" } else { "sqlite" },
        a.calls,
        latencies.len(),
        errors,
        a.concurrency,
        a.workers,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for w in workers {
        w.abort();
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    if let (Some(url), DatabaseConfig::Postgres { schema: Some(schema), .. }) = (&a.pg, &database_for_cleanup) {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE"))).execute(&pool).await?;
    }
    Ok(())
}
