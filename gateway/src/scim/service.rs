//! The SCIM operations on Users and Groups, independent of HTTP: the one path every request
//! (and every `/Bulk` operation) takes from validated input to the store and back.
//!
//! Writes are read-modify-write with optimistic concurrency: the resource is read, the change
//! computed and validated, and the store commits it only if the version is still the one read.
//! When a client named a version (`If-Match`) a lost race is its `412`; otherwise the operation
//! is recomputed on the fresh version, so concurrent PATCHes of one group never lose a member.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::list::{ListQuery, Probe, compare, is_exact, list_response_text, plan};
use super::patch;
use super::raw;
use super::resource::{etag_matches, now};
use super::schema::{self, ResourceKind, UnknownAttributes};
use crate::delivery::blocking::{Blocked, Subject, deliver_now};
use crate::delivery::plan;
use crate::delivery::registry::Registry;
use crate::error::ScimError;
use crate::metrics::DeliveryMetrics;
use crate::store::outbox::{Operation, RemoteRef};
use crate::store::{Change, Key, Membership, Store, StoreError, Stored, WriteOp};

/// How often a write is recomputed after losing a race with another writer. Each round lets at
/// least one contender commit, and contenders pause a random moment before recomputing, so many
/// concurrent PATCHes of one group (Entra adds members one request at a time) all land.
const MAX_RETRIES: usize = 64;

/// Which connector instances receive which resource types, and how to wake the delivery
/// dispatcher once jobs were committed.
#[derive(Clone, Default)]
pub struct Outbound {
    /// The live connector instances (changed at runtime through the admin API).
    pub registry: Arc<Registry>,
    /// Signalled after every committed change.
    pub committed: Arc<tokio::sync::Notify>,
    /// Where deliveries made while the client waits are counted and timed.
    pub metrics: Arc<DeliveryMetrics>,
}

/// The SCIM service over a store.
#[derive(Clone)]
pub struct Service {
    /// Where resources live.
    store: Arc<dyn Store>,
    /// Where changes are delivered.
    outbound: Outbound,
    /// Most resources one list response carries.
    max_results: usize,
    /// What to do with attributes no schema defines.
    unknown: UnknownAttributes,
    /// Who the changes are made for (the SCIM token's name), recorded in the audit trail.
    actor: Option<Arc<str>>,
}

/// A resource a search selected.
#[derive(Debug)]
pub enum Found {
    /// Decoded, because the search looked inside it (to filter or sort).
    Decoded {
        /// Users or Groups.
        kind: ResourceKind,
        /// The resource as stored.
        resource: Value,
        /// Its memberships, when they were read along with it.
        groups: Option<Vec<Membership>>,
    },
    /// Read by key and selected without looking inside: it can be served as stored.
    Stored {
        /// Users or Groups.
        kind: ResourceKind,
        /// The stored text and memberships.
        stored: Stored,
    },
}

impl Found {
    /// The resource's kind and id, the listing order.
    fn order_key(&self) -> (&'static str, &str) {
        match self {
            Found::Decoded { kind, resource, .. } => (
                kind.name(),
                resource
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Found::Stored { kind, stored } => (kind.name(), &stored.id),
        }
    }
}

/// The version string of a stored resource.
pub fn version(resource: &Value) -> Option<&str> {
    resource.pointer("/meta/version").and_then(Value::as_str)
}

impl Service {
    /// A service over `store`, answering at most `max_results` resources per list.
    pub fn new(
        store: Arc<dyn Store>,
        outbound: Outbound,
        max_results: usize,
        unknown: UnknownAttributes,
    ) -> Self {
        Self {
            store,
            outbound,
            max_results,
            unknown,
            actor: None,
        }
    }

    /// The same service, recording `actor` (the name of the caller's token) as the author of
    /// every change it commits.
    pub fn acting_as(&self, actor: &str) -> Self {
        Self {
            actor: Some(Arc::from(actor)),
            ..self.clone()
        }
    }

    /// The largest page a list returns.
    pub fn max_results(&self) -> usize {
        self.max_results
    }

    /// The live connector instances.
    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.outbound.registry
    }

    /// Where deliveries made while the client waits are counted and timed.
    pub(crate) fn delivery_metrics(&self) -> &DeliveryMetrics {
        &self.outbound.metrics
    }

    /// What is done with attributes no schema defines.
    pub(crate) fn unknown_attributes(&self) -> UnknownAttributes {
        self.unknown
    }

    /// Creates a resource from a client's body.
    pub async fn create(&self, kind: ResourceKind, body: &Value) -> Result<Value, ScimError> {
        let attrs = schema::prepare_input(kind, body, None, self.unknown)?;
        let id = uuid::Uuid::new_v4().to_string();
        let ts = now();
        let resource = assemble(kind, &id, attrs, &ts, &ts);
        Ok(self
            .commit(kind, WriteOp::Create { kind, resource }, Vec::new(), None)
            .await?)
    }

    /// One stored resource, or `404`.
    pub fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, ScimError> {
        self.store
            .get(kind, id)?
            .ok_or_else(|| ScimError::not_found(kind.name(), id))
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
        let existing = self.get(kind, id)?;
        check_if_match(&existing, if_match)?;
        let expected_version = if_match.and(version(&existing)).map(str::to_owned);
        let op = WriteOp::Delete {
            kind,
            id: id.to_owned(),
            expected_version,
        };
        self.commit(kind, op, Vec::new(), Some(&existing)).await?;
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
            let existing = self.get(kind, id)?;
            check_if_match(&existing, if_match)?;
            let resource = edit.apply(kind, id, &existing, self.unknown)?;
            let expected_version = version(&existing).map(str::to_owned);
            let op = WriteOp::Replace {
                kind,
                resource,
                expected_version,
            };
            match self
                .commit(kind, op, changed_paths.clone(), Some(&existing))
                .await
            {
                Err(CommitError::Store(StoreError::VersionMismatch)) if if_match.is_none() => {
                    let pause = rand::random_range(0..2_000u64);
                    tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
                }
                other => return Ok(other?),
            }
        }
        Err(ScimError::new(
            StatusCode::CONFLICT,
            "the resource is being changed concurrently; try again",
        ))
    }

    /// Commits a change together with its delivery jobs (planned from the state it was
    /// computed from, `before`), then wakes the dispatcher.
    async fn commit(
        &self,
        kind: ResourceKind,
        op: WriteOp,
        changed_paths: Vec<String>,
        before: Option<&Value>,
    ) -> Result<Value, CommitError> {
        let change = Recorded {
            kind,
            op,
            before,
            after: None,
            changed_paths,
            delivered: Vec::new(),
        };
        self.record(change, None).await
    }

    /// Plans a change's jobs, delivers it to the blocking connectors, then commits it with its
    /// jobs and wakes the dispatcher. `system_of_record` (pass-through mode) already has it
    /// and gets no job.
    pub(crate) async fn record(
        &self,
        change: Recorded<'_>,
        system_of_record: Option<&str>,
    ) -> Result<Value, CommitError> {
        let Recorded {
            kind,
            op,
            before,
            after,
            changed_paths,
            mut delivered,
        } = change;
        let (id, operation) = (op.id(), op.operation());
        let after = match &op {
            WriteOp::Create { resource, .. } | WriteOp::Replace { resource, .. } => Some(resource),
            WriteOp::Delete { .. } | WriteOp::Relay { .. } => after,
        };
        let registry = &self.outbound.registry;
        let mut planned = plan::plan(registry, &*self.store, kind, before, after)?;
        if let Some(sor) = system_of_record {
            planned.deliver_to.retain(|name| name != sor);
            planned.scoped.retain(|job| job.connector != sor);
        }
        let subject = Subject {
            kind,
            id,
            operation,
            after,
            changed_paths: &changed_paths,
        };
        let metrics = &self.outbound.metrics;
        let now = deliver_now(registry, &self.store, metrics, &subject, &mut planned).await?;
        delivered.extend(now);
        let notify = !planned.is_empty() || operation == Operation::Delete;
        let change = Change {
            op,
            deliver_to: planned.deliver_to,
            changed_paths,
            scoped: planned.scoped,
            delivered,
            actor: self.actor.as_deref().map(str::to_owned),
        };
        let stored = self.store.write(change).await?;
        if notify {
            self.outbound.committed.notify_one();
        }
        Ok(stored)
    }

    /// Finds the resources of `kinds` that a query selects: `(totalResults, page)`.
    pub fn search(
        &self,
        kinds: &[ResourceKind],
        q: &ListQuery,
    ) -> Result<(u64, Vec<Found>), ScimError> {
        let skip = q.start_index.saturating_sub(1);
        let take = q.count.unwrap_or(self.max_results).min(self.max_results);
        if let ([kind], None, None) = (kinds, &q.filter, &q.sort_by) {
            // The common unfiltered listing pages through the store without materialising.
            let total = self.store.count(*kind)?;
            let page = self.store.page(*kind, skip, take)?;
            let found = page.into_iter().map(|resource| Found::Decoded {
                kind: *kind,
                resource,
                groups: None,
            });
            return Ok((total, found.collect()));
        }
        let mut matches = Vec::new();
        for &kind in kinds {
            self.collect(kind, q, &mut matches)?;
        }
        if let Some(path) = &q.sort_by {
            // Resources are kept as stored only when nothing sorts, so every one is decoded.
            matches.sort_by(|a, b| match (a, b) {
                (
                    Found::Decoded {
                        kind, resource: a, ..
                    },
                    Found::Decoded { resource: b, .. },
                ) => compare(a, b, path, q.descending, kind),
                _ => a.order_key().cmp(&b.order_key()),
            });
        }
        let total = matches.len() as u64;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        Ok((total, matches.into_iter().skip(skip).take(take).collect()))
    }

    /// Appends every resource of `kind` matching the query's filter.
    fn collect(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        out: &mut Vec<Found>,
    ) -> Result<(), ScimError> {
        let decoded = |resource| Found::Decoded {
            kind,
            resource,
            groups: None,
        };
        let Some(f) = &q.filter else {
            self.store.scan(kind, &mut |r| {
                out.push(decoded(r));
                ControlFlow::Continue(())
            })?;
            return Ok(());
        };
        f.validate(&kind)?;
        let Some(probes) = plan(kind, f) else {
            self.store.scan(kind, &mut |r| {
                if f.matches(&r, &kind) {
                    out.push(decoded(r));
                }
                ControlFlow::Continue(())
            })?;
            return Ok(());
        };
        // When the index answers exactly what the filter asks and nothing sorts by content,
        // the resources need not be decoded at all.
        let as_stored = is_exact(kind, f) && q.sort_by.is_none();
        let mut seen = HashSet::new();
        for probe in &probes {
            let key = match probe {
                Probe::Id(id) => Key::Id(id),
                Probe::Index(index, value) => Key::Index(*index, value),
            };
            for stored in self.store.find(kind, key)? {
                if !seen.insert(stored.id.clone()) {
                    continue;
                }
                if as_stored {
                    out.push(Found::Stored { kind, stored });
                    continue;
                }
                let resource = stored.decode()?;
                if f.matches(&resource, &kind) {
                    out.push(Found::Decoded {
                        kind,
                        resource,
                        groups: Some(stored.groups),
                    });
                }
            }
        }
        // Index order is by value; keep the listing order stable (by id), as a scan gives it.
        out.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        Ok(())
    }

    /// One stored resource with its memberships, read together, or `404`.
    pub fn find_one(&self, kind: ResourceKind, id: &str) -> Result<Stored, ScimError> {
        self.store
            .find(kind, Key::Id(id))?
            .pop()
            .ok_or_else(|| ScimError::not_found(kind.name(), id))
    }

    /// Shapes a stored resource for a response: `meta.location`, `$ref`s, `User.groups`, then
    /// `returned` / `attributes` / `excludedAttributes`. `groups` are the user's memberships when
    /// the caller already has them (`None`: looked up here).
    pub fn render(
        &self,
        kind: ResourceKind,
        mut resource: Value,
        groups: Option<Vec<Membership>>,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
            meta.insert(
                "location".into(),
                json!(format!("{base_url}/{}/{id}", kind.endpoint())),
            );
        }
        match kind {
            ResourceKind::User => {
                let memberships = match groups {
                    Some(g) => g,
                    None => self.store.groups_of(&id)?,
                };
                if let (false, Some(obj)) = (memberships.is_empty(), resource.as_object_mut()) {
                    let refs = raw::group_refs(&memberships, base_url);
                    obj.insert("groups".into(), json!(refs));
                }
            }
            ResourceKind::Group => {
                if let Some(members) = resource.get_mut("members").and_then(Value::as_array_mut) {
                    for m in members.iter_mut() {
                        let endpoint = match m.get("type").and_then(Value::as_str) {
                            Some("Group") => "Groups",
                            _ => "Users",
                        };
                        if let Some(value) =
                            m.get("value").and_then(Value::as_str).map(str::to_owned)
                            && let Some(obj) = m.as_object_mut()
                        {
                            obj.insert(
                                "$ref".into(),
                                json!(format!("{base_url}/{endpoint}/{value}")),
                            );
                        }
                    }
                }
            }
        }
        if q.attributes.is_empty() && q.excluded.is_empty() {
            schema::strip_never_returned(kind, &mut resource);
            return Ok(resource);
        }
        Ok(schema::project(kind, &resource, &q.attributes, &q.excluded))
    }

    /// A stored resource as response text: spliced from the stored text when the request
    /// allows it (see [`raw`]), otherwise decoded and rendered.
    pub fn render_stored(
        &self,
        kind: ResourceKind,
        stored: Stored,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<raw::Rendered, ScimError> {
        if q.attributes.is_empty()
            && q.excluded.is_empty()
            && let Some(rendered) = raw::render(kind, &stored, base_url)
        {
            return Ok(rendered);
        }
        let resource = stored.decode()?;
        let version = version(&resource).map(str::to_owned);
        let body = self.render(kind, resource, Some(stored.groups), base_url, q)?;
        Ok(raw::Rendered {
            body: body.to_string().into_bytes(),
            version,
        })
    }

    /// A `ListResponse` for a search, as response text.
    pub fn list_response(
        &self,
        kinds: &[ResourceKind],
        q: &ListQuery,
        base_url: &str,
    ) -> Result<Vec<u8>, ScimError> {
        let (total, page) = self.search(kinds, q)?;
        let mut resources = Vec::with_capacity(page.len());
        for found in page {
            resources.push(match found {
                Found::Stored { kind, stored } => {
                    self.render_stored(kind, stored, base_url, q)?.body
                }
                Found::Decoded {
                    kind,
                    resource,
                    groups,
                } => self
                    .render(kind, resource, groups, base_url, q)?
                    .to_string()
                    .into_bytes(),
            });
        }
        Ok(list_response_text(total, q.start_index, &resources))
    }
}

/// What a PUT or a PATCH asks for, applied to the resource as it is when the write is computed
/// (again, when a concurrent write made the service recompute it).
pub(crate) enum Edit<'a> {
    /// PUT: the client's whole new resource.
    Replace(&'a Value),
    /// PATCH: its operations.
    Patch(Vec<patch::PatchOp>),
}

impl Edit<'_> {
    /// The attribute paths it names: a PATCH's, none for a PUT.
    pub(crate) fn changed_paths(&self) -> Vec<String> {
        match self {
            Edit::Replace(_) => Vec::new(),
            Edit::Patch(ops) => changed_paths(ops),
        }
    }

    /// The full resource it makes of `existing`: validated, keeping `existing`'s creation time,
    /// modified now.
    pub(crate) fn apply(
        &self,
        kind: ResourceKind,
        id: &str,
        existing: &Value,
        unknown: UnknownAttributes,
    ) -> Result<Value, ScimError> {
        let attrs = match self {
            Edit::Replace(body) => schema::prepare_input(kind, body, Some(existing), unknown)?,
            Edit::Patch(ops) => {
                let mut working = existing.clone();
                patch::apply(&mut working, ops, &kind)?;
                schema::prepare_input(kind, &working, Some(existing), unknown)?
            }
        };
        let created = existing
            .pointer("/meta/created")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(now);
        Ok(assemble(kind, id, attrs, &created, &now()))
    }
}

/// A change to record, with the states its jobs are planned from.
pub(crate) struct Recorded<'a> {
    /// Users or Groups.
    pub kind: ResourceKind,
    /// The write.
    pub op: WriteOp,
    /// The state the change was computed from (`None`: a create).
    pub before: Option<&'a Value>,
    /// The state it makes, for a relayed change (a create or replace holds it in `op`).
    pub after: Option<&'a Value>,
    /// For a PATCH, the changed attribute paths.
    pub changed_paths: Vec<String>,
    /// Connectors that already have the change, with what they answered.
    pub delivered: Vec<(String, RemoteRef)>,
}

/// Why a change was not committed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommitError {
    /// The store refused it or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking connector did not accept it.
    #[error(transparent)]
    Blocked(#[from] Blocked),
}

impl From<CommitError> for ScimError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Store(e) => e.into(),
            // The upstream system refused or failed: 502, with its reason.
            CommitError::Blocked(b) => ScimError::new(StatusCode::BAD_GATEWAY, b.to_string()),
        }
    }
}

/// The attribute paths a PATCH names: each op's path, or the keys of a path-less value.
fn changed_paths(ops: &[patch::PatchOp]) -> Vec<String> {
    let mut paths: Vec<String> = ops
        .iter()
        .flat_map(|op| match (&op.path, &op.value) {
            (Some(path), _) => vec![path.to_string()],
            (None, Some(Value::Object(map))) => map.keys().cloned().collect(),
            (None, _) => Vec::new(),
        })
        .collect();
    paths.dedup();
    paths
}

/// `412` unless `if_match` is absent or names the resource's current version.
pub(crate) fn check_if_match(existing: &Value, if_match: Option<&str>) -> Result<(), ScimError> {
    match (if_match, version(existing)) {
        (Some(wanted), Some(current)) if !etag_matches(wanted, current) => Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("If-Match {wanted} does not match the current version {current}"),
        )),
        _ => Ok(()),
    }
}

/// Builds a full stored resource from validated attributes.
pub(crate) fn assemble(
    kind: ResourceKind,
    id: &str,
    attrs: Map<String, Value>,
    created: &str,
    modified: &str,
) -> Value {
    let mut out = Map::new();
    let mut attrs = attrs;
    out.insert(
        "schemas".into(),
        attrs
            .remove("schemas")
            .unwrap_or_else(|| json!([kind.core_schema()])),
    );
    out.insert("id".into(), json!(id));
    out.extend(attrs);
    out.insert(
        "meta".into(),
        json!({"resourceType": kind.name(), "created": created, "lastModified": modified}),
    );
    Value::Object(out)
}
