//! Request parsing: a `PatchOp` body to [`PatchOp`]s, with their paths parsed.

use serde_json::Value;

use crate::scim::filter;

use super::error::{PatchError, invalid_path, syntax};
use super::json::{get_ci, str_eq_ci};
use super::{OpKind, PATCH_OP_SCHEMA, PatchOp, PatchPath};

/// Parses a PatchOp request body.
///
/// `schemas` must contain [`PATCH_OP_SCHEMA`] (compared case-insensitively) and `Operations`
/// (member names in any case) must be a non-empty array. Each operation's `op` is
/// case-insensitive (Entra sends `Add`, `Replace`, `Remove`) and its `path` is parsed with
/// [`parse_path`]; whether `value` fits the operation is checked by [`apply`](super::apply).
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    let body = body
        .as_object()
        .ok_or_else(|| syntax("a PATCH request body must be a JSON object"))?;
    let is_patch_op = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| schemas.iter().any(|s| str_eq_ci(s, PATCH_OP_SCHEMA)));
    if !is_patch_op {
        return Err(syntax(format!(
            "`schemas` must contain `{PATCH_OP_SCHEMA}`"
        )));
    }
    get_ci(body, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| syntax("`Operations` must be a non-empty array"))?
        .iter()
        .map(parse_op)
        .collect()
}

/// Parses one element of `Operations`.
fn parse_op(raw: &Value) -> Result<PatchOp, PatchError> {
    let raw = raw
        .as_object()
        .ok_or_else(|| syntax("each operation must be a JSON object"))?;
    let op = match get_ci(raw, "op") {
        Some(Value::String(op)) => parse_kind(op)?,
        _ => return Err(syntax("each operation needs an `op` string")),
    };
    let path = match get_ci(raw, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(parse_path(path)?),
        Some(_) => return Err(syntax("`path` must be a string")),
    };
    let value = get_ci(raw, "value").cloned();
    Ok(PatchOp { op, path, value })
}

/// Parses an `op` name, case-insensitively.
fn parse_kind(op: &str) -> Result<OpKind, PatchError> {
    [OpKind::Add, OpKind::Remove, OpKind::Replace]
        .into_iter()
        .find(|kind| op.trim().eq_ignore_ascii_case(&kind.to_string()))
        .ok_or_else(|| {
            syntax(format!(
                "unknown operation `{op}`; expected add, remove or replace"
            ))
        })
}

/// Parses a PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, optionally
/// URN-qualified. A malformed attribute part is `invalidPath`; when the attribute before `[`
/// parses, the failure is in the filter and is `invalidFilter`. Whether the schema defines the
/// attribute is checked by [`apply`](super::apply).
pub fn parse_path(input: &str) -> Result<PatchPath, PatchError> {
    filter::parse_patch_path(input).map_err(|e| {
        let message = format!("invalid path `{}`: {e}", input.trim());
        let in_filter = input
            .split_once('[')
            .and_then(|(attr, _)| filter::parse_attr_path(attr).ok())
            .is_some_and(|attr| attr.sub.is_none());
        if in_filter {
            PatchError::InvalidFilter(message)
        } else {
            invalid_path(message)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::filter::{Filter, Literal};
    use crate::scim::patch::tests::{ENTERPRISE, body};

    #[test]
    fn parses_entra_body_with_capitalised_ops_and_member_names() {
        let body = json!({
            "schemas": ["URN:ietf:params:scim:api:messages:2.0:PatchOp"],
            "operations": [
                { "Op": "Add", "Path": "displayName", "Value": "x" },
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w" },
                { "op": "Remove", "path": "members[value eq \"a\"]" }
            ]
        });
        let ops = parse_request(&body).unwrap();
        let kinds: Vec<_> = ops.iter().map(|o| o.op).collect();
        assert_eq!(kinds, [OpKind::Add, OpKind::Replace, OpKind::Remove]);
        assert_eq!(ops[0].value, Some(json!("x")));
        let path = ops[1].path.as_ref().unwrap();
        assert!(path.attr.is("emails"));
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert!(path.filter.is_some());
        assert_eq!(ops[2].value, None);
    }

    #[test]
    fn keeps_explicit_null_value_apart_from_absent_value() {
        let ops = parse_request(&body(json!([
            { "op": "replace", "path": "displayName", "value": null }
        ])))
        .unwrap();
        assert_eq!(ops[0].value, Some(Value::Null));
    }

    #[test]
    fn rejects_bodies_that_are_not_patch_op_messages() {
        let no_schema = json!({ "Operations": [{ "op": "add", "value": {} }] });
        let wrong_schema = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "Operations": [{ "op": "add", "value": {} }]
        });
        for body in [no_schema, wrong_schema, json!([1]), json!("x")] {
            let e = parse_request(&body).unwrap_err();
            assert_eq!(e.scim_type(), "invalidSyntax", "{body}");
        }
    }

    #[test]
    fn rejects_missing_or_empty_operations() {
        for ops in [json!([]), json!(null), json!({ "op": "add" })] {
            let e = parse_request(&body(ops.clone())).unwrap_err();
            assert_eq!(e.scim_type(), "invalidSyntax", "{ops}");
        }
        let missing = json!({ "schemas": [PATCH_OP_SCHEMA] });
        assert_eq!(
            parse_request(&missing).unwrap_err().scim_type(),
            "invalidSyntax"
        );
    }

    #[test]
    fn rejects_unknown_or_missing_op() {
        for op in [
            json!({ "op": "move", "path": "userName", "value": "x" }),
            json!({ "path": "userName", "value": "x" }),
            json!({ "op": 1, "path": "userName", "value": "x" }),
            json!("add"),
        ] {
            let e = parse_request(&body(json!([op.clone()]))).unwrap_err();
            assert_eq!(e.scim_type(), "invalidSyntax", "{op}");
        }
    }

    #[test]
    fn rejects_non_string_path() {
        let e = parse_request(&body(json!([{ "op": "remove", "path": 3 }]))).unwrap_err();
        assert_eq!(e.scim_type(), "invalidSyntax");
    }

    #[test]
    fn parses_every_path_form() {
        let p = parse_path("userName").unwrap();
        assert!(p.attr.is("userName") && p.filter.is_none() && p.sub.is_none());

        let p = parse_path("name.givenName").unwrap();
        assert_eq!(p.attr.sub.as_deref(), Some("givenName"));

        let p = parse_path("emails[type eq \"work\"]").unwrap();
        assert!(p.attr.is("emails") && p.filter.is_some() && p.sub.is_none());

        let p = parse_path(" emails[type eq \"work\" and primary eq true].value ").unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));

        let p = parse_path(&format!("{ENTERPRISE}:manager.value")).unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE));
        assert_eq!(p.attr.name, "manager");
        assert_eq!(p.attr.sub.as_deref(), Some("value"));

        let p = parse_path("members[value eq \"a]b\"]").unwrap();
        let Some(Filter::Compare { value, .. }) = p.filter else {
            panic!("expected a comparison");
        };
        assert_eq!(value, Literal::String("a]b".into()));
    }

    #[test]
    fn classifies_path_syntax_errors() {
        for bad in [
            "",
            "1userName",
            "name..givenName",
            "name.givenName[type eq \"x\"]",
        ] {
            assert_eq!(
                parse_path(bad).unwrap_err().scim_type(),
                "invalidPath",
                "{bad}"
            );
        }
        for bad in [
            "emails[type eq]",
            "emails[type eq \"work\"",
            "emails[type zz \"work\"]",
        ] {
            assert_eq!(
                parse_path(bad).unwrap_err().scim_type(),
                "invalidFilter",
                "{bad}"
            );
        }
        let e = parse_request(&body(
            json!([{ "op": "remove", "path": "emails[type eq]" }]),
        ));
        assert_eq!(e.unwrap_err().scim_type(), "invalidFilter");
    }
}
