//! The per-execution [`ResourceLimiter`]: linear memory, tables and instance counts.
//!
//! Memory is capped across all memories of the execution (a component has several core
//! instances), and the peak is recorded for the report. A refused growth makes `memory.grow`
//! return -1 as the wasm spec says; the guest usually traps right after, and the runtime then
//! reports `memory-limit` rather than a bare trap.

use crate::limits::Limits;
use wasmtime::ResourceLimiter;

/// Tracks and limits what one execution allocates.
#[derive(Debug)]
pub struct ExecLimiter {
    max_memory: usize,
    max_table_elements: usize,
    max_instances: usize,
    max_tables: usize,
    max_memories: usize,
    /// Bytes of linear memory currently held (sum over memories).
    current_memory: usize,
    /// Highest `current_memory` seen.
    pub peak_memory: usize,
    /// A memory growth was refused.
    pub memory_refused: bool,
    /// A table growth was refused.
    pub table_refused: bool,
}

impl ExecLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        let clamp = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Self {
            max_memory: clamp(limits.max_memory_bytes),
            max_table_elements: clamp(limits.max_table_elements),
            max_instances: clamp(limits.max_instances),
            max_tables: clamp(limits.max_tables),
            max_memories: clamp(limits.max_memories),
            current_memory: 0,
            peak_memory: 0,
            memory_refused: false,
            table_refused: false,
        }
    }
}

impl ResourceLimiter for ExecLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let after = self.current_memory - current.min(self.current_memory) + desired;
        if after > self.max_memory {
            self.memory_refused = true;
            return Ok(false);
        }
        self.current_memory = after;
        self.peak_memory = self.peak_memory.max(after);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            self.table_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn tables(&self) -> usize {
        self.max_tables
    }

    fn memories(&self) -> usize {
        self.max_memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_capped_across_memories_and_peak_is_kept() {
        let mut l = ExecLimiter::new(&Limits { max_memory_bytes: 100, ..Limits::default() });
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert!(!l.memory_growing(30, 50, None).unwrap(), "90 + 20 > 100 must be refused");
        assert!(l.memory_refused);
        assert_eq!(l.peak_memory, 90);
    }
}
