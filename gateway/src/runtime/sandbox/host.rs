//! The host's side of the contract and the minimal WASI, linked for the plugin: HTTP through
//! the egress rules with a per-call count and the deadline (a request cut by it ends the call
//! as its timeout), log lines capped in number and
//! length, remote-id lookups and HMAC with secrets the plugin never sees.

use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::runtime::bindings::v0_1;
use crate::runtime::egress::{Egress, EgressError, PluginRequest};
use crate::runtime::hmac;
use crate::runtime::sandbox::output::log_text;
use crate::runtime::sandbox::{DeadlinePassed, HostState};

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
        if let Some(pacer) = &self.sandbox.pacer {
            self.pacing.throttled += pacer.turn().await;
        }
        let limits = &self.sandbox.limits;
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        // The request's timeout is the call's own when what remains of the call is shorter.
        let call_bound = remaining <= limits.http_timeout;
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
        if call_bound && matches!(result, Err(EgressError::Timeout)) {
            tracing::info!(connector = %name, %method, %url, "plugin HTTP request cut by the call's deadline");
            return Err(wasmtime::Error::new(DeadlinePassed));
        }
        Ok(match result {
            Ok(r) => {
                tracing::debug!(connector = %name, %method, %url, status = r.status, "plugin HTTP request");
                if let Some(wait) =
                    super::pacing::retry_after(r.status, &r.headers, std::time::SystemTime::now())
                {
                    tracing::info!(connector = %name, %method, %url, status = r.status, retry_after_ms = wait.as_millis() as u64, "the target asks to wait");
                    self.pacing.retry_after = self.pacing.retry_after.max(Some(wait));
                }
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
        let message = log_text(&message, limits.max_log_line_bytes);
        let name = &self.sandbox.name;
        let label = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.call_log.push(format!("{label}: {message}"));
        if !self
            .sandbox
            .log_budget
            .admit(limits.max_log_lines_per_minute, name)
        {
            return Ok(());
        }
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
            Some(key) if key.uses.hmac => {
                Ok(hex::encode(hmac::hmac_sha256(key.value.as_bytes(), &data)))
            }
            // An API token turned into an HMAC key would sign whatever the plugin asks: an
            // oracle for guessing it offline.
            Some(key) => Err(format!(
                "secret `{secret}` is declared for use as {}, not as an HMAC key",
                key.uses
            )),
            None => Err(format!("unknown secret `{secret}`")),
        })
    }
}

impl v0_1::types::Host for HostState {}
