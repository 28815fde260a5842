//! Hostile: `output-flood` writes 64 KiB chunks of `'x'` to stdout forever.
//!
//! Write errors are ignored: the guest keeps writing after the host refuses more output, so only
//! a host-side limit ends it.
//!
//! A host should observe: the execution fails with its stdout-size limit error (or, if the host
//! only discards extra output, with its fuel / wall-clock limit); host memory holds at most the
//! stdout limit, never the whole flood.

use std::io::{self, Write};

const CHUNK: usize = 64 * 1024;

fn main() {
    let chunk = vec![b'x'; CHUNK];
    let mut stdout = io::stdout().lock();
    loop {
        let _ = stdout.write_all(&chunk);
    }
}
