//! Attribute paths (`userName`, `name.familyName`, `urn:…:enterprise:2.0:User:employeeNumber`)
//! and the schema facts that filtering and PATCH need about them.
//!
//! The filter parser, the PATCH engine and the projection of `attributes` all speak in
//! [`AttrPath`]; the schema registry answers [`AttrInfo`] about a path. Keeping this interface in
//! its own small module lets filter, PATCH and schema code evolve without depending on each other.

use std::fmt;

/// A SCIM attribute path: an optional schema URN, an attribute name and an optional sub-attribute.
///
/// Names keep the case they were written in; SCIM attribute names are case-insensitive, so
/// compare them with [`AttrPath::is`] or `eq_ignore_ascii_case`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN the path was qualified with, as written (for example
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`), if any.
    pub urn: Option<String>,
    /// Top-level attribute name, as written.
    pub name: String,
    /// Sub-attribute name (`familyName` in `name.familyName`), if any.
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path to a top-level attribute of the core schema.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// True when this path names `name` (case-insensitively) with no sub-attribute and no URN.
    pub fn is(&self, name: &str) -> bool {
        self.urn.is_none() && self.sub.is_none() && self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// The SCIM data types of RFC 7643 section 2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 timestamp, compared as a point in time.
    DateTime,
    /// Base64 data; always compared case-exactly.
    Binary,
    /// A URI; always compared case-exactly.
    Reference,
    /// An attribute with sub-attributes.
    Complex,
}

/// When an attribute may be written (RFC 7643 section 2.2, `mutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only; ignored on input, an error to PATCH.
    ReadOnly,
    /// May be written at any time.
    ReadWrite,
    /// May be set once (on create, or when still unassigned) and never changed.
    Immutable,
    /// May be written but is never returned.
    WriteOnly,
}

/// What a schema knows about an attribute path, as filtering and PATCH need it.
///
/// `path` may name a sub-attribute; an implementation resolves the URN (core or extension) and
/// the attribute names case-insensitively. Unknown paths answer `None`.
pub trait AttrInfo {
    /// The attribute's type, or `None` when the schema does not define the path.
    fn attr_type(&self, path: &AttrPath) -> Option<AttrType>;
    /// Whether string comparisons on this attribute are case-sensitive (`caseExact`).
    fn case_exact(&self, path: &AttrPath) -> bool;
    /// Whether the attribute is multi-valued (for a sub-attribute path: whether its parent is).
    fn multi_valued(&self, path: &AttrPath) -> bool;
    /// The attribute's mutability, or `None` when the schema does not define the path.
    fn mutability(&self, path: &AttrPath) -> Option<Mutability>;
    /// Whether the attribute (or, for a sub-attribute, its parent) is `returned: never`
    /// (`password`): it may be written, but never read back, filtered or sorted by.
    fn never_returned(&self, _path: &AttrPath) -> bool {
        false
    }
}
