//! `scim-gateway admin …`: the admin API for people. Each subcommand is one or two requests to a
//! running gateway; the answer is printed as an aligned table (or, with `--json`, as the API's
//! JSON), and any failure as one line on standard error with a non-zero exit.
//!
//! [`client`] speaks HTTP, [`table`] lays text out, [`jobs`] and [`connectors`] turn answers into
//! output.

pub mod client;
pub mod connectors;
pub mod jobs;
pub mod table;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::Value;

use client::Client;

/// Where the gateway is and how to talk to it, then what to do.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The gateway's address.
    #[arg(
        long,
        env = "SCIM_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// An admin token. On the command line it is visible to every local user in the process
    /// list: prefer the environment variable or --token-file.
    #[arg(
        long,
        env = "SCIM_GATEWAY_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// A file holding the admin token (its first line); it wins over --token.
    #[arg(long, value_name = "PATH", global = true)]
    pub token_file: Option<std::path::PathBuf>,
    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List delivery jobs (the outbox: pending, running and retrying, unless --state says).
    Jobs(jobs::JobsArgs),
    /// Show one job with its attempts and the plugin's log lines of each.
    Job {
        /// The job's seq.
        seq: u64,
    },
    /// Send dead jobs back to the outbox: one by seq, or every one of a connector.
    Retry(jobs::Selection),
    /// Drop dead jobs: one by seq, or every one of a connector.
    Discard(jobs::Selection),
    /// List uploaded plugins.
    Plugins,
    /// Upload, show or delete a plugin.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// List connector instances.
    Connectors,
    /// Show, apply, enable, disable or delete a connector.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Push every resource in a connector's scope to it, and follow the run until it ends.
    Reconcile {
        /// The connector.
        name: String,
        /// Print the run as started and return without following it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Read the audit trail, newest first.
    Audit(jobs::AuditArgs),
}

/// `admin plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Upload a `.wasm` component.
    Upload {
        /// The component.
        file: PathBuf,
        /// The SHA-256 the component must have (hex); the gateway refuses it otherwise.
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Show one plugin.
    Show {
        /// The plugin's id (its SHA-256).
        id: String,
    },
    /// Delete a plugin no connector uses.
    Delete {
        /// The plugin's id (its SHA-256).
        id: String,
    },
}

/// `admin connector …`.
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Show one connector.
    Show {
        /// The connector's name.
        name: String,
    },
    /// Create or replace a connector from a JSON definition (`{"plugin": …, "config": …}`).
    Apply {
        /// The connector's name.
        name: String,
        /// The definition: a JSON file (`-` for standard input).
        file: PathBuf,
    },
    /// Let a connector receive and deliver changes again.
    Enable {
        /// The connector's name.
        name: String,
    },
    /// Stop a connector: it records no new jobs, and its jobs wait.
    Disable {
        /// The connector's name.
        name: String,
    },
    /// Remove a connector.
    Delete {
        /// The connector's name.
        name: String,
    },
    /// Show the event the connector's plugin would receive for one user or group, its mapping
    /// applied (nothing is delivered).
    Preview {
        /// The connector's name.
        name: String,
        /// `User` or `Group`.
        resource_type: String,
        /// The resource's id.
        id: String,
        /// A mapping to try instead of the connector's own: a JSON file
        /// (`{"users": [...], "groups": [...]}`; `-` for standard input).
        #[arg(long)]
        mapping: Option<PathBuf>,
    },
}

/// Runs an admin subcommand; a failure is printed as one line on standard error.
pub fn main(args: AdminArgs) -> ExitCode {
    match run(args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an admin subcommand, writing its output to `out`.
pub fn run(args: AdminArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            Some(text.lines().next().unwrap_or_default().trim().to_owned())
        }
        None => args.token,
    };
    let client = Client::new(&args.url, token)?;
    let json = args.json;
    match args.command {
        AdminCommand::Jobs(a) => jobs::list(&client, &a, json, out),
        AdminCommand::Job { seq } => jobs::show(&client, seq, json, out),
        AdminCommand::Retry(s) => jobs::retry(&client, &s, json, out),
        AdminCommand::Discard(s) => jobs::discard(&client, &s, json, out),
        AdminCommand::Audit(a) => jobs::audit(&client, &a, json, out),
        AdminCommand::Plugins => connectors::plugins(&client, json, out),
        AdminCommand::Plugin(c) => connectors::plugin(&client, c, json, out),
        AdminCommand::Connectors => connectors::list(&client, json, out),
        AdminCommand::Connector(c) => connectors::connector(&client, c, json, out),
        AdminCommand::Reconcile { name, no_wait } => {
            connectors::reconcile(&client, &name, no_wait, json, out)
        }
    }
}

/// Prints `answer` as JSON (when `json`; nothing for an empty answer) or as `render` lays it out.
fn emit(
    out: &mut dyn Write,
    json: bool,
    answer: &Value,
    render: impl FnOnce(&Value) -> String,
) -> anyhow::Result<()> {
    if json {
        if !answer.is_null() {
            writeln!(out, "{}", serde_json::to_string_pretty(answer)?)?;
        }
    } else {
        write!(out, "{}", render(answer))?;
    }
    Ok(())
}

/// The answer's `key` as a list (empty when it is not one).
fn items<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer[key].as_array().map_or(&[], Vec::as_slice)
}
