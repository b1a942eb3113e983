//! Listing and searching (RFC 7644 section 3.4.2–3.4.3): query parameters and `SearchRequest`
//! bodies, sorting, and the `ListResponse` text. Which index answers a filter is the store's
//! business (`store::plan`).

use std::cmp::Ordering;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::attr::{AttrInfo, AttrPath, AttrType};
use super::error::ScimError;
use super::filter::{self, Filter};
use super::message::message_object;

/// The `schemas` URN of a `POST .search` body.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The `schemas` URN of a list response.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A `ListResponse` as text, from resources that are already text (a page of stored JSON, or
/// resources rendered one by one): `{...,"Resources":[r1,r2]}`.
pub fn list_response_text(total: u64, start_index: u64, resources: &[Vec<u8>]) -> Vec<u8> {
    let mut out = list_head(total, start_index, resources.len());
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(LIST_TAIL);
    out
}

/// The text of a `ListResponse` up to its first resource: `{...,"Resources":[`. The resources
/// follow, separated by commas, then [`LIST_TAIL`].
pub fn list_head(total: u64, start_index: u64, items: usize) -> Vec<u8> {
    let head = serde_json::json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": items,
    });
    let mut out = head.to_string().into_bytes();
    out.pop();
    out.extend_from_slice(b",\"Resources\":[");
    out
}

/// What ends a `ListResponse` after its last resource.
pub const LIST_TAIL: &[u8] = b"]}";

/// What a list or search asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `filter`, parsed.
    pub filter: Option<Filter>,
    /// `sortBy`.
    pub sort_by: Option<AttrPath>,
    /// `sortOrder=descending`.
    pub descending: bool,
    /// `startIndex`, 1-based (values below 1 are read as 1).
    pub start_index: u64,
    /// `count`; `None` means "as many as allowed".
    pub count: Option<usize>,
    /// `attributes`.
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`.
    pub excluded: Vec<AttrPath>,
}

/// Parses a comma-separated `attributes` / `excludedAttributes` value.
///
/// Microsoft's test collection also sends value paths here (`emails[type eq "work"]`); such an
/// entry names the attribute (and sub-attribute) it filters: the filter selects no elements.
pub fn parse_attr_list(value: &str) -> Result<Vec<AttrPath>, ScimError> {
    let invalid = |e: filter::FilterError| ScimError::bad_request("invalidValue", e.0);
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        // Split at commas outside brackets and strings: a value path's filter may hold commas.
        let end = top_level_comma(rest).unwrap_or(rest.len());
        let item = rest[..end].trim();
        rest = rest.get(end + 1..).unwrap_or_default();
        if item.is_empty() {
            continue;
        }
        if item.contains('[') {
            let p = filter::parse_patch_path(item).map_err(invalid)?;
            out.push(AttrPath {
                sub: p.sub.or(p.attr.sub.clone()),
                ..p.attr
            });
        } else {
            out.push(filter::parse_attr_path(item).map_err(invalid)?);
        }
    }
    Ok(out)
}

/// Byte offset of the first comma outside `[...]` and outside string literals.
fn top_level_comma(s: &str) -> Option<usize> {
    let (mut depth, mut quoted, mut escaped) = (0u32, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_number(name: &str, value: &str) -> Result<i64, ScimError> {
    value.trim().parse::<i64>().map_err(|_| {
        ScimError::bad_request(
            "invalidValue",
            format!("{name} must be an integer, not '{value}'"),
        )
    })
}

impl ListQuery {
    /// Builds a query from URL query parameters. Parameter names are matched case-insensitively;
    /// unknown ones are ignored (Entra ID adds its own).
    pub fn from_params(params: &[(String, String)]) -> Result<Self, ScimError> {
        let mut q = ListQuery {
            start_index: 1,
            ..Default::default()
        };
        for (name, value) in params {
            q.set(name, &Value::String(value.clone()))?;
        }
        Ok(q)
    }

    /// Builds a query from a `SearchRequest` body.
    pub fn from_search_request(body: &Value) -> Result<Self, ScimError> {
        let obj = message_object(body, SEARCH_REQUEST, "SearchRequest", "a search body")?;
        let mut q = ListQuery {
            start_index: 1,
            ..Default::default()
        };
        for (name, value) in obj {
            if !name.eq_ignore_ascii_case("schemas") {
                q.set(name, value)?;
            }
        }
        Ok(q)
    }

    /// Sets one parameter from a query string (a JSON string) or a search body (any JSON).
    fn set(&mut self, name: &str, value: &Value) -> Result<(), ScimError> {
        let text = || -> Result<String, ScimError> {
            match value {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Array(items) => Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")),
                _ => Err(ScimError::bad_request(
                    "invalidValue",
                    format!("'{name}' has the wrong type"),
                )),
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "filter" => self.filter = Some(filter::parse(&text()?)?),
            "sortby" => {
                self.sort_by = Some(
                    filter::parse_attr_path(text()?.trim())
                        .map_err(|e| ScimError::bad_request("invalidValue", e.0))?,
                )
            }
            "sortorder" => {
                self.descending = match text()?.to_ascii_lowercase().as_str() {
                    "ascending" => false,
                    "descending" => true,
                    other => {
                        return Err(ScimError::bad_request(
                            "invalidValue",
                            format!("sortOrder must be 'ascending' or 'descending', not '{other}'"),
                        ));
                    }
                }
            }
            "startindex" => self.start_index = parse_number("startIndex", &text()?)?.max(1) as u64,
            "count" => self.count = Some(parse_number("count", &text()?)?.max(0) as usize),
            "attributes" => self.attributes = parse_attr_list(&text()?)?,
            "excludedattributes" => self.excluded = parse_attr_list(&text()?)?,
            _ => {}
        }
        Ok(())
    }
}

/// The value a resource sorts by (RFC 7644 section 3.4.2.3): for a multi-valued attribute the
/// primary element's, else the first element's; for a complex attribute named without a
/// sub-attribute, its `value`.
fn sort_key<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let parent = AttrPath {
        sub: None,
        ..path.clone()
    };
    let elements = filter::resolve(resource, &parent);
    let is_primary = |v: &&&Value| v.get("primary").and_then(Value::as_bool) == Some(true);
    let element = elements
        .iter()
        .find(is_primary)
        .or(elements.first())
        .copied()?;
    let value = match &path.sub {
        Some(sub) => filter::get_ci(element, sub)?,
        None => element.get("value").unwrap_or(element),
    };
    (!value.is_null()).then_some(value)
}

/// Orders `a` and `b` by `path` as the schema says (case-insensitive strings unless caseExact;
/// numbers numerically). Resources without a value sort last in either order.
pub fn compare(
    a: &Value,
    b: &Value,
    path: &AttrPath,
    descending: bool,
    info: &dyn AttrInfo,
) -> Ordering {
    let (ka, kb) = (sort_key(a, path), sort_key(b, path));
    let ordered = match (ka, kb) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Greater,
        (Some(_), None) => return Ordering::Less,
        (Some(x), Some(y)) => compare_values(x, y, info.case_exact(path), info.attr_type(path)),
    };
    if descending {
        ordered.reverse()
    } else {
        ordered
    }
}

fn compare_values(x: &Value, y: &Value, case_exact: bool, kind: Option<AttrType>) -> Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::String(a), Value::String(b)) if kind == Some(AttrType::DateTime) => {
            // Compare instants: the text differs with precision (`10.5Z` is before `10.51Z`).
            let instant = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
            match (instant(a), instant(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(b),
            }
        }
        (Value::String(a), Value::String(b)) if case_exact => a.cmp(b),
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_parse_and_reject() {
        let p = |pairs: &[(&str, &str)]| {
            ListQuery::from_params(
                &pairs
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        let q = p(&[
            ("startIndex", "0"),
            ("COUNT", "-3"),
            ("sortOrder", "Descending"),
            ("aadOptscim062020", "x"),
        ])
        .unwrap();
        assert_eq!((q.start_index, q.count, q.descending), (1, Some(0), true));
        assert_eq!(
            p(&[("count", "ten")]).unwrap_err().scim_type,
            Some("invalidValue")
        );
        assert_eq!(
            p(&[("filter", "userName eq")]).unwrap_err().scim_type,
            Some("invalidFilter")
        );
        assert_eq!(
            p(&[("sortOrder", "up")]).unwrap_err().scim_type,
            Some("invalidValue")
        );
        let q = p(&[("attributes", r#"emails[type eq "a,b"].value, userName"#)]).unwrap();
        let names: Vec<String> = q.attributes.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["emails.value", "userName"]);
    }

    #[test]
    fn sorting_puts_missing_values_last() {
        let info = crate::model::ResourceKind::User;
        let path = AttrPath::new("userName");
        let a = serde_json::json!({"userName": "alice"});
        let b = serde_json::json!({"userName": "Bob"});
        let none = serde_json::json!({});
        assert_eq!(compare(&a, &b, &path, false, &info), Ordering::Less);
        assert_eq!(compare(&a, &b, &path, true, &info), Ordering::Greater);
        assert_eq!(compare(&none, &a, &path, false, &info), Ordering::Greater);
        assert_eq!(compare(&none, &a, &path, true, &info), Ordering::Greater);
    }
}
