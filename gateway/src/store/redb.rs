//! The embedded [`Store`]: one redb file, one writer thread, group commit.
//!
//! # Why one writer thread
//! redb allows one write transaction at a time, and a durable commit costs an fsync (~2 ms
//! here). One transaction per request would cap the gateway at a few hundred writes a second.
//! Instead every write is sent to a single thread, which takes whatever writes are waiting,
//! applies them in order inside one transaction and commits once; each caller is answered only
//! after that commit returned. Throughput then grows with concurrency while every acknowledged
//! write is still durable.
//!
//! Each operation checks everything that could make it fail (existence, version, uniqueness,
//! members) before it writes anything, so a refused operation leaves no partial change behind in
//! the shared transaction. Only an engine failure aborts the batch, and then every caller in it
//! gets the error: nothing was acknowledged that was not committed.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc;

use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde_json::Value;
use tokio::sync::oneshot;

use super::index::{Index, member_ids};
use super::{Membership, Store, StoreError, WriteFuture, WriteOp, WriteResult};
use crate::scim::resource::now;
use crate::scim::schema::ResourceKind;

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
const SEQUENCE: TableDefinition<&str, u64> = TableDefinition::new("sequence");
/// member id → ids of the groups that list it.
const MEMBER_OF: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("member_of");
const USER_NAME: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("idx_user_name");
const USER_EXTERNAL_ID: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("idx_user_external_id");
const USER_EMAIL: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("idx_user_email");
const GROUP_DISPLAY_NAME: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("idx_group_display_name");
const GROUP_EXTERNAL_ID: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("idx_group_external_id");

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

fn table(kind: ResourceKind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match kind {
        ResourceKind::User => USERS,
        ResourceKind::Group => GROUPS,
    }
}

fn index_table(
    kind: ResourceKind,
    index: Index,
) -> Option<MultimapTableDefinition<'static, &'static str, &'static str>> {
    match (kind, index) {
        (ResourceKind::User, Index::UserName) => Some(USER_NAME),
        (ResourceKind::User, Index::ExternalId) => Some(USER_EXTERNAL_ID),
        (ResourceKind::User, Index::Email) => Some(USER_EMAIL),
        (ResourceKind::Group, Index::DisplayName) => Some(GROUP_DISPLAY_NAME),
        (ResourceKind::Group, Index::ExternalId) => Some(GROUP_EXTERNAL_ID),
        _ => None,
    }
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

fn decode(bytes: &[u8]) -> Result<Value, StoreError> {
    serde_json::from_slice(bytes).map_err(io)
}

fn version_of(resource: &Value) -> Option<&str> {
    resource.pointer("/meta/version").and_then(Value::as_str)
}

fn id_of(resource: &Value) -> Result<String, StoreError> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Io("resource without id".into()))
}

/// A write waiting for the writer thread.
struct Job {
    /// What to do.
    op: WriteOp,
    /// Where the answer goes once the batch committed.
    reply: oneshot::Sender<WriteResult>,
}

/// The redb-backed store. Cheap to share: reads go straight to the database, writes to the
/// writer thread.
pub struct RedbStore {
    /// The database file.
    db: std::sync::Arc<Database>,
    /// The writer thread's queue.
    jobs: mpsc::Sender<Job>,
}

impl RedbStore {
    /// Opens (creating if needed) `gateway.redb` in `dir` and starts the writer thread.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io)?;
        let db = Database::create(dir.join("gateway.redb")).map_err(io)?;
        let txn = db.begin_write().map_err(io)?;
        {
            // Create every table up front so that readers never meet a missing one.
            txn.open_table(USERS).map_err(io)?;
            txn.open_table(GROUPS).map_err(io)?;
            txn.open_table(SEQUENCE).map_err(io)?;
            for def in [
                MEMBER_OF,
                USER_NAME,
                USER_EXTERNAL_ID,
                USER_EMAIL,
                GROUP_DISPLAY_NAME,
                GROUP_EXTERNAL_ID,
            ] {
                txn.open_multimap_table(def).map_err(io)?;
            }
        }
        txn.commit().map_err(io)?;
        let db = std::sync::Arc::new(db);
        let (jobs, queue) = mpsc::channel();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(&writer_db, &queue))
            .map_err(io)?;
        Ok(Self { db, jobs })
    }

    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.db.begin_read().map_err(io)
    }
}

impl Store for RedbStore {
    fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(table(kind)).map_err(io)?;
        match t.get(id).map_err(io)? {
            Some(bytes) => decode(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn lookup(
        &self,
        kind: ResourceKind,
        index: Index,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        let Some(def) = index_table(kind, index) else {
            return Ok(Vec::new());
        };
        let txn = self.read()?;
        let t = txn.open_multimap_table(def).map_err(io)?;
        let mut ids = Vec::new();
        for id in t.get(index.normalise(value).as_str()).map_err(io)? {
            ids.push(id.map_err(io)?.value().to_owned());
        }
        Ok(ids)
    }

    fn count(&self, kind: ResourceKind) -> Result<u64, StoreError> {
        let txn = self.read()?;
        txn.open_table(table(kind)).map_err(io)?.len().map_err(io)
    }

    fn page(&self, kind: ResourceKind, skip: u64, take: usize) -> Result<Vec<Value>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(table(kind)).map_err(io)?;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(take.min(1024));
        for entry in t.iter().map_err(io)?.skip(skip).take(take) {
            let (_, bytes) = entry.map_err(io)?;
            out.push(decode(bytes.value())?);
        }
        Ok(out)
    }

    fn scan(
        &self,
        kind: ResourceKind,
        visit: &mut dyn FnMut(Value) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(table(kind)).map_err(io)?;
        for entry in t.iter().map_err(io)? {
            let (_, bytes) = entry.map_err(io)?;
            if visit(decode(bytes.value())?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn groups_of(&self, member_id: &str) -> Result<Vec<Membership>, StoreError> {
        let txn = self.read()?;
        let member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        let groups = txn.open_table(GROUPS).map_err(io)?;
        let mut out = Vec::new();
        for gid in member_of.get(member_id).map_err(io)? {
            let gid = gid.map_err(io)?.value().to_owned();
            if let Some(bytes) = groups.get(gid.as_str()).map_err(io)? {
                let group = decode(bytes.value())?;
                let display = group
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                out.push(Membership {
                    display: display.to_owned(),
                    group_id: gid,
                });
            }
        }
        Ok(out)
    }

    fn write(&self, op: WriteOp) -> WriteFuture {
        let (reply, answer) = oneshot::channel();
        let sent = self.jobs.send(Job { op, reply });
        Box::pin(async move {
            if sent.is_err() {
                return Err(StoreError::Io("the store writer has stopped".into()));
            }
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError::Io("the store writer has stopped".into())))
        })
    }
}

/// Takes every waiting job, applies them in one transaction, commits, answers. Ends when the
/// store is dropped.
fn writer_loop(db: &Database, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (results, outcome) = apply_batch(db, batch.iter().map(|j| j.op.clone()).collect());
        for (job, result) in batch.into_iter().zip(results) {
            let answer = match &outcome {
                Ok(()) => result,
                Err(e) => Err(e.clone()),
            };
            // The caller may have gone away (client disconnected); the write stands regardless.
            let _ = job.reply.send(answer);
        }
    }
}

/// Applies `ops` in one transaction. Returns each op's result and whether the commit succeeded.
fn apply_batch(db: &Database, ops: Vec<WriteOp>) -> (Vec<WriteResult>, Result<(), StoreError>) {
    let n = ops.len();
    let failed = |e: StoreError| (vec![Err(e.clone()); n], Err(e));
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => return failed(io(e)),
    };
    let mut seq = match read_sequence(&txn) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let mut results = Vec::with_capacity(n);
    for op in ops {
        let result = apply(&txn, &mut seq, op);
        // A logical refusal wrote nothing; an engine error may have written half: abort all.
        if let Err(StoreError::Io(e)) = &result {
            return failed(StoreError::Io(e.clone()));
        }
        results.push(result);
    }
    let committed = write_sequence(&txn, seq).and_then(|()| txn.commit().map_err(io));
    match committed {
        Ok(()) => (results, Ok(())),
        Err(e) => failed(e),
    }
}

fn read_sequence(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let t = txn.open_table(SEQUENCE).map_err(io)?;
    Ok(t.get("version")
        .map_err(io)?
        .map(|v| v.value())
        .unwrap_or(0))
}

fn write_sequence(txn: &WriteTransaction, seq: u64) -> Result<(), StoreError> {
    let mut t = txn.open_table(SEQUENCE).map_err(io)?;
    t.insert("version", seq).map_err(io)?;
    Ok(())
}

/// Gives `resource` the next version.
fn stamp(resource: &mut Value, seq: &mut u64) {
    *seq += 1;
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("version".into(), Value::String(format!("W/\"{seq}\"")));
    }
}

fn load(txn: &WriteTransaction, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError> {
    let t = txn.open_table(table(kind)).map_err(io)?;
    let found = t.get(id).map_err(io)?;
    found.map(|bytes| decode(bytes.value())).transpose()
}

fn check_version(current: &Value, expected: Option<&str>) -> Result<(), StoreError> {
    match expected {
        Some(v) if v != "*" && version_of(current) != Some(v) => Err(StoreError::VersionMismatch),
        _ => Ok(()),
    }
}

fn apply(txn: &WriteTransaction, seq: &mut u64, op: WriteOp) -> WriteResult {
    match op {
        WriteOp::Create { kind, mut resource } => {
            let id = id_of(&resource)?;
            if load(txn, kind, &id)?.is_some() {
                return Err(StoreError::Uniqueness(format!("id {id} is already taken")));
            }
            check_unique(txn, kind, &resource, &id)?;
            if kind == ResourceKind::Group {
                resolve_members(txn, &mut resource, &id, None)?;
            }
            stamp(&mut resource, seq);
            put(txn, kind, &id, &resource, None)?;
            Ok(resource)
        }
        WriteOp::Replace {
            kind,
            mut resource,
            expected_version,
        } => {
            let id = id_of(&resource)?;
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            check_unique(txn, kind, &resource, &id)?;
            if kind == ResourceKind::Group {
                resolve_members(txn, &mut resource, &id, Some(&old))?;
            }
            stamp(&mut resource, seq);
            put(txn, kind, &id, &resource, Some(&old))?;
            Ok(resource)
        }
        WriteOp::Delete {
            kind,
            id,
            expected_version,
        } => {
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            remove(txn, kind, &id, &old)?;
            leave_all_groups(txn, seq, &id)?;
            Ok(Value::Null)
        }
    }
}

/// Refuses a `userName` that another user holds (case-insensitively).
fn check_unique(
    txn: &WriteTransaction,
    kind: ResourceKind,
    resource: &Value,
    id: &str,
) -> Result<(), StoreError> {
    if kind != ResourceKind::User {
        return Ok(());
    }
    let t = txn.open_multimap_table(USER_NAME).map_err(io)?;
    for key in Index::UserName.keys(resource) {
        for holder in t.get(key.as_str()).map_err(io)? {
            if holder.map_err(io)?.value() != id {
                return Err(StoreError::Uniqueness(format!(
                    "userName '{key}' is already taken"
                )));
            }
        }
    }
    Ok(())
}

/// Checks that every member exists and fills in its `type` and, when absent, `display`.
///
/// Members the stored version (`old`) already lists were checked when they were added, and
/// leave every group when they are deleted, so only new members are looked up: adding one
/// member to a large group (Entra ID adds them one PATCH at a time) costs one lookup, not one
/// per member.
fn resolve_members(
    txn: &WriteTransaction,
    group: &mut Value,
    group_id: &str,
    old: Option<&Value>,
) -> Result<(), StoreError> {
    let known: std::collections::HashMap<&str, &Value> = old
        .and_then(|o| o.get("members"))
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| Some((m.get("value")?.as_str()?, m)))
                .collect()
        })
        .unwrap_or_default();
    let Some(members) = group.get_mut("members").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| {
        m.get("value")
            .and_then(Value::as_str)
            .is_none_or(|v| seen.insert(v.to_owned()))
    });
    for member in members.iter_mut() {
        let Some(value) = member
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(StoreError::InvalidMember(
                "every member needs a 'value'".into(),
            ));
        };
        if value == group_id {
            return Err(StoreError::InvalidMember(
                "a group cannot be a member of itself".into(),
            ));
        }
        if let (Some(stored), Some(obj)) = (known.get(value.as_str()), member.as_object_mut()) {
            // `type` is what the member is (immutable); `display` the client may rename.
            if let Some(t) = stored.get("type") {
                obj.insert("type".into(), t.clone());
            }
            if let (false, Some(d)) = (obj.contains_key("display"), stored.get("display")) {
                obj.insert("display".into(), d.clone());
            }
            continue;
        }
        let wanted = member
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let mut found = None;
        for kind in [ResourceKind::User, ResourceKind::Group] {
            if wanted
                .as_deref()
                .is_some_and(|w| w != kind.name().to_ascii_lowercase())
            {
                continue;
            }
            if let Some(r) = load(txn, kind, &value)? {
                found = Some((kind, r));
                break;
            }
        }
        let Some((kind, target)) = found else {
            return Err(StoreError::InvalidMember(format!(
                "member {value} does not exist"
            )));
        };
        let display = target
            .get("displayName")
            .or_else(|| target.get("userName"))
            .cloned();
        if let Some(obj) = member.as_object_mut() {
            obj.insert("type".into(), Value::String(kind.name().into()));
            if let (false, Some(display)) = (obj.contains_key("display"), display) {
                obj.insert("display".into(), display);
            }
        }
    }
    Ok(())
}

/// Writes `new` under `id`, moving index entries from `old`'s keys to `new`'s.
fn put(
    txn: &WriteTransaction,
    kind: ResourceKind,
    id: &str,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(new).map_err(io)?;
    txn.open_table(table(kind))
        .map_err(io)?
        .insert(id, bytes.as_slice())
        .map_err(io)?;
    for &index in Index::for_kind(kind) {
        let Some(def) = index_table(kind, index) else {
            continue;
        };
        let mut t = txn.open_multimap_table(def).map_err(io)?;
        let new_keys = index.keys(new);
        let old_keys = old.map(|o| index.keys(o)).unwrap_or_default();
        for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            t.remove(key.as_str(), id).map_err(io)?;
        }
        for key in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            t.insert(key.as_str(), id).map_err(io)?;
        }
    }
    if kind == ResourceKind::Group {
        let mut member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        let new_members = member_ids(new);
        let old_members = old.map(member_ids).unwrap_or_default();
        for m in old_members.iter().filter(|m| !new_members.contains(m)) {
            member_of.remove(m.as_str(), id).map_err(io)?;
        }
        for m in new_members.iter().filter(|m| !old_members.contains(m)) {
            member_of.insert(m.as_str(), id).map_err(io)?;
        }
    }
    Ok(())
}

/// Deletes the row and its index entries (and, for a group, its members' back-references).
fn remove(
    txn: &WriteTransaction,
    kind: ResourceKind,
    id: &str,
    old: &Value,
) -> Result<(), StoreError> {
    txn.open_table(table(kind))
        .map_err(io)?
        .remove(id)
        .map_err(io)?;
    for &index in Index::for_kind(kind) {
        let Some(def) = index_table(kind, index) else {
            continue;
        };
        let mut t = txn.open_multimap_table(def).map_err(io)?;
        for key in index.keys(old) {
            t.remove(key.as_str(), id).map_err(io)?;
        }
    }
    if kind == ResourceKind::Group {
        let mut member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        for m in member_ids(old) {
            member_of.remove(m.as_str(), id).map_err(io)?;
        }
    }
    Ok(())
}

/// Removes a deleted resource from every group that listed it; each such group gets a new
/// version and `lastModified`.
fn leave_all_groups(
    txn: &WriteTransaction,
    seq: &mut u64,
    member_id: &str,
) -> Result<(), StoreError> {
    let group_ids: Vec<String> = {
        let member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        let mut ids = Vec::new();
        for gid in member_of.get(member_id).map_err(io)? {
            ids.push(gid.map_err(io)?.value().to_owned());
        }
        ids
    };
    for gid in group_ids {
        let Some(old) = load(txn, ResourceKind::Group, &gid)? else {
            continue;
        };
        let mut group = old.clone();
        if let Some(members) = group.get_mut("members").and_then(Value::as_array_mut) {
            members.retain(|m| m.get("value").and_then(Value::as_str) != Some(member_id));
            if members.is_empty()
                && let Some(obj) = group.as_object_mut()
            {
                obj.remove("members");
            }
        }
        if let Some(meta) = group.get_mut("meta").and_then(Value::as_object_mut) {
            meta.insert("lastModified".into(), Value::String(now()));
        }
        stamp(&mut group, seq);
        put(txn, ResourceKind::Group, &gid, &group, Some(&old))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn create(kind: ResourceKind, resource: Value) -> WriteOp {
        WriteOp::Create { kind, resource }
    }

    #[test]
    fn a_refused_operation_leaves_no_trace_in_a_shared_batch() {
        let (store, dir) = temp_store();
        let (results, committed) = apply_batch(
            &store.db,
            vec![
                create(ResourceKind::User, user("a", "Ann")),
                create(ResourceKind::User, user("b", "ANN")),
                create(ResourceKind::Group, group("g", &["a", "missing"])),
                create(ResourceKind::User, user("c", "Cy")),
            ],
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
            .write(WriteOp::Replace {
                kind: ResourceKind::User,
                resource: user("a", "anna"),
                expected_version: stale.clone(),
            })
            .await
            .unwrap();
        assert_ne!(version_of(&renamed), stale.as_deref());
        let again = store
            .write(WriteOp::Replace {
                kind: ResourceKind::User,
                resource: user("a", "x"),
                expected_version: stale,
            })
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
            .write(WriteOp::Delete {
                kind: ResourceKind::User,
                id: "a".into(),
                expected_version: None,
            })
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
                .write(WriteOp::Delete {
                    kind: ResourceKind::User,
                    id: "a".into(),
                    expected_version: None
                })
                .await,
            Err(StoreError::NotFound("a".into()))
        );
        // A group cannot contain itself.
        let own = store
            .write(WriteOp::Replace {
                kind: ResourceKind::Group,
                resource: group("g", &["g"]),
                expected_version: None,
            })
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
        let _ = std::fs::remove_dir_all(dir);
    }
}
