//! Persistence of SCIM resources behind one narrow trait, [`Store`].
//!
//! The trait is what a second backend (PostgreSQL, planned) implements: resources by kind and id,
//! the secondary indexes that make `eq` filters cheap, and conditional writes. Reads are
//! synchronous and cheap; writes are submitted and answered once they are durable, which lets a
//! backend commit many concurrent writes together (group commit; see [`redb`]).
//!
//! The same transaction that commits a change records its delivery jobs (the transactional
//! [`outbox`]): nothing is delivered that was not committed, and nothing committed is forgotten.
//! It also appends the change to the [`audit`] trail, as the transaction recording a delivery
//! outcome appends that outcome.
//!
//! Admin state that must survive a restart (uploaded plugins, connector instances made through
//! the admin API) is kept as documents by key (`setting`, `put_settings`): the store does not
//! interpret them.
//!
//! Resources travel as SCIM JSON objects holding `id`, `schemas`, the attributes and
//! `meta.{resourceType,created,lastModified,version}`. `meta.location`, `$ref`s and `User.groups`
//! depend on the request or on other resources and are added when a resource is served.
//!
//! # A group's members are kept apart from the group
//! A group's row holds its attributes without `members`; each membership is a record of its
//! own, keyed by (group, member), with the reverse (member → groups) beside it. So a membership
//! change writes the changed pairs and a small row, whatever the group's size ([`MemberEdit`],
//! [`WriteOp::Members`]); a read that does not show members never touches them
//! ([`Store::row`], [`Store::find`]); a membership test is one point read ([`Store::member`]);
//! and the whole list is read a page at a time ([`Store::members`]). [`Store::get`] still
//! answers a group whole, for the paths that need all of it. Every group job records the exact
//! members its change added and removed ([`outbox::Job::members`]).

pub mod audit;
pub mod index;
pub mod outbox;
pub mod plan;
pub mod redb;

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;

use serde_json::Value;

use crate::model::{RemoteRef, ResourceKind};
use crate::scim::ScimError;
pub use crate::scim::patch::MemberEdit;

pub use audit::{AuditEntry, AuditQuery};
pub use index::Index;
pub use outbox::{DeadAction, DeadSelection, Job, JobFilter, JobOutcome, Shelf};

/// A failed store operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A value that must be unique is taken (`userName`).
    #[error("{0}")]
    Uniqueness(String),
    /// The stored version is not the one the write was conditioned on.
    #[error("version mismatch")]
    VersionMismatch,
    /// A group member that does not exist, or a group that would contain itself.
    #[error("{0}")]
    InvalidMember(String),
    /// The storage engine failed; the write did not happen.
    #[error("storage: {0}")]
    Io(String),
}

/// How the client sees a store failure: the store's part of the SCIM error mapping.
impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        use http::StatusCode;
        match e {
            StoreError::NotFound(id) => Self::new(StatusCode::NOT_FOUND, format!("{id} not found")),
            StoreError::Uniqueness(detail) => Self {
                status: StatusCode::CONFLICT,
                scim_type: Some("uniqueness"),
                detail,
            },
            StoreError::VersionMismatch => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "the resource was changed since the version given in If-Match",
            ),
            StoreError::InvalidMember(detail) => Self::bad_request("invalidValue", detail),
            StoreError::Io(detail) => Self::internal(detail),
        }
    }
}

impl StoreError {
    /// An engine or encoding failure, with its message (`map_err(StoreError::io)`).
    pub fn io(e: impl std::fmt::Display) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// A change to submit. Each is checked completely before anything is written, so a rejected
/// operation leaves no trace, whichever other operations share its transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Insert a new resource (its `id` and `meta` set by the caller, `meta.version` by the store).
    Create {
        /// Users or Groups.
        kind: ResourceKind,
        /// The full resource.
        resource: Value,
    },
    /// Overwrite a resource, if its version is still `expected_version`.
    Replace {
        /// Users or Groups.
        kind: ResourceKind,
        /// The full new resource, with the same `id`.
        resource: Value,
        /// The `meta.version` the caller read; `None` replaces whatever is there.
        expected_version: Option<String>,
        /// For a group: what the write does to its members.
        members: MemberWrite,
    },
    /// Change a group's members only: the store bumps the group's version and `lastModified`
    /// on the group as it is at the commit, so concurrent membership changes never race.
    Members {
        /// The group's id.
        id: String,
        /// The change.
        edit: MemberEdit,
        /// The `meta.version` the client named in `If-Match`, if any.
        expected_version: Option<String>,
        /// The new `meta.lastModified`.
        modified: String,
    },
    /// Delete a resource (and its group memberships), if its version is still `expected_version`.
    Delete {
        /// Users or Groups.
        kind: ResourceKind,
        /// The resource's id.
        id: String,
        /// The `meta.version` the client named in `If-Match`, if any.
        expected_version: Option<String>,
    },
    /// Record a change that another system holds (pass-through mode: the system of record
    /// already applied it). Nothing of the resource is stored: only the change's delivery jobs,
    /// its id map entries and its audit entry, with the digests given here.
    Relay {
        /// Users or Groups.
        kind: ResourceKind,
        /// The resource's id.
        id: String,
        /// `Create`, `Replace` or `Delete`.
        operation: crate::model::Operation,
        /// SHA-256 of the resource's JSON before the change (none for a create).
        before_sha256: Option<String>,
        /// SHA-256 of the resource's JSON after the change (none for a delete).
        after_sha256: Option<String>,
    },
}

/// What a group's [`WriteOp::Replace`] does to its members.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum MemberWrite {
    /// The resource's `members` is the complete new list (absent: no members): a PUT, or a
    /// PATCH computed on the whole group. Costs a pass over the stored members.
    #[default]
    Whole,
    /// The stored members stay as they are; the resource carries none.
    Keep,
    /// Only these members change; the resource carries none.
    Edit(MemberEdit),
}

impl WriteOp {
    /// The changed resource's id.
    pub fn id(&self) -> &str {
        match self {
            WriteOp::Create { resource, .. } | WriteOp::Replace { resource, .. } => resource
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            WriteOp::Delete { id, .. }
            | WriteOp::Relay { id, .. }
            | WriteOp::Members { id, .. } => id,
        }
    }

    /// What the change does to the resource.
    pub fn operation(&self) -> crate::model::Operation {
        match self {
            WriteOp::Create { .. } => crate::model::Operation::Create,
            WriteOp::Replace { .. } | WriteOp::Members { .. } => crate::model::Operation::Replace,
            WriteOp::Delete { .. } => crate::model::Operation::Delete,
            WriteOp::Relay { operation, .. } => *operation,
        }
    }
}

/// A change and the connector instances that must hear of it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The write itself.
    pub op: WriteOp,
    /// Connector instances that get a delivery job for it. For a delete, every connector that
    /// holds a remote id for the resource is added by the store.
    pub deliver_to: Vec<String>,
    /// For a PATCH: the attribute paths it changed (passed on to connectors).
    pub changed_paths: Vec<String>,
    /// Further jobs it causes: users entering or leaving a connector's scope.
    pub scoped: Vec<ScopedJob>,
    /// Blocking connectors that already delivered it, before the commit, with what they
    /// answered: their id map is updated in the same transaction (the remote reference kept,
    /// or forgotten for a delete) and they get no job for it.
    pub delivered: Vec<(String, RemoteRef)>,
    /// Who made it: the name of the SCIM token, recorded in the audit trail.
    pub actor: Option<String>,
    /// A password the change set, sealed, for its own jobs (and the jobs of connectors it
    /// brought the user into scope of) to deliver. The store keeps it on those jobs only, and
    /// never in the resource: it removes every never-returned attribute from what it stores.
    pub password: Option<crate::vault::Sealed>,
}

/// A delivery job a change causes besides its own ([`Change::deliver_to`]): for the changed
/// resource with another operation (it entered or left a connector's scope), or for another
/// resource (a member whom a group's change moved in or out of scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedJob {
    /// The connector instance.
    pub connector: String,
    /// The resource's kind.
    pub kind: ResourceKind,
    /// The resource's id.
    pub id: String,
    /// What the connector is asked to do.
    pub operation: crate::model::Operation,
    /// For a group: the members the change added and removed, when the job is about that
    /// (a member's delete leaving the group).
    pub members: Option<crate::model::MemberDelta>,
}

impl From<WriteOp> for Change {
    fn from(op: WriteOp) -> Self {
        Change {
            op,
            deliver_to: Vec::new(),
            changed_paths: Vec::new(),
            scoped: Vec::new(),
            delivered: Vec::new(),
            actor: None,
            password: None,
        }
    }
}

/// How many members [`Store::with_members`] reads at a time.
pub const MEMBER_PAGE: usize = 1000;

/// The answer to a write: the resource as stored (`Value::Null` for a delete).
pub type WriteResult = Result<Value, StoreError>;

/// A write in flight.
pub type WriteFuture = Pin<Box<dyn Future<Output = WriteResult> + Send>>;

/// An operator's action on dead jobs in flight; answers the jobs it affected (for a retry, as
/// they are back in the outbox, with their new seq).
pub type DeadFuture = Pin<Box<dyn Future<Output = Result<Vec<Job>, StoreError>> + Send>>;

/// A pruning pass in flight; answers how many records it removed.
pub type PruneFuture = Pin<Box<dyn Future<Output = Result<usize, StoreError>> + Send>>;

/// A group a resource belongs to, as `User.groups` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The group's id.
    pub group_id: String,
    /// The group's `displayName`.
    pub display: String,
}

/// How to find resources without scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// The resource with this id.
    Id(&'a str),
    /// The resources whose indexed attribute equals the value (see [`Store::lookup`]).
    Index(Index, &'a str),
}

/// A resource as the store holds it, not yet decoded, with its memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The resource's id.
    pub id: String,
    /// Its JSON text, exactly as stored.
    pub json: Vec<u8>,
    /// For a user, the groups that directly contain it (empty for a group).
    pub groups: Vec<Membership>,
}

impl Stored {
    /// The resource as a JSON value.
    pub fn decode(&self) -> Result<Value, StoreError> {
        serde_json::from_slice(&self.json).map_err(StoreError::io)
    }
}

/// A group's members, read a page at a time from the snapshot [`Store::group`] took them from.
pub trait MemberCursor: Send {
    /// The next at most `take` members, each `{"value", "type", "display"?}`, in member id
    /// order; empty once every member was read.
    fn next_page(&mut self, take: usize) -> Result<Vec<Value>, StoreError>;
}

/// A group's stored row and a cursor through its members, from one snapshot ([`Store::group`]).
pub type GroupView = (Stored, Box<dyn MemberCursor>);

/// Where SCIM resources live. See the module docs.
pub trait Store: Send + Sync + 'static {
    /// One resource by id; a group whole, with every member (see [`Store::row`]).
    fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError>;
    /// One resource by id as its row holds it: a group without `members`. Costs the same for
    /// any group size.
    fn row(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError>;
    /// At most `take` members of a group whose id comes after `after`, in member id order,
    /// each `{"value", "type", "display"?}`: a cursor through a group of any size.
    fn members(
        &self,
        group_id: &str,
        after: Option<&str>,
        take: usize,
    ) -> Result<Vec<Value>, StoreError>;
    /// A group's stored row and a cursor through its members, both from one snapshot: what is
    /// read through them is the group as of one commit, however long the reading takes (and
    /// that snapshot's pages stay allocated until the cursor is dropped).
    fn group(&self, id: &str) -> Result<Option<GroupView>, StoreError>;
    /// The group's member with this id, if it is one (one point read).
    fn member(&self, group_id: &str, member_id: &str) -> Result<Option<Value>, StoreError>;
    /// `group` (a row) with all its members added, read a page at a time.
    fn with_members(&self, mut group: Value) -> Result<Value, StoreError> {
        let id = group
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut all = Vec::new();
        loop {
            let after = all
                .last()
                .and_then(|m: &Value| m.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let page = self.members(&id, after.as_deref(), MEMBER_PAGE)?;
            let done = page.len() < MEMBER_PAGE;
            all.extend(page);
            if done {
                break;
            }
        }
        if let (false, Some(obj)) = (all.is_empty(), group.as_object_mut()) {
            obj.insert("members".into(), Value::Array(all));
        }
        Ok(group)
    }
    /// Ids of the resources whose indexed attribute equals `value` (compared as the attribute's
    /// `caseExact` says).
    fn lookup(
        &self,
        kind: ResourceKind,
        index: Index,
        value: &str,
    ) -> Result<Vec<String>, StoreError>;
    /// How many resources of a kind there are.
    fn count(&self, kind: ResourceKind) -> Result<u64, StoreError>;
    /// Resources `skip..skip+take` in the store's stable order (by id); groups as rows
    /// (without members), as for every listing below.
    fn page(&self, kind: ResourceKind, skip: u64, take: usize) -> Result<Vec<Value>, StoreError>;
    /// At most `take` resources whose id comes after `after` (from the first without it), in
    /// the same order as [`Store::page`]: a cursor that costs the same on every page, for walks
    /// through everything (a reconcile).
    fn page_after(
        &self,
        kind: ResourceKind,
        after: Option<&str>,
        take: usize,
    ) -> Result<Vec<Value>, StoreError>;
    /// Visits every resource of a kind in stable order until `visit` breaks.
    fn scan(
        &self,
        kind: ResourceKind,
        visit: &mut dyn FnMut(Value) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;
    /// The groups that directly contain `member_id`.
    fn groups_of(&self, member_id: &str) -> Result<Vec<Membership>, StoreError>;
    /// The resources `key` selects, each as stored (a group as its row, without members) with
    /// (for a user) the groups that contain it, all from one consistent snapshot. A backend can answer this with one read
    /// transaction where `lookup`, `get` and `groups_of` would take three.
    fn find(&self, kind: ResourceKind, key: Key<'_>) -> Result<Vec<Stored>, StoreError> {
        let ids = match key {
            Key::Id(id) => vec![id.to_owned()],
            Key::Index(index, value) => self.lookup(kind, index, value)?,
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(resource) = self.row(kind, &id)? else {
                continue;
            };
            let json = serde_json::to_vec(&resource).map_err(StoreError::io)?;
            let groups = match kind {
                ResourceKind::User => self.groups_of(&id)?,
                ResourceKind::Group => Vec::new(),
            };
            out.push(Stored { id, json, groups });
        }
        Ok(out)
    }
    /// Submits a change; the future resolves once it and its delivery jobs are durable (or
    /// once it was refused).
    fn write(&self, change: Change) -> WriteFuture;

    /// Outbox jobs (pending or retrying) with `seq > after`, in `seq` order, at most `limit`.
    fn jobs_after(&self, after: u64, limit: usize) -> Result<Vec<Job>, StoreError>;
    /// One job, whether in the outbox, dead, or in the delivery history.
    fn job(&self, seq: u64) -> Result<Option<Job>, StoreError>;
    /// Dead-lettered jobs, in `seq` order.
    fn dead_jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// The jobs of one shelf that `filter` selects with `seq > after`, in `seq` order, at most
    /// `limit` (the admin API's listings).
    fn list_jobs(
        &self,
        shelf: Shelf,
        filter: &JobFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;
    /// Records how a job attempt ended (durably, like a write): the job stays in the outbox,
    /// moves to the dead letters, or moves to the delivery history (which keeps the newest
    /// jobs only); the outcome is appended to the audit trail in the same transaction.
    fn finish_job(&self, seq: u64, outcome: JobOutcome) -> WriteFuture;
    /// Retries or discards the dead jobs `selection` names (durably, in one transaction). A
    /// retried job goes back to the outbox as pending with its attempts and a fresh seq, so it
    /// runs after every job of its resource already queued.
    fn act_on_dead(&self, action: DeadAction, selection: DeadSelection) -> DeadFuture;
    /// Audit entries `query` selects, newest first.
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
    /// Removes at most `max` of the oldest audit entries committed before `before_ms`.
    fn prune_audit(&self, before_ms: u64, max: usize) -> PruneFuture;
    /// What a connector calls a resource, once it reported it.
    fn remote_ref(
        &self,
        connector: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<RemoteRef>, StoreError>;

    /// Records delivery jobs that no change caused (a reconcile), durably.
    fn enqueue(&self, jobs: Vec<ScopedJob>) -> WriteFuture;

    /// One admin document (an uploaded plugin, a connector instance made through the admin
    /// API) by key.
    fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every admin document whose key starts with `prefix`, in key order.
    fn settings(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Stores (`Some`) or removes (`None`) admin documents, all in one durable commit.
    fn put_settings(&self, entries: Vec<(String, Option<Vec<u8>>)>) -> WriteFuture;
}
