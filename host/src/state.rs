//! The data each execution's `Store` holds, and the wiring of every capability's
//! `add_to_linker` to it (the capability modules are generic over the store; only this file
//! knows where each one's state lives).

use crate::bindings::outlayer::guest::types as guest_types;
use crate::caps::{self, Capabilities};
use crate::limiter::ExecLimiter;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtxView;

/// WASI state: components use WASI 0.2, core modules WASI preview1.
pub enum Wasi {
    P2(WasiCtx),
    P1(WasiP1Ctx),
}

/// Store data of one execution.
pub struct ExecState {
    pub(crate) wasi: Wasi,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: ExecLimiter,
    pub(crate) caps: Capabilities,
    /// Fuel left at the last epoch tick (see `Runtime::execute`).
    pub(crate) fuel_at_tick: Option<u64>,
}

impl WasiView for ExecState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        match &mut self.wasi {
            Wasi::P2(ctx) => WasiCtxView { ctx, table: &mut self.table },
            // The preview1 linker never reaches WASI 0.2 host functions.
            Wasi::P1(_) => unreachable!("WASI 0.2 call in a preview1 store"),
        }
    }
}

impl ExecState {
    /// The wasi:http view: the http capability's state with the store's resource table.
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.caps.http.view(&mut self.table)
    }

    /// The preview1 context (only stores of core modules have one).
    pub(crate) fn p1(&mut self) -> &mut WasiP1Ctx {
        match &mut self.wasi {
            Wasi::P1(ctx) => ctx,
            Wasi::P2(_) => unreachable!("preview1 call in a component store"),
        }
    }
}

/// Link every capability interface, all versions, into `linker`, each reaching its state in
/// [`ExecState::caps`].
pub(crate) fn add_caps_to_linker(linker: &mut Linker<ExecState>) -> wasmtime::Result<()> {
    caps::context::add_to_linker(linker, |s| &mut s.caps.context)?;
    caps::storage::add_to_linker(linker, |s| &mut s.caps.storage)?;
    caps::secrets::add_to_linker(linker, |s| &mut s.caps.secrets)?;
    caps::rpc::add_to_linker(linker, |s| &mut s.caps.rpc)?;
    caps::payment::add_to_linker(linker, |s| &mut s.caps.payment)?;
    caps::vrf::add_to_linker(linker, |s| &mut s.caps.vrf)?;
    caps::http::add_to_linker(linker, ExecState::http)?;
    // `outlayer:guest/types` has no functions, only the run-error type.
    guest_types::add_to_linker::<ExecState, HasSelf<ExecState>>(linker, |s| s)?;
    Ok(())
}

impl guest_types::Host for ExecState {}
