//! Hostile: `panic` panics with the message "guest panicked on purpose".
//!
//! Guests are built with `panic = "abort"`: std's panic hook writes
//! "panicked at ...: guest panicked on purpose" to stderr, then the abort is a wasm trap
//! (`unreachable`).
//!
//! A host should observe: a failed execution (trap), stderr containing
//! "guest panicked on purpose", empty stdout.

fn main() {
    panic!("guest panicked on purpose");
}
