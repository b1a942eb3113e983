//! Path resolution: what an attribute path names in a resource type's schemas, and the
//! [`AttrInfo`] answers (type, case-exactness, multiplicity, mutability) that filtering and PATCH
//! ask of a [`ResourceKind`].

use super::tables::find;
use super::{Attribute, Returned, Schema, Scope};
use crate::model::ResourceKind;
use crate::scim::attr::{AttrInfo, AttrPath, AttrType, Mutability};

/// What an [`AttrPath`] names.
#[derive(Clone, Copy)]
pub(super) enum Target {
    /// An attribute (or one of its sub-attributes) of `schema`.
    Attr {
        schema: &'static Schema,
        attr: &'static Attribute,
        sub: Option<&'static Attribute>,
    },
    /// A whole extension object (the bare extension URN).
    Extension(&'static Schema),
}

/// Resolve `path` against `kind`'s schemas. Tolerates parsers that leave the URN in `name` or
/// the sub-attribute after a dot in `name`.
pub(super) fn resolve(kind: ResourceKind, path: &AttrPath) -> Option<Target> {
    let mut urn = path.urn.as_deref();
    let mut name = path.name.as_str();
    let mut sub = path.sub.as_deref();
    if urn.is_none()
        && let Some((u, n)) = name.rsplit_once(':')
    {
        urn = Some(u);
        name = n;
    }
    if sub.is_none()
        && let Some((n, s)) = name.split_once('.')
    {
        name = n;
        sub = Some(s);
    }
    if sub.is_none() {
        let whole = match urn {
            Some(u) => format!("{u}:{name}"),
            None => name.to_owned(),
        };
        if let Some(ext) = kind.extension(&whole) {
            return Some(Target::Extension(ext));
        }
    }
    let scope = match urn {
        None => kind.core_scope(),
        Some(u) if u.eq_ignore_ascii_case(kind.core_schema()) => kind.core_scope(),
        Some(u) => Scope {
            schema: kind.extension(u)?,
            core: false,
        },
    };
    let attr = scope.find(name)?;
    let sub = match sub {
        Some(s) => Some(find(attr.sub_attributes, s)?),
        None => None,
    };
    Some(Target::Attr {
        schema: scope.schema,
        attr,
        sub,
    })
}

/// The top-level attribute a path names and, when it names one, the sub-attribute.
fn resolve_attr(
    kind: ResourceKind,
    path: &AttrPath,
) -> Option<(&'static Attribute, Option<&'static Attribute>)> {
    match resolve(kind, path)? {
        Target::Attr { attr, sub, .. } => Some((attr, sub)),
        Target::Extension(_) => None,
    }
}

impl AttrInfo for ResourceKind {
    fn attr_type(&self, path: &AttrPath) -> Option<AttrType> {
        let (attr, sub) = resolve_attr(*self, path)?;
        Some(sub.unwrap_or(attr).kind)
    }

    /// The table's `caseExact`; references and binary values always compare exactly
    /// (RFC 7643 sections 2.3.6 and 2.3.7), even where section 8.7.1 lists `caseExact: false`.
    fn case_exact(&self, path: &AttrPath) -> bool {
        resolve_attr(*self, path).is_some_and(|(attr, sub)| {
            let a = sub.unwrap_or(attr);
            a.case_exact || matches!(a.kind, AttrType::Reference | AttrType::Binary)
        })
    }

    fn multi_valued(&self, path: &AttrPath) -> bool {
        resolve_attr(*self, path).is_some_and(|(attr, _)| attr.multi_valued)
    }

    fn never_returned(&self, path: &AttrPath) -> bool {
        resolve_attr(*self, path).is_some_and(|(attr, sub)| {
            attr.returned == Returned::Never || sub.is_some_and(|s| s.returned == Returned::Never)
        })
    }

    /// A sub-attribute of a read-only attribute is read-only whatever its own entry says.
    fn mutability(&self, path: &AttrPath) -> Option<Mutability> {
        let (attr, sub) = resolve_attr(*self, path)?;
        Some(match sub {
            Some(_) if attr.mutability == Mutability::ReadOnly => Mutability::ReadOnly,
            Some(sub) => sub.mutability,
            None => attr.mutability,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::tests::path;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

    #[test]
    fn attr_info_case_exactness() {
        let u = ResourceKind::User;
        assert!(!u.case_exact(&path("userName")));
        assert!(!u.case_exact(&path("USERNAME")));
        assert!(u.case_exact(&path("externalId")));
        assert!(u.case_exact(&path("id")));
        assert!(!u.case_exact(&path("emails.value")));
        assert!(u.case_exact(&path("x509Certificates.value")), "binary");
        assert!(u.case_exact(&path("profileUrl")), "reference");
        assert!(!u.case_exact(&path("nope")));
        let g = ResourceKind::Group;
        assert!(
            !g.case_exact(&path("members.value")),
            "RFC 8.7.1: caseExact false"
        );
        assert!(g.case_exact(&path("externalId")));
    }

    #[test]
    fn attr_info_types_and_multiplicity() {
        let u = ResourceKind::User;
        assert_eq!(
            u.attr_type(&path("meta.lastModified")),
            Some(AttrType::DateTime)
        );
        assert_eq!(u.attr_type(&path("meta.created")), Some(AttrType::DateTime));
        assert_eq!(u.attr_type(&path("active")), Some(AttrType::Boolean));
        assert_eq!(u.attr_type(&path("name")), Some(AttrType::Complex));
        assert_eq!(u.attr_type(&path("Name.GivenName")), Some(AttrType::String));
        assert_eq!(
            u.attr_type(&path(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value"))),
            Some(AttrType::String)
        );
        let upper = ENTERPRISE_USER_SCHEMA.to_uppercase();
        assert_eq!(
            u.attr_type(&path(&format!("{upper}:department"))),
            Some(AttrType::String)
        );
        assert_eq!(
            u.attr_type(&path(&format!("{USER_SCHEMA}:userName"))),
            Some(AttrType::String)
        );
        // URN left inside `name` by a lenient parser.
        let whole = AttrPath::new(format!("{USER_SCHEMA}:name.familyName"));
        assert_eq!(u.attr_type(&whole), Some(AttrType::String));
        assert_eq!(
            u.attr_type(&path("department")),
            None,
            "extension needs its URN"
        );
        assert_eq!(
            u.attr_type(&path(&format!("{GROUP_SCHEMA}:userName"))),
            None
        );
        assert_eq!(u.attr_type(&path("emails.nope")), None);
        assert_eq!(u.attr_type(&path(ENTERPRISE_USER_SCHEMA)), None);
        assert!(u.multi_valued(&path("emails")));
        assert!(u.multi_valued(&path("emails.value")));
        assert!(!u.multi_valued(&path("name.givenName")));
        assert!(!u.multi_valued(&path("nope")));
        let g = ResourceKind::Group;
        assert!(g.multi_valued(&path("members")));
        assert_eq!(g.attr_type(&path("externalId")), Some(AttrType::String));
        assert_eq!(g.attr_type(&path("userName")), None);
    }

    #[test]
    fn attr_info_mutability() {
        let u = ResourceKind::User;
        assert_eq!(u.mutability(&path("id")), Some(Mutability::ReadOnly));
        assert_eq!(
            u.mutability(&path("externalId")),
            Some(Mutability::ReadWrite)
        );
        assert_eq!(
            u.mutability(&path("meta.version")),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(u.mutability(&path("password")), Some(Mutability::WriteOnly));
        assert_eq!(
            u.mutability(&path("groups.value")),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(
            u.mutability(&path(&format!(
                "{ENTERPRISE_USER_SCHEMA}:manager.displayName"
            ))),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(u.mutability(&path("bogus")), None);
        let g = ResourceKind::Group;
        assert_eq!(g.mutability(&path("members")), Some(Mutability::ReadWrite));
        assert_eq!(
            g.mutability(&path("members.value")),
            Some(Mutability::Immutable)
        );
    }
}
