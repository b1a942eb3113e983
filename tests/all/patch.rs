//! PATCH (RFC 7644 section 3.5.2): add, replace and remove with and without paths, value-path
//! filters, multi-valued merges, primary uniqueness, and the quirks of Entra ID and Okta.

use scim_gateway_e2e::{
    ENTERPRISE, Gateway, assert_scim_error, create, expect, group, id_of, member_ids, sorted, user,
    version_of,
};
use serde_json::{Value, json};

/// A gateway with one user (`ann@example.com`, work email primary, given "Given", family
/// "Family", title "Engineer") and that user's path.
fn with_user() -> (Gateway, String) {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["title"] = json!("Engineer");
    let id = id_of(&create(&gw, "/Users", &body));
    (gw, format!("/Users/{id}"))
}

/// PATCHes `path` with `ops`, asserts `200`, and checks that the answer is what GET now shows.
#[track_caller]
/// A group's PATCH answers `204` with the new ETag: then the group as a GET shows it.
fn patched(gw: &Gateway, path: &str, ops: Value) -> Value {
    let r = gw.patch_ops(path, ops);
    if path.starts_with("/Groups/") {
        assert_eq!(r.status().as_u16(), 204, "a group's PATCH answers 204");
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let now = gw.fetch(path);
        assert_eq!(
            now["meta"]["version"],
            etag.as_str(),
            "the ETag is the new version"
        );
        return now;
    }
    let answer = expect(r, 200);
    assert_eq!(gw.fetch(path), answer, "PATCH answer differs from GET");
    answer
}

/// The `value`s of a user's emails, in order.
fn email_values(u: &Value) -> Vec<&str> {
    u["emails"]
        .as_array()
        .map(|es| es.iter().map(|e| e["value"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// The emails marked primary.
fn primaries(u: &Value) -> Vec<&str> {
    u["emails"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter(|e| e["primary"] == true)
                .map(|e| e["value"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// add, replace and remove with a path: simple attributes, sub-attributes and whole
/// multi-valued attributes.
#[test]
fn operations_with_a_path() {
    let (gw, path) = with_user();
    let u = patched(
        &gw,
        &path,
        json!([
            {"op": "add", "path": "nickName", "value": "Annie"},
            {"op": "replace", "path": "name.givenName", "value": "Ann"},
            {"op": "remove", "path": "title"},
        ]),
    );
    assert_eq!(u["nickName"], "Annie");
    assert_eq!(
        u["name"],
        json!({"givenName": "Ann", "familyName": "Family"})
    );
    assert!(u.get("title").is_none(), "{u}");

    let u = patched(
        &gw,
        &path,
        json!([{"op": "add", "path": "emails",
                "value": [{"value": "ann@home.org", "type": "home"}]}]),
    );
    assert_eq!(email_values(&u), ["ann@example.com", "ann@home.org"]);

    let u = patched(
        &gw,
        &path,
        json!([{"op": "replace", "path": "emails",
                "value": [{"value": "new@example.com", "type": "work"}]}]),
    );
    assert_eq!(email_values(&u), ["new@example.com"]);

    let u = patched(
        &gw,
        &path,
        json!([{"op": "remove", "path": "name.familyName"},
               {"op": "remove", "path": "emails"}]),
    );
    assert_eq!(u["name"], json!({"givenName": "Ann"}));
    assert!(u.get("emails").is_none(), "{u}");
    assert_eq!(u["userName"], "ann@example.com");
}

/// Without a path, `add` and `replace` take an object of attributes: multi-valued ones are
/// merged by `add` and replaced by `replace`; a complex value's unnamed sub-attributes stay.
#[test]
fn operations_without_a_path() {
    let (gw, path) = with_user();
    let u = patched(
        &gw,
        &path,
        json!([{"op": "add", "value": {
            "nickName": "Annie",
            "emails": [{"value": "ann@home.org", "type": "home"}]
        }}]),
    );
    assert_eq!(u["nickName"], "Annie");
    assert_eq!(email_values(&u), ["ann@example.com", "ann@home.org"]);

    let u = patched(
        &gw,
        &path,
        json!([{"op": "replace", "value": {
            "displayName": "Ann Lee",
            "name": {"givenName": "Ann"},
            "emails": [{"value": "only@example.com", "type": "work"}]
        }}]),
    );
    assert_eq!(u["displayName"], "Ann Lee");
    assert_eq!(
        u["name"],
        json!({"givenName": "Ann", "familyName": "Family"})
    );
    assert_eq!(email_values(&u), ["only@example.com"]);
    assert_eq!(u["title"], "Engineer");
}

/// Value-path filters select elements: `emails[type eq "work"].value` changes only the work
/// email, `emails[type eq "home"]` removes only the home one.
#[test]
fn value_path_filters_in_paths() {
    let (gw, path) = with_user();
    patched(
        &gw,
        &path,
        json!([{"op": "add", "path": "emails",
                "value": [{"value": "ann@home.org", "type": "home"}]}]),
    );
    let u = patched(
        &gw,
        &path,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value",
                "value": "ann.lee@example.com"}]),
    );
    assert_eq!(email_values(&u), ["ann.lee@example.com", "ann@home.org"]);
    assert_eq!(u["emails"][0]["type"], "work");
    assert_eq!(u["emails"][0]["primary"], true);

    let u = patched(
        &gw,
        &path,
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    );
    assert_eq!(email_values(&u), ["ann.lee@example.com"]);

    let u = patched(
        &gw,
        &path,
        json!([{"op": "remove", "path": "emails[value ew \".com\"].type"}]),
    );
    assert_eq!(
        u["emails"],
        json!([{"value": "ann.lee@example.com", "primary": true}])
    );
}

/// Entra ID adds `emails[type eq "work"].value` to a user that has no work email: a new
/// element is created.
#[test]
fn value_path_add_creates_the_missing_element() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["emails"] = json!([{"value": "ann@home.org", "type": "home"}]);
    let path = format!("/Users/{}", id_of(&create(&gw, "/Users", &body)));
    let u = patched(
        &gw,
        &path,
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value",
                "value": "ann@example.com"}]),
    );
    let work: Vec<&Value> = u["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "work")
        .collect();
    assert_eq!(work.len(), 1, "{u}");
    assert_eq!(work[0]["value"], "ann@example.com");
    assert_eq!(email_values(&u).len(), 2);
}

/// Adding values already present does not duplicate them (emails, members).
#[test]
fn multi_valued_add_merges_without_duplicates() {
    let (gw, path) = with_user();
    let u = patched(
        &gw,
        &path,
        json!([{"op": "add", "path": "emails", "value": [
            {"value": "ann@example.com", "type": "work", "primary": true},
            {"value": "ann@home.org", "type": "home"}
        ]}]),
    );
    assert_eq!(email_values(&u), ["ann@example.com", "ann@home.org"]);

    let ann = path.trim_start_matches("/Users/").to_owned();
    let bo = id_of(&create(&gw, "/Users", &user("bo@example.com")));
    let gpath = format!(
        "/Groups/{}",
        id_of(&create(&gw, "/Groups", &group("Sales", &[&ann])))
    );
    let g = patched(
        &gw,
        &gpath,
        json!([{"op": "add", "path": "members",
                "value": [{"value": ann}, {"value": bo}, {"value": bo}]}]),
    );
    assert_eq!(member_ids(&g), sorted(&[&ann, &bo]));
}

/// At most one email is primary: making another one primary clears the former.
#[test]
fn setting_primary_clears_the_others() {
    let (gw, path) = with_user();
    let u = patched(
        &gw,
        &path,
        json!([{"op": "add", "path": "emails",
                "value": [{"value": "ann@home.org", "type": "home", "primary": true}]}]),
    );
    assert_eq!(primaries(&u), ["ann@home.org"]);
    assert_eq!(email_values(&u).len(), 2);

    let u = patched(
        &gw,
        &path,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true}]),
    );
    assert_eq!(primaries(&u), ["ann@example.com"]);
}

/// Group members are added, removed by value filter, removed by Entra's value array (only the
/// listed ones), replaced, and removed all at once.
#[test]
fn group_member_operations() {
    let gw = Gateway::start();
    let ids: Vec<String> = ["a@example.com", "b@example.com", "c@example.com"]
        .iter()
        .map(|n| id_of(&create(&gw, "/Users", &user(n))))
        .collect();
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let path = format!(
        "/Groups/{}",
        id_of(&create(&gw, "/Groups", &group("G", &[])))
    );
    let g = patched(
        &gw,
        &path,
        json!([{"op": "Add", "path": "members",
                "value": [{"value": a}, {"value": b}, {"value": c}]}]),
    );
    assert_eq!(member_ids(&g), sorted(&[a, b, c]));

    let g = patched(
        &gw,
        &path,
        json!([{"op": "Remove", "path": format!("members[value eq \"{a}\"]")}]),
    );
    assert_eq!(member_ids(&g), sorted(&[b, c]));

    let g = patched(
        &gw,
        &path,
        json!([{"op": "Remove", "path": "members", "value": [{"value": b}]}]),
    );
    assert_eq!(member_ids(&g), sorted(&[c]));

    let g = patched(
        &gw,
        &path,
        json!([{"op": "replace", "path": "members", "value": [{"value": a}, {"value": b}]}]),
    );
    assert_eq!(member_ids(&g), sorted(&[a, b]));

    let g = patched(&gw, &path, json!([{"op": "remove", "path": "members"}]));
    assert!(member_ids(&g).is_empty(), "{g}");
    assert_eq!(g["displayName"], "G");
}

/// Entra ID: capitalised ops, booleans as `"True"`/`"False"`, and a path-less `Replace` whose
/// value holds dotted and URN-qualified keys.
#[test]
fn entra_capitalised_ops_string_booleans_and_qualified_keys() {
    let (gw, path) = with_user();
    let u = patched(
        &gw,
        &path,
        json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "nickName", "value": "Annie"},
            {"op": "Remove", "path": "title"},
        ]),
    );
    assert_eq!(u["active"], false);
    assert_eq!(u["nickName"], "Annie");
    assert!(u.get("title").is_none());

    let u = patched(
        &gw,
        &path,
        json!([{"op": "Replace", "value": {
            "active": "True",
            "name.givenName": "Ann",
            "name.familyName": "Lee",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Ann Lee",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales"
        }}]),
    );
    assert_eq!(u["active"], true);
    assert_eq!(u["name"], json!({"givenName": "Ann", "familyName": "Lee"}));
    assert_eq!(u["displayName"], "Ann Lee");
    assert_eq!(u[ENTERPRISE]["department"], "Sales");
    assert!(
        u["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE)),
        "{u}"
    );
    assert_eq!(email_values(&u), ["ann@example.com"]);
    let sales = format!("{ENTERPRISE}:department eq \"Sales\"");
    assert_eq!(gw.user_names(&sales), ["ann@example.com"]);
}

/// Entra ID sends the manager as a plain id string; it is stored as `manager.value`, and can
/// be removed again.
#[test]
fn entra_manager_as_a_plain_string() {
    let (gw, path) = with_user();
    let boss = id_of(&create(&gw, "/Users", &user("boss@example.com")));
    let u = patched(
        &gw,
        &path,
        json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss}]),
    );
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss.as_str());
    let u = patched(
        &gw,
        &path,
        json!([{"op": "Replace", "value": {format!("{ENTERPRISE}:manager"): boss}}]),
    );
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss.as_str());
    let u = patched(
        &gw,
        &path,
        json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}]),
    );
    assert!(
        u.get(ENTERPRISE).and_then(|e| e.get("manager")).is_none(),
        "{u}"
    );
}

/// Python SCIM clients send a whole extension as the path and its value as a resource of its
/// own, `schemas` included: accepted for `add` and `replace`; a `schemas` naming another URN
/// is refused.
#[test]
fn a_whole_extension_patched_with_its_own_schemas() {
    let (gw, path) = with_user();
    for (op, department) in [("add", "R&D"), ("replace", "Ops")] {
        let value =
            json!({"schemas": [ENTERPRISE], "department": department, "employeeNumber": "7"});
        let u = patched(
            &gw,
            &path,
            json!([{"op": op, "path": ENTERPRISE, "value": value}]),
        );
        assert_eq!(u[ENTERPRISE]["department"], department, "{op}: {u}");
        assert_eq!(u[ENTERPRISE]["employeeNumber"], "7", "{op}: {u}");
        assert!(u[ENTERPRISE].get("schemas").is_none(), "{op}: {u}");
    }
    let other = json!({"schemas": ["urn:example:other"], "department": "X"});
    let r = gw.patch_ops(
        &path,
        json!([{"op": "add", "path": ENTERPRISE, "value": other}]),
    );
    assert_scim_error(r, 400, Some("invalidValue"));
    assert_eq!(gw.fetch(&path)[ENTERPRISE]["department"], "Ops");
}

/// Okta deactivates with a path-less replace of `active`; nothing else changes.
#[test]
fn okta_deactivation() {
    let (gw, path) = with_user();
    let before = gw.fetch(&path);
    let u = patched(
        &gw,
        &path,
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(u["active"], false);
    for same in ["userName", "name", "emails", "title"] {
        assert_eq!(u[same], before[same], "{same}");
    }
    assert_ne!(version_of(&u), version_of(&before));
    assert_eq!(gw.user_names("active eq false"), ["ann@example.com"]);
}

/// A PATCH is atomic: when one operation fails, none is applied and the version stays.
#[test]
fn a_failing_operation_applies_nothing() {
    let (gw, path) = with_user();
    let before = gw.fetch(&path);
    assert_scim_error(
        gw.patch_ops(
            &path,
            json!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "id", "value": "other"},
            ]),
        ),
        400,
        Some("mutability"),
    );
    assert_eq!(gw.fetch(&path), before);
}

/// Okta renames a group with a path-less replace that echoes the unchanged `id`: accepted; a
/// different `id` is `400 mutability`.
#[test]
fn okta_group_rename_echoing_the_id() {
    let gw = Gateway::start();
    let member = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let gid = id_of(&create(&gw, "/Groups", &group("Sales", &[&member])));
    let path = format!("/Groups/{gid}");
    let g = patched(
        &gw,
        &path,
        json!([{"op": "replace", "value": {"id": gid, "displayName": "Sales EMEA"}}]),
    );
    assert_eq!(g["displayName"], "Sales EMEA");
    assert_eq!(g["members"][0]["value"], member.as_str());
    assert_scim_error(
        gw.patch_ops(
            &path,
            json!([{"op": "replace", "value": {"id": "other", "displayName": "X"}}]),
        ),
        400,
        Some("mutability"),
    );
    assert_eq!(gw.fetch(&path)["displayName"], "Sales EMEA");
}
