//! The CLI's plugins, connector instances and reconcile runs: `plugins`, `plugin …`,
//! `connectors`, `connector …` and `reconcile`.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client};
use super::table::{Table, fields, text, time};
use super::{ConnectorCommand, PluginCommand, emit, items};

/// How often a reconcile run is polled.
const POLL: Duration = Duration::from_millis(500);

/// `admin plugins`.
pub fn plugins(c: &Client, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = c.get(&["plugins"], &[])?.body;
    emit(out, json, &answer, |answer| {
        let mut t = Table::new(&[
            "NAME", "VERSION", "WORLD", "SIZE", "USED BY", "UPLOADED", "ID",
        ]);
        for p in items(answer, "plugins") {
            t.row(vec![
                text(&p["name"]),
                text(&p["version"]),
                text(&p["world"]),
                size(&p["size_bytes"]),
                text(&p["used_by"]),
                time(&p["uploaded_ms"]),
                text(&p["id"]),
            ]);
        }
        if t.is_empty() {
            "no uploaded plugins\n".to_owned()
        } else {
            t.render()
        }
    })
}

/// A size in bytes, in KiB.
fn size(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| "-".to_owned(), |b| format!("{} KiB", b.div_ceil(1024)))
}

/// One plugin's fields.
fn plugin_fields(p: &Value) -> String {
    fields(&[
        ("id", text(&p["id"])),
        ("name", text(&p["name"])),
        ("version", text(&p["version"])),
        ("world", text(&p["world"])),
        ("contract version", text(&p["contract_version"])),
        ("resource types", text(&p["resource_types"])),
        ("config keys", text(&p["config_keys"])),
        ("secret names", text(&p["secret_names"])),
        ("size", size(&p["size_bytes"])),
        ("uploaded", time(&p["uploaded_ms"])),
        ("used by", text(&p["used_by"])),
    ])
}

/// `admin plugin …`.
pub fn plugin(
    c: &Client,
    command: PluginCommand,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        PluginCommand::Upload { file, sha256 } => {
            let wasm = read(&file)?;
            let query: Vec<(&str, String)> = sha256.into_iter().map(|h| ("sha256", h)).collect();
            let answer = c.send(Method::POST, c.url(&["plugins"], &query), Body::Wasm(wasm))?;
            let verb = if answer.status == 201 {
                "uploaded"
            } else {
                "already uploaded:"
            };
            emit(out, json, &answer.body, |p| {
                format!(
                    "{verb} plugin {} {} ({})\n",
                    text(&p["name"]),
                    text(&p["version"]),
                    text(&p["id"])
                )
            })
        }
        PluginCommand::Show { id } => {
            let answer = c.get(&["plugins", &id], &[])?.body;
            emit(out, json, &answer, plugin_fields)
        }
        PluginCommand::Delete { id } => {
            let answer = c.send(Method::DELETE, c.url(&["plugins", &id], &[]), Body::Empty)?;
            emit(out, json, &answer.body, |_| {
                format!("deleted plugin {id}\n")
            })
        }
    }
}

/// `admin connectors`.
pub fn list(c: &Client, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let answer = c.get(&["connectors"], &[])?.body;
    emit(out, json, &answer, |answer| {
        let mut t = Table::new(&[
            "NAME",
            "ENABLED",
            "SOURCE",
            "PLUGIN",
            "VERSION",
            "RESOURCE TYPES",
            "PATTERN",
            "ERROR",
        ]);
        for k in items(answer, "connectors") {
            t.row(vec![
                text(&k["name"]),
                text(&k["enabled"]),
                text(&k["source"]),
                text(&k["plugin"]),
                text(&k["plugin_version"]),
                text(&k["resource_types"]),
                text(&k["pattern"]),
                text(&k["error"]),
            ]);
        }
        if t.is_empty() {
            "no connectors\n".to_owned()
        } else {
            t.render()
        }
    })
}

/// One connector's fields.
fn connector_fields(k: &Value) -> String {
    let config = k["config"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(key, v)| format!("{key}={}", text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_owned());
    let rules = |list: &str| k["mapping"][list].as_array().map_or(0, Vec::len);
    let mapping = match (rules("users"), rules("groups")) {
        (0, 0) => "-".to_owned(),
        (u, g) => format!("{u} user rule(s), {g} group rule(s)"),
    };
    fields(&[
        ("name", text(&k["name"])),
        ("enabled", text(&k["enabled"])),
        ("source", text(&k["source"])),
        ("plugin", text(&k["plugin"])),
        ("plugin id", text(&k["plugin_id"])),
        ("plugin name", text(&k["plugin_name"])),
        ("plugin version", text(&k["plugin_version"])),
        ("resource types", text(&k["resource_types"])),
        ("pattern", text(&k["pattern"])),
        ("scope", text(&k["scope"])),
        ("config", config),
        ("mapping", mapping),
        ("secrets", text(&k["secrets"])),
        ("allowed hosts", text(&k["allowed_hosts"])),
        ("allowed ranges", text(&k["allowed_ranges"])),
        ("timeout", format!("{} ms", text(&k["timeout_ms"]))),
        ("memory", format!("{} MiB", text(&k["memory_mib"]))),
        ("error", text(&k["error"])),
    ])
}

/// `admin connector …`.
pub fn connector(
    c: &Client,
    command: ConnectorCommand,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (method, name, body) = match command {
        ConnectorCommand::Show { name } => {
            let answer = c.get(&["connectors", &name], &[])?.body;
            return emit(out, json, &answer, connector_fields);
        }
        ConnectorCommand::Apply { name, file } => {
            let bytes = read(&file)?;
            let definition: Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            (Method::PUT, name, Body::Json(definition))
        }
        ConnectorCommand::Enable { name } => {
            (Method::PATCH, name, Body::Json(json!({"enabled": true})))
        }
        ConnectorCommand::Disable { name } => {
            (Method::PATCH, name, Body::Json(json!({"enabled": false})))
        }
        ConnectorCommand::Delete { name } => (Method::DELETE, name, Body::Empty),
        ConnectorCommand::Preview {
            name,
            resource_type,
            id,
            mapping,
        } => {
            let mut ask = json!({"resourceType": resource_type, "id": id});
            if let Some(file) = mapping {
                ask["mapping"] = serde_json::from_slice(&read(&file)?)
                    .with_context(|| format!("{} is not JSON", file.display()))?;
            }
            let url = c.url(&["connectors", &name, "preview"], &[]);
            let answer = c.send(Method::POST, url, Body::Json(ask))?.body;
            // The event is a document: shown as JSON either way.
            return emit(out, true, &answer, |_| String::new());
        }
    };
    let verb = match (&method, &body) {
        (&Method::PUT, _) => "applied",
        (&Method::DELETE, _) => "deleted",
        (_, Body::Json(patch)) if patch["enabled"] == true => "enabled",
        _ => "disabled",
    };
    let answer = c.send(method, c.url(&["connectors", &name], &[]), body)?;
    let verb = match (verb, answer.status) {
        ("applied", 201) => "created",
        ("applied", _) => "replaced",
        (verb, _) => verb,
    };
    emit(out, json, &answer.body, |_| {
        format!("{verb} connector {name}\n")
    })
}

/// A file's bytes (`-`: standard input).
fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
        return Ok(bytes);
    }
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

/// A run's progress in one line.
fn progress(p: &Value) -> String {
    format!(
        "reconcile of {}: {}, {} scanned, {} job(s) enqueued\n",
        text(&p["connector"]),
        text(&p["state"]),
        text(&p["scanned"]),
        text(&p["enqueued"])
    )
}

/// `admin reconcile NAME`: starts a run, then prints its progress until it ends.
pub fn reconcile(
    c: &Client,
    name: &str,
    no_wait: bool,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let path = ["connectors", name, "reconcile"];
    let mut answer = c.send(Method::POST, c.url(&path, &[]), Body::Empty)?.body;
    let mut shown = String::new();
    while !no_wait && answer["state"] == "running" {
        if !json {
            let line = progress(&answer);
            if line != shown {
                write!(out, "{line}")?;
                out.flush()?;
                shown = line;
            }
        }
        std::thread::sleep(POLL);
        answer = c.get(&path, &[])?.body;
    }
    emit(out, json, &answer, progress)?;
    if answer["state"] == "failed" {
        return Err(anyhow!(
            "reconcile of {name} failed: {}",
            text(&answer["error"])
        ));
    }
    Ok(())
}
