//! Why a call to a connector failed, as delivery records it, metrics count it and the edge
//! answers it.

use std::fmt;

/// The kind of a failed connector call. Its [`as_str`](FailureKind::as_str) word is what job
/// records keep as an attempt's `outcome` and metrics use as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The connector says: try again later (target down, rate limited, …).
    Transient,
    /// The connector says: this will never work (rejected by the target, bad data, …).
    Permanent,
    /// The plugin trapped (a panic, an `unreachable`, an out-of-bounds access).
    Trap,
    /// The call ran past its deadline.
    Timeout,
    /// The plugin tried to grow its memory past its limit.
    Memory,
    /// The plugin answered something the gateway refuses.
    BadOutput,
    /// The plugin cannot serve this call, or could not be instantiated.
    Incompatible,
}

impl FailureKind {
    /// The kinds the sandbox stops a plugin for (counted as plugin faults).
    pub const FAULTS: [FailureKind; 3] =
        [FailureKind::Trap, FailureKind::Timeout, FailureKind::Memory];

    /// The word for records and metrics: `transient`, `permanent`, `trap`, `timeout`,
    /// `memory`, `bad-output`, `incompatible`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Permanent => "permanent",
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::BadOutput => "bad-output",
            FailureKind::Incompatible => "incompatible",
        }
    }

    /// Whether another attempt may succeed: a transient failure or a timeout (a slow target).
    /// A trap, a memory overrun or a refused answer is the plugin's own and repeats.
    pub fn retryable(self) -> bool {
        matches!(self, FailureKind::Transient | FailureKind::Timeout)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a connector call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The connector's message or the runtime's reason.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

impl Failure {
    /// A failure of `kind`, retryable as that kind is.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            retryable: kind.retryable(),
        }
    }

    /// The connector says: try again later (target down, rate limited, …).
    pub fn transient(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Transient, message)
    }

    /// The connector says: this will never work (rejected by the target, bad data, …).
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Permanent, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_and_timeouts_are_retried() {
        assert!(Failure::transient("x").retryable);
        assert!(Failure::new(FailureKind::Timeout, "x").retryable);
        assert!(!Failure::permanent("x").retryable);
        assert!(!Failure::new(FailureKind::Trap, "x").retryable);
        assert_eq!(FailureKind::BadOutput.to_string(), "bad-output");
    }
}
