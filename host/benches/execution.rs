//! `cargo bench -p outlayer-host`: warm echo execution and cached-artifact load.
//!
//! - `echo/warm`: a prepared echo component; each iteration builds a new store and WASI context,
//!   instantiates from the pooled `InstancePre`, runs with in-memory stdin/stdout, and classifies
//!   the result — everything a worker does per call except fetching the wasm.
//! - `prepare/disk-hit`: load a compiled artifact from the disk cache (checksum verified,
//!   `deserialize_file`, pre-link), as after a worker restart.

use criterion::{Criterion, criterion_group, criterion_main};
use outlayer_host::{CacheStatus, ExecutionRequest, Runtime, RuntimeConfig};

fn benches(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::ECHO);
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(dir.path().to_path_buf()), ..Default::default() }).unwrap();
    let prepared = runtime.prepare(&wasm).unwrap();

    c.bench_function("echo/warm", |b| {
        b.iter(|| {
            let request = ExecutionRequest { input: b"hello".to_vec(), ..Default::default() };
            let report = tokio.block_on(runtime.execute(&prepared, request)).unwrap();
            assert_eq!(report.output, b"hello");
        })
    });

    c.bench_function("prepare/disk-hit", |b| {
        b.iter(|| {
            runtime.evict(&prepared.wasm_hash);
            let p = runtime.prepare(&wasm).unwrap();
            assert_eq!(p.cache_status, CacheStatus::Disk);
        })
    });
}

criterion_group!(execution, benches);
criterion_main!(execution);
