//! Delivery jobs in the admin API: listing by state with filters and paging, one job with its
//! attempts and the plugin's log lines, retrying and discarding dead jobs (one or in bulk), and
//! the error shape.

use reqwest::Method;
use scim_gateway_e2e::{
    ADMIN_TOKEN, Gateway, Relay, TOKEN, closed_origin, create, eventually, id_of, parts, user,
};
use serde_json::{Value, json};

/// An admin request with the admin token: (status, JSON body).
fn admin(gw: &Gateway, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = gw
        .client
        .request(method, format!("{}/admin/v1{path}", gw.origin()))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    parts(req.send().expect("admin request"))
}

/// Asserts an admin error of `status`; answers its message.
#[track_caller]
fn admin_error(answer: (u16, Value), status: u16) -> String {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{body}");
    message.to_owned()
}

/// The jobs a listing answers.
fn jobs(gw: &Gateway, query: &str) -> Vec<Value> {
    let (status, body) = admin(gw, Method::GET, &format!("/jobs{query}"), None);
    assert_eq!(status, 200, "{body}");
    body["jobs"].as_array().cloned().unwrap_or_default()
}

fn seq(job: &Value) -> u64 {
    job["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {job}"))
}

/// The dead job of resource `id`.
fn dead_job_of(gw: &Gateway, id: &str) -> Value {
    let dead = jobs(
        gw,
        &format!("?state=dead&resource_type=User&resource_id={id}"),
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    dead[0].clone()
}

/// A gateway whose `scim2` connector `target` provisions users to `origin` and gives up after
/// one attempt.
fn gateway_provisioning_to(origin: &str) -> Gateway {
    Gateway::start_with_config(&format!(
        "[delivery]\nmax_attempts = 1\n\n[[connectors]]\nname = \"target\"\nplugin = \"scim2\"\n\
         resource_types = [\"User\"]\nallowed_hosts = [\"{origin}\"]\n\
         [connectors.config]\nbase_url = \"{origin}/scim/v2\"\n\
         [connectors.secrets]\ntoken = \"{TOKEN}\"\n"
    ))
}

/// The value of a metrics sample.
fn metric(gw: &Gateway, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    gw.metrics().find(name, labels)
}

#[test]
fn dead_jobs_are_retried_once_the_target_is_up_or_discarded() {
    // The target's address, refusing connections until the target is up behind it.
    let relay = Relay::new();
    let a = gateway_provisioning_to(&relay.origin());
    let ann = id_of(&create(&a, "/Users", &user("ann@example.com")));
    let bob = id_of(&create(&a, "/Users", &user("bob@example.com")));
    let cy = id_of(&create(&a, "/Users", &user("cy@example.com")));
    eventually(|| {
        let dead = jobs(&a, "?state=dead");
        (dead.len() == 3).then_some(()).ok_or(format!("{dead:?}"))
    });
    let dead_gauge = [("connector", "target"), ("state", "dead")];
    let jobs_gauge = "scim_gateway_delivery_jobs";
    assert_eq!(metric(&a, jobs_gauge, &dead_gauge), Some(3.0));

    // One job with its attempt: when, how long, the outcome and the reason.
    let ann_job = dead_job_of(&a, &ann);
    let (status, shown) = admin(&a, Method::GET, &format!("/jobs/{}", seq(&ann_job)), None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["state"], "dead");
    assert_eq!(shown["connector"], "target");
    let attempt = &shown["attempts"][0];
    assert_eq!(attempt["outcome"], "transient", "{shown}");
    assert!(attempt["at_ms"].as_u64().is_some_and(|t| t > 0), "{shown}");
    assert!(attempt["duration_ms"].is_u64(), "{shown}");
    assert!(
        attempt["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{shown}"
    );
    assert!(attempt["logs"].is_array(), "{shown}");

    // Errors: a bad seq, an unknown one, a selection of nothing.
    admin_error(admin(&a, Method::GET, "/jobs/abc", None), 400);
    admin_error(admin(&a, Method::POST, "/jobs/abc/retry", None), 400);
    admin_error(admin(&a, Method::GET, "/jobs/999999", None), 404);
    admin_error(admin(&a, Method::POST, "/jobs/999999/retry", None), 404);
    admin_error(admin(&a, Method::DELETE, "/jobs/999999", None), 404);
    admin_error(admin(&a, Method::GET, "/jobs?state=lost", None), 400);
    admin_error(admin(&a, Method::GET, "/jobs?after=x", None), 400);
    admin_error(
        admin(&a, Method::POST, "/jobs/discard", Some(json!({}))),
        400,
    );

    // The target comes up; bob already exists there, so delivering him makes the plugin log
    // that it adopts him.
    let b = Gateway::start();
    relay.forward_to(b.origin());
    create(&b, "/Users", &user("bob@example.com"));

    // Retry one: back in the outbox with a fresh seq, then delivered.
    let (status, retried) = admin(
        &a,
        Method::POST,
        &format!("/jobs/{}/retry", seq(&ann_job)),
        None,
    );
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["retried"], 1);
    let new_seq = seq(&retried["jobs"][0]);
    assert!(new_seq > seq(&ann_job), "{retried}");
    assert_eq!(retried["jobs"][0]["retried_from"], seq(&ann_job));
    eventually(|| {
        let (_, job) = admin(&a, Method::GET, &format!("/jobs/{new_seq}"), None);
        (job["state"] == "delivered")
            .then_some(())
            .ok_or(format!("{job}"))
    });
    let (_, at_b) = parts(b.get("/Users?filter=userName%20eq%20%22ann@example.com%22"));
    assert_eq!(at_b["totalResults"], 1, "{at_b}");
    let (_, delivered) = admin(&a, Method::GET, &format!("/jobs/{new_seq}"), None);
    let attempts = delivered["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attempts.len(), 2, "the failed attempt is kept: {delivered}");
    assert_eq!(attempts[1]["outcome"], "delivered");
    // Only dead jobs can be retried or discarded.
    let message = admin_error(
        admin(&a, Method::POST, &format!("/jobs/{new_seq}/retry"), None),
        409,
    );
    assert!(message.contains("only dead jobs"), "{message}");
    admin_error(
        admin(&a, Method::DELETE, &format!("/jobs/{new_seq}"), None),
        409,
    );
    // The old seq is gone.
    admin_error(
        admin(&a, Method::GET, &format!("/jobs/{}", seq(&ann_job)), None),
        404,
    );

    // Discard one.
    let cy_job = dead_job_of(&a, &cy);
    let (status, discarded) = admin(&a, Method::DELETE, &format!("/jobs/{}", seq(&cy_job)), None);
    assert_eq!((status, &discarded["discarded"]), (200, &json!(1)));
    admin_error(
        admin(&a, Method::GET, &format!("/jobs/{}", seq(&cy_job)), None),
        404,
    );

    // Retry the rest of the connector's dead jobs in bulk: bob, whom the plugin adopts.
    let (status, bulk) = admin(
        &a,
        Method::POST,
        "/jobs/retry",
        Some(json!({"connector": "target"})),
    );
    assert_eq!((status, &bulk["retried"]), (200, &json!(1)), "{bulk}");
    let bob_seq = seq(&bulk["jobs"][0]);
    eventually(|| {
        let (_, job) = admin(&a, Method::GET, &format!("/jobs/{bob_seq}"), None);
        (job["state"] == "delivered")
            .then_some(())
            .ok_or(format!("{job}"))
    });
    let (_, bob_job) = admin(&a, Method::GET, &format!("/jobs/{bob_seq}"), None);
    assert_eq!(bob_job["resource_id"], bob.as_str());
    let logs = bob_job["attempts"][1]["logs"].to_string();
    assert!(
        logs.contains("adopting"),
        "the plugin's log lines: {bob_job}"
    );
    assert!(jobs(&a, "?state=dead").is_empty());
    assert_eq!(metric(&a, jobs_gauge, &dead_gauge), Some(0.0));

    // The delivery history, filtered and paged.
    let delivered = jobs(&a, "?state=delivered");
    let seqs: Vec<u64> = delivered.iter().map(seq).collect();
    assert_eq!(seqs, [new_seq, bob_seq], "{delivered:?}");
    assert!(delivered.iter().all(|j| j["state"] == "delivered"));
    let of_ann = jobs(
        &a,
        &format!("?state=delivered&resource_type=User&resource_id={ann}"),
    );
    assert_eq!(of_ann.len(), 1);
    let (_, first) = admin(&a, Method::GET, "/jobs?state=delivered&limit=1", None);
    assert_eq!(first["jobs"][0]["seq"], new_seq, "{first}");
    assert_eq!(first["next"], new_seq, "{first}");
    let (_, second) = admin(
        &a,
        Method::GET,
        &format!("/jobs?state=delivered&limit=1&after={new_seq}"),
        None,
    );
    assert_eq!(second["jobs"][0]["seq"], bob_seq, "{second}");
    let (_, last) = admin(
        &a,
        Method::GET,
        &format!("/jobs?state=delivered&after={bob_seq}"),
        None,
    );
    assert_eq!(
        (last["total"].clone(), last["next"].clone()),
        (json!(0), Value::Null)
    );
    // Nothing is left in the outbox.
    for state in ["", "?state=pending", "?state=retrying", "?state=running"] {
        assert!(jobs(&a, state).is_empty(), "{state}");
    }
}

/// A gateway whose connector `unreachable` never reaches its target and gives up at once.
fn unreachable_gateway() -> Gateway {
    let closed = closed_origin();
    Gateway::start_with_config(&format!(
        "[delivery]\nmax_attempts = 1\n\n[[connectors]]\nname = \"unreachable\"\n\
         plugin = \"scim2\"\nresource_types = [\"User\"]\n\
         allowed_hosts = [\"{closed}\"]\n[connectors.config]\n\
         base_url = \"{closed}/scim/v2\"\nauth = \"none\"\n",
    ))
}

#[test]
fn bulk_actions_select_dead_jobs_by_seq_and_connector_and_answer_how_many() {
    let gw = unreachable_gateway();
    for name in ["a", "b", "c", "d"] {
        create(&gw, "/Users", &user(&format!("{name}@example.com")));
    }
    eventually(|| {
        let dead = jobs(&gw, "?state=dead");
        (dead.len() == 4).then_some(()).ok_or(format!("{dead:?}"))
    });
    let seqs: Vec<u64> = jobs(&gw, "?state=dead").iter().map(seq).collect();

    let (status, none) = admin(
        &gw,
        Method::POST,
        "/jobs/discard",
        Some(json!({"connector": "other"})),
    );
    assert_eq!((status, &none["discarded"]), (200, &json!(0)));
    let (status, two) = admin(
        &gw,
        Method::POST,
        "/jobs/discard",
        Some(json!({"seqs": [seqs[0], seqs[1], 999999]})),
    );
    assert_eq!((status, &two["discarded"]), (200, &json!(2)), "{two}");
    let (status, one) = admin(
        &gw,
        Method::POST,
        "/jobs/retry",
        Some(json!({"connector": "unreachable", "seqs": [seqs[2]]})),
    );
    assert_eq!((status, &one["retried"]), (200, &json!(1)), "{one}");
    let retried = seq(&one["jobs"][0]);
    // It fails again and is dead again, with both attempts.
    eventually(|| {
        let (_, job) = admin(&gw, Method::GET, &format!("/jobs/{retried}"), None);
        (job["state"] == "dead" && job["attempts"].as_array().map(Vec::len) == Some(2))
            .then_some(())
            .ok_or(format!("{job}"))
    });
    let left: Vec<u64> = jobs(&gw, "?state=dead&connector=unreachable")
        .iter()
        .map(seq)
        .collect();
    assert_eq!(left, [seqs[3], retried]);
    assert!(jobs(&gw, "?state=dead&connector=other").is_empty());
    // A malformed body is refused in the same shape.
    admin_error(
        admin(&gw, Method::POST, "/jobs/retry", Some(json!({"seqs": "x"}))),
        422,
    );
}
