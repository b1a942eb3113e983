//! Client input: the validation and normalisation of a POST or PUT body or a PATCH result
//! ([`prepare_input`]) into the canonical stored form, and why input is refused ([`SchemaError`]).

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::tables::find;
use super::{Attribute, Scope, Uniqueness};
use crate::model::ResourceKind;
use crate::scim::attr::{AttrType, Mutability};
use crate::scim::text::invisible;

/// Why client input was rejected. Every variant is an HTTP 400 with the given `scimType`.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The request is not shaped like a SCIM resource (`invalidSyntax`).
    #[error("{0}")]
    InvalidSyntax(String),
    /// An attribute is unknown, missing, of the wrong type or otherwise unacceptable
    /// (`invalidValue`).
    #[error("{0}")]
    InvalidValue(String),
    /// The request tries to change an immutable attribute (`mutability`).
    #[error("{0}")]
    Mutability(String),
}

impl SchemaError {
    /// The RFC 7644 section 3.12 `scimType` for this error.
    pub fn scim_type(&self) -> &'static str {
        match self {
            Self::InvalidSyntax(_) => "invalidSyntax",
            Self::InvalidValue(_) => "invalidValue",
            Self::Mutability(_) => "mutability",
        }
    }
}

/// What [`prepare_input`] does with an attribute the schema does not define.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownAttributes {
    /// Refuse the request with `400 invalidValue` naming the attribute (the default).
    #[default]
    Reject,
    /// Drop the attribute and accept the rest (for clients that send extras).
    Ignore,
}

/// Validate and normalise a client-supplied resource (POST body, PUT body, or a PATCH result).
/// `existing` is the stored resource for PUT/PATCH (None for create). Returns the normalised JSON
/// object to store (without id/meta: the caller adds those).
///
/// The result uses canonical attribute names, lists `schemas` first (the core schema plus the
/// extensions that hold data), then the attributes in schema order. Read-only attributes are
/// dropped; `null` and empty values are removed. A write-only attribute (`password`) the body
/// does not mention is carried over from `existing`, since clients cannot read it back; an
/// immutable value already set is carried over when the body omits it.
pub fn prepare_input(
    kind: ResourceKind,
    body: &Value,
    existing: Option<&Value>,
    unknown: UnknownAttributes,
) -> Result<Map<String, Value>, SchemaError> {
    let Value::Object(input) = body else {
        return Err(SchemaError::InvalidSyntax(
            "the resource must be a JSON object".into(),
        ));
    };
    check_schemas(kind, input)?;

    let checker = Checker {
        resource: kind.name(),
        unknown,
    };
    let core = kind.core_scope();
    let extensions: Vec<Scope> = kind.extension_scopes().collect();
    let mut core_raw = Map::new();
    let mut ext_raw: Vec<Map<String, Value>> = vec![Map::new(); extensions.len()];

    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some((scope, raw)) = extensions
            .iter()
            .zip(ext_raw.iter_mut())
            .find(|(scope, _)| scope.schema.id.eq_ignore_ascii_case(key))
        {
            match value {
                Value::Null => {}
                Value::Object(obj) => {
                    for (k, v) in obj {
                        checker.put(*scope, raw, k, v)?;
                    }
                }
                _ => {
                    return Err(SchemaError::InvalidValue(format!(
                        "'{}' must be an object",
                        scope.schema.id
                    )));
                }
            }
            continue;
        }
        if let Some((scope, raw, rest)) = extensions
            .iter()
            .zip(ext_raw.iter_mut())
            .find_map(|(scope, raw)| strip_urn(key, scope.schema.id).map(|rest| (scope, raw, rest)))
        {
            checker.put(*scope, raw, rest, value)?;
            continue;
        }
        let name = strip_urn(key, core.schema.id).unwrap_or(key);
        checker.put(core, &mut core_raw, name, value)?;
    }

    let existing = existing.and_then(Value::as_object);
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Null); // placeholder that keeps `schemas` first
    let mut urns = vec![Value::from(core.schema.id)];
    out.extend(checker.prepare_scope(core, &core_raw, existing)?);
    for (scope, raw) in extensions.iter().zip(&ext_raw) {
        let old = existing
            .and_then(|e| get_ci(e, scope.schema.id))
            .and_then(Value::as_object);
        let required = kind.extension_required(scope.schema.id);
        // An optional extension the resource does not carry asks nothing of it: its required
        // attributes bind only where it is present (RFC 7643 §3.3).
        if raw.is_empty() && old.is_none() && !required {
            continue;
        }
        let prepared = checker.prepare_scope(*scope, raw, old)?;
        if !prepared.is_empty() {
            urns.push(scope.schema.id.into());
            out.insert(scope.schema.id.into(), Value::Object(prepared));
        } else if required {
            return Err(required_error(scope.schema.id));
        }
    }
    out.insert("schemas".into(), Value::Array(urns));
    Ok(out)
}

/// `schemas` must be an array of strings naming the core schema and only known extensions.
fn check_schemas(kind: ResourceKind, input: &Map<String, Value>) -> Result<(), SchemaError> {
    let Some(value) = get_ci(input, "schemas") else {
        return Err(SchemaError::InvalidSyntax(
            "the 'schemas' attribute is missing".into(),
        ));
    };
    let Value::Array(items) = value else {
        return Err(SchemaError::InvalidSyntax(
            "'schemas' must be an array of schema URNs".into(),
        ));
    };
    let mut has_core = false;
    for item in items {
        let Value::String(urn) = item else {
            return Err(SchemaError::InvalidSyntax(
                "'schemas' must be an array of schema URNs".into(),
            ));
        };
        if urn.eq_ignore_ascii_case(kind.core_schema()) {
            has_core = true;
        } else if kind.extension(urn).is_none() {
            return Err(SchemaError::InvalidValue(format!(
                "schema '{urn}' is not supported for {} resources",
                kind.name()
            )));
        }
    }
    if has_core {
        Ok(())
    } else {
        Err(SchemaError::InvalidValue(format!(
            "'schemas' must include '{}'",
            kind.core_schema()
        )))
    }
}

/// What follows `urn` and a colon in `key`, when `key` starts that way (URN case-insensitive).
fn strip_urn<'a>(key: &'a str, urn: &str) -> Option<&'a str> {
    let head = key.get(..urn.len())?;
    let rest = key.get(urn.len()..)?.strip_prefix(':')?;
    (head.eq_ignore_ascii_case(urn) && !rest.is_empty()).then_some(rest)
}

/// Look `key` up in `map`, exactly first, then case-insensitively.
fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an RFC 3339 date-time string",
        AttrType::Binary => "a base64 string",
        AttrType::Reference => "a URI string",
        AttrType::Complex => "an object",
    }
}

fn required_error(path: &str) -> SchemaError {
    SchemaError::InvalidValue(format!("attribute '{path}' is required"))
}

fn duplicate_error(path: &str) -> SchemaError {
    SchemaError::InvalidValue(format!("attribute '{path}' is given more than once"))
}

/// A required string must also be non-empty after trimming (RFC 7643 asks this of `userName`;
/// the gateway applies it to every required string). An attribute unique on the server
/// (`userName`) must hold no control or invisible character (`scim::text`).
fn check_not_blank(attr: &Attribute, value: &Value, path: &str) -> Result<(), SchemaError> {
    match value {
        Value::String(s) if attr.required && s.trim().is_empty() => Err(SchemaError::InvalidValue(
            format!("attribute '{path}' must not be empty"),
        )),
        Value::String(s) if attr.uniqueness != Uniqueness::None => match invisible(s) {
            Some(c) => Err(SchemaError::InvalidValue(format!(
                "attribute '{path}' holds the character U+{:04X}, which is a control or an invisible character",
                u32::from(c)
            ))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Whether two stored values are the same, comparing strings as the attribute's `caseExact` says.
fn same_value(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y))
            if !attr.case_exact && !matches!(attr.kind, AttrType::Reference | AttrType::Binary) =>
        {
            x.to_lowercase() == y.to_lowercase()
        }
        _ => a == b,
    }
}

/// Apply immutability: a value already set may not change; when the input omits it (or sends
/// `null`), the stored value stays. Handles an immutable top-level attribute and immutable
/// sub-attributes of a single-valued complex attribute; multi-valued attributes (Group
/// `members`) are left alone so that values can be added and removed.
fn keep_immutable(
    attr: &Attribute,
    old: Option<&Value>,
    new: Option<Value>,
    path: &str,
) -> Result<Option<Value>, SchemaError> {
    if attr.mutability == Mutability::Immutable {
        return match (old, new) {
            (Some(o), Some(n)) if !same_value(attr, o, &n) => Err(SchemaError::Mutability(
                format!("attribute '{path}' is immutable and cannot be changed"),
            )),
            (Some(o), _) => Ok(Some(o.clone())),
            (None, n) => Ok(n),
        };
    }
    let has_immutable_subs = attr
        .sub_attributes
        .iter()
        .any(|s| s.mutability == Mutability::Immutable);
    if attr.kind != AttrType::Complex || attr.multi_valued || !has_immutable_subs {
        return Ok(new);
    }
    let Some(Value::Object(old_obj)) = old else {
        return Ok(new);
    };
    let mut obj = match new {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for sub in attr.sub_attributes {
        if sub.mutability != Mutability::Immutable {
            continue;
        }
        let o = get_ci(old_obj, sub.name).filter(|v| !v.is_null());
        let n = obj.get(sub.name).cloned();
        if let Some(v) = keep_immutable(sub, o, n, &format!("{path}.{}", sub.name))? {
            obj.insert(sub.name.to_owned(), v);
        }
    }
    Ok((!obj.is_empty()).then_some(Value::Object(obj)))
}

/// Validation context: the resource type named in messages.
struct Checker {
    /// The resource type's name, for messages.
    resource: &'static str,
    /// What to do with attributes the schema does not define.
    unknown: UnknownAttributes,
}

impl Checker {
    /// The one place that decides what happens to an attribute the schema does not define:
    /// an error by default, so that a misspelt attribute is refused rather than silently lost;
    /// dropped (`Ok`) when the operator chose [`UnknownAttributes::Ignore`].
    fn unknown(&self, path: &str) -> Result<(), SchemaError> {
        if self.unknown == UnknownAttributes::Ignore {
            return Ok(());
        }
        Err(SchemaError::InvalidValue(format!(
            "unknown attribute '{path}' for {}",
            self.resource
        )))
    }

    /// Record the raw input `value` for attribute `name` (which may be `attr.sub` for a
    /// single-valued complex attribute) of `scope` under its canonical name in `raw`.
    fn put(
        &self,
        scope: Scope,
        raw: &mut Map<String, Value>,
        name: &str,
        value: &Value,
    ) -> Result<(), SchemaError> {
        let (top, sub) = match name.split_once('.') {
            Some((top, sub)) => (top, Some(sub)),
            None => (name, None),
        };
        let Some(attr) = scope.find(top) else {
            return self.unknown(&scope.path(name));
        };
        let Some(sub) = sub else {
            if raw.contains_key(attr.name) {
                return Err(duplicate_error(&scope.path(attr.name)));
            }
            raw.insert(attr.name.to_owned(), value.clone());
            return Ok(());
        };
        let Some(sub_attr) = find(attr.sub_attributes, sub) else {
            return self.unknown(&scope.path(&format!("{}.{sub}", attr.name)));
        };
        let path = scope.path(&format!("{}.{}", attr.name, sub_attr.name));
        if attr.multi_valued {
            return Err(SchemaError::InvalidValue(format!(
                "'{path}' cannot be set on its own; set '{}' instead",
                attr.name
            )));
        }
        let entry = raw
            .entry(attr.name)
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(obj) = entry else {
            return Err(duplicate_error(&path));
        };
        if obj.keys().any(|k| k.eq_ignore_ascii_case(sub_attr.name)) {
            return Err(duplicate_error(&path));
        }
        obj.insert(sub_attr.name.to_owned(), value.clone());
        Ok(())
    }

    /// Validate the raw attributes of one scope (keyed by canonical name) into their stored
    /// form, in schema order.
    fn prepare_scope(
        &self,
        scope: Scope,
        raw: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, SchemaError> {
        let mut out = Map::new();
        for attr in scope.attrs() {
            if attr.mutability == Mutability::ReadOnly {
                continue;
            }
            let path = scope.path(attr.name);
            let given = raw.get(attr.name);
            let old = existing
                .and_then(|e| get_ci(e, attr.name))
                .filter(|v| !v.is_null());
            let new = match given {
                Some(v) => self.normalise(attr, v, &path)?,
                None => None,
            };
            let value = if attr.mutability == Mutability::WriteOnly && given.is_none() {
                old.cloned()
            } else {
                keep_immutable(attr, old, new, &path)?
            };
            match value {
                Some(v) => {
                    check_not_blank(attr, &v, &path)?;
                    out.insert(attr.name.to_owned(), v);
                }
                None if attr.required => return Err(required_error(&path)),
                None => {}
            }
        }
        Ok(out)
    }

    /// Check and normalise one attribute's value; `None` means "unassigned".
    fn normalise(
        &self,
        attr: &Attribute,
        value: &Value,
        path: &str,
    ) -> Result<Option<Value>, SchemaError> {
        if attr.mutability == Mutability::ReadOnly || value.is_null() {
            return Ok(None);
        }
        if !attr.multi_valued {
            return self.normalise_single(attr, value, path);
        }
        // Be tolerant: a lone value stands for a one-element list.
        let items = match value {
            Value::Array(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = self.normalise_single(attr, item, path)? {
                out.push(v);
            }
        }
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(SchemaError::InvalidValue(format!(
                "at most one value of '{path}' may be primary"
            )));
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    /// Check one (non-list) value against the attribute's type.
    fn normalise_single(
        &self,
        attr: &Attribute,
        value: &Value,
        path: &str,
    ) -> Result<Option<Value>, SchemaError> {
        let ok = |v: Value| Ok(Some(v));
        match (attr.kind, value) {
            (_, Value::Null) => Ok(None),
            (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_))
            | (AttrType::Boolean, Value::Bool(_))
            | (AttrType::Decimal, Value::Number(_)) => ok(value.clone()),
            (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
                ok(Value::Bool(true))
            }
            (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
                ok(Value::Bool(false))
            }
            (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => ok(value.clone()),
            (AttrType::Integer, Value::Number(n))
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) =>
            {
                ok(Value::from(n.as_f64().map_or(0, |f| f as i64)))
            }
            (AttrType::DateTime, Value::String(s))
                if OffsetDateTime::parse(s, &Rfc3339).is_ok() =>
            {
                ok(value.clone())
            }
            (AttrType::Complex, Value::Object(obj)) => self.normalise_complex(attr, obj, path),
            // Entra ID sends a single-valued complex attribute such as `manager` as a bare id.
            (AttrType::Complex, Value::String(s))
                if !attr.multi_valued && find(attr.sub_attributes, "value").is_some() =>
            {
                let mut obj = Map::new();
                obj.insert("value".into(), Value::String(s.clone()));
                self.normalise_complex(attr, &obj, path)
            }
            _ => Err(SchemaError::InvalidValue(format!(
                "attribute '{path}' must be {}, not {}",
                expected(attr.kind),
                json_type(value)
            ))),
        }
    }

    /// Check a complex value's sub-attributes; output in schema order with canonical names.
    fn normalise_complex(
        &self,
        attr: &Attribute,
        obj: &Map<String, Value>,
        path: &str,
    ) -> Result<Option<Value>, SchemaError> {
        let mut given: Vec<Option<&Value>> = vec![None; attr.sub_attributes.len()];
        for (key, value) in obj {
            let found = attr
                .sub_attributes
                .iter()
                .zip(given.iter_mut())
                .find(|(sub, _)| sub.name.eq_ignore_ascii_case(key));
            let Some((sub, slot)) = found else {
                self.unknown(&format!("{path}.{key}"))?;
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(duplicate_error(&format!("{path}.{}", sub.name)));
            }
        }
        let mut out = Map::new();
        for (sub, value) in attr.sub_attributes.iter().zip(given) {
            let sub_path = format!("{path}.{}", sub.name);
            let normalised = match value {
                Some(v) => self.normalise(sub, v, &sub_path)?,
                None => None,
            };
            if let Some(v) = normalised {
                check_not_blank(sub, &v, &sub_path)?;
                out.insert(sub.name.to_owned(), v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        if let Some(missing) = attr.sub_attributes.iter().find(|s| {
            s.required && s.mutability != Mutability::ReadOnly && !out.contains_key(s.name)
        }) {
            return Err(required_error(&format!("{path}.{}", missing.name)));
        }
        Ok(Some(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::tables::{attr, complex, date_time, string};
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Schema, USER_SCHEMA};

    fn user(extra: Value) -> Value {
        let mut body = json!({ "schemas": [USER_SCHEMA], "userName": "bjensen" });
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        body
    }

    fn prep_user(extra: Value) -> Result<Map<String, Value>, SchemaError> {
        prepare_input(
            ResourceKind::User,
            &user(extra),
            None,
            UnknownAttributes::Reject,
        )
    }

    fn err(result: Result<Map<String, Value>, SchemaError>) -> SchemaError {
        match result {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn error_scim_types() {
        assert_eq!(
            SchemaError::InvalidSyntax(String::new()).scim_type(),
            "invalidSyntax"
        );
        assert_eq!(
            SchemaError::InvalidValue(String::new()).scim_type(),
            "invalidValue"
        );
        assert_eq!(
            SchemaError::Mutability(String::new()).scim_type(),
            "mutability"
        );
    }

    #[test]
    fn body_and_schemas_are_checked() {
        let u = ResourceKind::User;
        let e = err(prepare_input(
            u,
            &json!([1]),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidSyntax");
        let e = err(prepare_input(
            u,
            &json!({ "userName": "a" }),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidSyntax");
        let e = err(prepare_input(
            u,
            &json!({ "schemas": USER_SCHEMA, "userName": "a" }),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidSyntax");
        let e = err(prepare_input(
            u,
            &json!({ "schemas": [GROUP_SCHEMA], "userName": "a" }),
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.scim_type(), "invalidValue");
        let body = json!({ "schemas": [USER_SCHEMA, "urn:example:custom"], "userName": "a" });
        let e = err(prepare_input(u, &body, None, UnknownAttributes::Reject));
        assert_eq!(e.scim_type(), "invalidValue");
        assert!(e.to_string().contains("urn:example:custom"), "{e}");
        // Extension URN on a Group is unknown.
        let body = json!({ "schemas": [GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA], "displayName": "g" });
        assert_eq!(
            err(prepare_input(
                ResourceKind::Group,
                &body,
                None,
                UnknownAttributes::Reject
            ))
            .scim_type(),
            "invalidValue"
        );
        // Case-insensitive schema URNs are accepted and re-spelt.
        let body = json!({ "schemas": [USER_SCHEMA.to_uppercase()], "userName": "a" });
        let out = prepare_input(u, &body, None, UnknownAttributes::Reject).expect("ok");
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn names_are_canonicalised_and_ordered() {
        let body = json!({
            "SCHEMAS": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA.to_uppercase()],
            "NAME": { "GIVENNAME": "Barbara", "familyname": "Jensen" },
            "USERNAME": "bjensen",
            "Emails": [{ "VALUE": "b@example.com", "Type": "work" }],
            ENTERPRISE_USER_SCHEMA.to_uppercase(): { "EmployeeNumber": "42" },
        });
        let out =
            prepare_input(ResourceKind::User, &body, None, UnknownAttributes::Reject).expect("ok");
        assert_eq!(
            Value::Object(out.clone()),
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "bjensen",
                "name": { "familyName": "Jensen", "givenName": "Barbara" },
                "emails": [{ "value": "b@example.com", "type": "work" }],
                ENTERPRISE_USER_SCHEMA: { "employeeNumber": "42" },
            })
        );
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "schemas",
                "userName",
                "name",
                "emails",
                ENTERPRISE_USER_SCHEMA
            ]
        );
    }

    #[test]
    fn unknown_attributes_can_be_ignored() {
        let body = user(
            json!({ "adreses": [{ "country": "DE" }], "emails": [{ "value": "a@b", "kind": "x" }] }),
        );
        let out =
            prepare_input(ResourceKind::User, &body, None, UnknownAttributes::Ignore).expect("ok");
        assert!(out.get("adreses").is_none());
        assert_eq!(out["emails"], json!([{ "value": "a@b" }]));
        assert_eq!(out["userName"], body["userName"]);
    }

    #[test]
    fn unknown_attributes_are_rejected() {
        let e = err(prep_user(json!({ "foo": 1 })));
        assert_eq!(e.scim_type(), "invalidValue");
        assert_eq!(e.to_string(), "unknown attribute 'foo' for User");
        let e = err(prep_user(
            json!({ "emails": [{ "value": "a@b", "kind": "x" }] }),
        ));
        assert!(e.to_string().contains("emails.kind"), "{e}");
        let e = err(prep_user(
            json!({ ENTERPRISE_USER_SCHEMA: { "floor": "3" } }),
        ));
        assert!(e.to_string().contains("floor"), "{e}");
        let e = err(prep_user(json!({ "department": "x" })));
        assert_eq!(
            e.scim_type(),
            "invalidValue",
            "extension attributes need their URN"
        );
        let e = err(prep_user(json!({ "userName": "dup", "USERNAME": "dup" })));
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn urn_qualified_keys_are_folded_in() {
        let out = prep_user(json!({
            format!("{ENTERPRISE_USER_SCHEMA}:department"): "Sales",
            format!("{ENTERPRISE_USER_SCHEMA}:manager.value"): "m-1",
            ENTERPRISE_USER_SCHEMA: { "costCenter": "cc" },
            format!("{USER_SCHEMA}:displayName"): "Babs",
        }))
        .expect("ok");
        assert_eq!(out["displayName"], "Babs");
        assert_eq!(out["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({ "costCenter": "cc", "department": "Sales", "manager": { "value": "m-1" } })
        );
        let e = err(prep_user(json!({
            format!("{ENTERPRISE_USER_SCHEMA}:department"): "a",
            ENTERPRISE_USER_SCHEMA: { "department": "b" },
        })));
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn read_only_attributes_are_dropped() {
        let out = prep_user(json!({
            "id": "abc",
            "meta": { "resourceType": "User" },
            "groups": [{ "value": "g1" }],
            ENTERPRISE_USER_SCHEMA: { "manager": { "value": "m", "displayName": "Boss" } },
        }))
        .expect("ok");
        assert!(out.get("id").is_none());
        assert!(out.get("meta").is_none());
        assert!(out.get("groups").is_none());
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({ "manager": { "value": "m" } })
        );
        // Nothing but a read-only value left: the extension disappears.
        let out = prep_user(json!({
            ENTERPRISE_USER_SCHEMA: { "manager": { "displayName": "Boss" } },
        }))
        .expect("ok");
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn boolean_strings_are_converted() {
        let out = prep_user(json!({
            "active": "True",
            "emails": [{ "value": "a@b", "primary": "FALSE" }],
        }))
        .expect("ok");
        assert_eq!(out["active"], true);
        assert_eq!(out["emails"][0]["primary"], false);
        let out = prep_user(json!({ "active": "false" })).expect("ok");
        assert_eq!(out["active"], false);
        assert_eq!(
            err(prep_user(json!({ "active": "yes" }))).scim_type(),
            "invalidValue"
        );
        assert_eq!(
            err(prep_user(json!({ "active": 1 }))).scim_type(),
            "invalidValue"
        );
    }

    #[test]
    fn wrong_types_are_rejected() {
        for (attr, value) in [
            ("userName", json!(5)),
            ("displayName", json!(true)),
            ("name", json!("Barbara Jensen")),
            ("name", json!(["x"])),
            ("emails", json!(["a@b"])),
            ("emails", json!([{ "value": 7 }])),
            ("profileUrl", json!({ "href": "x" })),
            ("x509Certificates", json!([{ "value": [1, 2] }])),
        ] {
            let mut body = json!({ "schemas": [USER_SCHEMA], "userName": "u" });
            body[attr] = value;
            let e = err(prepare_input(
                ResourceKind::User,
                &body,
                None,
                UnknownAttributes::Reject,
            ));
            assert_eq!(e.scim_type(), "invalidValue", "{attr}");
            assert!(e.to_string().contains(attr), "{e}");
        }
        let e = err(prep_user(json!({ "displayName": 3 })));
        assert_eq!(
            e.to_string(),
            "attribute 'displayName' must be a string, not a number"
        );
    }

    #[test]
    fn scalar_type_rules() {
        let checker = Checker {
            resource: "Test",
            unknown: UnknownAttributes::Reject,
        };
        let check = |a: Attribute, v: Value| checker.normalise(&a, &v, a.name);
        let int = attr("n", AttrType::Integer, "");
        assert_eq!(check(int, json!(5)).ok().flatten(), Some(json!(5)));
        assert_eq!(check(int, json!(5.0)).ok().flatten(), Some(json!(5)));
        assert!(check(int, json!(5.5)).is_err());
        assert!(check(int, json!("5")).is_err());
        let dec = attr("d", AttrType::Decimal, "");
        assert_eq!(check(dec, json!(1.5)).ok().flatten(), Some(json!(1.5)));
        assert!(check(dec, json!("1.5")).is_err());
        let dt = date_time("t", "");
        assert!(check(dt, json!("2024-05-01T10:00:00Z")).is_ok());
        assert!(check(dt, json!("2024-05-01T10:00:00.123+02:00")).is_ok());
        assert!(check(dt, json!("yesterday")).is_err());
        assert!(check(dt, json!(1_700_000_000)).is_err());
    }

    #[test]
    fn nulls_and_empties_are_removed() {
        let out = prep_user(json!({
            "displayName": null,
            "emails": [],
            "name": {},
            "phoneNumbers": [null, { "value": null }],
            "addresses": [{ "locality": "Oslo", "region": null }],
            ENTERPRISE_USER_SCHEMA: {},
        }))
        .expect("ok");
        assert_eq!(
            Value::Object(out),
            json!({
                "schemas": [USER_SCHEMA],
                "userName": "bjensen",
                "addresses": [{ "locality": "Oslo" }],
            })
        );
        let out = prep_user(json!({ ENTERPRISE_USER_SCHEMA: null })).expect("ok");
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn required_attributes() {
        let body = json!({ "schemas": [USER_SCHEMA], "displayName": "x" });
        let e = err(prepare_input(
            ResourceKind::User,
            &body,
            None,
            UnknownAttributes::Reject,
        ));
        assert_eq!(e.to_string(), "attribute 'userName' is required");
        let e = err(prep_user(json!({ "userName": null })));
        assert_eq!(e.to_string(), "attribute 'userName' is required");
        let e = err(prep_user(json!({ "userName": "   " })));
        assert_eq!(e.scim_type(), "invalidValue");
        assert!(e.to_string().contains("must not be empty"), "{e}");
        // No trimming of values that are kept.
        let out = prep_user(json!({ "userName": " padded " })).expect("ok");
        assert_eq!(out["userName"], " padded ");

        let group =
            |v: Value| prepare_input(ResourceKind::Group, &v, None, UnknownAttributes::Reject);
        let e = err(group(json!({ "schemas": [GROUP_SCHEMA], "members": [] })));
        assert_eq!(e.to_string(), "attribute 'displayName' is required");
        let out = group(json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": "Admins",
            "members": [{ "value": "u1", "display": "Babs", "type": "User" }],
        }))
        .expect("ok");
        assert_eq!(out["members"][0]["value"], "u1");
    }

    #[test]
    fn required_sub_attributes() {
        static SUBS: [Attribute; 2] = [string("value", "").mandatory(), string("label", "")];
        let checker = Checker {
            resource: "Test",
            unknown: UnknownAttributes::Reject,
        };
        let a = complex("thing", &SUBS, "");
        let e = checker.normalise(&a, &json!({ "label": "x" }), "thing");
        assert_eq!(
            err(e.map(|_| Map::new())).to_string(),
            "attribute 'thing.value' is required"
        );
        assert_eq!(
            checker
                .normalise(&a, &json!({ "label": null }), "thing")
                .ok(),
            Some(None)
        );
    }

    static IMMUTABLE_ATTRS: [Attribute; 3] = [
        string("code", "").immutable(),
        complex(
            "badge",
            &[string("serial", "").immutable(), string("label", "")],
            "",
        ),
        string("note", ""),
    ];
    static IMMUTABLE_SCHEMA: Schema = Schema {
        id: "urn:example:test",
        name: "Test",
        description: "",
        attributes: &IMMUTABLE_ATTRS,
    };

    fn prepare_immutable(raw: Value, existing: Value) -> Result<Map<String, Value>, SchemaError> {
        let scope = Scope {
            schema: &IMMUTABLE_SCHEMA,
            core: false,
        };
        let checker = Checker {
            resource: "Test",
            unknown: UnknownAttributes::Reject,
        };
        let raw = raw.as_object().cloned().unwrap_or_default();
        checker.prepare_scope(scope, &raw, existing.as_object())
    }

    #[test]
    fn immutable_values_cannot_change() {
        let existing = json!({ "code": "A1", "badge": { "serial": "S1", "label": "old" } });
        let e = err(prepare_immutable(json!({ "code": "B2" }), existing.clone()));
        assert_eq!(e.scim_type(), "mutability");
        assert!(e.to_string().contains("code"), "{e}");
        let e = err(prepare_immutable(
            json!({ "code": "A1", "badge": { "serial": "S2" } }),
            existing.clone(),
        ));
        assert_eq!(e.scim_type(), "mutability");
        assert!(e.to_string().contains("badge.serial"), "{e}");
        // Unchanged (or case-only for a case-insensitive string) is fine; omitted keeps the value.
        let out = prepare_immutable(
            json!({ "code": "a1", "badge": { "label": "new" }, "note": "n" }),
            existing.clone(),
        )
        .expect("ok");
        assert_eq!(
            Value::Object(out),
            json!({ "code": "A1", "badge": { "serial": "S1", "label": "new" }, "note": "n" })
        );
        let out = prepare_immutable(json!({ "code": null }), existing).expect("ok");
        assert_eq!(out["code"], "A1");
        // Still unassigned: may be set.
        let out = prepare_immutable(json!({ "code": "C3" }), json!({})).expect("ok");
        assert_eq!(out["code"], "C3");
    }

    #[test]
    fn group_members_may_change_despite_immutable_sub_attributes() {
        let existing = json!({
            "schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G",
            "members": [{ "value": "u1" }],
        });
        let body = json!({
            "schemas": [GROUP_SCHEMA], "displayName": "G",
            "members": [{ "value": "u2" }, { "value": "u3" }],
        });
        let out = prepare_input(
            ResourceKind::Group,
            &body,
            Some(&existing),
            UnknownAttributes::Reject,
        )
        .expect("ok");
        assert_eq!(
            out["members"],
            json!([{ "value": "u2" }, { "value": "u3" }])
        );
    }

    #[test]
    fn password_is_kept_and_carried_over() {
        let out = prep_user(json!({ "password": "s3cret!" })).expect("ok");
        assert_eq!(out["password"], "s3cret!");
        let existing =
            json!({ "schemas": [USER_SCHEMA], "userName": "bjensen", "password": "old" });
        let put = user(json!({ "displayName": "B" }));
        let out = prepare_input(
            ResourceKind::User,
            &put,
            Some(&existing),
            UnknownAttributes::Reject,
        )
        .expect("ok");
        assert_eq!(out["password"], "old");
        let put = user(json!({ "password": null }));
        let out = prepare_input(
            ResourceKind::User,
            &put,
            Some(&existing),
            UnknownAttributes::Reject,
        )
        .expect("ok");
        assert!(out.get("password").is_none());
    }

    #[test]
    fn two_primaries_are_rejected() {
        let e = err(prep_user(json!({
            "emails": [
                { "value": "a@b", "primary": true },
                { "value": "c@d", "primary": "True" },
            ],
        })));
        assert_eq!(e.scim_type(), "invalidValue");
        assert!(e.to_string().contains("emails"), "{e}");
        let ok = prep_user(json!({
            "emails": [{ "value": "a@b", "primary": true }, { "value": "c@d", "primary": false }],
        }));
        assert!(ok.is_ok());
    }

    #[test]
    fn single_values_are_wrapped_into_lists() {
        let out = prep_user(json!({ "emails": { "value": "a@b", "type": "work" } })).expect("ok");
        assert_eq!(out["emails"], json!([{ "value": "a@b", "type": "work" }]));
        let body = json!({
            "schemas": [GROUP_SCHEMA], "displayName": "G", "members": { "value": "u1" },
        });
        let out =
            prepare_input(ResourceKind::Group, &body, None, UnknownAttributes::Reject).expect("ok");
        assert_eq!(out["members"], json!([{ "value": "u1" }]));
    }

    #[test]
    fn manager_string_becomes_object() {
        let out =
            prep_user(json!({ ENTERPRISE_USER_SCHEMA: { "manager": "boss-id" } })).expect("ok");
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({ "value": "boss-id" })
        );
        let out =
            prep_user(json!({ format!("{ENTERPRISE_USER_SCHEMA}:manager"): "m2" })).expect("ok");
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({ "value": "m2" })
        );
        let e = err(prep_user(json!({ ENTERPRISE_USER_SCHEMA: "x" })));
        assert_eq!(e.scim_type(), "invalidValue");
    }
}
