//! Entry points for command guests (world `outlayer:guest/command`): a `fn main` reads stdin,
//! calls your function, writes stdout, and on failure logs the error and exits non-zero.
//!
//! ```no_run
//! #[derive(serde::Deserialize)]
//! struct In { a: i64, b: i64 }
//!
//! fn main() {
//!     outlayer_sdk::run_json(|input: In| Ok(input.a + input.b));
//! }
//! ```
//!
//! On failure the guest writes `error: <the error's Display>` to stderr and exits with status
//! [`EXIT_FAILURE`]; the host reports a failed execution whose message is that stderr text.
//! Input that does not parse fails the same way with an [`Error::InvalidInput`] naming the
//! problem, before your function runs.

use crate::{Error, Result, input, output};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The exit status of a guest whose function returned an error.
pub const EXIT_FAILURE: i32 = 1;

/// Read stdin as JSON into `I`, call `f`, write its result to stdout as JSON.
///
/// Empty input is parsed as JSON `null` (so `I = ()` or `Option<_>` accept no input).
pub fn run_json<I, O, F>(f: F)
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Result<O>,
{
    finish(input::json().and_then(f).and_then(|out| output::json(&out)))
}

/// Read stdin as bytes, call `f`, write the bytes it returns to stdout.
pub fn run_bytes<O, F>(f: F)
where
    O: AsRef<[u8]>,
    F: FnOnce(Vec<u8>) -> Result<O>,
{
    finish(input::bytes().and_then(f).and_then(output::bytes))
}

/// Read stdin as UTF-8 text, call `f`, write the text it returns to stdout.
pub fn run_text<O, F>(f: F)
where
    O: AsRef<str>,
    F: FnOnce(String) -> Result<O>,
{
    finish(input::text().and_then(f).and_then(output::text))
}

/// Exit the way a failed guest should when `result` is an error: log [`failure_message`] to
/// stderr and exit with [`EXIT_FAILURE`]. Returns normally on success.
pub fn finish(result: Result<()>) {
    if let Err(e) = result {
        eprintln!("{}", failure_message(&e));
        std::process::exit(EXIT_FAILURE);
    }
}

/// The stderr line of a guest that failed with `error`.
///
/// ```
/// use outlayer_sdk::{Capability, Error, command::failure_message};
/// assert_eq!(failure_message(&Error::Denied(Capability::Vrf)), "error: vrf: capability not granted");
/// ```
pub fn failure_message(error: &Error) -> String {
    format!("error: {error}")
}
