//! Log flood control of the coordinator: the gates its internal errors and background tasks log
//! through. [`LogGate`] itself lives in [`outlayer_protocol::logflood`] (the worker uses it too).
//!
//! ```
//! use outlayer_coordinator::logflood::LogGate;
//! let gate = LogGate::new(std::time::Duration::from_secs(10));
//! assert_eq!(gate.admit("database"), Some(0)); // logged
//! assert_eq!(gate.admit("database"), None); // suppressed (counted)
//! ```

use std::sync::LazyLock;

pub use outlayer_protocol::logflood::{DEFAULT_LOG_INTERVAL, LogGate, MAX_KINDS, kind_of};

/// The gate for the coordinator's internal (500) errors.
pub static INTERNAL: LazyLock<LogGate> = LazyLock::new(|| LogGate::new(DEFAULT_LOG_INTERVAL));
/// The gate for the coordinator's background tasks (reaper, retention, WAL checkpoints).
pub static BACKGROUND: LazyLock<LogGate> = LazyLock::new(|| LogGate::new(DEFAULT_LOG_INTERVAL));
