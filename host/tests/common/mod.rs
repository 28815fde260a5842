//! Helpers shared by the host's integration tests.
#![allow(dead_code)]

use outlayer_host::{ExecutionReport, ExecutionRequest, Limits, Runtime, RuntimeConfig};
use std::time::Duration;

/// A runtime without a disk cache, sized for the tests.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: None, engine: outlayer_host::engine::EngineSettings { max_concurrent: 128 } }).expect("runtime")
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

/// A recorded real NEAR RPC answer from `crates/near/tests/data/rpc`.
pub fn recorded(name: &str) -> serde_json::Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/near/tests/data/rpc").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A local NEAR node on a free loopback port answering each JSON-RPC request with
/// `answer(request)` (its `id` copied over); returns its URL.
pub async fn node(answer: fn(&serde_json::Value) -> serde_json::Value) -> String {
    use axum::{Json, Router, routing::post};
    let app = Router::new().route(
        "/",
        post(move |Json(req): Json<serde_json::Value>| async move {
            let mut a = answer(&req);
            a["id"] = req["id"].clone();
            Json(a)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
