//! Who goes where: a connector's scope beyond its resource types, and the delivery jobs a change
//! causes as users enter or leave it.
//!
//! A scope has two optional conditions on users: *role-based* (a direct member of one of the
//! named groups, by id or `displayName`) and *rule-based* (a SCIM filter over the user, e.g.
//! `department eq "Sales" and active eq true`). A user in scope is provisioned; a user leaving
//! scope is deprovisioned there (deleted, or deactivated: sent with `active: false`). With a
//! role condition only the named groups themselves are delivered (members of other groups are
//! not there to be listed).
//!
//! # Why transitions, not states
//! Every change is judged before and after: a user who was out and is now in gets a *create*,
//! in and still in a *replace*, in and now out a *deprovision*, out and still out nothing. A
//! group's membership change is judged the same way for each member it added or removed, so
//! adding a user to a scoping group provisions them and removing them deprovisions them.

use serde_json::Value;

pub use crate::config::{Deprovision, ScopeConfig};
use crate::model::{Operation, ResourceKind};
use crate::scim::filter::{self, Filter};
use crate::store::Membership;

/// A compiled scope. The default admits everything.
#[derive(Debug, Default)]
pub struct Scope {
    /// Role condition: group ids or lower-cased `displayName`s; empty means none.
    groups: Vec<String>,
    /// Rule condition.
    filter: Option<Filter>,
    /// What leaving scope means.
    pub deprovision: Deprovision,
}

impl Scope {
    /// Compiles a configured scope; the filter must parse and name only User attributes.
    pub fn compile(c: &ScopeConfig) -> Result<Self, String> {
        let filter = match &c.filter {
            Some(text) => {
                let f = filter::parse(text).map_err(|e| format!("scope filter: {}", e.0))?;
                f.validate(&ResourceKind::User)
                    .map_err(|e| format!("scope filter: {}", e.0))?;
                Some(f)
            }
            None => None,
        };
        Ok(Self {
            groups: c.groups.iter().map(|g| g.to_lowercase()).collect(),
            filter,
            deprovision: c.deprovision,
        })
    }

    /// Whether the group with this id and name is one of the role groups.
    pub fn names_group(&self, id: &str, display: &str) -> bool {
        let display = display.to_lowercase();
        self.groups
            .iter()
            .any(|g| g == &display || g.eq_ignore_ascii_case(id))
    }

    /// Whether a user with these memberships is in scope.
    pub fn admits_user(&self, user: &Value, groups: &[Membership]) -> bool {
        let role = self.groups.is_empty()
            || groups
                .iter()
                .any(|m| self.names_group(&m.group_id, &m.display));
        role && self
            .filter
            .as_ref()
            .is_none_or(|f| f.matches(user, &ResourceKind::User))
    }

    /// Whether a group is delivered: every group without a role condition, else the named ones.
    pub fn admits_group(&self, group: &Value) -> bool {
        self.groups.is_empty() || self.names_group(text(group, "id"), text(group, "displayName"))
    }

    /// Whether a group's membership decides who is in scope.
    pub fn has_role_condition(&self) -> bool {
        !self.groups.is_empty()
    }

    /// The job for a resource judged in scope `before` and `after` a change, if any.
    pub fn transition(&self, kind: ResourceKind, before: bool, after: bool) -> Option<Operation> {
        match (before, after) {
            (false, true) => Some(Operation::Create),
            (true, true) => Some(Operation::Replace),
            (true, false) => Some(match (kind, self.deprovision) {
                (ResourceKind::User, Deprovision::Deactivate) => Operation::Deactivate,
                _ => Operation::Delete,
            }),
            (false, false) => None,
        }
    }
}

/// The string `key` of a JSON object, or `""`.
pub(super) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(groups: &[&str], filter: Option<&str>) -> Scope {
        Scope::compile(&ScopeConfig {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            filter: filter.map(str::to_owned),
            deprovision: Deprovision::Deactivate,
        })
        .expect("valid scope")
    }

    fn member_of(id: &str, display: &str) -> Vec<Membership> {
        vec![Membership {
            group_id: id.into(),
            display: display.into(),
        }]
    }

    #[test]
    fn role_and_rule_conditions_both_apply() {
        let s = scope(
            &["Sales"],
            Some(r#"department eq "EMEA" and active eq true"#),
        );
        let ann = json!({"userName": "ann", "active": true, "department": "EMEA"});
        assert!(s.admits_user(&ann, &member_of("g1", "sales")));
        assert!(
            !s.admits_user(&ann, &member_of("g2", "Support")),
            "not in a role group"
        );
        assert!(!s.admits_user(&ann, &[]));
        let inactive = json!({"userName": "ann", "active": false, "department": "EMEA"});
        assert!(
            !s.admits_user(&inactive, &member_of("g1", "Sales")),
            "rule fails"
        );
        let by_id = scope(&["g9"], None);
        assert!(by_id.admits_user(&ann, &member_of("g9", "whatever")));
        assert!(by_id.admits_group(&json!({"id": "g9", "displayName": "x"})));
        assert!(!by_id.admits_group(&json!({"id": "g8", "displayName": "x"})));
        assert!(Scope::default().admits_user(&ann, &[]));
    }

    #[test]
    fn transitions_create_replace_and_deprovision() {
        let s = scope(&[], None);
        assert_eq!(
            s.transition(ResourceKind::User, false, true),
            Some(Operation::Create)
        );
        assert_eq!(
            s.transition(ResourceKind::User, true, true),
            Some(Operation::Replace)
        );
        assert_eq!(
            s.transition(ResourceKind::User, true, false),
            Some(Operation::Deactivate)
        );
        assert_eq!(
            s.transition(ResourceKind::Group, true, false),
            Some(Operation::Delete)
        );
        assert_eq!(s.transition(ResourceKind::User, false, false), None);
    }

    #[test]
    fn a_bad_filter_is_refused_with_its_reason() {
        let bad = Scope::compile(&ScopeConfig {
            filter: Some("department eq".into()),
            ..ScopeConfig::default()
        });
        assert!(bad.is_err_and(|e| e.starts_with("scope filter")));
        let unordered = Scope::compile(&ScopeConfig {
            filter: Some("active gt true".into()),
            ..ScopeConfig::default()
        });
        assert!(unordered.is_err(), "booleans have no order");
    }
}
