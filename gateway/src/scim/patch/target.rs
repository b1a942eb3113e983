//! Path handling: a PATCH path resolved against the schema ([`Target`]), and the object of the
//! resource (top level or extension) its attribute lives in.

use serde_json::{Map, Value};

use crate::scim::attr::{AttrInfo, AttrPath, AttrType, Mutability};
use crate::scim::filter::Filter;

use super::PatchPath;
use super::error::{PatchError, invalid_path, unknown_attr};
use super::json::{get_ci, get_ci_mut, str_eq_ci};

/// Prefix of the core schema URNs, whose attributes sit at the top level of a resource.
const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// A PATCH path resolved against the schema.
pub(super) struct Target<'p> {
    /// The path as written, for messages.
    pub(super) path: &'p PatchPath,
    /// The top-level attribute (URN and name, never a sub-attribute).
    pub(super) attr: AttrPath,
    /// The sub-attribute addressed, from `attr.sub` or after the filter.
    pub(super) sub: Option<&'p str>,
    /// The value filter, if any.
    pub(super) filter: Option<&'p Filter>,
    /// Whether `attr` is multi-valued.
    pub(super) multi: bool,
    /// Whether `attr` is complex.
    pub(super) complex: bool,
    /// Whether the attribute or the sub-attribute is read-only (`schemas` always is).
    pub(super) read_only: bool,
}

impl<'p> Target<'p> {
    /// Resolves `path`; unknown attributes are `invalidPath`, and so is a filter on a
    /// single-valued attribute.
    pub(super) fn resolve(path: &'p PatchPath, info: &dyn AttrInfo) -> Result<Self, PatchError> {
        let attr = AttrPath {
            sub: None,
            ..path.attr.clone()
        };
        let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
        let full = AttrPath {
            sub: sub.map(str::to_owned),
            ..attr.clone()
        };
        let schemas = attr.is("schemas");
        if !schemas && info.attr_type(&full).is_none() {
            return Err(unknown_attr(&full));
        }
        let multi = info.multi_valued(&attr);
        if path.filter.is_some() && !multi {
            return Err(invalid_path(format!(
                "`{attr}` is single-valued and cannot take a value filter"
            )));
        }
        let read_only = schemas
            || [&full, &attr]
                .into_iter()
                .any(|p| info.mutability(p) == Some(Mutability::ReadOnly));
        Ok(Self {
            path,
            complex: info.attr_type(&attr) == Some(AttrType::Complex),
            attr,
            sub,
            filter: path.filter.as_ref(),
            multi,
            read_only,
        })
    }

    /// Whether an element of the multi-valued attribute is addressed (no filter: all are).
    pub(super) fn selects(&self, element: &Value, info: &dyn AttrInfo) -> bool {
        self.filter
            .is_none_or(|filter| filter.matches_element(&self.attr, element, info))
    }

    /// The current value of an unfiltered target.
    pub(super) fn current<'r>(&self, resource: &'r Value) -> Option<&'r Value> {
        let root = resource.as_object()?;
        let map = match extension_of(root, self.attr.urn.as_deref()) {
            Some(urn) => get_ci(root, urn)?.as_object()?,
            None => root,
        };
        let value = get_ci(map, &self.attr.name)?;
        match self.sub {
            Some(sub) => value.as_object().and_then(|m| get_ci(m, sub)),
            None => Some(value),
        }
    }

    /// The `mutability` error for this target.
    pub(super) fn read_only_error(&self) -> PatchError {
        PatchError::Mutability(format!("`{}` is read-only", self.path))
    }
}

/// For a URN-qualified path without sub-attribute or filter that the schema does not define as
/// an attribute: the path itself, taken as an extension schema URN.
pub(super) fn extension_urn(path: &PatchPath, info: &dyn AttrInfo) -> Option<String> {
    let bare = path.filter.is_none()
        && path.sub.is_none()
        && path.attr.sub.is_none()
        && path.attr.urn.is_some();
    (bare && info.attr_type(&path.attr).is_none()).then(|| path.attr.to_string())
}

/// The extension key under which attributes qualified with `urn` live; `None` when they are
/// top-level (no URN, a core schema URN, or the resource's first `schemas` entry).
pub(super) fn extension_of<'u>(root: &Map<String, Value>, urn: Option<&'u str>) -> Option<&'u str> {
    urn.filter(|urn| {
        let core = urn
            .get(..CORE_SCHEMA_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX));
        let first_schema = get_ci(root, "schemas")
            .and_then(Value::as_array)
            .and_then(|schemas| schemas.first())
            .is_some_and(|first| str_eq_ci(first, urn));
        !core && !first_schema
    })
}

/// The object holding attributes qualified with `urn`: the resource itself or its extension
/// object, which `create` adds (listing the URN in `schemas`) when missing.
pub(super) fn container_mut<'r>(
    resource: &'r mut Value,
    urn: Option<&str>,
    create: bool,
) -> Option<&'r mut Map<String, Value>> {
    let root = resource.as_object_mut()?;
    let Some(urn) = extension_of(root, urn) else {
        return Some(root);
    };
    if create && get_ci(root, urn).is_none() {
        if let Some(Value::Array(schemas)) = get_ci_mut(root, "schemas")
            && !schemas.iter().any(|s| str_eq_ci(s, urn))
        {
            schemas.push(Value::String(urn.to_owned()));
        }
        root.insert(urn.to_owned(), Value::Object(Map::new()));
    }
    get_ci_mut(root, urn)?.as_object_mut()
}

/// Whether the resource's `schemas` lists `urn`.
pub(super) fn lists_schema(root: &Map<String, Value>, urn: &str) -> bool {
    get_ci(root, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| schemas.iter().any(|s| str_eq_ci(s, urn)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::scim::patch::tests::{ENTERPRISE, kind, user};

    #[test]
    fn read_only_targets_are_mutability_errors() {
        for op in [
            json!({ "op": "replace", "path": "id", "value": "other" }),
            json!({ "op": "remove", "path": "id" }),
            json!({ "op": "add", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z" }),
            json!({ "op": "replace", "path": "meta", "value": { "resourceType": "Group" } }),
            json!({ "op": "add", "path": "groups", "value": [{ "value": "g1" }] }),
            json!({ "op": "remove", "path": "groups[value eq \"g1\"]" }),
            json!({ "op": "replace", "path": "schemas", "value": [ENTERPRISE] }),
            json!({ "op": "remove", "path": "schemas" }),
            json!({ "op": "replace", "value": { "id": "other" } }),
        ] {
            assert_eq!(kind(user(), json!([op.clone()])), "mutability", "{op}");
        }
    }

    #[test]
    fn unknown_attributes_are_invalid_paths() {
        for op in [
            json!({ "op": "add", "path": "nickName", "value": "x" }),
            json!({ "op": "replace", "path": "name.middleName", "value": "x" }),
            json!({ "op": "remove", "path": "nickName" }),
            json!({ "op": "add", "path": format!("{ENTERPRISE}:costCenter"), "value": "x" }),
            json!({ "op": "add", "value": { "nickName": "x" } }),
            json!({ "op": "add", "value": { "urn:example:ext:1.0:User": { "x": 1 } } }),
            json!({ "op": "add", "path": "urn:example:ext:1.0:User", "value": { "x": 1 } }),
            json!({ "op": "remove", "path": "urn:example:ext:1.0:User" }),
            json!({ "op": "replace", "value": { "emails[type eq \"work\"].value": "x" } }),
        ] {
            assert_eq!(kind(user(), json!([op.clone()])), "invalidPath", "{op}");
        }
    }

    #[test]
    fn filter_on_single_valued_attribute_is_invalid_path() {
        let ops = json!([{ "op": "replace", "path": "name[givenName eq \"B\"]", "value": {} }]);
        assert_eq!(kind(user(), ops), "invalidPath");
    }
}
