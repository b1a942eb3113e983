//! Pass-through mode (provision without persisting): one readable connector is the system of
//! record, and the gateway is a SCIM façade in front of it that fans changes out to the other
//! connectors.
//!
//! # What is kept where
//! The identities live only in the system of record. Reads, filters and paging are answered by
//! asking it ([`Connector::get`], [`Connector::list`]). A write is validated by
//! [`Provisioning`](super::Provisioning) as in the default mode, sent to the system of record while the client waits, read back from it, and
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

use http::StatusCode;
use serde_json::{Value, json};

use super::record::{Recorded, Recorder};
use super::resources::{BoxFuture, Offers, Resources, Write, WriteError};
use super::stored::shape;
use super::{Answer, Body, Outbound};
use crate::delivery::blocking::deliver_waiting;
use crate::delivery::registry::Lookup;
use crate::delivery::{Connector, ConnectorEvent, IdLookup, as_delivered};
use crate::model::{Failure, FailureKind, Operation, ResourceKind};
use crate::scim::ScimError;
use crate::scim::list::{ListQuery, list_response_text};
use crate::scim::resource::version;
use crate::store::audit::digest;
use crate::store::{Store, StoreError, WriteOp};

/// Resources kept by a connector, the system of record.
#[derive(Clone)]
pub struct PassThrough {
    /// Records the changes (jobs, id map, audit).
    recorder: Recorder,
    /// The system of record's connector name.
    name: Arc<str>,
    /// Most resources one list response carries.
    max_results: usize,
}

impl PassThrough {
    /// Resources held by connector `system_of_record`; the changes' other deliveries are
    /// recorded in `store` and go through `outbound`.
    pub fn new(
        store: Arc<dyn Store>,
        outbound: Outbound,
        system_of_record: &str,
        max_results: usize,
    ) -> Self {
        Self {
            recorder: Recorder { store, outbound },
            name: Arc::from(system_of_record),
            max_results,
        }
    }

    /// The system of record's running instance.
    fn system_of_record(&self) -> Result<Arc<dyn Connector>, ScimError> {
        match self.recorder.outbound.registry.lookup(&self.name) {
            Lookup::Ready(c) => Ok(c),
            Lookup::Paused | Lookup::Missing => Err(ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the system of record '{}' is not available", self.name),
            )),
        }
    }

    /// The system of record's failure as the client's error: `502`, or `504` for a timeout,
    /// naming it and the kind of failure; the plugin's message goes to the log only (it may
    /// hold a trap's output or internal addresses).
    fn upstream(&self, f: &Failure) -> ScimError {
        let status = match f.kind {
            FailureKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        tracing::warn!(system_of_record = %self.name, kind = %f.kind, message = %f.message,
            "the system of record failed");
        ScimError::new(
            status,
            format!(
                "the system of record '{}' failed ({}); the gateway's log has the details",
                self.name, f.kind
            ),
        )
    }

    /// One resource as the system of record holds it, if it does.
    async fn get(&self, kind: ResourceKind, id: &str) -> Result<Option<Value>, ScimError> {
        self.system_of_record()?
            .get(kind, id)
            .await
            .map_err(|f| self.upstream(&f))
    }

    /// A page of the resources a query selects, as the system of record answers it:
    /// `(totalResults, page)`. The filter is checked here first, so a bad one is the client's
    /// `400`, not the system of record's.
    async fn search(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
    ) -> Result<(u64, Vec<Value>), ScimError> {
        if let Some(f) = &q.filter {
            f.validate(&kind)?;
        }
        let max = self.max_results;
        let take = q.count.unwrap_or(max).min(max);
        let page = self
            .system_of_record()?
            .list(
                kind,
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
            .list(kind, Some(filter), 1, 2)
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
    async fn relay(&self, actor: Option<&str>, w: Write<'_>) -> Result<Value, ScimError> {
        let Write {
            kind,
            operation,
            before,
            after,
            changed_paths,
            ..
        } = w;
        if let Some(after) = &after {
            self.check_user_name(kind, after, before).await?;
        }
        let sor = self.system_of_record()?;
        let id = before.map(|b| text(b, "id").to_owned());
        let event = ConnectorEvent {
            operation,
            kind,
            // A create has no id until the system of record gives it one.
            id: id.clone().unwrap_or_default(),
            remote_id: id.clone(),
            resource: after
                .clone()
                .map(|a| as_delivered(operation, a))
                .unwrap_or(Value::Null),
            changed_paths: changed_paths.clone(),
            members: None,
        };
        // Members are named by their ids at the system of record already.
        let identity: IdLookup = Arc::new(|_, id| Some(id.to_owned()));
        let metrics = &self.recorder.outbound.metrics;
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
            edit: None,
        };
        self.recorder
            .record(actor, change, Some(&self.name))
            .await?;
        Ok(current.unwrap_or(Value::Null))
    }

    /// The resource as the system of record holds it after a write. If it cannot be read back,
    /// the state that was sent stands in for it (with the id it was given): the write is done.
    async fn read_back(&self, kind: ResourceKind, id: &str, sent: Option<Value>) -> Value {
        match self.get(kind, id).await {
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
    fn shape(
        &self,
        kind: ResourceKind,
        mut resource: Value,
        base_url: &str,
        q: &ListQuery,
    ) -> Value {
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
        shape(kind, resource, &[], base_url, q)
    }
}

impl Resources for PassThrough {
    fn offers(&self) -> Offers {
        Offers {
            bulk: false,
            sort: false,
            member_records: false,
        }
    }

    fn assign_id(&self) -> Option<String> {
        None
    }

    fn read<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ScimError>> {
        Box::pin(self.get(kind, id))
    }

    fn fetch<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
        base_url: &'a str,
        q: &'a ListQuery,
    ) -> BoxFuture<'a, Result<Answer, ScimError>> {
        Box::pin(async move {
            let resource = self
                .get(kind, id)
                .await?
                .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
            let version = version(&resource).map(str::to_owned);
            let body = self.shape(kind, resource, base_url, q);
            Ok(Answer {
                body: Body::Whole(body.to_string().into_bytes()),
                version,
                // Only a `201` carries a `Location`: a read answers none.
                location: None,
            })
        })
    }

    fn list<'a>(
        &'a self,
        kinds: &'a [ResourceKind],
        q: &'a ListQuery,
        base_url: &'a str,
    ) -> BoxFuture<'a, Result<Body, ScimError>> {
        Box::pin(async move {
            let [kind] = kinds else {
                return Err(ScimError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "the system of record is asked one resource type at a time",
                ));
            };
            let (total, page) = self.search(*kind, q).await?;
            let resources: Vec<Vec<u8>> = page
                .into_iter()
                .map(|r| self.shape(*kind, r, base_url, q).to_string().into_bytes())
                .collect();
            Ok(Body::Whole(list_response_text(
                total,
                q.start_index,
                &resources,
            )))
        })
    }

    fn write<'a>(
        &'a self,
        actor: Option<&'a str>,
        change: Write<'a>,
    ) -> BoxFuture<'a, Result<Value, WriteError>> {
        Box::pin(async move { Ok(self.relay(actor, change).await?) })
    }

    fn render(
        &self,
        kind: ResourceKind,
        resource: Value,
        _created: bool,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        Ok(self.shape(kind, resource, base_url, q))
    }
}

/// A string attribute of a JSON object (`""` when absent).
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}
