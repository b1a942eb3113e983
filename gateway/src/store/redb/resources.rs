//! Resource changes inside the writer's transaction: checks first, then the row, its index
//! entries, group memberships ([`members`](super::members)), the change's delivery jobs and
//! its audit entry.

use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde_json::Value;

use super::super::audit::{AuditEvent, digest};
use super::super::index::Index;
use super::super::{Change, MemberWrite, StoreError, WriteOp, WriteResult};
use super::{
    Counters, USER_NAME, audit, decode, id_of, index_table, io, jobs, members, table, version_of,
};
use crate::model::ResourceKind;
use crate::model::timestamp;
use crate::model::{MemberDelta, Operation};
use crate::scim::schema::strip_never_returned;

/// Gives `resource` the next version.
fn stamp(resource: &mut Value, seq: &mut u64) {
    *seq += 1;
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("version".into(), Value::String(format!("W/\"{seq}\"")));
    }
}

fn load(txn: &WriteTransaction, kind: ResourceKind, id: &str) -> Result<Option<Value>, StoreError> {
    let t = txn.open_table(table(kind)).map_err(io)?;
    let found = t.get(id).map_err(io)?;
    found.map(|bytes| decode(bytes.value())).transpose()
}

fn check_version(current: &Value, expected: Option<&str>) -> Result<(), StoreError> {
    match expected {
        Some(v) if v != "*" && version_of(current) != Some(v) => Err(StoreError::VersionMismatch),
        _ => Ok(()),
    }
}

/// The digest of the row as stored now, if there is one.
fn stored_digest(
    txn: &WriteTransaction,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let t = txn.open_table(table(kind)).map_err(io)?;
    let found = t.get(id).map_err(io)?;
    Ok(found.map(|bytes| digest(bytes.value())))
}

/// Applies one change, enqueues its delivery jobs and appends it to the audit trail. A refused
/// change writes none of these.
pub(super) fn apply(
    txn: &WriteTransaction,
    counters: &mut Counters,
    change: Change,
) -> WriteResult {
    let Change {
        op,
        mut deliver_to,
        changed_paths,
        scoped,
        delivered,
        actor,
        password,
    } = change;
    let (kind, id, operation) = match &op {
        WriteOp::Create { kind, resource } => (*kind, id_of(resource)?, Operation::Create),
        WriteOp::Replace { kind, resource, .. } => (*kind, id_of(resource)?, Operation::Replace),
        WriteOp::Members { id, .. } => (ResourceKind::Group, id.clone(), Operation::Replace),
        WriteOp::Delete { kind, id, .. } => (*kind, id.clone(), Operation::Delete),
        WriteOp::Relay {
            kind,
            id,
            operation,
            ..
        } => (*kind, id.clone(), *operation),
    };
    let (stored, delta, before_sha256, after_sha256) = match op {
        WriteOp::Relay {
            before_sha256,
            after_sha256,
            ..
        } => (Value::Null, None, before_sha256, after_sha256),
        op => {
            let before = match operation {
                Operation::Create => None,
                _ => stored_digest(txn, kind, &id)?,
            };
            let (stored, delta) = apply_op(txn, counters, op)?;
            let after = match operation {
                Operation::Delete => None,
                _ => stored_digest(txn, kind, &id)?,
            };
            (stored, delta, before, after)
        }
    };
    audit::append(
        txn,
        counters,
        kind.name(),
        &id,
        AuditEvent::Change {
            actor,
            operation,
            before_sha256,
            after_sha256,
        },
    )?;
    for (connector, remote) in &delivered {
        let remote = Some(remote).filter(|_| operation != Operation::Delete);
        jobs::set_remote(txn, kind.name(), &id, connector, remote)?;
        // Delivered before the commit, while the client waited: audited after the change.
        audit::append(
            txn,
            counters,
            kind.name(),
            &id,
            AuditEvent::Delivery {
                connector: connector.clone(),
                job_seq: None,
                outcome: "delivered".into(),
                result: "delivered".into(),
            },
        )?;
    }
    if operation == Operation::Delete {
        // A delete reaches every connector that holds the resource, in scope or not.
        deliver_to.extend(jobs::holders(txn, kind.name(), &id)?);
    }
    deliver_to.sort();
    deliver_to.dedup();
    for connector in deliver_to {
        jobs::enqueue(
            txn,
            &mut counters.job,
            jobs::NewJob {
                connector,
                kind,
                id: &id,
                operation,
                changed_paths: &changed_paths,
                members: delta.clone(),
                password: password.clone(),
            },
        )?;
    }
    for job in scoped {
        // A connector the change brought the user into the scope of gets its password too.
        let password = password
            .clone()
            .filter(|_| job.kind == kind && job.id == id);
        jobs::enqueue_scoped(txn, &mut counters.job, job, password)?;
    }
    Ok(stored)
}

/// Checks and writes the resource itself; answers it as stored (a group with the members its
/// write listed, see [`WriteResult`]) and, for a group's create or replace, the membership delta.
fn apply_op(
    txn: &WriteTransaction,
    counters: &mut Counters,
    op: WriteOp,
) -> Result<(Value, Option<MemberDelta>), StoreError> {
    let seq = &mut counters.version;
    match op {
        WriteOp::Create { kind, mut resource } => {
            let id = id_of(&resource)?;
            if load(txn, kind, &id)?.is_some() {
                return Err(StoreError::Uniqueness(format!("id {id} is already taken")));
            }
            check_unique(txn, kind, &resource, &id)?;
            stamp(&mut resource, seq);
            strip_never_returned(kind, &mut resource);
            if kind == ResourceKind::User {
                put(txn, kind, &id, &resource, None)?;
                return Ok((resource, None));
            }
            let listed = members::split_out(&mut resource);
            // The members are checked (and written) first: a refused one leaves no row.
            let delta = members::replace_all(txn, &id, &listed)?;
            put(txn, kind, &id, &resource, None)?;
            Ok((with_listed(txn, resource, &listed)?, Some(delta)))
        }
        WriteOp::Replace {
            kind,
            mut resource,
            expected_version,
            members: how,
        } => {
            let id = id_of(&resource)?;
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            check_unique(txn, kind, &resource, &id)?;
            stamp(&mut resource, seq);
            strip_never_returned(kind, &mut resource);
            if kind == ResourceKind::User {
                put(txn, kind, &id, &resource, Some(&old))?;
                return Ok((resource, None));
            }
            let listed = members::split_out(&mut resource);
            // The members are checked (and written) before the row: a refusal leaves no trace.
            let delta = match &how {
                MemberWrite::Whole => members::replace_all(txn, &id, &listed)?,
                MemberWrite::Keep => MemberDelta::default(),
                MemberWrite::Edit(edit) => members::edit(txn, &id, edit)?,
            };
            put(txn, kind, &id, &resource, Some(&old))?;
            match how {
                MemberWrite::Whole => Ok((with_listed(txn, resource, &listed)?, Some(delta))),
                MemberWrite::Keep | MemberWrite::Edit(_) => Ok((resource, Some(delta))),
            }
        }
        WriteOp::Members {
            id,
            edit,
            expected_version,
            modified,
        } => {
            let kind = ResourceKind::Group;
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            let delta = members::edit(txn, &id, &edit)?;
            let mut group = old.clone();
            if let Some(meta) = group.get_mut("meta").and_then(Value::as_object_mut) {
                meta.insert("lastModified".into(), Value::String(modified));
            }
            stamp(&mut group, seq);
            put(txn, kind, &id, &group, Some(&old))?;
            Ok((group, Some(delta)))
        }
        WriteOp::Delete {
            kind,
            id,
            expected_version,
        } => {
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            remove(txn, kind, &id, &old)?;
            if kind == ResourceKind::Group {
                members::drop_group(txn, &id)?;
            }
            leave_all_groups(txn, counters, &id)?;
            Ok((Value::Null, None))
        }
        WriteOp::Relay { .. } => Ok((Value::Null, None)),
    }
}

/// A group row with the members a whole write listed, as now stored (resolved `type` and
/// `display`), in the order the client listed them.
fn with_listed(
    txn: &WriteTransaction,
    mut group: Value,
    listed: &[Value],
) -> Result<Value, StoreError> {
    if listed.is_empty() {
        return Ok(group);
    }
    let id = id_of(&group)?;
    let t = txn.open_table(super::GROUP_MEMBERS).map_err(io)?;
    let mut out = Vec::with_capacity(listed.len());
    let mut seen = std::collections::HashSet::new();
    for m in listed {
        let Some(member) = m.get("value").and_then(Value::as_str) else {
            continue;
        };
        if !seen.insert(member) {
            continue;
        }
        if let Some(bytes) = t.get(members::key(&id, member).as_str()).map_err(io)? {
            out.push(decode(bytes.value())?);
        }
    }
    if let Some(obj) = group.as_object_mut() {
        obj.insert("members".into(), Value::Array(out));
    }
    Ok(group)
}

/// Refuses a `userName` that another user holds (case-insensitively).
fn check_unique(
    txn: &WriteTransaction,
    kind: ResourceKind,
    resource: &Value,
    id: &str,
) -> Result<(), StoreError> {
    if kind != ResourceKind::User {
        return Ok(());
    }
    let t = txn.open_multimap_table(USER_NAME).map_err(io)?;
    for key in Index::UserName.keys(resource) {
        for holder in t.get(key.as_str()).map_err(io)? {
            if holder.map_err(io)?.value() != id {
                return Err(StoreError::Uniqueness(format!(
                    "userName '{key}' is already taken"
                )));
            }
        }
    }
    Ok(())
}

/// Writes `new` under `id`, moving index entries from `old`'s keys to `new`'s.
fn put(
    txn: &WriteTransaction,
    kind: ResourceKind,
    id: &str,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(new).map_err(io)?;
    txn.open_table(table(kind))
        .map_err(io)?
        .insert(id, bytes.as_slice())
        .map_err(io)?;
    for &index in Index::for_kind(kind) {
        let Some(def) = index_table(kind, index) else {
            continue;
        };
        let mut t = txn.open_multimap_table(def).map_err(io)?;
        let new_keys = index.keys(new);
        let old_keys = old.map(|o| index.keys(o)).unwrap_or_default();
        for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            t.remove(key.as_str(), id).map_err(io)?;
        }
        for key in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            t.insert(key.as_str(), id).map_err(io)?;
        }
    }
    Ok(())
}

/// Deletes the row and its index entries.
fn remove(
    txn: &WriteTransaction,
    kind: ResourceKind,
    id: &str,
    old: &Value,
) -> Result<(), StoreError> {
    txn.open_table(table(kind))
        .map_err(io)?
        .remove(id)
        .map_err(io)?;
    for &index in Index::for_kind(kind) {
        let Some(def) = index_table(kind, index) else {
            continue;
        };
        let mut t = txn.open_multimap_table(def).map_err(io)?;
        for key in index.keys(old) {
            t.remove(key.as_str(), id).map_err(io)?;
        }
    }
    Ok(())
}

/// Removes a deleted resource from every group that listed it; each such group gets a new
/// version and `lastModified`. (The jobs that tell connectors are planned with the delete:
/// `delivery::plan`.)
fn leave_all_groups(
    txn: &WriteTransaction,
    counters: &mut Counters,
    member_id: &str,
) -> Result<(), StoreError> {
    let now = timestamp();
    for gid in members::leave_all(txn, member_id)? {
        let Some(old) = load(txn, ResourceKind::Group, &gid)? else {
            continue;
        };
        let mut group = old.clone();
        if let Some(meta) = group.get_mut("meta").and_then(Value::as_object_mut) {
            meta.insert("lastModified".into(), Value::String(now.clone()));
        }
        stamp(&mut group, &mut counters.version);
        put(txn, ResourceKind::Group, &gid, &group, Some(&old))?;
    }
    Ok(())
}
