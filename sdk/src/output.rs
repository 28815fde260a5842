//! Writing the execution's output: bytes, text or JSON on stdout.
//!
//! Everything written to stdout is the output; stderr is a log the caller never receives.
//! Each function writes and flushes, so output is complete even if the guest exits right after.
//!
//! ```no_run
//! outlayer_sdk::output::json(&serde_json::json!({ "ok": true }))?;
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

use crate::{Error, Result};
use serde::Serialize;
use std::io::Write;

/// Write `data` to stdout as it is.
pub fn bytes(data: impl AsRef<[u8]>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(data.as_ref()).and_then(|()| out.flush()).map_err(|e| Error::other(format!("cannot write output: {e}")))
}

/// Write `text` to stdout (no newline is added).
pub fn text(text: impl AsRef<str>) -> Result<()> {
    bytes(text.as_ref().as_bytes())
}

/// Write `value` to stdout as compact JSON (no newline is added).
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    bytes(to_json(value)?)
}

/// `value` as compact JSON bytes; [`Error::Other`] if it cannot be serialised (a map with
/// non-string keys, a failing `Serialize` impl).
///
/// ```
/// let bytes = outlayer_sdk::output::to_json(&serde_json::json!({ "n": 1 })).unwrap();
/// assert_eq!(bytes, br#"{"n":1}"#);
/// ```
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::other(format!("cannot serialise output as JSON: {e}")))
}
