//! `counter-typed`: the typed twin of `counter` (world `outlayer:guest/typed`). `run` increments
//! the integer under key `"counter"` in the caller's scope of `outlayer:storage/store` and
//! returns the new value as decimal text bytes (`b"1"`, `b"2"`, ...).
//!
//! Input: empty (add 1) or a decimal integer, surrounding whitespace ignored (add that).
//!
//! A host should observe: `Ok(b"1")`, `Ok(b"2")`... on successive runs by one caller; a
//! non-integer input gives `run-error::invalid-input`; without the storage grant,
//! `run-error::denied("storage: Denied")`; any other storage error is `run-error::other` with the
//! error's Debug text.

wit_bindgen::generate!({
    path: "../../wit",
    world: "outlayer:guest/typed",
    generate_all,
});

use outlayer::storage::store::{self, Error, Scope};

struct CounterTyped;

impl Guest for CounterTyped {
    fn run(input: Vec<u8>) -> Result<Vec<u8>, RunError> {
        let text = std::str::from_utf8(&input)
            .map_err(|e| RunError::InvalidInput(format!("input is not UTF-8: {e}")))?
            .trim();
        let delta: i64 = if text.is_empty() {
            1
        } else {
            text.parse()
                .map_err(|e| RunError::InvalidInput(format!("{text:?} is not an integer: {e}")))?
        };
        match store::increment(Scope::Caller, "counter", delta) {
            Ok(value) => Ok(value.to_string().into_bytes()),
            Err(Error::Denied) => Err(RunError::Denied("storage: Denied".to_string())),
            Err(e) => Err(RunError::Other(format!("storage: {e:?}"))),
        }
    }
}

export!(CounterTyped);
