//! Evaluation: whether a resource, or one element of a multi-valued attribute, matches a filter.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::scim::attr::{AttrInfo, AttrPath, AttrType};
use crate::scim::text::caseless;

use super::{CompareOp, Filter, Literal, get_ci, resolve};

impl CompareOp {
    /// Whether an ordering between attribute value and literal satisfies this operator
    /// (always false for `co`, `sw` and `ew`, which are not orderings).
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
        }
    }
}

/// Where a filter's attribute paths are resolved.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    /// Against a whole resource.
    Resource(&'a Value),
    /// Against one element of the multi-valued attribute `parent`.
    Element {
        /// The multi-valued attribute.
        parent: &'a AttrPath,
        /// The element.
        element: &'a Value,
    },
}

impl Scope<'_> {
    /// The values at `path` (flattened, nulls skipped).
    fn values(&self, path: &AttrPath) -> Vec<&Value> {
        match *self {
            Scope::Resource(resource) => resolve(resource, path),
            Scope::Element { element, .. } if !element.is_object() => {
                // A primitive element (`schemas`, say) is its own `value`.
                if path.is("value") && !element.is_null() {
                    vec![element]
                } else {
                    Vec::new()
                }
            }
            Scope::Element { element, .. } => descend(element, &path.name, path.sub.as_deref()),
        }
    }

    /// The path to ask [`AttrInfo`] about: relative paths are joined to the parent.
    fn full_path<'p>(&self, path: &'p AttrPath) -> Cow<'p, AttrPath> {
        match self {
            Scope::Resource(_) => Cow::Borrowed(path),
            Scope::Element { parent, .. } => Cow::Owned(element_path(parent, path)),
        }
    }
}

/// `path`, written relative to an element of `parent` (`type` in `emails[type eq "work"]`), as
/// the full path the schema knows (`emails.type`).
pub(super) fn element_path(parent: &AttrPath, path: &AttrPath) -> AttrPath {
    AttrPath {
        urn: parent.urn.clone(),
        name: parent.name.clone(),
        sub: Some(path.name.clone()),
    }
}

/// The values of `name` (and then `sub`) in `base`, flattened, nulls skipped.
pub(super) fn descend<'a>(base: &'a Value, name: &str, sub: Option<&str>) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let Some(value) = get_ci(base, name) else {
        return out;
    };
    match sub {
        None => push_flat(value, &mut out),
        Some(sub) => {
            let mut parents = Vec::new();
            push_flat(value, &mut parents);
            for parent in parents {
                if let Some(v) = get_ci(parent, sub) {
                    push_flat(v, &mut out);
                }
            }
        }
    }
    out
}

/// Pushes `value`, or each element if it is an array, skipping nulls.
fn push_flat<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|v| !v.is_null())),
        _ => out.push(value),
    }
}

/// Whether a value counts as present for `pr`.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// How strings of one attribute compare.
struct Semantics {
    /// Case-sensitive comparison.
    case_exact: bool,
    /// Compare as RFC 3339 instants when both sides parse.
    date_time: bool,
}

impl Semantics {
    /// Asks `info` about `path`.
    fn of(path: &AttrPath, info: &dyn AttrInfo) -> Self {
        Semantics {
            case_exact: info.case_exact(path),
            date_time: info.attr_type(path) == Some(AttrType::DateTime),
        }
    }
}

impl Filter {
    /// Evaluates in `scope`.
    pub(super) fn eval(&self, scope: Scope<'_>, info: &dyn AttrInfo) -> bool {
        match self {
            Filter::Compare { path, op, value } => compare(scope, path, *op, value, info),
            Filter::Present(path) => scope.values(path).into_iter().any(is_present),
            Filter::And(a, b) => a.eval(scope, info) && b.eval(scope, info),
            Filter::Or(a, b) => a.eval(scope, info) || b.eval(scope, info),
            Filter::Not(inner) => !inner.eval(scope, info),
            Filter::ValuePath { path, filter } => {
                let parent = scope.full_path(path);
                scope.values(path).into_iter().any(|element| {
                    let scope = Scope::Element {
                        parent: &parent,
                        element,
                    };
                    filter.eval(scope, info)
                })
            }
        }
    }
}

/// Evaluates `path op literal` in `scope`: true if any value of the attribute matches.
fn compare(
    scope: Scope<'_>,
    path: &AttrPath,
    op: CompareOp,
    literal: &Literal,
    info: &dyn AttrInfo,
) -> bool {
    let raw = scope.values(path);
    if *literal == Literal::Null {
        return match op {
            CompareOp::Eq => raw.is_empty(),
            CompareOp::Ne => !raw.is_empty(),
            _ => false,
        };
    }
    let full = scope.full_path(path);
    let (values, semantics) = comparable_values(&raw, &full, info);
    match op {
        // "Not equal" holds for an absent attribute, else for any value that is not equal.
        CompareOp::Ne => {
            values.is_empty()
                || values
                    .iter()
                    .any(|v| !compare_one(v, CompareOp::Eq, literal, &semantics))
        }
        _ => values
            .iter()
            .any(|v| compare_one(v, op, literal, &semantics)),
    }
}

/// The values to compare and their semantics: complex values stand for their `value`
/// sub-attribute (`emails eq "x"` means `emails.value eq "x"`).
fn comparable_values<'a>(
    raw: &[&'a Value],
    full: &AttrPath,
    info: &dyn AttrInfo,
) -> (Vec<&'a Value>, Semantics) {
    let has_objects = full.sub.is_none() && raw.iter().any(|v| v.is_object());
    if !has_objects {
        let values = raw.iter().copied().filter(|v| !v.is_object()).collect();
        return (values, Semantics::of(full, info));
    }
    let value_path = AttrPath {
        sub: Some("value".into()),
        ..full.clone()
    };
    let values = raw
        .iter()
        .filter_map(|v| {
            if v.is_object() {
                get_ci(v, "value")
            } else {
                Some(v)
            }
        })
        .filter(|v| !v.is_null() && !v.is_object())
        .collect();
    (values, Semantics::of(&value_path, info))
}

/// Compares one attribute value with the literal (`op` is never `Ne` here).
fn compare_one(value: &Value, op: CompareOp, literal: &Literal, semantics: &Semantics) -> bool {
    match (value, literal) {
        (Value::String(a), Literal::String(b)) => compare_strings(a, b, op, semantics),
        (Value::Number(a), Literal::Number(b)) => {
            compare_numbers(a, b).is_some_and(|ordering| op.accepts(ordering))
        }
        (Value::Bool(a), Literal::Bool(b)) => op == CompareOp::Eq && a == b,
        _ => false,
    }
}

/// Compares strings, as instants for dateTime attributes, case-folded unless case-exact.
fn compare_strings(a: &str, b: &str, op: CompareOp, semantics: &Semantics) -> bool {
    if semantics.date_time
        && let (Ok(x), Ok(y)) = (
            OffsetDateTime::parse(a, &Rfc3339),
            OffsetDateTime::parse(b, &Rfc3339),
        )
    {
        return op.accepts(x.cmp(&y));
    }
    let (a, b) = if semantics.case_exact {
        (Cow::Borrowed(a), Cow::Borrowed(b))
    } else {
        (caseless(a), caseless(b))
    };
    match op {
        CompareOp::Co => a.contains(&*b),
        CompareOp::Sw => a.starts_with(&*b),
        CompareOp::Ew => a.ends_with(&*b),
        _ => op.accepts(a.cmp(&b)),
    }
}

/// Numeric ordering: exact for integers, else as floating point.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let as_int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::scim::filter::parse;
    use crate::scim::filter::tests::{CORE, ENTERPRISE, TestInfo, matches, path};

    #[test]
    fn string_operators() {
        assert!(matches(r#"userName eq "bjensen""#));
        assert!(!matches(r#"userName eq "bjense""#));
        assert!(matches(r#"userName ne "jdoe""#));
        assert!(!matches(r#"userName ne "BJENSEN""#));
        assert!(matches(r#"displayName co "S JEN""#));
        assert!(matches(r#"displayName sw "babs""#));
        assert!(matches(r#"displayName ew "SEN""#));
        assert!(!matches(r#"displayName ew "babs""#));
        assert!(matches(r#"userName gt "a""#));
        assert!(matches(r#"userName ge "BJENSEN""#));
        assert!(matches(r#"userName lt "c""#));
        assert!(matches(r#"userName le "bjensen""#));
        assert!(!matches(r#"userName lt "bjensen""#));
    }

    #[test]
    fn case_exactness_follows_info() {
        assert!(matches(r#"externalId eq "BJensen""#));
        assert!(!matches(r#"externalId eq "bjensen""#));
        assert!(!matches(r#"externalId sw "bj""#));
        assert!(matches(r#"id sw "2819c""#));
        assert!(!matches(r#"id sw "2819C""#));
        assert!(matches(r#"meta.resourceType eq "User""#));
        assert!(!matches(r#"meta.resourceType eq "user""#));
        assert!(matches(r#"USERNAME eq "BJENSEN""#));
        assert!(matches(r#"name.FAMILYNAME eq "jensen""#));
    }

    #[test]
    fn numbers_booleans_and_null() {
        assert!(matches("loginCount eq 42"));
        assert!(matches("loginCount eq 42.0"));
        assert!(matches("loginCount gt 41.5"));
        assert!(matches("loginCount le 42"));
        assert!(!matches("loginCount lt 42"));
        assert!(matches("score gt 3"));
        assert!(matches("score lt 4e0"));
        assert!(!matches("loginCount co 4"));
        assert!(!matches(r#"loginCount eq "42""#));
        assert!(matches("active eq true"));
        assert!(matches("active eq TRUE"));
        assert!(!matches("active eq false"));
        assert!(matches("active ne false"));
        assert!(!matches("active gt false"));
        assert!(!matches(r#"active eq "true""#));
        assert!(matches(r#"active ne "true""#));
        assert!(matches("nickName eq null"));
        assert!(matches("missing eq null"));
        assert!(!matches("userName eq null"));
        assert!(matches("userName ne null"));
        assert!(!matches("nickName ne null"));
        assert!(!matches("userName gt null"));
    }

    #[test]
    fn presence() {
        assert!(matches("userName pr"));
        assert!(matches("name pr"));
        assert!(matches("emails.type pr"));
        assert!(!matches("nickName pr"));
        assert!(!matches("title pr"));
        assert!(!matches("x509Certificates pr"));
        assert!(!matches("addresses pr"));
        assert!(!matches("missing pr"));
        assert!(matches("not (missing pr)"));
        assert!(matches("missing ne \"x\""));
        assert!(!matches("missing eq \"x\""));
    }

    #[test]
    fn logic() {
        assert!(matches(r#"userName eq "x" or userName eq "bjensen""#));
        assert!(!matches(r#"userName eq "x" and userName eq "bjensen""#));
        assert!(matches(
            r#"userName eq "bjensen" or userName eq "x" and loginCount eq 0"#
        ));
        assert!(!matches(
            r#"(userName eq "bjensen" or userName eq "x") and loginCount eq 0"#
        ));
        assert!(matches(r#"not (userName eq "x")"#));
        assert!(!matches(r#"not (not (userName eq "x"))"#));
    }

    #[test]
    fn multi_valued_attributes() {
        assert!(matches(r#"emails eq "babs@jensen.org""#));
        assert!(matches(r#"emails.value eq "BABS@jensen.org""#));
        assert!(matches(r#"emails.type eq "home""#));
        assert!(matches(r#"emails.type ne "work""#));
        assert!(matches(r#"emails co "example.com""#));
        assert!(!matches(r#"emails.value eq "nobody@example.com""#));
        assert!(matches(
            r#"schemas eq "URN:IETF:params:scim:schemas:core:2.0:User""#
        ));
    }

    #[test]
    fn value_path_evaluation() {
        assert!(matches(r#"emails[type eq "work" and value co "@EX"]"#));
        assert!(!matches(r#"emails[type eq "home" and value co "@ex"]"#));
        assert!(matches(r#"emails[type eq "home" or primary eq true]"#));
        assert!(matches(r#"emails[not (primary pr)]"#));
        assert!(!matches(
            r#"emails[type eq "work" and not (value co "@ex")]"#
        ));
        assert!(matches(
            r#"schemas[value eq "urn:ietf:params:scim:schemas:core:2.0:User"]"#
        ));
        assert!(!matches("missing[value pr]"));
        let f = parse(r#"type eq "work""#).expect("valid");
        let emails = path("emails");
        let element = json!({ "type": "WORK", "value": "x" });
        assert!(f.matches_element(&emails, &element, &TestInfo));
        assert!(!f.matches_element(&emails, &json!({ "type": "home" }), &TestInfo));
    }

    #[test]
    fn urn_paths() {
        assert!(matches(&format!(
            r#"{ENTERPRISE}:employeeNumber eq "701984""#
        )));
        assert!(matches(&format!(
            r#"{}:manager.value eq "26118915""#,
            ENTERPRISE.to_uppercase()
        )));
        assert!(matches(&format!(
            r#"{ENTERPRISE}:manager[value sw "2611"]"#
        )));
        assert!(matches(&format!(r#"{CORE}:userName eq "bjensen""#)));
        assert!(matches(&format!(r#"{CORE}:name.givenName eq "barbara""#)));
        assert!(!matches(&format!(r#"{ENTERPRISE}:employeeNumber eq "1""#)));
    }

    #[test]
    fn date_times() {
        assert!(matches(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
        assert!(matches(r#"meta.lastModified eq "2011-05-13T04:42:34Z""#));
        assert!(matches(
            r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#
        ));
        assert!(!matches(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
        assert!(matches(r#"meta.created ge "2010-01-23T04:56:22.000Z""#));
        assert!(matches(r#"meta.created lt "2010-01-23T04:56:22.001Z""#));
        // Unparseable literal: case-exact string comparison.
        assert!(matches(r#"meta.created gt "2010-01""#));
        assert!(matches(r#"meta.created sw "2010-01""#));
    }
}
