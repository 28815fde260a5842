//! `cap-ops`: runs a script of capability calls, one per input line, and prints one result line
//! per call, so that a conformance case can reach every function of the 0.2 interfaces
//! (`outlayer:storage/store`, `outlayer:secrets/secrets`, `outlayer:rpc/rpc`,
//! `outlayer:payment/payment`, `outlayer:vrf/vrf`) with data instead of code.
//!
//! Input: lines of `op arg...`, arguments separated by single spaces, the last argument taking the
//! rest of the line (so values may contain spaces). Empty lines and lines starting with `#` are
//! skipped. `-` stands for an absent optional argument. `<scope>` is `caller` or `component`.
//! Prefix a line with `try ` to print a failure as `err <Debug>` and go on; without it a failure
//! prints `error: <op>: <Debug>` to stderr and exits with status 1.
//!
//! | line | output line |
//! | --- | --- |
//! | `get <scope> <key>` | `some <value>` or `none` |
//! | `set <scope> <key> <value>` | `ok` |
//! | `has <scope> <key>` / `delete <scope> <key>` | `true` / `false` |
//! | `list <scope> <prefix or -> <cursor or -> <limit>` | `keys a,b next <cursor or ->` |
//! | `set-if-absent <scope> <key> <value>` | `true` / `false` |
//! | `cas <scope> <key> <expected or -> <new>` | `swapped <bool> current <value or ->` |
//! | `incr <scope> <key> <delta>` | the new value |
//! | `secret <name>` / `secret-names` | the value / names joined by `,` |
//! | `pay-info` / `refund <amount>` | `<currency> attached <a> budget <b> refunded <r>` / `ok` |
//! | `vrf <seed>` / `vrf-key` | `alpha <alpha> output <hex> proof-bytes <n>` / the key in hex |
//! | `rpc-view <contract> <method> <args>` | `value <utf8> height <h>` |
//! | `rpc-account <account>` | `amount <a> storage <s> height <h>` |
//! | `rpc-key <account> <public key>` / `rpc-keys <account>` | the node's JSON |
//! | `rpc-block <height or final>` | the node's JSON |
//! | `rpc-send <base64 borsh SignedTransaction>` | the node's JSON |
//! | `rpc-raw <method> <params JSON>` | the node's JSON |
//!
//! Values are printed as UTF-8 text (lossy). A host should observe exactly these lines; with a
//! capability not granted, `err Denied` (with `try`) or exit status 1 and stderr naming
//! `Denied` (without).

mod ops;

use std::io::{self, Read, Write};
use std::process::exit;

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        exit(2);
    }
    let mut stdout = io::stdout().lock();
    for line in input.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (tolerate, line) = match line.strip_prefix("try ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        match ops::run(line) {
            Ok(out) => writeln!(stdout, "{out}").expect("write stdout"),
            Err(e) if tolerate => writeln!(stdout, "err {e}").expect("write stdout"),
            Err(e) => {
                stdout.flush().expect("flush stdout");
                eprintln!("error: {line}: {e}");
                exit(1);
            }
        }
    }
    stdout.flush().expect("flush stdout");
}
