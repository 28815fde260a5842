//! Hostile: `stack-overflow` recurses without bound (not a tail call, so it cannot become a
//! loop). Prints nothing.
//!
//! Each frame reads a `volatile` step and writes its result to a `volatile` sink after the
//! recursive call returns, so the optimiser can neither remove the recursion nor turn it into a
//! loop. Frames keep nothing in linear memory (no `black_box` on locals), so the wasm call stack
//! that the host limits runs out first, not Rust's shadow stack.
//!
//! A host should observe: a trap with wasmtime's stack-overflow code ("call stack exhausted"),
//! reported as a failed execution (not a host crash), after a few milliseconds.

static mut STEP: u64 = 1;
static mut SINK: u64 = 0;

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    // SAFETY: single-threaded guest; volatile access to plain statics.
    let step = unsafe { core::ptr::read_volatile(&raw const STEP) };
    let below = recurse(depth.wrapping_add(step));
    // SAFETY: as above. The store after the call keeps this frame alive across the call.
    unsafe { core::ptr::write_volatile(&raw mut SINK, below) };
    below.wrapping_mul(31).wrapping_add(depth)
}

fn main() {
    let result = recurse(0);
    println!("{result}");
}
