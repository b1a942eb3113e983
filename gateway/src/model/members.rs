//! A group's membership change as a delta: what the store records with a group's delivery job,
//! what the dispatcher coalesces, and what a connector that takes deltas receives.
//!
//! A delta is exact against the gateway's state at the commit that made it: `added` names only
//! members that were not in the group before, `removed` only members that were. Composing the
//! deltas of consecutive changes therefore only has to cancel opposite pairs ([`MemberDelta::then`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ResourceKind;

/// One member named in a [`MemberDelta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    /// The member's gateway id.
    pub id: String,
    /// What the member is: a user or a group.
    pub kind: ResourceKind,
}

impl MemberRef {
    /// The kind a group's member record names by its `type`: a user when it names none (RFC
    /// 7643 lets a client leave `type` out) or anything else.
    pub fn kind_of(member: &Value) -> ResourceKind {
        member
            .get("type")
            .and_then(Value::as_str)
            .and_then(ResourceKind::from_name)
            .unwrap_or(ResourceKind::User)
    }

    /// A group's member record (`{"value", "type"?, …}`), as a delta names it; `None` without
    /// a `value`.
    pub fn of(member: &Value) -> Option<MemberRef> {
        Some(MemberRef {
            id: member.get("value")?.as_str()?.to_owned(),
            kind: Self::kind_of(member),
        })
    }
}

/// The members a group's change added and removed, netted: no id is in both lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDelta {
    /// Members that joined.
    pub added: Vec<MemberRef>,
    /// Members that left.
    pub removed: Vec<MemberRef>,
}

impl MemberDelta {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// This delta followed by `next`: a member added here and removed there (or removed here
    /// and added back there) is netted out, since each delta is exact against the state it
    /// was committed on. Linear in the sizes of both.
    pub fn then(self, next: MemberDelta) -> MemberDelta {
        use std::collections::HashSet;
        let next_removed: HashSet<&str> = next.removed.iter().map(|m| m.id.as_str()).collect();
        let next_added: HashSet<&str> = next.added.iter().map(|m| m.id.as_str()).collect();
        let mut cancelled = HashSet::new();
        let mut added: Vec<MemberRef> = Vec::with_capacity(self.added.len() + next.added.len());
        for m in self.added {
            if next_removed.contains(m.id.as_str()) {
                cancelled.insert(m.id);
            } else {
                added.push(m);
            }
        }
        let mut removed: Vec<MemberRef> = Vec::with_capacity(self.removed.len());
        for m in self.removed {
            if next_added.contains(m.id.as_str()) {
                cancelled.insert(m.id);
            } else {
                removed.push(m);
            }
        }
        added.extend(
            next.added
                .into_iter()
                .filter(|m| !cancelled.contains(&m.id)),
        );
        removed.extend(
            next.removed
                .into_iter()
                .filter(|m| !cancelled.contains(&m.id)),
        );
        MemberDelta { added, removed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> MemberRef {
        MemberRef {
            id: id.into(),
            kind: ResourceKind::User,
        }
    }

    fn delta(added: &[&str], removed: &[&str]) -> MemberDelta {
        MemberDelta {
            added: added.iter().map(|id| user(id)).collect(),
            removed: removed.iter().map(|id| user(id)).collect(),
        }
    }

    #[test]
    fn opposite_changes_cancel_and_the_rest_keeps_its_order() {
        let a = delta(&["u1", "u2"], &["u9"]);
        let b = delta(&["u3", "u9"], &["u2"]);
        assert_eq!(a.then(b), delta(&["u1", "u3"], &[]));
        let c = delta(&["u1"], &[]).then(delta(&[], &["u1"]));
        assert!(c.is_empty());
    }
}
