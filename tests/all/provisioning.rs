//! Outbound provisioning: gateway A delivers every change, through the bundled `scim2` connector
//! (a real WebAssembly component), to gateway B, a second real instance on loopback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scim_gateway_e2e::{
    Gateway, TOKEN, build_plugin, create, eventually, group, id_of, parts, scratch_dir, user,
    workspace, write_config,
};
use serde_json::{Value, json};

/// The shipped example: A provisions everything to `${TARGET_SCIM_URL}`.
fn example_config() -> PathBuf {
    workspace().join("examples").join("provision-to-scim.toml")
}

/// The example with retries fast enough for a test.
fn fast_retry_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(example_config()).expect("example config");
    let text = text
        .replace("max_attempts = 12", "max_attempts = 1000")
        .replace("base_delay_ms = 500", "base_delay_ms = 50")
        .replace("max_delay_ms = 300000", "max_delay_ms = 500");
    write_config(dir, &text)
}

/// Starts gateway A on `dir` with `config`, provisioning to `b`.
fn start_a(dir: &Path, config: &Path, b_base: &str) -> Gateway {
    let config = config.to_str().expect("utf-8 path");
    Gateway::spawn(
        dir,
        &["--config", config],
        &[
            ("SCIM_GATEWAY_TOKEN", TOKEN),
            ("TARGET_SCIM_URL", b_base),
            ("TARGET_SCIM_TOKEN", TOKEN),
        ],
    )
}

/// Every resource of an endpoint (up to 1000).
fn all(gw: &Gateway, endpoint: &str) -> Vec<Value> {
    let (_, list) = parts(gw.get(&format!("{endpoint}?count=1000")));
    list["Resources"].as_array().cloned().unwrap_or_default()
}

/// What B must hold to mirror A: users by userName with the attributes that travel, groups by
/// displayName with members as userNames.
fn snapshot(gw: &Gateway) -> (BTreeMap<String, Value>, BTreeMap<String, Vec<String>>) {
    let users = all(gw, "/Users");
    let name_of: BTreeMap<String, String> = users
        .iter()
        .map(|u| {
            (
                id_of(u),
                u["userName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let users = users
        .iter()
        .map(|u| {
            let kept = json!({"active": u["active"], "name": u["name"], "title": u["title"],
                              "emails": u["emails"]});
            (u["userName"].as_str().unwrap_or_default().to_owned(), kept)
        })
        .collect();
    let groups = all(gw, "/Groups")
        .iter()
        .map(|g| {
            let mut members: Vec<String> = g["members"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m["value"].as_str())
                        .filter_map(|id| name_of.get(id).cloned())
                        .collect()
                })
                .unwrap_or_default();
            members.sort();
            (
                g["displayName"].as_str().unwrap_or_default().to_owned(),
                members,
            )
        })
        .collect();
    (users, groups)
}

/// `Ok` once B holds what A holds and A has nothing left to deliver.
fn mirrored(a: &Gateway, b: &Gateway) -> Result<(), String> {
    let (sa, sb) = (snapshot(a), snapshot(b));
    if sa != sb {
        return Err(format!("A holds {sa:?}\nB holds {sb:?}"));
    }
    let pending = a.admin("/admin/v1/jobs");
    if pending["total"] != 0 {
        return Err(format!("A still has jobs: {pending}"));
    }
    Ok(())
}

fn no_dead_jobs(a: &Gateway) {
    let dead = a.admin("/admin/v1/jobs?state=dead");
    assert_eq!(dead["total"], 0, "dead jobs: {dead}");
}

fn patch(gw: &Gateway, path: &str, ops: Value) {
    let (status, body) = parts(gw.patch_ops(path, ops));
    assert_eq!(status, 200, "PATCH {path}: {body}");
}

/// Creates, replaces, patches and deletes users and groups on A (run with the shipped example
/// config); B ends up with the same users and groups, memberships mapped to B's own ids.
#[test]
fn a_provisions_every_kind_of_change_to_b() {
    let b = Gateway::start();
    let dir = scratch_dir("a");
    let a = start_a(&dir, &example_config(), &b.base);

    let u1 = id_of(&create(&a, "/Users", &user("u1@example.com")));
    let u2 = id_of(&create(&a, "/Users", &user("u2@example.com")));
    let u3 = id_of(&create(&a, "/Users", &user("u3@example.com")));
    let g = id_of(&create(&a, "/Groups", &group("Sales", &[&u1, &u2])));
    let mut replaced = user("u2@example.com");
    replaced["name"] = json!({"givenName": "Bo", "familyName": "Replaced"});
    replaced["title"] = json!("Manager");
    assert_eq!(
        a.put(&format!("/Users/{u2}"), &replaced).status().as_u16(),
        200
    );
    patch(
        &a,
        &format!("/Users/{u1}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    patch(
        &a,
        &format!("/Groups/{g}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
               {"op": "add", "path": "members", "value": [{"value": u3}]},
               {"op": "replace", "path": "displayName", "value": "Sales EMEA"}]),
    );
    let g2 = id_of(&create(&a, "/Groups", &group("Temp", &[&u3])));
    assert_eq!(a.delete(&format!("/Groups/{g2}")).status().as_u16(), 204);
    assert_eq!(a.delete(&format!("/Users/{u3}")).status().as_u16(), 204);

    eventually(|| mirrored(&a, &b));
    no_dead_jobs(&a);
    let (users, groups) = snapshot(&b);
    assert_eq!(users.len(), 2);
    assert_eq!(users["u1@example.com"]["active"], false);
    assert_eq!(users["u2@example.com"]["title"], "Manager");
    assert_eq!(groups["Sales EMEA"], ["u2@example.com"]);
    // B's group lists B's ids, not A's.
    let b_group = &all(&b, "/Groups")[0];
    let b_u2 = id_of(
        &all(&b, "/Users")
            .into_iter()
            .find(|u| u["userName"] == "u2@example.com")
            .unwrap(),
    );
    assert_eq!(b_group["members"][0]["value"], json!(b_u2));
    assert_ne!(b_u2, u2);
    drop(a);
    let _ = std::fs::remove_dir_all(dir);
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// B is down while changes are made on A: the jobs wait and retry, and once B is back
/// everything arrives, each resource's changes in order.
#[test]
fn changes_made_while_b_is_down_arrive_in_order_once_it_is_back() {
    let listen = format!("127.0.0.1:{}", free_port());
    let b_dir = scratch_dir("b");
    let mut b = Gateway::start_in(&b_dir, &["--listen", &listen]);
    let a_dir = scratch_dir("a");
    let a = start_a(&a_dir, &fast_retry_config(&a_dir), &b.base);
    let seed = id_of(&create(&a, "/Users", &user("seed@example.com")));
    eventually(|| mirrored(&a, &b));

    b.kill9();
    let u = id_of(&create(&a, "/Users", &user("ann@example.com")));
    for step in 1..=5 {
        patch(
            &a,
            &format!("/Users/{u}"),
            json!([{"op": "replace", "path": "title", "value": format!("t{step}")}]),
        );
    }
    create(&a, "/Groups", &group("Ops", &[&u, &seed]));
    assert_eq!(a.delete(&format!("/Users/{seed}")).status().as_u16(), 204);
    eventually(|| {
        let pending = a.admin("/admin/v1/jobs");
        let retried = pending["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j["state"] == "retrying"));
        retried
            .then_some(())
            .ok_or(format!("no job retrying yet: {pending}"))
    });

    let b = Gateway::start_in(&b_dir, &["--listen", &listen]);
    eventually(|| mirrored(&a, &b));
    no_dead_jobs(&a);
    let (users, groups) = snapshot(&b);
    assert_eq!(
        users["ann@example.com"]["title"], "t5",
        "the last change wins: delivered in order"
    );
    assert!(!users.contains_key("seed@example.com"));
    assert_eq!(groups["Ops"], ["ann@example.com"]);
    drop((a, b));
    let _ = std::fs::remove_dir_all(a_dir);
    let _ = std::fs::remove_dir_all(b_dir);
}

/// A is killed with SIGKILL while clients write to it; after a restart every acknowledged
/// change reaches B, once (B holds exactly A's users: none lost, none duplicated).
#[test]
fn acknowledged_changes_reach_b_after_a_is_killed() {
    let b = Gateway::start();
    let a_dir = scratch_dir("a");
    let config = fast_retry_config(&a_dir);
    let mut a = start_a(&a_dir, &config, &b.base);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (client, base, acked) = (a.client.clone(), a.base.clone(), acked.clone());
            std::thread::spawn(move || {
                for i in 0..500 {
                    let name = format!("k{t}-{i}@example.com");
                    let sent = client
                        .post(format!("{base}/Users"))
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/scim+json")
                        .body(user(&name).to_string())
                        .send();
                    match sent.map(|r| r.status().as_u16()) {
                        Ok(201) => acked.lock().unwrap().push(name),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 150 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    a.kill9();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 150, "only {} acknowledged", acked.len());

    let a = start_a(&a_dir, &config, &b.base);
    eventually(|| mirrored(&a, &b));
    no_dead_jobs(&a);
    let (on_b, _) = snapshot(&b);
    for name in &acked {
        assert!(
            on_b.contains_key(name),
            "{name} was acknowledged by A but never reached B"
        );
    }
    assert_eq!(on_b.len(), snapshot(&a).0.len());
    drop(a);
    let _ = std::fs::remove_dir_all(a_dir);
}

/// Connectors whose plugin loops, allocates too much, panics, calls a host it was not allowed
/// and answers an enormous payload: each delivery is dead-lettered with its own reason, and the
/// gateway keeps serving SCIM requests while they fail.
#[test]
fn hostile_plugins_fail_with_their_own_reason_and_the_gateway_keeps_serving() {
    let plugin = build_plugin("hostile", &[]).display().to_string();
    let connector = |name: &str, mode: &str| {
        format!(
            "[[connectors]]\nname = \"{name}\"\nplugin = \"{plugin}\"\nresource_types = [\"User\"]\n\
             timeout_ms = 1000\n[connectors.config]\nmode = \"{mode}\"\nurl = \"http://127.0.0.1:9/x\"\n"
        )
    };
    let toml = format!(
        "[delivery]\nmax_attempts = 1\n\n{}{}{}{}{}",
        connector("loops", "loop"),
        connector("hogs", "alloc"),
        connector("panics", "panic"),
        connector("trespasses", "fetch"),
        connector("floods", "huge-id"),
    );
    let a = Gateway::start_with_config(&toml);
    create(&a, "/Users", &user("victim@example.com"));
    // While the plugins misbehave, SCIM requests are answered.
    for i in 0..20 {
        let (status, _) = parts(a.get("/Users?count=1"));
        assert_eq!(status, 200);
        create(&a, "/Groups", &group(&format!("g{i}"), &[]));
    }
    let mut reasons = BTreeMap::new();
    eventually(|| {
        let dead = a.admin("/admin/v1/jobs?state=dead&limit=1000");
        reasons = dead["jobs"]
            .as_array()
            .map(|jobs| {
                jobs.iter()
                    .map(|j| {
                        let attempt = &j["attempts"][0];
                        let reason = format!(
                            "{} {}",
                            attempt["outcome"].as_str().unwrap_or(""),
                            attempt["message"].as_str().unwrap_or("")
                        );
                        (
                            j["connector"].as_str().unwrap_or_default().to_owned(),
                            reason,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (reasons.len() == 5)
            .then_some(())
            .ok_or(format!("dead so far: {reasons:?}"))
    });
    let expect = |connector: &str, outcome: &str, words: &str| {
        let reason = &reasons[connector];
        assert!(reason.starts_with(outcome), "{connector}: {reason}");
        assert!(
            reason.to_lowercase().contains(words),
            "{connector}: {reason}"
        );
    };
    expect("loops", "timeout", "deadline");
    expect("hogs", "memory", "memory limit");
    expect("panics", "trap", "panics on purpose");
    expect("trespasses", "permanent", "denied");
    expect("floods", "bad-output", "refused");
    let (status, _) = parts(a.get("/Users"));
    assert_eq!(status, 200);
}
