//! Output: shaping a stored resource for a response by `returned` and the request's
//! `attributes` / `excludedAttributes` ([`project`]), and the cheap path that only drops what is
//! never returned ([`strip_never_returned`]).

use serde_json::{Map, Value};

use super::resolve::{Target, resolve};
use super::tables::find;
use super::{Attribute, Returned, Schema, Scope};
use crate::model::ResourceKind;
use crate::scim::attr::{AttrPath, AttrType};

/// The resolved `attributes` and `excludedAttributes` of a request.
struct Selection {
    include: Vec<Target>,
    exclude: Vec<Target>,
}

/// Whether `list` names `attr` of `schema` as a whole (or its whole extension).
fn names_whole(list: &[Target], schema: &Schema, attr: &Attribute) -> bool {
    list.iter().any(|t| match t {
        Target::Extension(s) => s.id == schema.id,
        Target::Attr {
            schema: s,
            attr: a,
            sub: None,
        } => s.id == schema.id && a.name == attr.name,
        Target::Attr { .. } => false,
    })
}

/// The sub-attributes of `attr` that `list` names.
fn named_subs(list: &[Target], schema: &Schema, attr: &Attribute) -> Vec<&'static str> {
    list.iter()
        .filter_map(|t| match t {
            Target::Attr {
                schema: s,
                attr: a,
                sub: Some(sub),
            } if s.id == schema.id && a.name == attr.name => Some(sub.name),
            _ => None,
        })
        .collect()
}

impl Selection {
    /// The output form of `value`, the value of `attr` of `schema`, or `None` to leave it out.
    fn project_attr(&self, schema: &Schema, attr: &Attribute, value: &Value) -> Option<Value> {
        match attr.returned {
            Returned::Never => return None,
            Returned::Always => return filter_value(attr, value, None, &[]),
            Returned::Default | Returned::Request => {}
        }
        let only = if self.include.is_empty() {
            if attr.returned == Returned::Request {
                return None;
            }
            None
        } else if names_whole(&self.include, schema, attr) {
            None
        } else {
            let subs = named_subs(&self.include, schema, attr);
            if subs.is_empty() {
                return None;
            }
            Some(subs)
        };
        if names_whole(&self.exclude, schema, attr) {
            return None;
        }
        let excluded = named_subs(&self.exclude, schema, attr);
        filter_value(attr, value, only.as_deref(), &excluded)
    }

    /// Project one scope's attributes (the top level or an extension object).
    fn project_scope(&self, scope: Scope, src: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in src {
            // Stored data outside the schema is never shown.
            let Some(attr) = scope.find(key) else {
                continue;
            };
            if let Some(v) = self.project_attr(scope.schema, attr, value) {
                out.insert(attr.name.to_owned(), v);
            }
        }
        out
    }
}

/// Keep the sub-attributes of a complex value (each element, for a list) that should be
/// returned: named in `only` (all non-`request` ones when `None`), not in `excluded`; `always`
/// ones are kept and `never` ones dropped regardless. Elements left empty are dropped.
fn filter_value(
    attr: &Attribute,
    value: &Value,
    only: Option<&[&str]>,
    excluded: &[&str],
) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    if attr.kind != AttrType::Complex {
        return Some(value.clone());
    }
    let filter_object = |item: &Value| -> Option<Value> {
        let Value::Object(obj) = item else {
            return Some(item.clone());
        };
        let mut out = Map::new();
        for (key, v) in obj {
            let Some(sub) = find(attr.sub_attributes, key) else {
                continue;
            };
            let keep = match sub.returned {
                Returned::Never => false,
                Returned::Always => true,
                returned => {
                    let wanted = match only {
                        Some(names) => names.contains(&sub.name),
                        None => returned != Returned::Request,
                    };
                    wanted && !excluded.contains(&sub.name)
                }
            };
            if keep && !v.is_null() {
                out.insert(sub.name.to_owned(), v.clone());
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(filter_object).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => filter_object(other),
    }
}

/// Removes the top-level attributes that are never returned (`password`) from a stored
/// resource, in place. With no `attributes` / `excludedAttributes` in the request this is all
/// that [`project`] would change: a stored resource is already canonical, since
/// [`prepare_input`](super::prepare_input) made it so. It is the cheap path of every plain GET.
pub fn strip_never_returned(kind: ResourceKind, resource: &mut Value) {
    if let Some(obj) = resource.as_object_mut() {
        for name in never_returned(kind) {
            // `shift_remove` keeps the other attributes in the order `project` gives them.
            obj.shift_remove(name);
        }
    }
}

/// The top-level attributes of `kind` that are never returned (`password`).
pub fn never_returned(kind: ResourceKind) -> impl Iterator<Item = &'static str> {
    kind.schema()
        .attributes
        .iter()
        .filter(|a| a.returned == Returned::Never)
        .map(|a| a.name)
}

/// Shape a stored resource (with id, meta, and for users the computed `groups`) for output.
///
/// Applies `returned` and the request's `attributes` / `excludedAttributes` (RFC 7644 sections
/// 3.4.2.5 and 3.9). Paths the schema does not know are ignored; when every path in
/// `attributes` is unknown the default set is returned. `schemas` comes first and lists the core
/// schema plus the extensions that still hold data.
pub fn project(
    kind: ResourceKind,
    resource: &Value,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    let Value::Object(src) = resource else {
        return resource.clone();
    };
    let selection = Selection {
        include: attributes.iter().filter_map(|p| resolve(kind, p)).collect(),
        exclude: excluded.iter().filter_map(|p| resolve(kind, p)).collect(),
    };
    let mut urns = vec![Value::from(kind.core_schema())];
    let mut extensions = Vec::new();
    // In the resource type's order of extensions (stored under their canonical URNs).
    for scope in kind.extension_scopes() {
        let ext = scope.schema;
        if let Some(Value::Object(obj)) = src.get(ext.id) {
            let projected = selection.project_scope(scope, obj);
            if !projected.is_empty() {
                urns.push(ext.id.into());
                extensions.push((ext.id.to_owned(), Value::Object(projected)));
            }
        }
    }
    // `schemas` first, then core attributes, then extension objects.
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(urns));
    // Keys that are not core attributes (`schemas`, extension URNs) are skipped here.
    out.extend(selection.project_scope(kind.core_scope(), src));
    out.extend(extensions);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::tests::path;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

    fn stored_user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "2819c223",
            "externalId": "ext-1",
            "userName": "bjensen",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "password": "secret",
            "emails": [
                { "value": "b@work", "type": "work", "primary": true },
                { "value": "b@home", "type": "home" },
            ],
            ENTERPRISE_USER_SCHEMA: { "department": "Sales", "costCenter": "42" },
            "groups": [{ "value": "g1", "display": "Admins" }],
            "meta": {
                "resourceType": "User",
                "created": "2024-01-01T00:00:00Z",
                "lastModified": "2024-01-02T00:00:00Z",
                "version": "W/\"1\"",
            },
        })
    }

    fn proj(attributes: &[&str], excluded: &[&str]) -> Value {
        let a: Vec<AttrPath> = attributes.iter().map(|s| path(s)).collect();
        let e: Vec<AttrPath> = excluded.iter().map(|s| path(s)).collect();
        project(ResourceKind::User, &stored_user(), &a, &e)
    }

    #[test]
    fn default_projection_hides_password_only() {
        let out = proj(&[], &[]);
        let mut expected = stored_user();
        if let Some(obj) = expected.as_object_mut() {
            obj.remove("password");
        }
        assert_eq!(out, expected);
        let keys: Vec<&str> = out
            .as_object()
            .map_or(vec![], |o| o.keys().map(String::as_str).collect());
        assert_eq!(keys.first(), Some(&"schemas"));
        assert_eq!(
            keys.last(),
            Some(&ENTERPRISE_USER_SCHEMA),
            "extensions come last"
        );
        // Even when asked for.
        assert!(proj(&["password"], &[]).get("password").is_none());
    }

    #[test]
    fn attributes_select_with_sub_attributes() {
        assert_eq!(
            proj(&["name.givenName"], &[]),
            json!({ "schemas": [USER_SCHEMA], "id": "2819c223", "name": { "givenName": "Barbara" } })
        );
        assert_eq!(
            proj(&["emails.value", "userName"], &[]),
            json!({
                "schemas": [USER_SCHEMA],
                "id": "2819c223",
                "userName": "bjensen",
                "emails": [{ "value": "b@work" }, { "value": "b@home" }],
            })
        );
        let out = proj(&["EMAILS", "meta.lastModified"], &[]);
        assert_eq!(out["emails"], stored_user()["emails"]);
        assert_eq!(
            out["meta"],
            json!({ "lastModified": "2024-01-02T00:00:00Z" })
        );
        assert!(out.get("userName").is_none());
        // Unknown names are ignored; all unknown means the default set.
        assert_eq!(proj(&["userName", "nonsense"], &[])["userName"], "bjensen");
        assert_eq!(proj(&["nonsense"], &[]), proj(&[], &[]));
    }

    #[test]
    fn excluded_attributes() {
        let out = proj(&[], &["emails", "name.familyName", "id", "bogus"]);
        assert!(out.get("emails").is_none());
        assert_eq!(out["name"], json!({ "givenName": "Barbara" }));
        assert_eq!(out["id"], "2819c223", "id is returned always");
        assert_eq!(out["userName"], "bjensen");
        let out = proj(&[], &["meta", "groups.display"]);
        assert!(out.get("meta").is_none());
        assert_eq!(out["groups"], json!([{ "value": "g1" }]));
    }

    #[test]
    fn urn_qualified_projection() {
        let out = proj(&[&format!("{USER_SCHEMA}:userName")], &[]);
        assert_eq!(
            out,
            json!({ "schemas": [USER_SCHEMA], "id": "2819c223", "userName": "bjensen" })
        );
        let out = proj(&[&format!("{ENTERPRISE_USER_SCHEMA}:department")], &[]);
        assert_eq!(
            out,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "id": "2819c223",
                ENTERPRISE_USER_SCHEMA: { "department": "Sales" },
            })
        );
        let out = proj(&[ENTERPRISE_USER_SCHEMA], &[]);
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({ "department": "Sales", "costCenter": "42" })
        );
        // Excluding the whole extension drops its URN from `schemas`.
        let out = proj(&[], &[&ENTERPRISE_USER_SCHEMA.to_lowercase()]);
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
        let out = proj(&[], &[&format!("{ENTERPRISE_USER_SCHEMA}:department")]);
        assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({ "costCenter": "42" }));
    }

    #[test]
    fn group_projection() {
        let group = json!({
            "schemas": [GROUP_SCHEMA],
            "id": "g1",
            "displayName": "Admins",
            "members": [{ "value": "u1", "display": "Babs", "type": "User" }],
            "meta": { "resourceType": "Group" },
        });
        assert_eq!(project(ResourceKind::Group, &group, &[], &[]), group);
        let out = project(ResourceKind::Group, &group, &[], &[path("members")]);
        assert!(out.get("members").is_none());
        let out = project(ResourceKind::Group, &group, &[path("displayName")], &[]);
        assert_eq!(
            out,
            json!({ "schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "Admins" })
        );
    }
}
