//! Persistence of SCIM resources behind one narrow trait, [`Store`].
//!
//! The trait is what a second backend (PostgreSQL, planned) implements: resources by kind and id,
//! the secondary indexes that make `eq` filters cheap, and conditional writes. Reads are
//! synchronous and cheap; writes are submitted and answered once they are durable, which lets a
//! backend commit many concurrent writes together (group commit; see [`redb`]).
//!
//! Resources travel as SCIM JSON objects holding `id`, `schemas`, the attributes and
//! `meta.{resourceType,created,lastModified,version}`. `meta.location`, `$ref`s and `User.groups`
//! depend on the request or on other resources and are added when a resource is served.

pub mod index;
pub mod redb;

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;

use serde_json::Value;

use crate::scim::schema::ResourceKind;

pub use index::Index;

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
}

/// The answer to a write: the resource as stored (`Value::Null` for a delete).
pub type WriteResult = Result<Value, StoreError>;

/// A write in flight.
pub type WriteFuture = Pin<Box<dyn Future<Output = WriteResult> + Send>>;

/// A group a resource belongs to, as `User.groups` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The group's id.
    pub group_id: String,
    /// The group's `displayName`.
    pub display: String,
}

/// Where SCIM resources live. See the module docs.
pub trait Store: Send + Sync + 'static {
    /// One resource by id.
    fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError>;
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
    /// Resources `skip..skip+take` in the store's stable order (by id).
    fn page(&self, kind: ResourceKind, skip: u64, take: usize) -> Result<Vec<Value>, StoreError>;
    /// Visits every resource of a kind in stable order until `visit` breaks.
    fn scan(
        &self,
        kind: ResourceKind,
        visit: &mut dyn FnMut(Value) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;
    /// The groups that directly contain `member_id`.
    fn groups_of(&self, member_id: &str) -> Result<Vec<Membership>, StoreError>;
    /// Submits a write; the future resolves once it is durable (or refused).
    fn write(&self, op: WriteOp) -> WriteFuture;
}
