//! The `scim-gateway` command: `serve` runs the gateway; `hash-token` helps write its config;
//! `admin` manages a running gateway through its admin API (see [`scim_gateway::cli`]).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scim_gateway::config::{Config, LogFormat};

/// mimalloc instead of glibc's allocator: a request allocates hundreds of small blocks, and
/// under load glibc's arenas made the tokio workers wait on each other (measured in
/// docs/benchmarks.md: GET /Users/{id} ~23k → ~37k req/s on the same machine).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay` (its place in `mi_option_e`; `libmimalloc-sys` names
/// the v2 options only). The test below reads its documented default to catch a renumbering.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Has mimalloc give freed memory back to the system at once instead of after its default
/// second, unless `MIMALLOC_PURGE_DELAY` says otherwise. Memory a burst freed (a `/Bulk`
/// request, compiling a plugin) otherwise stays resident: issue 10's benchmark measured the
/// sending gateway's peak at 288 MiB with the default and 257 MiB with this, at the same add
/// rate (docs/benchmarks.md).
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide mimalloc option; called before any other thread starts.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

#[derive(Parser)]
#[command(
    name = "scim-gateway",
    version,
    about = "SCIM 2.0 provisioning gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// TOML configuration file (see README). Flags override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory for the store [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// How log lines are written on standard error [default: the config's `log_format`,
        /// else text].
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        /// Same as `--log-format json` (kept for existing scripts).
        #[arg(long, hide = true, conflicts_with = "log_format")]
        log_json: bool,
    },
    /// Print the SHA-256 of a token read from standard input, for the config's `sha256` field.
    HashToken,
    /// Manage a running gateway through its admin API: jobs, plugins, connectors, audit.
    Admin(scim_gateway::cli::AdminArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    tune_allocator();
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            data_dir,
            log_format,
            log_json,
        } => {
            let mut cfg = match &config {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            if let Some(format) = log_format {
                cfg.log_format = format;
            }
            if log_json {
                cfg.log_format = LogFormat::Json;
            }
            init_logging(cfg.log_format);
            if let Some(listen) = listen {
                cfg.listen = listen;
            }
            if let Some(dir) = data_dir {
                cfg.data_dir = dir;
            }
            let env_tokens = scim_gateway::server::EnvTokens {
                scim: std::env::var("SCIM_GATEWAY_TOKEN").ok(),
                admin: std::env::var("SCIM_GATEWAY_ADMIN_TOKEN").ok(),
                key: std::env::var(scim_gateway::vault::KEY_ENV).ok(),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(scim_gateway::server::serve(
                cfg,
                env_tokens,
                shutdown_signal(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token")?;
            let token = token.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!token.is_empty(), "no token on standard input");
            writeln!(std::io::stdout(), "{}", scim_gateway::auth::hash_hex(token))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(args) => Ok(scim_gateway::cli::main(args)),
    }
}

/// Logs to standard error through `tracing`, filtered by `RUST_LOG` (default `info`): text, or
/// one JSON object per line (with the span fields) for log collectors.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    /// The option number is mimalloc v3's purge delay: its default there is 1,000 ms, and it
    /// reads back what is set.
    #[test]
    fn the_purge_delay_option_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads and sets a process-wide mimalloc option; no other test touches it.
        unsafe {
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 0);
        }
    }
}
