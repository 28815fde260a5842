//! Hostile: `trap` writes "about to trap" to stderr, then executes the wasm `unreachable`
//! instruction.
//!
//! A host should observe: a failed execution caused by a trap (wasmtime's
//! `Trap::UnreachableCodeReached`), stderr containing "about to trap", empty stdout.

fn main() {
    eprintln!("about to trap");
    core::arch::wasm32::unreachable();
}
