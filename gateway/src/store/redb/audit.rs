//! The audit trail in redb: entries appended inside the writer's transaction, read newest first,
//! pruned oldest first.

use redb::{ReadableTable, WriteTransaction};

use super::super::StoreError;
use super::super::audit::{AuditEntry, AuditEvent, AuditQuery};
use super::{AUDIT, Counters, io};
use crate::model::now_ms;

/// Appends an entry about a resource, stamped now (or, if the clock went back, at the time of
/// the entry before it).
pub(super) fn append(
    txn: &WriteTransaction,
    counters: &mut Counters,
    resource_type: &str,
    resource_id: &str,
    event: AuditEvent,
) -> Result<(), StoreError> {
    counters.audit += 1;
    counters.audit_ms = counters.audit_ms.max(now_ms());
    let entry = AuditEntry {
        seq: counters.audit,
        at_ms: counters.audit_ms,
        resource_type: resource_type.to_owned(),
        resource_id: resource_id.to_owned(),
        event,
    };
    let bytes = serde_json::to_vec(&entry).map_err(io)?;
    txn.open_table(AUDIT)
        .map_err(io)?
        .insert(entry.seq, bytes.as_slice())
        .map_err(io)?;
    Ok(())
}

/// The entries `q` selects, newest first. The walk starts below the cursor (or at the newest
/// entry) and stops at the first entry older than `since_ms`: entries are in time order.
pub(super) fn query(
    txn: &redb::ReadTransaction,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    let t = txn.open_table(AUDIT).map_err(io)?;
    let below = q.before.unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for entry in t.range(..below).map_err(io)?.rev() {
        if out.len() >= q.limit {
            break;
        }
        let (_, bytes) = entry.map_err(io)?;
        let entry: AuditEntry = serde_json::from_slice(bytes.value()).map_err(io)?;
        if q.since_ms.is_some_and(|since| entry.at_ms < since) {
            break;
        }
        if q.until_ms.is_some_and(|until| entry.at_ms >= until) {
            continue;
        }
        if q.matches(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Removes at most `max` of the oldest entries stamped before `before_ms`; answers how many.
pub(super) fn prune(
    txn: &WriteTransaction,
    before_ms: u64,
    max: usize,
) -> Result<usize, StoreError> {
    let mut t = txn.open_table(AUDIT).map_err(io)?;
    let mut doomed = Vec::new();
    for entry in t.iter().map_err(io)?.take(max) {
        let (key, bytes) = entry.map_err(io)?;
        let entry: AuditEntry = serde_json::from_slice(bytes.value()).map_err(io)?;
        if entry.at_ms >= before_ms {
            break;
        }
        doomed.push(key.value());
    }
    for seq in &doomed {
        t.remove(*seq).map_err(io)?;
    }
    Ok(doomed.len())
}
