//! Hostile: `stderr-flood` writes 64 KiB chunks of `'e'` to stderr forever. Nothing on stdout.
//!
//! Write errors are ignored: the guest keeps writing after the host refuses more, so only a
//! host-side limit ends it.
//!
//! A host should observe: stderr (the guest's log) is capped or discarded without growing host
//! memory; the execution ends with a limit error (stderr size, fuel or wall-clock), never hangs.

use std::io::{self, Write};

const CHUNK: usize = 64 * 1024;

fn main() {
    let chunk = vec![b'e'; CHUNK];
    let mut stderr = io::stderr().lock();
    loop {
        let _ = stderr.write_all(&chunk);
    }
}
