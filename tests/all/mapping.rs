//! Attribute mapping per connector: rules that rename, move into an extension, template, choose
//! one email, set constants and conditional values, and drop, applied by the host before the
//! plugin sees a user. Observed at a second gateway through `scim2`, after a reconcile and after
//! a change; the preview; a rule that fails at delivery; and every refusal.

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, TOKEN, assert_admin_error, create, encode, eventually, id_of, parts, scratch_dir,
    start_refused, when, write_config,
};
use serde_json::{Value, json};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The rules under test; rule 7 needs a family name.
fn rules() -> Value {
    json!({"users": [
        {"to": "userName", "template": "{name.givenName}.{name.familyName}@corp.example",
         "transform": ["lower"]},
        {"move": "title", "to": format!("{ENTERPRISE}:department")},
        {"from": "emails[type eq \"work\"].value", "to": "externalId", "transform": ["lower"]},
        {"to": format!("{ENTERPRISE}:organization"), "value": "Example Corp"},
        {"to": "userType", "value": "Contractor", "when": "title eq \"Contractor\""},
        {"drop": "nickName"},
        {"drop": "emails[type eq \"home\"]"},
        {"to": "displayName", "template": "{name.givenName} {name.familyName}", "required": true}
    ]})
}

/// A `scim2` connector definition to `b` with `mapping`.
fn to_b(b: &Gateway, mapping: Value) -> Value {
    json!({"plugin": "scim2", "resource_types": ["User", "Group"],
           "config": {"base_url": format!("{}/scim/v2", b.origin()), "update": "patch"},
           "secrets": {"token": TOKEN}, "allowed_hosts": [b.origin()], "mapping": mapping})
}

fn person(user_name: &str, given: &str, family: Option<&str>, title: &str) -> Value {
    let mut name = json!({"givenName": given});
    if let Some(f) = family {
        name["familyName"] = json!(f);
    }
    json!({
        "schemas": [CORE, ENTERPRISE],
        "userName": user_name,
        "name": name,
        "title": title,
        "nickName": "Babs",
        "emails": [
            {"value": format!("{user_name}@home.example"), "type": "home"},
            {"value": format!("{}@Work.Example", user_name.to_uppercase()), "type": "work"}
        ],
        ENTERPRISE: {"employeeNumber": "701984"}
    })
}

/// The user at `gw` whose userName is `name`.
fn by_name(gw: &Gateway, name: &str) -> Option<Value> {
    let filter = encode(&format!(r#"userName eq "{name}""#));
    let (_, list) = parts(gw.get(&format!("/Users?filter={filter}")));
    list["Resources"].get(0).cloned()
}

/// Waits for the user `name` at `gw`.
#[track_caller]
fn arrives(gw: &Gateway, name: &str) -> Value {
    let mut found = None;
    eventually(|| {
        found = by_name(gw, name);
        when(found.is_some(), &format!("{name} at the target"))
    });
    found.expect("arrived")
}

fn preview(gw: &Gateway, connector: &str, body: &Value) -> (u16, Value) {
    gw.admin_send(
        Method::POST,
        &format!("/admin/v1/connectors/{connector}/preview"),
        body,
    )
}

#[test]
fn a_mapping_shapes_what_reaches_a_second_gateway_after_a_reconcile_and_a_change() {
    let b = Gateway::start();
    let a = Gateway::start_with_config(
        "[delivery]\nbase_delay_ms = 50\nmax_delay_ms = 200\nmax_attempts = 3\n",
    );
    // Written before the connector exists: the reconcile delivers them.
    let barbara = id_of(&create(
        &a,
        "/Users",
        &person("bjensen", "Barbara", Some("Jensen"), "Tour Guide"),
    ));
    create(
        &a,
        "/Users",
        &person("carl", "Carl", Some("Koch"), "Contractor"),
    );
    let solo = id_of(&create(
        &a,
        "/Users",
        &person("solo", "Solo", None, "Guide"),
    ));

    let (status, c) = a.admin_send(Method::PUT, "/admin/v1/connectors/b", &to_b(&b, rules()));
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["mapping"], rules(), "the connector shows its mapping");

    // The preview: the event the plugin would get, nothing delivered.
    let (status, seen) = preview(&a, "b", &json!({"resourceType": "User", "id": barbara}));
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["operation"], "create");
    assert_eq!(seen["mapping"], "configured");
    assert_eq!(seen["id"], barbara.as_str());
    let r = &seen["resource"];
    assert_eq!(r["userName"], "barbara.jensen@corp.example", "{seen}");
    assert_eq!(r["displayName"], "Barbara Jensen");
    assert_eq!(r[ENTERPRISE]["department"], "Tour Guide");
    assert!(
        r.get("title").is_none() && r.get("nickName").is_none(),
        "{seen}"
    );
    assert!(
        by_name(&b, "barbara.jensen@corp.example").is_none(),
        "a preview delivers nothing"
    );
    // A mapping given with the request is tried instead of the connector's.
    let (status, tried) = preview(
        &a,
        "b",
        &json!({"resourceType": "User", "id": barbara,
                "mapping": {"users": [{"to": "nickName", "value": "tried"}]}}),
    );
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["mapping"], "given");
    assert_eq!(tried["resource"]["nickName"], "tried");
    assert_eq!(tried["resource"]["userName"], "bjensen");
    // A resource given whole (pass-through mode, or not written yet).
    let (status, given) = preview(
        &a,
        "b",
        &json!({"resourceType": "User",
                "resource": person("dora", "Dora", Some("Lee"), "Contractor")}),
    );
    assert_eq!(status, 200, "{given}");
    assert_eq!(given["resource"]["userType"], "Contractor");
    // What delivering `solo` would do: fail on rule 7.
    let (status, failing) = preview(&a, "b", &json!({"resourceType": "User", "id": solo}));
    let message = assert_admin_error((status, failing), 422);
    assert!(
        message.contains("mapping.users[7] (to displayName)"),
        "{message}"
    );

    let (status, run) = a.admin_send(
        Method::POST,
        "/admin/v1/connectors/b/reconcile",
        &Value::Null,
    );
    assert_eq!(status, 202, "{run}");
    let at_b = arrives(&b, "barbara.jensen@corp.example");
    assert_eq!(at_b["displayName"], "Barbara Jensen");
    assert_eq!(
        at_b["externalId"], "bjensen@work.example",
        "the work email, lower-cased"
    );
    assert_eq!(
        at_b[ENTERPRISE]["department"], "Tour Guide",
        "moved into the extension"
    );
    assert_eq!(at_b[ENTERPRISE]["organization"], "Example Corp");
    assert_eq!(at_b[ENTERPRISE]["employeeNumber"], "701984", "kept");
    assert!(at_b.get("title").is_none(), "moved away: {at_b}");
    assert!(at_b.get("nickName").is_none(), "dropped: {at_b}");
    assert!(at_b.get("userType").is_none(), "not a contractor: {at_b}");
    let emails = at_b["emails"].as_array().cloned().unwrap_or_default();
    assert_eq!(emails.len(), 1, "the home email dropped: {at_b}");
    assert_eq!(emails[0]["type"], "work");
    let carl = arrives(&b, "carl.koch@corp.example");
    assert_eq!(carl["userType"], "Contractor", "the condition matched");

    // `solo` has no family name: its delivery fails permanently, naming the rule.
    let mut dead = Vec::new();
    eventually(|| {
        dead = a.admin(&format!(
            "/admin/v1/jobs?state=dead&resource_type=User&resource_id={solo}"
        ))["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        when(dead.len() == 1, "solo's job dead")
    });
    let job = a.admin(&format!("/admin/v1/jobs/{}", dead[0]["seq"]));
    let attempts = job["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 1, "permanent, so not retried: {job}");
    assert_eq!(attempts[0]["outcome"], "permanent", "{job}");
    let message = attempts[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            "mapping.users[7] (to displayName): one of name.givenName, name.familyName has no value"
        ),
        "{message}"
    );

    // A change of a templated attribute reaches the target's derived one, and the preview now
    // says the next delivery replaces.
    let r = a.patch_ops(
        &format!("/Users/{barbara}"),
        json!([{"op": "replace", "path": "name.givenName", "value": "Babs"}]),
    );
    assert_eq!(r.status().as_u16(), 200);
    let renamed = arrives(&b, "babs.jensen@corp.example");
    assert_eq!(
        renamed["id"], at_b["id"],
        "the same user at the target, renamed"
    );
    assert_eq!(renamed["displayName"], "Babs Jensen");
    let (_, seen) = preview(&a, "b", &json!({"resourceType": "User", "id": barbara}));
    assert_eq!(seen["operation"], "replace", "{seen}");
    assert_eq!(seen["remoteId"], at_b["id"], "{seen}");
}

#[test]
fn every_mapping_refusal_names_the_rule_or_the_mistake() {
    let b = Gateway::start();
    let a = Gateway::start();
    let put =
        |mapping: Value| a.admin_send(Method::PUT, "/admin/v1/connectors/b", &to_b(&b, mapping));
    for (mapping, expect) in [
        (
            json!({"users": [{"to": "x", "from": "nosuch"}]}),
            "mapping.users[0] (to x): User has no attribute 'nosuch'",
        ),
        (
            json!({"users": [{"drop": "title"}, {"to": "x", "template": "{name.givenName"}]}),
            "mapping.users[1] (to x): template: '{' at byte 0 is not closed",
        ),
        (
            json!({"users": [{"to": "x", "from": "title", "when": "title zz 1"}]}),
            "mapping.users[0] (to x): when:",
        ),
        (
            json!({"users": [{"to": "x", "from": "active", "transform": ["upper"]}]}),
            "transform works on strings",
        ),
        (
            json!({"users": [{"to": "id", "value": "1"}]}),
            "id is the host's",
        ),
        (
            json!({"groups": [{"drop": "members"}]}),
            "mapping.groups[0] (drop members): a group's members are sent by the host",
        ),
    ] {
        let message = assert_admin_error(put(mapping.clone()), 422);
        assert!(message.contains(expect), "{mapping}: {message}");
    }
    // Malformed, not merely wrong: an unknown key or transform is a 400.
    for mapping in [
        json!({"users": [{"to": "x", "frm": "title"}]}),
        json!({"users": [{"to": "x", "from": "title", "transform": ["reverse"]}]}),
        json!({"people": []}),
    ] {
        assert_admin_error(put(mapping), 400);
    }
    assert_admin_error(
        a.admin_send(Method::GET, "/admin/v1/connectors/b", &Value::Null),
        404,
    );

    // The preview's refusals.
    let (status, c) = a.admin_send(
        Method::PUT,
        "/admin/v1/connectors/users-only",
        &json!({"plugin": "scim2", "resource_types": ["User"],
                "config": {"base_url": format!("{}/scim/v2", b.origin())},
                "secrets": {"token": TOKEN}, "allowed_hosts": [b.origin()]}),
    );
    assert_eq!(status, 201, "{c}");
    let user = id_of(&create(
        &a,
        "/Users",
        &person("pat", "Pat", Some("Doe"), "Guide"),
    ));
    let ask = |connector: &str, body: Value| preview(&a, connector, &body);
    assert_admin_error(
        ask("nope", json!({"resourceType": "User", "id": user})),
        404,
    );
    assert_admin_error(
        ask(
            "users-only",
            json!({"resourceType": "User", "id": "no-such-id"}),
        ),
        404,
    );
    assert_admin_error(
        ask("users-only", json!({"resourceType": "Device", "id": user})),
        400,
    );
    assert_admin_error(ask("users-only", json!({"resourceType": "User"})), 400);
    assert_admin_error(
        ask(
            "users-only",
            json!({"resourceType": "User", "id": user, "resource": {}}),
        ),
        400,
    );
    assert_admin_error(
        ask(
            "users-only",
            json!({"resourceType": "User", "id": user, "extra": 1}),
        ),
        400,
    );
    let message = assert_admin_error(
        ask("users-only", json!({"resourceType": "Group", "id": user})),
        422,
    );
    assert!(message.contains("does not receive Group"), "{message}");
    let message = assert_admin_error(
        ask(
            "users-only",
            json!({"resourceType": "User", "id": user,
                                 "mapping": {"users": [{"to": "x", "from": "nosuch"}]}}),
        ),
        422,
    );
    assert!(message.contains("mapping.users[0] (to x)"), "{message}");
    let (status, plain) = ask("users-only", json!({"resourceType": "User", "id": user}));
    assert_eq!(status, 200, "{plain}");
    assert_eq!(
        plain["resource"]["nickName"], "Babs",
        "no mapping: as the gateway holds it"
    );

    // The config file: the gateway does not start, and says which rule.
    let dir = scratch_dir("mapping-refused");
    let config = write_config(
        &dir,
        r#"
[[connectors]]
name = "target"
plugin = "scim2"
allowed_hosts = ["http://127.0.0.1:9"]
config = { base_url = "http://127.0.0.1:9/scim/v2" }

[[connectors.mapping.users]]
to = "userName"
template = "{name.givenName}.{name.surname}"
"#,
    );
    let stderr = start_refused(
        &dir,
        &["--config", config.to_str().expect("utf-8 path")],
        &[("SCIM_GATEWAY_TOKEN", TOKEN)],
    );
    assert!(
        stderr.contains("connector 'target': mapping.users[0] (to userName): template: User has no attribute 'name.surname'"),
        "{stderr}"
    );
}
