//! Unit tests of the redb store: batches, versions, indexes, memberships, the outbox.

use super::*;
use crate::store::{Change, WriteOp};

use serde_json::json;

fn temp_store() -> (RedbStore, std::path::PathBuf) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("redb-store-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (RedbStore::open(&dir).unwrap(), dir)
}

fn user(id: &str, name: &str) -> Value {
    json!({"schemas": [], "id": id, "userName": name, "emails": [{"value": format!("{name}@X.org")}],
               "meta": {"resourceType": "User", "created": "t", "lastModified": "t"}})
}

fn group(id: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": [], "id": id, "displayName": format!("G {id}"), "members": members,
               "meta": {"resourceType": "Group", "created": "t", "lastModified": "t"}})
}

fn create(kind: ResourceKind, resource: Value) -> Change {
    WriteOp::Create { kind, resource }.into()
}

#[test]
fn a_refused_operation_leaves_no_trace_in_a_shared_batch() {
    let (store, dir) = temp_store();
    let (results, committed) = apply_batch(
        &store.db,
        [
            create(ResourceKind::User, user("a", "Ann")),
            create(ResourceKind::User, user("b", "ANN")),
            create(ResourceKind::Group, group("g", &["a", "missing"])),
            create(ResourceKind::User, user("c", "Cy")),
        ]
        .into_iter()
        .map(Command::Change)
        .collect(),
        StoreOptions::default(),
    );
    assert_eq!(committed, Ok(()));
    assert!(results[0].is_ok() && results[3].is_ok());
    assert!(matches!(results[1], Err(StoreError::Uniqueness(_))));
    assert!(matches!(results[2], Err(StoreError::InvalidMember(_))));
    assert!(store.get(ResourceKind::User, "b").unwrap().is_none());
    assert!(store.get(ResourceKind::Group, "g").unwrap().is_none());
    assert_eq!(
        store
            .lookup(ResourceKind::User, Index::UserName, "ann")
            .unwrap(),
        ["a"]
    );
    assert_eq!(
        store
            .lookup(ResourceKind::User, Index::Email, "ann@x.org")
            .unwrap(),
        ["a"]
    );
    assert!(store.groups_of("a").unwrap().is_empty());
    assert_eq!(store.count(ResourceKind::User).unwrap(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn versions_indexes_and_memberships_follow_writes() {
    let (store, dir) = temp_store();
    let a = store
        .write(create(ResourceKind::User, user("a", "ann")))
        .await
        .unwrap();
    store
        .write(create(ResourceKind::User, user("b", "bo")))
        .await
        .unwrap();
    let g = store
        .write(create(ResourceKind::Group, group("g", &["a", "b"])))
        .await
        .unwrap();
    assert_eq!(g["members"][0]["type"], "User");
    assert_eq!(g["members"][0]["display"], "ann");
    assert_eq!(store.groups_of("a").unwrap()[0].group_id, "g");

    // A replace conditioned on a stale version is refused; on the current one it lands.
    let stale = version_of(&a).map(str::to_owned);
    let renamed = store
        .write(
            WriteOp::Replace {
                kind: ResourceKind::User,
                resource: user("a", "anna"),
                expected_version: stale.clone(),
                members: crate::store::MemberWrite::Whole,
            }
            .into(),
        )
        .await
        .unwrap();
    assert_ne!(version_of(&renamed), stale.as_deref());
    let again = store
        .write(
            WriteOp::Replace {
                kind: ResourceKind::User,
                resource: user("a", "x"),
                expected_version: stale,
                members: crate::store::MemberWrite::Whole,
            }
            .into(),
        )
        .await;
    assert_eq!(again, Err(StoreError::VersionMismatch));
    assert!(
        store
            .lookup(ResourceKind::User, Index::UserName, "ann")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .lookup(ResourceKind::User, Index::UserName, "ANNA")
            .unwrap(),
        ["a"]
    );

    // Deleting a member takes it out of its groups, with a new group version.
    store
        .write(
            WriteOp::Delete {
                kind: ResourceKind::User,
                id: "a".into(),
                expected_version: None,
            }
            .into(),
        )
        .await
        .unwrap();
    let g2 = store.get(ResourceKind::Group, "g").unwrap().unwrap();
    assert_eq!(
        g2["members"],
        json!([{"value": "b", "type": "User", "display": "bo"}])
    );
    assert_ne!(version_of(&g2), version_of(&g));
    assert!(store.groups_of("a").unwrap().is_empty());
    assert_eq!(
        store
            .write(
                WriteOp::Delete {
                    kind: ResourceKind::User,
                    id: "a".into(),
                    expected_version: None
                }
                .into()
            )
            .await,
        Err(StoreError::NotFound("a".into()))
    );
    // A group cannot contain itself.
    let own = store
        .write(
            WriteOp::Replace {
                kind: ResourceKind::Group,
                resource: group("g", &["g"]),
                expected_version: None,
                members: crate::store::MemberWrite::Whole,
            }
            .into(),
        )
        .await;
    assert!(matches!(own, Err(StoreError::InvalidMember(_))));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn concurrent_writes_are_committed_together_and_all_answered() {
    let (store, dir) = temp_store();
    let store = std::sync::Arc::new(store);
    let writes: Vec<_> = (0..200)
        .map(|i| {
            store.write(create(
                ResourceKind::User,
                user(&format!("u{i:03}"), &format!("n{i}")),
            ))
        })
        .collect();
    for w in writes {
        w.await.unwrap();
    }
    assert_eq!(store.count(ResourceKind::User).unwrap(), 200);
    let page = store.page(ResourceKind::User, 10, 5).unwrap();
    let ids: Vec<&str> = page.iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(ids, ["u010", "u011", "u012", "u013", "u014"]);
    let ids_of = |page: Vec<Value>| -> Vec<String> {
        page.iter()
            .filter_map(|u| u["id"].as_str().map(str::to_owned))
            .collect()
    };
    let first = ids_of(store.page_after(ResourceKind::User, None, 3).unwrap());
    assert_eq!(first, ["u000", "u001", "u002"]);
    let next = ids_of(
        store
            .page_after(ResourceKind::User, Some("u013"), 2)
            .unwrap(),
    );
    assert_eq!(next, ["u014", "u015"], "the cursor itself is not repeated");
    let tail = store
        .page_after(ResourceKind::User, Some("u199"), 5)
        .unwrap();
    assert!(tail.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_outbox_records_jobs_with_their_change_and_follows_outcomes() {
    use crate::model::Operation;
    use crate::store::outbox::{Attempt, JobOutcome, JobState};
    let (store, dir) = temp_store();
    let attempt = |outcome: &str| Attempt {
        at_ms: 1,
        duration_ms: 1,
        outcome: outcome.into(),
        message: String::new(),
        logs: Vec::new(),
    };
    let to = |op: WriteOp, connectors: &[&str]| Change {
        scoped: Vec::new(),
        delivered: Vec::new(),
        op,
        deliver_to: connectors.iter().map(|c| c.to_string()).collect(),
        changed_paths: vec!["active".into()],
        actor: None,
        password: None,
    };
    store
        .write(to(
            WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("a", "ann"),
            },
            &["b", "a"],
        ))
        .await
        .unwrap();
    // A refused change records no job.
    let refused = store
        .write(to(
            WriteOp::Create {
                kind: ResourceKind::User,
                resource: user("z", "ANN"),
            },
            &["a"],
        ))
        .await;
    assert!(refused.is_err());
    let jobs = store.jobs_after(0, 10).unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.connector.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(jobs[0].operation, Operation::Create);
    assert_eq!(jobs[0].resource_id, "a");
    assert_eq!(store.jobs_after(jobs[0].seq, 10).unwrap().len(), 1);

    // Delivered: the job leaves the outbox and the remote id is kept.
    let remote = RemoteRef {
        remote_id: "r-1".into(),
        remote_version: None,
    };
    store
        .finish_job(
            jobs[0].seq,
            JobOutcome::Delivered(attempt("delivered"), Some(remote.clone())),
        )
        .await
        .unwrap();
    assert_eq!(store.remote_ref("a", "User", "a").unwrap(), Some(remote));
    // Retry: stays, with its attempt; dead: moves to the dead letters.
    store
        .finish_job(jobs[1].seq, JobOutcome::Retry(attempt("transient"), 99))
        .await
        .unwrap();
    let retrying = store.job(jobs[1].seq).unwrap().unwrap();
    assert_eq!(
        (
            retrying.state,
            retrying.next_attempt_ms,
            retrying.attempts.len()
        ),
        (JobState::Retrying, 99, 1)
    );
    store
        .finish_job(jobs[1].seq, JobOutcome::Dead(attempt("permanent")))
        .await
        .unwrap();
    assert!(store.jobs_after(0, 10).unwrap().is_empty());
    let dead = store.dead_jobs().unwrap();
    assert_eq!(
        (dead.len(), dead[0].attempts.len(), dead[0].state),
        (1, 2, JobState::Dead)
    );

    // A delete reaches the connector that holds the resource even when no route names it.
    store
        .write(to(
            WriteOp::Delete {
                kind: ResourceKind::User,
                id: "a".into(),
                expected_version: None,
            },
            &[],
        ))
        .await
        .unwrap();
    let jobs = store.jobs_after(0, 10).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].connector.as_str(), jobs[0].operation),
        ("a", Operation::Delete)
    );
    store
        .finish_job(
            jobs[0].seq,
            JobOutcome::Delivered(attempt("delivered"), None),
        )
        .await
        .unwrap();
    assert_eq!(store.remote_ref("a", "User", "a").unwrap(), None);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn find_reads_stored_text_and_memberships_by_id_and_by_index() {
    let (store, dir) = temp_store();
    for (id, name) in [("a", "Ann"), ("b", "Bo")] {
        store
            .write(create(ResourceKind::User, user(id, name)))
            .await
            .unwrap();
    }
    store
        .write(create(ResourceKind::Group, group("g", &["a"])))
        .await
        .unwrap();

    let by_name = store
        .find(ResourceKind::User, Key::Index(Index::UserName, "ANN"))
        .unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].id, "a");
    assert_eq!(
        by_name[0].decode().unwrap(),
        store.get(ResourceKind::User, "a").unwrap().unwrap()
    );
    let membership = Membership {
        group_id: "g".into(),
        display: "G g".into(),
    };
    assert_eq!(by_name[0].groups, [membership]);

    let by_id = store.find(ResourceKind::User, Key::Id("b")).unwrap();
    assert_eq!((by_id[0].id.as_str(), by_id[0].groups.len()), ("b", 0));
    assert!(
        store
            .find(ResourceKind::User, Key::Id("g"))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find(ResourceKind::Group, Key::Index(Index::UserName, "ann"))
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_read_after_an_acknowledged_write_sees_it_although_readers_share_a_snapshot() {
    let (store, dir) = temp_store();
    // Readers take (and cache) a snapshot before the write.
    assert!(store.get(ResourceKind::User, "a").unwrap().is_none());
    assert!(
        store
            .find(ResourceKind::User, Key::Id("a"))
            .unwrap()
            .is_empty()
    );
    let created = store
        .write(create(ResourceKind::User, user("a", "ann")))
        .await
        .unwrap();
    assert_eq!(
        store.get(ResourceKind::User, "a").unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store
            .lookup(ResourceKind::User, Index::UserName, "ANN")
            .unwrap(),
        ["a"]
    );
    let renamed = store
        .write(
            WriteOp::Replace {
                kind: ResourceKind::User,
                resource: user("a", "anna"),
                expected_version: None,
                members: crate::store::MemberWrite::Whole,
            }
            .into(),
        )
        .await
        .unwrap();
    assert_ne!(version_of(&created), version_of(&renamed));
    let found = store.find(ResourceKind::User, Key::Id("a")).unwrap();
    assert_eq!(found[0].decode().unwrap(), renamed);
    assert!(
        store
            .lookup(ResourceKind::User, Index::UserName, "ann")
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The file size after `writes` creates of users with a large attribute, one at a time; with
/// `read_first`, a point read (which caches the shared snapshot) comes before them.
async fn file_after_writes(read_first: bool, writes: usize) -> u64 {
    let (store, dir) = temp_store();
    let big = "x".repeat(2000);
    let mut resource = user("u-0", "user-0");
    resource["title"] = json!(big);
    store
        .write(create(ResourceKind::User, resource))
        .await
        .unwrap();
    if read_first {
        assert!(store.get(ResourceKind::User, "u-0").unwrap().is_some());
    }
    for i in 1..writes {
        let mut resource = user(&format!("u-{i}"), &format!("user-{i}"));
        resource["title"] = json!(big);
        store
            .write(create(ResourceKind::User, resource))
            .await
            .unwrap();
    }
    let size = std::fs::metadata(dir.join("gateway.redb")).unwrap().len();
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    size
}

/// A read before a run of writes leaves no old snapshot open that would pin superseded pages
/// and make the file grow faster than the same writes without the read.
#[tokio::test]
async fn a_read_before_many_writes_does_not_make_the_file_grow_faster() {
    let without = file_after_writes(false, 600).await;
    let with = file_after_writes(true, 600).await;
    assert!(
        with * 4 <= without * 5,
        "{with} bytes after a read and the writes, {without} after the writes alone"
    );
}

/// A store whose index keys were only lower-cased (before `INDEX_KEYS` 2) has them rebuilt
/// with today's normalisation, so lookups by any form of a name find it again.
#[test]
fn index_keys_of_an_older_store_are_rebuilt() {
    let (store, dir) = temp_store();
    let (results, committed) = apply_batch(
        &store.db,
        vec![Command::Change(create(
            ResourceKind::User,
            user("a", "Stra\u{df}e"),
        ))],
        StoreOptions::default(),
    );
    assert_eq!(committed, Ok(()));
    assert!(results[0].is_ok());
    // Write the key as the older rule did.
    let txn = store.db.begin_write().unwrap();
    txn.delete_multimap_table(USER_NAME).unwrap();
    txn.open_multimap_table(USER_NAME)
        .unwrap()
        .insert("stra\u{df}e", "a")
        .unwrap();
    txn.commit().unwrap();
    store.snapshots.committed();
    let found = |name: &str| {
        store
            .lookup(ResourceKind::User, Index::UserName, name)
            .unwrap()
    };
    assert!(found("STRASSE").is_empty(), "the old key does not fold");

    let txn = store.db.begin_write().unwrap();
    rebuild_indexes(&txn).unwrap();
    txn.commit().unwrap();
    store.snapshots.committed();
    assert_eq!(found("STRASSE"), ["a"]);
    assert_eq!(found("stra\u{df}e "), ["a"]);
    assert_eq!(
        store
            .lookup(ResourceKind::User, Index::Email, "STRASSE@x.org")
            .unwrap(),
        ["a"],
        "every index is rebuilt"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// A password never rests in a row: the store removes it from what it writes, and from the
/// rows of an older store (which kept it) once, when opened.
#[test]
fn a_stored_row_holds_no_password_and_an_older_stores_rows_lose_theirs() {
    let (store, dir) = temp_store();
    let mut with_password = user("a", "alice");
    with_password["password"] = json!("Tr0ub4dor&3");
    let (results, committed) = apply_batch(
        &store.db,
        vec![Command::Change(create(
            ResourceKind::User,
            with_password.clone(),
        ))],
        StoreOptions::default(),
    );
    assert_eq!(committed, Ok(()));
    assert!(results[0].is_ok());
    store.snapshots.committed();
    let row = store.get(ResourceKind::User, "a").unwrap().unwrap();
    assert!(row.get("password").is_none(), "{row}");

    // Write the row as an older store did, with its password.
    let mut old = row.clone();
    old["password"] = json!("Tr0ub4dor&3");
    let txn = store.db.begin_write().unwrap();
    txn.open_table(table(ResourceKind::User))
        .unwrap()
        .insert("a", serde_json::to_vec(&old).unwrap().as_slice())
        .unwrap();
    txn.commit().unwrap();
    store.snapshots.committed();
    assert!(store.get(ResourceKind::User, "a").unwrap().unwrap()["password"].is_string());

    let txn = store.db.begin_write().unwrap();
    strip_stored_passwords(&txn).unwrap();
    txn.commit().unwrap();
    store.snapshots.committed();
    assert_eq!(store.get(ResourceKind::User, "a").unwrap().unwrap(), row);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
