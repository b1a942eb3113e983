//! The limiter of one call's store: linear memory up to the instance's limit (recording a
//! refusal, so an out-of-memory abort is told from other traps), tables and instance counts
//! bounded; and the store that installs it with the epoch deadline.
//!
//! The limits hold for the whole instance, not for each memory or table in it. A component
//! may hold several core instances, each with its own memory, and wasmtime asks the limiter
//! about each one separately. Were the limit checked per memory, a plugin of two memories could
//! use twice `memory_mib`. So the limiter keeps the sum of what it granted and checks the
//! sum.

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
    /// The most linear memory the instance may hold, in bytes, all its memories together.
    memory_bytes: usize,
    /// The linear memory granted so far, in bytes, all memories together.
    memory_used: usize,
    /// The table elements granted so far, all tables together.
    table_elements: usize,
    /// Whether a memory growth was refused.
    pub(crate) memory_refused: bool,
}

impl CallLimiter {
    /// A limiter allowing `memory_bytes` of linear memory.
    pub(super) fn new(memory_bytes: usize) -> Self {
        CallLimiter {
            memory_bytes,
            memory_used: 0,
            table_elements: 0,
            memory_refused: false,
        }
    }
}

/// The most table elements a plugin may have, all tables together (function tables of
/// ordinary programs are far smaller).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The sum `used` would become if one memory or table grew from `current` to `desired`, if it
/// stays within `limit`. Memories and tables only grow, so `desired >= current`.
fn grown(used: usize, current: usize, desired: usize, limit: usize) -> Option<usize> {
    let total = used.checked_add(desired.saturating_sub(current))?;
    (total <= limit).then_some(total)
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grown(self.memory_used, current, desired, self.memory_bytes) {
            Some(total) => {
                self.memory_used = total;
                Ok(true)
            }
            None => {
                self.memory_refused = true;
                Ok(false)
            }
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grown(self.table_elements, current, desired, MAX_TABLE_ELEMENTS) {
            Some(total) => {
                self.table_elements = total;
                Ok(true)
            }
            None => Ok(false),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_memory_limit_holds_for_all_memories_together() {
        let mut l = CallLimiter::new(64 * MIB);
        // Two memories of 40 MiB each: the first fits, the second would make 80.
        assert!(l.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(!l.memory_growing(0, 40 * MIB, None).unwrap());
        assert!(l.memory_refused);
        // The second may still take what is left, and the first may grow into nothing more.
        assert!(l.memory_growing(0, 24 * MIB, None).unwrap());
        assert!(!l.memory_growing(40 * MIB, 40 * MIB + 1, None).unwrap());
    }

    #[test]
    fn a_memory_may_grow_step_by_step_up_to_the_limit() {
        let mut l = CallLimiter::new(4 * MIB);
        assert!(l.memory_growing(0, MIB, None).unwrap());
        assert!(l.memory_growing(MIB, 3 * MIB, None).unwrap());
        assert!(l.memory_growing(3 * MIB, 4 * MIB, None).unwrap());
        assert!(!l.memory_refused);
        assert!(!l.memory_growing(4 * MIB, 4 * MIB + 65_536, None).unwrap());
    }

    #[test]
    fn table_elements_are_counted_over_all_tables() {
        let mut l = CallLimiter::new(MIB);
        assert!(l.table_growing(0, 60_000, None).unwrap());
        assert!(!l.table_growing(0, 60_000, None).unwrap());
        assert!(l.table_growing(0, 40_000, None).unwrap());
    }
}
