//! Hostile: `memory-bomb` allocates 1 MiB chunks forever, writes to every 4 KiB page of each
//! chunk and keeps them all alive. Never prints to stdout.
//!
//! A host should observe: the linear memory grows until the host's memory limit refuses to grow
//! it; the execution then fails with the memory-limit error (with `trap_on_grow_failure` the
//! root cause says "forcing trap when growing memory"; otherwise std's allocation-failure
//! message "memory allocation of 1048576 bytes failed" reaches stderr and the guest aborts with
//! a trap). Host memory use stays bounded by the limit.

use std::hint::black_box;

const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

fn main() {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut round: u8 = 0;
    loop {
        round = round.wrapping_add(1);
        let mut chunk = vec![0u8; CHUNK];
        for i in (0..CHUNK).step_by(PAGE) {
            chunk[i] = round;
        }
        chunks.push(black_box(chunk));
    }
}
