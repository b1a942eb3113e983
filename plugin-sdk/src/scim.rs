//! Typed SCIM 2.0 resources (RFC 7643): [`User`] and [`Group`].
//!
//! The common attributes are fields; everything else (extension schemas such as the enterprise
//! user, attributes this model does not name) is kept in `extra`, so a resource survives a
//! parse-and-serialise round trip.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The core User schema's URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema's URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A SCIM user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The schemas the resource uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// The gateway's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The provisioning client's id for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The unique login name.
    #[serde(default)]
    pub user_name: String,
    /// The name's components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// The name to display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The casual name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// The job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The kind of user (`Employee`, `Contractor`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// The preferred language (`en-US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// The locale (`en-US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The time zone (`Europe/Paris`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Whether the user may log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<MultiValued>,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<MultiValued>,
    /// The groups the user is in (read-only, maintained by the gateway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRef>,
    /// The resource's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Every other attribute, extension schemas included, by name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// The primary e-mail address, or else the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str())
    }
}

/// A user's name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// The full name, formatted for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// The family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// The given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// The middle name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// The honorific prefix (`Ms.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    /// The honorific suffix (`III`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
}

/// One value of a multi-valued attribute (an e-mail address, a phone number).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiValued {
    /// The value.
    #[serde(default)]
    pub value: String,
    /// Its label (`work`, `home`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether it is the preferred one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// A human-readable form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A group a user is in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group's gateway id.
    #[serde(default)]
    pub value: String,
    /// The group's URI.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The group's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// `direct` or `indirect`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A SCIM group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The schemas the resource uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// The gateway's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The provisioning client's id for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The group's name.
    #[serde(default)]
    pub display_name: String,
    /// The members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// The resource's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Every other attribute, extension schemas included, by name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A group's member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The member's gateway id; [`crate::remote_id`] translates it into the target's.
    #[serde(default)]
    pub value: String,
    /// The member's URI.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `User` or `Group`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The member's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Member {
    /// The member's resource type: its `type`, `User` if absent.
    pub fn resource_type(&self) -> &str {
        self.kind.as_deref().unwrap_or("User")
    }
}

/// A resource's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `User` or `Group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Its URI at the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Its version (an ETag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_round_trips_with_extensions() {
        let json = serde_json::json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "u1",
            "userName": "bjensen",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "emails": [{ "value": "b@example.com", "type": "work", "primary": true }],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "7" },
            "x-custom": 1
        });
        let user: User = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(user.user_name, "bjensen");
        assert_eq!(user.primary_email(), Some("b@example.com"));
        assert_eq!(user.extra.len(), 2);
        assert_eq!(serde_json::to_value(&user).expect("serialises"), json);
    }

    #[test]
    fn group_members_default_to_users() {
        let group: Group = serde_json::from_value(serde_json::json!({
            "displayName": "Admins",
            "members": [{ "value": "u1" }, { "value": "g2", "type": "Group" }]
        }))
        .expect("parses");
        let types: Vec<_> = group.members.iter().map(Member::resource_type).collect();
        assert_eq!(types, ["User", "Group"]);
    }
}
