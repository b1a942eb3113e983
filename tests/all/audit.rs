//! The audit trail: every accepted change with the name of the token that made it and the
//! digests of the state before and after, every delivery outcome, queried through
//! `GET /admin/v1/audit` with filters and paging, newest first.

use reqwest::Method;
use scim_gateway_e2e::{
    ADMIN_TOKEN, BULK_REQUEST, Gateway, TOKEN, USER_SCHEMA, closed_origin, create, eventually,
    id_of, parts, patch_body, query, user, when,
};
use serde_json::{Value, json};

/// The second SCIM token's name and value.
const ENTRA: (&str, &str) = ("entra", "entra-test-token");

/// A gateway accepting the test token (`env`) and `entra`, with a connector that never reaches
/// its target (a port this process holds and nothing accepts on: deliveries fail and are
/// audited).
fn gateway() -> Gateway {
    Gateway::start_with_config(&format!(
        "[[tokens]]\nname = \"{}\"\ntoken = \"{}\"\n\n[delivery]\nmax_attempts = 1\n\n\
         [[connectors]]\nname = \"unreachable\"\nplugin = \"scim2\"\nresource_types = [\"User\"]\n\
         allowed_hosts = [\"{closed}\"]\n[connectors.config]\n\
         base_url = \"{closed}/scim/v2\"\nauth = \"none\"\n",
        ENTRA.0,
        ENTRA.1,
        closed = closed_origin(),
    ))
}

/// `GET /admin/v1/audit` with `params`: (status, body).
fn audit(gw: &Gateway, params: &[(&str, &str)]) -> (u16, Value) {
    let r = gw
        .client
        .get(format!("{}/admin/v1/audit{}", gw.origin(), query(params)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .expect("audit request");
    parts(r)
}

/// The entries `params` select (asserting `200`).
#[track_caller]
fn entries(gw: &Gateway, params: &[(&str, &str)]) -> Vec<Value> {
    let (status, body) = audit(gw, params);
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

/// The change entries among `entries`.
fn changes(entries: &[Value]) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == "change")
        .cloned()
        .collect()
}

#[test]
fn every_accepted_change_is_audited_with_its_token_and_digests() {
    let gw = gateway();
    let ann = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    // Refused: the userName is taken. Not audited.
    let (status, _) = parts(gw.post("/Users", &user("ann@example.com")));
    assert_eq!(status, 409);
    // A PATCH with the `entra` token.
    let r = gw
        .client
        .request(Method::PATCH, format!("{}/Users/{ann}", gw.base))
        .bearer_auth(ENTRA.1)
        .header("content-type", "application/scim+json")
        .body(patch_body(json!([{"op": "replace", "path": "title", "value": "CTO"}])).to_string())
        .send()
        .expect("patch");
    assert_eq!(r.status().as_u16(), 200);
    // The create and the replace die at the unreachable target before the delete is made, so
    // the delete has nothing to remove there (the user was never delivered) and is delivered.
    let deliveries = || entries(&gw, &[("connector", "unreachable")]);
    eventually(|| {
        when(
            deliveries().len() == 2,
            "the create and the replace are tried",
        )
    });
    assert_eq!(gw.delete(&format!("/Users/{ann}")).status().as_u16(), 204);

    let of_ann = entries(&gw, &[("resource_type", "User"), ("resource_id", &ann)]);
    let done = changes(&of_ann);
    let ops: Vec<(&str, &str)> = done
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [("delete", "env"), ("replace", "entra"), ("create", "env")],
        "newest first: {of_ann:?}"
    );
    let [delete, replace, create] = &done[..] else {
        unreachable!()
    };
    assert!(create["before_sha256"].is_null());
    assert_eq!(create["after_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(replace["before_sha256"], create["after_sha256"]);
    assert_ne!(replace["after_sha256"], replace["before_sha256"]);
    assert_eq!(delete["before_sha256"], replace["after_sha256"]);
    assert!(delete["after_sha256"].is_null());
    for e in &done {
        assert!(e["at_ms"].as_u64().is_some_and(|t| t > 0), "{e}");
        assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        assert_eq!(e["resource_type"], "User");
    }

    // Filters: by actor, by connector (the delivery outcomes), by time.
    let by_entra = entries(&gw, &[("actor", "entra")]);
    assert_eq!(by_entra.len(), 1, "{by_entra:?}");
    assert_eq!(by_entra[0]["seq"], replace["seq"]);
    eventually(|| when(deliveries().len() == 3, "the delete is tried"));
    let mut outcomes: Vec<(u64, String, Value, Value)> = deliveries()
        .iter()
        .map(|e| {
            assert_eq!(
                (&e["kind"], &e["resource_id"]),
                (&json!("delivery"), &json!(ann)),
                "{e}"
            );
            let seq = e["job_seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("a job: {e}"));
            let job = gw.admin(&format!("/admin/v1/jobs/{seq}"));
            let op = job["operation"].as_str().unwrap_or_default().to_owned();
            (seq, op, e["outcome"].clone(), e["result"].clone())
        })
        .collect();
    outcomes.sort_by_key(|o| o.0);
    // A failed attempt's outcome is its failure kind; which kind is the target's to decide.
    let failed = |o: &Value| o.is_string() && !matches!(o.as_str(), Some("delivered" | "skipped"));
    let results: Vec<(&str, bool, &Value)> = outcomes
        .iter()
        .map(|(_, op, outcome, result)| (op.as_str(), failed(outcome), result))
        .collect();
    assert_eq!(
        results,
        [
            ("create", true, &json!("dead")),
            ("replace", true, &json!("dead")),
            ("delete", false, &json!("delivered")),
        ],
        "(operation, attempt failed, result) in job order: {outcomes:?}"
    );
    assert_eq!(outcomes[2].2, "delivered", "{outcomes:?}");
    let at = create["at_ms"].as_u64().unwrap_or_default();
    let later = (at + 3_600_000).to_string();
    assert!(entries(&gw, &[("since", &later)]).is_empty());
    assert!(entries(&gw, &[("until", &at.to_string())]).is_empty());
    let all = entries(&gw, &[("since", "2000-01-01T00:00:00Z")]);
    assert_eq!(all.len(), 6, "{all:?}");
    let until = (at + 1).to_string();
    let first = entries(&gw, &[("since", &at.to_string()), ("until", &until)]);
    assert!(first.iter().any(|e| e["seq"] == create["seq"]), "{first:?}");

    // Paging, newest first.
    let (_, page) = audit(&gw, &[("limit", "2")]);
    assert_eq!(page["total"], 2);
    let next = page["next"].as_u64().expect("a next cursor");
    assert_eq!(page["entries"][1]["seq"], next);
    let (_, rest) = audit(&gw, &[("before", &next.to_string())]);
    assert_eq!(rest["total"], 4, "{rest}");
    assert!(rest["next"].is_null());

    // Errors in the admin shape; a SCIM token cannot read the trail.
    let (status, body) = audit(&gw, &[("since", "yesterday")]);
    assert_eq!(
        (status, &body["error"]["status"]),
        (400, &json!(400)),
        "{body}"
    );
    let r = gw
        .client
        .get(format!("{}/admin/v1/audit", gw.origin()))
        .bearer_auth(TOKEN)
        .send()
        .expect("audit");
    let (status, body) = parts(r);
    assert_eq!(
        (status, &body["error"]["status"]),
        (403, &json!(403)),
        "{body}"
    );
}

#[test]
fn bulk_operations_are_audited_one_by_one() {
    let gw = gateway();
    let body = json!({
        "schemas": [BULK_REQUEST],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a",
             "data": {"schemas": [USER_SCHEMA], "userName": "a@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "b",
             "data": {"schemas": [USER_SCHEMA], "userName": "b@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "dup",
             "data": {"schemas": [USER_SCHEMA], "userName": "a@example.com"}}
        ]
    });
    let (status, answer) = parts(gw.post("/Bulk", &body));
    assert_eq!(status, 200, "{answer}");
    let done = changes(&entries(&gw, &[("actor", "env")]));
    assert_eq!(
        done.len(),
        2,
        "the refused duplicate is not audited: {done:?}"
    );
    assert!(done.iter().all(|e| e["operation"] == "create"));
    let mut ids: Vec<&str> = done
        .iter()
        .map(|e| e["resource_id"].as_str().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2);
}
