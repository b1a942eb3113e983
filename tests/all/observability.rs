//! Runtime observability: `/metrics` (who may read it, request counts by route template,
//! delivery jobs by connector and state), the `/healthz` and `/readyz` probes, and JSON logs.

use reqwest::blocking::Response;
use scim_gateway_e2e::{
    ADMIN_TOKEN, Gateway, Metrics, TOKEN, closed_origin, create, eventually, expect, header, id_of,
    parts, scratch_dir, user, write_config,
};
use serde_json::{Value, json};

/// `GET /metrics`, with `token` if given.
fn get_metrics(gw: &Gateway, token: Option<&str>) -> Response {
    gw.metrics_response(token)
}

const REQUESTS: &str = "scim_gateway_http_requests_total";
const ONE_RESOURCE: &str = "/scim/v2/{endpoint}/{id}";

#[test]
fn metrics_need_an_admin_token_unless_made_public() {
    let gw = Gateway::start();
    assert_eq!(get_metrics(&gw, None).status().as_u16(), 401);
    assert_eq!(get_metrics(&gw, Some("not-a-token")).status().as_u16(), 401);
    assert_eq!(get_metrics(&gw, Some(TOKEN)).status().as_u16(), 403);
    let r = get_metrics(&gw, Some(ADMIN_TOKEN));
    assert_eq!(r.status().as_u16(), 200);
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().expect("text");
    assert!(
        text.contains("# TYPE scim_gateway_http_requests_total counter"),
        "{text}"
    );

    let public = Gateway::start_with_config("[metrics]\npublic = true\n");
    let r = get_metrics(&public, None);
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.text()
            .expect("text")
            .contains("scim_gateway_delivery_jobs")
    );
}

#[test]
fn requests_are_counted_by_route_template_method_and_status() {
    let gw = Gateway::start();
    let id = id_of(&create(&gw, "/Users", &user("ann@example.com")));
    let before = gw.metrics();
    for _ in 0..3 {
        expect(gw.get(&format!("/Users/{id}")), 200);
    }
    for _ in 0..2 {
        expect(gw.get("/Users/no-such-id"), 404);
    }
    create(&gw, "/Users", &user("bo@example.com"));
    let unauthenticated = gw.client.get(format!("{}/Users", gw.base)).send();
    assert_eq!(unauthenticated.expect("request").status().as_u16(), 401);
    let unmatched = gw
        .client
        .get(format!("{}/no/such/path", gw.origin()))
        .send();
    assert_eq!(unmatched.expect("request").status().as_u16(), 404);
    let after = gw.metrics();

    let delta = |route: &str, method: &str, status: &str| {
        let labels = [("route", route), ("method", method), ("status", status)];
        after.get(REQUESTS, &labels) - before.get(REQUESTS, &labels)
    };
    assert_eq!(delta(ONE_RESOURCE, "GET", "200"), 3.0, "{}", after.text);
    assert_eq!(delta(ONE_RESOURCE, "GET", "404"), 2.0, "{}", after.text);
    assert_eq!(delta("/scim/v2/{endpoint}", "POST", "201"), 1.0);
    assert_eq!(delta("/scim/v2/{endpoint}", "GET", "401"), 1.0);
    assert_eq!(delta("unmatched", "GET", "404"), 1.0, "{}", after.text);
    assert_eq!(delta("/metrics", "GET", "200"), 1.0, "the scrape before");
    // The latency histogram counts the same requests.
    let labels = [
        ("route", ONE_RESOURCE),
        ("method", "GET"),
        ("status", "200"),
    ];
    let count = "scim_gateway_http_request_duration_seconds_count";
    assert_eq!(after.get(count, &labels) - before.get(count, &labels), 3.0);
    let inf = [
        ("route", ONE_RESOURCE),
        ("method", "GET"),
        ("status", "200"),
        ("le", "+Inf"),
    ];
    let bucket = "scim_gateway_http_request_duration_seconds_bucket";
    assert_eq!(after.get(bucket, &inf), after.get(count, &labels));
    // Paths with ids never become label values.
    assert!(!after.text.contains(&id), "{}", after.text);
    assert!(!after.text.contains("no-such-id"), "{}", after.text);
}

/// A connector whose target refuses connections (a port this process holds closed).
fn unreachable_connector(delivery: &str) -> String {
    let closed = closed_origin();
    format!(
        "[delivery]\n{delivery}\n\n[[connectors]]\nname = \"unreachable\"\nplugin = \"scim2\"\n\
         resource_types = [\"User\"]\nallowed_hosts = [\"{closed}\"]\n\
         [connectors.config]\nbase_url = \"{closed}/scim/v2\"\nauth = \"none\"\n"
    )
}

fn jobs(e: &Metrics, state: &str) -> f64 {
    e.get(
        "scim_gateway_delivery_jobs",
        &[("connector", "unreachable"), ("state", state)],
    )
}

#[test]
fn a_failed_delivery_is_counted_as_dead_for_its_connector_also_after_a_restart() {
    let dir = scratch_dir("metrics-dead");
    let config = write_config(&dir, &unreachable_connector("max_attempts = 1"));
    let config = config.to_str().expect("utf-8 path").to_owned();
    let gw = Gateway::start_in(&dir, &["--config", &config]);
    let before = gw.metrics();
    assert_eq!(jobs(&before, "dead"), 0.0, "{}", before.text);
    assert_eq!(jobs(&before, "pending"), 0.0, "{}", before.text);

    create(&gw, "/Users", &user("ann@example.com"));
    let mut after = gw.metrics();
    eventually(|| {
        after = gw.metrics();
        (jobs(&after, "dead") == 1.0)
            .then_some(())
            .ok_or(after.text.clone())
    });
    let dead = gw.admin("/admin/v1/jobs?state=dead");
    let outcome = dead["jobs"][0]["attempts"][0]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(outcome, "transient", "{dead}");
    let connector = [("connector", "unreachable")];
    assert_eq!(jobs(&after, "pending"), 0.0);
    assert_eq!(jobs(&after, "retrying"), 0.0);
    assert_eq!(
        after.get("scim_gateway_delivery_jobs_dead_lettered_total", &connector),
        1.0
    );
    assert_eq!(
        after.get("scim_gateway_delivery_jobs_delivered_total", &connector),
        0.0
    );
    assert_eq!(
        after.get(
            "scim_gateway_delivery_attempts_total",
            &[("connector", "unreachable"), ("outcome", "transient")]
        ),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        after.get(
            "scim_gateway_plugin_call_duration_seconds_count",
            &connector
        ),
        1.0
    );
    for kind in ["trap", "timeout", "memory"] {
        let labels = [("connector", "unreachable"), ("kind", kind)];
        assert_eq!(
            after.find("scim_gateway_plugin_faults_total", &labels),
            Some(0.0),
            "{kind}: {}",
            after.text
        );
    }
    drop(gw);

    // The dead letter is in the store: a restarted gateway reports it; the since-start
    // counters start over.
    let gw = Gateway::start_in(&dir, &["--config", &config]);
    let mut again = gw.metrics();
    eventually(|| {
        again = gw.metrics();
        (jobs(&again, "dead") == 1.0)
            .then_some(())
            .ok_or(again.text.clone())
    });
    assert_eq!(
        again.get("scim_gateway_delivery_jobs_dead_lettered_total", &connector),
        0.0
    );
}

#[test]
fn a_job_waiting_for_a_retry_is_counted_as_retrying_and_ages() {
    let gw = Gateway::start_with_config(&unreachable_connector(
        "max_attempts = 5\nbase_delay_ms = 3600000\nmax_delay_ms = 3600000",
    ));
    create(&gw, "/Users", &user("ann@example.com"));
    let age = "scim_gateway_delivery_oldest_pending_age_seconds";
    let connector = [("connector", "unreachable")];
    eventually(|| {
        let e = gw.metrics();
        let waiting = jobs(&e, "retrying") == 1.0 && jobs(&e, "pending") == 0.0;
        (waiting && e.get(age, &connector) > 0.0)
            .then_some(())
            .ok_or(e.text)
    });
    let e = gw.metrics();
    assert_eq!(jobs(&e, "dead"), 0.0);
    let retrying = gw.admin("/admin/v1/jobs?state=retrying");
    assert_eq!(retrying["jobs"][0]["state"], "retrying", "{retrying}");
    let pending = gw.admin("/admin/v1/jobs?state=pending");
    assert_eq!(pending["total"], 0, "{pending}");
}

#[test]
fn health_and_readiness_answer_without_a_token() {
    let gw = Gateway::start();
    let get = |path: &str| {
        parts(
            gw.client
                .get(format!("{}{path}", gw.origin()))
                .send()
                .expect("probe"),
        )
    };
    assert_eq!(get("/healthz"), (200, json!({"status": "ok"})));
    // The dispatcher starts in the background: ready once it has read the outbox.
    eventually(|| {
        let (status, body) = get("/readyz");
        (status == 200).then_some(()).ok_or(body.to_string())
    });
    let (_, body) = get("/readyz");
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {"store": "ok", "dispatcher": "ok"}, "failed": []})
    );
}

/// Starts the gateway with `extra` arguments and `RUST_LOG=info`, waits until it listens, stops
/// it and answers the lines it logged on standard error.
fn startup_log(extra: &[&str]) -> Vec<String> {
    let dir = scratch_dir("logs");
    let (data, log) = (dir.join("data"), dir.join("gateway.log"));
    std::fs::create_dir_all(&data).expect("data dir");
    let env = [("SCIM_GATEWAY_TOKEN", TOKEN), ("RUST_LOG", "info")];
    Gateway::spawn_logged(&data, extra, &env, &log).kill9();
    let text = std::fs::read_to_string(&log).expect("the gateway's log");
    text.lines().map(str::to_owned).collect()
}

/// The `listening` line among `lines`, parsed as JSON; panics unless every line is JSON.
#[track_caller]
fn json_listening_line(lines: &[String]) -> Value {
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    parsed
        .into_iter()
        .find(|v| v["fields"]["message"] == "scim-gateway listening")
        .unwrap_or_else(|| panic!("no listening line in {lines:?}"))
}

#[test]
fn log_format_json_writes_every_log_line_as_a_json_object() {
    let line = json_listening_line(&startup_log(&["--log-format", "json"]));
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
    assert!(line["fields"]["local"].is_string(), "{line}");

    // The same from the configuration file.
    let dir = scratch_dir("logcfg");
    let config = write_config(&dir, "log_format = \"json\"\n");
    json_listening_line(&startup_log(&["--config", config.to_str().expect("utf-8")]));

    // Text is the default, and not JSON.
    let text = startup_log(&[]);
    let listening = text
        .iter()
        .find(|l| l.contains("scim-gateway listening"))
        .unwrap_or_else(|| panic!("no listening line in {text:?}"));
    assert!(
        serde_json::from_str::<Value>(listening).is_err(),
        "{listening}"
    );
}
