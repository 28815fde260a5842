//! The context interface `outlayer:context/context@0.2.0`: always available, no grant needed.

use crate::bindings::outlayer::context::context::{
    self as v02, ExecutionContext as WitContext, ExecutionKind, Limits as WitLimits, Project,
};
use crate::context::{ExecutionContext, ExecutionKind as Kind};
use crate::limits::Limits;
use wasmtime::component::{HasSelf, Linker};

/// Per-execution context: the facts, already shaped for the guest.
pub struct ContextCap {
    value: WitContext,
}

impl ContextCap {
    /// The context of one execution.
    pub fn new(ctx: &ExecutionContext, wasm_hash: &str, limits: &Limits) -> Self {
        let value = WitContext {
            request_id: ctx.request_id.clone(),
            kind: match ctx.kind {
                Kind::Near => ExecutionKind::Near,
                Kind::Https => ExecutionKind::Https,
                Kind::Local => ExecutionKind::Local,
            },
            network: ctx.network.clone(),
            caller: ctx.caller.clone(),
            project: ctx.project.as_ref().map(|p| Project { owner: p.owner.clone(), name: p.name.clone(), id: p.id.clone() }),
            wasm_hash: wasm_hash.to_string(),
            block_height: ctx.block_height,
            block_timestamp_ns: ctx.block_timestamp_ns,
            limits: WitLimits {
                max_instructions: limits.max_instructions,
                max_memory_bytes: limits.max_memory_bytes,
                max_wall_ms: limits.max_wall.as_millis() as u64,
                max_stdout_bytes: limits.max_stdout_bytes,
                max_input_bytes: limits.max_input_bytes,
            },
        };
        Self { value }
    }
}

impl v02::Host for ContextCap {
    async fn get(&mut self) -> wasmtime::Result<WitContext> {
        Ok(self.value.clone())
    }
}

/// Link the context interface; `f` finds the state in the store's data.
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> &mut ContextCap) -> wasmtime::Result<()> {
    v02::add_to_linker::<T, HasSelf<ContextCap>>(linker, f)
}
