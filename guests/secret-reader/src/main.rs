//! `secret-reader`: prints the value of the secret named on stdin through
//! `outlayer:secrets/secrets`.
//!
//! Input: a secret name (surrounding whitespace ignored). Empty input lists the granted names
//! instead, as a JSON array of strings, e.g. `["API_KEY","DB_URL"]`. A name given as a JSON
//! string (`"API_KEY"`, what an HTTPS call with `"input": "API_KEY"` sends) is answered as a JSON
//! string too, so the output is JSON. `"reversed:API_KEY"` answers the value reversed (a test
//! can then check that the secret arrived while its plaintext is stored nowhere, not even in
//! the call's result).
//!
//! A host should observe: stdout is exactly the secret's value (no newline); a name that was not
//! granted gives exit status failure and stderr `error: Error::NotFound`; no secrets grant gives
//! `error: Error::Denied`. Secret values never appear on stderr.

use std::io::{self, Read, Write};
use std::process::exit;

use outlayer_guest_bindings::json;
use outlayer_guest_bindings::outlayer::secrets::secrets;

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        exit(2);
    }
    let name = input.trim();
    let quoted = name.len() >= 2 && name.starts_with('"') && name.ends_with('"');
    let output = if name.is_empty() {
        secrets::list_names().map(|names| json::string_array(&names))
    } else if quoted {
        let name = &name[1..name.len() - 1];
        match name.strip_prefix("reversed:") {
            Some(name) => secrets::get(name).map(|value| json::string(&value.chars().rev().collect::<String>())),
            None => secrets::get(name).map(|value| json::string(&value)),
        }
    } else {
        secrets::get(name)
    };
    match output {
        Ok(text) => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes()).expect("write stdout");
            stdout.flush().expect("flush stdout");
        }
        Err(e) => {
            eprintln!("error: {e:?}");
            exit(1);
        }
    }
}
