//! Unit tests of what the admin API reads and does in the redb store: the delivery history and
//! its retention, retrying and discarding dead jobs, listing jobs, and the audit trail.

use super::*;
use crate::model::Operation;
use crate::store::audit::AuditEvent;
use crate::store::outbox::{Attempt, JobState};
use crate::store::{Change, WriteOp};

use serde_json::json;

fn temp_store(keep_delivered: u64) -> (RedbStore, std::path::PathBuf) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("redb-admin-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = StoreOptions {
        keep_delivered,
        ..StoreOptions::default()
    };
    let store = RedbStore::open_with(&dir, options).unwrap();
    (store, dir)
}

fn user(id: &str, name: &str) -> Value {
    json!({"schemas": [], "id": id, "userName": name,
           "meta": {"resourceType": "User", "created": "t", "lastModified": "t"}})
}

fn attempt(outcome: &str) -> Attempt {
    Attempt {
        at_ms: 1,
        duration_ms: 1,
        outcome: outcome.into(),
        message: format!("{outcome} message"),
        logs: vec![format!("info: {outcome}")],
    }
}

/// Creates user `id` by `actor`, delivered to `connectors`.
async fn create(store: &RedbStore, id: &str, actor: &str, connectors: &[&str]) {
    store
        .write(Change {
            scoped: Vec::new(),
            delivered: Vec::new(),
            op: WriteOp::Create {
                kind: ResourceKind::User,
                resource: user(id, id),
            },
            deliver_to: connectors.iter().map(|c| c.to_string()).collect(),
            changed_paths: Vec::new(),
            actor: Some(actor.into()),
            password: None,
        })
        .await
        .unwrap();
}

fn all_audit(store: &RedbStore) -> Vec<AuditEntry> {
    store
        .audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .unwrap()
}

#[tokio::test]
async fn the_delivery_history_keeps_the_newest_delivered_jobs() {
    let (store, dir) = temp_store(2);
    for id in ["a", "b", "c"] {
        create(&store, id, "t", &["x"]).await;
    }
    let jobs = store.jobs_after(0, 10).unwrap();
    for job in &jobs {
        store
            .finish_job(job.seq, JobOutcome::Delivered(attempt("delivered"), None))
            .await
            .unwrap();
    }
    let history = store
        .list_jobs(Shelf::Delivered, &JobFilter::default(), 0, 10)
        .unwrap();
    let ids: Vec<&str> = history.iter().map(|j| j.resource_id.as_str()).collect();
    assert_eq!(ids, ["b", "c"], "the oldest is pruned");
    assert_eq!(history[0].state, JobState::Delivered);
    assert_eq!(history[0].attempts[0].logs, ["info: delivered"]);
    assert!(store.job(jobs[0].seq).unwrap().is_none());
    assert_eq!(store.job(jobs[2].seq).unwrap().unwrap().resource_id, "c");
    // Filters and the cursor.
    let only_c = JobFilter {
        resource_type: Some("User".into()),
        resource_id: Some("c".into()),
        ..JobFilter::default()
    };
    assert_eq!(
        store
            .list_jobs(Shelf::Delivered, &only_c, 0, 10)
            .unwrap()
            .len(),
        1
    );
    let after_b = store
        .list_jobs(Shelf::Delivered, &JobFilter::default(), jobs[1].seq, 10)
        .unwrap();
    assert_eq!(after_b.len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn keeping_no_delivered_jobs_keeps_no_history() {
    let (store, dir) = temp_store(0);
    create(&store, "a", "t", &["x"]).await;
    let job = &store.jobs_after(0, 10).unwrap()[0];
    store
        .finish_job(job.seq, JobOutcome::Delivered(attempt("delivered"), None))
        .await
        .unwrap();
    assert!(
        store
            .list_jobs(Shelf::Delivered, &JobFilter::default(), 0, 10)
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Creates users `ids` for connector `x` (and `a` for `y`) and kills every job.
async fn dead_jobs(store: &RedbStore, ids: &[&str]) -> Vec<Job> {
    for id in ids {
        create(store, id, "t", &["x"]).await;
    }
    create(store, "other", "t", &["y"]).await;
    for job in store.jobs_after(0, 100).unwrap() {
        store
            .finish_job(job.seq, JobOutcome::Dead(attempt("permanent")))
            .await
            .unwrap();
    }
    store.dead_jobs().unwrap()
}

#[tokio::test]
async fn a_retried_dead_job_returns_to_the_outbox_with_a_fresh_seq_and_its_attempts() {
    let (store, dir) = temp_store(10);
    let dead = dead_jobs(&store, &["a", "b"]).await;
    let highest = dead.iter().map(|j| j.seq).max().unwrap();
    let selection = DeadSelection {
        connector: None,
        seqs: Some(vec![dead[0].seq, 9999]),
    };
    let retried = store
        .act_on_dead(DeadAction::Retry, selection)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1, "an unknown seq is passed over");
    let job = &retried[0];
    assert!(job.seq > highest, "a fresh seq, after every earlier job");
    assert_eq!(job.retried_from, Some(dead[0].seq));
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(job.attempts.len(), 1);
    assert_eq!(store.jobs_after(highest, 10).unwrap(), retried);
    assert!(store.job(dead[0].seq).unwrap().is_none());
    assert_eq!(store.dead_jobs().unwrap().len(), 2);
    // Retrying it again finds nothing: it is no longer dead.
    let again = DeadSelection {
        connector: None,
        seqs: Some(vec![dead[0].seq, job.seq]),
    };
    let none = store.act_on_dead(DeadAction::Retry, again).await.unwrap();
    assert!(none.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn dead_jobs_are_discarded_by_connector_or_by_seq() {
    let (store, dir) = temp_store(10);
    let dead = dead_jobs(&store, &["a", "b", "c"]).await;
    assert_eq!(dead.len(), 4);
    let by_connector = DeadSelection {
        connector: Some("x".into()),
        seqs: None,
    };
    let gone = store
        .act_on_dead(DeadAction::Discard, by_connector)
        .await
        .unwrap();
    assert_eq!(gone.len(), 3);
    let left = store.dead_jobs().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].connector, "y");
    assert!(
        store.jobs_after(0, 10).unwrap().is_empty(),
        "nothing queued"
    );
    // Both parts given: only jobs matching both.
    let mismatch = DeadSelection {
        connector: Some("x".into()),
        seqs: Some(vec![left[0].seq]),
    };
    let none = store
        .act_on_dead(DeadAction::Discard, mismatch)
        .await
        .unwrap();
    assert!(none.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_change_is_audited_in_its_transaction_and_a_refused_one_is_not() {
    let (store, dir) = temp_store(10);
    create(&store, "a", "entra", &["x"]).await;
    let refused = store
        .write(Change {
            scoped: Vec::new(),
            delivered: Vec::new(),
            op: WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("b", "A"),
            },
            deliver_to: Vec::new(),
            changed_paths: Vec::new(),
            actor: Some("okta".into()),
            password: None,
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Uniqueness(_))));
    let mut renamed = user("a", "ann");
    renamed["displayName"] = json!("Ann");
    store
        .write(Change {
            scoped: Vec::new(),
            delivered: Vec::new(),
            op: WriteOp::Replace {
                kind: ResourceKind::User,
                resource: renamed,
                expected_version: None,
                members: crate::store::MemberWrite::Whole,
            },
            deliver_to: Vec::new(),
            changed_paths: Vec::new(),
            actor: Some("okta".into()),
            password: None,
        })
        .await
        .unwrap();
    let job = &store.jobs_after(0, 10).unwrap()[0];
    store
        .finish_job(job.seq, JobOutcome::Retry(attempt("transient"), 5))
        .await
        .unwrap();

    let entries = all_audit(&store);
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(
        entries.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );
    assert!(entries.windows(2).all(|w| w[0].at_ms >= w[1].at_ms));
    let [delivery, replace, create] = &entries[..] else {
        unreachable!()
    };
    let AuditEvent::Change {
        actor,
        operation: Operation::Create,
        before_sha256: None,
        after_sha256: Some(created),
    } = &create.event
    else {
        panic!("{create:?}")
    };
    assert_eq!(actor.as_deref(), Some("entra"));
    let AuditEvent::Change {
        actor,
        operation: Operation::Replace,
        before_sha256: Some(before),
        after_sha256: Some(after),
    } = &replace.event
    else {
        panic!("{replace:?}")
    };
    assert_eq!(actor.as_deref(), Some("okta"));
    assert_eq!(before, created, "the state before is the state created");
    assert_ne!(before, after);
    assert_eq!(
        delivery.event,
        AuditEvent::Delivery {
            connector: "x".into(),
            job_seq: Some(job.seq),
            outcome: "transient".into(),
            result: "retrying".into(),
        }
    );
    assert_eq!(
        (
            delivery.resource_type.as_str(),
            delivery.resource_id.as_str()
        ),
        ("User", "a")
    );

    // Filters and the cursor.
    let by = |q: AuditQuery| store.audit(&AuditQuery { limit: 100, ..q }).unwrap();
    let okta = by(AuditQuery {
        actor: Some("okta".into()),
        ..AuditQuery::default()
    });
    assert_eq!(okta.len(), 1);
    let x = by(AuditQuery {
        connector: Some("x".into()),
        ..AuditQuery::default()
    });
    assert_eq!(x.len(), 1);
    let older = by(AuditQuery {
        before: Some(replace.seq),
        ..AuditQuery::default()
    });
    assert_eq!(older, vec![create.clone()]);
    let later = by(AuditQuery {
        since_ms: Some(create.at_ms + 1_000_000),
        ..AuditQuery::default()
    });
    assert!(later.is_empty());
    let earlier = by(AuditQuery {
        until_ms: Some(create.at_ms),
        ..AuditQuery::default()
    });
    assert!(earlier.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn pruning_removes_old_audit_entries_in_bounded_passes() {
    let (store, dir) = temp_store(10);
    for id in ["a", "b", "c"] {
        create(&store, id, "t", &[]).await;
    }
    let entries = all_audit(&store);
    let newest = entries[0].at_ms;
    assert_eq!(store.prune_audit(0, 10).await.unwrap(), 0, "none that old");
    assert_eq!(store.prune_audit(newest + 1, 2).await.unwrap(), 2);
    assert_eq!(all_audit(&store), entries[..1].to_vec(), "the oldest went");
    assert_eq!(store.prune_audit(newest + 1, 2).await.unwrap(), 1);
    assert!(all_audit(&store).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
