//! Provisioning patterns: a blocking connector delivers while the client waits, and a change it
//! cannot deliver is refused with its reason and not committed (gateway A provisioning to
//! gateway B through the bundled `scim2` connector).

use scim_gateway_e2e::{Gateway, Relay, TOKEN, assert_scim_error, create, id_of, parts, user};
use serde_json::json;

/// Starts A with one blocking `scim2` connector to `b_base` (`http://HOST:PORT/scim/v2`).
fn start_blocking_a(b_base: &str) -> Gateway {
    Gateway::start_with_config(&format!(
        "[[connectors]]\nname = \"b\"\nplugin = \"scim2\"\npattern = \"blocking\"\n\
         resource_types = [\"User\"]\nallowed_hosts = [\"{b_base}\"]\n\
         [connectors.config]\nbase_url = \"{b_base}\"\n\
         [connectors.secrets]\ntoken = \"{TOKEN}\"\n"
    ))
}

fn count(gw: &Gateway, filter: &str) -> u64 {
    let (status, list) = parts(gw.get(&format!(
        "/Users?filter={}",
        scim_gateway_e2e::encode(filter)
    )));
    assert_eq!(status, 200, "{list}");
    list["totalResults"].as_u64().unwrap_or(u64::MAX)
}

#[test]
fn a_blocking_connector_answers_before_the_client_does_and_its_failure_refuses_the_change() {
    // A reaches B through a relay, so that B can go away while its address stays held.
    let b = Gateway::start();
    let relay = Relay::new();
    relay.forward_to(b.origin());
    let a = start_blocking_a(&format!("{}/scim/v2", relay.origin()));

    // Delivered before A answers: B has the user the moment A's 201 arrives.
    let ann = id_of(&create(&a, "/Users", &user("ann@example.com")));
    assert_eq!(count(&b, "userName eq \"ann@example.com\""), 1);
    let r = a.patch_ops(
        &format!("/Users/{ann}"),
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    );
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(count(&b, "title eq \"Lead\""), 1);
    assert_eq!(
        a.admin("/admin/v1/jobs")["total"],
        0,
        "no job is left behind"
    );
    let metrics = a.metrics();
    let delivered = [("connector", "b"), ("outcome", "delivered")];
    let calls = "scim_gateway_plugin_call_duration_seconds_count";
    assert!(
        metrics.find("scim_gateway_delivery_attempts_total", &delivered) == Some(2.0)
            && metrics.find(calls, &[("connector", "b")]) == Some(2.0),
        "the calls made while the client waited are counted and timed:\n{}",
        metrics.text
    );
    let audited = a.admin(&format!("/admin/v1/audit?connector=b&resource_id={ann}"));
    assert_eq!(
        audited["total"], 2,
        "the create and the PATCH are audited as delivered, without a job: {audited}"
    );
    assert!(
        audited["entries"][0].get("job_seq").is_none()
            && audited["entries"][0]["result"] == "delivered",
        "{audited}"
    );

    // B goes away: every change is refused with the connector's reason, and nothing changes.
    relay.cut();
    let e = assert_scim_error(a.post("/Users", &user("bob@example.com")), 502, None);
    let detail = e["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("connector 'b'"), "{detail}");
    assert!(
        !detail.contains("127.0.0.1") && !detail.contains("error sending request"),
        "the transport's error and the target's address stay in the log: {detail}"
    );
    assert_eq!(
        count(&a, "userName eq \"bob@example.com\""),
        0,
        "not committed"
    );
    let r = a.patch_ops(
        &format!("/Users/{ann}"),
        json!([{"op": "replace", "path": "title", "value": "Gone"}]),
    );
    assert_scim_error(r, 502, None);
    assert_eq!(count(&a, "title eq \"Lead\""), 1, "the user is unchanged");
    assert_scim_error(a.delete(&format!("/Users/{ann}")), 502, None);
    assert_eq!(
        count(&a, "userName eq \"ann@example.com\""),
        1,
        "not deleted"
    );
    assert_eq!(a.admin("/admin/v1/jobs")["total"], 0);
}
