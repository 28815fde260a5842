//! Per-payment-key rate limiting: an in-process token bucket, or a Redis fixed window
//! (`INCR` + `EXPIRE`) shared by all replicas; falls back to in-process when Redis fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;
use crate::redis_link::{REDIS_OP_TIMEOUT, RedisLink};

/// Most distinct keys tracked in-process before idle buckets are dropped (bounds memory).
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    redis: Option<Arc<RedisLink>>,
}

impl RateLimiter {
    /// A limiter with the given budget.
    pub fn new(config: RateLimitConfig, redis: Option<Arc<RedisLink>>) -> Self {
        Self { config, buckets: Mutex::new(HashMap::new()), redis }
    }

    /// Takes one call from `key`'s budget; `false` = rate limited.
    pub async fn allow(&self, key: &str) -> bool {
        self.check(key).await.is_ok()
    }

    /// Takes one call from `key`'s budget; `Err(wait)` = rate limited, retry after `wait`.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(redis) = &self.redis
            && let Some(allowed) = self.allow_redis(redis, key).await
        {
            return allowed;
        }
        self.allow_local(key)
    }

    async fn allow_redis(&self, redis: &RedisLink, key: &str) -> Option<Result<(), Duration>> {
        let mut conn = redis.connection().await?;
        let window = self.config.window.as_secs().max(1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        let name = format!("outlayer:rl:{key}:{}", now / window);
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&name, 1).expire(&name, (window + 1) as i64).ignore();
        match tokio::time::timeout(REDIS_OP_TIMEOUT, pipe.query_async::<(u64,)>(&mut conn)).await {
            Ok(Ok((count,))) if count <= u64::from(self.config.max_calls) => Some(Ok(())),
            // The window ends at the next multiple of its length.
            Ok(Ok(_)) => Some(Err(Duration::from_secs(window - now % window))),
            Ok(Err(e)) => {
                redis.mark_down(&e);
                None
            }
            Err(_) => {
                redis.mark_down(&"rate limit timed out");
                None
            }
        }
    }

    fn allow_local(&self, key: &str) -> Result<(), Duration> {
        let capacity = f64::from(self.config.max_calls);
        let per_sec = capacity / self.config.window.as_secs_f64().max(1e-3);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("bucket lock");
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_sec < capacity);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_sec.max(1e-9)))
        }
    }
}
