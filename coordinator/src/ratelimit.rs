//! Per-payment-key rate limiting: an in-process token bucket, or a Redis fixed window
//! (`INCRBY` + `EXPIRE`) shared by all replicas; falls back to in-process when Redis fails.
//!
//! On Redis a replica takes a key's calls from the shared window [`chunk`] at a time and spends
//! them locally, so a key with a high limit costs one Redis round trip per chunk rather than per
//! call. The window never admits more than the limit in all (a chunk is counted in Redis before
//! any of it is spent, and the last one is cut to what is left); tokens a replica took and did not
//! spend before the window ended are lost, so with R replicas a key may be refused after at least
//! `limit − R × (chunk − 1)` calls. Limits under 128 calls per window take one call at a time
//! (exact, as before).

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
    /// Calls taken from a key's Redis window and not spent yet.
    taken: Mutex<HashMap<String, Taken>>,
}

/// What a replica holds of a key's Redis window.
#[derive(Debug, Clone, Copy)]
struct Taken {
    /// The window's number (unix seconds / its length).
    window: u64,
    /// Calls counted in Redis and not spent yet.
    left: u64,
    /// The window is used up: every later call in it is refused without asking Redis.
    exhausted: bool,
}

/// How many calls a replica takes from a key's shared Redis window at once: 1/64 of the limit,
/// between 1 and 1,024.
pub fn chunk(max_calls: u32) -> u64 {
    (u64::from(max_calls) / 64).clamp(1, 1024)
}

/// Of `chunk` calls counted into a window that now holds `total`, how many are within `limit`.
fn granted(total: u64, chunk: u64, limit: u64) -> u64 {
    limit.saturating_sub(total.saturating_sub(chunk)).min(chunk)
}

impl RateLimiter {
    /// A limiter with the given budget.
    pub fn new(config: RateLimitConfig, redis: Option<Arc<RedisLink>>) -> Self {
        Self { config, buckets: Mutex::new(HashMap::new()), redis, taken: Mutex::new(HashMap::new()) }
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
        if !redis.healthy() {
            return None;
        }
        let window = self.config.window.as_secs().max(1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        let number = now / window;
        match self.spend_taken(key, number) {
            Some(true) => return Some(Ok(())),
            Some(false) => return Some(Err(Duration::from_secs(window - now % window))),
            None => {}
        }
        let mut conn = redis.connection().await?;
        let name = format!("outlayer:rl:{key}:{number}");
        let (chunk, limit) = (chunk(self.config.max_calls), u64::from(self.config.max_calls));
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&name, chunk).expire(&name, (window + 1) as i64).ignore();
        match tokio::time::timeout(REDIS_OP_TIMEOUT, pipe.query_async::<(u64,)>(&mut conn)).await {
            Ok(Ok((total,))) if granted(total, chunk, limit) > 0 => {
                // One of the granted calls is this one; the rest are kept for the next calls.
                self.keep_taken(key, Taken { window: number, left: granted(total, chunk, limit) - 1, exhausted: total >= limit });
                Some(Ok(()))
            }
            // The window ends at the next multiple of its length.
            Ok(Ok(_)) => {
                self.keep_taken(key, Taken { window: number, left: 0, exhausted: true });
                Some(Err(Duration::from_secs(window - now % window)))
            }
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

    /// `Some(true)`: one call `key` took from window `number` earlier is spent; `Some(false)`:
    /// that window is used up; `None`: ask Redis.
    fn spend_taken(&self, key: &str, number: u64) -> Option<bool> {
        let mut taken = self.taken.lock().expect("taken lock");
        let held = taken.get_mut(key).filter(|t| t.window == number)?;
        if held.left > 0 {
            held.left -= 1;
            Some(true)
        } else if held.exhausted {
            Some(false)
        } else {
            None
        }
    }

    /// Adds what was just taken of `key`'s window to what this replica holds of it.
    fn keep_taken(&self, key: &str, now: Taken) {
        let mut taken = self.taken.lock().expect("taken lock");
        if taken.len() >= MAX_TRACKED_KEYS && !taken.contains_key(key) {
            taken.retain(|_, t| t.window == now.window);
            if taken.len() >= MAX_TRACKED_KEYS {
                // Forgetting calls taken only refuses calls that were counted: never admits more.
                taken.clear();
            }
        }
        match taken.get_mut(key) {
            Some(held) if held.window == now.window => {
                held.left += now.left;
                held.exhausted |= now.exhausted;
            }
            _ => {
                taken.insert(key.to_owned(), now);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_a_64th_of_the_limit_and_never_admit_past_it() {
        assert_eq!((chunk(3), chunk(100), chunk(127), chunk(128), chunk(6_400), chunk(100_000_000)), (1, 1, 1, 2, 100, 1024));
        // A window of 10 taken 4 at a time: 4, 4, then the 2 left, then nothing.
        let grants: Vec<u64> = [4, 8, 12, 16].iter().map(|&total| granted(total, 4, 10)).collect();
        assert_eq!(grants, [4, 4, 2, 0]);
        // One at a time (limits under 128): exactly the limit.
        assert_eq!((granted(3, 1, 3), granted(4, 1, 3)), (1, 0));
    }
}
