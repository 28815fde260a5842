//! The one wasmtime [`Engine`] of a process and the thread that drives its epoch.
//!
//! Fuel counts instructions (exactly, for billing); the epoch bounds wall time and lets every
//! running guest yield to the async executor once per tick, so a hundred guests share two cores
//! instead of one guest holding a worker thread.

use crate::error::HostError;
use crate::limits::{CAP_MAX_MEMORY_BYTES, DEFAULT_MAX_TABLE_ELEMENTS};
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of timeouts and of yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Wasm stack a guest may use. Defends the host stack against unbounded recursion.
pub const MAX_WASM_STACK: usize = 1 << 20;
/// Fiber stack for async execution: wasm stack plus room for host calls.
pub const ASYNC_STACK: usize = MAX_WASM_STACK + (1 << 20);
/// Default number of executions that may run at once (pooling slots).
pub const DEFAULT_MAX_CONCURRENT: u32 = 256;
/// Core instances per component slot (a Rust wasip2 command uses about 5).
const CORE_INSTANCES_PER_EXECUTION: u32 = 8;
/// Elements a pooled table slot holds; above the limiter's default so the limiter decides.
const POOL_TABLE_ELEMENTS: usize = 2 * DEFAULT_MAX_TABLE_ELEMENTS as usize;
/// Bytes of each pooled linear memory reset with `memset` when an execution ends (only the pages
/// it touched, found with the `PAGEMAP_SCAN` ioctl on Linux ≥ 6.7), instead of `madvise`: every
/// `madvise` of a mapped range flushes the TLB of every core running the process (an
/// inter-processor interrupt), which cost 10 % of `outlayer serve`'s CPU under echo load. Beyond
/// this size, and on kernels without the ioctl (which `memset` the whole prefix), the rest is
/// `madvise`d as before. Either way the next execution finds the memory as the module's image
/// left it: nothing of one guest's data reaches the next.
const KEEP_RESIDENT_MEMORY: usize = 4 << 20;
/// The same for each pooled table.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// Engine settings. Changing any of them changes the compiled-artifact cache key.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Executions that may be instantiated at once.
    pub max_concurrent: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_concurrent: DEFAULT_MAX_CONCURRENT }
    }
}

/// Build the engine: fuel, epochs, async, pooling allocator sized for `max_concurrent`.
pub fn build_engine(settings: &EngineSettings) -> Result<Engine, HostError> {
    let n = settings.max_concurrent.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n * CORE_INSTANCES_PER_EXECUTION)
        .total_memories(n * 2)
        .total_tables(n * CORE_INSTANCES_PER_EXECUTION)
        .total_stacks(n)
        .max_memory_size(CAP_MAX_MEMORY_BYTES as usize)
        .table_elements(POOL_TABLE_ELEMENTS)
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| HostError::Engine(format!("{e:#}")))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("outlayer-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn epoch thread");
}
