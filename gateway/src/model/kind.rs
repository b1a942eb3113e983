//! The resource types the gateway serves.

/// The resource types the gateway serves. What the SCIM schemas say about each (core schema,
/// extensions, attributes) is added by `scim::schema`, which owns those tables.
/// Serialized as its [`name`](ResourceKind::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ResourceKind {
    /// A user account (`/Users`).
    User,
    /// A group of users (`/Groups`).
    Group,
}

/// Every resource type, in listing order.
pub const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

impl ResourceKind {
    /// The resource type name: `meta.resourceType` and the ResourceType `id`.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint path segment, without a slash (`Users`, `Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "Users",
            Self::Group => "Groups",
        }
    }

    /// The kind named `name` (`User`, `Group`; exact), if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in KINDS {
            assert_eq!(ResourceKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ResourceKind::from_name("user"), None);
        assert_eq!(ResourceKind::Group.endpoint(), "Groups");
    }
}
