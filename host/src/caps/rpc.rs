//! The rpc capability (temporary placeholder while the NEAR client lands; replaced below).

use super::CallGuard;
use crate::state::ExecState;
use wasmtime::component::Linker;

/// Permission to use NEAR RPC.
#[derive(Clone)]
pub struct RpcGrant {
    pub url: String,
}

impl RpcGrant {
    /// A grant using the node at `url`.
    pub fn new(url: &str) -> Self {
        Self { url: url.to_string() }
    }
}

/// Per-execution rpc state.
pub struct RpcCap {
    pub(crate) guard: CallGuard,
    #[allow(dead_code)]
    grant: Option<RpcGrant>,
}

impl RpcCap {
    /// State for one execution.
    pub fn new(grant: Option<RpcGrant>, guard: CallGuard) -> Self {
        Self { grant, guard }
    }
}

/// Link both rpc interface versions.
pub fn add_to_linker(_linker: &mut Linker<ExecState>) -> wasmtime::Result<()> {
    Ok(())
}
