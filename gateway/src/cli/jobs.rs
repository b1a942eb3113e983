//! The CLI's delivery jobs and audit trail: `jobs`, `job`, `retry`, `discard` and `audit`.

use std::io::Write;

use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client};
use super::table::{Table, fields, short, text, time};
use super::{emit, items};

/// Longest error message shown in a table cell.
const MESSAGE_WIDTH: usize = 60;

/// `admin jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs in this state; without it, the outbox.
    #[arg(long, value_parser = ["pending", "running", "retrying", "delivered", "dead"])]
    pub state: Option<String>,
    /// Only this connector's jobs.
    #[arg(long)]
    pub connector: Option<String>,
    /// Only jobs after this seq (the next page).
    #[arg(long)]
    pub after: Option<u64>,
    /// Most jobs to list (the gateway's default: 100).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Which dead jobs `retry` and `discard` act on.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Selection {
    /// One dead job, by seq.
    pub seq: Option<u64>,
    /// Every dead job of this connector.
    #[arg(long)]
    pub connector: Option<String>,
}

/// `admin audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries of this resource type (`User`, `Group`).
    #[arg(long)]
    pub resource_type: Option<String>,
    /// Only entries of this resource id.
    #[arg(long)]
    pub resource_id: Option<String>,
    /// Only delivery entries of this connector.
    #[arg(long)]
    pub connector: Option<String>,
    /// Only changes made with the token of this name.
    #[arg(long)]
    pub actor: Option<String>,
    /// Entries at or after this time (RFC 3339, or ms since the Unix epoch).
    #[arg(long)]
    pub since: Option<String>,
    /// Entries before this time (RFC 3339, or ms since the Unix epoch).
    #[arg(long)]
    pub until: Option<String>,
    /// Only entries older than this seq (the next page).
    #[arg(long)]
    pub before: Option<u64>,
    /// Most entries to list (the gateway's default: 100).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// The query pairs of the options that are set.
fn query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
        .collect()
}

/// `admin jobs`.
pub fn list(c: &Client, a: &JobsArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let q = query(&[
        ("state", a.state.clone()),
        ("connector", a.connector.clone()),
        ("after", a.after.map(|s| s.to_string())),
        ("limit", a.limit.map(|n| n.to_string())),
    ]);
    let answer = c.get(&["jobs"], &q)?.body;
    emit(out, json, &answer, |answer| {
        let mut t = Table::new(&[
            "SEQ",
            "STATE",
            "CONNECTOR",
            "OPERATION",
            "RESOURCE",
            "ATTEMPTS",
            "CREATED",
            "LAST ERROR",
        ]);
        for job in items(answer, "jobs") {
            let attempts = items(job, "attempts");
            let last_error = attempts
                .last()
                .filter(|a| a["outcome"] != "delivered")
                .map_or_else(
                    || "-".to_owned(),
                    |a| short(&text(&a["message"]), MESSAGE_WIDTH),
                );
            t.row(vec![
                text(&job["seq"]),
                text(&job["state"]),
                text(&job["connector"]),
                text(&job["operation"]),
                resource(job),
                attempts.len().to_string(),
                time(&job["created_ms"]),
                last_error,
            ]);
        }
        let mut s = if t.is_empty() {
            "no jobs\n".to_owned()
        } else {
            t.render()
        };
        if let Some(next) = answer["next"].as_u64() {
            s.push_str(&format!("more: add --after {next}\n"));
        }
        s
    })
}

/// `User/<id>`.
fn resource(v: &Value) -> String {
    format!("{}/{}", text(&v["resource_type"]), text(&v["resource_id"]))
}

/// `admin job SEQ`.
pub fn show(c: &Client, seq: u64, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = c.get(&["jobs", &seq.to_string()], &[])?.body;
    emit(out, json, &answer, |job| {
        let mut s = fields(&[
            ("seq", text(&job["seq"])),
            ("state", text(&job["state"])),
            ("connector", text(&job["connector"])),
            ("resource", resource(job)),
            ("operation", text(&job["operation"])),
            ("changed paths", text(&job["changed_paths"])),
            ("created", time(&job["created_ms"])),
            ("next attempt", time(&job["next_attempt_ms"])),
            ("retried from", text(&job["retried_from"])),
        ]);
        let attempts = items(job, "attempts");
        if attempts.is_empty() {
            s.push_str("\nno attempts yet\n");
            return s;
        }
        let mut t = Table::new(&["#", "AT", "DURATION", "OUTCOME", "MESSAGE"]);
        for (i, a) in attempts.iter().enumerate() {
            t.row(vec![
                (i + 1).to_string(),
                time(&a["at_ms"]),
                format!("{} ms", text(&a["duration_ms"])),
                text(&a["outcome"]),
                text(&a["message"]),
            ]);
        }
        s.push('\n');
        s.push_str(&t.render());
        for (i, a) in attempts.iter().enumerate() {
            let logs = items(a, "logs");
            if !logs.is_empty() {
                s.push_str(&format!("\nattempt {} logged:\n", i + 1));
                for line in logs {
                    s.push_str(&format!("  {}\n", text(line)));
                }
            }
        }
        s
    })
}

/// The request of `retry` or `discard`: one job by seq, or a connector's in bulk.
fn act(c: &Client, s: &Selection, verb: &str) -> anyhow::Result<Value> {
    let (method, url, body) = match (s.seq, &s.connector) {
        (Some(seq), _) if verb == "retry" => (
            Method::POST,
            c.url(&["jobs", &seq.to_string(), "retry"], &[]),
            Body::Empty,
        ),
        (Some(seq), _) => (
            Method::DELETE,
            c.url(&["jobs", &seq.to_string()], &[]),
            Body::Empty,
        ),
        (None, connector) => (
            Method::POST,
            c.url(&["jobs", verb], &[]),
            Body::Json(json!({"connector": connector})),
        ),
    };
    Ok(c.send(method, url, body)?.body)
}

/// `admin retry`.
pub fn retry(c: &Client, s: &Selection, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = act(c, s, "retry")?;
    emit(out, json, &answer, |answer| {
        let jobs = items(answer, "jobs");
        let mut out = format!("retried {} dead job(s)\n", jobs.len());
        for job in jobs {
            out.push_str(&format!(
                "  job {} is pending again as job {}\n",
                text(&job["retried_from"]),
                text(&job["seq"])
            ));
        }
        out
    })
}

/// `admin discard`.
pub fn discard(c: &Client, s: &Selection, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = act(c, s, "discard")?;
    emit(out, json, &answer, |answer| {
        let seqs = items(answer, "seqs");
        match seqs.len() {
            0 => "discarded no dead jobs\n".to_owned(),
            n => format!("discarded {n} dead job(s): {}\n", text(&answer["seqs"])),
        }
    })
}

/// `admin audit`.
pub fn audit(c: &Client, a: &AuditArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let q = query(&[
        ("resource_type", a.resource_type.clone()),
        ("resource_id", a.resource_id.clone()),
        ("connector", a.connector.clone()),
        ("actor", a.actor.clone()),
        ("since", a.since.clone()),
        ("until", a.until.clone()),
        ("before", a.before.map(|s| s.to_string())),
        ("limit", a.limit.map(|n| n.to_string())),
    ]);
    let answer = c.get(&["audit"], &q)?.body;
    emit(out, json, &answer, |answer| {
        let mut t = Table::new(&["SEQ", "AT", "KIND", "RESOURCE", "BY", "WHAT"]);
        for e in items(answer, "entries") {
            let (by, what) = if e["kind"] == "delivery" {
                let job = match e["job_seq"].as_u64() {
                    Some(seq) => format!("job {seq}"),
                    None => "while the client waited".to_owned(),
                };
                let what = format!("{job}: {} → {}", text(&e["outcome"]), text(&e["result"]));
                (text(&e["connector"]), what)
            } else {
                (text(&e["actor"]), text(&e["operation"]))
            };
            t.row(vec![
                text(&e["seq"]),
                text(&e["at"]),
                text(&e["kind"]),
                resource(e),
                by,
                what,
            ]);
        }
        let mut s = if t.is_empty() {
            "no audit entries\n".to_owned()
        } else {
            t.render()
        };
        if let Some(next) = answer["next"].as_u64() {
            s.push_str(&format!("more: add --before {next}\n"));
        }
        s
    })
}
