//! Pass-through mode (provision without persisting): one readable connector is the system of
//! record, and the gateway is a SCIM façade in front of it that fans changes out to the other
//! connectors.
//!
//! # What is kept where
//! The identities live only in the system of record. Reads, filters and paging are answered by
//! asking it ([`Connector::get`], [`Connector::list`]). A write is validated here as in the
//! default mode, sent to the system of record while the client waits, read back from it, and
//! then recorded with [`WriteOp::Relay`]: the store keeps the change's delivery jobs for the
//! other connectors, the id map and the audit entry (digests only), never the resource. An
//! attempt of one of those jobs reads the resource's current state from the system of record
//! too (see [`crate::delivery`]).
//!
//! # Ids
//! A resource's id is the one the system of record gave it: no translation table can drift from
//! the system it describes, and resources created there by other means are served as they are.
//! For the same reason the system of record translates group members through the identity
//! (a member's id is already its id there).
//!
//! # What the system of record must do itself
//! Uniqueness of `userName` is checked here by asking it before a create or a rename, but two
//! clients racing can both pass that check: the system of record has the last word. `If-Match`
//! is compared with the version it reports, between the read and the write. A write it took is
//! answered even when recording the fan-out then fails; such a change is repaired by a
//! reconcile. Sorting is not offered (`/ServiceProviderConfig` says so) and `/Bulk` is not
//! served: the system of record defines the order and has no transactions to offer.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::list::ListQuery;
use super::patch;
use super::resource::now;
use super::schema::{self, ResourceKind};
use super::service::{Edit, Recorded, Service, assemble, check_if_match};
use crate::delivery::blocking::deliver_waiting;
use crate::delivery::registry::Lookup;
use crate::delivery::{Connector, Event, Failure, IdLookup, as_delivered};
use crate::error::ScimError;
use crate::store::audit::digest;
use crate::store::outbox::Operation;
use crate::store::{StoreError, WriteOp};

/// The SCIM operations of a gateway in pass-through mode.
#[derive(Clone)]
pub struct PassThrough {
    /// Records the changes (jobs, id map, audit) and renders resources.
    service: Service,
    /// The system of record's connector name.
    name: Arc<str>,
}

impl PassThrough {
    /// The operations over `service`, with connector `system_of_record` holding the resources.
    pub fn new(service: Service, system_of_record: &str) -> Self {
        Self {
            service,
            name: Arc::from(system_of_record),
        }
    }

    /// The same operations, recording `actor` as the author of every change.
    pub fn acting_as(&self, actor: &str) -> Self {
        Self {
            service: self.service.acting_as(actor),
            name: self.name.clone(),
        }
    }

    /// The system of record's running instance.
    fn system_of_record(&self) -> Result<Arc<dyn Connector>, ScimError> {
        match self.service.registry().lookup(&self.name) {
            Lookup::Ready(c) => Ok(c),
            Lookup::Paused | Lookup::Missing => Err(ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the system of record '{}' is not available", self.name),
            )),
        }
    }

    /// The system of record's failure as the client's error: `502`, or `504` for a timeout.
    fn upstream(&self, f: &Failure) -> ScimError {
        let status = match f.kind {
            "timeout" => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        ScimError::new(
            status,
            format!(
                "the system of record '{}' failed ({}): {}",
                self.name, f.kind, f.message
            ),
        )
    }

    /// One resource as the system of record holds it, if it does.
    async fn read(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, ScimError> {
        self.system_of_record()?
            .get(kind.name(), id)
            .await
            .map_err(|f| self.upstream(&f))
    }

    /// One resource, or `404`.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, ScimError> {
        self.read(kind, id)
            .await?
            .ok_or_else(|| ScimError::not_found(kind.name(), id))
    }

    /// A page of the resources a query selects, as the system of record answers it:
    /// `(totalResults, page)`. The filter is checked here first, so a bad one is the client's
    /// `400`, not the system of record's.
    pub async fn search(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
    ) -> Result<(u64, Vec<Value>), ScimError> {
        if let Some(f) = &q.filter {
            f.validate(&kind)?;
        }
        let max = self.service.max_results();
        let take = q.count.unwrap_or(max).min(max);
        let page = self
            .system_of_record()?
            .list(
                kind.name(),
                q.filter.as_ref().map(ToString::to_string),
                u32::try_from(q.start_index.max(1)).unwrap_or(u32::MAX),
                u32::try_from(take).unwrap_or(u32::MAX),
            )
            .await
            .map_err(|f| self.upstream(&f))?;
        let mut resources = page.resources;
        resources.truncate(take);
        Ok((page.total, resources))
    }

    /// Creates a resource at the system of record.
    pub async fn create(&self, kind: ResourceKind, body: &Value) -> Result<Value, ScimError> {
        let attrs = schema::prepare_input(kind, body, None, self.service.unknown_attributes())?;
        let ts = now();
        let resource = assemble(kind, "", attrs, &ts, &ts);
        self.check_user_name(kind, &resource, None).await?;
        self.write(kind, Operation::Create, None, Some(resource), Vec::new())
            .await
    }

    /// Replaces a resource with a client's body (PUT).
    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        self.update(kind, id, if_match, Edit::Replace(body)).await
    }

    /// Applies a PatchOp body to the resource as the system of record holds it.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        let ops = patch::parse_request(body)?;
        self.update(kind, id, if_match, Edit::Patch(ops)).await
    }

    /// Deletes a resource at the system of record.
    pub async fn delete(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let existing = self.get(kind, id).await?;
        check_if_match(&existing, if_match)?;
        self.write(kind, Operation::Delete, Some(&existing), None, Vec::new())
            .await?;
        Ok(())
    }

    /// Reads the resource, checks `If-Match`, applies the edit to it and writes the result.
    async fn update(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        edit: Edit<'_>,
    ) -> Result<Value, ScimError> {
        let existing = self.get(kind, id).await?;
        check_if_match(&existing, if_match)?;
        let unknown = self.service.unknown_attributes();
        let resource = edit.apply(kind, id, &existing, unknown)?;
        self.check_user_name(kind, &resource, Some(&existing))
            .await?;
        self.write(
            kind,
            Operation::Replace,
            Some(&existing),
            Some(resource),
            edit.changed_paths(),
        )
        .await
    }

    /// `409 uniqueness` when another user at the system of record has the new `userName`.
    async fn check_user_name(
        &self,
        kind: ResourceKind,
        resource: &Value,
        existing: Option<&Value>,
    ) -> Result<(), ScimError> {
        let name = text(resource, "userName");
        let unchanged = existing.is_some_and(|e| text(e, "userName").eq_ignore_ascii_case(name));
        if kind != ResourceKind::User || unchanged {
            return Ok(());
        }
        let filter = format!("userName eq {}", json!(name));
        let page = self
            .system_of_record()?
            .list(kind.name(), Some(filter), 1, 2)
            .await
            .map_err(|f| self.upstream(&f))?;
        let ours = existing.map(|e| text(e, "id"));
        if page.resources.iter().any(|r| Some(text(r, "id")) != ours) {
            return Err(
                StoreError::Uniqueness(format!("userName '{name}' is already taken")).into(),
            );
        }
        Ok(())
    }

    /// Sends a change to the system of record, reads the result back, and records the change
    /// for the other connectors. Answers the resource as the system of record now holds it
    /// (`Null` for a delete).
    async fn write(
        &self,
        kind: ResourceKind,
        operation: Operation,
        before: Option<&Value>,
        after: Option<Value>,
        changed_paths: Vec<String>,
    ) -> Result<Value, ScimError> {
        let sor = self.system_of_record()?;
        let id = before.map(|b| text(b, "id").to_owned());
        let event = Event {
            operation,
            resource_type: kind.name().to_owned(),
            // A create has no id until the system of record gives it one.
            id: id.clone().unwrap_or_default(),
            remote_id: id.clone(),
            resource: after
                .clone()
                .map(|a| as_delivered(operation, a))
                .unwrap_or(Value::Null),
            changed_paths: changed_paths.clone(),
        };
        // Members are named by their ids at the system of record already.
        let identity: IdLookup = Arc::new(|_, id| Some(id.to_owned()));
        let metrics = self.service.delivery_metrics();
        let remote = deliver_waiting(&*sor, &self.name, event, identity, metrics)
            .await
            .map_err(|f| self.upstream(&f))?;
        let id = match id {
            Some(id) => id,
            None if remote.remote_id.is_empty() => {
                return Err(
                    self.upstream(&Failure::permanent("it answered a create without an id"))
                );
            }
            None => remote.remote_id.clone(),
        };
        let current = match operation {
            Operation::Delete => None,
            _ => Some(self.read_back(kind, &id, after).await),
        };
        let sha = |v: Option<&Value>| v.map(|v| digest(v.to_string().as_bytes()));
        let change = Recorded {
            kind,
            op: WriteOp::Relay {
                kind,
                id: id.clone(),
                operation,
                before_sha256: sha(before),
                after_sha256: sha(current.as_ref()),
            },
            before,
            after: current.as_ref(),
            changed_paths,
            delivered: vec![(self.name.to_string(), remote)],
        };
        self.service.record(change, Some(&self.name)).await?;
        Ok(current.unwrap_or(Value::Null))
    }

    /// The resource as the system of record holds it after a write. If it cannot be read back,
    /// the state that was sent stands in for it (with the id it was given): the write is done.
    async fn read_back(&self, kind: ResourceKind, id: &str, sent: Option<Value>) -> Value {
        match self.read(kind, id).await {
            Ok(Some(current)) => current,
            outcome => {
                tracing::warn!(resource = %format!("{}/{id}", kind.name()), ?outcome,
                    "the system of record took a write but did not return the resource");
                let mut sent = sent.unwrap_or_else(|| json!({}));
                if let Some(obj) = sent.as_object_mut() {
                    obj.insert("id".into(), json!(id));
                }
                sent
            }
        }
    }

    /// Shapes a resource read from the system of record for a response: the gateway's URLs in
    /// `meta.location` and every `$ref`, then the attributes the request asked for.
    pub fn render(
        &self,
        kind: ResourceKind,
        mut resource: Value,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        if let Some(groups) = resource.get_mut("groups").and_then(Value::as_array_mut) {
            for g in groups.iter_mut() {
                let value = text(g, "value").to_owned();
                if let Some(obj) = g.as_object_mut() {
                    obj.insert("$ref".into(), json!(format!("{base_url}/Groups/{value}")));
                }
            }
        }
        if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
            meta.insert("resourceType".into(), json!(kind.name()));
        }
        // The user's groups are the system of record's: no stored memberships are added.
        self.service
            .render(kind, resource, Some(Vec::new()), base_url, q)
    }
}

/// A string attribute of a JSON object (`""` when absent).
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}
