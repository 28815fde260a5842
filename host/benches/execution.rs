//! `cargo bench -p outlayer-host`: warm echo execution and cached-artifact load.
//!
//! - `echo/warm`: a prepared echo component; each iteration builds a new store and WASI context,
//!   instantiates from the pooled `InstancePre`, runs with in-memory stdin/stdout, and classifies
//!   the result — everything a worker does per call except fetching the wasm.
//! - `echo/bare-wasmtime`: the floor: the same component on the same engine (same settings,
//!   pooling), instantiated from a plain wasmtime-wasi `CommandPre` with only WASI linked, fuel
//!   and epoch deadline set once, in-memory stdio. `echo/warm` divided by this is what our host
//!   adds (limits, capabilities, classification); the bench prints that ratio (medians of
//!   interleaved runs) before `prepare/disk-hit`.
//! - `prepare/disk-hit`: load a compiled artifact from the disk cache (checksum verified,
//!   `deserialize_file`, pre-link), as after a worker restart.

use criterion::{Criterion, criterion_group, criterion_main};
use outlayer_host::{CacheStatus, ExecutionRequest, Runtime, RuntimeConfig};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The store data of the bare baseline: WASI and nothing else.
struct Bare {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// A plain wasmtime-wasi command run of `pre` with `input` on stdin; returns stdout.
async fn bare_run(engine: &Engine, pre: &CommandPre<Bare>, input: &[u8]) -> Vec<u8> {
    let stdout = MemoryOutputPipe::new(1 << 20);
    let ctx = WasiCtx::builder().stdin(MemoryInputPipe::new(input.to_vec())).stdout(stdout.clone()).build();
    let mut store = Store::new(engine, Bare { ctx, table: ResourceTable::new() });
    // The engine meters fuel and epochs (as every execution of ours): give both without bound.
    store.set_fuel(u64::MAX).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let command = pre.instantiate_async(&mut store).await.unwrap();
    command.wasi_cli_run().call_run(&mut store).await.unwrap().unwrap();
    stdout.contents().to_vec()
}

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

    let engine = runtime.engine().clone();
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    let component = Component::new(&engine, &wasm).unwrap();
    let bare = CommandPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    assert_eq!(tokio.block_on(bare_run(&engine, &bare, b"hello")), b"hello");
    c.bench_function("echo/bare-wasmtime", |b| {
        b.iter(|| {
            let out = tokio.block_on(bare_run(&engine, &bare, b"hello"));
            assert_eq!(out, b"hello");
        })
    });

    // The ratio, measured here directly (criterion reports each function on its own): the
    // median of interleaved single runs, so both see the same machine load.
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..2_000 {
        let t = std::time::Instant::now();
        let request = ExecutionRequest { input: b"hello".to_vec(), ..Default::default() };
        tokio.block_on(runtime.execute(&prepared, request)).unwrap();
        ours.push(t.elapsed());
        let t = std::time::Instant::now();
        tokio.block_on(bare_run(&engine, &bare, b"hello"));
        floor.push(t.elapsed());
    }
    ours.sort();
    floor.sort();
    let (ours, floor) = (ours[ours.len() / 2], floor[floor.len() / 2]);
    println!(
        "echo: ours {:.1} µs, bare wasmtime {:.1} µs, ratio {:.2}x (medians of 2,000 interleaved runs)",
        ours.as_secs_f64() * 1e6,
        floor.as_secs_f64() * 1e6,
        ours.as_secs_f64() / floor.as_secs_f64()
    );

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
