//! Helpers on the contract's types: constructors, accessors and conversions.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::scim::{Group, User};
use crate::{
    ConfigKey, Delivered, DeliveryError, Descriptor, ErrorKind, Event, GroupChange, Member,
    Operation, Page,
};

/// The value of `key` in a configuration, if it is there.
pub fn config_value<'a>(config: &'a [(String, String)], key: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Operation {
    /// The operation's name in the contract: `create`, `replace` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
        }
    }
}

impl Event {
    /// An event, for tests: `resource` is serialised to JSON; no remote id, changed paths or
    /// configuration (add them with the `with_*` methods).
    pub fn new(
        operation: Operation,
        resource_type: impl Into<String>,
        id: impl Into<String>,
        resource: &impl Serialize,
    ) -> Self {
        Event {
            operation,
            resource_type: resource_type.into(),
            id: id.into(),
            remote_id: None,
            resource: serde_json::to_string(resource).unwrap_or_else(|_| "{}".to_owned()),
            changed_paths: Vec::new(),
            config: Vec::new(),
        }
    }

    /// The event with a remote id.
    pub fn with_remote_id(mut self, remote_id: impl Into<String>) -> Self {
        self.remote_id = Some(remote_id.into());
        self
    }

    /// The event with one more configuration value.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// The event with the paths a `PATCH` changed.
    pub fn with_changed_paths<S: Into<String>>(
        mut self,
        paths: impl IntoIterator<Item = S>,
    ) -> Self {
        self.changed_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// The value of a configuration key, if it is set.
    pub fn config(&self, key: &str) -> Option<&str> {
        config_value(&self.config, key)
    }

    /// The value of a configuration key, or a permanent error naming it.
    pub fn require_config(&self, key: &str) -> Result<&str, DeliveryError> {
        self.config(key).ok_or_else(|| {
            DeliveryError::permanent(format!("configuration key `{key}` is not set"))
        })
    }

    /// The resource parsed into any type (a permanent error if it does not parse).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, DeliveryError> {
        serde_json::from_str(&self.resource).map_err(|e| {
            DeliveryError::permanent(format!(
                "{} {} does not parse: {e}",
                self.resource_type, self.id
            ))
        })
    }

    /// The resource as JSON.
    pub fn json(&self) -> Result<serde_json::Value, DeliveryError> {
        self.parse()
    }

    /// The resource as a [`User`] (a permanent error for another resource type).
    pub fn user(&self) -> Result<User, DeliveryError> {
        self.expect_type("User")?;
        self.parse()
    }

    /// The resource as a [`Group`] (a permanent error for another resource type).
    pub fn group(&self) -> Result<Group, DeliveryError> {
        self.expect_type("Group")?;
        self.parse()
    }

    fn expect_type(&self, expected: &str) -> Result<(), DeliveryError> {
        if self.resource_type == expected {
            Ok(())
        } else {
            Err(DeliveryError::permanent(format!(
                "expected a {expected}, got a {}",
                self.resource_type
            )))
        }
    }
}

impl Member {
    /// A member, for tests: `User` or `Group` and its gateway id.
    pub fn new(resource_type: impl Into<String>, id: impl Into<String>) -> Self {
        Member {
            resource_type: resource_type.into(),
            id: id.into(),
        }
    }
}

impl GroupChange {
    /// A change, for tests: the group (serialised to JSON) known at the target as `remote_id`,
    /// no members added or removed, no other paths, no configuration (add them with the `with_*`
    /// methods).
    pub fn new(
        id: impl Into<String>,
        remote_id: impl Into<String>,
        group: &impl Serialize,
    ) -> Self {
        GroupChange {
            id: id.into(),
            remote_id: remote_id.into(),
            group: serde_json::to_string(group).unwrap_or_else(|_| "{}".to_owned()),
            changed_paths: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            config: Vec::new(),
        }
    }

    /// The change with these members added.
    pub fn with_added(mut self, members: impl IntoIterator<Item = Member>) -> Self {
        self.added.extend(members);
        self
    }

    /// The change with these members removed.
    pub fn with_removed(mut self, members: impl IntoIterator<Item = Member>) -> Self {
        self.removed.extend(members);
        self
    }

    /// The change with the group's other attributes it set.
    pub fn with_changed_paths<S: Into<String>>(
        mut self,
        paths: impl IntoIterator<Item = S>,
    ) -> Self {
        self.changed_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// The change with one more configuration value.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// The value of a configuration key, if it is set.
    pub fn config(&self, key: &str) -> Option<&str> {
        config_value(&self.config, key)
    }

    /// The group (without `members`) as JSON (a permanent error if it does not parse).
    pub fn group_json(&self) -> Result<serde_json::Value, DeliveryError> {
        serde_json::from_str(&self.group)
            .map_err(|e| DeliveryError::permanent(format!("Group {} does not parse: {e}", self.id)))
    }
}

impl Delivered {
    /// A delivery result with the target's id and no version.
    pub fn new(remote_id: impl Into<String>) -> Self {
        Delivered {
            remote_id: remote_id.into(),
            remote_version: None,
        }
    }

    /// The result with the target's version tag.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.remote_version = Some(version.into());
        self
    }
}

impl DeliveryError {
    /// A failure that may go away: the gateway retries later.
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }

    /// A failure that will not go away: the gateway does not retry.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }
}

impl Default for Descriptor {
    fn default() -> Self {
        Descriptor::new()
    }
}

impl Descriptor {
    /// A descriptor with the crate's name and version (filled in by the export macro), `User` and
    /// `Group`, no configuration keys and no secrets.
    pub fn new() -> Self {
        Descriptor {
            name: String::new(),
            version: String::new(),
            resource_types: vec!["User".to_owned(), "Group".to_owned()],
            config_keys: Vec::new(),
            secret_names: Vec::new(),
        }
    }

    /// The descriptor with another name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The descriptor with another version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The descriptor with these resource types instead of `User` and `Group`.
    pub fn resource_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.resource_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// The descriptor with a required configuration key.
    pub fn required_config(self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.config_key(name.into(), description.into(), true)
    }

    /// The descriptor with an optional configuration key.
    pub fn optional_config(self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.config_key(name.into(), description.into(), false)
    }

    fn config_key(mut self, name: String, description: String, required: bool) -> Self {
        self.config_keys.push(ConfigKey {
            name,
            description,
            required,
        });
        self
    }

    /// The descriptor with a secret the connector uses through the host.
    pub fn secret(mut self, name: impl Into<String>) -> Self {
        self.secret_names.push(name.into());
        self
    }
}

impl Page {
    /// A page of resources serialised to JSON.
    pub fn of<T: Serialize>(total: u32, resources: &[T]) -> Result<Self, DeliveryError> {
        let resources = resources
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeliveryError::permanent(format!("cannot serialise a resource: {e}")))?;
        Ok(Page { total, resources })
    }
}
