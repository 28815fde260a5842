//! Hostile: `exit-code` writes "bad input" to stderr and exits with status 3, without trapping.
//!
//! WASI 0.2's `wasi:cli/exit.exit` only carries success or failure, so a non-zero status reaches
//! the host as a failure (wasmtime's `I32Exit(1)`), not as 3.
//!
//! A host should observe: a failed execution with a non-zero exit status (not a trap), stderr
//! "bad input", empty stdout.

use std::io::Write;

fn main() {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "bad input");
    let _ = stderr.flush();
    std::process::exit(3);
}
