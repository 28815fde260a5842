//! Reading the execution's input: all of stdin, as bytes, text or JSON.
//!
//! A command guest's input is its stdin (for HTTPS calls, the request's `input` value as JSON
//! text). Read it once: stdin is consumed by the first read.
//!
//! ```no_run
//! #[derive(serde::Deserialize)]
//! struct Order { item: String, count: u32 }
//!
//! let order: Order = outlayer_sdk::input::json()?;
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use std::io::Read;

/// All input bytes (stdin until end of file).
pub fn bytes() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).map_err(|e| Error::invalid_input(format!("cannot read stdin: {e}")))?;
    Ok(buf)
}

/// All input as UTF-8 text; [`Error::InvalidInput`] when it is not UTF-8.
pub fn text() -> Result<String> {
    parse_text(bytes()?)
}

/// All input parsed as JSON into `T`; [`Error::InvalidInput`] with serde's message (which names
/// the line and column, or the missing field) when it does not parse.
pub fn json<T: DeserializeOwned>() -> Result<T> {
    parse_json(&bytes()?)
}

/// `bytes` as UTF-8 text, or [`Error::InvalidInput`].
///
/// ```
/// use outlayer_sdk::input::parse_text;
/// assert_eq!(parse_text(b"hi".to_vec()).unwrap(), "hi");
/// assert!(parse_text(vec![0xff]).unwrap_err().to_string().starts_with("invalid input: input is not UTF-8"));
/// ```
pub fn parse_text(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::invalid_input(format!("input is not UTF-8: {e}")))
}

/// `bytes` parsed as JSON into `T`, or [`Error::InvalidInput`] with serde's message.
///
/// Empty input (or only whitespace) is parsed as `null`, so an `Option` or a unit type accepts
/// an execution without input.
///
/// ```
/// use outlayer_sdk::input::parse_json;
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Hello { name: String }
///
/// assert_eq!(parse_json::<Hello>(br#"{"name":"ada"}"#).unwrap(), Hello { name: "ada".into() });
/// assert_eq!(parse_json::<Option<Hello>>(b"").unwrap(), None);
/// let err = parse_json::<Hello>(b"{}").unwrap_err();
/// assert_eq!(err.to_string(), "invalid input: missing field `name` at line 1 column 2");
/// ```
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"null" } else { bytes };
    serde_json::from_slice(bytes).map_err(Error::invalid_input)
}
