use serde_json::{Value, json};

use super::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn mapping(users: Value) -> Result<Mapping, MappingError> {
    let c: MappingConfig = serde_json::from_value(json!({ "users": users })).expect("a mapping");
    Mapping::compile(&c)
}

fn refusal(users: Value) -> String {
    mapping(users).expect_err("refused").to_string()
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "u1",
        "userName": "bjensen",
        "name": {"givenName": " Barbara ", "familyName": "Jensen"},
        "title": "Tour Guide",
        "nickName": "Babs",
        "emails": [
            {"value": "bj@home.example", "type": "home"},
            {"value": "BJ@Work.Example", "type": "work", "primary": true}
        ],
        ENTERPRISE: {"employeeNumber": "701984"}
    })
}

#[test]
fn renames_templates_transforms_chooses_and_drops() {
    let m = mapping(json!([
        {"to": "userName", "template": "{name.givenName}.{name.familyName}@corp.example",
         "transform": ["remove_whitespace", "lower"]},
        {"move": "title", "to": format!("{ENTERPRISE}:department")},
        {"from": "emails[type eq \"work\"].value", "to": "externalId", "transform": ["lower"]},
        {"to": format!("{ENTERPRISE}:organization"), "value": "Example Corp"},
        {"to": "preferredLanguage", "default": "en"},
        {"to": "userType", "value": "Guide", "when": "title sw \"Tour\""},
        {"to": "locale", "value": "never", "when": "title eq \"Nobody\""},
        {"drop": "nickName"},
        {"drop": "emails[type eq \"home\"]"}
    ]))
    .expect("compiles");
    let out = m.apply(ResourceKind::User, user()).expect("applies");
    assert_eq!(out["userName"], "barbara.jensen@corp.example");
    assert_eq!(out["externalId"], "bj@work.example");
    assert_eq!(out[ENTERPRISE]["department"], "Tour Guide");
    assert_eq!(out[ENTERPRISE]["organization"], "Example Corp");
    assert_eq!(out[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(out["preferredLanguage"], "en");
    assert_eq!(out["userType"], "Guide");
    assert!(out.get("locale").is_none(), "its condition did not match");
    assert!(out.get("title").is_none(), "moved");
    assert!(out.get("nickName").is_none(), "dropped");
    assert_eq!(out["emails"].as_array().map(Vec::len), Some(1));
    assert_eq!(out["emails"][0]["type"], "work");
    assert_eq!(out["id"], "u1");
}

#[test]
fn sources_read_the_resource_as_held_not_other_rules_output() {
    let m = mapping(json!([
        {"move": "title", "to": "nickName"},
        {"from": "nickName", "to": "displayName"}
    ]))
    .expect("compiles");
    let out = m.apply(ResourceKind::User, user()).expect("applies");
    assert_eq!(out["nickName"], "Tour Guide");
    assert_eq!(
        out["displayName"], "Babs",
        "read before the move wrote nickName"
    );
}

#[test]
fn a_default_fills_only_what_is_missing_and_a_missing_source_leaves_the_target_alone() {
    let m = mapping(json!([
        {"to": "title", "default": "Staff"},
        {"from": "profileUrl", "to": "nickName"},
        {"template": "{displayName}!", "to": "displayName"}
    ]))
    .expect("compiles");
    let out = m.apply(ResourceKind::User, user()).expect("applies");
    assert_eq!(out["title"], "Tour Guide");
    assert_eq!(out["nickName"], "Babs", "no profileUrl: nickName untouched");
    assert!(
        out.get("displayName").is_none(),
        "a template with a part missing writes nothing"
    );
    let mut bare = user();
    bare.as_object_mut().unwrap().remove("title");
    assert_eq!(m.apply(ResourceKind::User, bare).unwrap()["title"], "Staff");
}

#[test]
fn a_required_source_without_a_value_fails_naming_the_rule() {
    let m = mapping(json!([
        {"to": "userName", "from": "userName"},
        {"to": "externalId", "from": format!("{ENTERPRISE}:costCenter"), "required": true}
    ]))
    .expect("compiles");
    let e = m.apply(ResourceKind::User, user()).expect_err("fails");
    assert_eq!(e.rule, format!("mapping.users[1] (to externalId)"));
    assert!(e.reason.contains("costCenter has no value"), "{e}");
}

#[test]
fn a_move_out_of_an_extension_removes_it_when_empty_and_into_one_adds_its_urn() {
    let m = mapping(json!([
        {"move": format!("{ENTERPRISE}:employeeNumber"), "to": "externalId"}
    ]))
    .expect("compiles");
    let out = m.apply(ResourceKind::User, user()).expect("applies");
    assert_eq!(out["externalId"], "701984");
    assert!(out.get(ENTERPRISE).is_none());
    assert_eq!(
        out["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    let m = mapping(json!([{"move": "title", "to": "urn:example:target:1.0:User:jobTitle"}]))
        .expect("compiles");
    let out = m.apply(ResourceKind::User, user()).expect("applies");
    assert_eq!(out["urn:example:target:1.0:User"]["jobTitle"], "Tour Guide");
    assert!(
        out["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:example:target:1.0:User"))
    );
}

#[test]
fn writing_into_a_value_that_is_not_an_object_fails_at_delivery() {
    let m = mapping(json!([{"to": "title.short", "value": "x"}])).expect("compiles");
    let e = m.apply(ResourceKind::User, user()).expect_err("fails");
    assert!(
        e.to_string()
            .starts_with("mapping.users[0] (to title.short): title is"),
        "{e}"
    );
}

#[test]
fn a_template_part_with_many_values_fails_at_delivery_when_it_is_an_object() {
    let m = mapping(json!([{"to": "displayName", "template": "{name}"}])).expect("compiles");
    let e = m.apply(ResourceKind::User, user()).expect_err("fails");
    assert!(e.reason.contains("not a single value"), "{e}");
}

#[test]
fn every_refusal_names_its_rule() {
    for (rules, expect) in [
        (
            json!([{"to": "x", "from": "title", "value": 1}]),
            "this one has from and value",
        ),
        (json!([{"from": "title"}]), "needs to"),
        (json!([{"to": "x"}]), "needs a source"),
        (
            json!([{"to": "x", "from": "nosuch"}]),
            "User has no attribute 'nosuch'",
        ),
        (
            json!([{"to": "x", "from": "emails[nosuch eq 1].value"}]),
            "emails[nosuch",
        ),
        (json!([{"to": "x", "from": "emails.value"}]), "choose one"),
        (
            json!([{"to": "x", "template": "{name.givenName"}]),
            "is not closed",
        ),
        (json!([{"to": "x", "template": "a}b"}]), "closes nothing"),
        (json!([{"to": "x", "template": "{}"}]), "is empty"),
        (
            json!([{"to": "x", "template": "{emails}"}]),
            "has many values",
        ),
        (
            json!([{"to": "x", "template": "{nosuch}"}]),
            "no attribute 'nosuch'",
        ),
        (
            json!([{"to": "x", "from": "active", "transform": ["lower"]}]),
            "not one",
        ),
        (
            json!([{"to": "x", "value": 3, "transform": ["trim"]}]),
            "not one",
        ),
        (json!([{"to": "x", "value": null}]), "needs a source"),
        (
            json!([{"to": "x", "from": "title", "when": "title eq"}]),
            "when:",
        ),
        (
            json!([{"to": "x", "from": "title", "when": "nosuch pr"}]),
            "no attribute 'nosuch'",
        ),
        (json!([{"to": "id", "value": "x"}]), "id is the host's"),
        (
            json!([{"move": "id", "to": "externalId"}]),
            "id is the host's",
        ),
        (json!([{"drop": "schemas"}]), "schemas is the host's"),
        (json!([{"to": "x", "from": "password"}]), "never read back"),
        (
            json!([{"to": "emails.value", "value": "x"}]),
            "multi-valued",
        ),
        (
            json!([{"to": "emails[type eq \"work\"].value", "value": "x"}]),
            "not an element",
        ),
        (
            json!([{"to": "active", "template": "{userName}"}]),
            "not a single string",
        ),
        (
            json!([{"drop": "title", "to": "x"}]),
            "a drop rule has no to",
        ),
    ] {
        let e = refusal(rules.clone());
        assert!(e.starts_with("mapping.users[0]"), "{rules}: {e}");
        assert!(e.contains(expect), "{rules}: {e} (expected {expect})");
    }
    let groups: MappingConfig =
        serde_json::from_value(json!({"groups": [{"drop": "members"}]})).unwrap();
    let e = Mapping::compile(&groups).expect_err("refused").to_string();
    assert!(e.starts_with("mapping.groups[0] (drop members)"), "{e}");
    let many: Vec<Value> = (0..=MAX_RULES).map(|_| json!({"drop": "title"})).collect();
    assert!(refusal(Value::Array(many)).contains("at most"));
}

#[test]
fn the_password_may_be_dropped_whole_and_nothing_else() {
    let m = mapping(json!([{"drop": "password"}])).expect("compiles");
    let mut u = user();
    u["password"] = json!("s3cret");
    assert!(
        m.apply(ResourceKind::User, u)
            .unwrap()
            .get("password")
            .is_none()
    );
    assert!(refusal(json!([{"move": "password", "to": "x"}])).contains("never read back"));
}

#[test]
fn changed_paths_follow_the_rules() {
    let m = mapping(json!([
        {"to": "userName", "template": "{name.givenName}.{name.familyName}"},
        {"move": "title", "to": format!("{ENTERPRISE}:department")},
        {"to": "userType", "value": "Guide", "when": "nickName pr"},
        {"drop": "displayName"}
    ]))
    .expect("compiles");
    let changed = |paths: &[&str]| {
        m.changed_paths(
            ResourceKind::User,
            paths.iter().map(|p| p.to_string()).collect(),
        )
    };
    assert_eq!(changed(&["name.givenName"]), ["userName", "name.givenName"]);
    assert_eq!(changed(&["title"]), [format!("{ENTERPRISE}:department")]);
    assert_eq!(changed(&["nickName"]), ["userType", "nickName"]);
    assert_eq!(changed(&["displayName"]), Vec::<String>::new());
    assert_eq!(
        changed(&["emails[type eq \"work\"].value"]),
        ["emails[type eq \"work\"].value"]
    );
    assert!(changed(&[]).is_empty(), "a whole replace stays whole");
}

#[test]
fn without_rules_or_for_a_delete_nothing_changes() {
    let m = Mapping::default();
    assert!(m.is_empty());
    assert_eq!(m.apply(ResourceKind::User, user()).unwrap(), user());
    let m = mapping(json!([{"drop": "title"}])).unwrap();
    assert_eq!(
        m.apply(ResourceKind::User, Value::Null).unwrap(),
        Value::Null
    );
    let group = json!({"id": "g", "displayName": "Staff", "members": [{"value": "u1"}]});
    assert_eq!(m.apply(ResourceKind::Group, group.clone()).unwrap(), group);
}

#[test]
fn a_mapping_round_trips_through_toml_as_the_config_file_writes_it() {
    let text = r#"
        [[users]]
        to = "userName"
        template = "{name.givenName}.{name.familyName}@corp.example"
        transform = ["lower"]

        [[users]]
        drop = "nickName"

        [[groups]]
        to = "displayName"
        from = "displayName"
        transform = ["upper"]
    "#;
    let c: MappingConfig = toml::from_str(text).expect("parses");
    let m = Mapping::compile(&c).expect("compiles");
    let g = m
        .apply(ResourceKind::Group, json!({"displayName": "staff"}))
        .unwrap();
    assert_eq!(g["displayName"], "STAFF");
    let back: MappingConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}
