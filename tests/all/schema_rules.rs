//! The schema's rules on input (RFC 7643 section 2.2 and 7): readOnly attributes are ignored,
//! required ones enforced, `userName` unique case-insensitively, passwords write-only, unknown
//! attributes and schemas refused, types checked.

use scim_gateway_e2e::{
    ENTERPRISE, GROUP_SCHEMA, Gateway, USER_SCHEMA, assert_scim_error, create, expect, id_of, user,
};
use serde_json::json;

/// `id` and `meta` sent by the client are ignored on POST: the server assigns both.
#[test]
fn read_only_attributes_are_ignored_on_input() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["id"] = json!("client-chosen-id");
    body["meta"] = json!({
        "resourceType": "Group",
        "created": "2000-01-01T00:00:00Z",
        "lastModified": "2000-01-01T00:00:00Z",
        "version": "W/\"client\""
    });
    let created = create(&gw, "/Users", &body);
    let id = id_of(&created);
    assert_ne!(id, "client-chosen-id");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_ne!(created["meta"]["created"], "2000-01-01T00:00:00Z");
    assert_ne!(created["meta"]["version"], "W/\"client\"");
    assert_scim_error(gw.get("/Users/client-chosen-id"), 404, None);
    assert_eq!(
        gw.fetch(&format!("/Users/{id}"))["userName"],
        "ann@example.com"
    );
}

/// A user without `userName` (on POST, PUT, or by PATCH removal) and a group without
/// `displayName` are refused with `400 invalidValue`.
#[test]
fn required_attributes_are_enforced() {
    let gw = Gateway::start();
    let no_name = json!({"schemas": [USER_SCHEMA], "displayName": "Nobody"});
    assert_scim_error(gw.post("/Users", &no_name), 400, Some("invalidValue"));
    let mut empty = user("");
    empty["emails"] = json!([]);
    assert_scim_error(gw.post("/Users", &empty), 400, Some("invalidValue"));
    assert_scim_error(
        gw.post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "members": []}),
        ),
        400,
        Some("invalidValue"),
    );

    let path = format!(
        "/Users/{}",
        id_of(&create(&gw, "/Users", &user("ann@example.com")))
    );
    assert_scim_error(gw.put(&path, &no_name), 400, Some("invalidValue"));
    assert_scim_error(
        gw.patch_ops(&path, json!([{"op": "remove", "path": "userName"}])),
        400,
        Some("invalidValue"),
    );
    assert_eq!(gw.fetch(&path)["userName"], "ann@example.com");
    assert_eq!(gw.list("/Users", &[])["totalResults"], 1);
    assert_eq!(gw.list("/Groups", &[])["totalResults"], 0);
}

/// `userName` is unique without regard to case: a second user with it in other case is a
/// `409 uniqueness`, on POST, on PUT and on a PATCH rename; the name is free again once its
/// holder is deleted.
#[test]
fn user_name_is_unique_case_insensitively() {
    let gw = Gateway::start();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    assert_scim_error(
        gw.post("/Users", &user("ANN@Example.com")),
        409,
        Some("uniqueness"),
    );
    let bo_path = format!(
        "/Users/{}",
        id_of(&create(&gw, "/Users", &user("bo@example.com")))
    );
    assert_scim_error(
        gw.put(&bo_path, &user("Ann@example.COM")),
        409,
        Some("uniqueness"),
    );
    assert_scim_error(
        gw.patch_ops(
            &bo_path,
            json!([{"op": "replace", "path": "userName", "value": "ann@EXAMPLE.com"}]),
        ),
        409,
        Some("uniqueness"),
    );
    assert_eq!(gw.fetch(&bo_path)["userName"], "bo@example.com");
    assert_eq!(gw.list("/Users", &[])["totalResults"], 2);

    // A user may change the case of its own name.
    let own = format!("/Users/{ann}");
    let renamed = expect(
        gw.patch_ops(
            &own,
            json!([{"op": "replace", "path": "userName", "value": "Ann@example.com"}]),
        ),
        200,
    );
    assert_eq!(renamed["userName"], "Ann@example.com");

    assert_eq!(gw.delete(&own).status().as_u16(), 204);
    create(&gw, "/Users", &user("ann@example.com"));
}

/// A `userName` is unique as people read it, not byte for byte: names that differ only in
/// case (with full case folding), width, Unicode composition or surrounding white space are one
/// name (`409`), and a name holding a control or invisible character is refused (`400
/// invalidValue`). A filter finds a user by any of its name's forms.
#[test]
fn user_names_that_look_alike_are_one_name_and_invisible_characters_are_refused() {
    let gw = Gateway::start();
    create(&gw, "/Users", &user("alice@example.com"));
    let cafe = id_of(&create(&gw, "/Users", &user("caf\u{e9}@example.com")));
    create(&gw, "/Users", &user("strasse@example.com"));
    for taken in [
        "alice@example.com ",
        " Alice@Example.com",
        "\u{ff41}lice@example.com",
        "cafe\u{301}@example.com",
        "CAF\u{c9}@EXAMPLE.COM",
        "Stra\u{df}e@example.com",
    ] {
        let e = assert_scim_error(gw.post("/Users", &user(taken)), 409, Some("uniqueness"));
        assert!(
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("already taken")),
            "{taken:?}: {e}"
        );
    }
    for invisible in [
        "alice\u{200b}@example.com",
        "al\u{202e}ice@example.com",
        "\u{feff}bob@example.com",
        "bob\t@example.com",
        "bob\u{7f}@example.com",
    ] {
        let e = assert_scim_error(
            gw.post("/Users", &user(invisible)),
            400,
            Some("invalidValue"),
        );
        assert!(
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("invisible")),
            "{invisible:?}: {e}"
        );
    }
    let found = gw.list(
        "/Users",
        &[("filter", "userName eq \"CAFE\u{301}@example.com\"")],
    );
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(id_of(&found["Resources"][0]), cafe);
    assert_eq!(gw.list("/Users", &[])["totalResults"], 3);
}

/// A password is accepted on POST, PUT and PATCH and never returned.
#[test]
fn password_is_accepted_but_never_returned() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["password"] = json!("t0p-Secret!");
    let created = create(&gw, "/Users", &body);
    assert!(created.get("password").is_none(), "{created}");
    let path = format!("/Users/{}", id_of(&created));
    let replaced = expect(gw.put(&path, &body), 200);
    assert!(replaced.get("password").is_none(), "{replaced}");
    let patched = expect(
        gw.patch_ops(
            &path,
            json!([{"op": "replace", "path": "password", "value": "n3w-Secret!"}]),
        ),
        200,
    );
    assert!(patched.get("password").is_none(), "{patched}");
    let got = gw.fetch(&path);
    assert!(got.get("password").is_none(), "{got}");
    assert!(!got.to_string().contains("Secret"), "{got}");
    let list = gw.list("/Users", &[("filter", "userName pr")]);
    assert!(!list.to_string().contains("Secret"), "{list}");
}

/// An attribute no schema defines is refused (`400 invalidValue`) on POST and PUT, and
/// nothing is stored.
#[test]
fn unknown_attributes_are_refused() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["adreses"] = json!([{"locality": "Oslo"}]);
    assert_scim_error(gw.post("/Users", &body), 400, Some("invalidValue"));
    let mut sub = user("ann@example.com");
    sub["name"]["middle"] = json!("X");
    assert_scim_error(gw.post("/Users", &sub), 400, Some("invalidValue"));
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);

    let path = format!(
        "/Users/{}",
        id_of(&create(&gw, "/Users", &user("ann@example.com")))
    );
    assert_scim_error(gw.put(&path, &body), 400, Some("invalidValue"));
    let mut group = json!({"schemas": [GROUP_SCHEMA], "displayName": "G"});
    group["color"] = json!("red");
    assert_scim_error(gw.post("/Groups", &group), 400, Some("invalidValue"));
}

/// A body without `schemas` is `400 invalidSyntax`; a schema URN the resource type does not
/// have (unknown, or another type's) is `400`.
#[test]
fn schemas_must_be_present_and_known() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body.as_object_mut().unwrap().remove("schemas");
    assert_scim_error(gw.post("/Users", &body), 400, Some("invalidSyntax"));

    let mut unknown = user("ann@example.com");
    unknown["schemas"] = json!([USER_SCHEMA, "urn:example:params:scim:schemas:extension:x"]);
    assert_scim_error(gw.post("/Users", &unknown), 400, Some("invalidValue"));

    let mut as_key = user("ann@example.com");
    as_key["urn:example:params:scim:schemas:extension:x"] = json!({"a": 1});
    assert_scim_error(gw.post("/Users", &as_key), 400, Some("invalidValue"));

    let mut wrong_type = user("ann@example.com");
    wrong_type["schemas"] = json!([GROUP_SCHEMA]);
    let r = gw.post("/Users", &wrong_type);
    assert_eq!(r.status().as_u16(), 400);

    let mut group_with_ext = json!({"schemas": [GROUP_SCHEMA, ENTERPRISE], "displayName": "G"});
    group_with_ext[ENTERPRISE] = json!({"department": "Sales"});
    assert_scim_error(
        gw.post("/Groups", &group_with_ext),
        400,
        Some("invalidValue"),
    );
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);
    assert_eq!(gw.list("/Groups", &[])["totalResults"], 0);
}

/// Values of the wrong type are refused with `400 invalidValue`.
#[test]
fn values_must_have_the_attribute_type() {
    let gw = Gateway::start();
    for (attr, value) in [
        ("active", json!("yes")),
        ("active", json!(1)),
        ("userName", json!(42)),
        ("emails", json!("ann@example.com")),
        ("name", json!("Ann Lee")),
    ] {
        let mut body = user("ann@example.com");
        body[attr] = value;
        assert_scim_error(gw.post("/Users", &body), 400, Some("invalidValue"));
    }
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);
}

/// Concurrent creates of one `userName` (in different case): exactly one wins, the others get
/// `409 uniqueness`.
#[test]
fn concurrent_creates_of_one_user_name_admit_one() {
    let gw = Gateway::start();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let gw = &gw;
                s.spawn(move || {
                    let name = if i % 2 == 0 {
                        "race@example.com"
                    } else {
                        "RACE@example.com"
                    };
                    let r = gw.post("/Users", &user(name));
                    let status = r.status().as_u16();
                    if status == 409 {
                        assert_scim_error(r, 409, Some("uniqueness"));
                    }
                    status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(gw.list("/Users", &[])["totalResults"], 1);
}

/// Attribute names are case-insensitive (RFC 7643 section 2.1): `UserName` and
/// `NAME.GivenName` are stored as `userName` and `name.givenName`.
#[test]
fn attribute_names_are_case_insensitive() {
    let gw = Gateway::start();
    let created = create(
        &gw,
        "/Users",
        &json!({
            "schemas": [USER_SCHEMA],
            "UserName": "ann@example.com",
            "NAME": {"GivenName": "Ann"},
            "Emails": [{"Value": "ann@example.com", "TYPE": "work"}]
        }),
    );
    assert_eq!(created["userName"], "ann@example.com");
    assert_eq!(created["name"], json!({"givenName": "Ann"}));
    assert_eq!(created["emails"][0]["value"], "ann@example.com");
    assert_eq!(created["emails"][0]["type"], "work");
    assert!(created.get("UserName").is_none() && created.get("NAME").is_none());
    assert_eq!(
        gw.user_names("username EQ \"ANN@example.com\""),
        ["ann@example.com"]
    );
}
