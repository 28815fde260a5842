//! The OutLayer component host.
//!
//! Runs WebAssembly guests — WASI 0.2 command components, typed components exporting
//! `run(input) -> result<output, run-error>`, and WASI preview1 core modules — under enforced
//! limits (instructions, wall time, memory, tables, instances, stdout/stderr/input bytes, host
//! calls per capability), granting only the capabilities an execution was given.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), outlayer_host::HostError> {
//! use outlayer_host::{ExecutionRequest, Runtime, RuntimeConfig};
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let report = runtime.run(wasm, ExecutionRequest { input: b"hello".to_vec(), ..Default::default() }).await?;
//! println!("{} after {} instructions", report.outcome.kind(), report.instructions);
//! # Ok(()) }
//! ```
//!
//! Layout: [`engine`] (one engine per process, epoch thread), [`cache`] (content-addressed
//! compiled artifacts), [`limits`] and [`limiter`], [`stdio`] (capped output), [`caps`] (one
//! module per capability: grant, state, WIT host impls of every version, `add_to_linker`),
//! [`runtime`] (prepare + execute), [`outcome`] (typed results).

pub mod bindings;
pub mod cache;
pub mod caps;
pub mod context;
pub mod engine;
pub mod error;
pub mod limiter;
pub mod limits;
pub mod outcome;
pub mod runtime;
pub mod state;
pub mod stdio;

pub use cache::CacheStatus;
pub use caps::{Capability, Grants};
pub use context::{ExecutionContext, ExecutionKind, ProjectRef};
pub use error::HostError;
pub use limits::Limits;
pub use outcome::{ExecutionReport, Outcome};
pub use runtime::{ExecutionRequest, Prepared, Runtime, RuntimeConfig};
