//! SCIM schema definitions and everything the gateway does by schema.
//!
//! This module owns the User, Enterprise User and Group schemas of RFC 7643, their `/Schemas`
//! and `/ResourceTypes` representations, the [`AttrInfo`] answers that filtering and PATCH need,
//! the validation and normalisation of client input ([`prepare_input`]) and the shaping of
//! responses ([`project`]).
//!
//! The schemas are static data tables rather than code. One table drives discovery output,
//! attribute lookup, validation and projection, so what `/Schemas` advertises is exactly what the
//! gateway enforces, and changing a characteristic (a `mutability`, a `returned`) is a one-line
//! edit that every consumer picks up.
//!
//! Files: `tables.rs` holds the definition tables themselves, `declared.rs` the extension
//! schemas an admin declares (checked, then made the same data), `representation.rs` their
//! `/Schemas` and `/ResourceTypes` JSON, `resolve.rs` the resolution of attribute paths against
//! them and the [`AttrInfo`] answers, `input.rs` the validation and normalisation of client input
//! and `output.rs` the projection of stored resources. This file holds the schema URNs, the types
//! the tables are made of and what each [`ResourceKind`] is in schema terms.
//!
//! [`AttrInfo`]: super::attr::AttrInfo

use super::attr::{AttrType, Mutability};
use crate::model::ResourceKind;

mod declared;
mod input;
mod output;
mod representation;
mod resolve;
mod tables;

pub use declared::{AttributeDef, DeclareError, ExtensionDef, Registry, install};
pub use input::{SchemaError, UnknownAttributes, prepare_input};
pub use output::{never_returned, project, strip_never_returned};
pub use representation::{resource_type_json, schema_json};
pub use tables::schemas;

use tables::{COMMON, SCHEMAS};

/// URN of the core User schema (RFC 7643 section 4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the Enterprise User extension (RFC 7643 section 4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the core Group schema (RFC 7643 section 4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// What the schemas say about each resource type: its core schema and extensions. (The type
/// itself is the model's; its tables are here.)
impl ResourceKind {
    /// URN of the resource type's core schema.
    pub fn core_schema(self) -> &'static str {
        match self {
            Self::User => USER_SCHEMA,
            Self::Group => GROUP_SCHEMA,
        }
    }

    /// URNs of the schema extensions this resource type accepts: the built-in ones, then the
    /// declared ones.
    pub fn extensions(self) -> &'static [&'static str] {
        declared::registry().extensions(self)
    }

    /// Whether a stored resource of this type is its default response as it is: no declared
    /// attribute of it is returned only on request. Where not, every response is projected.
    pub fn served_as_stored(self) -> bool {
        declared::registry().served_as_stored(self)
    }

    /// Whether every resource of this type must carry the extension `urn`.
    pub fn extension_required(self, urn: &str) -> bool {
        declared::registry().required(urn)
    }

    fn description(self) -> &'static str {
        match self {
            Self::User => "User Account",
            Self::Group => "Group",
        }
    }

    /// The core schema definition.
    fn schema(self) -> &'static Schema {
        match self {
            Self::User => &SCHEMAS[0],
            Self::Group => &SCHEMAS[2],
        }
    }

    /// The core scope: the core schema's attributes plus the common ones.
    fn core_scope(self) -> Scope {
        Scope {
            schema: self.schema(),
            core: true,
        }
    }

    /// The extension scopes, in [`ResourceKind::extensions`] order.
    fn extension_scopes(self) -> impl Iterator<Item = Scope> {
        self.extensions()
            .iter()
            .filter_map(|urn| tables::schema_by_id(urn))
            .map(|schema| Scope {
                schema,
                core: false,
            })
    }

    /// The extension schema with this URN (case-insensitive), if the kind accepts it.
    fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extension_scopes()
            .map(|scope| scope.schema)
            .find(|schema| schema.id.eq_ignore_ascii_case(urn))
    }
}

/// `returned` (RFC 7643 section 2.4): when an attribute appears in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always returned, whatever `attributes` or `excludedAttributes` say.
    Always,
    /// Never returned (passwords).
    Never,
    /// Returned unless `attributes` leaves it out or `excludedAttributes` names it.
    Default,
    /// Returned only when `attributes` names it.
    Request,
}

impl Returned {
    fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

/// `uniqueness` (RFC 7643 section 2.4): the scope in which a value must be unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness constraint.
    None,
    /// Unique among this service provider's resources of the type.
    Server,
    /// Unique across all service providers.
    Global,
}

impl Uniqueness {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 section 7), as static data.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    /// Attribute name in its canonical case.
    pub name: &'static str,
    /// Data type.
    pub kind: AttrType,
    /// Whether the attribute holds a list of values.
    pub multi_valued: bool,
    /// Human-readable description.
    pub description: &'static str,
    /// Whether a resource must carry a value.
    pub required: bool,
    /// Whether string values compare case-sensitively.
    pub case_exact: bool,
    /// When the attribute may be written.
    pub mutability: Mutability,
    /// When the attribute is returned.
    pub returned: Returned,
    /// Uniqueness constraint on values.
    pub uniqueness: Uniqueness,
    /// Suggested values (for example `work`, `home` for a `type`); empty when none.
    pub canonical_values: &'static [&'static str],
    /// For references: the resource types or `external`/`uri` that a value may point to.
    pub reference_types: &'static [&'static str],
    /// For complex attributes: the sub-attributes; empty otherwise.
    pub sub_attributes: &'static [Attribute],
}

/// A schema definition (RFC 7643 section 7).
#[derive(Debug)]
pub struct Schema {
    /// Schema URN.
    pub id: &'static str,
    /// Short name (`User`, `EnterpriseUser`, `Group`).
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Top-level attributes; the common attributes `id`, `externalId` and `meta` are not listed
    /// (RFC 7643 section 3.1 defines them for every resource, as section 8.7.1 shows).
    pub attributes: &'static [Attribute],
}

// ---------------------------------------------------------------------------------------------

/// The attributes that live at one level of a resource: the core schema's (plus the common
/// ones) at the top level, or one extension's inside its URN-keyed object.
#[derive(Clone, Copy)]
struct Scope {
    schema: &'static Schema,
    /// Whether this is the core scope (includes `id`, `externalId`, `meta`).
    core: bool,
}

impl Scope {
    fn attrs(self) -> impl Iterator<Item = &'static Attribute> {
        let common: &'static [Attribute] = if self.core { &COMMON } else { &[] };
        common.iter().chain(self.schema.attributes)
    }

    fn find(self, name: &str) -> Option<&'static Attribute> {
        self.attrs().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// How to name an attribute of this scope in messages.
    fn path(self, name: &str) -> String {
        if self.core {
            name.to_owned()
        } else {
            format!("{}:{name}", self.schema.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::attr::AttrPath;

    /// An [`AttrPath`] as a path parser produces it (shared by the tests of `resolve` and
    /// `output`).
    pub(super) fn path(s: &str) -> AttrPath {
        // Mirror what a path parser produces: URN before the last colon, sub after a dot.
        let (urn, rest) = match s.rsplit_once(':') {
            Some((u, r)) => (Some(u.to_owned()), r),
            None => (None, s),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, sub)) => (n.to_owned(), Some(sub.to_owned())),
            None => (rest.to_owned(), None),
        };
        AttrPath { urn, name, sub }
    }

    #[test]
    fn resource_kind_basics() {
        assert_eq!(ResourceKind::User.name(), "User");
        assert_eq!(ResourceKind::Group.endpoint(), "Groups");
        assert_eq!(ResourceKind::Group.core_schema(), GROUP_SCHEMA);
        assert_eq!(ResourceKind::User.extensions(), [ENTERPRISE_USER_SCHEMA]);
        assert!(ResourceKind::Group.extensions().is_empty());
    }
}
