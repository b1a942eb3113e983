//! Who goes where: role-based scope (members of a group) and rule-based scope (a SCIM filter
//! over the user), users entering and leaving it, through the real `echo` connector forwarding
//! to a [`Target`] that records each event with its operation and resource.

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, Target, build_plugin, create, eventually, group, id_of, user, when,
};
use serde_json::{Value, json};

/// Makes connector `name` (the echo plugin, forwarding to `sink`) with `scope`.
fn connect(gw: &Gateway, name: &str, sink: &Target, types: &[&str], scope: Value) {
    let path = build_plugin("echo", &[]).display().to_string();
    let wasm = std::fs::read(path).expect("echo.wasm");
    let r = gw
        .admin_req(Method::POST, "/admin/v1/plugins")
        .body(wasm)
        .send()
        .expect("upload");
    assert!(matches!(r.status().as_u16(), 200 | 201));
    let id = r.json::<Value>().expect("plugin")["id"].clone();
    let (status, c) = gw.admin_send(
        Method::PUT,
        &format!("/admin/v1/connectors/{name}"),
        &json!({"plugin": id, "resource_types": types, "config": {"url": sink.origin},
                "allowed_hosts": [sink.origin], "scope": scope}),
    );
    assert_eq!(status, 201, "{c}");
}

/// Waits until the gateway's outbox is empty (every job delivered: nothing more can arrive until
/// the next change) and the sink has `n` events, then asserts it has exactly `n` and answers them
/// as (operation, resource type, id, active).
#[track_caller]
fn settled(gw: &Gateway, sink: &Target, n: usize) -> Vec<(String, String, String, Value)> {
    eventually(|| {
        let pending = gw.admin("/admin/v1/jobs")["total"].as_u64();
        let got = sink.events().len();
        when(
            got >= n && pending == Some(0),
            &format!("{got} of {n} events, {pending:?} jobs pending"),
        )
    });
    assert_eq!(sink.events().len(), n, "{:?}", sink.events());
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    sink.events()
        .iter()
        .map(|e| {
            (
                text(&e["operation"]),
                text(&e["resourceType"]),
                text(&e["id"]),
                e["resource"]["active"].clone(),
            )
        })
        .collect()
}

fn ops(events: &[(String, String, String, Value)], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.2 == id)
        .map(|e| e.0.clone())
        .collect()
}

#[test]
fn members_of_a_role_group_are_provisioned_and_removed_members_deprovisioned() {
    let sink = Target::start();
    let gw = Gateway::start();
    connect(
        &gw,
        "role",
        &sink,
        &["User", "Group"],
        json!({"groups": ["Sales"]}),
    );
    let ann = id_of(&create(&gw, "/Users", &user("ann")));
    let bob = id_of(&create(&gw, "/Users", &user("bob")));
    let support = id_of(&create(&gw, "/Groups", &group("Support", &[&bob])));
    assert!(settled(&gw, &sink, 0).is_empty(), "nobody is in scope yet");

    let sales = id_of(&create(&gw, "/Groups", &group("Sales", &[&ann])));
    let events = settled(&gw, &sink, 2);
    assert_eq!(ops(&events, &sales), ["create"]);
    assert_eq!(
        ops(&events, &ann),
        ["create"],
        "joining the role group provisions"
    );

    let add_bob = json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]);
    assert_eq!(
        gw.patch_ops(&format!("/Groups/{sales}"), add_bob)
            .status()
            .as_u16(),
        204
    );
    // Settled between the two, so that they are two deliveries (a membership change lingers
    // for the next one to join it).
    let events = settled(&gw, &sink, 4);
    assert_eq!(ops(&events, &bob), ["create"], "joining provisions");
    let remove_ann = json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]);
    assert_eq!(
        gw.patch_ops(&format!("/Groups/{sales}"), remove_ann)
            .status()
            .as_u16(),
        204
    );
    let events = settled(&gw, &sink, 6);
    assert_eq!(ops(&events, &bob), ["create"]);
    assert_eq!(
        ops(&events, &ann),
        ["create", "delete"],
        "leaving the role group deprovisions"
    );
    assert_eq!(ops(&events, &sales), ["create", "replace", "replace"]);
    assert!(
        ops(&events, &support).is_empty(),
        "other groups are not delivered"
    );

    // A user in scope who changes stays in scope: a replace; one out of scope: nothing.
    let rename = json!([{"op": "replace", "path": "displayName", "value": "B"}]);
    assert_eq!(
        gw.patch_ops(&format!("/Users/{bob}"), rename.clone())
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        gw.patch_ops(&format!("/Users/{ann}"), rename)
            .status()
            .as_u16(),
        200
    );
    let events = settled(&gw, &sink, 7);
    assert_eq!(ops(&events, &bob), ["create", "replace"]);
    assert_eq!(ops(&events, &ann), ["create", "delete"]);
    // Deleting the role group deprovisions its members.
    assert_eq!(
        gw.delete(&format!("/Groups/{sales}")).status().as_u16(),
        204
    );
    let events = settled(&gw, &sink, 9);
    assert_eq!(ops(&events, &bob), ["create", "replace", "delete"]);
    assert_eq!(
        ops(&events, &sales),
        ["create", "replace", "replace", "delete"]
    );
}

#[test]
fn a_rule_scope_follows_the_users_attributes_and_deactivates_who_leaves() {
    let sink = Target::start();
    let gw = Gateway::start();
    connect(
        &gw,
        "rule",
        &sink,
        &["User"],
        json!({"filter": "title eq \"Sales\" and active eq true", "deprovision": "deactivate"}),
    );
    let mut cy = user("cy");
    cy["title"] = json!("Sales");
    let cy = id_of(&create(&gw, "/Users", &cy));
    let mut dee = user("dee");
    dee["title"] = json!("Support");
    let dee = id_of(&create(&gw, "/Users", &dee));
    let events = settled(&gw, &sink, 1);
    assert_eq!(ops(&events, &cy), ["create"]);
    assert!(ops(&events, &dee).is_empty(), "out of scope from the start");

    let set = |id: &str, value: &str| {
        let op = json!([{"op": "replace", "path": "title", "value": value}]);
        assert_eq!(
            gw.patch_ops(&format!("/Users/{id}"), op).status().as_u16(),
            200
        );
    };
    set(&cy, "Marketing");
    let events = settled(&gw, &sink, 2);
    assert_eq!(ops(&events, &cy), ["create", "replace"]);
    assert_eq!(events[1].3, json!(false), "leaving is a deactivation");
    set(&cy, "Sales");
    set(&dee, "Sales");
    let events = settled(&gw, &sink, 4);
    assert_eq!(
        ops(&events, &cy),
        ["create", "replace", "create"],
        "coming back is a create"
    );
    assert_eq!(ops(&events, &dee), ["create"], "entering is a create");
    let deactivate = json!([{"op": "replace", "path": "active", "value": false}]);
    assert_eq!(
        gw.patch_ops(&format!("/Users/{dee}"), deactivate)
            .status()
            .as_u16(),
        200
    );
    let events = settled(&gw, &sink, 5);
    assert_eq!(ops(&events, &dee), ["create", "replace"]);

    // A scope filter that is not a valid filter over users is refused, with the reason.
    let (status, e) = gw.admin_send(
        Method::PATCH,
        "/admin/v1/connectors/rule",
        &json!({"scope": {"filter": "title eq"}}),
    );
    assert_eq!(status, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("scope filter")
    );
}

/// A connector added after the users were gets every user in its scope by a reconcile, with
/// its progress reported; a second reconcile replaces what the connector now holds.
#[test]
fn reconcile_pushes_every_user_in_scope_to_a_new_connector() {
    let sink = Target::start();
    let gw = Gateway::start();
    let mut sales = Vec::new();
    for i in 0..30 {
        let mut u = user(&format!("r{i}"));
        u["title"] = json!(if i % 3 == 0 { "Support" } else { "Sales" });
        let id = id_of(&create(&gw, "/Users", &u));
        if i % 3 != 0 {
            sales.push(id);
        }
    }
    connect(
        &gw,
        "late",
        &sink,
        &["User"],
        json!({"filter": "title eq \"Sales\""}),
    );
    assert!(
        settled(&gw, &sink, 0).is_empty(),
        "nothing is sent before a reconcile"
    );

    let (status, started) = gw.admin_send(
        Method::POST,
        "/admin/v1/connectors/late/reconcile",
        &Value::Null,
    );
    assert_eq!(
        (status, started["state"].as_str()),
        (202, Some("running")),
        "{started}"
    );
    eventually(|| {
        let p = gw.admin("/admin/v1/connectors/late/reconcile");
        when(p["state"] == "done", &format!("the reconcile: {p}"))
    });
    let done = gw.admin("/admin/v1/connectors/late/reconcile");
    assert_eq!(
        (done["scanned"].as_u64(), done["enqueued"].as_u64()),
        (Some(30), Some(20))
    );
    let events = settled(&gw, &sink, 20);
    for id in &sales {
        assert_eq!(ops(&events, id), ["create"]);
    }
    assert_eq!(events.len(), 20, "only users in scope");

    let (status, _) = gw.admin_send(
        Method::POST,
        "/admin/v1/connectors/late/reconcile",
        &Value::Null,
    );
    assert_eq!(status, 202);
    let events = settled(&gw, &sink, 40);
    for id in &sales {
        assert_eq!(
            ops(&events, id),
            ["create", "replace"],
            "held resources are replaced"
        );
    }
    let (status, e) = gw.admin_send(
        Method::POST,
        "/admin/v1/connectors/none/reconcile",
        &Value::Null,
    );
    assert_eq!((status, &e["error"]["status"]), (404, &json!(404)));
}
