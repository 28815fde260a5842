//! The secrets capability: `outlayer:secrets/secrets@0.2.0`. (v0.1 guests receive secrets as
//! environment variables instead; see `context.rs`.)

use super::guard::{CallGuard, Refusal};
use crate::bindings::outlayer::secrets::secrets::{self as v02, Error};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The decrypted secrets granted to an execution, by name.
pub type SecretsGrant = Arc<BTreeMap<String, String>>;

/// Per-execution secrets state.
pub struct SecretsCap {
    grant: Option<SecretsGrant>,
    pub(crate) guard: CallGuard,
}

impl SecretsCap {
    /// State for one execution.
    pub fn new(grant: Option<SecretsGrant>, guard: CallGuard) -> Self {
        Self { grant, guard }
    }

    fn admit(&mut self) -> Result<&BTreeMap<String, String>, Error> {
        self.guard.admit(self.grant.is_some()).map_err(|r| match r {
            Refusal::Denied => Error::Denied,
            Refusal::OverBudget => Error::LimitExceeded,
        })?;
        Ok(self.grant.as_deref().expect("granted"))
    }
}

impl v02::Host for SecretsCap {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.admit().and_then(|s| s.get(&name).cloned().ok_or(Error::NotFound)))
    }

    async fn list_names(&mut self) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.admit().map(|s| s.keys().cloned().collect()))
    }
}

/// Link the secrets interface; `f` finds the state in the store's data.
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> &mut SecretsCap) -> wasmtime::Result<()> {
    v02::add_to_linker::<T, HasSelf<SecretsCap>>(linker, f)
}
