//! Pass-through mode: gateway A keeps no identity. Gateway B, a second real instance, is the
//! system of record behind A's SCIM API through the bundled `scim2` connector (a
//! `readable-connector`), and A fans every change out to an `echo` connector forwarding to a
//! recording [`Target`]. Where B's answers do not matter (or must not come), another
//! [`Target`] stands in for B.

use std::path::Path;

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, Relay, TOKEN, Target, assert_admin_error, assert_scim_error, build_plugin,
    closed_origin, contains_bytes, create, encode, eventually, files_under, group, id_of, parts,
    scratch_dir, start_refused, user, when, write_config,
};
use serde_json::{Value, json};

/// A's configuration: `directory` (B) is the system of record; with a sink, `fan` (echo to
/// it) receives the active users and every group.
fn pass_through_config(dir: &Path, b: &Gateway, sink: Option<&Target>) -> String {
    system_of_record_config(dir, b.origin(), &b.base, "", sink)
}

/// A's configuration with the system of record at `origin` (SCIM base `base`), `extra` lines
/// in its `[[connectors]]` entry, and optionally the `fan` connector forwarding to `sink`.
fn system_of_record_config(
    dir: &Path,
    origin: &str,
    base: &str,
    extra: &str,
    sink: Option<&Target>,
) -> String {
    let fan = sink.map(|sink| {
        format!(
            r#"
[[connectors]]
name = "fan"
plugin = "{echo}"
allowed_hosts = ["{sink}"]
scope = {{ filter = "active eq true" }}
[connectors.config]
url = "{sink}"
"#,
            echo = build_plugin("echo", &[]).display(),
            sink = sink.origin,
        )
    });
    let config = write_config(
        dir,
        &format!(
            r#"
[pass_through]
system_of_record = "directory"

[[connectors]]
name = "directory"
plugin = "scim2"
allowed_hosts = ["{origin}"]
{extra}
[connectors.config]
base_url = "{base}"
adopt = "false"
[connectors.secrets]
token = "{TOKEN}"
{fan}"#,
            fan = fan.unwrap_or_default(),
        ),
    );
    config.to_str().expect("utf-8 path").to_owned()
}

/// The events the sink received for resource `id`, as their operations.
fn delivered_ops(sink: &Target, id: &str) -> Vec<String> {
    sink.triples()
        .into_iter()
        .filter(|(_, _, i)| i == id)
        .map(|(_, op, _)| op)
        .collect()
}

/// Writes are validated, sent to the system of record while the client waits (its ids, its
/// uniqueness, its state as the starting point of a PATCH), audited by digests; reads, filters
/// and paging are answered by asking it, under A's own URLs.
#[test]
fn writes_go_to_the_system_of_record_while_the_client_waits_and_reads_are_answered_by_it() {
    let b = Gateway::start();
    let dir = scratch_dir("pass-through");
    let config = pass_through_config(&dir, &b, None);
    let a = Gateway::start_in(&dir, &["--config", &config]);

    let mut ann_body = user("ann.passthrough@example.com");
    ann_body["title"] = json!("Marker-Title-7f3a");
    let ann = create(&a, "/Users", &ann_body);
    let ann_id = id_of(&ann);
    assert_eq!(ann["title"], "Marker-Title-7f3a", "{ann}");
    assert_eq!(
        ann["meta"]["location"],
        format!("{}/Users/{ann_id}", a.base),
        "A serves the resource under its own URL"
    );
    let (status, at_b) = parts(b.get(&format!("/Users/{ann_id}")));
    assert_eq!((status, &at_b["userName"]), (200, &ann["userName"]));
    let bob_id = id_of(&create(&a, "/Users", &user("bob.passthrough@example.com")));
    assert_scim_error(
        a.post("/Users", &user("ANN.passthrough@example.com")),
        409,
        Some("uniqueness"),
    );
    let sales = create(&a, "/Groups", &group("Sales-7f3a", &[&ann_id, &bob_id]));
    let sales_id = id_of(&sales);
    let (_, at_b) = parts(b.get(&format!("/Groups/{sales_id}")));
    assert_eq!(at_b["members"].as_array().map(Vec::len), Some(2), "{at_b}");

    // Reads, filters and paging are answered by the system of record.
    let (status, got) = parts(a.get(&format!("/Users/{ann_id}")));
    assert_eq!((status, &got["userName"]), (200, &ann["userName"]));
    assert_eq!(
        got["groups"][0]["$ref"],
        format!("{}/Groups/{sales_id}", a.base),
        "{got}"
    );
    let filter = encode("userName eq \"ann.passthrough@example.com\"");
    let (_, found) = parts(a.get(&format!("/Users?filter={filter}")));
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], ann_id.as_str());
    let (_, page) = parts(a.get("/Users?startIndex=2&count=1&attributes=userName"));
    assert_eq!(
        (
            &page["totalResults"],
            &page["itemsPerPage"],
            &page["startIndex"]
        ),
        (&json!(2), &json!(1), &json!(2)),
        "{page}"
    );
    assert!(page["Resources"][0].get("emails").is_none(), "{page}");
    assert_scim_error(
        a.get(&format!("/Users?filter={}", encode("userName zz 1"))),
        400,
        Some("invalidFilter"),
    );
    assert_scim_error(a.get("/Users/no-such-id"), 404, None);

    // A PATCH is applied to the system of record's current state.
    let r = a.patch_ops(
        &format!("/Users/{ann_id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Ann P"}]),
    );
    assert_eq!(r.status().as_u16(), 200);
    let (_, at_b) = parts(b.get(&format!("/Users/{ann_id}")));
    assert_eq!(
        (&at_b["displayName"], &at_b["title"]),
        (&json!("Ann P"), &json!("Marker-Title-7f3a"))
    );

    // A delete is made at the system of record.
    let r = a.req(Method::DELETE, &format!("/Users/{ann_id}")).send();
    assert_eq!(r.expect("delete").status().as_u16(), 204);
    assert_eq!(b.get(&format!("/Users/{ann_id}")).status().as_u16(), 404);
    assert_eq!(a.get(&format!("/Users/{ann_id}")).status().as_u16(), 404);

    // The audit trail shows each change, by digests of the system of record's states, and each
    // write reached the system of record while the client waited (as a delivery with no job).
    let audit = a.admin(&format!(
        "/admin/v1/audit?resource_type=User&resource_id={ann_id}"
    ));
    let changes: Vec<&Value> = (audit["entries"].as_array().into_iter().flatten())
        .filter(|e| e["operation"].is_string() && e["actor"].is_string())
        .collect();
    let ops: Vec<&str> = changes
        .iter()
        .map(|e| e["operation"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ops, ["delete", "replace", "create"], "{audit}");
    // (Joining Sales changed Ann at B between the create and the PATCH, so only the PATCH's
    // outcome is the next change's starting point.)
    assert_eq!(changes[0]["before_sha256"], changes[1]["after_sha256"]);
    assert_ne!(changes[1]["before_sha256"], changes[1]["after_sha256"]);
    assert_eq!(changes[2]["after_sha256"].as_str().map(str::len), Some(64));
    let by_directory = a.admin(&format!(
        "/admin/v1/audit?connector=directory&resource_id={ann_id}"
    ));
    let outcomes: Vec<(&Value, &Value)> = (by_directory["entries"].as_array().into_iter())
        .flatten()
        .map(|e| (&e["outcome"], &e["job_seq"]))
        .collect();
    assert_eq!(
        outcomes,
        vec![(&json!("delivered"), &Value::Null); 3],
        "each write reached the system of record while the client waited (no job): {by_directory}"
    );
    assert_eq!(
        a.admin("/admin/v1/jobs")["total"],
        0,
        "no job for it either"
    );
    drop(a);
    let _ = std::fs::remove_dir_all(dir);
}

/// The other connectors are fed from the system of record: each change in a connector's
/// scope fans out as a job whose attempt reads the system of record's state, and a connector
/// added later is brought up to date by a reconcile that reads every resource from it.
#[test]
fn other_connectors_are_fed_from_the_system_of_records_state_by_fan_out_and_reconcile() {
    let b = Gateway::start();
    let sink = Target::start();
    let dir = scratch_dir("pass-through-fan");
    let config = pass_through_config(&dir, &b, Some(&sink));
    let a = Gateway::start_in(&dir, &["--config", &config]);

    let mut ann_body = user("ann@example.com");
    ann_body["title"] = json!("Lead");
    let ann_id = id_of(&create(&a, "/Users", &ann_body));
    let mut bob_body = user("bob@example.com");
    bob_body["active"] = json!(false);
    let bob_id = id_of(&create(&a, "/Users", &bob_body));
    let sales_id = id_of(&create(&a, "/Groups", &group("Sales", &[&ann_id, &bob_id])));
    let r = a.patch_ops(
        &format!("/Users/{ann_id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Ann P"}]),
    );
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(a.delete(&format!("/Users/{ann_id}")).status().as_u16(), 204);

    eventually(|| {
        when(
            delivered_ops(&sink, &ann_id) == ["create", "replace", "delete"]
                && delivered_ops(&sink, &sales_id) == ["create"]
                && a.admin("/admin/v1/jobs")["total"] == 0,
            "the fan-out connector hears every change in its scope",
        )
    });
    assert!(
        delivered_ops(&sink, &bob_id).is_empty(),
        "an inactive user is out of the rule scope"
    );
    let events = sink.events();
    let created = events.iter().find(|e| e["id"] == ann_id.as_str());
    assert_eq!(
        created.map(|e| &e["resource"]["title"]),
        Some(&json!("Lead")),
        "the fan-out carries the system of record's state"
    );

    // A connector added later is brought up to date from the system of record.
    let late = Target::start();
    let wasm = std::fs::read(build_plugin("echo", &[])).expect("echo.wasm");
    let plugin = a.install_plugin(wasm)["id"].clone();
    let (status, c) = a.admin_send(
        Method::PUT,
        "/admin/v1/connectors/late",
        &json!({"plugin": plugin, "config": {"url": late.origin},
                "allowed_hosts": [late.origin]}),
    );
    assert_eq!(status, 201, "{c}");
    let (status, _) = a.admin_send(
        Method::POST,
        "/admin/v1/connectors/late/reconcile",
        &Value::Null,
    );
    assert_eq!(status, 202);
    eventually(|| {
        when(
            delivered_ops(&late, &bob_id) == ["create"]
                && delivered_ops(&late, &sales_id) == ["create"],
            "the reconcile reads every resource from the system of record",
        )
    });
    assert!(delivered_ops(&late, &ann_id).is_empty(), "Ann is gone");
    drop(a);
    let _ = std::fs::remove_dir_all(dir);
}

/// Nothing a pass-through gateway writes to disk (the store, the plugin cache, anything else
/// in its data directory) holds an identity: no user name, title, password or group name,
/// although every change was fanned out and audited.
#[test]
fn a_pass_through_gateway_writes_no_identity_to_disk() {
    let b = Gateway::start();
    let sink = Target::start();
    let dir = scratch_dir("pass-through-disk");
    let config = pass_through_config(&dir, &b, Some(&sink));
    let mut a = Gateway::start_in(&dir, &["--config", &config]);
    let mut ann_body = user("ann.passthrough@example.com");
    ann_body["title"] = json!("Marker-Title-7f3a");
    ann_body["password"] = json!("Marker-Password-7f3a");
    let ann_id = id_of(&create(&a, "/Users", &ann_body));
    let bob_id = id_of(&create(&a, "/Users", &user("bob.passthrough@example.com")));
    let sales_id = id_of(&create(
        &a,
        "/Groups",
        &group("Sales-7f3a", &[&ann_id, &bob_id]),
    ));
    let r = a.patch_ops(
        &format!("/Users/{ann_id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Marker-Display-7f3a"}]),
    );
    assert_eq!(r.status().as_u16(), 200);
    eventually(|| {
        when(
            delivered_ops(&sink, &ann_id) == ["create", "replace"]
                && delivered_ops(&sink, &sales_id) == ["create"]
                && a.admin("/admin/v1/jobs")["total"] == 0,
            "every change is fanned out",
        )
    });
    assert!(
        sink.events()
            .iter()
            .any(|e| e["resource"]["title"] == "Marker-Title-7f3a"),
        "the identities went through A"
    );
    a.stop();

    let files = files_under(&dir);
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|x| x == "redb")),
        "the store is in the data dir: {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (path, bytes) in &files {
        if path.ends_with("config.toml") {
            continue; // the test's own
        }
        for identity in [
            "passthrough@example.com",
            "Marker-Title-7f3a",
            "Marker-Display-7f3a",
            "Marker-Password-7f3a",
            "Sales-7f3a",
        ] {
            assert!(
                !contains_bytes(bytes, identity.as_bytes()),
                "{} holds `{identity}`",
                path.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// What pass-through mode does not offer is refused clearly: `/Bulk` and the root `/.search`
/// are a SCIM `501` naming the mode (and discovery says so), a role-based scope a `422`, and
/// a reconcile of the system of record a `409`.
#[test]
fn pass_through_refuses_what_it_does_not_offer_clearly() {
    let never = Target::start();
    let dir = scratch_dir("pass-through-refusals");
    let config = system_of_record_config(
        &dir,
        &never.origin,
        &format!("{}/scim/v2", never.origin),
        "",
        None,
    );
    let a = Gateway::start_in(&dir, &["--config", &config]);
    for path in ["/Bulk", "/.search"] {
        let e = assert_scim_error(a.post(path, &json!({"Operations": []})), 501, None);
        let detail = e["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("pass-through mode"), "{path}: {detail}");
    }
    let (_, spc) = parts(a.get("/ServiceProviderConfig"));
    assert_eq!(
        (&spc["bulk"]["supported"], &spc["sort"]["supported"]),
        (&json!(false), &json!(false))
    );
    let msg = assert_admin_error(
        a.admin_send(
            Method::PUT,
            "/admin/v1/connectors/roles",
            &json!({"plugin": "webhook", "scope": {"groups": ["Sales"]}}),
        ),
        422,
    );
    assert!(
        msg.contains("role"),
        "a role scope needs stored memberships: {msg}"
    );
    let msg = assert_admin_error(
        a.admin_send(
            Method::POST,
            "/admin/v1/connectors/directory/reconcile",
            &Value::Null,
        ),
        409,
    );
    assert!(msg.contains("system of record"), "{msg}");
    assert!(
        never.arrivals().is_empty(),
        "none of this asked the system of record"
    );
    drop(a);
    let _ = std::fs::remove_dir_all(dir);
}

/// A system of record that does not answer within the connector's deadline makes the
/// client's request a SCIM `504` naming it (a read, and a write, which asks it first), every
/// time: the plugin's HTTP request is given what remains of the call as its timeout, and when
/// that timer fires before the call's own the host still reports the call's timeout.
#[test]
fn a_system_of_record_that_does_not_answer_in_time_is_a_504() {
    let silent = Target::start();
    silent.hold();
    let dir = scratch_dir("pass-through-timeout");
    let config = system_of_record_config(
        &dir,
        &silent.origin,
        &format!("{}/scim/v2", silent.origin),
        "timeout_ms = 1000",
        None,
    );
    let a = Gateway::start_in(&dir, &["--config", &config]);
    for (what, r) in [
        ("GET", a.get("/Users/someone")),
        ("POST", a.post("/Users", &user("ann@example.com"))),
    ] {
        let e = assert_scim_error(r, 504, None);
        let detail = e["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("'directory'") && detail.contains("timeout"),
            "{what}: {detail}"
        );
    }
    assert!(
        silent.arrivals().len() >= 2,
        "both were asked of the system of record: {:?}",
        silent.arrivals()
    );
    drop(a);
    let _ = std::fs::remove_dir_all(dir);
}

/// A system of record that cannot read stops the start with a clear reason, as does a role
/// scope (it needs the memberships a pass-through gateway does not store).
#[test]
fn pass_through_refuses_a_system_of_record_that_cannot_read() {
    for (extra, why) in [
        ("", "readable-connector"),
        (
            "[[connectors]]\nname = \"roles\"\nplugin = \"webhook\"\nscope = { groups = [\"Sales\"] }\n",
            "role-based",
        ),
    ] {
        let dir = scratch_dir("pass-through-refused");
        let config = write_config(
            &dir,
            &format!(
                "[pass_through]\nsystem_of_record = \"hooks\"\n\
                 [[connectors]]\nname = \"hooks\"\nplugin = \"webhook\"\n\
                 allowed_hosts = [\"{closed}\"]\n\
                 [connectors.config]\nurl = \"{closed}/hook\"\n{extra}",
                closed = closed_origin(),
            ),
        );
        let config = config.to_str().expect("utf-8 path");
        let stderr = start_refused(&dir, &["--config", config], &[]);
        assert!(stderr.contains(why), "{stderr}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Preconditions hold against the system of record's versions, and when it is gone every
/// request is a clear `502` naming it while the gateway itself keeps serving.
#[test]
fn pass_through_keeps_preconditions_and_reports_an_absent_system_of_record() {
    // A reaches B through a relay the test holds, so that when B is gone nothing else can
    // answer at the address A was given.
    let relay = Relay::new();
    let mut b = Gateway::start();
    relay.forward_to(b.origin());
    let dir = scratch_dir("pass-through-down");
    let origin = relay.origin();
    let config = system_of_record_config(&dir, &origin, &format!("{origin}/scim/v2"), "", None);
    let a = Gateway::start_in(&dir, &["--config", &config]);
    let ann = create(&a, "/Users", &user("ann@example.com"));
    let path = format!("/Users/{}", id_of(&ann));
    let etag = ann["meta"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!etag.is_empty(), "the system of record's version: {ann}");

    let r = a
        .req(Method::GET, &path)
        .header("if-none-match", &etag)
        .send();
    assert_eq!(r.expect("get").status().as_u16(), 304);
    let mut renamed = user("ann.b@example.com");
    renamed["title"] = json!("Lead");
    let r = (a.req(Method::PUT, &path))
        .header("if-match", &etag)
        .header("content-type", "application/scim+json")
        .body(renamed.to_string())
        .send()
        .expect("put");
    assert_eq!(r.status().as_u16(), 200);
    let (_, at_b) = parts(b.get(&path));
    assert_eq!(
        (&at_b["userName"], &at_b["title"]),
        (&json!("ann.b@example.com"), &json!("Lead"))
    );
    let stale = (a.req(Method::PUT, &path))
        .header("if-match", &etag)
        .header("content-type", "application/scim+json")
        .body(user("ann.c@example.com").to_string())
        .send()
        .expect("put");
    assert_scim_error(stale, 412, None);

    relay.cut();
    b.stop();
    for r in [
        a.get(&path),
        a.get("/Users"),
        a.post("/Users", &user("bo@example.com")),
    ] {
        let e = assert_scim_error(r, 502, None);
        let detail = e["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("'directory'"), "{detail}");
        assert!(
            !detail.contains("127.0.0.1"),
            "internal addresses stay in the log: {detail}"
        );
    }
    assert_eq!(
        a.client
            .get(format!("{}/healthz", a.origin()))
            .send()
            .expect("healthz")
            .status()
            .as_u16(),
        200
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The system of record's mapping shapes what A writes there, while the client waits; reads come
/// back as the system of record holds them; the preview works on a resource given whole, since
/// A's store holds none.
#[test]
fn a_mapping_on_the_system_of_record_shapes_the_writes_sent_to_it() {
    let b = Gateway::start();
    let dir = scratch_dir("pass-through-mapping");
    let mapping = r#"mapping = { users = [
  { to = "nickName", template = "{name.givenName} via A" },
  { drop = "title" } ] }"#;
    let config = system_of_record_config(&dir, b.origin(), &b.base, mapping, None);
    let a = Gateway::start_in(&dir, &["--config", &config]);

    let mut body = user("mapped.passthrough@example.com");
    body["title"] = json!("Not-For-B-5c1e");
    let created = create(&a, "/Users", &body);
    let id = id_of(&created);
    let (status, at_b) = parts(b.get(&format!("/Users/{id}")));
    assert_eq!(status, 200, "{at_b}");
    assert_eq!(at_b["nickName"], "Given via A", "{at_b}");
    assert!(at_b.get("title").is_none(), "dropped before B: {at_b}");
    assert_eq!(
        created["nickName"], "Given via A",
        "A answers B's state: {created}"
    );

    let r = a.patch_ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "name.givenName", "value": "Changed"}]),
    );
    assert_eq!(r.status().as_u16(), 200);
    let (_, at_b) = parts(b.get(&format!("/Users/{id}")));
    assert_eq!(at_b["nickName"], "Changed via A", "{at_b}");

    let (status, seen) = a.admin_send(
        Method::POST,
        "/admin/v1/connectors/directory/preview",
        &json!({"resourceType": "User", "resource": body}),
    );
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["resource"]["nickName"], "Given via A", "{seen}");
    assert!(seen["resource"].get("title").is_none(), "{seen}");
}
