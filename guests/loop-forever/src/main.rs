//! Hostile: `loop-forever` spins in a busy loop that never ends and never calls the host.
//!
//! The loop updates a counter through `black_box`, so the optimiser cannot remove it or prove it
//! has no effect. Prints nothing.
//!
//! A host should observe: the execution stops with its instruction (fuel) limit or wall-clock
//! (epoch) limit error, within roughly that limit; no output; the worker stays healthy.

use std::hint::black_box;

fn main() {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}
