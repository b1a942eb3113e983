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
//!
//! Files: [`resources`] (changes), [`members`] (a group's members, a record per pair), [`jobs`] (the outbox, dead letters, delivery history and id
//! map), [`audit`] (the audit trail).

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc;

use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde_json::Value;
use tokio::sync::oneshot;

use super::audit::{AuditEntry, AuditQuery};
use super::index::Index;
use super::outbox::{DeadAction, DeadSelection, Job, JobFilter, JobOutcome, Shelf};
use super::{
    Change, DeadFuture, GroupView, Key, MemberCursor, Membership, PruneFuture, ScopedJob, Store,
    StoreError, Stored, WriteFuture, WriteResult,
};
use crate::model::RemoteRef;
use crate::model::ResourceKind;

mod audit;
mod jobs;
mod members;
mod resources;
mod snapshot;

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
/// Counters: `version` (resource versions), `job` (outbox sequence), `audit` (audit sequence)
/// and `audit_ms` (the time of the newest audit entry).
const SEQUENCE: TableDefinition<&str, u64> = TableDefinition::new("sequence");
/// Outbox jobs waiting for delivery, by seq.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Dead-lettered jobs, by seq.
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_jobs");
/// The delivery history: the newest delivered jobs, by seq.
const DELIVERED: TableDefinition<u64, &[u8]> = TableDefinition::new("delivered_jobs");
/// The audit trail, by audit seq.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// `{type}\x1f{id}\x1f{connector}` → the connector's [`RemoteRef`] for the resource. Keyed by
/// resource first so that a delete finds every connector holding the resource by prefix.
const ID_MAP: TableDefinition<&str, &[u8]> = TableDefinition::new("id_map");
/// Admin documents by key (see [`Store::setting`]).
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");
/// `{group}\x1f{member}` → the member as the group lists it (see [`members`]).
const GROUP_MEMBERS: TableDefinition<&str, &[u8]> = TableDefinition::new("group_members");
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

/// The version of the index keys' normalisation (`store::index`): 2 is NFKC with case folding,
/// and `userName` without surrounding white space; before it, keys were lower-cased only.
const INDEX_KEYS: u64 = 2;

/// The version of what a stored resource may hold: 1 is without never-returned attributes
/// (`password`), which the store keeps out of every row; before it, a user's password was kept
/// in its row.
const ROW_FORM: u64 = 1;

/// Removes the never-returned attributes (passwords) from every stored row. Deliveries still
/// pending from before carry no password.
fn strip_stored_passwords(txn: &WriteTransaction) -> Result<(), StoreError> {
    for kind in crate::model::KINDS {
        let mut rows = txn.open_table(table(kind)).map_err(io)?;
        let mut changed = Vec::new();
        for entry in rows.iter().map_err(io)? {
            let (id, bytes) = entry.map_err(io)?;
            let mut row = decode(bytes.value())?;
            let before = row.as_object().map_or(0, serde_json::Map::len);
            crate::scim::schema::strip_never_returned(kind, &mut row);
            if row.as_object().map_or(0, serde_json::Map::len) != before {
                changed.push((id.value().to_owned(), serde_json::to_vec(&row).map_err(io)?));
            }
        }
        for (id, bytes) in &changed {
            rows.insert(id.as_str(), bytes.as_slice()).map_err(io)?;
        }
        if !changed.is_empty() {
            tracing::info!(
                kind = kind.name(),
                rows = changed.len(),
                "removed stored passwords from an older store: they are kept only until delivered now"
            );
        }
    }
    Ok(())
}

/// Rewrites every index from the resources, with today's keys.
fn rebuild_indexes(txn: &WriteTransaction) -> Result<(), StoreError> {
    for kind in crate::model::KINDS {
        for &index in Index::for_kind(kind) {
            let Some(def) = index_table(kind, index) else {
                continue;
            };
            txn.delete_multimap_table(def).map_err(io)?;
            let mut t = txn.open_multimap_table(def).map_err(io)?;
            let rows = txn.open_table(table(kind)).map_err(io)?;
            for entry in rows.iter().map_err(io)? {
                let (id, bytes) = entry.map_err(io)?;
                for key in index.keys(&decode(bytes.value())?) {
                    let shared = index == Index::UserName
                        && t.get(key.as_str()).map_err(io)?.next().is_some();
                    if shared {
                        // Kept, both of them: the next write of either is refused as a conflict
                        // until one is renamed.
                        tracing::warn!(user = id.value(), user_name = %key,
                            "two users now share a userName (they differ only in case, width, \
                             composition or surrounding space)");
                    }
                    t.insert(key.as_str(), id.value()).map_err(io)?;
                }
            }
        }
    }
    Ok(())
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::io(e)
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

/// What the writer thread does.
#[derive(Debug, Clone)]
enum Command {
    /// Apply a change and record its delivery jobs.
    Change(Change),
    /// Record the outcome of a job attempt.
    Finish(u64, JobOutcome),
    /// Store or remove admin documents.
    Settings(Vec<(String, Option<Vec<u8>>)>),
    /// Record delivery jobs that no change caused.
    Enqueue(Vec<ScopedJob>),
    /// Retry or discard dead jobs; answers the affected jobs as a JSON array.
    Dead(DeadAction, DeadSelection),
    /// Remove at most `max` audit entries older than `before_ms`; answers the count.
    PruneAudit {
        /// The cutoff (ms since the Unix epoch).
        before_ms: u64,
        /// Most entries removed.
        max: usize,
    },
}

/// Settings of the store that are not part of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How many delivered jobs the delivery history keeps (the oldest are pruned).
    pub keep_delivered: u64,
    /// redb's page cache, in bytes.
    pub cache_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            keep_delivered: 10_000,
            // `[store] cache_mib`'s default (`config::DEFAULT_CACHE_MIB`), not redb's 1 GiB.
            cache_bytes: 128 << 20,
        }
    }
}

/// A command waiting for the writer thread.
struct Pending {
    /// What to do.
    command: Command,
    /// Where the answer goes once the batch committed.
    reply: oneshot::Sender<WriteResult>,
}

/// The redb-backed store. Cheap to share: reads go straight to the database, writes to the
/// writer thread.
pub struct RedbStore {
    /// The database file.
    db: std::sync::Arc<Database>,
    /// The writer thread's queue.
    queue: mpsc::Sender<Pending>,
    /// The read snapshot point reads share (see [`snapshot`]).
    snapshots: std::sync::Arc<snapshot::Snapshots>,
}

impl RedbStore {
    /// Opens (creating if needed) `gateway.redb` in `dir` with the default options and starts
    /// the writer thread.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) `gateway.redb` in `dir` and starts the writer thread.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        crate::model::private::private_dir(dir).map_err(io)?;
        let file = dir.join("gateway.redb");
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(&file)
            .map_err(io)?;
        crate::model::private::private_file(&file).map_err(io)?;
        let txn = db.begin_write().map_err(io)?;
        {
            // Create every table up front so that readers never meet a missing one.
            txn.open_table(USERS).map_err(io)?;
            txn.open_table(GROUPS).map_err(io)?;
            txn.open_table(SEQUENCE).map_err(io)?;
            txn.open_table(OUTBOX).map_err(io)?;
            txn.open_table(DEAD).map_err(io)?;
            txn.open_table(DELIVERED).map_err(io)?;
            txn.open_table(AUDIT).map_err(io)?;
            txn.open_table(ID_MAP).map_err(io)?;
            txn.open_table(SETTINGS).map_err(io)?;
            txn.open_table(GROUP_MEMBERS).map_err(io)?;
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
            // A store written before members had records of their own holds them in the
            // group rows: move them, once.
            let mut seq = txn.open_table(SEQUENCE).map_err(io)?;
            if seq.get("member_records").map_err(io)?.is_none() {
                drop(seq);
                members::migrate(&txn)?;
                seq = txn.open_table(SEQUENCE).map_err(io)?;
                seq.insert("member_records", 1).map_err(io)?;
            }
            // Index keys are normalised as `store::index` says; a store written before that
            // rule (keys lower-cased only) has them rebuilt, once.
            if seq
                .get("index_keys")
                .map_err(io)?
                .is_none_or(|v| v.value() < INDEX_KEYS)
            {
                drop(seq);
                rebuild_indexes(&txn)?;
                seq = txn.open_table(SEQUENCE).map_err(io)?;
                seq.insert("index_keys", INDEX_KEYS).map_err(io)?;
            }
            if seq
                .get("row_form")
                .map_err(io)?
                .is_none_or(|v| v.value() < ROW_FORM)
            {
                drop(seq);
                strip_stored_passwords(&txn)?;
                seq = txn.open_table(SEQUENCE).map_err(io)?;
                seq.insert("row_form", ROW_FORM).map_err(io)?;
            }
        }
        txn.commit().map_err(io)?;
        let db = std::sync::Arc::new(db);
        let (queue, commands) = mpsc::channel();
        let writer_db = db.clone();
        let snapshots = std::sync::Arc::new(snapshot::Snapshots::default());
        let writer_snapshots = snapshots.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(&writer_db, &writer_snapshots, &commands, options))
            .map_err(io)?;
        Ok(Self {
            db,
            queue,
            snapshots,
        })
    }

    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.db.begin_read().map_err(io)
    }

    /// The shared snapshot for point reads.
    fn snapshot(&self) -> Result<std::sync::Arc<snapshot::Snapshot>, StoreError> {
        self.snapshots.get(&self.db)
    }

    /// Queues a command for the writer thread; resolves once its batch committed.
    fn submit(&self, command: Command) -> WriteFuture {
        let (reply, answer) = oneshot::channel();
        let sent = self.queue.send(Pending { command, reply });
        Box::pin(async move {
            let stopped = || StoreError::Io("the store writer has stopped".into());
            if sent.is_err() {
                return Err(stopped());
            }
            answer.await.unwrap_or_else(|_| Err(stopped()))
        })
    }
}

impl Store for RedbStore {
    fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError> {
        let snapshot = self.snapshot()?;
        let Some(row) = row_in(&snapshot, kind, id)? else {
            return Ok(None);
        };
        if kind == ResourceKind::User {
            return Ok(Some(row));
        }
        // One snapshot for the row and every member, however many pages they take.
        let mut cursor = Cursor::new(snapshot, id);
        let mut all = Vec::new();
        loop {
            let page = cursor.next_page(super::MEMBER_PAGE)?;
            let done = page.len() < super::MEMBER_PAGE;
            all.extend(page);
            if done {
                break;
            }
        }
        let mut group = row;
        if let (false, Some(obj)) = (all.is_empty(), group.as_object_mut()) {
            obj.insert("members".into(), Value::Array(all));
        }
        Ok(Some(group))
    }

    fn group(&self, id: &str) -> Result<Option<GroupView>, StoreError> {
        let snapshot = self.snapshot()?;
        let json = match snapshot
            .resources(ResourceKind::Group)?
            .get(id)
            .map_err(io)?
        {
            Some(bytes) => bytes.value().to_vec(),
            None => return Ok(None),
        };
        let stored = Stored {
            id: id.to_owned(),
            json,
            groups: Vec::new(),
        };
        Ok(Some((stored, Box::new(Cursor::new(snapshot, id)))))
    }

    fn row(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError> {
        row_in(&*self.snapshot()?, kind, id)
    }

    fn members(
        &self,
        group_id: &str,
        after: Option<&str>,
        take: usize,
    ) -> Result<Vec<Value>, StoreError> {
        members_in(&*self.snapshot()?, group_id, after, take)
    }

    fn member(&self, group_id: &str, member_id: &str) -> Result<Option<Value>, StoreError> {
        let snapshot = self.snapshot()?;
        let key = members::key(group_id, member_id);
        match snapshot.members()?.get(key.as_str()).map_err(io)? {
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
        lookup_in(&*self.snapshot()?, kind, index, value)
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

    fn page_after(
        &self,
        kind: ResourceKind,
        after: Option<&str>,
        take: usize,
    ) -> Result<Vec<Value>, StoreError> {
        use std::ops::Bound;
        let txn = self.read()?;
        let t = txn.open_table(table(kind)).map_err(io)?;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::with_capacity(take.min(1024));
        for entry in t
            .range::<&str>((from, Bound::Unbounded))
            .map_err(io)?
            .take(take)
        {
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
        groups_in(&*self.snapshot()?, member_id)
    }

    fn find(&self, kind: ResourceKind, key: Key<'_>) -> Result<Vec<Stored>, StoreError> {
        let snapshot = self.snapshot()?;
        let ids = match key {
            Key::Id(id) => vec![id.to_owned()],
            Key::Index(index, value) => lookup_in(&snapshot, kind, index, value)?,
        };
        let t = snapshot.resources(kind)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(bytes) = t.get(id.as_str()).map_err(io)? else {
                continue;
            };
            let json = bytes.value().to_vec();
            let groups = match kind {
                ResourceKind::User => groups_in(&snapshot, &id)?,
                ResourceKind::Group => Vec::new(),
            };
            out.push(Stored { id, json, groups });
        }
        Ok(out)
    }

    fn write(&self, change: Change) -> WriteFuture {
        self.submit(Command::Change(change))
    }

    fn jobs_after(&self, after: u64, limit: usize) -> Result<Vec<Job>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(OUTBOX).map_err(io)?;
        let mut out = Vec::new();
        for entry in t.range(after.saturating_add(1)..).map_err(io)?.take(limit) {
            let (_, bytes) = entry.map_err(io)?;
            out.push(serde_json::from_slice(bytes.value()).map_err(io)?);
        }
        Ok(out)
    }

    fn job(&self, seq: u64) -> Result<Option<Job>, StoreError> {
        let txn = self.read()?;
        for def in [OUTBOX, DEAD, DELIVERED] {
            if let Some(bytes) = txn.open_table(def).map_err(io)?.get(seq).map_err(io)? {
                return serde_json::from_slice(bytes.value()).map(Some).map_err(io);
            }
        }
        Ok(None)
    }

    fn dead_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(DEAD).map_err(io)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(io)? {
            let (_, bytes) = entry.map_err(io)?;
            out.push(serde_json::from_slice(bytes.value()).map_err(io)?);
        }
        Ok(out)
    }

    fn list_jobs(
        &self,
        shelf: Shelf,
        filter: &JobFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let txn = self.read()?;
        let def = match shelf {
            Shelf::Outbox => OUTBOX,
            Shelf::Dead => DEAD,
            Shelf::Delivered => DELIVERED,
        };
        let t = txn.open_table(def).map_err(io)?;
        let mut out = Vec::new();
        for entry in t.range(after.saturating_add(1)..).map_err(io)? {
            if out.len() >= limit {
                break;
            }
            let (_, bytes) = entry.map_err(io)?;
            let job: Job = serde_json::from_slice(bytes.value()).map_err(io)?;
            if filter.matches(&job) {
                out.push(job);
            }
        }
        Ok(out)
    }

    fn finish_job(&self, seq: u64, outcome: JobOutcome) -> WriteFuture {
        self.submit(Command::Finish(seq, outcome))
    }

    fn act_on_dead(&self, action: DeadAction, selection: DeadSelection) -> DeadFuture {
        let answer = self.submit(Command::Dead(action, selection));
        Box::pin(async move { serde_json::from_value(answer.await?).map_err(io) })
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        audit::query(&self.read()?, query)
    }

    fn prune_audit(&self, before_ms: u64, max: usize) -> PruneFuture {
        let answer = self.submit(Command::PruneAudit { before_ms, max });
        Box::pin(async move {
            let n = answer.await?.as_u64().unwrap_or(0);
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn remote_ref(
        &self,
        connector: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<RemoteRef>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(ID_MAP).map_err(io)?;
        let key = jobs::id_map_key(resource_type, id, connector);
        match t.get(key.as_str()).map_err(io)? {
            Some(bytes) => serde_json::from_slice(bytes.value()).map(Some).map_err(io),
            None => Ok(None),
        }
    }

    fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SETTINGS).map_err(io)?;
        Ok(t.get(key).map_err(io)?.map(|v| v.value().to_vec()))
    }

    fn settings(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SETTINGS).map_err(io)?;
        let mut out = Vec::new();
        for entry in t.range(prefix..).map_err(io)? {
            let (key, value) = entry.map_err(io)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            out.push((key.value().to_owned(), value.value().to_vec()));
        }
        Ok(out)
    }

    fn enqueue(&self, jobs: Vec<ScopedJob>) -> WriteFuture {
        self.submit(Command::Enqueue(jobs))
    }

    fn put_settings(&self, entries: Vec<(String, Option<Vec<u8>>)>) -> WriteFuture {
        self.submit(Command::Settings(entries))
    }
}

/// Writes admin documents inside the writer's transaction.
fn put_settings(
    txn: &WriteTransaction,
    entries: Vec<(String, Option<Vec<u8>>)>,
) -> Result<(), StoreError> {
    let mut t = txn.open_table(SETTINGS).map_err(io)?;
    for (key, value) in entries {
        match value {
            Some(bytes) => t.insert(key.as_str(), bytes.as_slice()).map_err(io)?,
            None => t.remove(key.as_str()).map_err(io)?,
        };
    }
    Ok(())
}

/// One row in `snapshot`.
fn row_in(
    snapshot: &snapshot::Snapshot,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<Value>, StoreError> {
    match snapshot.resources(kind)?.get(id).map_err(io)? {
        Some(bytes) => decode(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// A group's members, a page at a time, from one snapshot it holds.
struct Cursor {
    /// Where every page is read.
    snapshot: std::sync::Arc<snapshot::Snapshot>,
    /// The group.
    group_id: String,
    /// The last member read, `None` before the first page.
    after: Option<String>,
}

impl Cursor {
    fn new(snapshot: std::sync::Arc<snapshot::Snapshot>, group_id: &str) -> Self {
        Self {
            snapshot,
            group_id: group_id.to_owned(),
            after: None,
        }
    }
}

impl MemberCursor for Cursor {
    fn next_page(&mut self, take: usize) -> Result<Vec<Value>, StoreError> {
        let page = members_in(&self.snapshot, &self.group_id, self.after.as_deref(), take)?;
        if let Some(last) = page
            .last()
            .and_then(|m| m.get("value"))
            .and_then(Value::as_str)
        {
            self.after = Some(last.to_owned());
        }
        Ok(page)
    }
}

/// At most `take` members of a group after `after`, in `snapshot`.
fn members_in(
    snapshot: &snapshot::Snapshot,
    group_id: &str,
    after: Option<&str>,
    take: usize,
) -> Result<Vec<Value>, StoreError> {
    use std::ops::Bound;
    let prefix = members::prefix(group_id);
    let from = match after {
        Some(member) => Bound::Excluded(members::key(group_id, member)),
        None => Bound::Included(prefix.clone()),
    };
    let t = snapshot.members()?;
    let mut out = Vec::with_capacity(take.min(1024));
    let range = t
        .range::<&str>((from.as_ref().map(String::as_str), Bound::Unbounded))
        .map_err(io)?;
    for entry in range.take(take) {
        let (k, v) = entry.map_err(io)?;
        if !k.value().starts_with(prefix.as_str()) {
            break;
        }
        out.push(decode(v.value())?);
    }
    Ok(out)
}

/// Ids of the resources whose indexed attribute equals `value`, in `txn`'s snapshot.
fn lookup_in(
    snapshot: &snapshot::Snapshot,
    kind: ResourceKind,
    index: Index,
    value: &str,
) -> Result<Vec<String>, StoreError> {
    let Some(t) = snapshot.index(kind, index) else {
        return Ok(Vec::new());
    };
    let t = t?;
    let mut ids = Vec::new();
    for id in t.get(index.normalise(value).as_str()).map_err(io)? {
        ids.push(id.map_err(io)?.value().to_owned());
    }
    Ok(ids)
}

/// The one attribute of a group that a membership shows.
#[derive(serde::Deserialize)]
struct GroupName {
    /// The group's `displayName`.
    #[serde(rename = "displayName", default)]
    display_name: String,
}

/// The groups that list `member_id`, read in `txn`.
fn groups_in(
    snapshot: &snapshot::Snapshot,
    member_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    let mut out = Vec::new();
    for gid in snapshot.member_of()?.get(member_id).map_err(io)? {
        let gid = gid.map_err(io)?.value().to_owned();
        let groups = snapshot.resources(ResourceKind::Group)?;
        if let Some(bytes) = groups.get(gid.as_str()).map_err(io)? {
            let name: GroupName = serde_json::from_slice(bytes.value()).map_err(io)?;
            out.push(Membership {
                display: name.display_name,
                group_id: gid,
            });
        }
    }
    Ok(out)
}

/// Takes every waiting command, applies them in one transaction, commits, answers. Ends when
/// the store is dropped.
fn writer_loop(
    db: &Database,
    snapshots: &snapshot::Snapshots,
    queue: &mpsc::Receiver<Pending>,
    options: StoreOptions,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (commands, replies): (Vec<Command>, Vec<_>) =
            batch.into_iter().map(|p| (p.command, p.reply)).unzip();
        snapshots.committing();
        let (results, outcome) = apply_batch(db, commands, options);
        // Before any caller hears of the commit: from now on readers take a new snapshot.
        snapshots.committed();
        for (reply, result) in replies.into_iter().zip(results) {
            let answer = match &outcome {
                Ok(()) => result,
                Err(e) => Err(e.clone()),
            };
            // The caller may have gone away (client disconnected); the write stands regardless.
            let _ = reply.send(answer);
        }
    }
}

/// Applies `ops` in one transaction. Returns each op's result and whether the commit succeeded.
fn apply_batch(
    db: &Database,
    commands: Vec<Command>,
    options: StoreOptions,
) -> (Vec<WriteResult>, Result<(), StoreError>) {
    let n = commands.len();
    let failed = |e: StoreError| (vec![Err(e.clone()); n], Err(e));
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => return failed(io(e)),
    };
    let mut counters = match Counters::read(&txn) {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let mut results = Vec::with_capacity(n);
    for command in commands {
        let result = match command {
            Command::Change(change) => resources::apply(&txn, &mut counters, change),
            Command::Finish(seq, outcome) => {
                jobs::finish(&txn, &mut counters, seq, outcome, options.keep_delivered)
                    .map(|()| Value::Null)
            }
            Command::Dead(action, selection) => {
                jobs::act_on_dead(&txn, &mut counters, action, &selection)
                    .and_then(|jobs| serde_json::to_value(jobs).map_err(io))
            }
            Command::PruneAudit { before_ms, max } => {
                audit::prune(&txn, before_ms, max).map(Value::from)
            }
            Command::Settings(entries) => put_settings(&txn, entries).map(|()| Value::Null),
            Command::Enqueue(scoped) => scoped
                .into_iter()
                .try_for_each(|job| jobs::enqueue_scoped(&txn, &mut counters.job, job, None))
                .map(|()| Value::Null),
        };
        // A logical refusal wrote nothing; an engine error may have written half: abort all.
        if let Err(StoreError::Io(e)) = &result {
            return failed(StoreError::Io(e.clone()));
        }
        results.push(result);
    }
    let committed = counters.write(&txn).and_then(|()| txn.commit().map_err(io));
    match committed {
        Ok(()) => (results, Ok(())),
        Err(e) => failed(e),
    }
}

/// The store's counters, read at the start of a batch and written back before its commit.
struct Counters {
    /// The last resource version handed out.
    version: u64,
    /// The last outbox seq handed out.
    job: u64,
    /// The last audit seq handed out.
    audit: u64,
    /// The time of the newest audit entry (ms since the Unix epoch): no entry is stamped
    /// earlier, so the trail's order is also its time order.
    audit_ms: u64,
}

impl Counters {
    fn read(txn: &WriteTransaction) -> Result<Self, StoreError> {
        let t = txn.open_table(SEQUENCE).map_err(io)?;
        let get = |name: &str| -> Result<u64, StoreError> {
            Ok(t.get(name).map_err(io)?.map(|v| v.value()).unwrap_or(0))
        };
        Ok(Counters {
            version: get("version")?,
            job: get("job")?,
            audit: get("audit")?,
            audit_ms: get("audit_ms")?,
        })
    }

    fn write(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        let mut t = txn.open_table(SEQUENCE).map_err(io)?;
        t.insert("version", self.version).map_err(io)?;
        t.insert("job", self.job).map_err(io)?;
        t.insert("audit", self.audit).map_err(io)?;
        t.insert("audit_ms", self.audit_ms).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admin;
