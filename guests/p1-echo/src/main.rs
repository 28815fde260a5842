//! `p1-echo`: a WASI preview1 core module (`wasm32-wasip1`, `_start`), the other guest shape
//! OutLayer v0.1 runs. Copies stdin to stdout and writes `request <NEAR_REQUEST_ID>` to stderr.
//! Input starting with `exit ` followed by a number exits with that status after echoing.
//!
//! A host should observe: stdout = stdin, the request id in stderr, the exact exit status
//! (preview1's `proc_exit` keeps it, unlike WASI 0.2 commands).

use std::io::{self, Read, Write};

fn main() {
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input).expect("read stdin");
    let mut stdout = io::stdout().lock();
    stdout.write_all(&input).expect("write stdout");
    stdout.flush().expect("flush stdout");
    eprintln!(
        "request {}",
        std::env::var("NEAR_REQUEST_ID").unwrap_or_default()
    );
    let text = String::from_utf8_lossy(&input);
    if let Some(code) = text
        .trim()
        .strip_prefix("exit ")
        .and_then(|c| c.parse::<i32>().ok())
    {
        std::process::exit(code);
    }
}
