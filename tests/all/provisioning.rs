//! Outbound provisioning: gateway A delivers every change, through the bundled `scim2` connector
//! (a real WebAssembly component), to gateway B, a second real instance on loopback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scim_gateway_e2e::{
    ClosedPort, Gateway, TOKEN, Target, Writers, build_plugin, create, echo_config, eventually,
    group, id_of, parts, scratch_dir, user, when, workspace, write_config,
};
use serde_json::{Value, json};

/// The shipped example: A provisions everything to `${TARGET_SCIM_URL}`.
fn example_config() -> PathBuf {
    workspace().join("examples").join("provision-to-scim.toml")
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
    // A group's PATCH answers 204, a user's 200 with the user.
    let want = if path.starts_with("/Groups/") {
        204
    } else {
        200
    };
    assert_eq!(status, want, "PATCH {path}: {body}");
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
}

/// `Ok` once `gw` has nothing left to deliver.
fn outbox_empty(gw: &Gateway) -> Result<(), String> {
    let pending = gw.admin("/admin/v1/jobs");
    when(pending["total"] == 0, &format!("jobs left: {pending}"))
}

/// The (operation, title) of each event about `id`, in arrival order.
fn history(events: &[Value], id: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["id"] == id)
        .map(|e| (text(&e["operation"]), text(&e["resource"]["title"])))
        .collect()
}

/// The expected history: a create, then a replace per step, each with the title of `titles`.
fn expected(titles: &[String]) -> Vec<(String, String)> {
    titles
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let op = if n == 0 { "create" } else { "replace" };
            (op.to_owned(), t.clone())
        })
        .collect()
}

/// Each resource's changes reach the target one at a time, in commit order: a create, then
/// each replace. The first attempt of every create fails (the target answers `503`) while four
/// replaces wait behind it; each is delivered after its create and in commit order, the
/// create's retry carrying the newest state (a retried attempt sends the current state). Then
/// every replace is committed while the one before it is in flight, so each carries its own
/// title; and no change of a resource is sent while an earlier one is unanswered.
#[test]
fn each_resources_changes_arrive_one_at_a_time_in_commit_order_after_a_failed_first_attempt() {
    let sink = Target::start();
    let a = Gateway::start_with_config(&echo_config(&sink));
    let title = |n: usize, step: usize| format!("u{n}-t{step}");
    let set_title = |id: &str, title: String| {
        patch(
            &a,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "title", "value": title}]),
        );
    };

    // The three creates are attempted at once (one queue per resource), held, and refused.
    sink.hold();
    sink.refuse_next(3);
    let ids: Vec<String> = (0..3)
        .map(|n| {
            let mut body = user(&format!("u{n}@example.com"));
            body["title"] = json!(title(n, 0));
            id_of(&create(&a, "/Users", &body))
        })
        .collect();
    eventually(|| when(sink.held().len() == 3, "the three creates are in flight"));
    for step in 1..=4 {
        for (n, id) in ids.iter().enumerate() {
            set_title(id, title(n, step));
        }
    }
    sink.stop_holding();
    eventually(|| outbox_empty(&a));

    // Paced: each replace is committed while the one before it is held at the target, so its
    // attempt starts only after its own commit and before the next.
    let held_titles = || {
        let mut titles: Vec<String> = (sink.held().iter())
            .map(|e| text(&e["resource"]["title"]))
            .collect();
        titles.sort();
        titles
    };
    sink.hold();
    for step in 5..=8 {
        for (n, id) in ids.iter().enumerate() {
            set_title(id, title(n, step));
        }
        if step > 5 {
            sink.release_held();
        }
        let want: Vec<String> = (0..3).map(|n| title(n, step)).collect();
        eventually(|| {
            let held = held_titles();
            when(
                held == want,
                &format!("held {held:?}, waiting for {want:?}"),
            )
        });
    }
    sink.stop_holding();
    eventually(|| outbox_empty(&a));

    let arrivals = sink.arrivals();
    for (n, id) in ids.iter().enumerate() {
        let first = arrivals.iter().find(|x| x.body["id"] == id.as_str());
        let first = first.unwrap_or_else(|| panic!("nothing arrived for {id}"));
        assert!(
            first.refused()
                && first.body["operation"] == "create"
                && first.body["resource"]["title"] == title(n, 0),
            "the first attempt is the create with its own title, refused: {first:?}"
        );
        let mut titles = vec![title(n, 4); 5];
        titles.extend((5..=8).map(|step| title(n, step)));
        assert_eq!(
            history(&sink.delivered(), id),
            expected(&titles),
            "u{n}: a create, then each replace in commit order"
        );
    }
    assert_eq!(
        sink.overlaps(),
        Vec::<String>::new(),
        "one change of a resource at a time"
    );
    no_dead_jobs(&a);
}

/// A is killed with SIGKILL while clients write to it; after a restart every change it
/// acknowledged, and every other change it committed, is delivered exactly once: at a
/// recording target, each (operation, id) is accepted once. Before the kill the target holds
/// every request, and the kill waits until each attempt A has in flight is one the target
/// holds: so no delivery the target accepted is still unrecorded at A (redelivering those is
/// the at-least-once contract, not a duplicate), and the held ones are closed unanswered.
#[test]
fn every_committed_change_is_delivered_exactly_once_across_a_kill_9() {
    let sink = Target::start();
    let a_dir = scratch_dir("a");
    let config = write_config(&a_dir, &echo_config(&sink));
    let config = config.to_str().expect("utf-8 path").to_owned();
    let mut a = Gateway::start_in(&a_dir, &["--config", &config]);
    let writers = Writers::start(&a, "k", 4, 250);
    writers.wait_for(150);
    eventually(|| when(!sink.delivered().is_empty(), "deliveries have begun"));

    sink.hold();
    eventually(|| {
        let held: Vec<(String, String)> = sink.held().iter().map(op_and_id).collect();
        let running = a.admin("/admin/v1/jobs?state=running&limit=1000");
        let running: Vec<(String, String)> = running["jobs"]
            .as_array()
            .map(|jobs| {
                jobs.iter()
                    .map(|j| (text(&j["operation"]), text(&j["resource_id"])))
                    .collect()
            })
            .unwrap_or_default();
        let unheld: Vec<_> = running.iter().filter(|r| !held.contains(r)).collect();
        when(
            unheld.is_empty(),
            &format!("attempts not held at the target: {unheld:?}"),
        )
    });
    a.kill9();
    let acked = writers.join();
    sink.abandon_held();

    let a = Gateway::start_in(&a_dir, &["--config", &config]);
    eventually(|| outbox_empty(&a));
    no_dead_jobs(&a);
    let stored: Vec<String> = all_users(&a).iter().map(id_of).collect();
    for (name, id) in &acked {
        assert!(
            stored.contains(id),
            "{name} was acknowledged but is not stored"
        );
    }
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for event in sink.delivered() {
        *counts.entry(op_and_id(&event)).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{} of {} changes delivered more than once, e.g. {:?}",
        twice.len(),
        counts.len(),
        &twice[..twice.len().min(5)]
    );
    let lost: Vec<&String> = (stored.iter())
        .filter(|id| !counts.contains_key(&("create".to_owned(), (*id).clone())))
        .collect();
    let about = |id: &String| {
        let arrived: Vec<_> = (sink.arrivals().into_iter())
            .filter(|x| x.body["id"] == id.as_str())
            .map(|x| (x.status, x.answer))
            .collect();
        let jobs = a.admin(&format!("/admin/v1/jobs?state=delivered&resource_id={id}"));
        format!("{id}: arrived {arrived:?}, delivered jobs {jobs}")
    };
    let lost: Vec<String> = lost.into_iter().map(about).collect();
    assert!(lost.is_empty(), "committed but never delivered: {lost:#?}");
    assert_eq!(
        counts.len(),
        stored.len(),
        "only the stored users: {counts:?}"
    );
}

/// A JSON string's text (empty for anything else).
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// An event's (operation, id).
fn op_and_id(event: &Value) -> (String, String) {
    (text(&event["operation"]), text(&event["id"]))
}

/// Every user, page by page.
fn all_users(gw: &Gateway) -> Vec<Value> {
    let mut users = Vec::new();
    loop {
        let start = (users.len() + 1).to_string();
        let page = gw.list("/Users", &[("startIndex", &start), ("count", "1000")]);
        let got = page["Resources"].as_array().cloned().unwrap_or_default();
        if got.is_empty() {
            return users;
        }
        users.extend(got);
    }
}

/// Connectors whose plugin loops, allocates too much, panics, calls a host it was not allowed
/// and answers an enormous payload: each delivery is dead-lettered with its own reason, and the
/// gateway keeps serving SCIM requests while they fail.
#[test]
fn hostile_plugins_fail_with_their_own_reason_and_the_gateway_keeps_serving() {
    let plugin = build_plugin("hostile", &[]).display().to_string();
    // Not in `allowed_hosts`: the call is denied before any connection (and nothing would answer).
    let closed = ClosedPort::new();
    let url = format!("{}/x", closed.origin());
    let connector = |name: &str, mode: &str| {
        format!(
            "[[connectors]]\nname = \"{name}\"\nplugin = \"{plugin}\"\nresource_types = [\"User\"]\n\
             timeout_ms = 1000\n[connectors.config]\nmode = \"{mode}\"\nurl = \"{url}\"\n"
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
