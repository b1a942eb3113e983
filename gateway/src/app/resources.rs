//! Where resources live: the one seam between the SCIM operations and the two ways the gateway
//! keeps identities.
//!
//! [`Provisioning`](super::Provisioning) validates a request, reads the current state, applies
//! the edit and checks `If-Match` the same way in both modes; a [`Resources`] implementation
//! only reads, writes, lists and shapes:
//!
//! - [`Persisted`](super::stored::Persisted): the gateway's own store (the default mode);
//! - [`PassThrough`](super::passthrough::PassThrough): a connector that is the system of
//!   record, the store keeping only jobs, the id map and the audit trail.
//!
//! The mode is chosen once, at start, by building one or the other.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::{Answer, Body};
use crate::model::{Operation, ResourceKind};
use crate::scim::ScimError;
use crate::scim::list::ListQuery;
use crate::store::MemberWrite;

/// A future a [`Resources`] method answers with.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a way of keeping resources offers beyond the single-resource operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offers {
    /// `/Bulk` and the root `/.search` across resource types.
    pub bulk: bool,
    /// `sortBy`.
    pub sort: bool,
    /// A group's members are kept apart from it ([`Resources::read_row`] answers a group
    /// without them, and a write may change some members only: [`Write::members`]).
    pub member_records: bool,
}

/// A change the operations computed, for the keeper to write.
pub struct Write<'a> {
    /// Users or Groups.
    pub kind: ResourceKind,
    /// `Create`, `Replace` or `Delete`.
    pub operation: Operation,
    /// The state the change was computed from (`None`: a create).
    pub before: Option<&'a Value>,
    /// The full new state (`None`: a delete).
    pub after: Option<Value>,
    /// For a PATCH, the changed attribute paths.
    pub changed_paths: Vec<String>,
    /// Whether the client named the version it expects (`If-Match`): a lost race is then its
    /// `412`, not a reason to recompute.
    pub conditional: bool,
    /// For a group, what the write does to its members (only where
    /// [`Offers::member_records`]; otherwise always [`MemberWrite::Whole`]).
    pub members: MemberWrite,
}

/// Why a write did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// Another writer changed the resource since it was read: recompute on the fresh state.
    Raced,
    /// Refused or failed, as the client will see it.
    Refused(ScimError),
}

impl From<ScimError> for WriteError {
    fn from(e: ScimError) -> Self {
        WriteError::Refused(e)
    }
}

/// Where resources live. See the module docs.
pub trait Resources: Send + Sync {
    /// What this mode offers.
    fn offers(&self) -> Offers;

    /// The id a new resource gets here, or `None` when the keeper assigns it on write.
    fn assign_id(&self) -> Option<String>;

    /// One resource as it is now, if it exists.
    fn read<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ScimError>>;

    /// One resource as it is now, a group without its members where
    /// [`Offers::member_records`] (the same as [`Resources::read`] elsewhere).
    fn read_row<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ScimError>> {
        self.read(kind, id)
    }

    /// One resource shaped for a response (`404` if it does not exist).
    fn fetch<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
        base_url: &'a str,
        q: &'a ListQuery,
    ) -> BoxFuture<'a, Result<Answer, ScimError>>;

    /// A `ListResponse` for a search over `kinds`.
    fn list<'a>(
        &'a self,
        kinds: &'a [ResourceKind],
        q: &'a ListQuery,
        base_url: &'a str,
    ) -> BoxFuture<'a, Result<Body, ScimError>>;

    /// Writes a change, recording `actor` as its author; answers the resource as it now is
    /// (`Null` after a delete).
    fn write<'a>(
        &'a self,
        actor: Option<&'a str>,
        change: Write<'a>,
    ) -> BoxFuture<'a, Result<Value, WriteError>>;

    /// Shapes a resource a write answered for the response. `created`: it is new (and so in no
    /// group yet).
    fn render(
        &self,
        kind: ResourceKind,
        resource: Value,
        created: bool,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError>;
}
