//! What rests in the data directory: no password and no connector secret in clear text, at
//! any moment (issue 11, findings 1 and 7).

use std::path::Path;

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, TOKEN, Target, contains_bytes, create, echo_config, echo_wasm, eventually,
    files_under, id_of, patch_body, scratch_dir, start_refused, user, when, write_config,
};
use serde_json::{Value, json};

/// The files under `dir` that hold `needle`.
fn rests_in(dir: &Path, needle: &str) -> Vec<String> {
    (files_under(dir).into_iter())
        .filter(|(_, bytes)| contains_bytes(bytes, needle.as_bytes()))
        .map(|(path, _)| path.display().to_string())
        .collect()
}

/// The jobs of `id` in `state`, as the admin API lists them.
fn jobs(gw: &Gateway, state: &str, id: &str) -> Vec<Value> {
    let list = gw.admin(&format!("/admin/v1/jobs?state={state}&resource_id={id}"));
    list["jobs"].as_array().cloned().unwrap_or_default()
}

/// A password reaches the connector but rests nowhere in clear text: the user's row never
/// holds it, and a job that still has to deliver it holds it sealed with the operator's key
/// (`gateway.key` here, made on the first start) until the job is delivered. The record of a
/// delivered job keeps none. A PATCH of the password delivers the new one the same way.
#[test]
fn a_password_is_delivered_but_rests_only_sealed_and_only_until_delivered() {
    let sink = Target::start();
    let dir = scratch_dir("at-rest");
    let config = write_config(&dir, &echo_config(&sink));
    let gw = Gateway::start_in(&dir, &["--config", config.to_str().expect("utf-8 path")]);
    let (first, second) = ("Pw-first-6f1c93e2", "Pw-second-0b77d4a5");

    // The target refuses: the create's job stays in the outbox, retrying.
    sink.answer_with(503);
    let mut body = user("pat@example.com");
    body["password"] = json!(first);
    let id = id_of(&create(&gw, "/Users", &body));
    eventually(|| {
        let tried = sink
            .events()
            .iter()
            .any(|e| e["resource"]["password"] == first);
        when(tried, "the refused attempt carried the password")
    });
    let pending = jobs(&gw, "retrying", &id);
    assert_eq!(pending.len(), 1, "{pending:?}");
    let sealed = pending[0]["password"].as_str().expect("a sealed password");
    assert!(
        sealed.starts_with("v1.") && !sealed.contains(first),
        "{sealed}"
    );
    assert!(dir.join("gateway.key").exists());
    assert_eq!(rests_in(&dir, first), Vec::<String>::new(), "while pending");

    sink.answer_with(200);
    eventually(|| {
        when(
            jobs(&gw, "delivered", &id).len() == 1,
            "the create is delivered",
        )
    });
    let delivered = jobs(&gw, "delivered", &id);
    assert!(delivered[0].get("password").is_none(), "{delivered:?}");

    let r = gw.patch(
        &format!("/Users/{id}"),
        &patch_body(json!([{"op": "replace", "path": "password", "value": second}])),
    );
    assert!(r.status().is_success(), "{}", r.status());
    eventually(|| {
        when(
            jobs(&gw, "delivered", &id).len() == 2,
            "the PATCH is delivered",
        )
    });
    let sent: Vec<Value> = sink
        .delivered()
        .into_iter()
        .filter(|e| e["id"] == id)
        .collect();
    assert_eq!(
        sent.last().expect("delivered")["resource"]["password"],
        second
    );
    assert!(
        jobs(&gw, "delivered", &id)
            .iter()
            .all(|j| j.get("password").is_none())
    );
    // A change that sets no password delivers none.
    let r = gw.patch(
        &format!("/Users/{id}"),
        &patch_body(json!([{"op": "replace", "path": "title", "value": "Engineer"}])),
    );
    assert!(r.status().is_success(), "{}", r.status());
    eventually(|| {
        when(
            jobs(&gw, "delivered", &id).len() == 3,
            "the title is delivered",
        )
    });
    let sent: Vec<Value> = sink
        .delivered()
        .into_iter()
        .filter(|e| e["id"] == id)
        .collect();
    assert!(
        sent.last().expect("delivered")["resource"]
            .get("password")
            .is_none()
    );

    drop(gw);
    for password in [first, second] {
        assert_eq!(rests_in(&dir, password), Vec::<String>::new(), "{password}");
    }
}

/// A connector's secret, given through the admin API, is stored sealed with the operator's
/// key (`SCIM_GATEWAY_KEY` here): no file in the data directory holds it, and after a restart
/// with the same key the connector still sends it. A gateway started with another key refuses
/// to start, naming both keys, rather than run with secrets it cannot open.
#[test]
fn a_connector_secret_rests_sealed_and_a_gateway_with_another_key_refuses_to_start() {
    const SECRET: &str = "api-secret-5e8d21c4";
    let (key, other_key) = ("a1".repeat(32), "b2".repeat(32));
    let target = Target::start();
    let dir = scratch_dir("sealed-secrets");
    let start = |key: &str| {
        Gateway::spawn(
            &dir,
            &[],
            &[("SCIM_GATEWAY_TOKEN", TOKEN), ("SCIM_GATEWAY_KEY", key)],
        )
    };
    let mut gw = start(&key);
    let plugin = gw.install_plugin(echo_wasm("1.0.0"));
    let definition = json!({"plugin": plugin["id"], "resource_types": ["User"],
        "config": {"url": target.origin, "auth": "bearer"},
        "secrets": {"api-token": {"value": SECRET, "origins": [target.origin]}},
        "allowed_hosts": [target.origin]});
    let (status, c) = gw.admin_send(Method::PUT, "/admin/v1/connectors/crm", &definition);
    assert_eq!(status, 201, "{c}");
    let bearer = format!("Bearer {SECRET}");
    let sent = |n: usize| {
        let arrivals = target.arrivals();
        when(
            arrivals.len() == n
                && arrivals
                    .iter()
                    .all(|a| a.header("authorization") == Some(&bearer)),
            &format!("{n} deliveries with the secret"),
        )
    };
    create(&gw, "/Users", &user("first@example.com"));
    eventually(|| sent(1));
    gw.stop();
    assert_eq!(rests_in(&dir, SECRET), Vec::<String>::new());

    let mut gw = start(&key);
    create(&gw, "/Users", &user("second@example.com"));
    eventually(|| sent(2));
    gw.stop();

    let stderr = start_refused(&dir, &[], &[("SCIM_GATEWAY_KEY", &other_key)]);
    assert!(stderr.contains("sealed with key"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
