//! Hostile: `sleep-forever` writes "sleeping" to stderr, then sleeps for one hour inside a WASI
//! call (`monotonic-clock` subscribe + `poll`), using no instructions while it waits.
//!
//! Fuel and epoch interruption do not stop a guest that is blocked in a host call, so this tests
//! the wall-clock limit around the whole execution.
//!
//! A host should observe: the execution ends with the wall-clock limit error after about that
//! limit (not after an hour); stdout empty.

use std::time::Duration;

fn main() {
    eprintln!("sleeping");
    std::thread::sleep(Duration::from_secs(3600));
    println!("woke up");
}
