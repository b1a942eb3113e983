//! Targets that throttle are respected: a `429` with `Retry-After` holds the connector's next
//! attempts (every resource's, not only the refused one's) until then, and the time shows in
//! `/metrics`. Timestamps of what the target received, not sleeps.

use std::time::Duration;

use scim_gateway_e2e::{Gateway, Target, build_plugin, create, eventually, user, when};

/// The echo plugin at `target`, retried after 50 ms at most (so only `Retry-After` can make a
/// retry wait seconds).
fn gateway_to(target: &Target, extra: &str) -> Gateway {
    Gateway::start_with_config(&format!(
        "[delivery]\nbase_delay_ms = 50\nmax_delay_ms = 50\nmax_attempts = 100\n\n\
         [[connectors]]\nname = \"slow\"\nplugin = \"{echo}\"\nresource_types = [\"User\"]\n\
         allowed_hosts = [\"{origin}\"]\n{extra}\n[connectors.config]\nurl = \"{origin}\"\n",
        echo = build_plugin("echo", &[]).display(),
        origin = target.origin,
    ))
}

#[test]
fn a_429_with_retry_after_holds_every_attempt_of_the_connector_that_long() {
    let target = Target::start();
    target.throttle_next(1, 2);
    let gw = gateway_to(&target, "");
    create(&gw, "/Users", &user("ann@example.com"));
    eventually(|| when(!target.arrivals().is_empty(), "ann's first attempt"));
    // Made after the target asked for quiet: its first attempt waits too.
    create(&gw, "/Users", &user("bo@example.com"));
    eventually(|| {
        let delivered = target.delivered().len();
        when(delivered == 2, &format!("{delivered} of 2 delivered"))
    });
    let arrivals = target.arrivals();
    let refused = &arrivals[0];
    assert_eq!(refused.status, 429, "{arrivals:?}");
    let quiet = refused.at + Duration::from_secs(2);
    for later in &arrivals[1..] {
        assert!(
            later.at >= quiet,
            "{} {} came {:?} after the 429 asked for 2 s",
            later.method,
            later.body["resource"]["userName"],
            later.at - refused.at
        );
    }
    let held = gw.metrics().get(
        "scim_gateway_delivery_throttled_seconds_total",
        &[("connector", "slow"), ("reason", "retry_after")],
    );
    assert!(held >= 2.0, "throttled time in /metrics: {held}");
}

/// `max_requests_per_second` spaces a connector's requests: five deliveries at 2 a second
/// take four half-second slots after the first (2 s; 1.5 s asserted, leaving the first request
/// half a second to reach the target), and the time waited shows in `/metrics`.
#[test]
fn max_requests_per_second_spaces_a_connectors_requests() {
    let target = Target::start();
    let gw = gateway_to(&target, "max_requests_per_second = 2");
    for i in 0..5 {
        create(&gw, "/Users", &user(&format!("u{i}@example.com")));
    }
    eventually(|| {
        let delivered = target.delivered().len();
        when(delivered == 5, &format!("{delivered} of 5 delivered"))
    });
    let mut at: Vec<_> = target.arrivals().iter().map(|a| a.at).collect();
    at.sort();
    let span = at[4] - at[0];
    assert!(
        span >= Duration::from_millis(1500),
        "five requests at 2 a second within {span:?}"
    );
    let waited = gw.metrics().get(
        "scim_gateway_delivery_throttled_seconds_total",
        &[("connector", "slow"), ("reason", "rate")],
    );
    assert!(waited > 0.0, "throttled time in /metrics: {waited}");
}

/// A rate or a cap of zero would hold a connector forever: the admin API refuses it (`422`,
/// naming both settings), and a connector with sane values is accepted and shows them.
#[test]
fn a_zero_rate_or_cap_is_refused() {
    let gw = Gateway::start();
    let target = Target::start();
    let put = |extra: serde_json::Value| {
        let mut body = serde_json::json!({"plugin": "webhook", "resource_types": ["User"],
            "config": {"url": target.origin}, "allowed_hosts": [target.origin]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        gw.admin_send(reqwest::Method::PUT, "/admin/v1/connectors/paced", &body)
    };
    for zero in [
        serde_json::json!({"max_requests_per_second": 0}),
        serde_json::json!({"max_concurrency": 0}),
    ] {
        let message = scim_gateway_e2e::assert_admin_error(put(zero.clone()), 422);
        assert!(
            message.contains("max_requests_per_second"),
            "{zero}: {message}"
        );
    }
    let (status, c) = put(serde_json::json!({"max_requests_per_second": 5, "max_concurrency": 2}));
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (
            c["max_requests_per_second"].clone(),
            c["max_concurrency"].clone()
        ),
        (5.into(), 2.into()),
        "{c}"
    );
}
