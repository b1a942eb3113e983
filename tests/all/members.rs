//! Group membership at any size: a membership PATCH changes only the members it names, the
//! membership checks Entra ID sends read only those members, concurrent clients are serialized
//! (never `409`), a deleted user's groups tell their connectors, and a burst of membership
//! changes reaches a connector coalesced.

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, Target, build_plugin, create, eventually, group, header, id_of, sorted, user,
    version_of,
};
use serde_json::{Value, json};

/// Makes connector `name` (the echo plugin, forwarding every event to `sink`) for `types`.
fn connect(gw: &Gateway, name: &str, sink: &Target, types: &[&str]) {
    let wasm = std::fs::read(build_plugin("echo", &[])).expect("echo.wasm");
    let plugin = gw.install_plugin(wasm);
    let (status, c) = gw.admin_send(
        Method::PUT,
        &format!("/admin/v1/connectors/{name}"),
        &json!({"plugin": plugin["id"], "resource_types": types,
                "config": {"url": sink.origin}, "allowed_hosts": [sink.origin]}),
    );
    assert_eq!(status, 201, "{c}");
}

/// Creates `n` users (`m{i}@example.com`) through `/Bulk`, 1,000 a request; answers their ids.
fn bulk_users(gw: &Gateway, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for batch in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Value> = batch
            .iter()
            .map(|n| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{n}"),
                       "data": user(&format!("m{n}@example.com"))})
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                          "Operations": ops});
        let answer = scim_gateway_e2e::expect(gw.post("/Bulk", &body), 200);
        for op in answer["Operations"].as_array().expect("operations") {
            let location = op["location"].as_str().expect("location");
            ids.push(location.rsplit('/').next().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(ids.len(), n);
    ids
}

/// A gateway's first `n` users' userNames by id, read a page of 1,000 at a time.
fn user_names_by_id(gw: &Gateway, n: usize) -> std::collections::HashMap<String, String> {
    let mut names = std::collections::HashMap::new();
    for start in (1..=n).step_by(1000) {
        let start = start.to_string();
        let list = gw.list("/Users", &[("startIndex", &start), ("count", "1000")]);
        for u in list["Resources"].as_array().into_iter().flatten() {
            names.insert(
                id_of(u),
                u["userName"].as_str().unwrap_or_default().to_owned(),
            );
        }
    }
    names
}

/// The userNames of `group`'s members, sorted (`unknown ID` for a member not in `names`).
fn member_names(names: &std::collections::HashMap<String, String>, group: &Value) -> Vec<String> {
    let mut found: Vec<String> = member_ids(group)
        .iter()
        .map(|id| {
            names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("unknown {id}"))
        })
        .collect();
    found.sort();
    found
}

fn add(id: &str) -> Value {
    json!([{"op": "add", "path": "members", "value": [{"value": id}]}])
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["value"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Entra ID's membership check, `filter=id eq "G" and members[value eq "U"]` with
/// `excludedAttributes=members`, answers 1 for a member and 0 for anyone else, and shows no
/// members; `excludedAttributes=members` on a GET leaves them out, a plain GET shows them all.
#[test]
fn the_entra_membership_check_answers_without_the_members() {
    let gw = Gateway::start();
    let ids: Vec<String> = (0..30)
        .map(|i| id_of(&create(&gw, "/Users", &user(&format!("m{i}@example.com")))))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = id_of(&create(&gw, "/Groups", &group("Staff", &refs[..29])));
    let check = |u: &str| {
        let filter = format!("id eq \"{g}\" and members[value eq \"{u}\"]");
        gw.list(
            "/Groups",
            &[("filter", &filter), ("excludedAttributes", "members")],
        )
    };
    let yes = check(&ids[3]);
    assert_eq!(yes["totalResults"], 1, "{yes}");
    assert!(yes["Resources"][0].get("members").is_none(), "{yes}");
    assert_eq!(yes["Resources"][0]["displayName"], "Staff");
    assert_eq!(check(&ids[29])["totalResults"], 0, "not a member");
    // Without excludedAttributes, the group found is served with all its members.
    let filter = format!("members[value eq \"{}\"]", ids[3]);
    let found = gw.list("/Groups", &[("filter", &filter)]);
    assert_eq!(member_ids(&found["Resources"][0]).len(), 29, "{found}");

    let bare = gw.fetch(&format!("/Groups/{g}?excludedAttributes=members"));
    assert!(bare.get("members").is_none(), "{bare}");
    let whole = gw.fetch(&format!("/Groups/{g}"));
    let mut want: Vec<String> = ids[..29].to_vec();
    want.sort();
    assert_eq!(member_ids(&whole), want);
}

/// Eight clients adding members to one group at once, none with `If-Match`: every request
/// answers `204` (never `409`), and the group ends with every member once.
#[test]
fn eight_clients_adding_to_one_group_all_succeed() {
    let gw = Gateway::start();
    let g = id_of(&create(&gw, "/Groups", &group("All staff", &[])));
    let ids: Vec<String> = (0..80)
        .map(|i| id_of(&create(&gw, "/Users", &user(&format!("c{i}@example.com")))))
        .collect();
    let path = format!("/Groups/{g}");
    std::thread::scope(|s| {
        for chunk in ids.chunks(10) {
            let (gw, path) = (&gw, &path);
            s.spawn(move || {
                for id in chunk {
                    let r = gw.patch_ops(path, add(id));
                    let status = r.status().as_u16();
                    assert_eq!(status, 204, "adding {id}: {}", r.text().unwrap_or_default());
                }
            });
        }
    });
    let mut want = ids.clone();
    want.sort();
    assert_eq!(member_ids(&gw.fetch(&path)), want);
}

/// A membership PATCH changes only the members it names: removing one by filter, one by
/// Entra's value form, and adding one back leaves the others as they were; a PATCH that asks
/// for attributes gets the group shaped that way.
#[test]
fn a_membership_patch_changes_only_the_members_it_names() {
    let gw = Gateway::start();
    let ids: Vec<String> = (0..5)
        .map(|i| id_of(&create(&gw, "/Users", &user(&format!("p{i}@example.com")))))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = id_of(&create(&gw, "/Groups", &group("G", &refs[..4])));
    let path = format!("/Groups/{g}");
    let ops = json!([
        {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
        {"op": "Remove", "path": "members", "value": [{"value": ids[1]}]},
        {"op": "add", "path": "members", "value": [{"value": ids[4]}]},
    ]);
    let shaped = gw.patch_ops(&format!("{path}?attributes=members"), ops);
    assert_eq!(shaped.status().as_u16(), 200);
    let shaped: Value = shaped.json().unwrap();
    let mut want = vec![ids[2].clone(), ids[3].clone(), ids[4].clone()];
    want.sort();
    assert_eq!(member_ids(&shaped), want, "{shaped}");
    assert_eq!(member_ids(&gw.fetch(&path)), want);
    // An unknown member is refused, and nothing of the PATCH is kept.
    let r = gw.patch_ops(
        &path,
        json!([{"op": "add", "path": "members", "value": [{"value": ids[0]}, {"value": "nobody"}]}]),
    );
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(member_ids(&gw.fetch(&path)), want);
}

/// Deleting a user delivers the membership change of every group it was in to the connectors
/// that hold those groups; its user's own delete is delivered too.
#[test]
fn a_user_delete_tells_the_connectors_of_its_groups() {
    let gw = Gateway::start();
    let sink = Target::start();
    connect(&gw, "echo", &sink, &["User", "Group"]);
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let bo = id_of(&create(&gw, "/Users", &user("bo@example.com")));
    let g1 = id_of(&create(&gw, "/Groups", &group("One", &[&ann, &bo])));
    let g2 = id_of(&create(&gw, "/Groups", &group("Two", &[&ann])));
    eventually(|| match sink.delivered().len() {
        4 => Ok(()),
        n => Err(format!("{n} of 4 creates delivered")),
    });
    assert_eq!(gw.delete(&format!("/Users/{ann}")).status().as_u16(), 204);
    eventually(|| {
        let events = sink.delivered();
        let about = |id: &str| {
            events
                .iter()
                .rfind(|e| e["id"] == id && e["operation"] == "replace")
                .cloned()
        };
        let (Some(e1), Some(e2)) = (about(&g1), about(&g2)) else {
            return Err(format!("no group replace yet: {events:?}"));
        };
        let members = |e: &Value| -> Vec<String> {
            let resource: Value = match &e["resource"] {
                Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                v => v.clone(),
            };
            member_ids(&resource)
        };
        if members(&e1) != vec![bo.clone()] || !members(&e2).is_empty() {
            return Err(format!("groups still list ann: {e1} {e2}"));
        }
        if !events
            .iter()
            .any(|e| e["id"] == ann.as_str() && e["operation"] == "delete")
        {
            return Err("the user's delete is not delivered".into());
        }
        Ok(())
    });
}

/// A burst of single-member adds while the connector is busy reaches it coalesced: far fewer
/// deliveries than changes, in order, the last carrying every member.
#[test]
fn a_burst_of_membership_changes_is_coalesced() {
    let gw = Gateway::start();
    let sink = Target::start();
    connect(&gw, "echo", &sink, &["Group"]);
    let ids: Vec<String> = (0..60)
        .map(|i| id_of(&create(&gw, "/Users", &user(&format!("b{i}@example.com")))))
        .collect();
    sink.hold();
    let g = id_of(&create(&gw, "/Groups", &group("Burst", &[])));
    eventually(|| match sink.held().len() {
        1 => Ok(()),
        n => Err(format!("{n} held")),
    });
    // The create is in flight: every add queues behind it.
    for id in &ids {
        assert_eq!(
            gw.patch_ops(&format!("/Groups/{g}"), add(id))
                .status()
                .as_u16(),
            204
        );
    }
    sink.stop_holding();
    let mut want = ids.clone();
    want.sort();
    eventually(|| {
        let events = sink.delivered();
        let last = events.last().cloned().unwrap_or(Value::Null);
        let resource: Value = match &last["resource"] {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            v => v.clone(),
        };
        let pending = gw.admin("/admin/v1/jobs")["total"].as_u64();
        if member_ids(&resource) == want && pending == Some(0) {
            Ok(())
        } else {
            Err(format!(
                "{} deliveries so far, {pending:?} jobs",
                events.len()
            ))
        }
    });
    let events = sink.delivered();
    let ops: Vec<&str> = events
        .iter()
        .map(|e| e["operation"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ops[0], "create");
    assert!(ops[1..].iter().all(|o| *o == "replace"), "{ops:?}");
    assert!(
        events.len() <= 3,
        "60 adds behind a held create took {} deliveries",
        events.len()
    );
    // Every job is accounted for as delivered, none dead.
    let dead = gw.admin("/admin/v1/jobs?state=dead");
    assert_eq!(dead["total"], 0, "{dead}");
}

/// A 5,000-member group reaches a second gateway through `scim2` in requests of at most 100
/// members: created with the first 100, then filled a chunk per PATCH (49). Then 250
/// single-member removes, made while the target is unreachable, reach it coalesced as three
/// or four PATCHes once it is back. The target ends with exactly the source's members.
#[test]
fn a_5000_member_group_reaches_a_second_gateway_in_chunks_and_a_burst_coalesced() {
    let b = Gateway::start();
    let relay = scim_gateway_e2e::Relay::new();
    relay.forward_to(b.origin());
    let origin = relay.origin();
    let a = Gateway::start_with_config(&format!(
        "[delivery]\nbase_delay_ms = 50\nmax_delay_ms = 200\nmax_attempts = 1000\n\n\
         [[connectors]]\nname = \"b\"\nplugin = \"scim2\"\nallowed_hosts = [\"{origin}\"]\n\
         [connectors.config]\nbase_url = \"{origin}/scim/v2\"\nupdate = \"patch\"\n\
         [connectors.secrets]\ntoken = \"{}\"\n",
        scim_gateway_e2e::TOKEN
    ));
    let ids = bulk_users(&a, 5000);
    eventually(|| {
        let total = b.list("/Users", &[("count", "0")])["totalResults"].clone();
        scim_gateway_e2e::when(total == 5000, &format!("b has {total} users of 5000"))
    });
    let patches = |gw: &Gateway| {
        let m = gw.metrics();
        ["200", "204"]
            .iter()
            .filter_map(|status| {
                m.find(
                    "scim_gateway_http_requests_total",
                    &[
                        ("route", "/scim/v2/{endpoint}/{id}"),
                        ("method", "PATCH"),
                        ("status", status),
                    ],
                )
            })
            .sum::<f64>()
    };
    let before = patches(&b);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = id_of(&create(&a, "/Groups", &group("All staff", &refs)));
    let at_b = |expected: usize| {
        let mut found = Value::Null;
        eventually(|| {
            let list = b.list("/Groups", &[("filter", "displayName eq \"All staff\"")]);
            found = list["Resources"][0].clone();
            let n = found["members"].as_array().map_or(0, Vec::len);
            scim_gateway_e2e::when(n == expected, &format!("b's group has {n} of {expected}"))
        });
        found
    };
    let remote = at_b(5000);
    assert_eq!(
        patches(&b) - before,
        49.0,
        "created with 100 members, then the other 4,900, 100 a PATCH"
    );
    let (at_a, at_b_names) = (user_names_by_id(&a, 5000), user_names_by_id(&b, 5000));
    assert_eq!(
        member_names(&at_b_names, &remote),
        member_names(&at_a, &a.fetch(&format!("/Groups/{g}")))
    );

    relay.cut();
    let before = patches(&b);
    for id in &ids[..250] {
        let r = a.patch_ops(
            &format!("/Groups/{g}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
        );
        assert_eq!(r.status().as_u16(), 204);
    }
    relay.forward_to(b.origin());
    let remote_after = at_b(4750);
    // One attempt may already be on its way when the target comes back, carrying the removes
    // queued by then; the rest follow in one more: 3 PATCHes, or 4 (never one per remove).
    let sent = patches(&b) - before;
    assert!(
        (3.0..=4.0).contains(&sent),
        "250 removes, coalesced, 100 a PATCH: {sent} PATCHes"
    );
    let source = a.fetch(&format!("/Groups/{g}"));
    let expected = member_names(&at_a, &source);
    assert_eq!(expected.len(), 4750);
    assert!(
        !expected.contains(&"m0@example.com".to_owned()),
        "m0 was removed"
    );
    assert_eq!(
        member_names(&at_b_names, &remote_after),
        expected,
        "the target holds exactly the source's members"
    );
}

/// A full read of a group with more members than a page is streamed (chunked, so neither
/// gateway nor client needs it whole at once) and still complete: every member once with its
/// `$ref`, the `ETag` of the version shown, `attributes` applied to each member, `304` for a
/// current `If-None-Match`, and the same members in a list. A small group is sent whole.
#[test]
fn a_big_groups_full_read_is_streamed_complete_and_projected() {
    let gw = Gateway::start();
    let ids = bulk_users(&gw, 2500);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = id_of(&create(&gw, "/Groups", &group("All staff", &refs)));
    let small = id_of(&create(&gw, "/Groups", &group("Few", &refs[..3])));
    let mut expected = ids.clone();
    expected.sort();

    let r = gw.get(&format!("/Groups/{g}"));
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "transfer-encoding").as_deref(),
        Some("chunked"),
        "streamed"
    );
    let etag = header(&r, "etag").expect("an ETag");
    let whole: Value = r.json().expect("JSON");
    assert_eq!(member_ids(&whole), expected, "every member, once");
    assert_eq!(whole["displayName"], "All staff");
    assert_eq!(etag, version_of(&whole), "the ETag is the version shown");
    for m in whole["members"].as_array().expect("members") {
        let value = m["value"].as_str().expect("value");
        assert!(
            m["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with(&format!("/Users/{value}"))),
            "{m}"
        );
    }

    let projected = gw.fetch(&format!("/Groups/{g}?attributes=members.value"));
    assert!(
        projected.get("displayName").is_none(),
        "{}",
        projected["displayName"]
    );
    let members = projected["members"].as_array().expect("members");
    assert_eq!(members.len(), 2500);
    assert!(members.iter().all(|m| {
        m.as_object()
            .is_some_and(|o| o.len() == 1 && o.contains_key("value"))
    }));
    let excluded = gw.fetch(&format!("/Groups/{g}?excludedAttributes=members.$ref"));
    let members = excluded["members"].as_array().expect("members");
    assert_eq!(members.len(), 2500);
    assert!(
        members
            .iter()
            .all(|m| m.get("$ref").is_none() && m.get("value").is_some())
    );

    let unchanged = gw
        .req(Method::GET, &format!("/Groups/{g}"))
        .header("If-None-Match", &etag)
        .send()
        .expect("GET");
    assert_eq!(unchanged.status(), 304);

    let listed = gw.list("/Groups", &[("filter", "displayName eq \"All staff\"")]);
    assert_eq!(
        member_ids(&listed["Resources"][0]),
        expected,
        "a filtered list"
    );
    let all = gw.list("/Groups", &[]);
    let both = all["Resources"].as_array().expect("resources");
    let sizes: Vec<usize> = both.iter().map(|g| member_ids(g).len()).collect();
    assert_eq!(
        sorted(&sizes.iter().map(usize::to_string).collect::<Vec<_>>()),
        ["2500", "3"]
    );

    let r = gw.get(&format!("/Groups/{small}"));
    assert!(
        header(&r, "content-length").is_some(),
        "a small group is sent whole"
    );
    assert_eq!(member_ids(&r.json().expect("JSON")).len(), 3);
}

/// A reconcile sends a group of 2,500 members to a second gateway whole, read from the store a
/// page at a time: the target ends with exactly the source's members.
#[test]
fn a_reconcile_sends_a_big_group_whole_to_a_second_gateway() {
    let b = Gateway::start();
    let a = Gateway::start_with_config(
        "[delivery]\nbase_delay_ms = 50\nmax_delay_ms = 200\nmax_attempts = 1000\n",
    );
    let ids = bulk_users(&a, 2500);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    create(&a, "/Groups", &group("All staff", &refs));
    let (status, c) = a.admin_send(
        Method::PUT,
        "/admin/v1/connectors/b",
        &json!({"plugin": "scim2", "resource_types": ["User", "Group"],
                "config": {"base_url": format!("{}/scim/v2", b.origin()), "update": "patch"},
                "secrets": {"token": scim_gateway_e2e::TOKEN}, "allowed_hosts": [b.origin()]}),
    );
    assert_eq!(status, 201, "{c}");
    let (status, run) = a.admin_send(
        Method::POST,
        "/admin/v1/connectors/b/reconcile",
        &Value::Null,
    );
    assert_eq!(status, 202, "{run}");
    let mut remote = Value::Null;
    eventually(|| {
        let list = b.list("/Groups", &[("filter", "displayName eq \"All staff\"")]);
        remote = list["Resources"][0].clone();
        let n = remote["members"].as_array().map_or(0, Vec::len);
        scim_gateway_e2e::when(n == 2500, &format!("b's group has {n} of 2500"))
    });
    let source = a.list("/Groups", &[])["Resources"][0].clone();
    assert_eq!(
        member_names(&user_names_by_id(&b, 2500), &remote),
        member_names(&user_names_by_id(&a, 2500), &source),
        "exactly the source's members"
    );
}
