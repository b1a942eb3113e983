//! Plugins and connectors administered live through `/admin/v1`: upload, connect, hot swap and
//! roll back, disable and enable, delete, change secrets, restart, unload; and the admin API's
//! refusals, each in its documented error shape.
//!
//! The target is a [`Target`] that records every request the `echo` connector (a real
//! WebAssembly component, built with different versions) sends it, headers included, and can
//! hold requests so that a delivery stays in flight while the test acts. Every event names the
//! plugin version that sent it.

use std::collections::BTreeMap;

use reqwest::Method;
use reqwest::blocking::Body;
use scim_gateway_e2e::{
    Gateway, TOKEN, Target, assert_admin_error, build_plugin, create, echo_wasm, eventually,
    header, id_of, scratch_dir, user, when, write_config,
};
use serde_json::{Value, json};

/// A connector definition: `plugin` forwarding users to `target`. Its call deadline is long so
/// that a delivery held at the target is neither timed out nor tried again meanwhile.
fn to_target(plugin: &str, target: &Target) -> Value {
    json!({"plugin": plugin, "resource_types": ["User"], "config": {"url": target.origin},
           "secrets": {"api-token": "s3cret"}, "allowed_hosts": [target.origin],
           "timeout_ms": 600_000})
}

/// `PUT /admin/v1/connectors/{name}` of `definition`, which must be created; answers the
/// connector.
#[track_caller]
fn connect(gw: &Gateway, name: &str, definition: &Value) -> Value {
    let (status, c) = gw.admin_send(
        Method::PUT,
        &format!("/admin/v1/connectors/{name}"),
        definition,
    );
    assert_eq!(status, 201, "{c}");
    c
}

/// `PATCH /admin/v1/connectors/{name}` with `patch`, which must be applied; answers the
/// connector.
#[track_caller]
fn patch_connector(gw: &Gateway, name: &str, patch: &Value) -> Value {
    let (status, c) = gw.admin_send(
        Method::PATCH,
        &format!("/admin/v1/connectors/{name}"),
        patch,
    );
    assert_eq!(status, 200, "PATCH {patch}: {c}");
    c
}

/// The jobs `GET /admin/v1/jobs{query}` lists.
fn jobs(gw: &Gateway, query: &str) -> Vec<Value> {
    gw.admin(&format!("/admin/v1/jobs{query}"))["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many jobs the whole outbox holds.
fn outbox_len(gw: &Gateway) -> usize {
    jobs(gw, "").len()
}

/// Sets a user's `displayName` (a replace).
#[track_caller]
fn rename(gw: &Gateway, id: &str, display_name: &str) {
    let r = gw.patch_ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "displayName", "value": display_name}]),
    );
    assert_eq!(r.status().as_u16(), 200);
}

/// For each (operation, resource id) the target received, the plugin versions that sent it,
/// in arrival order: one entry per delivery.
fn deliveries(target: &Target) -> BTreeMap<(String, String), Vec<String>> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut by: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for e in target.events() {
        by.entry((text(&e["operation"]), text(&e["id"])))
            .or_default()
            .push(text(&e["plugin"]));
    }
    by
}

/// The expected [`deliveries`]: each (operation, id) delivered once, by `version`.
fn once_each(expected: &[(&str, &str, &str)]) -> BTreeMap<(String, String), Vec<String>> {
    expected
        .iter()
        .map(|(op, id, version)| ((op.to_string(), id.to_string()), vec![version.to_string()]))
        .collect()
}

/// Uploading describes the plugin (with how it may use each secret), stores it by its digest,
/// and the same bytes again are the same plugin.
#[test]
fn an_upload_is_described_and_stored_by_digest_and_the_same_bytes_are_one_plugin() {
    let gw = Gateway::start();
    let wasm = echo_wasm("1.0.0");
    let (status, v1) = gw.upload_plugin(wasm.clone(), "");
    assert_eq!(status, 201, "{v1}");
    assert_eq!(
        v1["secret_uses"],
        json!({"api-token": "header and HMAC key"}),
        "{v1}"
    );
    assert_eq!(
        (&v1["name"], &v1["version"], &v1["world"], &v1["used_by"]),
        (
            &json!("echo"),
            &json!("1.0.0"),
            &json!("connector"),
            &json!([])
        ),
        "{v1}"
    );
    assert_eq!(v1["size_bytes"], wasm.len(), "{v1}");
    let id = v1["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 64, "the hex SHA-256: {id}");
    let (status, again) = gw.upload_plugin(wasm, &format!("?sha256=sha256:{id}"));
    assert_eq!(
        (status, &again["id"]),
        (200, &v1["id"]),
        "the same upload twice is one plugin"
    );
    let v2 = gw.install_plugin(echo_wasm("2.0.0"));
    assert_ne!(v2["id"], v1["id"]);
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 2);
}

/// A hot swap lets the deliveries in flight finish on the old version; every attempt that
/// starts after it runs the new version, including a job queued before the swap; and every
/// change is delivered exactly once.
#[test]
fn a_hot_swap_finishes_deliveries_in_flight_on_the_old_version_and_runs_every_later_one_on_the_new()
{
    let target = Target::start();
    let gw = Gateway::start();
    gw.install_plugin(echo_wasm("1.0.0"));
    gw.install_plugin(echo_wasm("2.0.0"));
    let c = connect(&gw, "swap", &to_target("echo@1.0.0", &target));
    assert_eq!(c["plugin_version"], "1.0.0");

    target.hold();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let bob = id_of(&create(&gw, "/Users", &user("bob@example.com")));
    eventually(|| {
        when(
            target.held().len() == 2,
            "both creates are in flight, held at the target",
        )
    });
    // Queued behind Ann's create, which is still in flight: it starts after the swap.
    rename(&gw, &ann, "Ann");

    let c = patch_connector(&gw, "swap", &json!({"plugin": "echo@2.0.0"}));
    assert_eq!(c["plugin_version"], "2.0.0", "{c}");
    let cy = id_of(&create(&gw, "/Users", &user("cy@example.com")));
    rename(&gw, &bob, "Bob");
    eventually(|| {
        when(
            target.held().len() == 3,
            "Cy's create, made after the swap, is in flight next to the two old ones",
        )
    });
    target.stop_holding();

    eventually(|| {
        when(
            target.events().len() >= 5 && outbox_len(&gw) == 0,
            "every change is delivered",
        )
    });
    assert_eq!(
        deliveries(&target),
        once_each(&[
            ("create", ann.as_str(), "1.0.0"),
            ("create", bob.as_str(), "1.0.0"),
            ("replace", ann.as_str(), "2.0.0"),
            ("create", cy.as_str(), "2.0.0"),
            ("replace", bob.as_str(), "2.0.0"),
        ]),
        "(operation, id) -> the versions that delivered it"
    );
    assert!(jobs(&gw, "?state=dead").is_empty());
}

/// `PATCH {"plugin": "name@version"}` back to the previous version rolls a connector back:
/// later changes are delivered by that version again.
#[test]
fn patching_a_connector_back_to_the_previous_version_rolls_it_back() {
    let target = Target::start();
    let gw = Gateway::start();
    let v1 = gw.install_plugin(echo_wasm("1.0.0"));
    let v2 = gw.install_plugin(echo_wasm("2.0.0"));
    connect(&gw, "roll", &to_target("echo@1.0.0", &target));
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    eventually(|| when(target.events().len() == 1, "Ann's create is delivered"));

    patch_connector(&gw, "roll", &json!({"plugin": "echo@2.0.0"}));
    let bob = id_of(&create(&gw, "/Users", &user("bob@example.com")));
    eventually(|| when(target.events().len() == 2, "Bob's create is delivered"));

    let c = patch_connector(&gw, "roll", &json!({"plugin": "echo@1.0.0"}));
    assert_eq!(
        (&c["plugin_version"], &c["plugin_id"]),
        (&json!("1.0.0"), &v1["id"]),
        "{c}"
    );
    rename(&gw, &ann, "Ann");
    let cy = id_of(&create(&gw, "/Users", &user("cy@example.com")));
    eventually(|| {
        when(
            target.events().len() >= 4 && outbox_len(&gw) == 0,
            "the changes after the rollback are delivered",
        )
    });
    assert_eq!(
        deliveries(&target),
        once_each(&[
            ("create", ann.as_str(), "1.0.0"),
            ("create", bob.as_str(), "2.0.0"),
            ("replace", ann.as_str(), "1.0.0"),
            ("create", cy.as_str(), "1.0.0"),
        ])
    );
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    let used_by = |p: &Value| gw.admin(&format!("/admin/v1/plugins/{}", id(p)))["used_by"].clone();
    assert_eq!(
        (used_by(&v1), used_by(&v2)),
        (json!(["roll"]), json!([])),
        "the rolled-back version is used again, the newer one no longer"
    );
}

/// A plugin that a connector uses cannot be removed (`409` naming the connector); once the
/// connector is gone it can, and changes then go nowhere.
#[test]
fn a_plugin_in_use_cannot_be_removed_until_its_connector_is_deleted() {
    let target = Target::start();
    let gw = Gateway::start();
    let plugin = gw.install_plugin(echo_wasm("1.0.0"));
    let path = format!("/admin/v1/plugins/{}", plugin["id"].as_str().expect("id"));
    connect(&gw, "user", &to_target("echo@1.0.0", &target));
    assert_eq!(gw.admin(&path)["used_by"], json!(["user"]));

    let msg = assert_admin_error(gw.admin_send(Method::DELETE, &path, &Value::Null), 409);
    assert!(
        msg.contains("user"),
        "the refusal names the connector: {msg}"
    );
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 1, "still there");
    let (status, _) = gw.admin_send(Method::DELETE, "/admin/v1/connectors/user", &Value::Null);
    assert_eq!(status, 204);
    let (status, _) = gw.admin_send(Method::DELETE, &path, &Value::Null);
    assert_eq!(status, 204);
    assert_admin_error(gw.admin_send(Method::GET, &path, &Value::Null), 404);
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 0);

    create(&gw, "/Users", &user("after-unload@example.com"));
    assert_eq!(outbox_len(&gw), 0, "no connector, no job");
    assert_eq!(gw.admin("/admin/v1/connectors")["total"], 0);
}

/// A connector disabled while it has jobs pending holds them (neither tried nor dead-lettered)
/// and records no job for a change made meanwhile; enabled again, it delivers each held job
/// exactly once.
#[test]
fn a_disabled_connector_holds_its_pending_jobs_and_delivers_each_once_when_enabled() {
    let target = Target::start();
    let witness = Target::start();
    let gw = Gateway::start();
    let plugin = gw.install_plugin(echo_wasm("1.0.0"));
    let id = plugin["id"].as_str().expect("id");
    connect(&gw, "held", &to_target(id, &target));
    connect(
        &gw,
        "witness",
        &json!({"plugin": id, "config": {"url": witness.origin},
                "allowed_hosts": [witness.origin], "resource_types": ["User"]}),
    );
    let held_jobs = |state: &str| jobs(&gw, &format!("?connector=held{state}"));

    // Each user's create is in flight (held at the target); its replace waits behind it.
    target.hold();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let bob = id_of(&create(&gw, "/Users", &user("bob@example.com")));
    eventually(|| when(target.held().len() == 2, "both creates are in flight"));
    rename(&gw, &ann, "Ann");
    rename(&gw, &bob, "Bob");
    let c = patch_connector(&gw, "held", &json!({"enabled": false}));
    assert_eq!(c["enabled"], false, "{c}");
    target.stop_holding();
    eventually(|| {
        when(
            held_jobs("&state=delivered").len() >= 2,
            "the creates in flight finish",
        )
    });

    // While the dispatcher keeps delivering for the witness, the held replaces stay pending.
    for (id, name) in [(&ann, "Ann 2"), (&bob, "Bob 2")] {
        rename(&gw, id, name);
        eventually(|| {
            when(
                witness
                    .events()
                    .iter()
                    .any(|e| e["id"] == id.as_str() && e["resource"]["displayName"] == name),
                "the witness connector gets the change made while `held` is disabled",
            )
        });
    }
    let pending = held_jobs("");
    let summary: Vec<(&Value, &Value, &Value, usize)> = pending
        .iter()
        .map(|j| {
            let attempts = j["attempts"].as_array().map_or(usize::MAX, Vec::len);
            (&j["operation"], &j["resource_id"], &j["state"], attempts)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (&json!("replace"), &json!(ann), &json!("pending"), 0),
            (&json!("replace"), &json!(bob), &json!("pending"), 0),
        ],
        "held, untried, and nothing recorded for the changes made while disabled: {pending:?}"
    );
    assert!(held_jobs("&state=dead").is_empty(), "nothing dead-lettered");
    assert_eq!(
        target.events().len(),
        2,
        "only the creates reached the target"
    );

    patch_connector(&gw, "held", &json!({"enabled": true}));
    eventually(|| {
        when(
            held_jobs("&state=delivered").len() == 4 && held_jobs("").is_empty(),
            "the held jobs are delivered",
        )
    });
    assert_eq!(
        deliveries(&target),
        once_each(&[
            ("create", ann.as_str(), "1.0.0"),
            ("create", bob.as_str(), "1.0.0"),
            ("replace", ann.as_str(), "1.0.0"),
            ("replace", bob.as_str(), "1.0.0"),
        ])
    );
    for job in held_jobs("&state=delivered") {
        let attempts = gw.admin(&format!("/admin/v1/jobs/{}", job["seq"]))["attempts"].clone();
        assert_eq!(
            attempts.as_array().map(Vec::len),
            Some(1),
            "one attempt per job: {job}"
        );
    }
    let mut replaced: Vec<String> = (target.events().iter())
        .filter(|e| e["operation"] == "replace")
        .map(|e| {
            e["resource"]["displayName"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    replaced.sort();
    assert_eq!(
        replaced,
        ["Ann 2", "Bob 2"],
        "a held replace delivers the current state, changes made while disabled included"
    );
}

/// A connector made through the API, disabled, and its uploaded plugin are stored and reloaded
/// at the next start, and it delivers once enabled there.
#[test]
fn an_api_connector_and_its_uploaded_plugin_survive_a_restart() {
    let target = Target::start();
    let dir = scratch_dir("admin-restart");
    let mut gw = Gateway::start_in(&dir, &[]);
    let plugin = gw.install_plugin(echo_wasm("1.0.0"));
    let id = plugin["id"].as_str().expect("plugin id").to_owned();
    connect(&gw, "kept", &to_target(&id, &target));
    patch_connector(&gw, "kept", &json!({"enabled": false}));
    gw.stop();

    let gw = Gateway::start_in(&dir, &[]);
    let c = gw.admin("/admin/v1/connectors/kept");
    assert_eq!(
        (&c["source"], &c["enabled"], &c["plugin_id"], &c["secrets"]),
        (
            &json!("api"),
            &json!(false),
            &json!(id),
            &json!(["api-token"])
        ),
        "{c}"
    );
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 1);
    patch_connector(&gw, "kept", &json!({"enabled": true}));
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    eventually(|| {
        when(
            target.events().iter().any(|e| e["id"] == ann.as_str()),
            "the reloaded connector delivers",
        )
    });
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}

/// Deleting a connector dead-letters the jobs it still had, with the reason; defined again,
/// a retry delivers them.
#[test]
fn deleting_a_connector_dead_letters_its_jobs_and_a_retry_delivers_them_once_it_is_back() {
    let target = Target::start();
    let gw = Gateway::start();
    let plugin = gw.install_plugin(echo_wasm("1.0.0"));
    let id = plugin["id"].as_str().expect("id").to_owned();
    connect(&gw, "gone", &to_target(&id, &target));
    target.hold();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    eventually(|| when(target.held().len() == 1, "Ann's create is in flight"));
    rename(&gw, &ann, "Ann");
    let (status, _) = gw.admin_send(Method::DELETE, "/admin/v1/connectors/gone", &Value::Null);
    assert_eq!(status, 204);
    target.stop_holding();

    eventually(|| {
        when(
            jobs(&gw, "?state=dead&connector=gone").len() == 1 && outbox_len(&gw) == 0,
            "the job left behind is dead-lettered",
        )
    });
    let dead = &jobs(&gw, "?state=dead&connector=gone")[0];
    assert_eq!(
        (&dead["operation"], &dead["resource_id"]),
        (&json!("replace"), &json!(ann)),
        "{dead}"
    );
    let reason = dead["attempts"][0]["message"].as_str().unwrap_or_default();
    assert!(
        reason.contains("'gone'") && reason.contains("not configured"),
        "the reason names the connector: {dead}"
    );
    assert_eq!(
        target.events().len(),
        1,
        "only the create in flight arrived"
    );

    connect(&gw, "gone", &to_target(&id, &target));
    let (status, body) = gw.admin_send(
        Method::POST,
        "/admin/v1/jobs/retry",
        &json!({"connector": "gone"}),
    );
    assert_eq!((status, &body["retried"]), (200, &json!(1)), "{body}");
    eventually(|| {
        when(
            target.events().len() >= 2 && outbox_len(&gw) == 0,
            "the retried job is delivered",
        )
    });
    assert_eq!(
        deliveries(&target),
        once_each(&[
            ("create", ann.as_str(), "1.0.0"),
            ("replace", ann.as_str(), "1.0.0")
        ])
    );
}

/// What the target receives as `Authorization` for each user it was sent, by `userName`.
fn bearer_by_user(target: &Target) -> BTreeMap<String, String> {
    target
        .arrivals()
        .iter()
        .map(|r| {
            (
                r.body["resource"]["userName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                r.header("authorization").unwrap_or("(none)").to_owned(),
            )
        })
        .collect()
}

/// The target receives the secret a connector was last given: a `PATCH` of `secrets` replaces
/// it (the old one is never sent again) and a `PUT` without `secrets` keeps it. Answers name
/// secrets and never show them.
#[test]
fn a_target_receives_the_secret_last_given_to_its_connector() {
    const OLD: &str = "old-secret-4c1e9b";
    const NEW: &str = "new-secret-7d20fa";
    let target = Target::start();
    let gw = Gateway::start();
    let plugin = gw.install_plugin(echo_wasm("1.0.0"));
    let id = plugin["id"].as_str().expect("id").to_owned();
    let mut definition = to_target(&id, &target);
    definition["config"]["auth"] = json!("bearer");
    definition["secrets"] = json!({"api-token": OLD});
    let c = connect(&gw, "crm", &definition);
    assert_eq!(c["secrets"], json!(["api-token"]), "secrets are named: {c}");
    create(&gw, "/Users", &user("before@example.com"));
    eventually(|| when(target.events().len() == 1, "the first user is delivered"));

    let c = patch_connector(&gw, "crm", &json!({"secrets": {"api-token": NEW}}));
    assert_eq!(c["secrets"], json!(["api-token"]), "{c}");
    create(&gw, "/Users", &user("after-patch@example.com"));
    eventually(|| when(target.events().len() == 2, "the second user is delivered"));

    let mut without_secrets = definition.clone();
    without_secrets
        .as_object_mut()
        .expect("an object")
        .remove("secrets");
    let (status, c) = gw.admin_send(Method::PUT, "/admin/v1/connectors/crm", &without_secrets);
    assert_eq!((status, &c["secrets"]), (200, &json!(["api-token"])), "{c}");
    create(&gw, "/Users", &user("after-put@example.com"));
    eventually(|| when(target.events().len() == 3, "the third user is delivered"));

    assert_eq!(
        bearer_by_user(&target),
        BTreeMap::from([
            ("before@example.com".to_owned(), format!("Bearer {OLD}")),
            (
                "after-patch@example.com".to_owned(),
                format!("Bearer {NEW}")
            ),
            ("after-put@example.com".to_owned(), format!("Bearer {NEW}")),
        ])
    );
    let shown = gw.admin("/admin/v1/connectors").to_string();
    assert!(
        !shown.contains(OLD) && !shown.contains(NEW),
        "secrets are write-only: {shown}"
    );

    // Kept secrets do not follow the connector somewhere new: a change of its hosts or of a
    // URL in its config must give them again.
    let elsewhere = Target::start();
    let moved = |mut change: Value| {
        change["allowed_hosts"] = json!([elsewhere.origin]);
        change
    };
    let mut url_only = json!({"config": {"url": elsewhere.origin}});
    for (what, change) in [
        ("hosts", moved(json!({}))),
        ("hosts and URL", moved(url_only.clone())),
        ("URL", url_only.clone()),
    ] {
        let r = gw.admin_send(Method::PATCH, "/admin/v1/connectors/crm", &change);
        let msg = assert_admin_error(r, 422);
        assert!(
            msg.contains("give `secrets` again (api-token)"),
            "{what}: {msg}"
        );
    }
    let mut put_moved = moved(without_secrets.clone());
    put_moved["config"]["url"] = json!(elsewhere.origin);
    let msg = assert_admin_error(
        gw.admin_send(Method::PUT, "/admin/v1/connectors/crm", &put_moved),
        422,
    );
    assert!(msg.contains("api-token"), "{msg}");
    url_only["allowed_hosts"] = json!([elsewhere.origin]);
    url_only["secrets"] = json!({"api-token": NEW});
    patch_connector(&gw, "crm", &url_only);
    create(&gw, "/Users", &user("moved@example.com"));
    eventually(|| {
        when(
            elsewhere.events().len() == 1,
            "delivered where it was moved",
        )
    });
    let bearer = format!("Bearer {NEW}");
    assert!(
        (elsewhere.arrivals().iter()).all(|a| a.header("authorization") == Some(bearer.as_str())),
        "the secret given with the move"
    );
}

/// Secrets, from the config file (through `${ENV}`) or the admin API, reach the target but
/// appear in no admin answer, no job record (attempts and plugin logs, delivered or dead) and
/// no line of the gateway's log, even at `debug`.
#[test]
fn secrets_appear_in_no_admin_answer_job_record_or_log_line() {
    const FILE_SECRET: &str = "file-secret-93ab57e1";
    const API_SECRET: &str = "api-secret-0f6c28d4";
    let ok = Target::start();
    let refusing = Target::start();
    refusing.answer_with(400);
    let dir = scratch_dir("secret-logs");
    let log = dir.join("gateway.log");
    let config = write_config(
        &dir,
        &format!(
            "[delivery]\nmax_attempts = 1\n\n\
             [[connectors]]\nname = \"from-file\"\nplugin = \"{echo}\"\n\
             resource_types = [\"User\"]\nallowed_hosts = [\"{ok}\"]\n\
             [connectors.config]\nurl = \"{ok}\"\nauth = \"bearer\"\nsign = \"true\"\n\
             [connectors.secrets]\napi-token = \"${{E2E_FILE_SECRET}}\"\n",
            echo = build_plugin("echo", &[]).display(),
            ok = ok.origin,
        ),
    );
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let gw = Gateway::spawn_logged(
        &data,
        &["--config", config.to_str().expect("utf-8")],
        &[
            ("SCIM_GATEWAY_TOKEN", TOKEN),
            ("E2E_FILE_SECRET", FILE_SECRET),
            (
                "RUST_LOG",
                "debug,cranelift=info,wasmtime=info,wasmtime_cranelift=info",
            ),
        ],
        &log,
    );
    let plugin = gw.install_plugin(std::fs::read(build_plugin("echo", &[])).expect("echo.wasm"));
    let mut refused = to_target(plugin["id"].as_str().expect("id"), &refusing);
    refused["config"]["auth"] = json!("bearer");
    refused["secrets"] = json!({"api-token": API_SECRET});
    connect(&gw, "refused", &refused);

    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    rename(&gw, &ann, "Ann");
    eventually(|| {
        when(
            jobs(&gw, "?state=delivered&connector=from-file").len() == 2
                && jobs(&gw, "?state=dead&connector=refused").len() == 2,
            "one connector delivers, the other's target refuses",
        )
    });
    // Both secrets were used: the targets received them.
    let sent = |t: &Target| -> Vec<String> {
        (t.arrivals().iter())
            .map(|r| r.header("authorization").unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(sent(&ok), vec![format!("Bearer {FILE_SECRET}"); 2]);
    assert_eq!(sent(&refusing), vec![format!("Bearer {API_SECRET}"); 2]);

    let mut answers = vec![
        gw.admin("/admin/v1/connectors"),
        gw.admin("/admin/v1/plugins"),
        gw.admin("/admin/v1/audit"),
    ];
    for state in ["delivered", "dead"] {
        for job in jobs(&gw, &format!("?state={state}")) {
            answers.push(gw.admin(&format!("/admin/v1/jobs/{}", job["seq"])));
        }
    }
    let logged_lines = answers
        .iter()
        .flat_map(|a| a["attempts"].as_array().cloned().unwrap_or_default())
        .filter(|attempt| attempt["logs"].as_array().is_some_and(|l| !l.is_empty()))
        .count();
    assert!(logged_lines >= 4, "the job records carry the plugin's logs");
    let metrics = gw
        .admin_req(Method::GET, "/metrics")
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    drop(gw);

    let log_text = std::fs::read_to_string(&log).expect("the gateway's log");
    assert!(
        log_text.contains("connector applied") && log_text.contains("echo create User"),
        "the log was captured at debug, plugin lines included: {} bytes",
        log_text.len()
    );
    for secret in [FILE_SECRET, API_SECRET] {
        for answer in &answers {
            assert!(!answer.to_string().contains(secret), "{secret} in {answer}");
        }
        assert!(!metrics.contains(secret), "{secret} in the metrics");
        if let Some(line) = log_text.lines().find(|l| l.contains(secret)) {
            panic!("{secret} in the gateway's log: {line}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A plugin upload is read up to 64 MiB (the gateway hashes all of it); one byte more is
/// refused with `413` in the admin error shape. The bodies are streamed zeros, so the test holds
/// none of them in memory; the one that fits is refused by its digest rather than compiled. The
/// longer one is exactly one byte over: the gateway reads all of it before refusing, so it
/// closes the connection with nothing unread, and the refusal is not lost to a reset.
#[test]
fn a_plugin_upload_is_read_up_to_64_mib_and_refused_with_413_beyond() {
    const LIMIT: u64 = 64 << 20;
    let gw = Gateway::start();
    let path = format!("/admin/v1/plugins?sha256={}", "0".repeat(64));
    let upload = |length: u64| {
        let zeros = Body::sized(std::io::Read::take(std::io::repeat(0), length), length);
        let r = gw
            .admin_req(Method::POST, &path)
            .header("content-type", "application/wasm")
            .body(zeros)
            .send()
            .unwrap_or_else(|e| panic!("no answer to a {length}-byte upload: {e:?}"));
        scim_gateway_e2e::parts(r)
    };
    let msg = assert_admin_error(upload(LIMIT), 400);
    assert!(
        msg.contains("not the expected"),
        "64 MiB is read whole and its digest compared: {msg}"
    );
    let msg = assert_admin_error(upload(LIMIT + 1), 413);
    assert!(msg.contains("length limit"), "{msg}");
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 0);
}

/// Every refusal is a clear message in the admin error shape.
#[test]
fn the_admin_api_refuses_bad_plugins_and_definitions_clearly() {
    let dir = scratch_dir("admin-refusals");
    let config = write_config(
        &dir,
        &format!(
            "[[connectors]]\nname = \"from-file\"\nplugin = \"{}\"\n",
            build_plugin("echo", &[]).display()
        ),
    );
    let gw = Gateway::start_in(&dir, &["--config", config.to_str().expect("utf-8")]);

    let msg = assert_admin_error(gw.upload_plugin(&b"not wasm at all"[..], ""), 422);
    assert!(msg.contains("not a usable connector plugin"), "{msg}");
    let msg = assert_admin_error(gw.upload_plugin(&b""[..], ""), 400);
    assert!(msg.contains(".wasm"), "{msg}");
    let wasm = echo_wasm("1.0.0");
    let msg = assert_admin_error(
        gw.upload_plugin(wasm, &format!("?sha256={}", "0".repeat(64))),
        400,
    );
    assert!(msg.contains("not the expected"), "{msg}");
    let future = std::fs::read(build_plugin("future-major", &[])).expect("future-major.wasm");
    let msg = assert_admin_error(gw.upload_plugin(future, ""), 422);
    assert!(
        msg.contains("version"),
        "an incompatible contract is named: {msg}"
    );
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 0, "none was stored");

    let put = |name: &str, body: &Value| {
        gw.admin_send(Method::PUT, &format!("/admin/v1/connectors/{name}"), body)
    };
    let msg = assert_admin_error(put("x", &json!({"plugin": "nope"})), 422);
    assert!(msg.contains("neither bundled"), "{msg}");
    let msg = assert_admin_error(put("x", &json!({"plugin": "echo@9.9.9"})), 422);
    assert!(msg.contains("echo@9.9.9"), "{msg}");
    let msg = assert_admin_error(put("x", &json!({"plugin": "/etc/passwd"})), 422);
    assert!(msg.contains("not a file"), "{msg}");
    assert_admin_error(put("bad name", &json!({"plugin": "scim2"})), 400);
    let msg = assert_admin_error(put("x", &json!({"plugin": "scim2", "colour": "red"})), 400);
    assert!(msg.contains("colour"), "{msg}");
    let msg = assert_admin_error(put("x", &json!({"plugin": "scim2"})), 422);
    assert!(
        msg.contains("base_url"),
        "the plugin's own refusal is passed on: {msg}"
    );
    // A secret may be bound only to the connector's own allowed hosts, and only in its two
    // written forms.
    let bound = |secret: Value| {
        put(
            "bound",
            &json!({"plugin": "scim2", "config": {"base_url": "https://a.example/scim"},
                "allowed_hosts": ["https://a.example"], "secrets": {"token": secret}}),
        )
    };
    let msg = assert_admin_error(
        bound(json!({"value": "s3cret", "origins": ["https://b.example"]})),
        422,
    );
    assert!(
        msg.contains("token") && msg.contains("b.example") && msg.contains("allowed_hosts"),
        "{msg}"
    );
    assert_admin_error(
        bound(json!({"value": "s3cret", "hosts": ["https://a.example"]})),
        400,
    );
    assert_admin_error(bound(json!({"origins": ["https://a.example"]})), 400);
    // No admin token can point a connector at link-local or cloud metadata addresses: not by
    // range, not by host, and the config file's switch is refused.
    let metadata = |extra: Value| {
        let mut body = json!({"plugin": "scim2",
            "config": {"base_url": "http://169.254.169.254/latest"}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        put("metadata", &body)
    };
    for extra in [
        json!({"allowed_hosts": ["http://169.254.169.254"]}),
        json!({"allowed_hosts": ["http://[fd00:ec2::254]"]}),
        json!({"allowed_hosts": ["http://meta.internal"], "allowed_ranges": ["169.254.0.0/16"]}),
    ] {
        let msg = assert_admin_error(metadata(extra.clone()), 422);
        assert!(
            msg.contains("link-local or cloud metadata"),
            "{extra}: {msg}"
        );
    }
    let msg = assert_admin_error(
        metadata(json!({"allowed_hosts": ["http://169.254.169.254"], "open_link_local": true})),
        422,
    );
    assert!(msg.contains("only be set in the config file"), "{msg}");
    let r = gw
        .admin_req(Method::PUT, "/admin/v1/connectors/x")
        .body("{not json")
        .send()
        .expect("request");
    assert_admin_error(scim_gateway_e2e::parts(r), 400);
    let r = gw
        .admin_req(Method::PUT, "/admin/v1/connectors/x")
        .body(vec![b' '; 3 << 20])
        .send()
        .expect("request");
    assert_eq!(header(&r, "connection").as_deref(), Some("close"));
    let msg = assert_admin_error(scim_gateway_e2e::parts(r), 413);
    assert!(
        msg.contains("length limit"),
        "an oversized body is refused in the shape: {msg}"
    );
    let msg = assert_admin_error(put("from-file", &json!({"plugin": "scim2"})), 409);
    assert!(msg.contains("config file"), "{msg}");
    assert_admin_error(
        gw.admin_send(Method::PATCH, "/admin/v1/connectors/none", &json!({})),
        404,
    );
    assert_admin_error(
        gw.admin_send(Method::DELETE, "/admin/v1/connectors/none", &Value::Null),
        404,
    );
    assert_admin_error(
        gw.admin_send(Method::DELETE, "/admin/v1/plugins/abc", &Value::Null),
        404,
    );
    let listed = gw.admin("/admin/v1/connectors");
    assert_eq!(
        (&listed["total"], &listed["connectors"][0]["source"]),
        (&json!(1), &json!("config")),
        "nothing refused was stored: {listed}"
    );

    // A SCIM token is not an admin token.
    let r = gw
        .client
        .get(format!("{}/admin/v1/plugins", gw.origin()))
        .bearer_auth(TOKEN)
        .send()
        .expect("request");
    let msg = assert_admin_error(scim_gateway_e2e::parts(r), 403);
    assert!(msg.contains("SCIM client token"), "{msg}");
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}
