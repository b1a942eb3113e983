//! A whole group delivered to a connector that takes membership deltas, in calls of bounded
//! size, however many members it has.
//!
//! # Why
//! A group goes out whole on its create, on a reconcile, and on a replace that carries no delta
//! (a PUT, or a job recorded before deltas existed). In one call, a 100,000-member group would
//! be one event of some 10 MB, held decoded by the host, copied into the plugin, and more than
//! its per-call request limit lets it send anyway. So the delivery is the group with at most
//! [`PAGE`] members, a create or replace that sets the target's members to exactly those,
//! followed by the other members as `update-group` additions, a page per call.
//!
//! # Where the pages come from
//! A group whose state comes from the store is never read whole: the dispatcher reads its row
//! and first page, and [`Rest::Stored`] reads each next page when its call is due, each from a
//! fresh snapshot (so a long delivery pins no superseded pages, and memory holds one page). A
//! change committed meanwhile has its own job behind this one, so the target ends as the store
//! does. A group that is already whole in memory (the system of record's answer, a blocking
//! connector's event) is split the same way ([`Rest::Listed`]).
//!
//! A failure anywhere fails the delivery, which is retried whole: the create then adopts the
//! group, the replace resets its members, and adding a member twice changes nothing.

use std::sync::Arc;

use serde_json::Value;

use super::{Attempted, Connector, ConnectorEvent, IdLookup};
use crate::model::{Failure, MemberDelta, MemberRef, Operation, ResourceKind};
use crate::store::{Store, StoreError};

/// Members per call: the plugin chunks them further into requests, within its per-call
/// request limit.
pub const PAGE: usize = 1000;

/// The members a delivery still has to add after its first call.
pub enum Rest {
    /// Already in memory.
    Listed(Vec<MemberRef>),
    /// In the store, after the member `after` (in member id order).
    Stored {
        /// Where they are read.
        store: Arc<dyn Store>,
        /// The group.
        group_id: String,
        /// The last member the delivery already carries.
        after: String,
    },
}

impl Rest {
    /// The next page, empty at the end.
    fn next_page(&mut self) -> Result<Vec<MemberRef>, Failure> {
        match self {
            Rest::Listed(members) => {
                let take = members.len().min(PAGE);
                Ok(members.drain(..take).collect())
            }
            Rest::Stored {
                store,
                group_id,
                after,
            } => {
                let page = store
                    .members(group_id, Some(after.as_str()), PAGE)
                    .map_err(|e| {
                        Failure::transient(format!("reading the group's members failed: {e}"))
                    })?;
                if let Some(last) = page.last().and_then(|m| m.get("value")) {
                    *after = last.as_str().unwrap_or_default().to_owned();
                }
                Ok(page.iter().filter_map(MemberRef::of).collect())
            }
        }
    }
}

/// Whether a change of `kind` by `operation` without a membership delta is a whole group for a
/// connector that could take it in pages (one that `takes_deltas`).
pub fn is_whole_group(
    kind: ResourceKind,
    operation: Operation,
    delta: bool,
    takes_deltas: bool,
) -> bool {
    takes_deltas
        && kind == ResourceKind::Group
        && !delta
        && matches!(operation, Operation::Create | Operation::Replace)
}

/// A whole group from the store as the first call carries it: its row with the first page of
/// its members, and the pages after it, if any. `None` if the group is gone.
pub fn from_store(
    store: &Arc<dyn Store>,
    group_id: &str,
) -> Result<Option<(Value, Option<Rest>)>, StoreError> {
    let Some(mut row) = store.row(ResourceKind::Group, group_id)? else {
        return Ok(None);
    };
    let first = store.members(group_id, None, PAGE)?;
    let rest = match first
        .last()
        .and_then(|m| m.get("value"))
        .and_then(Value::as_str)
    {
        Some(last) if first.len() == PAGE => Some(Rest::Stored {
            store: store.clone(),
            group_id: group_id.to_owned(),
            after: last.to_owned(),
        }),
        _ => None,
    };
    if let (false, Some(obj)) = (first.is_empty(), row.as_object_mut()) {
        obj.insert("members".into(), Value::Array(first));
    }
    Ok(Some((row, rest)))
}

/// Keeps at most [`PAGE`] of a whole group's members in `event` and answers the others.
fn split(event: &mut ConnectorEvent) -> Option<Rest> {
    let members = event.resource.get_mut("members")?.as_array_mut()?;
    if members.len() <= PAGE {
        return None;
    }
    let rest = members.split_off(PAGE);
    Some(Rest::Listed(
        rest.iter().filter_map(MemberRef::of).collect(),
    ))
}

/// Delivers `event`; a whole group to a connector that takes deltas goes as the module docs
/// say, its first call carrying `event` (split here if it holds more than a page) and the next
/// ones `rest`.
pub async fn deliver(
    connector: &dyn Connector,
    mut event: ConnectorEvent,
    rest: Option<Rest>,
    ids: IdLookup,
) -> Attempted {
    let (delta, takes) = (event.members.is_some(), connector.takes_member_deltas());
    if !is_whole_group(event.kind, event.operation, delta, takes) {
        return connector.deliver(event, ids).await;
    }
    let Some(mut rest) = rest.or_else(|| split(&mut event)) else {
        return connector.deliver(event, ids).await;
    };
    let mut row = event.resource.clone();
    if let Some(obj) = row.as_object_mut() {
        obj.remove("members");
    }
    let (id, kind) = (event.id.clone(), event.kind);
    let mut done = connector.deliver(event, ids.clone()).await;
    loop {
        let Ok(delivered) = &done.result else {
            return done;
        };
        let page = match rest.next_page() {
            Ok(page) if page.is_empty() => return done,
            Ok(page) => page,
            Err(failure) => {
                done.result = Err(failure);
                return done;
            }
        };
        let fill = ConnectorEvent {
            operation: Operation::Replace,
            kind,
            id: id.clone(),
            remote_id: Some(delivered.remote_id.clone()),
            resource: row.clone(),
            changed_paths: Vec::new(),
            members: Some(MemberDelta {
                added: page,
                removed: Vec::new(),
            }),
        };
        let next = connector.deliver(fill, ids.clone()).await;
        done.logs.extend(next.logs);
        done.paced.throttled += next.paced.throttled;
        done.paced.retry_after = done.paced.retry_after.max(next.paced.retry_after);
        done.result = next.result;
    }
}
