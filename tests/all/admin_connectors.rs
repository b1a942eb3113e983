//! Plugins and connectors administered live through `/admin/v1`: upload, create, provision,
//! hot-swap under a steady stream of changes, disable and enable, restart, unload; and the
//! admin API's refusals, each in its documented error shape.
//!
//! The target is a [`Sink`] that records every event the `echo` connector (a real WebAssembly
//! component, built twice with different versions) forwards to it, so that each delivery can be
//! attributed to the plugin version that made it.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, Sink, TOKEN, build_plugin, create, eventually, header, id_of, scratch_dir, user, when,
    write_config,
};
use serde_json::{Value, json};

/// Uploads a `.wasm`; answers the status and the answer.
fn upload(gw: &Gateway, wasm: &[u8], query: &str) -> (u16, Value) {
    let r = gw
        .admin_req(Method::POST, &format!("/admin/v1/plugins{query}"))
        .header("content-type", "application/wasm")
        .body(wasm.to_vec())
        .send()
        .expect("upload");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// An admin error: the status and the message, in the documented shape.
#[track_caller]
fn admin_error(answer: (u16, Value), status: u16) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["status"], status, "{}", answer.1);
    answer.1["error"]["message"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

fn echo(version: &str) -> Vec<u8> {
    std::fs::read(build_plugin("echo", &[("ECHO_VERSION", version)])).expect("echo.wasm")
}

/// A connector definition forwarding users to the sink through `plugin`.
fn to_sink(plugin: &str, sink: &str) -> Value {
    json!({"plugin": plugin, "resource_types": ["User"], "config": {"url": sink},
           "secrets": {"api-token": "s3cret"}, "allowed_hosts": [sink]})
}

fn pending_jobs(gw: &Gateway) -> u64 {
    gw.admin("/admin/v1/jobs")["total"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

/// The admin's day in one run: upload two versions, connect, provision, hot-swap while
/// changes stream in (each change delivered exactly once, by one version or the other), remove.
#[test]
fn a_plugin_hot_swapped_under_load_delivers_every_change_exactly_once() {
    let sink = Sink::start();
    let received = &sink;
    let gw = Gateway::start();
    let (status, v1) = upload(&gw, &echo("1.0.0"), "");
    assert_eq!(status, 201, "{v1}");
    assert_eq!(
        (v1["name"].as_str(), v1["version"].as_str()),
        (Some("echo"), Some("1.0.0"))
    );
    assert_eq!(v1["world"], "connector");
    let (status, v2) = upload(&gw, &echo("2.0.0"), "");
    assert_eq!(status, 201, "{v2}");
    assert_ne!(v1["id"], v2["id"]);

    let (status, c) = gw.admin_send(
        Method::PUT,
        "/admin/v1/connectors/sink",
        &to_sink("echo@1.0.0", &sink.origin),
    );
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["plugin_version"], "1.0.0");
    assert_eq!(c["secrets"], json!(["api-token"]), "secrets are write-only");
    assert!(!c.to_string().contains("s3cret"));

    // A steady stream: create and then change users; swap to 2.0.0 a third of the way in.
    let users = 90;
    let mut ids = Vec::new();
    for i in 0..users {
        if i == users / 3 {
            let id = v2["id"].as_str().expect("plugin id");
            let (status, c) = gw.admin_send(
                Method::PATCH,
                "/admin/v1/connectors/sink",
                &json!({"plugin": format!("sha256:{id}")}),
            );
            assert_eq!(
                (status, c["plugin_version"].as_str()),
                (200, Some("2.0.0")),
                "{c}"
            );
        }
        let id = id_of(&create(&gw, "/Users", &user(&format!("swap{i}"))));
        let r = gw.patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "displayName", "value": format!("v{i}")}]),
        );
        assert_eq!(r.status().as_u16(), 200);
        ids.push(id);
    }
    eventually(|| {
        when(
            received.events().len() >= 2 * users,
            "every change reached the sink",
        )
    });
    eventually(|| when(pending_jobs(&gw) == 0, "the outbox is empty"));
    let got = received.triples();
    let mut times: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (_, op, id) in &got {
        *times.entry((op.clone(), id.clone())).or_default() += 1;
    }
    for id in &ids {
        for op in ["create", "replace"] {
            assert_eq!(times.get(&(op.into(), id.clone())), Some(&1), "{op} {id}");
        }
    }
    assert_eq!(got.len(), 2 * users, "nothing else was delivered");
    let by = |v: &str| got.iter().filter(|(p, _, _)| p == v).count();
    assert!(
        by("1.0.0") > 0 && by("2.0.0") > 0,
        "both versions delivered: {got:?}"
    );
    // After the swap was answered, no change made later went through the old version.
    let last = &ids[users - 1];
    assert!(
        got.iter()
            .any(|(p, op, id)| p == "2.0.0" && op == "replace" && id == last)
    );
    assert!(gw.admin("/admin/v1/jobs?state=dead")["total"] == 0);

    // Unload: the plugin in use cannot go; the connector can, then the plugin.
    let v2_path = format!("/admin/v1/plugins/{}", v2["id"].as_str().expect("id"));
    let plugin = gw.admin(&v2_path);
    assert_eq!(plugin["used_by"], json!(["sink"]));
    let msg = admin_error(gw.admin_send(Method::DELETE, &v2_path, &Value::Null), 409);
    assert!(msg.contains("sink"), "{msg}");
    let (status, _) = gw.admin_send(Method::DELETE, "/admin/v1/connectors/sink", &Value::Null);
    assert_eq!(status, 204);
    let (status, _) = gw.admin_send(Method::DELETE, &v2_path, &Value::Null);
    assert_eq!(status, 204);
    admin_error(gw.admin_send(Method::GET, &v2_path, &Value::Null), 404);
    // Changes made now go nowhere.
    create(&gw, "/Users", &user("after-unload"));
    assert_eq!(pending_jobs(&gw), 0);
    assert_eq!(gw.admin("/admin/v1/connectors")["total"], 0);
}

/// A disabled connector holds its jobs and records none for new changes; enabling it delivers
/// what it held. An API-made connector and its uploaded plugin survive a restart.
#[test]
fn disable_holds_enable_delivers_and_definitions_survive_a_restart() {
    let sink = Sink::start();
    let received = &sink;
    let dir = scratch_dir("admin-restart");
    let mut gw = Gateway::start_in(&dir, &[]);
    let (status, v1) = upload(&gw, &echo("1.0.0"), "");
    assert_eq!(status, 201, "{v1}");
    let id = v1["id"].as_str().expect("plugin id").to_owned();
    let (status, _) = gw.admin_send(
        Method::PUT,
        "/admin/v1/connectors/held",
        &to_sink(&id, &sink.origin),
    );
    assert_eq!(status, 201);
    create(&gw, "/Users", &user("first"));
    eventually(|| when(received.events().len() == 1, "the first user is delivered"));

    let (status, c) = gw.admin_send(
        Method::PATCH,
        "/admin/v1/connectors/held",
        &json!({"enabled": false}),
    );
    assert_eq!((status, &c["enabled"]), (200, &json!(false)), "{c}");
    let second = id_of(&create(&gw, "/Users", &user("second")));
    assert_eq!(
        pending_jobs(&gw),
        0,
        "a disabled connector records no new job"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(received.events().len(), 1);

    gw.stop();
    let gw = Gateway::start_in(&dir, &[]);
    let c = gw.admin("/admin/v1/connectors/held");
    assert_eq!(
        (c["source"].as_str(), c["enabled"].as_bool()),
        (Some("api"), Some(false))
    );
    assert_eq!(c["plugin_id"], id.as_str());
    assert_eq!(gw.admin("/admin/v1/plugins")["total"], 1);
    let (status, _) = gw.admin_send(
        Method::PATCH,
        "/admin/v1/connectors/held",
        &json!({"enabled": true}),
    );
    assert_eq!(status, 200);
    // Omitted secrets are kept on PUT: the definition still names the secret.
    let (status, c) = gw.admin_send(
        Method::PUT,
        "/admin/v1/connectors/held",
        &json!({
        "plugin": id, "resource_types": ["User"], "config": {"url": sink.origin},
        "allowed_hosts": [sink.origin]}),
    );
    assert_eq!((status, &c["secrets"]), (200, &json!(["api-token"])), "{c}");
    let third = id_of(&create(&gw, "/Users", &user("third")));
    eventually(|| {
        when(
            received.triples().iter().any(|(_, _, i)| *i == third),
            "changes after enabling are delivered",
        )
    });
    assert!(
        !received.triples().iter().any(|(_, _, i)| *i == second),
        "a change made while disabled is not delivered (reconcile is how it would be)"
    );
    let _ = std::fs::remove_dir_all(dir);
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

    let msg = admin_error(upload(&gw, b"not wasm at all", ""), 422);
    assert!(msg.contains("not a usable connector plugin"), "{msg}");
    let wasm = echo("1.0.0");
    let msg = admin_error(
        upload(&gw, &wasm, &format!("?sha256={}", "0".repeat(64))),
        400,
    );
    assert!(msg.contains("not the expected"), "{msg}");
    let future = std::fs::read(build_plugin("future-major", &[])).expect("future-major.wasm");
    let msg = admin_error(upload(&gw, &future, ""), 422);
    assert!(
        msg.contains("version"),
        "an incompatible contract is named: {msg}"
    );
    let (status, first) = upload(&gw, &wasm, "");
    assert_eq!(status, 201);
    let (status, again) = upload(
        &gw,
        &wasm,
        &format!(
            "?sha256=sha256:{}",
            first["id"].as_str().unwrap_or_default()
        ),
    );
    assert_eq!(
        (status, &again["id"]),
        (200, &first["id"]),
        "the same upload twice is one plugin"
    );

    let put = |name: &str, body: &Value| {
        gw.admin_send(Method::PUT, &format!("/admin/v1/connectors/{name}"), body)
    };
    let msg = admin_error(put("x", &json!({"plugin": "nope"})), 422);
    assert!(msg.contains("neither bundled"), "{msg}");
    let msg = admin_error(put("x", &json!({"plugin": "/etc/passwd"})), 422);
    assert!(msg.contains("not a file"), "{msg}");
    admin_error(put("bad name", &json!({"plugin": "scim2"})), 400);
    let msg = admin_error(put("x", &json!({"plugin": "scim2", "colour": "red"})), 400);
    assert!(msg.contains("colour"), "{msg}");
    let msg = admin_error(put("x", &json!({"plugin": "scim2"})), 422);
    assert!(
        msg.contains("base_url"),
        "the plugin's own refusal is passed on: {msg}"
    );
    let r = gw
        .admin_req(Method::PUT, "/admin/v1/connectors/x")
        .body("{not json")
        .send()
        .expect("request");
    admin_error((r.status().as_u16(), r.json().unwrap_or(Value::Null)), 400);
    let r = gw
        .admin_req(Method::PUT, "/admin/v1/connectors/x")
        .body(vec![b' '; 3 << 20])
        .send()
        .expect("request");
    assert_eq!(header(&r, "connection").as_deref(), Some("close"));
    let msg = admin_error((r.status().as_u16(), r.json().unwrap_or(Value::Null)), 413);
    assert!(
        msg.contains("length limit"),
        "an oversized body is refused in the shape: {msg}"
    );
    let msg = admin_error(put("from-file", &json!({"plugin": "scim2"})), 409);
    assert!(msg.contains("config file"), "{msg}");
    admin_error(
        gw.admin_send(Method::PATCH, "/admin/v1/connectors/none", &json!({})),
        404,
    );
    admin_error(
        gw.admin_send(Method::DELETE, "/admin/v1/connectors/none", &Value::Null),
        404,
    );
    admin_error(
        gw.admin_send(Method::DELETE, "/admin/v1/plugins/abc", &Value::Null),
        404,
    );
    let listed = gw.admin("/admin/v1/connectors");
    assert_eq!(listed["connectors"][0]["source"], "config");

    // A SCIM token is not an admin token, and the SCIM API does not take admin tokens.
    let r = gw
        .client
        .get(format!("{}/admin/v1/plugins", gw.origin()))
        .bearer_auth(TOKEN)
        .send()
        .expect("request");
    assert_eq!(r.status().as_u16(), 403);
    let _ = std::fs::remove_dir_all(dir);
}
