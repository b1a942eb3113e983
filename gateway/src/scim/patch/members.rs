//! A group's PATCH split into what it does to `members` and everything else, so that a
//! membership change is applied to the changed members only (the store keeps a record per
//! member) instead of to the whole member list.
//!
//! The forms Entra ID, Okta and the RFC's examples use are recognised: `add` of `members`
//! (an array or one object, with a path or inside a path-less value), `remove` of
//! `members[value eq "…"]` (an `or` of such comparisons too), `remove` of `members` with a
//! value listing the members to remove (Entra) or without one (all of them), and `replace` of
//! `members` (all of them, by the list given). Anything else that touches `members`
//! (`members[value eq "x"].display`, a filter on another sub-attribute) is not split: the
//! caller applies the whole PATCH to the whole group, as for any other resource.

use serde_json::{Map, Value};

use super::{OpKind, PatchOp};
use crate::scim::ScimError;
use crate::scim::filter::{CompareOp, Filter, Literal};

/// The core Group schema URN, which may qualify `members` in a path.
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A change to some of a group's members: what a PATCH does to them, netted in the order of
/// its operations, and what the store applies (`store::WriteOp::Members`). Applied in this
/// order: `clear`, `remove`, `add`; the split never puts one id in both lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberEdit {
    /// Remove every current member first (a `replace` of `members`, or a `remove` of them all).
    pub clear: bool,
    /// Members to add, each an object with a string `value` (and `type`, `display` if the
    /// client gave them): checked by the store to exist; one already there keeps its place and
    /// takes a given `display`.
    pub add: Vec<Value>,
    /// Ids of members to remove; one not there is no error.
    pub remove: Vec<String>,
}

impl MemberEdit {
    /// Whether the PATCH named members at all.
    pub fn is_empty(&self) -> bool {
        !self.clear && self.add.is_empty() && self.remove.is_empty()
    }
}

fn member_id(m: &Value) -> &str {
    m.get("value").and_then(Value::as_str).unwrap_or_default()
}

/// Splits a group's operations into the ones that do not touch members and the change they
/// make to members. `None`: some operation touches members in a form that is not split.
///
/// Linear in the operations and their values: the netting keeps a position per id.
pub fn split(ops: &[PatchOp]) -> Result<Option<(Vec<PatchOp>, MemberEdit)>, ScimError> {
    let mut others = Vec::new();
    let mut change = Netted::default();
    for op in ops {
        match &op.path {
            Some(path) if names_members(&path.attr) => {
                let Some(step) = member_step(op)? else {
                    return Ok(None);
                };
                change.apply(step);
            }
            Some(_) => others.push(op.clone()),
            None => {
                let Some(Value::Object(map)) = &op.value else {
                    others.push(op.clone());
                    continue;
                };
                let key = map.keys().find(|k| {
                    k.eq_ignore_ascii_case("members")
                        || k.eq_ignore_ascii_case(&format!("{GROUP_SCHEMA}:members"))
                });
                let Some(key) = key.cloned() else {
                    others.push(op.clone());
                    continue;
                };
                let mut rest: Map<String, Value> = map.clone();
                let members = rest.remove(&key).unwrap_or(Value::Null);
                let step = match op.op {
                    OpKind::Add => Step::Add(member_list(members)?),
                    OpKind::Replace => Step::Replace(member_list(members)?),
                    OpKind::Remove => return Ok(None),
                };
                change.apply(step);
                if !rest.is_empty() {
                    others.push(PatchOp {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    });
                }
            }
        }
    }
    Ok(Some((others, change.finish())))
}

/// One operation's effect on members.
enum Step {
    Add(Vec<Value>),
    Remove(Vec<String>),
    Clear,
    Replace(Vec<Value>),
}

/// The change so far, with an index per id so that netting stays linear.
#[derive(Default)]
struct Netted {
    clear: bool,
    /// id → its add, in order of first mention (`None`: a later remove cancelled it).
    add: Vec<Option<Value>>,
    add_at: std::collections::HashMap<String, usize>,
    remove: Vec<Option<String>>,
    remove_at: std::collections::HashMap<String, usize>,
}

impl Netted {
    fn apply(&mut self, step: Step) {
        match step {
            Step::Clear => {
                *self = Netted {
                    clear: true,
                    ..Netted::default()
                }
            }
            Step::Replace(list) => {
                self.apply(Step::Clear);
                self.apply(Step::Add(list));
            }
            Step::Add(list) => {
                for m in list {
                    let id = member_id(&m).to_owned();
                    if let Some(i) = self.remove_at.remove(&id) {
                        self.remove[i] = None;
                    }
                    match self.add_at.get(&id) {
                        Some(&i) => self.add[i] = Some(m),
                        None => {
                            self.add_at.insert(id, self.add.len());
                            self.add.push(Some(m));
                        }
                    }
                }
            }
            Step::Remove(ids) => {
                for id in ids {
                    if let Some(i) = self.add_at.remove(&id) {
                        self.add[i] = None;
                    }
                    if !self.remove_at.contains_key(&id) {
                        self.remove_at.insert(id.clone(), self.remove.len());
                        self.remove.push(Some(id));
                    }
                }
            }
        }
    }

    fn finish(self) -> MemberEdit {
        MemberEdit {
            clear: self.clear,
            add: self.add.into_iter().flatten().collect(),
            remove: self.remove.into_iter().flatten().collect(),
        }
    }
}

/// Whether a path's attribute is the group's `members` (with no sub-attribute).
fn names_members(attr: &crate::scim::attr::AttrPath) -> bool {
    attr.name.eq_ignore_ascii_case("members")
        && attr
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

/// What an operation whose path is `members` (or `members[…]`) does, if it is a split form.
fn member_step(op: &PatchOp) -> Result<Option<Step>, ScimError> {
    let Some(path) = &op.path else {
        return Ok(None);
    };
    if path.sub.is_some() || path.attr.sub.is_some() {
        return Ok(None);
    }
    match (op.op, &path.filter) {
        (OpKind::Remove, Some(filter)) => Ok(value_ids(filter).map(Step::Remove)),
        (_, Some(_)) => Ok(None),
        (OpKind::Add, None) => Ok(Some(Step::Add(member_list(
            op.value.clone().unwrap_or(Value::Null),
        )?))),
        (OpKind::Replace, None) => Ok(Some(Step::Replace(member_list(
            op.value.clone().unwrap_or(Value::Null),
        )?))),
        (OpKind::Remove, None) => match &op.value {
            None | Some(Value::Null) => Ok(Some(Step::Clear)),
            Some(v) => {
                let ids = member_list(v.clone())?
                    .iter()
                    .map(|m| member_id(m).to_owned())
                    .collect();
                Ok(Some(Step::Remove(ids)))
            }
        },
    }
}

/// The ids a filter of `value eq "…"` comparisons joined by `or` names.
fn value_ids(filter: &Filter) -> Option<Vec<String>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::String(id),
        } if path.is("value") => Some(vec![id.clone()]),
        Filter::Or(a, b) => {
            let mut ids = value_ids(a)?;
            ids.extend(value_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// Members as a client sent them: an array of objects, or one object; `null` is none. Each
/// needs a string `value`.
fn member_list(value: Value) -> Result<Vec<Value>, ScimError> {
    let list = match value {
        Value::Null => Vec::new(),
        Value::Array(list) => list,
        one @ Value::Object(_) => vec![one],
        other => {
            return Err(ScimError::bad_request(
                "invalidValue",
                format!("members must be objects with a 'value', not {other}"),
            ));
        }
    };
    for m in &list {
        match m.get("value") {
            Some(Value::String(_)) => {}
            _ => {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("every member needs a string 'value': {m}"),
                ));
            }
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::patch::parse_request;

    fn split_of(ops: Value) -> Option<(Vec<PatchOp>, MemberEdit)> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": ops,
        });
        split(&parse_request(&body).unwrap()).unwrap()
    }

    #[test]
    fn entra_and_okta_forms_split_and_net_in_order() {
        let (others, change) = split_of(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "u3"}]},
            {"op": "replace", "path": "displayName", "value": "G2"},
            {"op": "add", "value": {"members": [{"value": "u3"}], "externalId": "x"}},
        ]))
        .unwrap();
        assert_eq!(others.len(), 2);
        assert_eq!(
            change.add,
            vec![json!({"value": "u1"}), json!({"value": "u3"})]
        );
        assert_eq!(change.remove, vec!["u2".to_owned()]);
        assert!(!change.clear);
    }

    #[test]
    fn replace_and_remove_all_clear_first() {
        let (_, change) = split_of(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "replace", "path": "members", "value": [{"value": "u9"}]},
        ]))
        .unwrap();
        assert!(change.clear);
        assert_eq!(change.add, vec![json!({"value": "u9"})]);
        let (_, change) = split_of(json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(change.clear && change.add.is_empty());
    }

    #[test]
    fn other_member_paths_are_not_split() {
        assert!(
            split_of(
                json!([{"op": "replace", "path": "members[value eq \"u1\"].display", "value": "x"}])
            )
            .is_none()
        );
        assert!(split_of(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])).is_none());
    }

    #[test]
    fn a_member_without_a_value_is_refused() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"display": "x"}]}],
        });
        let e = split(&parse_request(&body).unwrap()).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
    }
}
