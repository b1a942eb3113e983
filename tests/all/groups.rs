//! The life of a Group over HTTP, its members, and the `groups` a User shows for them.

use scim_gateway_e2e::{
    GROUP_SCHEMA, Gateway, assert_scim_error, create, expect, group, header, id_of, member_ids,
    sorted, user, version_of,
};
use serde_json::{Value, json};

/// A user with a `displayName`, created; answers its id.
fn named_user(gw: &Gateway, user_name: &str, display: &str) -> String {
    let mut body = user(user_name);
    body["displayName"] = json!(display);
    id_of(&create(gw, "/Users", &body))
}

/// The group ids listed in a user's `groups`, in order (empty when the attribute is absent).
fn groups_of(gw: &Gateway, user_id: &str) -> Vec<String> {
    let got = gw.fetch(&format!("/Users/{user_id}"));
    got.get("groups")
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .map(|g| g["value"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// POST answers 201 with `Location`, `ETag` and `meta`; members carry `value`, `$ref`,
/// `display` and `type`; GET, PUT, PATCH and DELETE work as for users.
#[test]
fn group_crud_with_members() {
    let gw = Gateway::start();
    let ann = named_user(&gw, "ann@example.com", "Ann Lee");
    let bo = named_user(&gw, "bo@example.com", "Bo Berg");
    let r = gw.post("/Groups", &group("Sales", &[&ann]));
    let location = header(&r, "location").expect("Location header");
    let etag = header(&r, "etag").expect("ETag header");
    let created = expect(r, 201);
    let id = id_of(&created);
    assert_eq!(created["schemas"], json!([GROUP_SCHEMA]));
    assert_eq!(created["displayName"], "Sales");
    assert_eq!(created["meta"]["resourceType"], "Group");
    assert_eq!(created["meta"]["location"], location.as_str());
    assert!(location.ends_with(&format!("/Groups/{id}")), "{location}");
    assert_eq!(version_of(&created), etag);
    assert_eq!(created["meta"]["created"], created["meta"]["lastModified"]);
    let member = &created["members"][0];
    assert_eq!(member["value"], ann.as_str());
    assert_eq!(member["type"], "User");
    assert_eq!(member["display"], "Ann Lee");
    let member_ref = member["$ref"].as_str().expect("$ref");
    assert!(member_ref.starts_with("http://"), "{member_ref}");
    assert!(
        member_ref.ends_with(&format!("/scim/v2/Users/{ann}")),
        "{member_ref}"
    );
    assert_eq!(gw.fetch(&format!("/Groups/{id}")), created);

    // PUT replaces the member list and the name.
    let replaced = expect(
        gw.put(&format!("/Groups/{id}"), &group("Sales EMEA", &[&bo])),
        200,
    );
    assert_eq!(replaced["displayName"], "Sales EMEA");
    assert_eq!(
        replaced["members"].as_array().unwrap().len(),
        1,
        "{replaced}"
    );
    assert_eq!(replaced["members"][0]["value"], bo.as_str());
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
    assert_ne!(version_of(&replaced), version_of(&created));

    // A group's PATCH answers 204 with the new ETag, whatever the group's size...
    let r = gw.patch_ops(
        &format!("/Groups/{id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Sales"}]),
    );
    assert_eq!(r.status().as_u16(), 204);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let now = gw.fetch(&format!("/Groups/{id}"));
    assert_eq!(now["meta"]["version"], etag.as_str());
    assert_eq!(now["displayName"], "Sales");
    assert_eq!(now["members"], replaced["members"]);
    // ...and the group, shaped as asked, when the request asks for attributes.
    let patched = expect(
        gw.patch_ops(
            &format!("/Groups/{id}?attributes=displayName,members"),
            json!([{"op": "replace", "path": "displayName", "value": "Sales 2"}]),
        ),
        200,
    );
    assert_eq!(patched["displayName"], "Sales 2");
    assert_eq!(patched["members"], replaced["members"]);
    assert!(patched.get("meta").is_none(), "{patched}");

    let r = gw.delete(&format!("/Groups/{id}"));
    assert_eq!(r.status().as_u16(), 204);
    assert_scim_error(gw.get(&format!("/Groups/{id}")), 404, None);
    assert!(groups_of(&gw, &bo).is_empty());
}

/// A group whose member does not exist is refused (`400 invalidValue`), so `$ref` never points
/// nowhere.
#[test]
fn group_with_unknown_member_is_refused() {
    let gw = Gateway::start();
    assert_scim_error(
        gw.post(
            "/Groups",
            &group("Sales", &["2819c223-7f76-453a-919d-413861904646"]),
        ),
        400,
        Some("invalidValue"),
    );
    assert_eq!(gw.list("/Groups", &[])["totalResults"], 0);
}

/// `User.groups` is computed: it shows a group once the user is a member (value, `$ref`,
/// display, type), follows the group's renames, and disappears when the membership is removed.
#[test]
fn user_groups_follow_membership() {
    let gw = Gateway::start();
    let ann = named_user(&gw, "ann@example.com", "Ann Lee");
    assert!(groups_of(&gw, &ann).is_empty());
    let gid = id_of(&create(&gw, "/Groups", &group("Sales", &[])));
    expect(
        gw.patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
        ),
        204,
    );
    let got = gw.fetch(&format!("/Users/{ann}"));
    let entry = &got["groups"][0];
    assert_eq!(entry["value"], gid.as_str());
    assert_eq!(entry["display"], "Sales");
    assert_eq!(entry["type"], "direct");
    let group_ref = entry["$ref"].as_str().expect("$ref");
    assert!(
        group_ref.ends_with(&format!("/scim/v2/Groups/{gid}")),
        "{group_ref}"
    );

    // It follows a rename of the group.
    expect(
        gw.patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "displayName", "value": "Sales EMEA"}]),
        ),
        204,
    );
    assert_eq!(
        gw.fetch(&format!("/Users/{ann}"))["groups"][0]["display"],
        "Sales EMEA"
    );

    // The user list shows it too.
    let list = gw.list("/Users", &[("filter", "userName eq \"ann@example.com\"")]);
    assert_eq!(list["Resources"][0]["groups"][0]["value"], gid.as_str());

    expect(
        gw.patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
        ),
        204,
    );
    assert!(groups_of(&gw, &ann).is_empty());
}

/// `User.groups` is readOnly: a `groups` sent by the client on POST, PUT or PATCH changes no
/// membership.
#[test]
fn client_supplied_user_groups_are_ignored() {
    let gw = Gateway::start();
    let gid = id_of(&create(&gw, "/Groups", &group("Sales", &[])));
    let mut body = user("ann@example.com");
    body["groups"] = json!([{"value": gid, "display": "Sales"}]);
    let created = create(&gw, "/Users", &body);
    let ann = id_of(&created);
    assert!(created.get("groups").is_none(), "{created}");
    expect(gw.put(&format!("/Users/{ann}"), &body), 200);
    let sales = gw.fetch(&format!("/Groups/{gid}"));
    assert!(
        sales["members"].as_array().is_none_or(Vec::is_empty),
        "{sales}"
    );
    assert!(groups_of(&gw, &ann).is_empty());
}

/// Deleting a user removes it from every group it was in, and those groups get a new version.
#[test]
fn deleting_a_user_removes_its_memberships() {
    let gw = Gateway::start();
    let ann = named_user(&gw, "ann@example.com", "Ann");
    let bo = named_user(&gw, "bo@example.com", "Bo");
    let sales = create(&gw, "/Groups", &group("Sales", &[&ann, &bo]));
    let admins = create(&gw, "/Groups", &group("Admins", &[&ann]));
    assert_eq!(groups_of(&gw, &ann).len(), 2);

    assert_eq!(gw.delete(&format!("/Users/{ann}")).status().as_u16(), 204);
    for before in [&sales, &admins] {
        let after = gw.fetch(&format!("/Groups/{}", id_of(before)));
        assert_ne!(version_of(&after), version_of(before), "{after}");
        assert!(!member_ids(&after).contains(&ann), "{after}");
    }
    let sales = gw.fetch(&format!("/Groups/{}", id_of(&sales)));
    assert_eq!(member_ids(&sales), [bo]);
    let in_group = format!("members[value eq \"{ann}\"]");
    let list = gw.list("/Groups", &[("filter", &in_group)]);
    assert_eq!(list["totalResults"], 0, "{list}");
}

/// Concurrent PATCHes adding different members to one group (no `If-Match`) all succeed at the
/// first request and lose none of them: the gateway absorbs the contention itself.
#[test]
fn concurrent_member_adds_are_all_kept() {
    let gw = Gateway::start();
    let ids: Vec<String> = (0..16)
        .map(|i| id_of(&create(&gw, "/Users", &user(&format!("u{i}@example.com")))))
        .collect();
    let path = format!(
        "/Groups/{}",
        id_of(&create(&gw, "/Groups", &group("All", &[])))
    );
    std::thread::scope(|s| {
        for chunk in ids.chunks(2) {
            let (gw, path) = (&gw, &path);
            s.spawn(move || {
                for id in chunk {
                    let add = json!([{"op": "add", "path": "members", "value": [{"value": id}]}]);
                    let status = gw.patch_ops(path, add).status().as_u16();
                    assert_eq!(status, 204, "adding {id}");
                }
            });
        }
    });
    let all = gw.fetch(&path);
    assert_eq!(member_ids(&all), sorted(&ids));
    for id in &ids {
        assert_eq!(groups_of(&gw, id), [id_of(&all)]);
    }
}
