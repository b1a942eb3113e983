//! The dispatcher against a real store and an in-process connector that records what it gets.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::*;
use crate::model::ResourceKind;
use crate::store::redb::RedbStore;
use crate::store::{Change, WriteOp};
use registry::Entry;

/// Records every event; fails the first `fail` attempts with `failure`.
struct Recorder {
    /// (resource id, operation, userName) in delivery order.
    seen: Mutex<Vec<(String, Operation, Value)>>,
    /// Attempts left to fail.
    fail: AtomicU32,
    /// How they fail.
    failure: Failure,
    /// Whether it takes membership deltas.
    deltas: bool,
    /// Each group event: (operation, the members its resource lists, the members its delta adds).
    groups: Mutex<Vec<GroupCall>>,
}

/// A group event as [`Recorder`] keeps it.
type GroupCall = (Operation, Vec<String>, Vec<String>);

impl Connector for Recorder {
    fn deliver(&self, event: ConnectorEvent, _ids: IdLookup) -> DeliverFuture {
        let failing = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !failing && event.kind == ResourceKind::Group {
            let listed = (event.resource.get("members").and_then(Value::as_array))
                .map(|m| {
                    m.iter()
                        .filter_map(|m| m["value"].as_str())
                        .map(str::to_owned)
                })
                .map(Iterator::collect)
                .unwrap_or_default();
            let added = (event.members.iter().flat_map(|d| &d.added))
                .map(|m| m.id.clone())
                .collect();
            let seen = (event.operation, listed, added);
            self.groups.lock().unwrap().push(seen);
        }
        if !failing {
            let name = event
                .resource
                .get("userName")
                .cloned()
                .unwrap_or(Value::Null);
            self.seen
                .lock()
                .unwrap()
                .push((event.id.clone(), event.operation, name));
        }
        let failure = self.failure.clone();
        Box::pin(async move {
            // Yield so that attempts of different resources interleave.
            tokio::task::yield_now().await;
            let result = if failing {
                Err(failure)
            } else {
                Ok(RemoteRef {
                    remote_id: format!("remote-{}", event.id),
                    remote_version: None,
                })
            };
            Attempted {
                result,
                logs: vec![format!("info: saw {}", event.id)],
                paced: Default::default(),
            }
        })
    }

    fn takes_member_deltas(&self) -> bool {
        self.deltas
    }
}

fn recorder(fail: u32, failure: Failure) -> Arc<Recorder> {
    Arc::new(Recorder {
        seen: Mutex::default(),
        fail: AtomicU32::new(fail),
        failure,
        deltas: false,
        groups: Mutex::default(),
    })
}

fn open(tag: &str) -> (Arc<RedbStore>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("delivery-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (Arc::new(RedbStore::open(&dir).unwrap()), dir)
}

/// A retry policy with short backoffs (5 ms, doubling up to 20 ms).
fn quick(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay_ms: 5,
        max_delay_ms: 20,
    }
}

fn start(store: Arc<RedbStore>, connector: Arc<Recorder>, max_attempts: u32) -> Arc<Notify> {
    let metrics = Arc::new(DeliveryMetrics::new(["c"]));
    start_reporting(store, connector, quick(max_attempts), metrics)
}

/// [`start`] with `policy`, reporting to `metrics`.
fn start_reporting(
    store: Arc<RedbStore>,
    connector: Arc<Recorder>,
    policy: RetryPolicy,
    metrics: Arc<DeliveryMetrics>,
) -> Arc<Notify> {
    let committed = Arc::new(Notify::new());
    let connectors = Registry::new([(
        "c".to_owned(),
        Entry {
            connector: connector as Arc<dyn Connector>,
            kinds: vec![ResourceKind::User, ResourceKind::Group],
            scope: Arc::default(),
            blocking: false,
            enabled: true,
        },
    )]);
    tokio::spawn(
        Dispatcher {
            store,
            connectors: Arc::new(connectors),
            policy,
            committed: committed.clone(),
            workers: 4,
            member_linger_ms: 0,
            metrics,
            system_of_record: None,
            vault: Arc::new(crate::vault::Vault::ephemeral()),
        }
        .run(),
    );
    committed
}

async fn write(store: &RedbStore, op: WriteOp) {
    let change = Change {
        scoped: Vec::new(),
        delivered: Vec::new(),
        op,
        deliver_to: vec!["c".into()],
        changed_paths: Vec::new(),
        actor: None,
        password: None,
    };
    store.write(change).await.unwrap();
}

fn user(id: &str, name: &str) -> Value {
    json!({"schemas": [], "id": id, "userName": name, "meta": {"created": "t", "lastModified": "t"}})
}

/// How long one wait on the dispatcher may take: a bound, not a timing claim (the machine may be
/// busy), the same as the end-to-end tests' `eventually`.
const PATIENCE: Duration = Duration::from_secs(180);

/// Waits until `done` holds, at most [`PATIENCE`]; the panic names `what` was awaited.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "not reached in {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs a test's body, failing it if it hangs (an await that is not one of its bounded waits).
async fn bounded<T>(body: impl Future<Output = T>) -> T {
    let limit = PATIENCE * 2;
    tokio::time::timeout(limit, body)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish in {limit:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_one_resource_arrive_in_order_and_jobs_leave_the_outbox() {
    bounded(async {
        let (store, dir) = open("order");
        let rec = recorder(0, Failure::transient(""));
        let signal = start(store.clone(), rec.clone(), 3);
        for r in 0..5 {
            let id = format!("u{r}");
            write(
                &store,
                WriteOp::Create {
                    kind: ResourceKind::User,
                    resource: user(&id, &format!("{id}-v0")),
                },
            )
            .await;
            for v in 1..4 {
                let op = WriteOp::Replace {
                    kind: ResourceKind::User,
                    resource: user(&id, &format!("{id}-v{v}")),
                    expected_version: None,
                    members: crate::store::MemberWrite::Whole,
                };
                write(&store, op).await;
            }
            signal.notify_one();
        }
        until("20 events delivered", || {
            rec.seen.lock().unwrap().len() == 20
        })
        .await;
        let seen = rec.seen.lock().unwrap().clone();
        for r in 0..5 {
            let mine: Vec<&(String, Operation, Value)> = seen
                .iter()
                .filter(|(id, ..)| *id == format!("u{r}"))
                .collect();
            let ops: Vec<Operation> = mine.iter().map(|(_, op, _)| *op).collect();
            use Operation::{Create, Replace};
            assert_eq!(ops, [Create, Replace, Replace, Replace], "in commit order");
            // Each event carries the current state, so the last one delivered is the last committed.
            assert_eq!(mine[3].2, json!(format!("u{r}-v3")));
        }
        until("an empty outbox", || {
            store.jobs_after(0, 10).unwrap().is_empty()
        })
        .await;
        let remote = store.remote_ref("c", "User", "u3").unwrap().unwrap();
        assert_eq!(remote.remote_id, "remote-u3");
        // Delivered jobs are kept in the history, each attempt with what the connector logged.
        let filter = crate::store::JobFilter {
            resource_id: Some("u3".into()),
            ..Default::default()
        };
        let history = store
            .list_jobs(crate::store::Shelf::Delivered, &filter, 0, 10)
            .unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(history[0].attempts[0].logs, ["info: saw u3"]);
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_retry_then_deliver_and_permanent_ones_dead_letter() {
    bounded(async {
        let (store, dir) = open("retry");
        let rec = recorder(2, Failure::transient("target down"));
        // Backoffs long enough to tell a retry that waited from one that did not.
        let backoff = RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 100,
        };
        let metrics = Arc::new(DeliveryMetrics::new(["c"]));
        let signal = start_reporting(store.clone(), rec.clone(), backoff.clone(), metrics);
        write(
            &store,
            WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("a", "ann"),
            },
        )
        .await;
        signal.notify_one();
        until("the event delivered", || {
            rec.seen.lock().unwrap().len() == 1
        })
        .await;
        until("an empty outbox", || {
            store.jobs_after(0, 10).unwrap().is_empty()
        })
        .await;
        assert!(store.dead_jobs().unwrap().is_empty());
        // The delivered job keeps every attempt in order, each with its outcome, message and
        // logs, and each retry started no sooner than the backoff after the attempt before.
        let filter = crate::store::JobFilter {
            resource_id: Some("a".into()),
            ..Default::default()
        };
        let history = store
            .list_jobs(crate::store::Shelf::Delivered, &filter, 0, 10)
            .unwrap();
        assert_eq!(history.len(), 1, "{history:?}");
        let attempts = &history[0].attempts;
        let summary: Vec<(&str, &str)> = attempts
            .iter()
            .map(|a| (a.outcome.as_str(), a.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("transient", "target down"),
                ("transient", "target down"),
                ("delivered", "remote-a"),
            ],
            "the delivered job's attempts, in order"
        );
        for a in attempts {
            assert_eq!(a.logs, ["info: saw a"], "{a:?}");
        }
        for (tries, pair) in (1u32..).zip(attempts.windows(2)) {
            // The policy's backoff, jittered down to half at most.
            let least_backoff = backoff.base_delay_ms / 2;
            let due = pair[0].at_ms + pair[0].duration_ms + least_backoff;
            assert!(
                pair[1].at_ms >= due,
                "attempt {} started at {} ms, before its retry was due at {due} ms: {attempts:?}",
                tries + 1,
                pair[1].at_ms
            );
        }

        let (store2, dir2) = open("dead");
        let rec2 = recorder(1, Failure::permanent("rejected"));
        let signal2 = start(store2.clone(), rec2.clone(), 5);
        write(
            &store2,
            WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("b", "bo"),
            },
        )
        .await;
        signal2.notify_one();
        until("one dead letter", || store2.dead_jobs().unwrap().len() == 1).await;
        let dead = &store2.dead_jobs().unwrap()[0];
        assert_eq!(dead.attempts.len(), 1);
        assert_eq!(
            (
                dead.attempts[0].outcome.as_str(),
                dead.attempts[0].message.as_str()
            ),
            ("permanent", "rejected")
        );
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(dir2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_dead_letters_after_max_attempts() {
    bounded(async {
        let (store, dir) = open("exhaust");
        let rec = recorder(
            u32::MAX,
            Failure {
                kind: crate::model::FailureKind::Timeout,
                message: "deadline".into(),
                retryable: true,
            },
        );
        let signal = start(store.clone(), rec, 3);
        write(
            &store,
            WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("a", "ann"),
            },
        )
        .await;
        signal.notify_one();
        until("one dead letter", || store.dead_jobs().unwrap().len() == 1).await;
        let outcomes: Vec<String> = store.dead_jobs().unwrap()[0]
            .attempts
            .iter()
            .map(|a| a.outcome.clone())
            .collect();
        assert_eq!(outcomes, ["timeout", "timeout", "timeout"]);
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_committed_before_start_are_delivered() {
    bounded(async {
        let (store, dir) = open("resume");
        write(
            &store,
            WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("a", "ann"),
            },
        )
        .await;
        write(
            &store,
            WriteOp::Delete {
                kind: ResourceKind::User,
                id: "a".into(),
                expected_version: None,
            },
        )
        .await;
        let kept = WriteOp::Create {
            kind: ResourceKind::User,
            resource: user("b", "bo"),
        };
        write(&store, kept).await;
        let rec = recorder(0, Failure::transient(""));
        start(store.clone(), rec.clone(), 3);
        // The create of `a` finds it already deleted: it is skipped, and only the delete is sent.
        until("an empty outbox", || {
            store.jobs_after(0, 10).unwrap().is_empty()
        })
        .await;
        let ops: Vec<(String, Operation)> = rec
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(id, op, _)| (id.clone(), *op))
            .collect();
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(ops.contains(&("a".into(), Operation::Delete)), "{ops:?}");
        assert!(ops.contains(&("b".into(), Operation::Create)), "{ops:?}");
        until("an empty outbox", || {
            store.jobs_after(0, 10).unwrap().is_empty()
        })
        .await;
        assert_eq!(
            store.remote_ref("c", "User", "a").unwrap(),
            None,
            "a delivered delete forgets the remote id"
        );
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

/// The metrics' exposition text.
fn exposition(metrics: &DeliveryMetrics) -> String {
    let mut e = crate::metrics::text::Encoder::default();
    metrics.encode(&mut e);
    e.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_reports_attempts_faults_and_dead_letters_to_the_metrics() {
    bounded(async {
        let (store, dir) = open("metrics");
        let trap = Failure {
            kind: crate::model::FailureKind::Trap,
            message: "unreachable".into(),
            retryable: false,
        };
        let metrics = Arc::new(DeliveryMetrics::new(["c"]));
        let signal = start_reporting(store.clone(), recorder(1, trap), quick(3), metrics.clone());
        until("the dispatcher started", || metrics.has_started()).await;
        for (id, name) in [("a", "ann"), ("b", "bo")] {
            let op = WriteOp::Create {
                kind: ResourceKind::User,
                resource: user(id, name),
            };
            write(&store, op).await;
        }
        signal.notify_one();
        let line = |text: &str, l: &str| text.lines().any(|x| x == l);
        until("one delivered and one dead job in the metrics", || {
            let text = exposition(&metrics);
            line(
                &text,
                r#"scim_gateway_delivery_jobs_delivered_total{connector="c"} 1"#,
            ) && line(
                &text,
                r#"scim_gateway_delivery_jobs{connector="c",state="dead"} 1"#,
            )
        })
        .await;
        let text = exposition(&metrics);
        for expected in [
            r#"scim_gateway_delivery_jobs{connector="c",state="pending"} 0"#,
            r#"scim_gateway_delivery_jobs{connector="c",state="retrying"} 0"#,
            r#"scim_gateway_delivery_jobs_dead_lettered_total{connector="c"} 1"#,
            r#"scim_gateway_delivery_attempts_total{connector="c",outcome="trap"} 1"#,
            r#"scim_gateway_delivery_attempts_total{connector="c",outcome="delivered"} 1"#,
            r#"scim_gateway_plugin_faults_total{connector="c",kind="trap"} 1"#,
            r#"scim_gateway_plugin_faults_total{connector="c",kind="timeout"} 0"#,
            r#"scim_gateway_plugin_call_duration_seconds_count{connector="c"} 2"#,
            r#"scim_gateway_delivery_oldest_pending_age_seconds{connector="c"} 0"#,
        ] {
            assert!(line(&text, expected), "no `{expected}` in\n{text}");
        }

        // A restarted dispatcher finds the dead letter in the store.
        let again = Arc::new(DeliveryMetrics::new(["c"]));
        start_reporting(
            store.clone(),
            recorder(0, Failure::transient("")),
            quick(3),
            again.clone(),
        );
        until("the restarted dispatcher started", || again.has_started()).await;
        let text = exposition(&again);
        let expected = r#"scim_gateway_delivery_jobs{connector="c",state="dead"} 1"#;
        assert!(line(&text, expected), "no `{expected}` in\n{text}");
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_group_reaches_a_connector_that_takes_deltas_a_page_per_call() {
    bounded(async {
        let (store, dir) = open("pages");
        let rec = Arc::new(Recorder {
            deltas: true,
            ..Arc::into_inner(recorder(0, Failure::transient(""))).unwrap()
        });
        let signal = start(store.clone(), rec.clone(), 3);
        let n = 2 * fill::PAGE + 100;
        let ids: Vec<String> = (0..n).map(|i| format!("u{i:05}")).collect();
        for id in &ids {
            let resource = user(id, id);
            write(
                &store,
                WriteOp::Create {
                    kind: ResourceKind::User,
                    resource,
                },
            )
            .await;
        }
        let members: Vec<Value> = ids
            .iter()
            .map(|id| json!({"value": id, "type": "User"}))
            .collect();
        let group = json!({"schemas": [], "id": "g", "displayName": "All staff", "members": members,
            "meta": {"created": "t", "lastModified": "t"}});
        write(
            &store,
            WriteOp::Create {
                kind: ResourceKind::Group,
                resource: group,
            },
        )
        .await;
        signal.notify_one();
        until("an empty outbox", || {
            store.jobs_after(0, 10).unwrap().is_empty()
        })
        .await;
        let calls = rec.groups.lock().unwrap().clone();
        let sizes: Vec<(Operation, usize, usize)> = calls
            .iter()
            .map(|(op, listed, added)| (*op, listed.len(), added.len()))
            .collect();
        use Operation::{Create, Replace};
        let page = fill::PAGE;
        assert_eq!(
            sizes,
            [(Create, page, 0), (Replace, 0, page), (Replace, 0, 100)],
            "the create carries the first page, each next call adds one"
        );
        let delivered: Vec<&String> = calls
            .iter()
            .flat_map(|(_, l, a)| l.iter().chain(a))
            .collect();
        assert_eq!(
            delivered,
            ids.iter().collect::<Vec<_>>(),
            "every member once, in order"
        );
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}
