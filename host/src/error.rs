//! Errors of the host crate (setting up, loading components). Guest failures are not errors:
//! they are [`crate::Outcome`]s.

/// Why the host could not set up or load something.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The wasmtime engine could not be configured.
    #[error("engine configuration: {0}")]
    Engine(String),
    /// The bytes are not a WebAssembly component or module, or it failed to compile.
    #[error("invalid wasm: {0}")]
    InvalidWasm(String),
    /// The component neither exports `wasi:cli/run` nor the typed `run` function, or imports
    /// something the host does not provide.
    #[error("unsupported component: {0}")]
    Unsupported(String),
    /// The compiled-artifact cache failed (the component still runs, compiled fresh).
    #[error("cache: {0}")]
    Cache(#[from] std::io::Error),
    /// The limits are outside the allowed range.
    #[error(transparent)]
    Limits(#[from] crate::limits::LimitError),
}
