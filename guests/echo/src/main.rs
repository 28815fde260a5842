//! `echo`: the smallest WASI command. Copies stdin to stdout unchanged.
//!
//! A host should observe: exit status success, stdout byte-for-byte equal to the input, empty
//! stderr. It imports no capability, so it runs with no grant at all.

use std::io::{self, Write};

fn main() {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    io::copy(&mut stdin, &mut stdout).expect("copy stdin to stdout");
    stdout.flush().expect("flush stdout");
}
