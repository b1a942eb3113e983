//! SCIM PATCH (RFC 7644 section 3.5.2): parsing `PatchOp` request bodies and applying their
//! `add`, `remove` and `replace` operations to a resource.
//!
//! [`parse_request`] turns a body into [`PatchOp`]s whose paths are already parsed; [`apply`] runs
//! them in order on a plain JSON copy of the resource. The engine asks [`AttrInfo`] only what a
//! path means (defined? multi-valued? complex? readOnly?) and leaves type checks, `required`,
//! immutability and the `"True"`/`"False"` conversion to the schema layer, which validates the
//! result. Attribute names match case-insensitively and writes go into the key that already
//! exists. Extension attributes live under their schema URN key; any URN that does not start with
//! `urn:ietf:params:scim:schemas:core:` and is not the resource's first `schemas` entry is treated
//! as an extension. Value-path filters are parsed and evaluated by [`super::filter`]. Quirks of
//! real clients (Entra ID, Okta) are accepted wherever the intent is unambiguous; each is noted at
//! the function that handles it.

mod error;
mod json;
mod members;
mod remove;
mod request;
mod target;
mod write;

use std::fmt;

use serde_json::Value;

use super::attr::AttrInfo;

pub use error::PatchError;
pub use members::{MemberEdit, split as split_members};
pub use request::{parse_path, parse_request};

use error::syntax;
use remove::remove;
use write::{write, write_object};

/// The message schema URN a PATCH request body must list in `schemas`.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One PATCH operation (RFC 7644 section 3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// What the operation does.
    pub op: OpKind,
    /// Where it does it; `None` targets the resource itself (`value` is then an object of
    /// attributes).
    pub path: Option<PatchPath>,
    /// The operation's `value` as sent: `None` when absent, `Some(Value::Null)` when `null`.
    pub value: Option<Value>,
}

/// The kind of a PATCH operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `add`: set single values, append to multi-valued attributes.
    Add,
    /// `remove`: unassign attributes or delete values of multi-valued attributes.
    Remove,
    /// `replace`: overwrite values.
    Replace,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        })
    }
}

/// A PATCH `path`: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, any of them
/// URN-qualified. Defined and parsed next to the filter grammar it embeds; [`parse_path`] wraps
/// that parser with PATCH error kinds.
pub use super::filter::PatchPath;

/// Applies `ops` in order to `resource` (a SCIM JSON object).
///
/// On error the resource may be partly modified; the caller discards the copy.
pub fn apply(resource: &mut Value, ops: &[PatchOp], info: &dyn AttrInfo) -> Result<(), PatchError> {
    ops.iter().try_for_each(|op| apply_op(resource, op, info))
}

/// Applies one operation.
fn apply_op(resource: &mut Value, op: &PatchOp, info: &dyn AttrInfo) -> Result<(), PatchError> {
    match (op.op, &op.path, &op.value) {
        (OpKind::Remove, None, _) => Err(PatchError::NoTarget(
            "a `remove` operation requires a `path`".into(),
        )),
        (OpKind::Remove, Some(path), listed) => remove(resource, path, listed.as_ref(), info),
        (kind, _, None) => Err(syntax(format!("`{kind}` requires a `value`"))),
        (kind, Some(path), Some(value)) => write(resource, kind, path, value.clone(), info),
        (kind, None, Some(value)) => write_object(resource, kind, value, info),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::attr::{AttrPath, AttrType, Mutability};

    // Fixtures shared with the tests of the submodules (`crate::scim::patch::tests::…`).

    pub(super) const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub(super) const ENTERPRISE: &str =
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// (schema, attribute, sub-attribute, type, multi-valued, mutability)
    type Def = (
        &'static str,
        &'static str,
        Option<&'static str>,
        AttrType,
        bool,
        Mutability,
    );

    const RW: Mutability = Mutability::ReadWrite;
    const RO: Mutability = Mutability::ReadOnly;
    const STR: AttrType = AttrType::String;
    const BOOL: AttrType = AttrType::Boolean;
    const CPX: AttrType = AttrType::Complex;

    const DEFS: &[Def] = &[
        (CORE, "id", None, STR, false, RO),
        (CORE, "externalId", None, STR, false, RW),
        (CORE, "userName", None, STR, false, RW),
        (CORE, "displayName", None, STR, false, RW),
        (CORE, "active", None, BOOL, false, RW),
        (CORE, "name", None, CPX, false, RW),
        (CORE, "name", Some("givenName"), STR, false, RW),
        (CORE, "name", Some("familyName"), STR, false, RW),
        (CORE, "emails", None, CPX, true, RW),
        (CORE, "emails", Some("value"), STR, true, RW),
        (CORE, "emails", Some("type"), STR, true, RW),
        (CORE, "emails", Some("primary"), BOOL, true, RW),
        (CORE, "phoneNumbers", None, CPX, true, RW),
        (CORE, "phoneNumbers", Some("value"), STR, true, RW),
        (CORE, "phoneNumbers", Some("type"), STR, true, RW),
        (CORE, "phoneNumbers", Some("primary"), BOOL, true, RW),
        (CORE, "members", None, CPX, true, RW),
        (CORE, "members", Some("value"), STR, true, RW),
        (CORE, "members", Some("display"), STR, true, RW),
        (CORE, "members", Some("type"), STR, true, RW),
        (CORE, "groups", None, CPX, true, RO),
        (CORE, "groups", Some("value"), STR, true, RO),
        (CORE, "meta", None, CPX, false, RO),
        (CORE, "meta", Some("resourceType"), STR, false, RO),
        (
            CORE,
            "meta",
            Some("lastModified"),
            AttrType::DateTime,
            false,
            RO,
        ),
        (ENTERPRISE, "employeeNumber", None, STR, false, RW),
        (ENTERPRISE, "department", None, STR, false, RW),
        (ENTERPRISE, "manager", None, CPX, false, RW),
        (ENTERPRISE, "manager", Some("value"), STR, false, RW),
        (ENTERPRISE, "manager", Some("displayName"), STR, false, RW),
    ];

    /// A User-like schema (plus group `members`) for the tests.
    struct UserInfo;

    impl UserInfo {
        fn def(path: &AttrPath) -> Option<&'static Def> {
            let schema = match path.urn.as_deref() {
                None => CORE,
                Some(urn) if urn.eq_ignore_ascii_case(CORE) => CORE,
                Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE) => ENTERPRISE,
                Some(_) => return None,
            };
            DEFS.iter().find(|d| {
                d.0 == schema
                    && d.1.eq_ignore_ascii_case(&path.name)
                    && match (d.2, path.sub.as_deref()) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => false,
                    }
            })
        }
    }

    impl AttrInfo for UserInfo {
        fn attr_type(&self, path: &AttrPath) -> Option<AttrType> {
            Self::def(path).map(|d| d.3)
        }
        fn case_exact(&self, path: &AttrPath) -> bool {
            path.is("id") || path.sub.as_deref() == Some("value") && path.name == "members"
        }
        fn multi_valued(&self, path: &AttrPath) -> bool {
            Self::def(&AttrPath {
                sub: None,
                ..path.clone()
            })
            .is_some_and(|d| d.4)
        }
        fn mutability(&self, path: &AttrPath) -> Option<Mutability> {
            Self::def(path).map(|d| d.5)
        }
    }

    pub(super) fn body(ops: Value) -> Value {
        json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": ops })
    }

    pub(super) fn patch(mut resource: Value, ops: Value) -> Result<Value, PatchError> {
        let ops = parse_request(&body(ops))?;
        apply(&mut resource, &ops, &UserInfo)?;
        Ok(resource)
    }

    pub(super) fn user() -> Value {
        json!({
            "schemas": [CORE],
            "id": "u1",
            "userName": "bjensen",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "active": true,
            "emails": [{ "value": "b@home.example", "type": "home", "primary": true }],
            "meta": { "resourceType": "User" }
        })
    }

    pub(super) fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "Admins",
            "members": [{ "value": "a" }, { "value": "b" }, { "value": "c" }]
        })
    }

    fn err(resource: Value, ops: Value) -> PatchError {
        match patch(resource, ops) {
            Ok(done) => panic!("expected an error, got {done}"),
            Err(e) => e,
        }
    }

    pub(super) fn kind(resource: Value, ops: Value) -> &'static str {
        err(resource, ops).scim_type()
    }

    // ----- operation-level errors -----

    #[test]
    fn add_or_replace_without_value_is_invalid_syntax() {
        for op in ["add", "Replace"] {
            let ops = json!([{ "op": op, "path": "displayName" }]);
            assert_eq!(kind(user(), ops), "invalidSyntax", "{op}");
        }
    }

    #[test]
    fn remove_without_path_is_no_target() {
        assert_eq!(kind(group(), json!([{ "op": "remove" }])), "noTarget");
        let with_value = json!([{ "op": "Remove", "value": [{ "value": "a" }] }]);
        assert_eq!(kind(group(), with_value), "noTarget");
    }
}
