//! Recording a change, the one write path of both modes: plan the change's delivery jobs,
//! deliver it to the blocking connectors while the client waits, commit it to the store with its
//! jobs (and audit entry) in one transaction, then wake the dispatcher.

use std::sync::Arc;

use http::StatusCode;
use serde_json::Value;

use crate::delivery::blocking::{Blocked, Subject, deliver_now};
use crate::delivery::plan;
use crate::delivery::registry::Registry;
use crate::metrics::DeliveryMetrics;
use crate::model::{Operation, RemoteRef, ResourceKind};
use crate::scim::ScimError;
use crate::store::{Change, MemberEdit, Store, StoreError, WriteOp};
use crate::vault::{Vault, password_purpose};

/// Which connector instances receive which resource types, how to wake the delivery
/// dispatcher once jobs were committed, and the key passwords are sealed with for them.
#[derive(Clone)]
pub struct Outbound {
    /// The live connector instances (changed at runtime through the admin API).
    pub registry: Arc<Registry>,
    /// Signalled after every committed change.
    pub committed: Arc<tokio::sync::Notify>,
    /// Where deliveries made while the client waits are counted and timed.
    pub metrics: Arc<DeliveryMetrics>,
    /// The operator's key: a password rides sealed on the jobs that deliver it.
    pub vault: Arc<Vault>,
}

/// Records changes in the store with their delivery jobs.
#[derive(Clone)]
pub(crate) struct Recorder {
    /// Where changes, jobs and the audit trail are committed.
    pub store: Arc<dyn Store>,
    /// Where changes are delivered.
    pub outbound: Outbound,
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
    /// For a group's change of some members only: which (`before` and `after` then carry
    /// no members).
    pub edit: Option<&'a MemberEdit>,
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
    /// The request's time budget ran out before the change was made (`budget.rs`).
    #[error(transparent)]
    OverBudget(ScimError),
}

impl From<CommitError> for ScimError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Store(e) => e.into(),
            CommitError::OverBudget(e) => e,
            // The upstream system refused or failed: 502 naming the connector and the kind of
            // failure. The plugin's message (a trap's output, a transport error with internal
            // addresses) is for the operator's log, not the client.
            CommitError::Blocked(b) => {
                tracing::warn!(connector = %b.connector, kind = %b.failure.kind,
                    message = %b.failure.message, "a blocking connector did not accept a change");
                ScimError::new(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "connector '{}' did not accept the change ({}); the gateway's log has the details",
                        b.connector, b.failure.kind
                    ),
                )
            }
        }
    }
}

impl Recorder {
    /// Plans a change's jobs, delivers it to the blocking connectors, then commits it with its
    /// jobs, authored by `actor`, and wakes the dispatcher. `system_of_record` (pass-through
    /// mode) already has it and gets no job. Answers the resource as stored.
    ///
    /// A password the change sets reaches the blocking connectors in the clear, in memory, and
    /// the other connectors sealed on their jobs: the resource is stored without it. In
    /// pass-through mode it is never stored: the system of record has it, and the other
    /// connectors' jobs go without it.
    pub(crate) async fn record(
        &self,
        actor: Option<&str>,
        change: Recorded<'_>,
        system_of_record: Option<&str>,
    ) -> Result<Value, CommitError> {
        let Recorded {
            kind,
            mut op,
            before,
            after,
            changed_paths,
            mut delivered,
            edit,
        } = change;
        let (id, operation) = (op.id().to_owned(), op.operation());
        let id = id.as_str();
        let after = match &op {
            WriteOp::Create { resource, .. } | WriteOp::Replace { resource, .. } => Some(resource),
            WriteOp::Delete { .. } | WriteOp::Relay { .. } => after,
            WriteOp::Members { .. } => before,
        };
        let registry = &self.outbound.registry;
        let states = plan::States {
            before,
            after,
            edit,
        };
        let mut planned = plan::plan(registry, &*self.store, kind, states)?;
        if let Some(sor) = system_of_record {
            planned.deliver_to.retain(|name| name != sor);
            planned.scoped.retain(|job| job.connector != sor);
        }
        // A blocking connector is called before the commit, with the whole new state: for a
        // change of some members, that state is made here (the one case that reads them all).
        let whole;
        let after = match edit {
            Some(edit)
                if planned
                    .deliver_to
                    .iter()
                    .any(|c| registry.blocking(c).is_some()) =>
            {
                whole = with_edit(&*self.store, id, after, edit)?;
                Some(&whole)
            }
            _ => after,
        };
        let subject = Subject {
            kind,
            id,
            operation,
            after,
            changed_paths: &changed_paths,
        };
        // The last moment the change can be given up cleanly: after it, a blocking connector
        // may have it, so it is committed however late.
        super::budget::check().map_err(CommitError::OverBudget)?;
        let metrics = &self.outbound.metrics;
        let now = deliver_now(registry, &self.store, metrics, &subject, &mut planned).await?;
        delivered.extend(now);
        let password = take_password(&mut op)
            .filter(|_| system_of_record.is_none())
            .filter(|_| !planned.is_empty())
            .map(|p| self.outbound.vault.seal_str(&password_purpose(id), &p));
        let notify = !planned.is_empty() || operation == Operation::Delete;
        let change = Change {
            op,
            deliver_to: planned.deliver_to,
            changed_paths,
            scoped: planned.scoped,
            delivered,
            actor: actor.map(str::to_owned),
            password,
        };
        let stored = self.store.write(change).await?;
        if notify {
            self.outbound.committed.notify_one();
        }
        Ok(stored)
    }
}

/// Takes a user's password out of a create or replace, which is then stored without it.
fn take_password(op: &mut WriteOp) -> Option<String> {
    match op {
        WriteOp::Create {
            kind: ResourceKind::User,
            resource,
        }
        | WriteOp::Replace {
            kind: ResourceKind::User,
            resource,
            ..
        } => match resource.as_object_mut()?.shift_remove("password")? {
            Value::String(p) => Some(p),
            _ => None,
        },
        _ => None,
    }
}

/// The whole group `after` (a row) with its stored members changed by `edit`, as the commit
/// will make it (added members as the client named them).
fn with_edit(
    store: &dyn Store,
    id: &str,
    after: Option<&Value>,
    edit: &MemberEdit,
) -> Result<Value, StoreError> {
    let mut group = after.cloned().unwrap_or(Value::Null);
    let mut members: Vec<Value> = match store.get(ResourceKind::Group, id)? {
        Some(current) if !edit.clear => current
            .get("members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let value = |m: &Value| m.get("value").and_then(Value::as_str).map(str::to_owned);
    let gone: std::collections::HashSet<&str> = edit.remove.iter().map(String::as_str).collect();
    members.retain(|m| value(m).is_none_or(|v| !gone.contains(v.as_str())));
    let present: std::collections::HashSet<String> = members.iter().filter_map(value).collect();
    members.extend(
        edit.add
            .iter()
            .filter(|m| value(m).is_none_or(|v| !present.contains(&v)))
            .cloned(),
    );
    if let (false, Some(obj)) = (members.is_empty(), group.as_object_mut()) {
        obj.insert("members".into(), Value::Array(members));
    }
    Ok(group)
}
