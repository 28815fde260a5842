//! The compiled-artifact cache: miss, disk hit, memory hit, corrupt and foreign artifacts.

mod common;

use common::guest;
use outlayer_guest_artifacts as g;
use outlayer_host::cache::{ArtifactKind, DiskCache, sha256_hex};
use outlayer_host::{CacheStatus, ExecutionRequest, Runtime, RuntimeConfig};

fn runtime_with_cache(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: Some(dir.to_path_buf()), ..Default::default() }).unwrap()
}

async fn echo_works(rt: &Runtime, wasm: &[u8]) -> CacheStatus {
    let prepared = rt.prepare(wasm).unwrap();
    let r = rt.execute(&prepared, ExecutionRequest { input: b"cached".to_vec(), ..Default::default() }).await.unwrap();
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert_eq!(r.output, b"cached");
    prepared.cache_status
}

#[tokio::test]
async fn miss_then_disk_hit_then_memory_hit() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest(g::ECHO);
    let rt = runtime_with_cache(dir.path());
    assert_eq!(echo_works(&rt, &wasm).await, CacheStatus::Compiled);
    assert_eq!(echo_works(&rt, &wasm).await, CacheStatus::Memory);
    // A new process (runtime) with the same cache directory loads the artifact from disk.
    let rt2 = runtime_with_cache(dir.path());
    assert_eq!(echo_works(&rt2, &wasm).await, CacheStatus::Disk);
}

#[tokio::test]
async fn a_corrupt_artifact_is_detected_removed_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest(g::ECHO);
    let rt = runtime_with_cache(dir.path());
    assert_eq!(echo_works(&rt, &wasm).await, CacheStatus::Compiled);
    let path = DiskCache::new(dir.path(), rt.engine()).unwrap().artifact_path(&sha256_hex(&wasm), ArtifactKind::Component);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let rt2 = runtime_with_cache(dir.path());
    assert_eq!(echo_works(&rt2, &wasm).await, CacheStatus::Recompiled);
    // The rewritten artifact is good again.
    let rt3 = runtime_with_cache(dir.path());
    assert_eq!(echo_works(&rt3, &wasm).await, CacheStatus::Disk);
}

#[tokio::test]
async fn a_foreign_artifact_with_a_valid_checksum_is_rejected_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest(g::ECHO);
    let rt = runtime_with_cache(dir.path());
    let cache = DiskCache::new(dir.path(), rt.engine()).unwrap();
    let path = cache.artifact_path(&sha256_hex(&wasm), ArtifactKind::Component);
    // An artifact compiled by an engine with another configuration (no fuel, no epochs),
    // planted where ours would be, with a matching checksum sidecar.
    let foreign_engine = wasmtime::Engine::default();
    let foreign = wasmtime::component::Component::new(&foreign_engine, &wasm).unwrap().serialize().unwrap();
    cache.store(&path, &foreign).unwrap();

    assert_eq!(echo_works(&rt, &wasm).await, CacheStatus::Recompiled);
}

#[tokio::test]
async fn bytes_that_are_not_wasm_are_a_clear_error() {
    let rt = common::runtime();
    let err = rt.prepare(b"definitely not wasm").err().expect("must fail");
    assert!(err.to_string().contains("not a WebAssembly binary"), "{err}");
    let err = rt.prepare(b"\0asm\x0d\x00\x01\x00garbage").err().expect("must fail");
    assert!(err.to_string().starts_with("invalid wasm"), "{err}");
}
