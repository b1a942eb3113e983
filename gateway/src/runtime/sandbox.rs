//! The sandbox one call runs in: the store's state, the WASI it gets, its limits and the host
//! functions of the contract.
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
//! bytes: a flood costs the plugin its lines, never the gateway its memory.
//!
//! Besides going to the gateway's log, the lines of one call (its `log` calls, then its stdout
//! and stderr) are kept in a [`CallLog`] of at most [`CALL_LOG_LINES`] lines and
//! [`CALL_LOG_BYTES`] bytes, which the caller gets with the call's outcome (the delivery
//! dispatcher records them in the job's attempt).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::runtime::Limits;
use crate::runtime::bindings::v0_1;
use crate::runtime::egress::{AllowedHost, Cidr, Egress, EgressError, PluginRequest};
use crate::runtime::hmac;
use crate::runtime::types::RemoteIdLookup;

/// What every call of one connector instance shares.
pub(crate) struct Sandbox {
    /// The instance's name (log tag, messages).
    pub(crate) name: String,
    /// The instance's secrets by name.
    pub(crate) secrets: HashMap<String, String>,
    /// Origins it may reach.
    pub(crate) allowed_hosts: Vec<AllowedHost>,
    /// Non-public ranges it may reach.
    pub(crate) allowed_ranges: Vec<Cidr>,
    /// The HTTP client for its ranges.
    pub(crate) client: reqwest::Client,
    /// Its limits.
    pub(crate) limits: Limits,
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
}

/// Most plugin log lines one call hands back to its caller.
pub const CALL_LOG_LINES: usize = 50;

/// Most bytes of plugin log lines one call hands back to its caller.
pub const CALL_LOG_BYTES: usize = 4096;

/// The log lines of one call kept for its caller, capped in lines and bytes; what does not fit
/// is counted and noted in a last line.
#[derive(Debug, Default)]
pub(crate) struct CallLog {
    /// The lines kept, each prefixed with its level or stream.
    lines: Vec<String>,
    /// Their total length in bytes.
    bytes: usize,
    /// Lines that did not fit.
    dropped: usize,
}

impl CallLog {
    /// Keeps `line` if it fits.
    fn push(&mut self, line: String) {
        if self.lines.len() >= CALL_LOG_LINES || self.bytes + line.len() > CALL_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += line.len();
        self.lines.push(line);
    }

    /// The lines kept (and a note of the ones dropped), emptying the log.
    fn take(&mut self) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.lines);
        if self.dropped > 0 {
            lines.push(format!("({} more lines not kept)", self.dropped));
        }
        self.bytes = 0;
        self.dropped = 0;
        lines
    }
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
        }
    }

    /// The lines this call logged, for its caller (call after [`flush_output`](Self::flush_output)).
    pub(crate) fn take_call_log(&mut self) -> Vec<String> {
        self.call_log.take()
    }

    /// Writes what the guest printed, and the count of dropped log lines, to the log.
    pub(crate) fn flush_output(&mut self) {
        let name = &self.sandbox.name;
        let (text, dropped) = self.output.take();
        let max = self.sandbox.limits.max_log_line_bytes;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = truncate(line.to_owned(), max);
            tracing::warn!(connector = %name, stream = "stdio", "{line}");
            self.call_log.push(format!("stdio: {line}"));
        }
        if dropped > 0 {
            tracing::warn!(connector = %name, "plugin output over the cap: {dropped} bytes dropped");
        }
        if self.log_dropped > 0 {
            tracing::warn!(
                connector = %name,
                "plugin logged more than {} lines: {} dropped",
                self.sandbox.limits.max_log_lines,
                self.log_dropped
            );
            self.log_dropped = 0;
        }
    }

    /// The last lines the guest printed (a panic's message), if any.
    pub(crate) fn output_tail(&self) -> Option<String> {
        self.output.tail()
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

/// Links the host's side of the contract and the minimal WASI into a linker.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, random};
    use wasmtime_wasi::random::WasiRandom;

    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<_, Io>(l, |s| &mut s.table)?;
    wasmtime_wasi_io::bindings::wasi::io::poll::add_to_linker::<_, Io>(l, |s| &mut s.table)?;
    wasmtime_wasi_io::bindings::wasi::io::streams::add_to_linker::<_, Io>(l, |s| &mut s.table)?;
    cli::environment::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::exit::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::stdin::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::stdout::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::stderr::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, WasiCliView::cli)?;
    clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, WasiClocksView::clocks)?;
    clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, WasiClocksView::clocks)?;
    random::random::add_to_linker::<_, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<_, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(l, |s| s.wasi.random())?;
    v0_1::host::add_to_linker::<_, Contract>(l, |s| s)?;
    Ok(())
}

/// `HasData` for the `wasi:io` bindings: they see the resource table.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// `HasData` for the contract's host functions: they see the whole state.
struct Contract;

impl HasData for Contract {
    type Data<'a> = &'a mut HostState;
}

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
    fn new(memory_bytes: usize) -> Self {
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

/// The guest's stdout and stderr: kept up to a cap, the rest counted and dropped. Writes never
/// fail (a failing stderr would make a Rust guest's `eprintln!` panic).
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    /// The bytes kept and the count dropped.
    inner: Arc<Mutex<(Vec<u8>, usize)>>,
    /// How many bytes to keep.
    cap: usize,
}

impl CapturedOutput {
    /// An empty capture keeping up to `cap` bytes.
    fn new(cap: usize) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new((Vec::new(), 0))),
            cap,
        }
    }

    /// Keeps what fits.
    fn push(&self, bytes: &[u8]) {
        if let Ok(mut inner) = self.inner.lock() {
            let room = self.cap.saturating_sub(inner.0.len());
            let kept = room.min(bytes.len());
            inner.0.extend_from_slice(&bytes[..kept]);
            inner.1 += bytes.len() - kept;
        }
    }

    /// The text kept and the count dropped, emptying the capture.
    fn take(&self) -> (String, usize) {
        match self.inner.lock() {
            Ok(mut inner) => {
                let text = String::from_utf8_lossy(&inner.0).into_owned();
                inner.0.clear();
                let dropped = std::mem::take(&mut inner.1);
                (text, dropped)
            }
            Err(_) => (String::new(), 0),
        }
    }

    /// The last three meaningful lines kept, joined (a Rust panic prints its location, its
    /// message, then a note about backtraces, which is dropped).
    fn tail(&self) -> Option<String> {
        let inner = self.inner.lock().ok()?;
        let text = String::from_utf8_lossy(&inner.0);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with"))
            .collect();
        let tail = &lines[lines.len().saturating_sub(3)..];
        (!tail.is_empty()).then(|| tail.join(" / "))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Cuts a string to at most `max` bytes on a character boundary, marking the cut.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("… (truncated)");
    }
    s
}

impl v0_1::host::Host for HostState {
    async fn http_request(
        &mut self,
        req: v0_1::host::Request,
    ) -> wasmtime::Result<Result<v0_1::host::Response, v0_1::host::HttpError>> {
        use v0_1::host::HttpError;

        let limits = &self.sandbox.limits;
        self.http_requests += 1;
        if self.http_requests > limits.max_http_requests {
            return Ok(Err(HttpError::Denied(format!(
                "more than {} HTTP requests in one call",
                limits.max_http_requests
            ))));
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let egress = Egress {
            connector: &self.sandbox.name,
            client: &self.sandbox.client,
            allowed_hosts: &self.sandbox.allowed_hosts,
            allowed_ranges: &self.sandbox.allowed_ranges,
            secrets: &self.sandbox.secrets,
            timeout: limits
                .http_timeout
                .min(remaining)
                .max(Duration::from_millis(1)),
            max_response_bytes: limits.max_response_bytes,
        };
        let request = PluginRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            secret_headers: req
                .secret_headers
                .into_iter()
                .map(|s| (s.header, s.secret, s.prefix))
                .collect(),
            body: req.body,
        };
        let method = request.method.clone();
        let url = request.url.clone();
        let result = egress.send(request).await;
        let name = &self.sandbox.name;
        Ok(match result {
            Ok(r) => {
                tracing::debug!(connector = %name, %method, %url, status = r.status, "plugin HTTP request");
                Ok(v0_1::host::Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                })
            }
            Err(e) => {
                tracing::info!(connector = %name, %method, %url, error = ?e, "plugin HTTP request failed");
                Err(match e {
                    EgressError::Denied(m) => HttpError::Denied(m),
                    EgressError::InvalidRequest(m) => HttpError::InvalidRequest(m),
                    EgressError::Timeout => HttpError::Timeout,
                    EgressError::TooLarge(n) => HttpError::TooLarge(n),
                    EgressError::Transport(m) => HttpError::Transport(m),
                })
            }
        })
    }

    async fn log(&mut self, level: v0_1::host::Level, message: String) -> wasmtime::Result<()> {
        use v0_1::host::Level;

        let limits = &self.sandbox.limits;
        if self.log_lines >= limits.max_log_lines {
            self.log_dropped += 1;
            return Ok(());
        }
        self.log_lines += 1;
        let message = truncate(message, limits.max_log_line_bytes);
        let name = &self.sandbox.name;
        let label = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.call_log.push(format!("{label}: {message}"));
        match level {
            Level::Trace => tracing::trace!(connector = %name, "{message}"),
            Level::Debug => tracing::debug!(connector = %name, "{message}"),
            Level::Info => tracing::info!(connector = %name, "{message}"),
            Level::Warn => tracing::warn!(connector = %name, "{message}"),
            Level::Error => tracing::error!(connector = %name, "{message}"),
        }
        Ok(())
    }

    async fn remote_id(
        &mut self,
        resource_type: String,
        gateway_id: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self
            .lookup
            .as_ref()
            .and_then(|lookup| lookup(&resource_type, &gateway_id)))
    }

    async fn hmac_sha256(
        &mut self,
        secret: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(match self.sandbox.secrets.get(&secret) {
            Some(key) => Ok(hmac::hex(&hmac::hmac_sha256(key.as_bytes(), &data))),
            None => Err(format!("unknown secret `{secret}`")),
        })
    }
}

impl v0_1::types::Host for HostState {}
