//! Resource changes inside the writer's transaction: checks first, then the row, its index
//! entries, group memberships, the change's delivery jobs and its audit entry.

use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde_json::Value;

use super::super::audit::{AuditEvent, digest};
use super::super::index::{Index, member_ids};
use super::super::{Change, StoreError, WriteOp, WriteResult};
use super::{
    Counters, MEMBER_OF, USER_NAME, audit, decode, id_of, index_table, io, jobs, table, version_of,
};
use crate::model::Operation;
use crate::model::ResourceKind;
use crate::model::timestamp;

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
    } = change;
    let (kind, id, operation) = match &op {
        WriteOp::Create { kind, resource } => (*kind, id_of(resource)?, Operation::Create),
        WriteOp::Replace { kind, resource, .. } => (*kind, id_of(resource)?, Operation::Replace),
        WriteOp::Delete { kind, id, .. } => (*kind, id.clone(), Operation::Delete),
        WriteOp::Relay {
            kind,
            id,
            operation,
            ..
        } => (*kind, id.clone(), *operation),
    };
    let (stored, before_sha256, after_sha256) = match op {
        WriteOp::Relay {
            before_sha256,
            after_sha256,
            ..
        } => (Value::Null, before_sha256, after_sha256),
        op => {
            let before = match operation {
                Operation::Create => None,
                _ => stored_digest(txn, kind, &id)?,
            };
            let stored = apply_op(txn, &mut counters.version, op)?;
            let after = match operation {
                Operation::Delete => None,
                _ => stored_digest(txn, kind, &id)?,
            };
            (stored, before, after)
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
            },
        )?;
    }
    for job in scoped {
        jobs::enqueue_scoped(txn, &mut counters.job, job)?;
    }
    Ok(stored)
}

/// Checks and writes the resource itself.
fn apply_op(txn: &WriteTransaction, seq: &mut u64, op: WriteOp) -> WriteResult {
    match op {
        WriteOp::Create { kind, mut resource } => {
            let id = id_of(&resource)?;
            if load(txn, kind, &id)?.is_some() {
                return Err(StoreError::Uniqueness(format!("id {id} is already taken")));
            }
            check_unique(txn, kind, &resource, &id)?;
            if kind == ResourceKind::Group {
                resolve_members(txn, &mut resource, &id, None)?;
            }
            stamp(&mut resource, seq);
            put(txn, kind, &id, &resource, None)?;
            Ok(resource)
        }
        WriteOp::Replace {
            kind,
            mut resource,
            expected_version,
        } => {
            let id = id_of(&resource)?;
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            check_unique(txn, kind, &resource, &id)?;
            if kind == ResourceKind::Group {
                resolve_members(txn, &mut resource, &id, Some(&old))?;
            }
            stamp(&mut resource, seq);
            put(txn, kind, &id, &resource, Some(&old))?;
            Ok(resource)
        }
        WriteOp::Delete {
            kind,
            id,
            expected_version,
        } => {
            let old = load(txn, kind, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            check_version(&old, expected_version.as_deref())?;
            remove(txn, kind, &id, &old)?;
            leave_all_groups(txn, seq, &id)?;
            Ok(Value::Null)
        }
        WriteOp::Relay { .. } => Ok(Value::Null),
    }
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

/// Checks that every member exists and fills in its `type` and, when absent, `display`.
///
/// Members the stored version (`old`) already lists were checked when they were added, and
/// leave every group when they are deleted, so only new members are looked up: adding one
/// member to a large group (Entra ID adds them one PATCH at a time) costs one lookup, not one
/// per member.
fn resolve_members(
    txn: &WriteTransaction,
    group: &mut Value,
    group_id: &str,
    old: Option<&Value>,
) -> Result<(), StoreError> {
    let known: std::collections::HashMap<&str, &Value> = old
        .and_then(|o| o.get("members"))
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| Some((m.get("value")?.as_str()?, m)))
                .collect()
        })
        .unwrap_or_default();
    let Some(members) = group.get_mut("members").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| {
        m.get("value")
            .and_then(Value::as_str)
            .is_none_or(|v| seen.insert(v.to_owned()))
    });
    for member in members.iter_mut() {
        let Some(value) = member
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(StoreError::InvalidMember(
                "every member needs a 'value'".into(),
            ));
        };
        if value == group_id {
            return Err(StoreError::InvalidMember(
                "a group cannot be a member of itself".into(),
            ));
        }
        if let (Some(stored), Some(obj)) = (known.get(value.as_str()), member.as_object_mut()) {
            // `type` is what the member is (immutable); `display` the client may rename.
            if let Some(t) = stored.get("type") {
                obj.insert("type".into(), t.clone());
            }
            if let (false, Some(d)) = (obj.contains_key("display"), stored.get("display")) {
                obj.insert("display".into(), d.clone());
            }
            continue;
        }
        let wanted = member
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let mut found = None;
        for kind in [ResourceKind::User, ResourceKind::Group] {
            if wanted
                .as_deref()
                .is_some_and(|w| w != kind.name().to_ascii_lowercase())
            {
                continue;
            }
            if let Some(r) = load(txn, kind, &value)? {
                found = Some((kind, r));
                break;
            }
        }
        let Some((kind, target)) = found else {
            return Err(StoreError::InvalidMember(format!(
                "member {value} does not exist"
            )));
        };
        let display = target
            .get("displayName")
            .or_else(|| target.get("userName"))
            .cloned();
        if let Some(obj) = member.as_object_mut() {
            obj.insert("type".into(), Value::String(kind.name().into()));
            if let (false, Some(display)) = (obj.contains_key("display"), display) {
                obj.insert("display".into(), display);
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
    if kind == ResourceKind::Group {
        let mut member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        let new_members = member_ids(new);
        let old_members = old.map(member_ids).unwrap_or_default();
        for m in old_members.iter().filter(|m| !new_members.contains(m)) {
            member_of.remove(m.as_str(), id).map_err(io)?;
        }
        for m in new_members.iter().filter(|m| !old_members.contains(m)) {
            member_of.insert(m.as_str(), id).map_err(io)?;
        }
    }
    Ok(())
}

/// Deletes the row and its index entries (and, for a group, its members' back-references).
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
    if kind == ResourceKind::Group {
        let mut member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        for m in member_ids(old) {
            member_of.remove(m.as_str(), id).map_err(io)?;
        }
    }
    Ok(())
}

/// Removes a deleted resource from every group that listed it; each such group gets a new
/// version and `lastModified`.
fn leave_all_groups(
    txn: &WriteTransaction,
    seq: &mut u64,
    member_id: &str,
) -> Result<(), StoreError> {
    let group_ids: Vec<String> = {
        let member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        let mut ids = Vec::new();
        for gid in member_of.get(member_id).map_err(io)? {
            ids.push(gid.map_err(io)?.value().to_owned());
        }
        ids
    };
    for gid in group_ids {
        let Some(old) = load(txn, ResourceKind::Group, &gid)? else {
            continue;
        };
        let mut group = old.clone();
        if let Some(members) = group.get_mut("members").and_then(Value::as_array_mut) {
            members.retain(|m| m.get("value").and_then(Value::as_str) != Some(member_id));
            if members.is_empty()
                && let Some(obj) = group.as_object_mut()
            {
                obj.remove("members");
            }
        }
        if let Some(meta) = group.get_mut("meta").and_then(Value::as_object_mut) {
            meta.insert("lastModified".into(), Value::String(timestamp()));
        }
        stamp(&mut group, seq);
        put(txn, ResourceKind::Group, &gid, &group, Some(&old))?;
    }
    Ok(())
}
