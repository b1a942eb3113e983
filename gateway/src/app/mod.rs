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
//! version, so concurrent PATCHes of one group never lose a member.

pub mod bulk;
mod edit;
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
use edit::{Edit, assemble, check_if_match};

pub use passthrough::PassThrough;
pub use record::Outbound;
pub use resources::{Offers, Resources, Write, WriteError};
pub use stored::Persisted;

/// How often a write is recomputed after losing a race with another writer. Each round lets at
/// least one contender commit, and contenders pause a random moment before recomputing, so many
/// concurrent PATCHes of one group (Entra adds members one request at a time) all land.
const MAX_RETRIES: usize = 64;

/// A resource as a response carries it.
#[derive(Debug)]
pub struct Answer {
    /// The body, shaped as the request asked.
    pub body: Vec<u8>,
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
}

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
        }
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
        self.modify(kind, id, if_match, Edit::Replace(body)).await
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
        self.modify(kind, id, if_match, Edit::Patch(ops)).await
    }

    /// Deletes a resource (and its group memberships).
    pub async fn delete(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let existing = self.get(kind, id).await?;
        check_if_match(&existing, if_match)?;
        let change = Write {
            kind,
            operation: Operation::Delete,
            before: Some(&existing),
            after: None,
            changed_paths: Vec::new(),
            conditional: if_match.is_some(),
        };
        self.write(change).await?;
        Ok(())
    }

    /// The read-check-compute-write loop shared by PUT and PATCH.
    async fn modify(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        edit: Edit<'_>,
    ) -> Result<Value, ScimError> {
        let changed_paths = edit.changed_paths();
        for _ in 0..MAX_RETRIES {
            let existing = self.get(kind, id).await?;
            check_if_match(&existing, if_match)?;
            let resource = edit.apply(kind, id, &existing, self.unknown)?;
            let change = Write {
                kind,
                operation: Operation::Replace,
                before: Some(&existing),
                after: Some(resource),
                changed_paths: changed_paths.clone(),
                conditional: if_match.is_some(),
            };
            match self.resources.write(self.actor.as_deref(), change).await {
                Err(WriteError::Raced) => {
                    let pause = rand::random_range(0..2_000u64);
                    tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
                }
                Err(WriteError::Refused(e)) => return Err(e),
                Ok(written) => return Ok(written),
            }
        }
        Err(ScimError::new(
            StatusCode::CONFLICT,
            "the resource is being changed concurrently; try again",
        ))
    }

    /// Writes one change (a lost race is a conflict: only PUT and PATCH recompute).
    async fn write(&self, change: Write<'_>) -> Result<Value, ScimError> {
        match self.resources.write(self.actor.as_deref(), change).await {
            Ok(written) => Ok(written),
            Err(WriteError::Refused(e)) => Err(e),
            Err(WriteError::Raced) => Err(ScimError::new(
                StatusCode::CONFLICT,
                "the resource is being changed concurrently; try again",
            )),
        }
    }

    /// A `ListResponse` for a search over one resource type, as response text.
    pub async fn list(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        base_url: &str,
    ) -> Result<Vec<u8>, ScimError> {
        self.resources.list(&[kind], q, base_url).await
    }

    /// The root `/.search`: a `SearchRequest` body over every resource type, where the mode
    /// offers it (refused before the body is read where it does not).
    pub async fn search_all(&self, body: &Value, base_url: &str) -> Result<Vec<u8>, ScimError> {
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
            body: body.to_string().into_bytes(),
            version,
            location,
        })
    }

    /// Runs a `/Bulk` request; answers the `BulkResponse` body.
    pub async fn bulk(&self, body: &Value, base_url: &str) -> Result<Value, ScimError> {
        if !self.offers().bulk {
            return Err(not_served());
        }
        bulk::execute(self, body, self.max_bulk_operations, base_url).await
    }
}

/// The answer to what a mode does not serve (`/Bulk` and the root `/.search` in pass-through).
fn not_served() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not available in pass-through mode: the system of record is asked one resource type \
         and one operation at a time",
    )
}
