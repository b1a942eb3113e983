//! `/Bulk` (RFC 7644 section 3.7): every method, `bulkId` references in any order,
//! `failOnErrors`, per-operation statuses and errors, and the request limits.

use scim_gateway_e2e::{
    BULK_REQUEST, BULK_RESPONSE, GROUP_SCHEMA, Gateway, assert_scim_error, create, expect, id_of,
    member_ids, patch_body, scratch_dir, sorted, user, version_of, write_config,
};
use serde_json::{Value, json};

/// A BulkRequest body.
fn bulk_body(ops: Value, fail_on_errors: Option<u64>) -> Value {
    let mut body = json!({"schemas": [BULK_REQUEST], "Operations": ops});
    if let Some(n) = fail_on_errors {
        body["failOnErrors"] = json!(n);
    }
    body
}

/// Posts a bulk request; asserts `200` and a BulkResponse; answers its operations.
#[track_caller]
fn run_bulk(gw: &Gateway, ops: Value, fail_on_errors: Option<u64>) -> Vec<Value> {
    let body = expect(gw.post("/Bulk", &bulk_body(ops, fail_on_errors)), 200);
    assert_eq!(body["schemas"], json!([BULK_RESPONSE]), "{body}");
    body["Operations"].as_array().expect("Operations").clone()
}

/// A bulk POST of a user.
fn post_user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": user(user_name)})
}

/// The statuses of a BulkResponse's operations, in order.
fn statuses(ops: &[Value]) -> Vec<&str> {
    ops.iter().map(|o| o["status"].as_str().unwrap()).collect()
}

/// The id at the end of a `location`.
fn id_in(location: &Value) -> String {
    location
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("a location")
        .to_owned()
}

/// POST, PUT, PATCH and DELETE in one request: each answers its status as a string ("201",
/// "200", "200", "204") with `location` and `version`, and each took effect.
#[test]
fn every_method_in_one_request() {
    let gw = Gateway::start();
    let bo = create(&gw, "/Users", &user("bo@example.com"));
    let cy = create(&gw, "/Users", &user("cy@example.com"));
    let di = create(&gw, "/Users", &user("di@example.com"));
    let mut bo_new = user("bo@example.com");
    bo_new["displayName"] = json!("Bo Berg");
    let ops = run_bulk(
        &gw,
        json!([
            post_user("ann", "ann@example.com"),
            {"method": "PUT", "path": format!("/Users/{}", id_of(&bo)), "data": bo_new},
            {"method": "PATCH", "path": format!("/Users/{}", id_of(&cy)),
             "data": patch_body(json!([{"op": "replace", "path": "active", "value": false}]))},
            {"method": "DELETE", "path": format!("/Users/{}", id_of(&di))},
        ]),
        None,
    );
    assert_eq!(statuses(&ops), ["201", "200", "200", "204"]);
    assert_eq!(ops[0]["bulkId"], "ann");
    assert_eq!(ops[0]["method"], "POST");
    assert_eq!(ops[3]["method"], "DELETE");
    assert!(ops.iter().all(|o| o.get("response").is_none()), "{ops:?}");

    let ann = gw.fetch(&format!("/Users/{}", id_in(&ops[0]["location"])));
    assert_eq!(ann["userName"], "ann@example.com");
    assert_eq!(ops[0]["version"], version_of(&ann).as_str());
    assert_eq!(ops[0]["location"], ann["meta"]["location"]);

    let bo_now = gw.fetch(&format!("/Users/{}", id_of(&bo)));
    assert_eq!(bo_now["displayName"], "Bo Berg");
    assert_eq!(ops[1]["version"], version_of(&bo_now).as_str());
    assert_eq!(gw.fetch(&format!("/Users/{}", id_of(&cy)))["active"], false);
    assert_scim_error(gw.get(&format!("/Users/{}", id_of(&di))), 404, None);
}

/// `bulkId:` references resolve to the ids created in the same request, even when the group
/// operation is listed before the users it names.
#[test]
fn bulk_id_references_in_any_order() {
    let gw = Gateway::start();
    let ops = run_bulk(
        &gw,
        json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g1",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "Sales",
                      "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
            post_user("u1", "ann@example.com"),
            post_user("u2", "bo@example.com"),
        ]),
        None,
    );
    assert_eq!(statuses(&ops), ["201", "201", "201"]);
    let bulk_ids: Vec<&str> = ops.iter().map(|o| o["bulkId"].as_str().unwrap()).collect();
    assert_eq!(bulk_ids, ["g1", "u1", "u2"], "answers in request order");
    let (g, u1, u2) = (
        id_in(&ops[0]["location"]),
        id_in(&ops[1]["location"]),
        id_in(&ops[2]["location"]),
    );
    let sales = gw.fetch(&format!("/Groups/{g}"));
    assert_eq!(member_ids(&sales), sorted(&[&u1, &u2]));
    assert_eq!(
        gw.fetch(&format!("/Users/{u1}"))["groups"][0]["value"],
        g.as_str()
    );
}

/// References that all point forward: group k lists group k+1, and the last lists a user that
/// comes last of all. Every operation waits for the next one, and all run, each group holding
/// its member (the operations are taken up again as their creators run, not in a pass each).
#[test]
fn a_chain_of_forward_references_runs_whole() {
    let gw = Gateway::start();
    let n = 300;
    let mut ops: Vec<Value> = (0..n)
        .map(|k| {
            let next = if k + 1 < n {
                format!("bulkId:g{}", k + 1)
            } else {
                "bulkId:u".to_owned()
            };
            let kind = if k + 1 < n { "Group" } else { "User" };
            json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{k}"),
                   "data": {"schemas": [GROUP_SCHEMA], "displayName": format!("G{k}"),
                            "members": [{"value": next, "type": kind}]}})
        })
        .collect();
    ops.push(post_user("u", "end@example.com"));
    let answers = run_bulk(&gw, Value::Array(ops), None);
    assert!(
        statuses(&answers).iter().all(|s| *s == "201"),
        "{:?}",
        statuses(&answers)
    );
    let ids: Vec<String> = answers.iter().map(|o| id_in(&o["location"])).collect();
    for k in 0..n {
        let g = gw.fetch(&format!("/Groups/{}", ids[k]));
        assert_eq!(member_ids(&g), [ids[k + 1].clone()], "G{k}");
    }
}

/// A `bulkId` is a surrogate id (RFC 7644 section 3.7): a later PATCH, PUT or DELETE may
/// address the new resource as `/Users/bulkId:X` in its path.
#[test]
fn bulk_id_in_a_later_operation_path() {
    let gw = Gateway::start();
    let ops = run_bulk(
        &gw,
        json!([
            post_user("u1", "ann@example.com"),
            post_user("u2", "bo@example.com"),
            {"method": "PATCH", "path": "/Users/bulkId:u1",
             "data": patch_body(json!([{"op": "replace", "path": "displayName", "value": "Ann"}]))},
            {"method": "DELETE", "path": "/Users/bulkId:u2"},
        ]),
        None,
    );
    assert_eq!(statuses(&ops), ["201", "201", "200", "204"], "{ops:?}");
    let u1 = id_in(&ops[0]["location"]);
    assert_eq!(gw.fetch(&format!("/Users/{u1}"))["displayName"], "Ann");
    assert_eq!(gw.user_names("userName pr"), ["ann@example.com"]);
}

/// Operations that reference each other in a cycle cannot run: `409` for each; a reference to a
/// `bulkId` nobody creates fails its operation. Others still run.
#[test]
fn circular_and_dangling_references_fail_their_operations() {
    let gw = Gateway::start();
    let group_op = |bulk_id: &str, member: &str| {
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
               "data": {"schemas": [GROUP_SCHEMA], "displayName": bulk_id,
                        "members": [{"value": format!("bulkId:{member}"), "type": "Group"}]}})
    };
    let ops = run_bulk(
        &gw,
        json!([
            group_op("a", "b"),
            group_op("b", "a"),
            group_op("c", "nobody"),
            post_user("u", "ann@example.com"),
        ]),
        None,
    );
    assert_eq!(statuses(&ops), ["409", "409", "400", "201"]);
    for failed in &ops[..3] {
        let err = &failed["response"];
        assert_eq!(
            err["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(err["status"], failed["status"]);
    }
    assert_eq!(gw.list("/Groups", &[])["totalResults"], 0);
    assert_eq!(gw.list("/Users", &[])["totalResults"], 1);
}

/// A failing operation carries a SCIM error `response` with its status; without
/// `failOnErrors` the rest still run.
#[test]
fn errors_are_reported_per_operation() {
    let gw = Gateway::start();
    create(&gw, "/Users", &user("taken@example.com"));
    let ops = run_bulk(
        &gw,
        json!([
            post_user("dup", "TAKEN@example.com"),
            {"method": "POST", "path": "/Users", "bulkId": "bad",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}},
            {"method": "DELETE", "path": "/Users/no-such-id"},
            post_user("ok", "ann@example.com"),
        ]),
        None,
    );
    assert_eq!(statuses(&ops), ["409", "400", "404", "201"]);
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    assert_eq!(ops[0]["response"]["status"], "409");
    assert_eq!(ops[1]["response"]["scimType"], "invalidValue");
    assert_eq!(ops[2]["response"]["status"], "404");
    assert!(ops[3].get("response").is_none());
    assert_eq!(gw.list("/Users", &[])["totalResults"], 2);
}

/// An operation's `version` is its `If-Match`: a stale one fails that operation with `412`,
/// the current one lets it through.
#[test]
fn operation_versions_are_preconditions() {
    let gw = Gateway::start();
    let created = create(&gw, "/Users", &user("ann@example.com"));
    let path = format!("/Users/{}", id_of(&created));
    let stale = version_of(&created);
    let current = version_of(&expect(
        gw.patch_ops(
            &path,
            json!([{"op": "replace", "path": "displayName", "value": "A"}]),
        ),
        200,
    ));
    let rename = |to: &str, version: &str| {
        json!({"method": "PATCH", "path": path, "version": version,
               "data": patch_body(json!([{"op": "replace", "path": "displayName", "value": to}]))})
    };
    let ops = run_bulk(&gw, json!([rename("Stale", &stale)]), None);
    assert_eq!(statuses(&ops), ["412"]);
    assert_eq!(ops[0]["response"]["status"], "412");
    assert_eq!(gw.fetch(&path)["displayName"], "A");
    let ops = run_bulk(&gw, json!([rename("Fresh", &current)]), None);
    assert_eq!(statuses(&ops), ["200"]);
    assert_eq!(gw.fetch(&path)["displayName"], "Fresh");
}

/// RFC 7644 section 3.7: an operation's `location` is "REQUIRED in a response, except in the
/// event of a POST failure": a DELETE and a failed PUT, PATCH or DELETE carry it too.
#[test]
fn every_operation_but_a_failed_post_has_a_location() {
    let gw = Gateway::start();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let bo = id_of(&create(&gw, "/Users", &user("bo@example.com")));
    let (ann, bo) = (ann.as_str(), bo.as_str());
    let ops = run_bulk(
        &gw,
        json!([
            {"method": "DELETE", "path": format!("/Users/{bo}")},
            {"method": "PATCH", "path": format!("/Users/{ann}"), "version": "W/\"0\"",
             "data": patch_body(json!([{"op": "replace", "path": "displayName", "value": "A"}]))},
            {"method": "PUT", "path": format!("/Users/{ann}"), "data": user("ann@example.com"),
             "version": "W/\"0\""},
            {"method": "DELETE", "path": "/Users/no-such-id"},
        ]),
        None,
    );
    assert_eq!(statuses(&ops), ["204", "412", "412", "404"]);
    for (op, id) in ops.iter().zip([bo, ann, ann, "no-such-id"]) {
        let location = op["location"]
            .as_str()
            .unwrap_or_else(|| panic!("no location: {op}"));
        assert!(location.ends_with(&format!("/Users/{id}")), "{op}");
    }
}

/// `failOnErrors: 1` stops after the first error: later operations do not run and are not
/// reported.
#[test]
fn fail_on_errors_stops_after_the_first_error() {
    let gw = Gateway::start();
    create(&gw, "/Users", &user("taken@example.com"));
    let ops = run_bulk(
        &gw,
        json!([
            post_user("a", "ann@example.com"),
            post_user("dup", "taken@example.com"),
            post_user("c", "cy@example.com"),
        ]),
        Some(1),
    );
    assert_eq!(statuses(&ops), ["201", "409"]);
    assert_eq!(
        gw.user_names("userName eq \"cy@example.com\""),
        Vec::<String>::new()
    );
    assert_eq!(gw.list("/Users", &[])["totalResults"], 2);

    // failOnErrors: 2 tolerates one error.
    let ops = run_bulk(
        &gw,
        json!([
            post_user("dup1", "taken@example.com"),
            post_user("c", "cy@example.com"),
            post_user("dup2", "ann@example.com"),
            post_user("d", "di@example.com"),
        ]),
        Some(2),
    );
    assert_eq!(statuses(&ops), ["409", "201", "409"]);
    assert!(gw.user_names("userName eq \"di@example.com\"").is_empty());
}

/// More operations than `maxOperations`, or a body over `maxPayloadSize`, is `413` and runs
/// nothing; `/Bulk` has its own size limit, above `max_body_bytes`.
#[test]
fn limits_answer_413() {
    let gw = Gateway::start_with_config(
        "max_body_bytes = 1000\n[bulk]\nmax_operations = 2\nmax_payload_bytes = 2000\n",
    );
    let spc = gw.fetch("/ServiceProviderConfig");
    assert_eq!(spc["bulk"]["maxOperations"], 2);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 2000);

    let three = json!([
        post_user("a", "a@example.com"),
        post_user("b", "b@example.com"),
        post_user("c", "c@example.com"),
    ]);
    assert_scim_error(gw.post("/Bulk", &bulk_body(three, None)), 413, None);

    let mut big = user("big@example.com");
    big["displayName"] = json!("x".repeat(2100));
    let too_large = json!([{"method": "POST", "path": "/Users", "bulkId": "big", "data": big}]);
    assert_scim_error(gw.post("/Bulk", &bulk_body(too_large, None)), 413, None);
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);

    // 1,000 < this body < 2,000: over max_body_bytes, within the bulk limit.
    let mut medium = user("medium@example.com");
    medium["displayName"] = json!("x".repeat(1200));
    let body = bulk_body(
        json!([{"method": "POST", "path": "/Users", "bulkId": "m", "data": medium}]),
        None,
    );
    assert!((1000..2000).contains(&body.to_string().len()));
    let ops = expect(gw.post("/Bulk", &body), 200);
    assert_eq!(ops["Operations"][0]["status"], "201");

    let two = json!([
        post_user("a", "a@example.com"),
        post_user("b", "b@example.com")
    ]);
    assert_eq!(statuses(&run_bulk(&gw, two, None)), ["201", "201"]);
}

/// A bulk body must be a BulkRequest: missing `schemas` or `Operations` is `400 invalidSyntax`.
#[test]
fn malformed_bulk_requests() {
    let gw = Gateway::start();
    let no_schema = json!({"Operations": [post_user("a", "a@example.com")]});
    assert_scim_error(gw.post("/Bulk", &no_schema), 400, Some("invalidSyntax"));
    let no_ops = json!({"schemas": [BULK_REQUEST]});
    assert_scim_error(gw.post("/Bulk", &no_ops), 400, Some("invalidSyntax"));
    let no_method = bulk_body(
        json!([{"path": "/Users", "bulkId": "x", "data": user("a")}]),
        None,
    );
    assert_scim_error(gw.post("/Bulk", &no_method), 400, Some("invalidSyntax"));
    assert_eq!(gw.list("/Users", &[])["totalResults"], 0);
}

/// A request past its time budget (`[http] request_budget_ms`, 1 ms here) is stopped where it
/// can stop cleanly. A filter no index answers, over 600 users, is `503`. A `/Bulk` of 20
/// creates runs until the budget is spent and answers `503` for each operation after that:
/// each operation was made whole or not at all, so the users that exist afterwards are
/// exactly those answered `201`.
#[test]
fn a_request_past_its_time_budget_is_stopped_cleanly_with_503s() {
    let dir = scratch_dir("budget");
    let mut gw = Gateway::start_in(&dir, &[]);
    for batch in 0..2 {
        let ops: Vec<Value> = (0..300)
            .map(|n| post_user(&format!("b{n}"), &format!("seed-{batch}-{n}@example.com")))
            .collect();
        assert!(
            statuses(&run_bulk(&gw, json!(ops), None))
                .iter()
                .all(|s| *s == "201")
        );
    }
    gw.stop();

    let config = write_config(&dir, "[http]\nrequest_budget_ms = 1\n");
    let mut gw = Gateway::start_in(&dir, &["--config", config.to_str().expect("utf-8 path")]);
    let e = assert_scim_error(gw.get("/Users?filter=title%20co%20%22x%22"), 503, None);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("time budget")),
        "{e}"
    );
    let ops: Vec<Value> = (0..20)
        .map(|n| post_user(&format!("l{n}"), &format!("late-{n}@example.com")))
        .collect();
    let answered = run_bulk(&gw, json!(ops), None);
    let answered = statuses(&answered);
    assert!(
        answered.iter().all(|s| matches!(*s, "201" | "503")),
        "{answered:?}"
    );
    assert_eq!(
        answered.last(),
        Some(&"503"),
        "the budget ran out: {answered:?}"
    );
    let made = answered.iter().filter(|s| **s == "201").count();
    gw.stop();

    let gw = Gateway::start_in(&dir, &[]);
    let late = gw.list(
        "/Users",
        &[("filter", "userName sw \"late-\""), ("count", "0")],
    );
    assert_eq!(
        late["totalResults"], made,
        "exactly the operations answered 201"
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An RFC 3339 UTC timestamp whose text sorts as its time does: the gateway writes no
/// trailing zeros of the fraction (`…:49Z`, `…:49.5Z`), so pad it to nanoseconds.
fn sortable(timestamp: &str) -> String {
    let bare = timestamp.strip_suffix('Z').expect("a UTC timestamp");
    let (seconds, fraction) = bare.split_once('.').unwrap_or((bare, ""));
    format!("{seconds}.{fraction:0<9}Z")
}

/// `[bulk] max_concurrent = 1`: two bulk requests sent at once are both answered in full
/// (queued, not refused), one after the other: every create of one is older than every create
/// of the other (with two at once, their creates interleave).
#[test]
fn bulk_requests_beyond_max_concurrent_wait_their_turn() {
    let gw = Gateway::start_with_config("[bulk]\nmax_concurrent = 1\n");
    let n = 150;
    let batch = |tag: &str| -> Value {
        (0..n)
            .map(|i| post_user(&format!("{tag}{i}"), &format!("{tag}{i}@example.com")))
            .collect()
    };
    std::thread::scope(|s| {
        let runs: Vec<_> = ["left", "right"]
            .map(|tag| {
                let ops = batch(tag);
                let gw = &gw;
                s.spawn(move || run_bulk(gw, ops, None))
            })
            .into_iter()
            .collect();
        for run in runs {
            let ops = run.join().expect("a bulk request");
            assert_eq!(statuses(&ops), vec!["201"; n], "{ops:?}");
        }
    });
    let listed = gw.list("/Users", &[("count", "1000")]);
    let span = |tag: &str| {
        let mut created: Vec<String> = listed["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .filter(|u| u["userName"].as_str().is_some_and(|u| u.starts_with(tag)))
            .map(|u| sortable(u["meta"]["created"].as_str().expect("created")))
            .collect();
        assert_eq!(created.len(), n);
        created.sort();
        (created[0].clone(), created[n - 1].clone())
    };
    let (left, right) = (span("left"), span("right"));
    assert!(
        left.1 <= right.0 || right.1 <= left.0,
        "the two requests ran at once: {left:?} and {right:?}"
    );
}
