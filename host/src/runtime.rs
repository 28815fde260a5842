//! The [`Runtime`]: loads components (through the cache) and executes them under limits.

use crate::bindings::{RunError, RuntimePre};
use crate::cache::{ArtifactKind, CacheStatus, DiskCache, sha256_hex};
use crate::caps::{self, CallGuard, Capabilities, Grants};
use crate::context::{ExecutionContext, is_reserved_env};
use crate::engine::{EngineSettings, build_engine, spawn_epoch_ticker};
use crate::error::HostError;
use crate::limiter::ExecLimiter;
use crate::limits::Limits;
use crate::outcome::{ExecutionReport, Outcome};
use crate::state::{ExecState, Wasi, add_caps_to_linker};
use crate::stdio::{CappedPipe, OutputLimitExceeded, StreamName};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Module, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// Extra time granted to a guest blocked in a host call before the execution is abandoned
/// (epoch interruption only fires while wasm runs).
pub const HOST_CALL_GRACE: Duration = Duration::from_millis(250);
/// Instructions between cooperative yields (~0.5 ms of a busy loop). Bounds how long one guest
/// holds an executor thread, and how stale the fuel count of a timed-out guest can be.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;
/// Prepared components kept in memory. Defends the worker's memory against many versions.
pub const MAX_PREPARED_IN_MEMORY: usize = 256;

/// Runtime settings chosen by the operator.
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Directory for compiled artifacts; `None` compiles every new component in memory only.
    pub cache_dir: Option<PathBuf>,
    pub engine: EngineSettings,
}

/// A component (or preview1 module) ready to instantiate.
pub struct Prepared {
    /// Hex sha256 of the wasm bytes.
    pub wasm_hash: String,
    /// Where the compiled code came from.
    pub cache_status: CacheStatus,
    kind: PreparedKind,
}

enum PreparedKind {
    Command(CommandPre<ExecState>),
    Typed(RuntimePre<ExecState>),
    Preview1(wasmtime::InstancePre<ExecState>),
}

impl Prepared {
    /// `command`, `typed` or `preview1`.
    pub fn shape(&self) -> &'static str {
        match self.kind {
            PreparedKind::Command(_) => "command",
            PreparedKind::Typed(_) => "typed",
            PreparedKind::Preview1(_) => "preview1",
        }
    }
}

/// One execution's request: input, limits, grants and context.
#[derive(Clone, Default)]
pub struct ExecutionRequest {
    pub input: Vec<u8>,
    pub limits: Limits,
    pub grants: Grants,
    pub context: ExecutionContext,
}

/// Loads and runs guests. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<ExecState>,
    p1_linker: wasmtime::Linker<ExecState>,
    disk: Option<DiskCache>,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
}

impl Runtime {
    /// Build the engine, linkers and cache.
    pub fn new(config: RuntimeConfig) -> Result<Self, HostError> {
        let engine = build_engine(&config.engine)?;
        spawn_epoch_ticker(&engine);
        let link_err = |e: wasmtime::Error| HostError::Engine(format!("linking host functions: {e:#}"));
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_err)?;
        add_caps_to_linker(&mut linker).map_err(link_err)?;
        let mut p1_linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut p1_linker, ExecState::p1).map_err(link_err)?;
        let disk = config.cache_dir.map(|d| DiskCache::new(d, &engine)).transpose()?;
        Ok(Self { inner: Arc::new(Inner { engine, linker, p1_linker, disk, prepared: Mutex::default() }) })
    }

    /// The engine (shared by everything this runtime runs).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compile (or fetch from the cache) and pre-link a component or preview1 module.
    ///
    /// Compiling is CPU-bound: async callers should run this in `spawn_blocking`.
    pub fn prepare(&self, wasm: &[u8]) -> Result<Arc<Prepared>, HostError> {
        let hash = sha256_hex(wasm);
        if let Some(p) = self.prepared(&hash) {
            return Ok(p);
        }
        let (kind, status) = if wasmparser_is_component(wasm)? {
            let (component, status) = self.load_component(wasm, &hash)?;
            (self.pre_component(&component)?, status)
        } else {
            let (module, status) = self.load_module(wasm, &hash)?;
            let pre = self.inner.p1_linker.instantiate_pre(&module).map_err(|e| HostError::Unsupported(format!("{e:#}")))?;
            (PreparedKind::Preview1(pre), status)
        };
        let prepared = Arc::new(Prepared { wasm_hash: hash.clone(), cache_status: status, kind });
        let mut map = self.inner.prepared.lock().expect("prepared lock");
        if map.len() >= MAX_PREPARED_IN_MEMORY {
            map.clear();
        }
        map.insert(hash, prepared.clone());
        Ok(prepared)
    }

    fn load_component(&self, wasm: &[u8], hash: &str) -> Result<(Component, CacheStatus), HostError> {
        let engine = &self.inner.engine;
        let compile = || Component::new(engine, wasm).map_err(|e| HostError::InvalidWasm(format!("{e:#}")));
        let Some(disk) = &self.inner.disk else { return Ok((compile()?, CacheStatus::Compiled)) };
        let path = disk.artifact_path(hash, ArtifactKind::Component);
        let existed = path.exists();
        if existed && disk.verify(&path) {
            // SAFETY: the file was written by `DiskCache::store` from `Component::serialize` of
            // this engine configuration (the fingerprint is in the name) and its checksum was
            // just verified; wasmtime also checks version and configuration compatibility.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, CacheStatus::Disk)),
                Err(e) => {
                    tracing::warn!(error = %e, "cached artifact rejected by wasmtime; recompiling");
                    disk.remove(&path);
                }
            }
        }
        let component = compile()?;
        match component.serialize() {
            Ok(bytes) => {
                if let Err(e) = disk.store(&path, &bytes) {
                    tracing::warn!(error = %e, "could not write compiled artifact");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not serialise compiled artifact"),
        }
        Ok((component, if existed { CacheStatus::Recompiled } else { CacheStatus::Compiled }))
    }

    fn load_module(&self, wasm: &[u8], hash: &str) -> Result<(Module, CacheStatus), HostError> {
        let engine = &self.inner.engine;
        let compile = || Module::new(engine, wasm).map_err(|e| HostError::InvalidWasm(format!("{e:#}")));
        let Some(disk) = &self.inner.disk else { return Ok((compile()?, CacheStatus::Compiled)) };
        let path = disk.artifact_path(hash, ArtifactKind::Module);
        let existed = path.exists();
        if existed && disk.verify(&path) {
            // SAFETY: as for components above: our own artifact, checksum verified.
            if let Ok(m) = unsafe { Module::deserialize_file(engine, &path) } {
                return Ok((m, CacheStatus::Disk));
            }
            disk.remove(&path);
        }
        let module = compile()?;
        if let Ok(bytes) = module.serialize() {
            let _ = disk.store(&path, &bytes);
        }
        Ok((module, if existed { CacheStatus::Recompiled } else { CacheStatus::Compiled }))
    }

    fn pre_component(&self, component: &Component) -> Result<PreparedKind, HostError> {
        let pre = self.inner.linker.instantiate_pre(component).map_err(|e| HostError::Unsupported(format!("{e:#}")))?;
        if let Ok(typed) = RuntimePre::new(pre.clone()) {
            return Ok(PreparedKind::Typed(typed));
        }
        match CommandPre::new(pre) {
            Ok(cmd) => Ok(PreparedKind::Command(cmd)),
            Err(_) => {
                Err(HostError::Unsupported("component exports neither `run` (outlayer:guest/typed) nor `wasi:cli/run` (a command)".into()))
            }
        }
    }

    /// The prepared component with this wasm sha256, if this runtime holds it in memory: lets a
    /// worker skip fetching and hashing the wasm of a version it already runs.
    pub fn prepared(&self, wasm_hash: &str) -> Option<Arc<Prepared>> {
        let map = self.inner.prepared.lock().expect("prepared lock");
        map.get(wasm_hash)
            .map(|p| Arc::new(Prepared { wasm_hash: p.wasm_hash.clone(), cache_status: CacheStatus::Memory, kind: p.kind.clone() }))
    }

    /// Forget the in-memory prepared copy of a component (the disk cache keeps its artifact).
    pub fn evict(&self, wasm_hash: &str) {
        self.inner.prepared.lock().expect("prepared lock").remove(wasm_hash);
    }

    /// Prepare and execute in one call.
    pub async fn run(&self, wasm: &[u8], request: ExecutionRequest) -> Result<ExecutionReport, HostError> {
        let prepared = self.prepare(wasm)?;
        self.execute(&prepared, request).await
    }

    /// Execute a prepared guest. Guest failures are reported in the [`ExecutionReport`], never
    /// as errors; an error means the request itself was unacceptable (limits out of range).
    pub async fn execute(&self, prepared: &Prepared, request: ExecutionRequest) -> Result<ExecutionReport, HostError> {
        let ExecutionRequest { input, limits, grants, context } = request;
        limits.validate()?;
        let started = Instant::now();
        let mut report = ExecutionReport {
            outcome: Outcome::Ok,
            output: Vec::new(),
            stderr: Vec::new(),
            instructions: 0,
            wall: Duration::ZERO,
            peak_memory_bytes: 0,
            refund: None,
            wasm_hash: prepared.wasm_hash.clone(),
            host_calls: Default::default(),
        };
        if input.len() as u64 > limits.max_input_bytes {
            report.outcome = Outcome::InputTooLarge;
            return Ok(report);
        }
        let deadline = started + limits.max_wall;
        let stdout = CappedPipe::new(StreamName::Stdout, limits.max_stdout_bytes);
        let stderr = CappedPipe::new(StreamName::Stderr, limits.max_stderr_bytes);
        let state = self.state(&prepared.kind, &input, &limits, &grants, &context, &prepared.wasm_hash, deadline, &stdout, &stderr);
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.max_instructions).expect("fuel is enabled");
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            // Fuel is only synced to the store at host calls; remember it at each tick so a
            // timed-out execution still reports what it used.
            let fuel = ctx.get_fuel().unwrap_or(0);
            ctx.data_mut().fuel_at_tick = Some(fuel);
            if Instant::now() >= deadline { Err(Deadline.into()) } else { Ok(UpdateDeadline::Continue(1)) }
        });
        // Yield to the executor every FUEL_YIELD_INTERVAL instructions: a hundred busy guests
        // share the worker threads, and fuel is synced to the store at each yield.
        store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL)).expect("fuel is enabled");

        let run = Self::call(&prepared.kind, &mut store, input);
        let result = tokio::time::timeout(limits.max_wall + HOST_CALL_GRACE, run).await;

        report.wall = started.elapsed();
        let remaining = store.get_fuel().unwrap_or(0).min(store.data().fuel_at_tick.unwrap_or(u64::MAX));
        report.instructions = limits.max_instructions - remaining;
        let data = store.data();
        report.peak_memory_bytes = data.limiter.peak_memory as u64;
        report.refund = data.caps.payment.refunded();
        report.host_calls = data.caps.host_calls();
        report.stderr = stderr.contents().to_vec();
        let (outcome, typed_output) = classify(result, &data.limiter);
        report.outcome = outcome;
        report.output = match typed_output {
            Some(bytes) if bytes.len() as u64 > limits.max_stdout_bytes => {
                report.outcome = Outcome::OutputTooLarge { stream: "output".into() };
                Vec::new()
            }
            Some(bytes) => bytes,
            None => stdout.contents().to_vec(),
        };
        let denied = report.host_calls.denied();
        // A failure after a denied capability call is reported as the denial: the likely cause.
        if !denied.is_empty() && matches!(report.outcome, Outcome::Exit { .. } | Outcome::Trap { .. } | Outcome::GuestError { .. }) {
            let message = match &report.outcome {
                Outcome::GuestError { message, .. } | Outcome::Trap { message } => message.clone(),
                _ => String::from_utf8_lossy(&report.stderr).trim().to_string(),
            };
            report.outcome = Outcome::Denied { capabilities: denied, message };
        }
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn state(
        &self,
        kind: &PreparedKind,
        input: &[u8],
        limits: &Limits,
        grants: &Grants,
        context: &ExecutionContext,
        wasm_hash: &str,
        deadline: Instant,
        stdout: &CappedPipe,
        stderr: &CappedPipe,
    ) -> ExecState {
        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone()).stderr(stderr.clone()).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        if !matches!(kind, PreparedKind::Typed(_)) {
            b.stdin(MemoryInputPipe::new(input.to_vec()));
        }
        b.envs(&crate::context::v01_env(context, limits, grants.payment.as_ref(), grants.rpc.is_some()));
        if let Some(secrets) = &grants.secrets {
            for (k, v) in secrets.iter().filter(|(k, _)| !is_reserved_env(k)) {
                b.env(k, v);
            }
        }
        let wasi = match kind {
            PreparedKind::Preview1(_) => Wasi::P1(b.build_p1()),
            _ => Wasi::P2(b.build()),
        };
        let guard = |max| CallGuard::new(max, deadline);
        let caps = Capabilities {
            context: caps::context::ContextCap::new(context, wasm_hash, limits),
            storage: caps::storage::StorageCap::new(
                grants.storage.clone(),
                guard(limits.max_storage_calls),
                crate::context::storage_home(context, wasm_hash),
                context.caller.as_deref(),
            ),
            secrets: caps::secrets::SecretsCap::new(grants.secrets.clone(), guard(limits.max_secrets_calls)),
            rpc: caps::rpc::RpcCap::new(grants.rpc.clone(), guard(limits.max_rpc_calls)),
            payment: caps::payment::PaymentCap::new(grants.payment.clone(), guard(limits.max_payment_calls)),
            vrf: caps::vrf::VrfCap::new(grants.vrf.clone(), guard(limits.max_vrf_calls), context.request_id.clone()),
            http: caps::http::HttpCap::new(grants.http.clone(), limits.into(), deadline),
        };
        ExecState { wasi, table: ResourceTable::new(), limiter: ExecLimiter::new(limits), caps, fuel_at_tick: None }
    }

    /// Instantiate and call the guest's entry point. `Some(bytes)` is a typed guest's output.
    async fn call(kind: &PreparedKind, store: &mut Store<ExecState>, input: Vec<u8>) -> wasmtime::Result<GuestEnd> {
        match kind {
            PreparedKind::Command(pre) => {
                let cmd = pre.instantiate_async(&mut *store).await?;
                let status = cmd.wasi_cli_run().call_run(&mut *store).await?;
                Ok(GuestEnd::Command(status.is_ok()))
            }
            PreparedKind::Typed(pre) => {
                let guest = pre.instantiate_async(&mut *store).await?;
                Ok(GuestEnd::Typed(guest.call_run(&mut *store, &input).await?))
            }
            PreparedKind::Preview1(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
                start.call_async(&mut *store, ()).await?;
                Ok(GuestEnd::Command(true))
            }
        }
    }
}

impl Clone for PreparedKind {
    fn clone(&self) -> Self {
        match self {
            Self::Command(p) => Self::Command(p.clone()),
            Self::Typed(p) => Self::Typed(p.clone()),
            Self::Preview1(p) => Self::Preview1(p.clone()),
        }
    }
}

/// How the guest's entry point returned.
enum GuestEnd {
    /// `wasi:cli/run` or `_start`: true for success.
    Command(bool),
    /// The typed `run`.
    Typed(Result<Vec<u8>, RunError>),
}

/// The error raised from the epoch callback once the wall-clock deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("wall-clock limit reached")]
struct Deadline;

fn classify(result: Result<wasmtime::Result<GuestEnd>, tokio::time::error::Elapsed>, limiter: &ExecLimiter) -> (Outcome, Option<Vec<u8>>) {
    let err = match result {
        Err(_) => return (Outcome::Timeout, None),
        Ok(Ok(GuestEnd::Command(true))) => return (Outcome::Ok, None),
        Ok(Ok(GuestEnd::Command(false))) => return (Outcome::Exit { code: 1 }, None),
        Ok(Ok(GuestEnd::Typed(Ok(bytes)))) => return (Outcome::Ok, Some(bytes)),
        Ok(Ok(GuestEnd::Typed(Err(e)))) => {
            let (kind, message) = match e {
                RunError::InvalidInput(m) => ("invalid-input", m),
                RunError::Denied(m) => ("denied", m),
                RunError::Other(m) => ("other", m),
            };
            return (Outcome::GuestError { kind: kind.into(), message }, None);
        }
        Ok(Err(e)) => e,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return (if exit.0 == 0 { Outcome::Ok } else { Outcome::Exit { code: exit.0 } }, None);
    }
    if err.downcast_ref::<Deadline>().is_some() {
        return (Outcome::Timeout, None);
    }
    if let Some(o) = err.downcast_ref::<OutputLimitExceeded>() {
        let stream = match o.stream {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        };
        return (Outcome::OutputTooLarge { stream: stream.into() }, None);
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return (Outcome::OutOfInstructions, None),
        Some(Trap::Interrupt) => return (Outcome::Timeout, None),
        _ => {}
    }
    if limiter.memory_refused {
        return (Outcome::MemoryLimit, None);
    }
    if limiter.table_refused {
        return (Outcome::TableLimit, None);
    }
    (Outcome::Trap { message: trap_message(&err) }, None)
}

/// The trap reason (for example `wasm trap: call stack exhausted`); the wasm backtrace goes to
/// the debug log, not to callers.
fn trap_message(err: &wasmtime::Error) -> String {
    tracing::debug!(error = ?err, "guest trapped");
    err.root_cause().to_string()
}

/// Whether `wasm` is a component (true) or a core module (false), from its header.
fn wasmparser_is_component(wasm: &[u8]) -> Result<bool, HostError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        // WAT text is accepted by neither path; say what we expected.
        return Err(HostError::InvalidWasm("not a WebAssembly binary (missing \\0asm header)".into()));
    }
    Ok(wasm[6..8] == [1, 0])
}
