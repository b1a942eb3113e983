//! The life of a User over HTTP: create, read, replace, patch, delete, and the Enterprise User
//! extension.

use scim_gateway_e2e::{
    ENTERPRISE, Gateway, USER_SCHEMA, assert_scim_error, create, expect, header, id_of, user,
    version_of,
};
use serde_json::json;

/// Millisecond timestamps: wait long enough that `lastModified` of the next write must differ.
fn let_the_clock_tick() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

/// POST answers 201 with `Location` and `ETag` headers matching `meta.location` and
/// `meta.version`, and a full `meta`; GET by id answers the same resource.
#[test]
fn post_answers_201_with_location_etag_and_meta() {
    let gw = Gateway::start();
    let r = gw.post("/Users", &user("ann@example.com"));
    let location = header(&r, "location").expect("Location header");
    let etag = header(&r, "etag").expect("ETag header");
    let created = expect(r, 201);
    let id = id_of(&created);
    let meta = &created["meta"];
    assert_eq!(meta["resourceType"], "User");
    assert_eq!(meta["location"], location.as_str());
    assert!(
        location.ends_with(&format!("/scim/v2/Users/{id}")),
        "{location}"
    );
    assert!(location.starts_with(gw.origin()), "{location}");
    assert_eq!(meta["version"], etag.as_str());
    let stamp = meta["created"].as_str().expect("meta.created");
    assert!(stamp.contains('T') && stamp.len() >= 20, "{stamp}");
    assert_eq!(meta["lastModified"], stamp);
    assert_eq!(created["schemas"], json!([USER_SCHEMA]));
    assert_eq!(created["userName"], "ann@example.com");
    assert_eq!(created["name"]["familyName"], "Family");
    assert_eq!(created["emails"][0]["value"], "ann@example.com");
    assert_eq!(created["active"], true);

    let r = gw.get(&format!("/Users/{id}"));
    assert_eq!(header(&r, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(expect(r, 200), created);
}

/// PUT replaces the whole resource: attributes not sent are removed, `id` and `meta` in the
/// body are ignored, `created` stays while `lastModified` and the version change.
#[test]
fn put_replaces_the_whole_user() {
    let gw = Gateway::start();
    let mut body = user("ann@example.com");
    body["title"] = json!("Engineer");
    body["displayName"] = json!("Ann");
    let created = create(&gw, "/Users", &body);
    let id = id_of(&created);
    let_the_clock_tick();

    let replacement = json!({
        "schemas": [USER_SCHEMA],
        "id": "not-the-id",
        "meta": {"created": "2000-01-01T00:00:00Z", "version": "W/\"999\""},
        "userName": "ann.lee@example.com",
        "displayName": "Ann Lee"
    });
    let r = gw.put(&format!("/Users/{id}"), &replacement);
    let etag = header(&r, "etag").expect("ETag header");
    let replaced = expect(r, 200);
    assert_eq!(id_of(&replaced), id);
    assert_eq!(replaced["userName"], "ann.lee@example.com");
    assert_eq!(replaced["displayName"], "Ann Lee");
    for gone in ["title", "name", "emails", "active"] {
        assert!(
            replaced.get(gone).is_none(),
            "{gone} survived PUT: {replaced}"
        );
    }
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
    assert_ne!(
        replaced["meta"]["lastModified"],
        created["meta"]["lastModified"]
    );
    assert_ne!(version_of(&replaced), version_of(&created));
    assert_ne!(version_of(&replaced), "W/\"999\"");
    assert_eq!(version_of(&replaced), etag);
    assert_eq!(gw.fetch(&format!("/Users/{id}")), replaced);
    assert_eq!(gw.get("/Users/not-the-id").status().as_u16(), 404);
}

/// PATCH answers 200 with the whole changed resource and a new version.
#[test]
fn patch_answers_200_with_the_resource() {
    let gw = Gateway::start();
    let created = create(&gw, "/Users", &user("ann@example.com"));
    let id = id_of(&created);
    let r = gw.patch_ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Ann L."}]),
    );
    let etag = header(&r, "etag").expect("ETag header");
    let patched = expect(r, 200);
    assert_eq!(patched["displayName"], "Ann L.");
    assert_eq!(patched["userName"], "ann@example.com");
    assert_eq!(patched["emails"], created["emails"]);
    assert_eq!(version_of(&patched), etag);
    assert_ne!(etag, version_of(&created));
    assert_eq!(gw.fetch(&format!("/Users/{id}")), patched);
}

/// DELETE answers 204 with no body; afterwards GET, PUT, PATCH and DELETE answer 404.
#[test]
fn delete_answers_204_then_404() {
    let gw = Gateway::start();
    let id = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let path = format!("/Users/{id}");
    let r = gw.delete(&path);
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.text().unwrap_or_default().is_empty());
    assert_scim_error(gw.get(&path), 404, None);
    assert_scim_error(gw.delete(&path), 404, None);
    assert_scim_error(gw.put(&path, &user("ann@example.com")), 404, None);
    assert_scim_error(
        gw.patch_ops(
            &path,
            json!([{"op": "replace", "path": "active", "value": false}]),
        ),
        404,
        None,
    );
    let list = gw.list("/Users", &[]);
    assert_eq!(list["totalResults"], 0, "{list}");
}

/// The Enterprise User extension (employeeNumber, department, manager.value) round-trips
/// through POST, GET and PUT, and is filterable by its URN-qualified path.
#[test]
fn enterprise_extension_round_trips_and_filters() {
    let gw = Gateway::start();
    let boss = id_of(&create(&gw, "/Users", &user("boss@example.com")));
    let with_ext = |name: &str, department: &str| {
        let mut body = user(name);
        body["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
        body[ENTERPRISE] = json!({
            "employeeNumber": "701984",
            "department": department,
            "manager": {"value": boss}
        });
        body
    };
    let ann = create(&gw, "/Users", &with_ext("ann@example.com", "Sales"));
    create(&gw, "/Users", &with_ext("bo@example.com", "Support"));
    let ext = &ann[ENTERPRISE];
    assert_eq!(ext["employeeNumber"], "701984");
    assert_eq!(ext["department"], "Sales");
    assert_eq!(ext["manager"]["value"], boss.as_str());
    assert!(
        ann["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE)),
        "{ann}"
    );
    let id = id_of(&ann);
    assert_eq!(gw.fetch(&format!("/Users/{id}"))[ENTERPRISE], *ext);

    let sales = format!("{ENTERPRISE}:department eq \"Sales\"");
    assert_eq!(gw.user_names(&sales), ["ann@example.com"]);
    let managed = format!("{ENTERPRISE}:manager.value eq \"{boss}\"");
    assert_eq!(
        gw.user_names(&managed),
        ["ann@example.com", "bo@example.com"]
    );

    let moved = with_ext("ann@example.com", "Marketing");
    let replaced = expect(gw.put(&format!("/Users/{id}"), &moved), 200);
    assert_eq!(replaced[ENTERPRISE]["department"], "Marketing");
    assert!(gw.user_names(&sales).is_empty());
}
