//! Log flood control, shared by the coordinator and the worker: where an error can repeat per
//! request or per retry (a full disk or a lost database fails every request; an unreachable
//! coordinator fails every lease), log one line per kind of error per interval, carrying how many
//! of that kind were suppressed since the last line.
//!
//! ```
//! use outlayer_protocol::logflood::LogGate;
//! let gate = LogGate::new(std::time::Duration::from_secs(10));
//! assert_eq!(gate.admit("database"), Some(0)); // logged
//! assert_eq!(gate.admit("database"), None); // suppressed (counted)
//! assert_eq!(gate.admit("redis"), Some(0)); // another kind: logged
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default interval between two lines of one kind.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Most kinds tracked at once (a kind is derived from error text; bounds memory).
pub const MAX_KINDS: usize = 256;
/// Longest kind kept (characters).
const MAX_KIND_CHARS: usize = 48;

/// Admits one line per kind per interval.
#[derive(Debug)]
pub struct LogGate {
    interval: Duration,
    kinds: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogGate {
    /// A gate letting one line per kind through every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, kinds: Mutex::new(HashMap::new()) }
    }

    /// `Some(suppressed)` if a line of `kind` may be logged now (with the number of lines of that
    /// kind suppressed since the last one); `None` if it is suppressed (and counted).
    pub fn admit(&self, kind: &str) -> Option<u64> {
        self.admit_at(kind, Instant::now())
    }

    /// [`LogGate::admit`] at the time `now`.
    pub fn admit_at(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((last, suppressed)) = kinds.get_mut(kind) {
            if now.duration_since(*last) < self.interval {
                *suppressed += 1;
                return None;
            }
            let count = *suppressed;
            *last = now;
            *suppressed = 0;
            return Some(count);
        }
        if kinds.len() >= MAX_KINDS {
            let interval = self.interval;
            kinds.retain(|_, (last, _)| now.duration_since(*last) < interval);
            if kinds.len() >= MAX_KINDS {
                return None;
            }
        }
        kinds.insert(kind.to_owned(), (now, 0));
        Some(0)
    }
}

/// The kind of an error from its text: what precedes the first `:` (e.g. `database error`),
/// at most 48 characters.
pub fn kind_of(text: &str) -> &str {
    let head = text.split(':').next().unwrap_or(text).trim();
    match head.char_indices().nth(MAX_KIND_CHARS) {
        Some((i, _)) => &head[..i],
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_interval_with_a_count() {
        let gate = LogGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(gate.admit_at("db", t0), Some(0));
        for i in 0..999 {
            assert_eq!(gate.admit_at("db", t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(gate.admit_at("other", t0), Some(0));
        assert_eq!(gate.admit_at("db", t0 + Duration::from_secs(10)), Some(999));
        assert_eq!(gate.admit_at("db", t0 + Duration::from_secs(11)), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("database error: disk full"), "database error");
        assert_eq!(kind_of("plain"), "plain");
        assert_eq!(kind_of(&"x".repeat(100)).len(), 48);
    }
}
