//! The sandbox one call runs in: the store's state, the WASI it gets, its limits and the host
//! functions of the contract.
//!
//! ```text
//! mod.rs      Sandbox (what an instance's calls share), HostState (one call's store state),
//!             the size of the call log handed back (CALL_LOG_LINES, CALL_LOG_BYTES)
//! limits.rs   CallLimiter (memory, tables) and the store that installs it with the deadline
//! output.rs   captured stdout/stderr and its byte cap, the call log, the output flush
//! host.rs     the linker: minimal WASI and the contract's host functions (HTTP, capped log)
//! pacing.rs   the instance's request rate (Pacer) and Retry-After of throttling answers
//! ```
//!
//! WASI: a plugin is linked against only what the Rust standard library of `wasm32-wasip2` needs
//! — `wasi:io` (streams), `wasi:cli` (environment, exit, stdio, terminals), `wasi:clocks` and
//! `wasi:random` — through a `WasiCtx` that grants nothing: no preopened directories, no
//! environment variables, no arguments, an empty stdin, and stdout/stderr captured into the log.
//! `wasi:filesystem` and `wasi:sockets` are not linked at all, so a component that imports them is
//! refused at load instead of failing later.
//!
//! Limits: the memory limiter records when it refused to grow a memory, because a Rust guest
//! turns an allocation failure into an abort (an `unreachable` trap) that would otherwise look
//! like any other trap. Log lines are capped in number and length per call, stdout and stderr in
//! bytes: a flood costs the plugin its lines, never the gateway its memory. What reaches the
//! gateway's log is also capped per minute across the instance's calls ([`LogBudget`]), and
//! every line has its control characters escaped, so a plugin can neither flood the log nor
//! forge a line of its own in it.
//!
//! Besides going to the gateway's log, the lines of one call (its `log` calls, then its stdout
//! and stderr) are kept in a [`CallLog`] of at most [`CALL_LOG_LINES`] lines and
//! [`CALL_LOG_BYTES`] bytes, which the caller gets with the call's outcome (the delivery
//! dispatcher records them in the job's attempt).

mod host;
mod limits;
mod output;
mod pacing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub(crate) use pacing::Pacer;

use crate::runtime::Limits;
use crate::runtime::egress::{AllowedHost, Cidr};
use crate::runtime::types::RemoteIdLookup;

pub(crate) use crate::runtime::sandbox::host::link;
pub(crate) use crate::runtime::sandbox::limits::{CallLimiter, store};
pub(crate) use crate::runtime::sandbox::output::{CallLog, CapturedOutput, LogBudget};

/// Most plugin log lines one call hands back to its caller.
pub const CALL_LOG_LINES: usize = 50;

/// Most bytes of plugin log lines one call hands back to its caller.
pub const CALL_LOG_BYTES: usize = 4096;

/// Ends a call whose deadline passed while the host waited on its behalf: an HTTP request
/// whose timeout was what remained of the call timed out. That is the call's timeout, not a
/// failure for the plugin to report (it would call it a slow target, transient), so the host
/// traps with this and the caller reports [`crate::runtime::CallError::Timeout`], whichever of
/// the two timers fired first.
#[derive(Debug)]
pub(crate) struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call's deadline passed during an HTTP request")
    }
}

impl std::error::Error for DeadlinePassed {}

/// What every call of one connector instance shares.
pub(crate) struct Sandbox {
    /// The instance's name (log tag, messages).
    pub(crate) name: String,
    /// The instance's secrets by name.
    pub(crate) secrets: HashMap<String, crate::runtime::Secret>,
    /// Origins it may reach.
    pub(crate) allowed_hosts: Vec<AllowedHost>,
    /// Non-public ranges it may reach.
    pub(crate) allowed_ranges: Vec<Cidr>,
    /// The HTTP client for its ranges.
    pub(crate) client: reqwest::Client,
    /// Its limits.
    pub(crate) limits: Limits,
    /// Its request rate, shared by its calls, if the admin set one.
    pub(crate) pacer: Option<Pacer>,
    /// Its lines to the gateway's log this minute, shared by its calls.
    pub(crate) log_budget: LogBudget,
}

impl std::fmt::Debug for Sandbox {
    /// Names the secrets, never their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("name", &self.name)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_ranges", &self.allowed_ranges)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The state of one call's store.
pub(crate) struct HostState {
    /// WASI's configuration: grants nothing.
    wasi: WasiCtx,
    /// WASI's resources (streams).
    table: ResourceTable,
    /// Memory and table limits.
    pub(crate) limiter: CallLimiter,
    /// The instance's shared settings.
    sandbox: Arc<Sandbox>,
    /// Remote ids of other resources; `None` answers "not delivered" to every lookup.
    lookup: Option<RemoteIdLookup>,
    /// When the call must be over (caps each HTTP request's timeout).
    deadline: Instant,
    /// Log lines written so far in this call.
    log_lines: usize,
    /// Log lines dropped over the cap.
    log_dropped: usize,
    /// HTTP requests sent so far in this call.
    http_requests: usize,
    /// The guest's stdout and stderr.
    pub(crate) output: CapturedOutput,
    /// The lines of this call kept for its caller.
    call_log: CallLog,
    /// What the call learnt about pacing.
    pub(crate) pacing: CallPacing,
}

/// What one call learnt about pacing its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallPacing {
    /// The longest pause a throttling answer (`429`/`503` with `Retry-After`) asked for.
    pub retry_after: Option<std::time::Duration>,
    /// How long its requests waited for the instance's request rate.
    pub throttled: std::time::Duration,
}

impl HostState {
    /// A fresh state for one call.
    pub(crate) fn new(
        sandbox: Arc<Sandbox>,
        lookup: Option<RemoteIdLookup>,
        deadline: Instant,
    ) -> Self {
        let output = CapturedOutput::new(sandbox.limits.max_output_capture_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdout(output.clone())
            .stderr(output.clone())
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(sandbox.limits.memory_bytes),
            sandbox,
            lookup,
            deadline,
            log_lines: 0,
            log_dropped: 0,
            http_requests: 0,
            output,
            call_log: CallLog::default(),
            pacing: CallPacing::default(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
