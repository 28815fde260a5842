//! `big-input`: reads all of stdin and prints its length in bytes as decimal text (no newline).
//!
//! A host should observe: for an input within its input limit, stdout is the input's length
//! (`"1048576"` for 1 MiB); an input over the limit is refused by the host before or while the
//! guest reads it, never truncated silently.

use std::io::{self, Read, Write};

fn main() {
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input).expect("read stdin");
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", input.len()).expect("write stdout");
    stdout.flush().expect("flush stdout");
}
