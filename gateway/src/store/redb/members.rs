//! A group's members, one record per (group, member) in `group_members`, with the reverse in
//! `member_of`. Every change here touches only the pairs it changes, and answers the exact
//! [`MemberDelta`] it made (what the group's delivery jobs carry).
//!
//! A record holds the member as a group lists it: `{"value", "type", "display"?}`. Its key is
//! `{group}\x1f{member}`, so a group's members are one key range, read in member id order.

use std::collections::HashMap;

use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde_json::{Map, Value};

use super::super::{MemberEdit, StoreError};
use super::{GROUP_MEMBERS, MEMBER_OF, decode, io, table};
use crate::model::{MemberDelta, MemberRef, ResourceKind};

/// Separates the group's id from the member's in a key (never part of an id the gateway makes).
const SEP: char = '\u{1f}';

/// The key of the (group, member) record.
pub(super) fn key(group_id: &str, member_id: &str) -> String {
    format!("{group_id}{SEP}{member_id}")
}

/// The first key of a group's range.
pub(super) fn prefix(group_id: &str) -> String {
    format!("{group_id}{SEP}")
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Every member id of a group, with its record, in the write transaction.
fn all(txn: &WriteTransaction, group_id: &str) -> Result<Vec<(String, Value)>, StoreError> {
    let t = txn.open_table(GROUP_MEMBERS).map_err(io)?;
    let from = prefix(group_id);
    let mut out = Vec::new();
    for entry in t.range(from.as_str()..).map_err(io)? {
        let (k, v) = entry.map_err(io)?;
        let Some(member) = k.value().strip_prefix(from.as_str()) else {
            break;
        };
        out.push((member.to_owned(), decode(v.value())?));
    }
    Ok(out)
}

/// The stored record of one member, if it is one.
fn stored(
    txn: &WriteTransaction,
    group_id: &str,
    member_id: &str,
) -> Result<Option<Value>, StoreError> {
    let t = txn.open_table(GROUP_MEMBERS).map_err(io)?;
    let found = t.get(key(group_id, member_id).as_str()).map_err(io)?;
    found.map(|v| decode(v.value())).transpose()
}

fn put(
    txn: &WriteTransaction,
    group_id: &str,
    member_id: &str,
    record: &Value,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(record).map_err(io)?;
    txn.open_table(GROUP_MEMBERS)
        .map_err(io)?
        .insert(key(group_id, member_id).as_str(), bytes.as_slice())
        .map_err(io)?;
    txn.open_multimap_table(MEMBER_OF)
        .map_err(io)?
        .insert(member_id, group_id)
        .map_err(io)?;
    Ok(())
}

fn drop_pair(txn: &WriteTransaction, group_id: &str, member_id: &str) -> Result<(), StoreError> {
    txn.open_table(GROUP_MEMBERS)
        .map_err(io)?
        .remove(key(group_id, member_id).as_str())
        .map_err(io)?;
    txn.open_multimap_table(MEMBER_OF)
        .map_err(io)?
        .remove(member_id, group_id)
        .map_err(io)?;
    Ok(())
}

/// The record for a member being added: it must exist (as the `type` given, if any) and not be
/// the group itself; `type` is what it is, `display` the client's or else its name.
fn resolve(
    txn: &WriteTransaction,
    group_id: &str,
    given: &Value,
) -> Result<(String, Value), StoreError> {
    let Some(value) = text(given, "value").map(str::to_owned) else {
        return Err(StoreError::InvalidMember(
            "every member needs a 'value'".into(),
        ));
    };
    if value == group_id {
        return Err(StoreError::InvalidMember(
            "a group cannot be a member of itself".into(),
        ));
    }
    let wanted = text(given, "type").map(str::to_ascii_lowercase);
    let mut found = None;
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if wanted
            .as_deref()
            .is_some_and(|w| w != kind.name().to_ascii_lowercase())
        {
            continue;
        }
        let t = txn.open_table(table(kind)).map_err(io)?;
        if let Some(bytes) = t.get(value.as_str()).map_err(io)? {
            found = Some((kind, decode(bytes.value())?));
            break;
        }
    }
    let Some((kind, target)) = found else {
        return Err(StoreError::InvalidMember(format!(
            "member {value} does not exist"
        )));
    };
    let mut record = Map::new();
    record.insert("value".into(), Value::String(value.clone()));
    let display = given
        .get("display")
        .or_else(|| target.get("displayName"))
        .or_else(|| target.get("userName"));
    if let Some(d) = display {
        record.insert("display".into(), d.clone());
    }
    record.insert("type".into(), Value::String(kind.name().into()));
    Ok((value, Value::Object(record)))
}

/// What an edit will write, decided before anything is written.
enum Planned {
    /// A new member's record.
    Join(String, Value),
    /// A member's record with a new `display`.
    Rename(String, Value),
}

/// Checks the members `given` to add (they must exist) and decides what to write: new members
/// join, members already there take a given `display` (`type` is what they are).
fn check_adds(
    txn: &WriteTransaction,
    group_id: &str,
    given: &[Value],
    leaving: &std::collections::HashSet<&str>,
) -> Result<Vec<Planned>, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for member in given {
        let Some(id) = text(member, "value") else {
            return Err(StoreError::InvalidMember(
                "every member needs a 'value'".into(),
            ));
        };
        if !seen.insert(id) {
            continue;
        }
        match stored(txn, group_id, id)? {
            Some(mut current) if !leaving.contains(id) => {
                if let (Some(d), Some(obj)) = (member.get("display"), current.as_object_mut())
                    && obj.get("display") != Some(d)
                {
                    obj.insert("display".into(), d.clone());
                    out.push(Planned::Rename(id.to_owned(), current));
                }
            }
            _ => {
                let (id, record) = resolve(txn, group_id, member)?;
                out.push(Planned::Join(id, record));
            }
        }
    }
    Ok(out)
}

/// Applies an edit: `clear`, then `remove`, then `add`. Everything that can refuse it is
/// checked before anything is written. Costs the changed members, and the group's size only
/// for `clear`.
pub(super) fn edit(
    txn: &WriteTransaction,
    group_id: &str,
    edit: &MemberEdit,
) -> Result<MemberDelta, StoreError> {
    let adding: std::collections::HashSet<&str> =
        edit.add.iter().filter_map(|m| text(m, "value")).collect();
    // Who leaves: named ones that are members, and for `clear` everyone not added back
    // (those keep their record: they never left).
    let mut leaving: Vec<(String, Value)> = Vec::new();
    if edit.clear {
        leaving.extend(
            all(txn, group_id)?
                .into_iter()
                .filter(|(id, _)| !adding.contains(id.as_str())),
        );
    }
    let mut named: std::collections::HashSet<String> =
        leaving.iter().map(|(id, _)| id.clone()).collect();
    for id in &edit.remove {
        if !named.contains(id)
            && let Some(current) = stored(txn, group_id, id)?
        {
            named.insert(id.clone());
            leaving.push((id.clone(), current));
        }
    }
    let gone: std::collections::HashSet<&str> = named.iter().map(String::as_str).collect();
    let planned = check_adds(txn, group_id, &edit.add, &gone)?;
    let mut delta = MemberDelta::default();
    for (id, record) in &leaving {
        drop_pair(txn, group_id, id)?;
        delta.removed.push(MemberRef {
            id: id.clone(),
            kind: MemberRef::kind_of(record),
        });
    }
    for p in planned {
        match p {
            Planned::Join(id, record) => {
                put(txn, group_id, &id, &record)?;
                delta.added.push(MemberRef {
                    kind: MemberRef::kind_of(&record),
                    id,
                });
            }
            Planned::Rename(id, record) => put(txn, group_id, &id, &record)?,
        }
    }
    // A member removed and added back by the same edit is netted out of the delta.
    let rejoined: std::collections::HashSet<String> = delta
        .removed
        .iter()
        .filter(|m| delta.added.iter().any(|a| a.id == m.id))
        .map(|m| m.id.clone())
        .collect();
    if !rejoined.is_empty() {
        delta.removed.retain(|m| !rejoined.contains(&m.id));
        delta.added.retain(|m| !rejoined.contains(&m.id));
    }
    Ok(delta)
}

/// Makes the group's members exactly `members` (a PUT, a create): a pass over both lists.
pub(super) fn replace_all(
    txn: &WriteTransaction,
    group_id: &str,
    members: &[Value],
) -> Result<MemberDelta, StoreError> {
    edit(
        txn,
        group_id,
        &MemberEdit {
            clear: true,
            add: members.to_vec(),
            remove: Vec::new(),
        },
    )
}

/// Removes every member of a deleted group.
pub(super) fn drop_group(txn: &WriteTransaction, group_id: &str) -> Result<(), StoreError> {
    for (member, _) in all(txn, group_id)? {
        drop_pair(txn, group_id, &member)?;
    }
    Ok(())
}

/// Removes a deleted resource from every group that lists it; answers those groups' ids.
pub(super) fn leave_all(
    txn: &WriteTransaction,
    member_id: &str,
) -> Result<Vec<String>, StoreError> {
    let group_ids: Vec<String> = {
        let member_of = txn.open_multimap_table(MEMBER_OF).map_err(io)?;
        let mut ids = Vec::new();
        for gid in member_of.get(member_id).map_err(io)? {
            ids.push(gid.map_err(io)?.value().to_owned());
        }
        ids
    };
    for gid in &group_ids {
        drop_pair(txn, gid, member_id)?;
    }
    Ok(group_ids)
}

/// Takes the `members` out of a group as a write gives it (a whole list), leaving its row.
pub(super) fn split_out(group: &mut Value) -> Vec<Value> {
    match group.as_object_mut().and_then(|o| o.remove("members")) {
        Some(Value::Array(members)) => members,
        _ => Vec::new(),
    }
}

/// Moves the members of groups stored whole (by an earlier version) into member records, once.
pub(super) fn migrate(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut moved: HashMap<String, (Value, Vec<Value>)> = HashMap::new();
    {
        let t = txn.open_table(table(ResourceKind::Group)).map_err(io)?;
        for entry in t.iter().map_err(io)? {
            let (k, v) = entry.map_err(io)?;
            let mut group = decode(v.value())?;
            if group.get("members").is_none() {
                continue;
            }
            let members = split_out(&mut group);
            moved.insert(k.value().to_owned(), (group, members));
        }
    }
    for (gid, (group, members)) in moved {
        for m in members {
            if let Some(id) = text(&m, "value") {
                put(txn, &gid, id, &m)?;
            }
        }
        let bytes = serde_json::to_vec(&group).map_err(io)?;
        txn.open_table(table(ResourceKind::Group))
            .map_err(io)?
            .insert(gid.as_str(), bytes.as_slice())
            .map_err(io)?;
    }
    Ok(())
}
