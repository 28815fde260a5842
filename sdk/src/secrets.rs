//! Secrets granted to this execution (`outlayer:secrets/secrets`; needs the `secrets` grant).
//!
//! ```no_run
//! let api_key = outlayer_sdk::secrets::get("API_KEY")?;
//! let maybe = outlayer_sdk::secrets::get_optional("WEBHOOK_URL")?;
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

use crate::bindings::outlayer::secrets::secrets as wit;
use crate::{Error, Result};

/// The value of the secret `name`; [`Error::NotFound`] naming it when it was not granted.
pub fn get(name: &str) -> Result<String> {
    wit::get(name).map_err(|e| match e {
        wit::Error::NotFound => Error::NotFound(format!("secret {name:?}")),
        e => e.into(),
    })
}

/// The value of the secret `name`, or `None` when no secret of that name was granted.
pub fn get_optional(name: &str) -> Result<Option<String>> {
    match wit::get(name) {
        Ok(v) => Ok(Some(v)),
        Err(wit::Error::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The names of all secrets granted to this execution, sorted.
pub fn names() -> Result<Vec<String>> {
    Ok(wit::list_names()?)
}
