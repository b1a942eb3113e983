//! The delivery jobs a change records: which connectors hear of it, with which operation, and
//! which members a group's change moves in or out of a connector's scope (see [`scope`]).
//!
//! Planned from the state the change was computed from (`before`, read by the service; the
//! store's version check makes sure it is still the current one when the change commits) and
//! the state it writes (`after`). A delete goes to every connector whose scope held the
//! resource before; the store adds every connector that holds a remote id for it (which also
//! covers a user deactivated when it left a scope). A delete is planned even for a connector
//! that has not reported the resource delivered yet: its create may still be queued, and the
//! delete must follow it.
//!
//! A group's change of some members only ([`States::edit`]) is judged for the members it names,
//! looked up one by one: it costs the change, not the group. The group's whole member list is
//! read only where a role scope names the group and the change replaces or deletes all of them.
//!
//! [`scope`]: super::scope

use std::collections::BTreeSet;

use serde_json::Value;

use super::registry::Registry;
use super::scope::{Scope, text};
use crate::model::Operation;
use crate::model::ResourceKind;
use crate::store::{MemberEdit, Membership, ScopedJob, Store, StoreError};

/// The states a change is planned from.
#[derive(Debug, Clone, Copy, Default)]
pub struct States<'a> {
    /// The state the change was computed from (`None`: a create). A group may come as its row
    /// (without `members`) when `edit` is given or `after` is `None` (a delete).
    pub before: Option<&'a Value>,
    /// The state it writes (`None`: a delete); a group's row when `edit` is given.
    pub after: Option<&'a Value>,
    /// For a group: the change to some of its members, when that is all the change does to
    /// them.
    pub edit: Option<&'a MemberEdit>,
}

/// The jobs of one change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// Connectors that receive the change itself, with its own operation.
    pub deliver_to: Vec<String>,
    /// Everything else: the changed resource entering or leaving a scope, and moved members.
    pub scoped: Vec<ScopedJob>,
}

impl Planned {
    /// Whether nothing is to be delivered.
    pub fn is_empty(&self) -> bool {
        self.deliver_to.is_empty() && self.scoped.is_empty()
    }

    /// Records the job for connector `name` for resource `(kind, id)`, judged in scope before
    /// and after the change (`(was, is)`); `own` is the change's own operation.
    fn judge(
        &mut self,
        name: &str,
        scope: &Scope,
        (kind, id): (ResourceKind, &str),
        (was, is): (bool, bool),
        own: Operation,
    ) {
        match scope.transition(kind, was, is) {
            Some(op) if op == own => self.deliver_to.push(name.to_owned()),
            Some(operation) => self.scoped.push(ScopedJob {
                connector: name.to_owned(),
                kind,
                id: id.to_owned(),
                operation,
                members: None,
            }),
            None => {}
        }
    }
}

/// Plans the jobs of a change of a `kind` resource from `before` (`None`: a create) to `after`
/// (`None`: a delete).
pub fn plan(
    registry: &Registry,
    store: &dyn Store,
    kind: ResourceKind,
    states: States<'_>,
) -> Result<Planned, StoreError> {
    let States { before, after, .. } = states;
    let mut planned = Planned::default();
    let own = if before.is_some() {
        Operation::Replace
    } else {
        Operation::Create
    };
    match kind {
        ResourceKind::User => {
            let routes = registry.routes(ResourceKind::User);
            let id = text(after.or(before).unwrap_or(&Value::Null), "id");
            // A user's own write does not change its memberships; read them only if they matter.
            let groups = match before {
                Some(_) if routes.iter().any(|(_, s)| s.has_role_condition()) => {
                    store.groups_of(id)?
                }
                _ => Vec::new(),
            };
            for (name, scope) in &routes {
                let was = before.is_some_and(|b| scope.admits_user(b, &groups));
                match after {
                    Some(after) => {
                        let is = scope.admits_user(after, &groups);
                        planned.judge(name, scope, (kind, id), (was, is), own);
                    }
                    None if was => planned.deliver_to.push(name.clone()),
                    None => {}
                }
            }
        }
        ResourceKind::Group => {
            let id = text(after.or(before).unwrap_or(&Value::Null), "id");
            for (name, scope) in &registry.routes(ResourceKind::Group) {
                let was = before.is_some_and(|b| scope.admits_group(b));
                match after {
                    Some(after) => {
                        let is = scope.admits_group(after);
                        planned.judge(name, scope, (kind, id), (was, is), own);
                    }
                    None if was => planned.deliver_to.push(name.clone()),
                    None => {}
                }
            }
            for (name, scope) in &registry.routes(ResourceKind::User) {
                if scope.has_role_condition() {
                    moved_members(store, &mut planned, (name, scope), id, states)?;
                }
            }
        }
    }
    if let (Some(before), None) = (before, after) {
        left_groups(registry, store, &mut planned, kind, text(before, "id"))?;
    }
    Ok(planned)
}

/// A deleted resource leaves every group it was in: each connector that the group goes to gets
/// a job for the group carrying the removal, whether it has delivered the group yet or not (a
/// create in flight carried the member; only a later job tells the target it left).
fn left_groups(
    registry: &Registry,
    store: &dyn Store,
    planned: &mut Planned,
    kind: ResourceKind,
    member_id: &str,
) -> Result<(), StoreError> {
    let routes = registry.routes(ResourceKind::Group);
    if routes.is_empty() {
        return Ok(());
    }
    let removal = crate::model::MemberDelta {
        added: Vec::new(),
        removed: vec![crate::model::MemberRef {
            id: member_id.to_owned(),
            kind,
        }],
    };
    for group in store.groups_of(member_id)? {
        let row = serde_json::json!({"id": group.group_id, "displayName": group.display});
        for (name, _) in routes.iter().filter(|(_, s)| s.admits_group(&row)) {
            planned.scoped.push(ScopedJob {
                connector: name.clone(),
                kind: ResourceKind::Group,
                id: group.group_id.clone(),
                operation: Operation::Replace,
                members: Some(removal.clone()),
            });
        }
    }
    Ok(())
}

/// Judges every user that the group's change added to or removed from a role group of
/// connector `name`.
fn moved_members(
    store: &dyn Store,
    planned: &mut Planned,
    (name, scope): (&str, &Scope),
    group_id: &str,
    states: States<'_>,
) -> Result<(), StoreError> {
    let States {
        before,
        after,
        edit,
    } = states;
    let named = |group: Option<&Value>| {
        group.is_some_and(|g| scope.names_group(group_id, text(g, "displayName")))
    };
    if !named(before) && !named(after) {
        return Ok(());
    }
    // The user members of a whole group (or of the stored group, for a row).
    let listed = |group: &Value| -> Result<BTreeSet<String>, StoreError> {
        let whole;
        let group = match group.get("members") {
            Some(_) => group,
            None => {
                whole = store
                    .get(ResourceKind::Group, group_id)?
                    .unwrap_or(Value::Null);
                &whole
            }
        };
        Ok(group
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|m| text(m, "type") != "Group")
            .map(|m| text(m, "value").to_owned())
            .collect())
    };
    let (was_in, is_in) = match edit {
        None => (
            match before.filter(|b| named(Some(b))) {
                Some(b) => listed(b)?,
                None => BTreeSet::new(),
            },
            match after.filter(|a| named(Some(a))) {
                Some(a) if a.get("members").is_some() => listed(a)?,
                _ => BTreeSet::new(),
            },
        ),
        Some(edit) => edited_members(store, group_id, edit, (named(before), named(after)))?,
    };
    let membership = |group: Option<&Value>| Membership {
        group_id: group_id.to_owned(),
        display: group
            .map(|g| text(g, "displayName"))
            .unwrap_or_default()
            .to_owned(),
    };
    for user_id in was_in.symmetric_difference(&is_in) {
        let Some(user) = store.get(ResourceKind::User, user_id)? else {
            continue;
        };
        let others: Vec<Membership> = store
            .groups_of(user_id)?
            .into_iter()
            .filter(|m| m.group_id != group_id)
            .collect();
        let with = |member: bool, group: Option<&Value>| {
            let mut groups = others.clone();
            if member {
                groups.push(membership(group));
            }
            groups
        };
        let was = scope.admits_user(&user, &with(was_in.contains(user_id), before));
        let is = scope.admits_user(&user, &with(is_in.contains(user_id), after));
        if was != is {
            // Entering is a create, leaving a deprovision; both are jobs of the member.
            planned.judge(
                name,
                scope,
                (ResourceKind::User, user_id),
                (was, is),
                Operation::Replace,
            );
        }
    }
    Ok(())
}

/// The users an edit moves, as (were members, are members) sets restricted to them: the users
/// it names, looked up one by one, and (for a `clear`) every current member.
fn edited_members(
    store: &dyn Store,
    group_id: &str,
    edit: &MemberEdit,
    (was_named, is_named): (bool, bool),
) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
    let user = |m: &Value| text(m, "type") != "Group";
    let mut was = BTreeSet::new();
    if edit.clear {
        let whole = store
            .get(ResourceKind::Group, group_id)?
            .unwrap_or(Value::Null);
        for m in whole
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if user(m) {
                was.insert(text(m, "value").to_owned());
            }
        }
    }
    for id in &edit.remove {
        if let Some(m) = store.member(group_id, id)?.filter(user) {
            was.insert(text(&m, "value").to_owned());
        }
    }
    let mut is: BTreeSet<String> = was.clone();
    if edit.clear {
        is.clear();
    }
    for id in &edit.remove {
        is.remove(id);
    }
    for m in &edit.add {
        let id = text(m, "value");
        let stored = store.member(group_id, id)?;
        if stored.as_ref().is_some_and(|s| !user(s)) {
            continue;
        }
        if stored.is_some() && !edit.clear {
            was.insert(id.to_owned());
        }
        if stored.is_some() || store.get(ResourceKind::User, id)?.is_some() {
            is.insert(id.to_owned());
        }
    }
    if !was_named {
        was.clear();
    }
    if !is_named {
        is.clear();
    }
    Ok((was, is))
}
