//! The runtime's errors: [`RuntimeError`] for setting up (engine, plugins, instances) and
//! [`CallError`] for one call into a plugin, each failure with its own reason.

use std::time::Duration;

use crate::model::FailureKind;

/// Why the runtime, a plugin or a connector instance could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The WebAssembly engine refused its configuration.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The bytes are not a valid WebAssembly component, or it does not compile.
    #[error("invalid plugin: {0}")]
    InvalidComponent(String),
    /// The component is not a connector of a contract version this gateway supports.
    #[error("incompatible plugin: {0}")]
    Incompatible(String),
    /// The component imports something the sandbox does not provide (a WASI interface the
    /// gateway does not grant, a function from a newer contract release).
    #[error("the plugin needs what the sandbox does not provide: {0}")]
    Link(String),
    /// The plugin failed while describing itself at load time.
    #[error("the plugin's describe() failed: {0}")]
    Describe(CallError),
    /// The compiled-artefact cache could not be used.
    #[error("plugin cache {path}: {message}")]
    Cache {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A connector instance's settings are wrong (an allowed host or range that does not parse).
    #[error("invalid connector settings: {0}")]
    Settings(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Why one call into a plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The connector says: try again later (target down, rate limited, …).
    #[error("transient failure: {0}")]
    Transient(String),
    /// The connector says: this will never work (rejected by the target, bad data, …).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The plugin trapped: a panic, an `unreachable`, an out-of-bounds access. The message holds
    /// the trap and the last line the plugin wrote to stderr (a panic's message).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("the plugin ran past its deadline of {} ms", .deadline.as_millis())]
    Timeout {
        /// The deadline it ran past.
        deadline: Duration,
    },
    /// The plugin tried to grow its memory past its limit.
    #[error("the plugin tried to use more than its memory limit of {} MiB", .limit_bytes >> 20)]
    MemoryLimit {
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// The plugin answered something the gateway refuses (an oversized or empty id, too much
    /// data).
    #[error("the plugin's answer is refused: {0}")]
    BadOutput(String),
    /// The plugin cannot serve this call (a `get` on a plugin that is not a
    /// `readable-connector`), or could not be instantiated.
    #[error("incompatible plugin: {0}")]
    Incompatible(String),
}

impl CallError {
    /// The kind of failure, for records and metrics.
    pub fn kind(&self) -> FailureKind {
        match self {
            CallError::Transient(_) => FailureKind::Transient,
            CallError::Permanent(_) => FailureKind::Permanent,
            CallError::Trap(_) => FailureKind::Trap,
            CallError::Timeout { .. } => FailureKind::Timeout,
            CallError::MemoryLimit { .. } => FailureKind::Memory,
            CallError::BadOutput(_) => FailureKind::BadOutput,
            CallError::Incompatible(_) => FailureKind::Incompatible,
        }
    }

    /// Whether another attempt may succeed: a transient failure or a timeout (a slow target).
    /// A trap, a memory overrun or a refused answer is the plugin's own and repeats.
    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}
