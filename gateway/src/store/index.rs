//! Which attributes are indexed, and the index keys a resource has.
//!
//! Case-insensitive attributes (`emails.value`, Group `displayName`) are indexed by their
//! [`caseless`] form (NFKC and case folding), `userName` by its [`identity_key`] (the same,
//! without surrounding white space: what makes it unique); `externalId` is case-exact and
//! indexed as written. A lookup normalises its value the same way, so the index answers what an
//! `eq` filter asks.

use serde_json::Value;

use crate::model::ResourceKind;
use crate::scim::text::{caseless, identity_key};

/// An indexed attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// `User.userName` (unique, case-insensitive).
    UserName,
    /// `externalId` (case-exact).
    ExternalId,
    /// `User.emails.value` (case-insensitive).
    Email,
    /// `Group.displayName` (case-insensitive).
    DisplayName,
}

impl Index {
    /// The indexes a kind has.
    pub fn for_kind(kind: ResourceKind) -> &'static [Index] {
        match kind {
            ResourceKind::User => &[Index::UserName, Index::ExternalId, Index::Email],
            ResourceKind::Group => &[Index::DisplayName, Index::ExternalId],
        }
    }

    /// The index key for a value of this attribute.
    pub fn normalise(self, value: &str) -> String {
        match self {
            Index::ExternalId => value.to_owned(),
            Index::UserName => identity_key(value),
            Index::Email | Index::DisplayName => caseless(value).into_owned(),
        }
    }

    /// The keys `resource` has in this index.
    pub fn keys(self, resource: &Value) -> Vec<String> {
        let strings: Vec<&str> = match self {
            Index::UserName => resource
                .get("userName")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
            Index::ExternalId => resource
                .get("externalId")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
            Index::DisplayName => resource
                .get("displayName")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
            Index::Email => resource
                .get("emails")
                .and_then(Value::as_array)
                .map(|emails| {
                    emails
                        .iter()
                        .filter_map(|e| e.get("value").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut keys: Vec<String> = strings.into_iter().map(|s| self.normalise(s)).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The ids of the members a group resource lists.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group
        .get("members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_normalised_and_deduplicated() {
        let user = json!({"userName": "Ann@Example.com", "externalId": "AbC",
            "emails": [{"value": "A@x.org"}, {"value": "a@X.org"}, {"type": "work"}]});
        assert_eq!(Index::UserName.keys(&user), vec!["ann@example.com"]);
        assert_eq!(Index::ExternalId.keys(&user), vec!["AbC"]);
        assert_eq!(Index::Email.keys(&user), vec!["a@x.org"]);
        assert!(Index::DisplayName.keys(&user).is_empty());
    }
}
