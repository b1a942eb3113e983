//! What a read of groups needs of their members, where members are kept apart from the group
//! (see `store`'s module docs): a response shows them unless the request leaves them out, and a
//! filter may name them. A filter that tests members only by id (`members[value eq "U"]`, the
//! membership check Entra ID sends, or `members.value eq "U"`) needs just those members, each
//! one point read; any other test of members needs them all.

use serde_json::Value;

use crate::scim::attr::AttrPath;
use crate::scim::filter::{CompareOp, Filter, Literal};
use crate::scim::list::ListQuery;
use crate::store::{Store, StoreError};

/// The core Group schema URN, which may qualify `members`.
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Whether `path` names the group's `members` (any sub-attribute).
fn is_members(path: &AttrPath) -> bool {
    path.name.eq_ignore_ascii_case("members")
        && path
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

/// Whether a response to `q` shows members.
pub(crate) fn shown(q: &ListQuery) -> bool {
    if !q.attributes.is_empty() {
        return q.attributes.iter().any(is_members);
    }
    !q.excluded.iter().any(|p| is_members(p) && p.sub.is_none())
}

/// Which members a filter looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Need {
    /// The filter does not name members.
    Nothing,
    /// Only the members with these ids.
    Ids(Vec<String>),
    /// All of them.
    All,
}

impl Need {
    fn and(self, other: Need) -> Need {
        match (self, other) {
            (Need::All, _) | (_, Need::All) => Need::All,
            (Need::Nothing, n) | (n, Need::Nothing) => n,
            (Need::Ids(mut a), Need::Ids(b)) => {
                a.extend(b);
                Need::Ids(a)
            }
        }
    }
}

/// The ids a filter over one member (`value eq "…"`, joined by `or`, or anded with anything)
/// confines it to; `None` if it does not.
fn member_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::String(id),
        } if path.is("value") => Some(vec![id.clone()]),
        Filter::Or(a, b) => {
            let mut ids = member_ids(a)?;
            ids.extend(member_ids(b)?);
            Some(ids)
        }
        Filter::And(a, b) => member_ids(a).or_else(|| member_ids(b)),
        _ => None,
    }
}

/// Which members `f` looks at.
pub(crate) fn needed(f: &Filter) -> Need {
    match f {
        Filter::Compare { path, op, value } if is_members(path) => {
            match (path.sub.as_deref(), op, value) {
                (Some(sub), CompareOp::Eq, Literal::String(id))
                    if sub.eq_ignore_ascii_case("value") =>
                {
                    Need::Ids(vec![id.clone()])
                }
                _ => Need::All,
            }
        }
        Filter::Compare { .. } => Need::Nothing,
        Filter::Present(path) if is_members(path) => Need::All,
        Filter::Present(_) => Need::Nothing,
        Filter::ValuePath { path, filter } if is_members(path) => {
            member_ids(filter).map_or(Need::All, Need::Ids)
        }
        Filter::ValuePath { .. } => Need::Nothing,
        Filter::And(a, b) | Filter::Or(a, b) => needed(a).and(needed(b)),
        // Each id test asks whether a member with that id exists, which the members with
        // those ids answer exactly, negated or not.
        Filter::Not(inner) => needed(inner),
        #[allow(unreachable_patterns)]
        _ => Need::All,
    }
}

/// `group` (a row) with the members `need` names, for a filter to look at.
pub(crate) fn for_filter(
    store: &dyn Store,
    mut group: Value,
    need: &Need,
) -> Result<Value, StoreError> {
    match need {
        Need::Nothing => Ok(group),
        Need::All => store.with_members(group),
        Need::Ids(ids) => {
            let id = group
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut found = Vec::new();
            for member in ids {
                if let Some(m) = store.member(&id, member)? {
                    found.push(m);
                }
            }
            if let (false, Some(obj)) = (found.is_empty(), group.as_object_mut()) {
                obj.insert("members".into(), Value::Array(found));
            }
            Ok(group)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;
    use crate::scim::list::parse_attr_list;

    #[test]
    fn the_entra_membership_check_needs_one_member() {
        let f = parse(r#"id eq "G" and members[value eq "U"]"#).unwrap();
        assert_eq!(needed(&f), Need::Ids(vec!["U".into()]));
        let f = parse(r#"members.value eq "U" or members.value eq "V""#).unwrap();
        assert_eq!(needed(&f), Need::Ids(vec!["U".into(), "V".into()]));
        assert_eq!(
            needed(&parse(r#"displayName eq "x""#).unwrap()),
            Need::Nothing
        );
        assert_eq!(
            needed(&parse(r#"members[display co "x"]"#).unwrap()),
            Need::All
        );
        let f = parse(r#"not (members[value eq "U"])"#).unwrap();
        assert_eq!(needed(&f), Need::Ids(vec!["U".into()]));
    }

    #[test]
    fn members_are_shown_unless_left_out() {
        let mut q = ListQuery::default();
        assert!(shown(&q));
        q.excluded = parse_attr_list("members").unwrap();
        assert!(!shown(&q));
        q.excluded = parse_attr_list("members.display").unwrap();
        assert!(shown(&q));
        q.excluded.clear();
        q.attributes = parse_attr_list("displayName").unwrap();
        assert!(!shown(&q));
        q.attributes = parse_attr_list("members.value").unwrap();
        assert!(shown(&q));
    }
}
