//! `print-bytes`: reads a decimal `N` (≥ 2) from stdin and prints a JSON string exactly `N` bytes
//! long (`"xxx…x"`), then exits.
//!
//! A host should observe: with `N` within its stdout limit, the output is those `N` bytes; past
//! it, the execution fails with its stdout-size limit error, once (the guest stops at the refused
//! write).

use std::io::{self, Read, Write};

const CHUNK: usize = 64 * 1024;

fn main() {
    let mut input = String::new();
    io::stdin().read_to_string(&mut input).expect("read stdin");
    let n: usize = input.trim().parse().expect("stdin: a decimal byte count");
    let body = n.saturating_sub(2);
    let mut stdout = io::stdout().lock();
    stdout.write_all(b"\"").expect("write");
    let chunk = vec![b'x'; CHUNK];
    let mut left = body;
    while left > 0 {
        let take = left.min(CHUNK);
        stdout.write_all(&chunk[..take]).expect("write");
        left -= take;
    }
    stdout.write_all(b"\"").expect("write");
    stdout.flush().expect("flush");
}
