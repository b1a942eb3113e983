//! Blocking connectors: the share of a change that is delivered while the client waits,
//! before the change is committed.
//!
//! The service plans a change as usual, then calls every blocking connector that the plan names
//! for the changed resource itself, in turn. If one fails, the client gets a SCIM error with
//! that connector's reason and nothing is committed (connectors called before it in the same
//! request did receive the change; they are the ones to make that idempotent, as every
//! connector must be). If all succeed, the change is committed with their remote references in
//! the same transaction and without jobs for them. Jobs for other resources (members a group's
//! change moves in or out of scope) stay asynchronous.
//!
//! Because the connector is called before the commit, a commit that then fails (a concurrent
//! change: the service recomputes and calls again with the newer state; a `userName` taken in
//! the meantime: the client gets `409`) can leave the target a step ahead of the gateway.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::plan::Planned;
use super::registry::Registry;
use super::{Connector, ConnectorEvent, IdLookup, as_delivered, id_lookup};
use crate::metrics::DeliveryMetrics;
use crate::model::{Failure, Operation, RemoteRef, ResourceKind};
use crate::store::Store;

/// A blocking connector refused or failed the change.
#[derive(Debug, thiserror::Error)]
#[error("connector '{connector}' did not accept the change ({}): {}", failure.kind, failure.message)]
pub struct Blocked {
    /// The connector.
    pub connector: String,
    /// Its reason.
    pub failure: Failure,
}

/// The change being delivered.
pub struct Subject<'a> {
    /// Users or Groups.
    pub kind: ResourceKind,
    /// The resource's id.
    pub id: &'a str,
    /// The change's own operation.
    pub operation: Operation,
    /// The resource as it will be committed (`None` for a delete).
    pub after: Option<&'a Value>,
    /// For a PATCH, the changed paths.
    pub changed_paths: &'a [String],
}

/// Delivers one event while a client waits (a blocking connector, or the system of record in
/// pass-through mode), counting and timing the call in `metrics` like a dispatcher attempt.
pub(crate) async fn deliver_waiting(
    connector: &dyn Connector,
    name: &str,
    event: ConnectorEvent,
    ids: IdLookup,
    metrics: &DeliveryMetrics,
) -> Result<RemoteRef, Failure> {
    let called = Instant::now();
    let result = super::fill::deliver(connector, event, None, ids)
        .await
        .result;
    metrics.called_while_waiting(name, &result, called.elapsed());
    result
}

/// Delivers the blocking connectors' jobs of `planned` for the changed resource now, removing
/// them from `planned`; answers what each reported.
pub async fn deliver_now(
    registry: &Registry,
    store: &Arc<dyn Store>,
    metrics: &DeliveryMetrics,
    subject: &Subject<'_>,
    planned: &mut Planned,
) -> Result<Vec<(String, RemoteRef)>, Blocked> {
    let mut now: Vec<(String, Operation, Arc<dyn Connector>)> = Vec::new();
    planned
        .deliver_to
        .retain(|name| match registry.blocking(name) {
            Some(connector) => {
                now.push((name.clone(), subject.operation, connector));
                false
            }
            None => true,
        });
    planned.scoped.retain(|job| {
        let own = job.kind == subject.kind && job.id == subject.id;
        match own.then(|| registry.blocking(&job.connector)).flatten() {
            Some(connector) => {
                now.push((job.connector.clone(), job.operation, connector));
                false
            }
            None => true,
        }
    });
    let mut delivered = Vec::with_capacity(now.len());
    for (name, operation, connector) in now {
        let fail = |failure: Failure| Blocked {
            connector: name.clone(),
            failure,
        };
        let remote = store
            .remote_ref(&name, subject.kind.name(), subject.id)
            .map_err(|e| {
                fail(Failure::transient(format!(
                    "reading the id map failed: {e}"
                )))
            })?;
        let resource = match (operation, subject.after) {
            (Operation::Delete, _) | (_, None) => Value::Null,
            (_, Some(after)) => as_delivered(operation, after.clone()),
        };
        let event = ConnectorEvent {
            operation,
            kind: subject.kind,
            id: subject.id.to_owned(),
            remote_id: remote.map(|r| r.remote_id),
            resource,
            changed_paths: subject.changed_paths.to_vec(),
            members: None,
        };
        let ids = id_lookup(store.clone(), &name);
        let answer = deliver_waiting(&*connector, &name, event, ids, metrics)
            .await
            .map_err(fail)?;
        tracing::info!(connector = %name, resource = %format!("{}/{}", subject.kind.name(), subject.id),
            "delivered while the client waited");
        delivered.push((name, answer));
    }
    Ok(delivered)
}
