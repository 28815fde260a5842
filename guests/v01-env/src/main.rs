//! `v01-env`: reads its context the way OutLayer v0.1 guests do — from environment variables —
//! and prints every variable as one JSON object `{"NAME": "value", ...}` (sorted by name). Also
//! echoes stdin to stderr, to show stdin is the input and stderr a log. No WIT imports at all.
//!
//! A host should observe: every v0.1 variable (`NEAR_SENDER_ID`, `OUTLAYER_REQUEST_ID`, ...)
//! present, empty when unknown; granted secrets as further variables that never overwrite the
//! reserved names; nothing of the host's own environment.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

fn main() {
    let mut input = String::new();
    io::stdin().read_to_string(&mut input).expect("read stdin");
    eprintln!("input: {input}");
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut stdout = io::stdout().lock();
    serde_json::to_writer(&mut stdout, &env).expect("write stdout");
    stdout.flush().expect("flush stdout");
}
