//! End-to-end tests on PostgreSQL + Redis (the real servers on 127.0.0.1). Each test uses a
//! fresh random schema, dropped at the end.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{Server, drop_schema, pg_config, scenarios, small_limits};
use reqwest::StatusCode;
use serde_json::json;

async fn with_schema<F, Fut>(config: outlayer_coordinator::CoordinatorConfig, f: F) -> Result<()>
where
    F: FnOnce(outlayer_coordinator::CoordinatorConfig) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    use futures::FutureExt as _;
    // Drop the schema even when an assertion inside `f` panics, then re-raise the panic.
    let result = std::panic::AssertUnwindSafe(f(config.clone())).catch_unwind().await;
    drop_schema(&config).await;
    match result {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_end_to_end() -> Result<()> {
    with_schema(pg_config(), scenarios::end_to_end).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_http_allowlist() -> Result<()> {
    with_schema(pg_config(), scenarios::http_allowlist).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_error_codes() -> Result<()> {
    with_schema(pg_config(), scenarios::error_codes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rate_limit() -> Result<()> {
    // Counted in Redis once the link is up (proven across replicas in
    // `postgres_two_replicas_share_redis`), in-process before.
    with_schema(pg_config(), scenarios::rate_limit).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_200_concurrent_calls_keep_the_ledger() -> Result<()> {
    with_schema(pg_config(), scenarios::concurrent_calls).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_expired_lease_goes_to_another_worker_once() -> Result<()> {
    with_schema(pg_config(), scenarios::lease_expiry).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bad_signature_is_refused() -> Result<()> {
    with_schema(pg_config(), scenarios::bad_signature).await
}

/// Accepted jobs survive a coordinator restart and complete on the new process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_jobs_survive_a_restart() -> Result<()> {
    with_schema(pg_config(), |config| async move {
        let first = Server::start(config.clone()).await?;
        let (owner, token) = first.owner().await?;
        first.project(&owner, &token, "echo").await?;
        let key = first.key(&token, json!({ "initial_balance": 100_000 })).await?;
        let mut ids = Vec::new();
        for i in 0..3 {
            let (s, b) =
                first.call(&owner, "echo", &key, &[], &json!({ "input": i, "async": true, "resource_limits": small_limits() })).await?;
            assert_eq!(s, StatusCode::ACCEPTED, "{b}");
            ids.push(b["call_id"].as_str().unwrap().to_owned());
        }
        first.stop().await;

        let second = Server::start(config).await?;
        let workers = common::spawn_workers(&second, 1).await?;
        for (i, id) in ids.iter().enumerate() {
            let done = second.wait_final(&key, id).await?;
            assert_eq!(done["status"], "completed");
            assert_eq!(done["output"], json!(i));
        }
        let k = second.key_state(&key).await?;
        assert_eq!((k["spent"].as_i64(), k["reserved"].as_i64()), (Some(3 * common::ECHO_COST), Some(0)));
        common::stop_workers(workers);
        second.stop().await;
        Ok(())
    })
    .await
}

/// Redis unreachable (a closed port): calls still complete and the rate limit falls back to
/// in-process; health reports `degraded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_down_calls_still_complete() -> Result<()> {
    let mut config = pg_config();
    config.redis_url = Some("redis://127.0.0.1:1".into());
    with_schema(config, |config| async move {
        let server = Server::start(config.clone()).await?;
        let workers = common::spawn_workers(&server, 1).await?;
        let (owner, token) = server.owner().await?;
        server.project(&owner, &token, "echo").await?;
        let key = server.key(&token, json!({ "initial_balance": 100_000 })).await?;
        for i in 0..5 {
            let (s, b) = server.call(&owner, "echo", &key, &[], &json!({ "input": i, "resource_limits": small_limits() })).await?;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["output"], json!(i));
        }
        let (_, h) = server.get("/healthz", &[]).await?;
        assert_eq!(h["redis"], "degraded");
        common::stop_workers(workers);
        server.stop().await;
        // And the in-process fallback limits calls.
        tokio::time::sleep(Duration::from_millis(1)).await;
        scenarios::rate_limit(config).await
    })
    .await
}

/// Waits until each server's Redis link is up.
async fn redis_up(servers: &[&Server]) -> Result<()> {
    for server in servers {
        let mut up = false;
        for _ in 0..100 {
            let (_, h) = server.get("/healthz", &[]).await?;
            if h["redis"] == "ok" {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "redis link never came up");
    }
    Ok(())
}

/// A key with a high limit: each replica takes its calls from the shared Redis window a chunk
/// (1/64 of the limit) at a time. One replica alone admits exactly the limit; two together never
/// more, and at most a chunk less per replica; Redis counted chunks, not every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_take_a_high_rate_limit_in_chunks() -> Result<()> {
    const LIMIT: u32 = 640;
    let chunk = outlayer_coordinator::ratelimit::chunk(LIMIT);
    assert_eq!(chunk, 10);
    let mut config = pg_config();
    config.rate_limit = outlayer_coordinator::RateLimitConfig { max_calls: LIMIT, window: Duration::from_secs(3600) };
    with_schema(config, |config| async move {
        let a = Server::start(config.clone()).await?;
        let b = Server::start(config).await?;
        redis_up(&[&a, &b]).await?;
        let redis = redis::Client::open(common::REDIS_URL)?.get_multiplexed_async_connection().await?;
        let counted = |key: String| {
            let mut redis = redis.clone();
            async move {
                let window = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() / 3600;
                let total: Option<u64> = redis::cmd("GET").arg(format!("outlayer:rl:{key}:{window}")).query_async(&mut redis).await?;
                anyhow::Ok(total.unwrap_or(0))
            }
        };

        let alone = common::random_name("rl_alone_");
        let mut admitted = 0;
        for _ in 0..700 {
            admitted += a.state.limiter.allow(&alone).await as u32;
        }
        assert_eq!(admitted, LIMIT, "one replica admits exactly the limit");
        // 64 chunks of 10 were counted; the last one filled the window, so the 60 calls after it
        // were refused without asking Redis (one call at a time, Redis would hold 700).
        assert_eq!(counted(alone).await?, u64::from(LIMIT));

        let shared = common::random_name("rl_shared_");
        let mut admitted = 0;
        for i in 0..700 {
            let replica = if i % 3 == 0 { &b } else { &a };
            admitted += replica.state.limiter.allow(&shared).await as u32;
        }
        assert!(admitted <= LIMIT, "two replicas never admit more than the limit: {admitted}");
        assert!(admitted as u64 >= u64::from(LIMIT) - 2 * (chunk - 1), "at most a chunk less per replica: {admitted}");
        assert!(counted(shared).await? <= u64::from(LIMIT) + 2 * chunk, "Redis counted chunks, not calls");
        a.stop().await;
        b.stop().await;
        Ok(())
    })
    .await
}

/// Two coordinator replicas on one database and one Redis: the rate limit is shared, and a sync
/// call waiting on replica A completes when the only worker talks to replica B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_replicas_share_redis() -> Result<()> {
    let mut config = pg_config();
    config.rate_limit = outlayer_coordinator::RateLimitConfig { max_calls: 3, window: Duration::from_secs(3600) };
    with_schema(config, |config| async move {
        let a = Server::start(config.clone()).await?;
        let b = Server::start(config).await?;
        redis_up(&[&a, &b]).await?;
        let (owner, token) = a.owner().await?;
        a.project(&owner, &token, "echo").await?;
        let key = a.key(&token, json!({ "initial_balance": 100_000 })).await?;
        let body = json!({ "input": 1, "async": true, "resource_limits": small_limits() });
        for server in [&a, &a, &b] {
            let (s, r) = server.call(&owner, "echo", &key, &[], &body).await?;
            assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        }
        let (s, r) = b.call(&owner, "echo", &key, &[], &body).await?;
        assert_eq!((s, r["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));

        let workers = common::spawn_workers(&b, 1).await?;
        let key2 = a.key(&token, json!({ "initial_balance": 100_000 })).await?;
        let (s, r) = a.call(&owner, "echo", &key2, &[], &json!({ "input": "via b", "resource_limits": small_limits() })).await?;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["output"], "via b");
        common::stop_workers(workers);
        a.stop().await;
        b.stop().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_exhausted_job_fails_with_worker_lost() -> Result<()> {
    with_schema(pg_config(), scenarios::worker_lost).await
}
