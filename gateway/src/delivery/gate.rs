//! Which connectors may start an attempt now: the pause a target asked for, and a connector's
//! cap on attempts in flight. Pure data, no I/O, beside [`super::queue`].
//!
//! A queue whose connector may not start is *parked* here rather than put back on the
//! schedule: it costs nothing while it waits, however many queues wait (100,000 users behind
//! a paused target are 100,000 parked keys, not 100,000 wake-ups), and it is released, oldest
//! first, when the pause ends or an attempt of its connector ends. Each queue keeps its own
//! order; which of a connector's queues goes first is not promised.

use std::collections::{HashMap, VecDeque};

use crate::store::outbox::JobKey;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Gate {
    /// Attempts running, by connector.
    in_flight: HashMap<String, usize>,
    /// Until when (ms since the epoch) a connector is paused.
    paused_until: HashMap<String, u64>,
    /// Queues waiting for their connector, oldest first.
    parked: HashMap<String, VecDeque<JobKey>>,
}

impl Gate {
    /// Whether an attempt for `connector`, whose cap is `cap`, may start at `now`.
    pub fn admits(&self, connector: &str, cap: Option<usize>, now: u64) -> bool {
        let paused = self.paused_until.get(connector).is_some_and(|&t| t > now);
        let full = cap.is_some_and(|cap| self.running(connector) >= cap);
        !paused && !full
    }

    /// Holds a queue until its connector may start again.
    pub fn park(&mut self, key: JobKey) {
        self.parked
            .entry(key.connector.clone())
            .or_default()
            .push_back(key);
    }

    /// An attempt for `connector` started.
    pub fn started(&mut self, connector: &str) {
        *self.in_flight.entry(connector.to_owned()).or_default() += 1;
    }

    /// An attempt for `connector` ended; its target asked for nothing before `pause_until`.
    pub fn ended(&mut self, connector: &str, pause_until: Option<u64>) {
        if let Some(n) = self.in_flight.get_mut(connector) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(connector);
            }
        }
        if let Some(until) = pause_until {
            let at = self.paused_until.entry(connector.to_owned()).or_default();
            *at = (*at).max(until);
        }
    }

    /// The parked queues that may go at `now` (their connector's pause is over and it is below
    /// its cap), oldest first per connector; they are no longer parked.
    pub fn release(&mut self, now: u64, cap: impl Fn(&str) -> Option<usize>) -> Vec<JobKey> {
        self.paused_until.retain(|_, until| *until > now);
        let mut out = Vec::new();
        for (connector, keys) in &mut self.parked {
            if self.paused_until.contains_key(connector) {
                continue;
            }
            let running = self.in_flight.get(connector).copied().unwrap_or(0);
            let room = cap(connector).map_or(keys.len(), |c| c.saturating_sub(running));
            out.extend(keys.drain(..room.min(keys.len())));
        }
        self.parked.retain(|_, keys| !keys.is_empty());
        out
    }

    /// When the earliest pause ends, if any connector is paused.
    pub fn next_wake(&self) -> Option<u64> {
        self.paused_until.values().min().copied()
    }

    /// Attempts running for `connector`.
    fn running(&self, connector: &str) -> usize {
        self.in_flight.get(connector).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(connector: &str, id: &str) -> JobKey {
        JobKey {
            connector: connector.to_owned(),
            resource_type: "User".to_owned(),
            resource_id: id.to_owned(),
        }
    }

    #[test]
    fn a_pause_holds_every_queue_of_its_connector_until_it_ends() {
        let mut gate = Gate::default();
        gate.started("a");
        gate.ended("a", Some(1_000));
        assert!(!gate.admits("a", None, 999));
        assert!(gate.admits("b", None, 999), "other connectors go on");
        gate.park(key("a", "u1"));
        gate.park(key("a", "u2"));
        assert_eq!(gate.next_wake(), Some(1_000));
        assert!(gate.release(999, |_| None).is_empty());
        assert_eq!(
            gate.release(1_000, |_| None),
            [key("a", "u1"), key("a", "u2")]
        );
        assert!(gate.admits("a", None, 1_000));
        assert_eq!(gate.next_wake(), None);
    }

    #[test]
    fn a_cap_admits_that_many_attempts_and_releases_one_per_end() {
        let mut gate = Gate::default();
        let cap = |_: &str| Some(2);
        for id in ["u1", "u2"] {
            assert!(gate.admits("a", Some(2), 0), "{id}");
            gate.started("a");
        }
        assert!(!gate.admits("a", Some(2), 0));
        gate.park(key("a", "u3"));
        gate.park(key("a", "u4"));
        assert!(gate.release(0, cap).is_empty());
        gate.ended("a", None);
        assert_eq!(gate.release(0, cap), [key("a", "u3")]);
        gate.started("a");
        assert!(gate.release(0, cap).is_empty());
        gate.ended("a", None);
        gate.ended("a", None);
        assert_eq!(gate.release(0, cap), [key("a", "u4")]);
    }
}
