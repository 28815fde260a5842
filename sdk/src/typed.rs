//! Typed guests (world `outlayer:guest/typed`): the host calls `run(input) -> result<output,
//! run-error>` directly, without stdin or stdout.
//!
//! Implement [`Handler`] and export it with [`export_typed!`](crate::export_typed). The crate
//! must be a `cdylib`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//! ```
//!
//! ```
//! use outlayer_sdk::{typed::Handler, Result};
//!
//! struct Upper;
//!
//! impl Handler for Upper {
//!     fn run(input: Vec<u8>) -> Result<Vec<u8>> {
//!         Ok(input.to_ascii_uppercase())
//!     }
//! }
//!
//! outlayer_sdk::export_typed!(Upper);
//! # fn main() {}
//! ```
//!
//! The caller sees an [`Error`] as a `run-error`: [`Error::InvalidInput`] becomes
//! `invalid-input`, [`Error::Denied`] becomes `denied`, everything else `other`; the message is
//! the error's `Display` text (without the `invalid input: ` prefix for invalid input).

use crate::bindings::RunError;
use crate::{Error, Result, input, output};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A typed guest: what the host calls for each execution.
pub trait Handler {
    /// Compute the output for `input`. Called once per execution.
    fn run(input: Vec<u8>) -> Result<Vec<u8>>;
}

/// Parse `input` as JSON into `I`, call `f`, serialise its result as JSON: the body of a
/// [`Handler`] that speaks JSON.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct In { n: u32 }
///
/// let out = outlayer_sdk::typed::json(br#"{"n":20}"#, |i: In| Ok(i.n + 1)).unwrap();
/// assert_eq!(out, b"21");
/// let err = outlayer_sdk::typed::json(br#""x""#, |i: In| Ok(i.n)).unwrap_err();
/// assert!(err.to_string().starts_with("invalid input: invalid type: string \"x\", expected struct In"));
/// ```
pub fn json<I, O, F>(input: &[u8], f: F) -> Result<Vec<u8>>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Result<O>,
{
    output::to_json(&f(input::parse_json(input)?)?)
}

/// The `run-error` the caller sees for `error`.
///
/// ```
/// use outlayer_sdk::{Capability, Error, bindings::RunError, typed::run_error};
/// assert!(matches!(run_error(Error::invalid_input("bad")), RunError::InvalidInput(m) if m == "bad"));
/// assert!(matches!(run_error(Error::Denied(Capability::Rpc)), RunError::Denied(m) if m == "rpc: capability not granted"));
/// assert!(matches!(run_error(Error::Timeout), RunError::Other(m) if m == "rpc: timeout"));
/// ```
pub fn run_error(error: Error) -> RunError {
    match error {
        Error::InvalidInput(message) => RunError::InvalidInput(message),
        e @ Error::Denied(_) => RunError::Denied(e.to_string()),
        e => RunError::Other(e.to_string()),
    }
}

/// Call `H::run` and convert its error. Used by [`export_typed!`](crate::export_typed).
#[doc(hidden)]
pub fn dispatch<H: Handler>(input: Vec<u8>) -> std::result::Result<Vec<u8>, RunError> {
    H::run(input).map_err(run_error)
}

/// Export `$handler` (a type implementing [`Handler`](crate::typed::Handler)) as this
/// component's `run` function (world `outlayer:guest/typed`).
///
/// Invoke it once, at the top level of a `cdylib` guest crate. See [`typed`](crate::typed).
#[macro_export]
macro_rules! export_typed {
    ($handler:ty) => {
        const _: () = {
            struct __OutlayerSdkTypedExport;

            impl $crate::bindings::Guest for __OutlayerSdkTypedExport {
                fn run(input: ::std::vec::Vec<u8>) -> ::core::result::Result<::std::vec::Vec<u8>, $crate::bindings::RunError> {
                    $crate::typed::dispatch::<$handler>(input)
                }
            }

    $crate::bindings::__export_typed_world!(__OutlayerSdkTypedExport with_types_in $crate::bindings);
        };
    };
}
