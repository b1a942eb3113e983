//! Durability across a clean restart: everything written is there afterwards, with the same
//! versions, indexes and memberships, and versions keep increasing.

use scim_gateway_e2e::{
    Gateway, assert_scim_error, create, expect, group, id_of, scratch_dir, user, version_of,
};
use serde_json::{Value, json};

/// A resource without `meta.location` (which names the old port).
fn without_location(mut resource: Value) -> Value {
    if let Some(meta) = resource["meta"].as_object_mut() {
        meta.remove("location");
    }
    if let Some(members) = resource["members"].as_array_mut() {
        for m in members {
            m.as_object_mut().map(|o| o.remove("$ref"));
        }
    }
    if let Some(groups) = resource["groups"].as_array_mut() {
        for g in groups {
            g.as_object_mut().map(|o| o.remove("$ref"));
        }
    }
    resource
}

/// Users, a changed user, a deleted user and a group are all as they were after the gateway
/// is stopped (SIGTERM) and started again on the same data directory; the `userName` index
/// still answers filters and enforces uniqueness; new versions do not repeat old ones.
#[test]
fn everything_survives_a_clean_restart() {
    let dir = scratch_dir("restart");
    let mut gw = Gateway::start_in(&dir, &[]);
    let mut ids: Vec<String> = (0..20)
        .map(|i| {
            id_of(&create(
                &gw,
                "/Users",
                &user(&format!("user{i}@example.com")),
            ))
        })
        .collect();
    let patched = format!("/Users/{}", ids[3]);
    expect(
        gw.patch_ops(
            &patched,
            json!([{"op": "replace", "path": "displayName", "value": "Three"}]),
        ),
        200,
    );
    assert_eq!(
        gw.delete(&format!("/Users/{}", ids[5])).status().as_u16(),
        204
    );
    let deleted = ids.remove(5);
    let gid = id_of(&create(
        &gw,
        "/Groups",
        &group("Sales", &[&ids[0], &ids[1]]),
    ));
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/Users/{id}"))
        .chain([format!("/Groups/{gid}")])
        .collect();
    let before: Vec<Value> = paths
        .iter()
        .map(|p| without_location(gw.fetch(p)))
        .collect();
    gw.stop();
    drop(gw);

    let gw = Gateway::start_in(&dir, &[]);
    let after: Vec<Value> = paths
        .iter()
        .map(|p| without_location(gw.fetch(p)))
        .collect();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a, b);
        assert_eq!(version_of(a), version_of(b));
    }
    assert_eq!(gw.list("/Users", &[("count", "0")])["totalResults"], 19);
    assert_scim_error(gw.get(&format!("/Users/{deleted}")), 404, None);
    assert_eq!(
        gw.user_names("userName eq \"USER7@example.com\""),
        ["user7@example.com"]
    );
    assert!(
        gw.user_names("userName eq \"user5@example.com\"")
            .is_empty()
    );
    assert_eq!(gw.fetch(&patched)["displayName"], "Three");
    assert_eq!(
        gw.fetch(&format!("/Users/{}", ids[0]))["groups"][0]["value"],
        gid.as_str()
    );
    assert_scim_error(
        gw.post("/Users", &user("user1@example.com")),
        409,
        Some("uniqueness"),
    );

    // The name of the deleted user is free; the new resource's version is a new one.
    let fresh = create(&gw, "/Users", &user("user5@example.com"));
    let fresh_version = version_of(&fresh);
    assert!(
        before.iter().all(|b| version_of(b) != fresh_version),
        "version {fresh_version} reused after restart"
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
