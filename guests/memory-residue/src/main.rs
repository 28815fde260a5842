//! Hostile: `memory-residue` looks for what an earlier execution left in linear memory.
//!
//! Input `fill`: grows the memory by [`PAGES`] pages and writes a marker into every 16-byte block
//! of them (a tenant leaving data behind). Input `scan`: grows the memory by the same [`PAGES`]
//! pages (with the same start-up the new pages are the ones `fill` wrote) and prints how many of
//! their 16-byte blocks hold the marker. Input `fill scan` does both in one execution (the scan
//! then finds every block: 393216).
//!
//! A host should observe: `scan` prints `0` whatever ran before it — memory grown by an instance
//! is zero (WebAssembly's rule), so a marker found there is an earlier tenant's data that the host
//! did not reset when it reused the memory.

use std::io::{Read, Write};

/// Pages grown: 6 MiB, past the host's resident-reset prefix (4 MiB), so both its `memset` and
/// its `madvise` part are looked at.
const PAGES: usize = 96;
const PAGE: usize = 65536;

/// The marker, computed at run time so the program's own data never holds it.
fn marker() -> [u8; 16] {
    let mut m = *b"\x15\x0f\x0e\x16\x1b\x03\x1f\x08\x77\x08\x1f\x09\x13\x1e\x0f\x1f";
    for b in &mut m {
        *b ^= 0x5a;
    }
    m
}

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let start = core::arch::wasm32::memory_grow(0, PAGES);
    assert_ne!(start, usize::MAX, "memory.grow refused");
    let region = start * PAGE..(start + PAGES) * PAGE;
    let marker = marker();
    let words: Vec<&str> = input.split_whitespace().collect();
    if words.contains(&"fill") {
        for block in region.clone().step_by(16) {
            // The grown pages belong to no allocation: this program is their only user.
            unsafe { core::ptr::write_volatile(block as *mut [u8; 16], marker) };
        }
    }
    if words.contains(&"scan") {
        let found = region.step_by(16).filter(|&block| unsafe { core::ptr::read_volatile(block as *const [u8; 16]) } == marker).count();
        write!(std::io::stdout(), "{found}").expect("stdout");
    }
}
