//! Bad requests get precise SCIM errors (RFC 7644 section 3.12): malformed bodies, media
//! types, size limits, filters, PATCH paths and targets, query parameters; and no input makes
//! the gateway answer 500.

use reqwest::Method;
use reqwest::blocking::Response;
use scim_gateway_e2e::{
    GROUP_SCHEMA, Gateway, LIST_RESPONSE, USER_SCHEMA, assert_scim_error, create, expect, header,
    id_of, parts, patch_body, query, user,
};
use serde_json::{Value, json};

/// The SCIM error message URN.
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

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
fn a_body_in_another_media_type_is_415_and_json_media_types_are_accepted() {
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
fn filters_that_do_not_parse_are_invalid_filter() {
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
        "emails[type eq \"work\"].value",
        "emails[type eq \"work\"].value co",
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
fn a_bad_patch_operation_is_refused_with_its_scim_type_and_changes_nothing() {
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
fn non_integer_paging_is_invalid_value_negative_paging_is_clamped_and_count_capped() {
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
fn wrong_methods_are_405_and_unknown_ids_404() {
    let gw = Gateway::start();
    let id = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    assert_scim_error(gw.post(&format!("/Users/{id}"), &user("x")), 405, None);
    assert_scim_error(gw.put("/Users", &user("x")), 405, None);
    assert_scim_error(gw.delete("/Users"), 405, None);
    assert_scim_error(gw.get(&format!("/Groups/{id}")), 404, None);
    assert_scim_error(gw.get("/Users/no-such-id"), 404, None);
    assert_scim_error(gw.get("/Users/%ZZ"), 404, None);
}

/// Asserts that `r` refuses the request as a client error: a 4xx status and a SCIM error body
/// (RFC 7644 section 3.12) that repeats it.
#[track_caller]
fn assert_refused(r: Response, what: &str) {
    let ct = header(&r, "content-type").unwrap_or_default();
    let (status, body) = parts(r);
    assert!(
        (400..500).contains(&status),
        "{what}: a 4xx, not {status}: {body}"
    );
    assert!(
        ct.starts_with("application/scim+json"),
        "{what}: content-type {ct}"
    );
    assert_eq!(body["schemas"], json!([ERROR]), "{what}: {body}");
    assert_eq!(body["status"], status.to_string(), "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: a detail: {body}"
    );
}

/// Asserts that `r` answers `status` with a SCIM resource of `schema` (or a ListResponse).
#[track_caller]
fn assert_answered(r: Response, status: u16, schema: &str, what: &str) {
    let (got, body) = parts(r);
    assert_eq!(got, status, "{what}: {body}");
    assert_eq!(body["schemas"][0], schema, "{what}: {body}");
}

/// A battery of odd requests. Those that are wrong are refused with a 4xx SCIM error, each on
/// its own merits (every body has its own `userName` or `displayName`, so none is refused just
/// as a duplicate); those that are odd but valid (a `null` in a list, an Entra-style filtered
/// PATCH that adds an element, a filter matching nothing) are answered properly. None answers
/// 5xx, and the gateway keeps serving.
#[test]
fn odd_requests_are_refused_with_a_4xx_scim_error_or_answered_never_with_a_5xx() {
    let gw = Gateway::start();
    let id = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let gid = id_of(&create(
        &gw,
        "/Groups",
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "G"}),
    ));
    let sub = id_of(&create(
        &gw,
        "/Groups",
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Sub"}),
    ));
    let user_path = format!("/Users/{id}");
    let group_path = format!("/Groups/{gid}");
    // (valid, body): a valid user or group body is taken by its own endpoint, and refused by
    // the other's; an invalid one is refused by both.
    let users = [
        (true, json!({"emails": [null]})),
        (true, json!({"meta": "not an object", "id": 5})),
        (
            false,
            json!({"emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
        ),
        (false, json!({"name": {"givenName": {"nested": true}}})),
        (true, json!({"active": null, "emails": {"value": "x"}})),
        (false, json!({"displayName": 1e308})),
        (false, json!({"userName": ["a"]})),
        (
            false,
            json!({"userName": "\u{0}\u{ffff}", "title": {"not": "a string"}}),
        ),
        (false, json!({"schemas": []})),
        (false, json!({"schemas": "nope"})),
    ];
    let groups = [
        (true, json!({"members": [{"value": sub, "type": "Group"}]})),
        (true, json!({"members": [{"value": null}, {}]})),
        (
            false,
            json!({"members": [{"value": id, "type": "Martian"}]}),
        ),
        (false, json!({"members": "everyone"})),
        (false, json!({"schemas": "nope"})),
    ];
    let mut checked = 0;
    for (i, (valid, odd)) in users.iter().enumerate() {
        let mut body = json!({"schemas": [USER_SCHEMA], "userName": format!("odd{i}@example.com")});
        merge(&mut body, odd);
        let shown = body.to_string();
        let what = |m: &str| format!("{m} {shown}");
        if *valid {
            assert_answered(
                gw.post("/Users", &body),
                201,
                USER_SCHEMA,
                &what("POST /Users"),
            );
            body["userName"] = json!(format!("odd{i}-put@example.com"));
            assert_answered(
                gw.put(&user_path, &body),
                200,
                USER_SCHEMA,
                &what("PUT user"),
            );
        } else {
            assert_refused(gw.post("/Users", &body), &what("POST /Users"));
            assert_refused(gw.put(&user_path, &body), &what("PUT user"));
        }
        assert_refused(gw.post("/Groups", &body), &what("POST /Groups"));
        assert_refused(gw.put(&group_path, &body), &what("PUT group"));
        checked += 4;
    }
    for (i, (valid, odd)) in groups.iter().enumerate() {
        let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Odd {i}")});
        merge(&mut body, odd);
        let shown = body.to_string();
        let what = |m: &str| format!("{m} {shown}");
        if *valid {
            assert_answered(
                gw.post("/Groups", &body),
                201,
                GROUP_SCHEMA,
                &what("POST /Groups"),
            );
            body["displayName"] = json!(format!("Odd {i} put"));
            assert_answered(
                gw.put(&group_path, &body),
                200,
                GROUP_SCHEMA,
                &what("PUT group"),
            );
        } else {
            assert_refused(gw.post("/Groups", &body), &what("POST /Groups"));
            assert_refused(gw.put(&group_path, &body), &what("PUT group"));
        }
        assert_refused(gw.post("/Users", &body), &what("POST /Users"));
        assert_refused(gw.put(&user_path, &body), &what("PUT user"));
        checked += 4;
    }
    // (operations, valid on the user, valid on the group)
    let patches = [
        (
            json!([{"op": "add", "path": "emails[value eq \"x\"].primary", "value": "maybe"}]),
            false,
            false,
        ),
        (
            json!([{"op": "replace", "path": "members[value eq \"x\"].value", "value": id}]),
            false,
            true,
        ),
        (
            json!([{"op": "replace", "value": "not an object"}]),
            false,
            false,
        ),
        (
            json!([{"op": "replace", "value": {"name.givenName.x": "A"}}]),
            false,
            false,
        ),
        (
            json!([{"op": "add", "path": "emails", "value": null}]),
            true,
            false,
        ),
        (
            json!([{"op": "remove", "path": "members[value pr]"}]),
            false,
            true,
        ),
        (
            json!([{"op": "replace", "path": "emails[not (type eq \"work\")]", "value": []}]),
            false,
            false,
        ),
        (json!([null, 1, "x"]), false, false),
        (json!({"op": "replace"}), false, false),
    ];
    for (ops, on_user, on_group) in &patches {
        for (path, valid, schema) in [
            (&user_path, on_user, USER_SCHEMA),
            (&group_path, on_group, GROUP_SCHEMA),
        ] {
            let r = gw.patch(path, &patch_body(ops.clone()));
            let what = format!("PATCH {path} {ops}");
            if *valid && schema == GROUP_SCHEMA {
                // A group's PATCH answers 204 with the new ETag and no body.
                assert_eq!(r.status().as_u16(), 204, "{what}");
                assert!(r.headers().contains_key("etag"), "{what}");
            } else if *valid {
                assert_answered(r, 200, schema, &what);
            } else {
                assert_refused(r, &what);
            }
            checked += 1;
        }
    }
    // Odd but valid queries are answered (a filter that matches nothing, an unknown sortBy or
    // attribute); a number out of range is refused.
    let queries = [
        ("filter=meta.created gt \"not a date\"", true),
        ("filter=userName eq 12", true),
        ("filter=active eq \"True\"", true),
        ("filter=emails[value sw \"a\" and not (type pr)]", true),
        ("filter=name pr and name.givenName gt 3", true),
        ("filter=members[value eq 1]", true),
        ("sortBy=emails", true),
        ("sortBy=meta.created&sortOrder=descending", true),
        ("sortBy=nosuch", true),
        ("attributes=emails[type eq \"work\"]", true),
        ("attributes=nosuch.sub,,", true),
        ("excludedAttributes=id,schemas", true),
        ("count=99999999999999", true),
        ("startIndex=99999999999999999999", false),
        ("count=1e3", false),
    ];
    for (q, valid) in queries {
        let url = format!("/Users?{}", q.replace(' ', "%20").replace('"', "%22"));
        for url in [url.clone(), url.replacen("/Users", "/Groups", 1)] {
            if valid {
                assert_answered(gw.get(&url), 200, LIST_RESPONSE, &url);
            } else {
                assert_refused(gw.get(&url), &url);
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        (users.len() + groups.len()) * 4 + patches.len() * 2 + queries.len() * 2
    );
    assert_eq!(
        gw.fetch(&user_path)["id"],
        id.as_str(),
        "the gateway keeps serving"
    );
}

/// Merges the members of `extra` (an object) into `body`.
fn merge(body: &mut Value, extra: &Value) {
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
}
