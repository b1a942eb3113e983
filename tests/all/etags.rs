//! ETags (RFC 7644 section 3.14): the `ETag` header is `meta.version`; `If-None-Match` answers
//! 304 for the current version; `If-Match` makes PUT, PATCH and DELETE conditional.

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, assert_scim_error, create, expect, group, header, id_of, patch_body, user, version_of,
};
use serde_json::{Value, json};

/// Sends `method` to `path` with `body` (if any) and one extra header.
fn with_header(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<&Value>,
    name: &str,
    value: &str,
) -> reqwest::blocking::Response {
    let mut req = gw.req(method, path).header(name, value);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    req.send().expect("request")
}

/// A PATCH body changing `displayName`.
fn rename(to: &str) -> Value {
    patch_body(json!([{"op": "replace", "path": "displayName", "value": to}]))
}

/// Every response carrying a resource has an `ETag` equal to its `meta.version`, for users
/// and groups, and listed resources carry their version too.
#[test]
fn etag_header_is_meta_version() {
    let gw = Gateway::start();
    let check = |r: reqwest::blocking::Response, status: u16| -> Value {
        let etag = header(&r, "etag").expect("ETag header");
        let body = expect(r, status);
        assert_eq!(version_of(&body), etag);
        assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
        body
    };
    let created = check(gw.post("/Users", &user("ann@example.com")), 201);
    let path = format!("/Users/{}", id_of(&created));
    let got = check(gw.get(&path), 200);
    assert_eq!(version_of(&got), version_of(&created));
    let put = check(gw.put(&path, &user("ann@example.com")), 200);
    let patched = check(gw.patch(&path, &rename("Ann")), 200);
    let versions = [&created, &put, &patched].map(version_of);
    assert!(
        versions[0] != versions[1] && versions[1] != versions[2] && versions[0] != versions[2],
        "{versions:?}"
    );
    let listed = gw.list("/Users", &[]);
    assert_eq!(listed["Resources"][0]["meta"]["version"], versions[2]);

    let g = check(gw.post("/Groups", &group("G", &[])), 201);
    check(gw.get(&format!("/Groups/{}", id_of(&g))), 200);
}

/// `If-None-Match` with the current version answers `304` with no body; with an older one,
/// the resource.
#[test]
fn if_none_match_answers_304_for_the_current_version() {
    let gw = Gateway::start();
    let created = create(&gw, "/Users", &user("ann@example.com"));
    let path = format!("/Users/{}", id_of(&created));
    let old = version_of(&created);
    let current = version_of(&expect(gw.patch(&path, &rename("Ann")), 200));

    let r = with_header(&gw, Method::GET, &path, None, "if-none-match", &current);
    assert_eq!(r.status().as_u16(), 304);
    assert_eq!(header(&r, "etag").as_deref(), Some(current.as_str()));
    assert!(r.text().unwrap_or_default().is_empty());

    let r = with_header(&gw, Method::GET, &path, None, "if-none-match", &old);
    let body = expect(r, 200);
    assert_eq!(version_of(&body), current);
    assert_eq!(body["displayName"], "Ann");
}

/// `If-Match` with a stale version makes PUT, PATCH and DELETE fail with `412` (a SCIM error)
/// and change nothing.
#[test]
fn if_match_with_a_stale_version_is_412() {
    let gw = Gateway::start();
    let created = create(&gw, "/Users", &user("ann@example.com"));
    let path = format!("/Users/{}", id_of(&created));
    let stale = version_of(&created);
    let current = expect(gw.patch(&path, &rename("Ann")), 200);

    let put_body = user("ann@example.com");
    let attempts = [
        (Method::PUT, Some(put_body)),
        (Method::PATCH, Some(rename("Stale"))),
        (Method::DELETE, None),
    ];
    for (method, body) in attempts {
        let r = with_header(&gw, method, &path, body.as_ref(), "if-match", &stale);
        assert_scim_error(r, 412, None);
    }
    assert_eq!(gw.fetch(&path), current);
}

/// `If-Match` with the current version, or `*`, lets PUT, PATCH and DELETE through.
#[test]
fn if_match_with_the_current_version_or_star_succeeds() {
    let gw = Gateway::start();
    let created = create(&gw, "/Users", &user("ann@example.com"));
    let path = format!("/Users/{}", id_of(&created));

    let v = version_of(&created);
    let r = with_header(
        &gw,
        Method::PATCH,
        &path,
        Some(&rename("A")),
        "if-match",
        &v,
    );
    let after_patch = expect(r, 200);
    assert_eq!(after_patch["displayName"], "A");

    let v = version_of(&after_patch);
    let r = with_header(
        &gw,
        Method::PUT,
        &path,
        Some(&user("ann@example.com")),
        "if-match",
        &v,
    );
    let after_put = expect(r, 200);
    assert!(after_put.get("displayName").is_none());

    let r = with_header(
        &gw,
        Method::PATCH,
        &path,
        Some(&rename("B")),
        "if-match",
        "*",
    );
    assert_eq!(expect(r, 200)["displayName"], "B");
    let r = with_header(
        &gw,
        Method::PUT,
        &path,
        Some(&user("ann@example.com")),
        "if-match",
        "*",
    );
    expect(r, 200);

    let current = version_of(&gw.fetch(&path));
    let r = with_header(&gw, Method::DELETE, &path, None, "if-match", &current);
    assert_eq!(r.status().as_u16(), 204);

    let other = id_of(&create(&gw, "/Users", &user("bo@example.com")));
    let r = with_header(
        &gw,
        Method::DELETE,
        &format!("/Users/{other}"),
        None,
        "if-match",
        "*",
    );
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);
}
