//! `scim-gateway admin …` run as people run it: the real binary against a started gateway,
//! its tables and `--json` answers, and its one-line errors with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

use scim_gateway_e2e::{
    ADMIN_TOKEN, Gateway, TOKEN, build_plugin, closed_origin, eventually, gateway_bin, scratch_dir,
    when,
};
use serde_json::{Value, json};

/// What one run of the CLI did.
struct Run {
    /// Whether it exited with 0.
    ok: bool,
    /// What it printed on standard output.
    stdout: String,
    /// What it printed on standard error.
    stderr: String,
}

thread_local! {
    /// Everything the CLI printed on this thread (one test), standard output and error.
    static PRINTED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Everything the CLI printed so far in this test.
fn everything_printed() -> String {
    PRINTED.with(|p| p.borrow().clone())
}

/// Runs `scim-gateway admin ARGS` with a clean environment plus `env`.
fn admin(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(gateway_bin())
        .arg("admin")
        .args(args)
        .env_remove("SCIM_GATEWAY_URL")
        .env_remove("SCIM_GATEWAY_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run scim-gateway admin");
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    PRINTED.with(|p| {
        let mut p = p.borrow_mut();
        p.push_str(&run.stdout);
        p.push_str(&run.stderr);
    });
    run
}

/// Runs `scim-gateway admin --url … --token ADMIN_TOKEN ARGS` against `gw`.
fn cli(gw: &Gateway, args: &[&str]) -> Run {
    let mut all = vec!["--url", gw.origin(), "--token", ADMIN_TOKEN];
    all.extend_from_slice(args);
    admin(&all, &[])
}

/// Runs the CLI and asserts it succeeded; answers its standard output.
#[track_caller]
fn ok(gw: &Gateway, args: &[&str]) -> String {
    let run = cli(gw, args);
    assert!(run.ok, "{args:?} failed: {}", run.stderr);
    run.stdout
}

/// Runs the CLI with `--json` and asserts it succeeded; answers the parsed output.
#[track_caller]
fn ok_json(gw: &Gateway, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(gw, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} --json: {e}: {out}"))
}

/// Asserts a run failed with one line on standard error containing every one of `parts`.
#[track_caller]
fn fails_with(run: &Run, parts: &[&str]) {
    assert!(!run.ok, "expected a failure; printed {}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {:?}", run.stderr);
    for part in parts {
        assert!(
            run.stderr.contains(part),
            "{part:?} not in {:?}",
            run.stderr
        );
    }
}

/// The secret in the test connector definition: distinctive, so that it is found wherever it
/// is printed.
const SECRET: &str = "cli-secret-5e8d1a7c";

/// Writes the test connector definition; answers its path.
fn definition(dir: &Path) -> PathBuf {
    let path = dir.join("crm.json");
    let closed = closed_origin();
    let body = json!({"plugin": "scim2", "config": {"base_url": format!("{closed}/scim/v2")},
                      "secrets": {"token": SECRET}, "allowed_hosts": [closed],
                      "resource_types": ["User"]});
    std::fs::write(&path, body.to_string()).expect("write the definition");
    path
}

/// The columns of a table's lines, split on runs of two or more spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn a_connector_is_applied_listed_shown_toggled_and_deleted_and_its_secret_is_never_printed() {
    let gw = Gateway::start();
    let dir = scratch_dir("cli");
    let file = definition(&dir);
    let out = ok(
        &gw,
        &["connector", "apply", "crm", file.to_str().expect("utf-8")],
    );
    assert_eq!(out, "created connector crm\n");
    let out = ok(
        &gw,
        &["connector", "apply", "crm", file.to_str().expect("utf-8")],
    );
    assert_eq!(out, "replaced connector crm\n");

    let table = ok(&gw, &["connectors"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert_eq!(
        cells(lines[0]),
        [
            "NAME",
            "ENABLED",
            "SOURCE",
            "PLUGIN",
            "VERSION",
            "RESOURCE TYPES",
            "PATTERN",
            "ERROR"
        ]
    );
    let row = cells(lines[1]);
    assert_eq!(row[..4], ["crm", "true", "api", "scim2"], "{table}");
    assert_eq!(row[5..], ["User", "async", "-"], "{table}");
    // Aligned: every column starts where its header does.
    for header in ["ENABLED", "PLUGIN", "PATTERN"] {
        let at = lines[0].find(header).expect("header");
        assert_ne!(lines[1].as_bytes()[at], b' ', "{header} column\n{table}");
        assert_eq!(
            lines[1].as_bytes()[at - 1],
            b' ',
            "{header} column\n{table}"
        );
    }

    let listed = ok_json(&gw, &["connectors"]);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["connectors"][0]["name"], "crm");
    assert_eq!(listed["connectors"][0]["secrets"], json!(["token"]));

    assert_eq!(
        ok(&gw, &["connector", "disable", "crm"]),
        "disabled connector crm\n"
    );
    let listed = ok_json(&gw, &["connectors"]);
    assert_eq!(listed["connectors"][0]["enabled"], false, "{listed}");
    let shown = ok(&gw, &["connector", "show", "crm"]);
    assert!(shown.contains("enabled:        false\n"), "{shown}");
    assert!(shown.contains("secrets:        token\n"), "{shown}");
    assert_eq!(
        ok(&gw, &["connector", "enable", "crm"]),
        "enabled connector crm\n"
    );
    assert_eq!(ok_json(&gw, &["connector", "show", "crm"])["enabled"], true);

    let run = ok(&gw, &["reconcile", "crm"]);
    assert!(
        run.ends_with("reconcile of crm: done, 0 scanned, 0 job(s) enqueued\n"),
        "{run}"
    );
    assert_eq!(
        ok(&gw, &["connector", "delete", "crm"]),
        "deleted connector crm\n"
    );
    assert_eq!(ok(&gw, &["connectors"]), "no connectors\n");
    let printed = everything_printed();
    assert!(
        printed.contains("secrets:        token") && printed.contains("created connector crm"),
        "every run's output is searched"
    );
    if let Some(line) = printed.lines().find(|l| l.contains(SECRET)) {
        panic!("secrets stay write-only, but the CLI printed: {line}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn jobs_plugins_and_audit_list_through_the_api() {
    let gw = Gateway::start();
    assert_eq!(ok(&gw, &["jobs", "--state", "dead"]), "no jobs\n");
    let dead = ok_json(&gw, &["jobs", "--state", "dead"]);
    assert_eq!((&dead["total"], &dead["jobs"]), (&json!(0), &json!([])));
    assert_eq!(ok(&gw, &["jobs"]), "no jobs\n");
    assert_eq!(ok(&gw, &["plugins"]), "no uploaded plugins\n");
    assert_eq!(ok_json(&gw, &["plugins"])["total"], 0);
    assert_eq!(
        ok(&gw, &["retry", "--connector", "crm"]),
        "retried 0 dead job(s)\n"
    );
    assert_eq!(
        ok(&gw, &["discard", "--connector", "crm"]),
        "discarded no dead jobs\n"
    );

    let created = gw.post("/Users", &scim_gateway_e2e::user("ada@example.com"));
    assert_eq!(created.status().as_u16(), 201);
    let audit = ok(&gw, &["audit", "--resource-type", "User", "--limit", "5"]);
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(
        cells(lines[0]),
        ["SEQ", "AT", "KIND", "RESOURCE", "BY", "WHAT"]
    );
    let row = cells(lines[1]);
    assert_eq!(
        (row[2], row[4], row[5]),
        ("change", "env", "create"),
        "{audit}"
    );
    let entries = ok_json(&gw, &["audit", "--actor", "env"]);
    assert_eq!(entries["total"], 1, "{entries}");
}

#[test]
fn the_api_refusal_is_printed_as_one_line_and_the_exit_is_not_zero() {
    let gw = Gateway::start();
    let run = cli(&gw, &["connector", "show", "nope"]);
    fails_with(&run, &["404 Not Found", "no connector named 'nope'"]);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    fails_with(
        &cli(&gw, &["connector", "disable", "nope"]),
        &["no connector named 'nope'"],
    );
    fails_with(&cli(&gw, &["job", "999"]), &["404", "job 999 not found"]);
    fails_with(&cli(&gw, &["retry", "999"]), &["404", "job 999 not found"]);
    fails_with(
        &cli(&gw, &["reconcile", "nope"]),
        &["no connector named 'nope'"],
    );
    let dir = scratch_dir("cli-bad");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{not json").expect("write");
    let bad = bad.to_str().expect("utf-8");
    fails_with(
        &cli(&gw, &["connector", "apply", "x", bad]),
        &["bad.json is not JSON"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_wrong_or_missing_token_and_an_unreachable_gateway_are_clear_failures() {
    let gw = Gateway::start();
    let url = gw.origin();
    let wrong = admin(&["--url", url, "--token", "wrong", "connectors"], &[]);
    fails_with(&wrong, &["401 Unauthorized", "not an admin token"]);
    let missing = admin(&["--url", url, "connectors"], &[]);
    fails_with(
        &missing,
        &["401", "no token given", "SCIM_GATEWAY_ADMIN_TOKEN"],
    );
    let scim = admin(&["connectors", "--url", url, "--token", TOKEN], &[]);
    fails_with(
        &scim,
        &[
            "403 Forbidden",
            "a SCIM client token cannot use the admin API",
        ],
    );

    // The environment stands in for the flags.
    let env = [
        ("SCIM_GATEWAY_URL", url),
        ("SCIM_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let run = admin(&["plugins"], &env);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, "no uploaded plugins\n");

    // So does a file, kept out of the process list; it wins over --token.
    let dir = scratch_dir("cli-token-file");
    let file = dir.join("admin-token");
    std::fs::write(&file, format!("{ADMIN_TOKEN}\n")).expect("write the token file");
    let path = file.display().to_string();
    let run = admin(
        &[
            "--url",
            url,
            "--token",
            "wrong",
            "--token-file",
            &path,
            "plugins",
        ],
        &[],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, "no uploaded plugins\n");
    let absent = admin(
        &[
            "--url",
            url,
            "--token-file",
            "/nonexistent/token",
            "plugins",
        ],
        &[],
    );
    fails_with(&absent, &["reading the token file /nonexistent/token"]);

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let run = admin(&["--url", &closed, "--token", ADMIN_TOKEN, "jobs"], &[]);
    fails_with(&run, &["cannot connect to the gateway at", closed.as_str()]);
}

#[test]
fn a_plugin_is_uploaded_used_and_deleted_and_its_dead_job_retried_and_discarded() {
    let gw = Gateway::start_with_config("[delivery]\nmax_attempts = 1\n");
    let wasm = build_plugin("echo", &[]);
    let wasm = wasm.to_str().expect("utf-8");
    let zeros = "0".repeat(64);
    fails_with(
        &cli(&gw, &["plugin", "upload", wasm, "--sha256", &zeros]),
        &["400", "not the expected"],
    );
    let out = ok(&gw, &["plugin", "upload", wasm]);
    assert!(out.starts_with("uploaded plugin echo "), "{out}");
    let id = out.trim_end().rsplit('(').next().unwrap_or_default();
    let id = id.trim_end_matches(')').to_owned();
    assert_eq!(id.len(), 64, "{out}");
    let again = ok(&gw, &["plugin", "upload", wasm]);
    assert!(
        again.starts_with("already uploaded: plugin echo"),
        "{again}"
    );
    assert_eq!(ok_json(&gw, &["plugin", "show", &id])["name"], "echo");

    // A connector of it whose target is unreachable: its job dies on the first failure.
    let dir = scratch_dir("cli-dead");
    let file = dir.join("dead-end.json");
    let closed = closed_origin();
    let body = json!({"plugin": id, "config": {"url": format!("{closed}/hook")},
                      "allowed_hosts": [closed], "resource_types": ["User"]});
    std::fs::write(&file, body.to_string()).expect("write the definition");
    let file = file.to_str().expect("utf-8");
    ok(&gw, &["connector", "apply", "dead-end", file]);
    fails_with(&cli(&gw, &["plugin", "delete", &id]), &["409", "dead-end"]);
    let created = gw.post("/Users", &scim_gateway_e2e::user("ada@example.com"));
    assert_eq!(created.status().as_u16(), 201);
    let dead_seq = || {
        let dead = ok_json(&gw, &["jobs", "--state", "dead"]);
        dead["jobs"][0]["seq"].as_u64()
    };
    eventually(|| when(dead_seq().is_some(), "the job is dead"));
    let first = dead_seq().unwrap_or_default().to_string();
    let shown = ok(&gw, &["job", &first]);
    assert!(
        shown.contains("attempt 1 logged:") && shown.contains("echo create User"),
        "the attempt and the plugin's log lines: {shown}"
    );
    let out = ok(&gw, &["retry", &first]);
    assert!(
        out.starts_with(&format!(
            "retried 1 dead job(s)\n  job {first} is pending again as job "
        )),
        "{out}"
    );
    eventually(|| {
        when(
            dead_seq().is_some_and(|s| s.to_string() != first),
            "the retried job dies again",
        )
    });
    let out = ok(&gw, &["discard", "--connector", "dead-end"]);
    assert!(out.starts_with("discarded 1 dead job(s)"), "{out}");
    assert_eq!(ok(&gw, &["jobs", "--state", "dead"]), "no jobs\n");

    ok(&gw, &["connector", "delete", "dead-end"]);
    assert_eq!(
        ok(&gw, &["plugin", "delete", &id]),
        format!("deleted plugin {id}\n")
    );
    assert_eq!(ok(&gw, &["plugins"]), "no uploaded plugins\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_connectors_mapping_is_shown_and_previewed_and_a_mapping_can_be_tried_from_a_file() {
    let gw = Gateway::start();
    let dir = scratch_dir("cli-mapping");
    let closed = closed_origin();
    let path = dir.join("mapped.json");
    let body = json!({"plugin": "scim2", "config": {"base_url": format!("{closed}/scim/v2")},
                      "secrets": {"token": SECRET}, "allowed_hosts": [closed],
                      "resource_types": ["User"],
                      "mapping": {"users": [{"to": "userName", "template": "{userName}@corp.example"},
                                            {"drop": "displayName"}]}});
    std::fs::write(&path, body.to_string()).expect("write the definition");
    ok(
        &gw,
        &["connector", "apply", "crm", path.to_str().expect("utf-8")],
    );
    let shown = ok(&gw, &["connector", "show", "crm"]);
    assert!(
        shown.contains("mapping:        2 user rule(s), 0 group rule(s)\n"),
        "{shown}"
    );
    let id = scim_gateway_e2e::id_of(&scim_gateway_e2e::create(
        &gw,
        "/Users",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "pat", "displayName": "Pat"}),
    ));
    let out = ok(&gw, &["connector", "preview", "crm", "User", &id]);
    let event: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(event["resource"]["userName"], "pat@corp.example", "{event}");
    assert!(event["resource"].get("displayName").is_none(), "{event}");
    let tried = dir.join("try.json");
    std::fs::write(
        &tried,
        r#"{"users": [{"to": "nickName", "value": "tried"}]}"#,
    )
    .unwrap();
    let out = ok(
        &gw,
        &[
            "connector",
            "preview",
            "crm",
            "User",
            &id,
            "--mapping",
            tried.to_str().unwrap(),
        ],
    );
    let event: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(event["mapping"], "given");
    assert_eq!(event["resource"]["nickName"], "tried");
    assert_eq!(event["resource"]["userName"], "pat", "{event}");
    std::fs::write(&tried, r#"{"users": [{"to": "x", "from": "nosuch"}]}"#).unwrap();
    fails_with(
        &cli(
            &gw,
            &[
                "connector",
                "preview",
                "crm",
                "User",
                &id,
                "--mapping",
                tried.to_str().unwrap(),
            ],
        ),
        &["422", "mapping.users[0] (to x)", "nosuch"],
    );
}
