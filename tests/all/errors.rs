//! Bad requests get precise SCIM errors (RFC 7644 section 3.12): malformed bodies, media
//! types, size limits, filters, PATCH paths and targets, query parameters; and no input makes
//! the gateway answer 500.

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, USER_SCHEMA, assert_scim_error, create, expect, header, id_of, parts, patch_body,
    query, user,
};
use serde_json::json;

/// Sends `body` as raw bytes with the given Content-Type.
fn send_raw(
    gw: &Gateway,
    method: Method,
    path: &str,
    content_type: &str,
    body: impl Into<String>,
) -> reqwest::blocking::Response {
    gw.req(method, path)
        .header("content-type", content_type)
        .body(body.into())
        .send()
        .expect("request")
}

/// Malformed JSON is `400 invalidSyntax` on POST, PUT, PATCH and search; so is JSON that is
/// not an object.
#[test]
fn malformed_json_is_invalid_syntax() {
    let gw = Gateway::start();
    let path = format!(
        "/Users/{}",
        id_of(&create(&gw, "/Users", &user("ann@example.com")))
    );
    let ct = "application/scim+json";
    for (method, target) in [
        (Method::POST, "/Users"),
        (Method::PUT, path.as_str()),
        (Method::PATCH, path.as_str()),
        (Method::POST, "/Users/.search"),
        (Method::POST, "/Bulk"),
    ] {
        for bad in [r#"{"schemas": ["#, "", "not json", r#"{"a":1}}"#] {
            let r = send_raw(&gw, method.clone(), target, ct, bad);
            assert_scim_error(r, 400, Some("invalidSyntax"));
        }
    }
    for not_object in ["[]", "null", "\"user\"", "42"] {
        let r = send_raw(&gw, Method::POST, "/Users", ct, not_object);
        assert_scim_error(r, 400, Some("invalidSyntax"));
    }
    assert_eq!(gw.list("/Users", &[])["totalResults"], 1);
}

/// A body in another media type is `415`; `application/json` (with or without parameters)
/// and `application/scim+json; charset=utf-8` are accepted.
#[test]
fn content_types() {
    let gw = Gateway::start();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let r = send_raw(
            &gw,
            Method::POST,
            "/Users",
            ct,
            user("ann@example.com").to_string(),
        );
        assert_scim_error(r, 415, None);
    }
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);
    for (i, ct) in [
        "application/json",
        "application/json; charset=utf-8",
        "application/scim+json; charset=UTF-8",
        "Application/SCIM+JSON",
    ]
    .into_iter()
    .enumerate()
    {
        let body = user(&format!("user{i}@example.com")).to_string();
        let r = send_raw(&gw, Method::POST, "/Users", ct, body);
        let ct_out = header(&r, "content-type").unwrap_or_default();
        expect(r, 201);
        assert!(ct_out.starts_with("application/scim+json"), "{ct_out}");
    }
}

/// A body larger than `max_body_bytes` is `413` (a SCIM error), on POST, PUT and PATCH; a body
/// under the limit is accepted.
#[test]
fn body_over_max_body_bytes_is_413() {
    let gw = Gateway::start_with_config("max_body_bytes = 1024\n");
    let small = create(&gw, "/Users", &user("ann@example.com"));
    let path = format!("/Users/{}", id_of(&small));
    let mut big = user("bo@example.com");
    big["displayName"] = json!("x".repeat(2000));
    let r = gw.post("/Users", &big);
    assert_eq!(
        header(&r, "connection").as_deref(),
        Some("close"),
        "the unread body ends the connection, and the client is told so"
    );
    assert_scim_error(r, 413, None);
    assert_scim_error(gw.put(&path, &big), 413, None);
    let big_patch = patch_body(json!([
        {"op": "replace", "path": "displayName", "value": "y".repeat(2000)}
    ]));
    assert_scim_error(gw.patch(&path, &big_patch), 413, None);
    assert_eq!(gw.fetch(&path), small);
}

/// Filters that do not parse are `400 invalidFilter`, in the query string and in a search body.
#[test]
fn invalid_filters() {
    let gw = Gateway::start();
    create(&gw, "/Users", &user("ann@example.com"));
    for bad in [
        "",
        "userName",
        "userName eq",
        "userName xx \"a\"",
        "userName eq \"unterminated",
        "(userName eq \"a\"",
        "userName eq \"a\")",
        "userName eq \"a\" and",
        "userName eq \"a\" or or userName eq \"b\"",
        "not userName eq \"a\"",
        "emails[type eq \"work\"",
        "emails[type eq \"work\"].value co \"a\"",
        "userName eq 'single quotes'",
    ] {
        let r = gw.get(&format!("/Users{}", query(&[("filter", bad)])));
        assert_scim_error(r, 400, Some("invalidFilter"));
    }
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName eq"
    });
    assert_scim_error(gw.post("/Users/.search", &body), 400, Some("invalidFilter"));
    assert_scim_error(gw.post("/.search", &body), 400, Some("invalidFilter"));
}

/// RFC 7644 section 3.4.2.2: `gt`, `ge`, `lt` and `le` on a boolean attribute "SHALL cause a
/// failed response (i.e., HTTP status code 400) with scimType of invalidFilter".
#[test]
fn ordering_operators_on_booleans_are_invalid_filters() {
    let gw = Gateway::start();
    create(&gw, "/Users", &user("ann@example.com"));
    for op in ["gt", "ge", "lt", "le"] {
        let filter = format!("active {op} true");
        let r = gw.get(&format!("/Users{}", query(&[("filter", &filter)])));
        assert_scim_error(r, 400, Some("invalidFilter"));
    }
}

/// PATCH errors: a malformed or unknown path is `invalidPath`; a value filter matching nothing
/// on `replace` is `noTarget`, as is a `remove` without a path; a readOnly attribute is
/// `mutability`; a malformed PatchOp is `invalidSyntax`. Nothing changes.
#[test]
fn patch_errors() {
    let gw = Gateway::start();
    let path = format!(
        "/Users/{}",
        id_of(&create(&gw, "/Users", &user("ann@example.com")))
    );
    let before = gw.fetch(&path);
    let cases = [
        (
            json!({"op": "replace", "path": "name..givenName", "value": "A"}),
            "invalidPath",
        ),
        (
            json!({"op": "replace", "path": "name.", "value": "A"}),
            "invalidPath",
        ),
        (
            json!({"op": "replace", "path": "", "value": "A"}),
            "invalidPath",
        ),
        (
            json!({"op": "add", "path": "nickname2", "value": "A"}),
            "invalidPath",
        ),
        (
            json!({"op": "add", "path": "name.middle", "value": "A"}),
            "invalidPath",
        ),
        (
            json!({"op": "replace", "path": "urn:example:x:User:title", "value": "A"}),
            "invalidPath",
        ),
        (
            json!({"op": "replace", "path": "emails[type eq \"home\"]",
                   "value": {"value": "ann@home.org"}}),
            "noTarget",
        ),
        (json!({"op": "remove"}), "noTarget"),
        (
            json!({"op": "replace", "path": "id", "value": "other"}),
            "mutability",
        ),
        (
            json!({"op": "replace", "path": "meta.created", "value": "2000-01-01T00:00:00Z"}),
            "mutability",
        ),
        (
            json!({"op": "add", "path": "groups", "value": [{"value": "x"}]}),
            "mutability",
        ),
        (
            json!({"op": "move", "path": "title", "value": "A"}),
            "invalidSyntax",
        ),
        (json!({"op": "add", "path": "title"}), "invalidSyntax"),
    ];
    for (op, scim_type) in cases {
        let r = gw.patch_ops(&path, json!([op.clone()]));
        let (status, body) = parts(r);
        assert_eq!(
            (status, body["scimType"].as_str()),
            (400, Some(scim_type)),
            "{op} answered {body}"
        );
    }
    // The full error shape, once.
    assert_scim_error(
        gw.patch_ops(
            &path,
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        ),
        400,
        Some("mutability"),
    );
    let no_schema = json!({"Operations": [{"op": "replace", "path": "title", "value": "A"}]});
    assert_scim_error(gw.patch(&path, &no_schema), 400, Some("invalidSyntax"));
    assert_scim_error(
        gw.patch(&path, &patch_body(json!([]))),
        400,
        Some("invalidSyntax"),
    );
    assert_eq!(gw.fetch(&path), before);
}

/// Non-integer `count` and `startIndex` are `400 invalidValue`; negative ones are read as 0
/// and 1 (RFC 7644 section 3.4.2.4); `count` is capped at `maxResults`.
#[test]
fn paging_parameters() {
    let gw = Gateway::start_with_config("[scim]\nmax_results = 2\n");
    for name in ["a@example.com", "b@example.com", "c@example.com"] {
        create(&gw, "/Users", &user(name));
    }
    for (k, v) in [("count", "abc"), ("count", "1.5"), ("startIndex", "x")] {
        let r = gw.get(&format!("/Users{}", query(&[(k, v)])));
        assert_scim_error(r, 400, Some("invalidValue"));
    }
    let negative = gw.list("/Users", &[("count", "-5")]);
    assert_eq!(negative["totalResults"], 3);
    assert_eq!(negative["itemsPerPage"], 0);
    let below_one = gw.list("/Users", &[("startIndex", "-3"), ("count", "1")]);
    assert_eq!(below_one["startIndex"], 1);
    assert_eq!(below_one["itemsPerPage"], 1);
    let capped = gw.list("/Users", &[("count", "10")]);
    assert_eq!(capped["totalResults"], 3);
    assert_eq!(capped["itemsPerPage"], 2);
    let uncounted = gw.list("/Users", &[]);
    assert_eq!(uncounted["itemsPerPage"], 2);
    let spc = gw.fetch("/ServiceProviderConfig");
    assert_eq!(spc["filter"]["maxResults"], 2);
}

/// Wrong methods on resource paths are `405`, wrong ids `404`, and a user id is not a group.
#[test]
fn wrong_methods_and_ids() {
    let gw = Gateway::start();
    let id = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    assert_scim_error(gw.post(&format!("/Users/{id}"), &user("x")), 405, None);
    assert_scim_error(gw.put("/Users", &user("x")), 405, None);
    assert_scim_error(gw.delete("/Users"), 405, None);
    assert_scim_error(gw.get(&format!("/Groups/{id}")), 404, None);
    assert_scim_error(gw.get("/Users/no-such-id"), 404, None);
    assert_scim_error(gw.get("/Users/%ZZ"), 404, None);
}

/// A battery of odd requests: each gets a 4xx answer, never a 5xx, and the gateway keeps
/// serving.
#[test]
fn nothing_answers_500() {
    let gw = Gateway::start();
    let id = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let gid = id_of(&create(
        &gw,
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G"}),
    ));
    let user_path = format!("/Users/{id}");
    let group_path = format!("/Groups/{gid}");
    let bodies = [
        json!({"schemas": [USER_SCHEMA], "userName": "z", "emails": [null]}),
        json!({"schemas": [USER_SCHEMA], "userName": "z", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
        json!({"schemas": [USER_SCHEMA], "userName": "z", "name": {"givenName": {"nested": true}}}),
        json!({"schemas": [USER_SCHEMA], "userName": "z", "active": null, "emails": {"value": "x"}}),
        json!({"schemas": [USER_SCHEMA], "userName": "\u{0}\u{ffff}", "displayName": 1e308}),
        json!({"schemas": [USER_SCHEMA], "userName": ["a"]}),
        json!({"schemas": [], "userName": "z"}),
        json!({"schemas": "nope"}),
        json!({"schemas": [USER_SCHEMA], "userName": "z", "meta": "not an object", "id": 5}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G2", "members": [{"value": id, "type": "Martian"}]}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G3", "members": [{"value": gid, "type": "Group"}]}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G4", "members": "everyone"}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G5", "members": [{"value": null}, {}]}),
    ];
    let patches = [
        json!([{"op": "add", "path": "emails[value eq \"x\"].primary", "value": "maybe"}]),
        json!([{"op": "replace", "path": "members[value eq \"x\"].value", "value": id}]),
        json!([{"op": "replace", "value": "not an object"}]),
        json!([{"op": "replace", "value": {"name.givenName.x": "A"}}]),
        json!([{"op": "add", "path": "emails", "value": null}]),
        json!([{"op": "remove", "path": "members[value pr]"}]),
        json!([{"op": "replace", "path": "emails[not (type eq \"work\")]", "value": []}]),
        json!([null, 1, "x"]),
        json!({"op": "replace"}),
    ];
    let mut checked = 0;
    let mut check = |r: reqwest::blocking::Response, what: &str| {
        let status = r.status().as_u16();
        assert!(status < 500, "{what} answered {status}: {:?}", r.text());
        checked += 1;
    };
    for b in &bodies {
        for endpoint in ["/Users", "/Groups"] {
            check(gw.post(endpoint, b), &format!("POST {endpoint} {b}"));
        }
        check(gw.put(&user_path, b), &format!("PUT user {b}"));
        check(gw.put(&group_path, b), &format!("PUT group {b}"));
    }
    for ops in &patches {
        for p in [&user_path, &group_path] {
            check(
                gw.patch(p, &patch_body(ops.clone())),
                &format!("PATCH {p} {ops}"),
            );
        }
    }
    let queries = [
        "filter=meta.created gt \"not a date\"",
        "filter=userName eq 12",
        "filter=active eq \"True\"",
        "filter=emails[value sw \"a\" and not (type pr)]",
        "filter=name pr and name.givenName gt 3",
        "filter=members[value eq 1]",
        "sortBy=emails",
        "sortBy=meta.created&sortOrder=descending",
        "sortBy=nosuch",
        "attributes=emails[type eq \"work\"]",
        "attributes=nosuch.sub,,",
        "excludedAttributes=id,schemas",
        "startIndex=99999999999999999999",
        "count=99999999999999",
    ];
    for q in queries {
        let url = format!("/Users?{}", q.replace(' ', "%20").replace('"', "%22"));
        check(gw.get(&url), q);
        check(gw.get(&url.replacen("/Users", "/Groups", 1)), q);
    }
    assert_eq!(
        checked,
        bodies.len() * 4 + patches.len() * 2 + queries.len() * 2
    );
    assert_eq!(gw.fetch(&user_path)["userName"], "ann@example.com");
}
