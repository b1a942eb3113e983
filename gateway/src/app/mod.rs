//! The provisioning service: the SCIM operations (create, get, replace, patch, delete, search,
//! bulk) as one path from a validated request to where resources live and back.
//!
//! ```text
//! http handler ─▶ Provisioning ─▶ scim (validate, apply PATCH, If-Match)
//!                      │
//!                      ▼
//!               dyn Resources ─┬─ Persisted:   store ◀─ Recorder (jobs, audit, blocking connectors)
//!                              └─ PassThrough: system of record (a connector) ─▶ Recorder
//! ```
//!
//! [`Provisioning`] holds everything that is the same in both modes: input validation, the
//! read-check-compute-write loop of PUT and PATCH, `If-Match`, `/Bulk`. Where resources live is a
//! [`Resources`] implementation chosen once at start ([`resources`] argues the seam), and every
//! change, whichever the mode, is committed through one `Recorder` (`record.rs`) with its
//! delivery jobs.
//!
//! Writes use optimistic concurrency: the resource is read, the change computed and validated,
//! and it is written only if the version is still the one read. When a client named a version
//! (`If-Match`) a lost race is its `412`; otherwise the operation is recomputed on the fresh
//! version, so concurrent PATCHes of one group never lose a member. Within one gateway, writes
//! of one resource also take turns (a lock per resource, striped), so concurrent writers
//! without `If-Match` do not race at all and never see a `409`: `409` is for uniqueness only.
//!
//! # A group's members
//! Where members are kept apart from the group ([`Offers::member_records`]), a PATCH of a group
//! is split ([`patch::split_members`]): its other operations are applied to the group's row,
//! and its membership operations become a [`MemberEdit`] that the store applies to the named
//! members only. A PATCH that changes nothing but members is committed as
//! [`WriteOp::Members`](crate::store::WriteOp::Members), on the group as it is at the commit,
//! so it never races. Reading, checking and answering such a PATCH therefore cost the same for
//! 10 members or 100,000. Its answer is `204 No Content` unless the request asks for
//! attributes (`attributes` / `excludedAttributes`): see `http::handlers::patch`.

pub mod body;
pub mod budget;
pub mod bulk;
mod edit;
mod members;
pub mod passthrough;
mod raw;
mod record;
pub mod resources;
pub mod stored;

use std::sync::Arc;

use http::StatusCode;
use serde_json::Value;

use crate::model::{KINDS, Operation, ResourceKind, timestamp};
use crate::scim::ScimError;
use crate::scim::list::ListQuery;
use crate::scim::patch;
use crate::scim::resource::version;
use crate::scim::schema::{self, UnknownAttributes};
use crate::store::{MemberEdit, MemberWrite};
use edit::{Edit, assemble, check_if_match};

pub use body::Body;
pub use passthrough::PassThrough;
pub use record::Outbound;
pub use resources::{Offers, Resources, Write, WriteError};
pub use stored::Persisted;

/// How often a write is recomputed after losing a race with another writer. Each round lets at
/// least one contender commit, and contenders pause a random moment before recomputing, so many
/// concurrent PATCHes of one group (Entra adds members one request at a time) all land.
const MAX_RETRIES: usize = 64;

/// A resource as a response carries it.
pub struct Answer {
    /// The body, shaped as the request asked.
    pub body: Body,
    /// Its `meta.version`, for the `ETag`.
    pub version: Option<String>,
    /// Its URL, for a `201`'s `Location` (`None` for a read: only a create answers one).
    pub location: Option<String>,
}

/// The SCIM operations over one way of keeping resources. Cheap to clone.
#[derive(Clone)]
pub struct Provisioning {
    /// Where resources live.
    resources: Arc<dyn Resources>,
    /// What to do with attributes no schema defines.
    unknown: UnknownAttributes,
    /// Most operations one `/Bulk` request may hold.
    max_bulk_operations: usize,
    /// Who the changes are made for (the SCIM token's name), recorded in the audit trail.
    actor: Option<Arc<str>>,
    /// Writes of one resource take turns on the lock its (kind, id) hashes to.
    turns: Arc<[tokio::sync::Mutex<()>]>,
}

/// How many locks the writes of resources are spread over.
const TURN_STRIPES: usize = 256;

impl Provisioning {
    /// The operations over `resources`.
    pub fn new(
        resources: Arc<dyn Resources>,
        unknown: UnknownAttributes,
        max_bulk_operations: usize,
    ) -> Self {
        Self {
            resources,
            unknown,
            max_bulk_operations,
            actor: None,
            turns: (0..TURN_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// Waits for the turn to write resource `(kind, id)`.
    async fn turn(&self, kind: ResourceKind, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (kind, id).hash(&mut h);
        let stripe = (h.finish() as usize) % self.turns.len();
        self.turns[stripe].lock().await
    }

    /// The same operations, recording `actor` (the name of the caller's token) as the author of
    /// every change.
    pub fn acting_as(&self, actor: &str) -> Self {
        Self {
            actor: Some(Arc::from(actor)),
            ..self.clone()
        }
    }

    /// What the way resources are kept offers (for `/ServiceProviderConfig`).
    pub fn offers(&self) -> Offers {
        self.resources.offers()
    }

    /// Creates a resource from a client's body.
    pub async fn create(&self, kind: ResourceKind, body: &Value) -> Result<Value, ScimError> {
        let attrs = schema::prepare_input(kind, body, None, self.unknown)?;
        let id = self.resources.assign_id().unwrap_or_default();
        let ts = timestamp();
        let resource = assemble(kind, &id, attrs, &ts, &ts);
        let change = Write {
            kind,
            operation: Operation::Create,
            before: None,
            after: Some(resource),
            changed_paths: Vec::new(),
            conditional: false,
            members: MemberWrite::Whole,
        };
        self.write(change).await
    }

    /// One resource as it is now, or `404`.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, ScimError> {
        self.resources
            .read(kind, id)
            .await?
            .ok_or_else(|| ScimError::not_found(kind.name(), id))
    }

    /// One resource shaped for a response, or `404`.
    pub async fn fetch(
        &self,
        kind: ResourceKind,
        id: &str,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Answer, ScimError> {
        self.resources.fetch(kind, id, base_url, q).await
    }

    /// Replaces a resource with a client's body (PUT).
    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        self.modify(kind, id, if_match, Edit::Replace(body), MemberWrite::Whole)
            .await
    }

    /// Applies a PatchOp body.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        let ops = patch::parse_request(body)?;
        if kind == ResourceKind::Group
            && self.offers().member_records
            && let Some((others, members)) = patch::split_members(&ops)?
            && !members.is_empty()
        {
            return self.patch_members(id, if_match, others, members).await;
        }
        self.modify(kind, id, if_match, Edit::Patch(ops), MemberWrite::Whole)
            .await
    }

    /// A group's PATCH that changes members: the other operations are applied to the group's
    /// row, the members named are changed in the store (see the module docs).
    async fn patch_members(
        &self,
        id: &str,
        if_match: Option<&str>,
        others: Vec<patch::PatchOp>,
        members: MemberEdit,
    ) -> Result<Value, ScimError> {
        let kind = ResourceKind::Group;
        // The members added are validated as the group's input would be.
        let probe = serde_json::json!({
            "schemas": [kind.core_schema()],
            "displayName": "-",
            "members": members.add,
        });
        schema::prepare_input(kind, &probe, None, self.unknown)?;
        let edit = Edit::Patch(others);
        self.modify(kind, id, if_match, edit, MemberWrite::Edit(members))
            .await
    }

    /// Deletes a resource (and its group memberships).
    pub async fn delete(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let _turn = self.turn(kind, id).await;
        let existing = self
            .resources
            .read_row(kind, id)
            .await?
            .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
        check_if_match(&existing, if_match)?;
        let change = Write {
            kind,
            operation: Operation::Delete,
            before: Some(&existing),
            after: None,
            changed_paths: Vec::new(),
            conditional: if_match.is_some(),
            members: MemberWrite::Whole,
        };
        self.write(change).await?;
        Ok(())
    }

    /// The read-check-compute-write loop shared by PUT and PATCH. With `members` other than
    /// [`MemberWrite::Whole`] (a group's membership PATCH), `edit` is applied to the group's
    /// row and `members` says what happens to its members.
    async fn modify(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        edit: Edit<'_>,
        members: MemberWrite,
    ) -> Result<Value, ScimError> {
        let mut changed_paths = edit.changed_paths();
        if matches!(members, MemberWrite::Edit(_)) {
            changed_paths.push("members".into());
        }
        let _turn = self.turn(kind, id).await;
        for _ in 0..MAX_RETRIES {
            let existing = match members {
                MemberWrite::Whole => self.resources.read(kind, id).await?,
                _ => self.resources.read_row(kind, id).await?,
            }
            .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
            check_if_match(&existing, if_match)?;
            let resource = edit.apply(kind, id, &existing, self.unknown)?;
            let change = Write {
                kind,
                operation: Operation::Replace,
                before: Some(&existing),
                after: Some(resource),
                changed_paths: changed_paths.clone(),
                conditional: if_match.is_some(),
                members: members.clone(),
            };
            match self.resources.write(self.actor.as_deref(), change).await {
                Err(WriteError::Raced) => pause().await,
                Err(WriteError::Refused(e)) => return Err(e),
                Ok(written) => return Ok(written),
            }
        }
        Err(concurrently())
    }

    /// Writes one change (a lost race is a conflict: only PUT and PATCH recompute).
    async fn write(&self, change: Write<'_>) -> Result<Value, ScimError> {
        match self.resources.write(self.actor.as_deref(), change).await {
            Ok(written) => Ok(written),
            Err(WriteError::Refused(e)) => Err(e),
            Err(WriteError::Raced) => Err(concurrently()),
        }
    }

    /// A `ListResponse` for a search over one resource type, as response text.
    pub async fn list(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        base_url: &str,
    ) -> Result<Body, ScimError> {
        self.resources.list(&[kind], q, base_url).await
    }

    /// The root `/.search`: a `SearchRequest` body over every resource type, where the mode
    /// offers it (refused before the body is read where it does not).
    pub async fn search_all(&self, body: &Value, base_url: &str) -> Result<Body, ScimError> {
        if !self.offers().bulk {
            return Err(not_served());
        }
        let q = ListQuery::from_search_request(body)?;
        self.resources.list(&KINDS, &q, base_url).await
    }

    /// A written resource shaped for the response, with its version and URL.
    pub fn answer(
        &self,
        kind: ResourceKind,
        resource: Value,
        created: bool,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Answer, ScimError> {
        let location = resource
            .get("id")
            .and_then(Value::as_str)
            .map(|id| format!("{base_url}/{}/{id}", kind.endpoint()));
        let version = version(&resource).map(str::to_owned);
        let body = self
            .resources
            .render(kind, resource, created, base_url, q)?;
        Ok(Answer {
            body: Body::Whole(body.to_string().into_bytes()),
            version,
            location,
        })
    }

    /// Runs a `/Bulk` request; answers the `BulkResponse` body.
    pub async fn bulk(&self, body: Value, base_url: &str) -> Result<Value, ScimError> {
        if !self.offers().bulk {
            return Err(not_served());
        }
        bulk::execute(self, body, self.max_bulk_operations, base_url).await
    }
}

/// A random moment before a write that lost a race is recomputed (another gateway on the same
/// data, or a `/Bulk` of the same resource, won it).
async fn pause() {
    let pause = rand::random_range(0..2_000u64);
    tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
}

/// The answer when a write kept losing races (only with writers outside this gateway).
fn concurrently() -> ScimError {
    ScimError::new(
        StatusCode::CONFLICT,
        "the resource is being changed concurrently; try again",
    )
}

/// The answer to what a mode does not serve (`/Bulk` and the root `/.search` in pass-through).
fn not_served() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not available in pass-through mode: the system of record is asked one resource type \
         and one operation at a time",
    )
}
