//! When a failed delivery is tried again: exponential backoff with full jitter, up to a limit.

use rand::Rng;
use serde::Deserialize;

use crate::config::DeliveryConfig;

/// Retry limits (the `[delivery]` section of the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts before a transiently failing job is dead-lettered.
    pub max_attempts: u32,
    /// Backoff before the second attempt, in ms; doubles with each further attempt.
    pub base_delay_ms: u64,
    /// The longest backoff, in ms.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::from(&DeliveryConfig::default())
    }
}

impl From<&DeliveryConfig> for RetryPolicy {
    /// The retry policy the `[delivery]` settings describe.
    fn from(c: &DeliveryConfig) -> Self {
        RetryPolicy {
            max_attempts: c.max_attempts.max(1),
            base_delay_ms: c.base_delay_ms,
            max_delay_ms: c.max_delay_ms,
        }
    }
}

impl RetryPolicy {
    /// The wait after `tries` failed attempts: a random point in `[cap/2, cap]`, where `cap`
    /// doubles from `base_delay_ms` up to `max_delay_ms`. The jitter spreads retries of many
    /// jobs that failed together (a target that was down) instead of sending them in one wave.
    pub fn delay_ms(&self, tries: u32) -> u64 {
        let exp = tries.saturating_sub(1).min(32);
        let cap = self
            .base_delay_ms
            .saturating_mul(1u64 << exp)
            .min(self.max_delay_ms)
            .max(1);
        rand::rng().random_range(cap / 2..=cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 1000,
        };
        for _ in 0..100 {
            let d1 = p.delay_ms(1);
            assert!((50..=100).contains(&d1), "{d1}");
            let d3 = p.delay_ms(3);
            assert!((200..=400).contains(&d3), "{d3}");
            let d20 = p.delay_ms(20);
            assert!((500..=1000).contains(&d20), "{d20}");
        }
    }
}
