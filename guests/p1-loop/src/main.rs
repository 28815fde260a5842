//! Hostile: `p1-loop` is a WASI preview1 core module (`wasm32-wasip1`) that spins forever in a
//! busy loop (through `black_box`, so the optimiser keeps it) and never calls the host.
//!
//! A host should observe: the same instruction (fuel) and wall-clock (epoch) limits as for
//! components: out-of-instructions or timeout, no output, the worker healthy afterwards.

use std::hint::black_box;

fn main() {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}
