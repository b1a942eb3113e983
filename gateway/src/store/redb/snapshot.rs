//! A read snapshot that concurrent point reads share until the next commit.
//!
//! # Why
//! Beginning a redb read transaction and opening the tables a GET needs (the resource table and
//! the memberships) cost about as much CPU as the B-tree lookups themselves, and a busy gateway
//! repeats them for every request although nothing changed in between. Readers therefore share
//! one read transaction, with the tables it has opened, for as long as nothing was committed.
//!
//! # Why it never shows a stale write
//! The writer thread bumps the generation after every commit and *before* it answers any caller
//! of that commit. A reader takes the generation first and begins its transaction after, so a
//! snapshot holds at least the commits of the generation it is tagged with, and a snapshot is
//! reused only while its tag is the current generation. A client that got its answer and then
//! reads therefore always reads its own write.
//!
//! # Why the writer drops it
//! An open read transaction keeps every page it can see alive, and redb cannot reuse them. If a
//! superseded snapshot stayed cached until the next read, a run of writes with no reads in
//! between (a bulk load after some GETs) would keep the pages of that old state pinned, and the
//! file would grow by every page the writes free: measured, about three times the bytes per
//! create (see `docs/benchmarks.md`). So the writer also drops the cached snapshot at every
//! commit; a superseded one lives only as long as a reader still holds it. The check and the
//! caching of a new snapshot happen under the same lock, so a reader that began its snapshot
//! before a commit cannot cache it after the writer dropped the old one.
//!
//! Long iterations (listings, scans) still use a transaction of their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use redb::{
    Database, ReadOnlyMultimapTable, ReadOnlyTable, ReadTransaction, ReadableDatabase,
    TableDefinition,
};

use super::{GROUP_MEMBERS, GROUPS, MEMBER_OF, USERS, index_table, io};
use crate::model::ResourceKind;
use crate::store::{Index, StoreError};

type Table = ReadOnlyTable<&'static str, &'static [u8]>;
type Multimap = ReadOnlyMultimapTable<&'static str, &'static str>;

/// The generation counter and the current snapshot.
#[derive(Default)]
pub(super) struct Snapshots {
    /// How many commits the writer has made (bumped after each, before answering).
    generation: AtomicU64,
    /// The snapshot readers share, tagged with the generation it was begun in.
    current: Mutex<Option<Arc<Snapshot>>>,
}

impl Snapshots {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Snapshot>>> {
        // Every critical section is one read or replacement of the slot.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the writer before it commits: the generation turns odd, and until
    /// [`committed`](Self::committed) makes it even again every read takes a transaction of its
    /// own, uncached. Without this, a reader that saw the commit elsewhere (the dispatcher reads
    /// a new job in a fresh transaction) could get a cached snapshot from before it, still
    /// tagged current, and take a committed resource for a deleted one.
    pub(super) fn committing(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let superseded = self.lock().take();
        drop(superseded);
    }

    /// Called by the writer after a commit, before it answers the commit's callers: the next
    /// read begins a new snapshot, and the superseded one is released once its readers are done.
    pub(super) fn committed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let superseded = self.lock().take();
        drop(superseded);
    }

    /// A snapshot that holds every commit answered so far.
    pub(super) fn get(&self, db: &Database) -> Result<Arc<Snapshot>, StoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation % 2 == 1 {
            // A commit is under way: neither use nor fill the shared snapshot.
            return Ok(Arc::new(Snapshot::new(
                generation,
                db.begin_read().map_err(io)?,
            )));
        }
        if let Some(s) = self.lock().as_ref()
            && s.generation == generation
        {
            return Ok(s.clone());
        }
        let snapshot = Arc::new(Snapshot::new(generation, db.begin_read().map_err(io)?));
        let mut current = self.lock();
        // Cached only if no commit happened meanwhile: the writer bumps before it takes the
        // lock to drop the slot, so seeing the same generation here means it has not dropped
        // it yet (and will drop this one).
        if self.generation.load(Ordering::Acquire) == generation {
            *current = Some(snapshot.clone());
        }
        drop(current);
        Ok(snapshot)
    }
}

/// One read transaction and the tables opened in it so far.
pub(super) struct Snapshot {
    /// The generation it was begun in.
    generation: u64,
    /// The transaction every table below belongs to.
    txn: ReadTransaction,
    /// `users`.
    users: OnceLock<Table>,
    /// `groups`.
    groups: OnceLock<Table>,
    /// `member_of`.
    member_of: OnceLock<Multimap>,
    /// `group_members`.
    members: OnceLock<Table>,
    /// The secondary indexes: the users' in [`Index::for_kind`] order, then the groups'.
    indexes: [OnceLock<Multimap>; 5],
}

/// The table in `cell`, opened with `open` the first time.
fn cached<T>(
    cell: &OnceLock<T>,
    open: impl FnOnce() -> Result<T, StoreError>,
) -> Result<&T, StoreError> {
    if let Some(t) = cell.get() {
        return Ok(t);
    }
    let opened = open()?;
    Ok(cell.get_or_init(|| opened))
}

impl Snapshot {
    fn new(generation: u64, txn: ReadTransaction) -> Self {
        Self {
            generation,
            txn,
            users: OnceLock::new(),
            groups: OnceLock::new(),
            member_of: OnceLock::new(),
            members: OnceLock::new(),
            indexes: Default::default(),
        }
    }

    fn open(
        &self,
        def: TableDefinition<'static, &'static str, &'static [u8]>,
    ) -> Result<Table, StoreError> {
        self.txn.open_table(def).map_err(io)
    }

    /// The resource table of `kind`.
    pub(super) fn resources(&self, kind: ResourceKind) -> Result<&Table, StoreError> {
        match kind {
            ResourceKind::User => cached(&self.users, || self.open(USERS)),
            ResourceKind::Group => cached(&self.groups, || self.open(GROUPS)),
        }
    }

    /// (group, member) → the member as the group lists it.
    pub(super) fn members(&self) -> Result<&Table, StoreError> {
        cached(&self.members, || self.open(GROUP_MEMBERS))
    }

    /// Member id → the groups that list it.
    pub(super) fn member_of(&self) -> Result<&Multimap, StoreError> {
        cached(&self.member_of, || {
            self.txn.open_multimap_table(MEMBER_OF).map_err(io)
        })
    }

    /// The index of `kind` on `index`, if there is one.
    pub(super) fn index(
        &self,
        kind: ResourceKind,
        index: Index,
    ) -> Option<Result<&Multimap, StoreError>> {
        let def = index_table(kind, index)?;
        let offset = match kind {
            ResourceKind::User => 0,
            ResourceKind::Group => Index::for_kind(ResourceKind::User).len(),
        };
        let slot = offset + Index::for_kind(kind).iter().position(|&i| i == index)?;
        let cell = self.indexes.get(slot)?;
        Some(cached(cell, || {
            self.txn.open_multimap_table(def).map_err(io)
        }))
    }
}
