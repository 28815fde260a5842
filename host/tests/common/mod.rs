//! Helpers shared by the host's integration tests.
#![allow(dead_code)]

use outlayer_host::{ExecutionReport, ExecutionRequest, Limits, Runtime, RuntimeConfig};
use std::time::Duration;

/// A runtime without a disk cache, sized for the tests.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: None, engine: outlayer_host::engine::EngineSettings { max_concurrent: 128 } })
        .expect("runtime")
}

/// Read a guest built by the artifacts crate.
pub fn guest(path: &str) -> Vec<u8> {
    outlayer_guest_artifacts::read(path)
}

/// Limits small enough that hostile guests are stopped quickly.
pub fn tight_limits() -> Limits {
    Limits {
        max_instructions: 2_000_000_000,
        max_memory_bytes: 32 << 20,
        max_wall: Duration::from_secs(3),
        max_stdout_bytes: 1 << 20,
        max_stderr_bytes: 64 << 10,
        ..Limits::default()
    }
}

/// Run `wasm` with `input` and otherwise default request fields.
pub async fn run(rt: &Runtime, wasm: &[u8], input: &[u8], limits: Limits) -> ExecutionReport {
    rt.run(wasm, ExecutionRequest { input: input.to_vec(), limits, ..Default::default() }).await.expect("execute")
}

/// Assert the runtime still runs the echo guest correctly (the host survived).
pub async fn assert_healthy(rt: &Runtime) {
    let r = run(rt, &guest(outlayer_guest_artifacts::ECHO), b"still alive", Limits::default()).await;
    assert!(r.outcome.is_ok(), "echo after a hostile guest: {:?}", r.outcome);
    assert_eq!(r.output, b"still alive");
}
