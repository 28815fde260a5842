//! The hosts an execution's `http` grant may reach: a project's allowlist, parsed once. The
//! parser and matcher live in [`outlayer_protocol::http`] (the coordinator validates projects'
//! allowlists with the same rules); re-exported here.

pub use outlayer_protocol::http::{Allowlist, AllowlistError, HostPattern};
