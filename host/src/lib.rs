//! The OutLayer component host.
//!
//! Runs WebAssembly guests — WASI 0.2 command components, typed components exporting
//! `run(input) -> result<output, run-error>`, and WASI preview1 core modules — under enforced
//! limits (instructions, wall time, memory, tables, instances, stdout/stderr/input bytes, host
//! calls per capability), granting only the capabilities an execution was given.
//!
//! # Layout
//!
//! In reading order:
//! - [`runtime`]: the [`Runtime`]: prepare (compile or load from the cache, pre-link) and
//!   execute one request under its limits; builds each execution's store data.
//! - [`limits`] and [`limiter`]: every limit as a named constant, and the memory/table limiter.
//! - [`outcome`]: the typed [`Outcome`] and the [`ExecutionReport`].
//! - [`context`]: what the host knows about an execution (who, which project, which network),
//!   its storage home and its v0.1 environment variables.
//! - [`caps`]: one module per capability (grant, per-execution state, WIT host impls of every
//!   version, `add_to_linker` generic over the store); [`caps::grants`] builds an execution's
//!   [`Grants`] from the granted capabilities and the binary's [`caps::Backends`];
//!   [`caps::guard`] holds what every capability shares (call budget, deadline, refusals).
//! - [`state`]: the store data (`ExecState`) and the one place that wires every capability's
//!   `add_to_linker` to it.
//! - [`bindings`]: the `bindgen!` of the root `wit/` folder.
//! - [`engine`] (one engine per process, epoch thread), [`cache`] (content-addressed compiled
//!   artifacts), [`stdio`] (capped output), [`error`] (why a request was refused).
//!
//! Imports between these modules form no circle (`tests/layout.rs` checks it): capability modules
//! never import the store type.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), outlayer_host::HostError> {
//! use outlayer_host::{ExecutionRequest, Runtime, RuntimeConfig};
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let report = runtime.run(wasm, ExecutionRequest { input: b"hello".to_vec(), ..Default::default() }).await?;
//! println!("{} after {} instructions", report.outcome.kind(), report.instructions);
//! # Ok(()) }
//! ```

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
pub use caps::{Backends, Capability, GrantError, Grants};
pub use context::{ExecutionContext, ExecutionKind, ProjectRef};
pub use error::HostError;
pub use limits::Limits;
pub use outcome::{ExecutionReport, Outcome};
pub use runtime::{ExecutionRequest, Prepared, Runtime, RuntimeConfig};
