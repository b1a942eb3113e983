//! The limiter of one call's store: linear memory up to the instance's limit (recording a
//! refusal, so an out-of-memory abort is told from other traps), tables and instance counts
//! bounded; and the store that installs it with the epoch deadline.

use wasmtime::{ResourceLimiter, Store};

use crate::runtime::sandbox::HostState;

/// A fresh store for one call, with its limiter and deadline set.
pub(crate) fn store(engine: &wasmtime::Engine, state: HostState) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    // The deadline is enforced by the caller's timer; epochs only make the guest yield to it
    // (and to the other tasks of the worker thread) once per tick.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

/// Memory and table limits of one call, recording whether the memory limit was hit.
pub(crate) struct CallLimiter {
    /// The largest memory allowed, in bytes.
    memory_bytes: usize,
    /// Whether a memory growth was refused.
    pub(crate) memory_refused: bool,
}

impl CallLimiter {
    /// A limiter allowing `memory_bytes` of linear memory.
    pub(super) fn new(memory_bytes: usize) -> Self {
        CallLimiter {
            memory_bytes,
            memory_refused: false,
        }
    }
}

/// The most table elements a plugin may have (function tables of ordinary programs are far
/// smaller).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}
