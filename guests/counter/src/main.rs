//! `counter`: increments the integer under key `"counter"` in the caller's scope of
//! `outlayer:storage/store` and prints the new value as decimal text (no newline).
//!
//! Input: empty (add 1) or a decimal integer, surrounding whitespace ignored (add that, which may
//! be negative).
//!
//! A host should observe, with the storage grant: "1", "2", "3"... on successive runs by the same
//! caller, an independent count per caller, and the count kept across executions. Without the
//! grant: exit status failure, stderr "storage error: Error::Denied", empty stdout. Input that
//! is not an integer: stderr "invalid input: ...", exit status failure (status 2, which WASI 0.2
//! reports to the host as a plain failure).

use std::io::{self, Read, Write};
use std::process::exit;

use outlayer_guest_bindings::outlayer::storage::store::{self, Scope};

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("invalid input: {e}");
        exit(2);
    }
    let input = input.trim();
    let delta: i64 = if input.is_empty() {
        1
    } else {
        match input.parse() {
            Ok(n) => n,
            Err(e) => {
                eprintln!("invalid input: {input:?} is not an integer: {e}");
                exit(2);
            }
        }
    };
    match store::increment(Scope::Caller, "counter", delta) {
        Ok(value) => {
            let mut stdout = io::stdout().lock();
            write!(stdout, "{value}").expect("write stdout");
            stdout.flush().expect("flush stdout");
        }
        Err(e) => {
            eprintln!("storage error: {e:?}");
            exit(1);
        }
    }
}
