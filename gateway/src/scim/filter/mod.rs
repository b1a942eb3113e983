//! SCIM filter expressions (RFC 7644 section 3.4.2.2): parsing, printing and evaluation.
//!
//! This module owns the [`Filter`] syntax tree, [`parse`] (text to tree), the [`Display`] impl
//! (tree to canonical text that parses back to an equal tree), [`Filter::matches`] (evaluation
//! against a SCIM resource in JSON form) and the small path helpers PATCH also needs
//! ([`parse_attr_path`], [`parse_patch_path`], [`resolve`]).
//!
//! Design: a tiny lexer turns the input into tokens (brackets, JSON strings, JSON numbers and
//! "words" such as attribute paths and keywords), then a hand-written recursive-descent parser
//! builds the tree. The grammar is small and context-sensitive in harmless ways (`not` is only a
//! keyword before `(`; `true` is only a literal after an operator), which a hand-written parser
//! handles directly, gives precise error messages with positions, and lets us bound input length
//! and nesting depth so hostile filters cannot exhaust the stack. String and number literals are
//! decoded by `serde_json`, so they follow JSON rules exactly.
//!
//! [`Display`]: std::fmt::Display

mod error;
mod eval;
mod lexer;
mod parser;
mod path;
mod print;

use std::borrow::Cow;

use serde_json::{Number, Value};

use super::attr::{AttrInfo, AttrPath, AttrType};

pub use error::FilterError;
use error::{check_length, error_at};
use eval::{Scope, descend, element_path};
use parser::Parser;
use path::attr_path;

/// Longest filter text accepted, in bytes.
const MAX_INPUT_LEN: usize = 32 * 1024;
/// Deepest nesting of parentheses, `not (…)` and value paths accepted.
const MAX_NESTING: usize = 64;
/// Deepest syntax tree accepted (long `and`/`or` chains count too), so that recursive
/// evaluation, printing and dropping stay well within a thread's stack.
const MAX_TREE_DEPTH: usize = 1000;
/// How many characters of offending input an error message quotes.
const MAX_QUOTE_LEN: usize = 40;

/// A comparison operator of RFC 7644 section 3.4.2.2 (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal (also matches when the attribute is absent).
    Ne,
    /// `co`: contains (strings only).
    Co,
    /// `sw`: starts with (strings only).
    Sw,
    /// `ew`: ends with (strings only).
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in the order of RFC 7644's table.
    const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The canonical (lowercase) keyword, e.g. `"eq"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator named by `word`, case-insensitively (`EQ`, `eq`, `Eq`).
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

/// A comparison value: a JSON literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number.
    Number(Number),
    /// A JSON string (already unescaped).
    String(String),
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The value compared against.
        value: Literal,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `emails[type eq "work" and value co "@ex"]`: `filter`'s paths are relative to each element
    /// of `path`. The parser never produces a value path inside another one.
    ValuePath {
        /// The multi-valued attribute whose elements are filtered.
        path: AttrPath,
        /// The filter applied to each element.
        filter: Box<Filter>,
    },
}

/// A PATCH operation's `path` (RFC 7644 section 3.5.2): `attrPath` or
/// `valuePath [ "." subAttr ]`, e.g. `emails[type eq "work"].value`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute addressed (`emails` above); carries a sub-attribute only when there is no
    /// filter (`name.familyName`).
    pub attr: AttrPath,
    /// The element filter (`type eq "work"` above), relative to each element of `attr`.
    pub filter: Option<Filter>,
    /// The sub-attribute after the filter (`value` above), if any.
    pub sub: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------

/// Parses a filter expression such as `userName eq "bjensen" and not (emails[type eq "work"])`.
///
/// Operators and keywords are case-insensitive; whitespace between tokens is free.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(input)?;
    if parser.at_end() {
        return Err(FilterError("empty filter".into()));
    }
    let node = parser.parse_or(false)?;
    parser.expect_end()?;
    Ok(node.filter)
}

/// Parses an attribute path such as `userName`, `name.familyName`, `members.$ref` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
///
/// A path starting with `urn:` is split at its last `:` into URN and attribute. A bare schema
/// URN therefore parses with its last segment as the attribute name; callers that accept bare
/// URNs (PATCH on a whole extension) must check for them first.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, FilterError> {
    let text = input.trim();
    check_length(text)?;
    let start = input.len() - input.trim_start().len();
    attr_path(text).map_err(|reason| error_at(input, start, &reason))
}

/// Parses a PATCH operation's `path`: `attrPath` or `valuePath [ "." subAttr ]`
/// (`emails[type eq "work"].value`).
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut parser = Parser::new(input)?;
    if parser.at_end() {
        return Err(FilterError("empty path".into()));
    }
    let path = parser.parse_patch_path()?;
    parser.expect_end()?;
    Ok(path)
}

/// The values at `path` in `resource`, flattening multi-valued attributes; nulls are skipped.
///
/// Names match case-insensitively. A URN-qualified path looks inside the resource's member
/// named by the URN when there is one (an extension), otherwise at the top level (the core
/// schema). `emails` yields each email object, `emails.value` each email's `value`.
pub fn resolve<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let base = path
        .urn
        .as_deref()
        .and_then(|urn| get_ci(resource, urn))
        .filter(|v| v.is_object())
        .unwrap_or(resource);
    descend(base, &path.name, path.sub.as_deref())
}

/// Looks up `key` in a JSON object, preferring an exact match, else ignoring ASCII case.
/// Returns `None` when `value` is not an object or has no such member.
pub fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

impl Filter {
    /// Does the resource (a SCIM JSON object) match?
    pub fn matches(&self, resource: &Value, info: &dyn AttrInfo) -> bool {
        self.eval(Scope::Resource(resource), info)
    }

    /// Evaluate against one element of the multi-valued attribute `parent` (paths in self are
    /// relative to the element, e.g. `type eq "work"`).
    pub fn matches_element(&self, parent: &AttrPath, element: &Value, info: &dyn AttrInfo) -> bool {
        self.eval(Scope::Element { parent, element }, info)
    }

    /// Checks the filter against a schema: the ordering operators (`gt ge lt le`) are not
    /// defined on boolean and binary attributes (RFC 7644 section 3.4.2.2), so such a filter is
    /// an error rather than a filter that silently matches nothing.
    pub fn validate(&self, info: &dyn AttrInfo) -> Result<(), FilterError> {
        self.validate_in(None, info)
    }

    fn validate_in(
        &self,
        parent: Option<&AttrPath>,
        info: &dyn AttrInfo,
    ) -> Result<(), FilterError> {
        match self {
            Filter::Compare { path, op, .. } => {
                let ordering = matches!(
                    op,
                    CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
                );
                let full = match parent {
                    Some(p) => Cow::Owned(element_path(p, path)),
                    None => Cow::Borrowed(path),
                };
                readable(&full, info)?;
                match info.attr_type(&full) {
                    Some(t @ (AttrType::Boolean | AttrType::Binary)) if ordering => {
                        Err(FilterError(format!(
                            "\"{}\" cannot compare the {} attribute \"{full}\"",
                            op.as_str(),
                            if t == AttrType::Boolean {
                                "boolean"
                            } else {
                                "binary"
                            },
                        )))
                    }
                    _ => Ok(()),
                }
            }
            Filter::Present(path) => match parent {
                Some(p) => readable(&element_path(p, path), info),
                None => readable(path, info),
            },
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.validate_in(parent, info)?;
                b.validate_in(parent, info)
            }
            Filter::Not(f) => f.validate_in(parent, info),
            Filter::ValuePath { path, filter } => {
                readable(path, info)?;
                filter.validate_in(Some(path), info)
            }
        }
    }
}

/// Refuses a path that is never returned (`password`): a filter on it would answer, one
/// matching count at a time, what reading it may not (`password sw "a"`, then `"ab"`, …).
fn readable(path: &AttrPath, info: &dyn AttrInfo) -> Result<(), FilterError> {
    if info.never_returned(path) {
        return Err(FilterError(format!(
            "\"{path}\" is never returned, so it cannot be filtered on"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    // Fixtures shared with the tests of the submodules (`crate::scim::filter::tests::…`).

    pub(super) const ENTERPRISE: &str =
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    pub(super) const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    /// `id`, `externalId` and `meta.*` are case-exact; `meta.created`/`meta.lastModified` are
    /// dateTime; `active` is boolean; everything else is a case-insensitive string.
    pub(super) struct TestInfo;

    impl AttrInfo for TestInfo {
        fn attr_type(&self, path: &AttrPath) -> Option<AttrType> {
            let sub = path.sub.as_deref().unwrap_or("");
            if path.name.eq_ignore_ascii_case("meta")
                && (sub.eq_ignore_ascii_case("created") || sub.eq_ignore_ascii_case("lastModified"))
            {
                Some(AttrType::DateTime)
            } else if path.is("active") {
                Some(AttrType::Boolean)
            } else {
                Some(AttrType::String)
            }
        }

        fn case_exact(&self, path: &AttrPath) -> bool {
            ["id", "externalId", "meta"]
                .iter()
                .any(|n| path.name.eq_ignore_ascii_case(n))
        }

        fn multi_valued(&self, path: &AttrPath) -> bool {
            path.name.eq_ignore_ascii_case("emails")
        }

        fn mutability(&self, _path: &AttrPath) -> Option<super::super::attr::Mutability> {
            None
        }
    }

    pub(super) fn user() -> Value {
        json!({
            "schemas": [CORE, ENTERPRISE],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "BJensen",
            "userName": "Bjensen",
            "displayName": "Babs Jensen",
            "nickName": null,
            "title": "",
            "x509Certificates": [],
            "addresses": [{}],
            "loginCount": 42,
            "score": 3.5,
            "active": true,
            "name": { "familyName": "Jensen", "givenName": "Barbara", "formatted": "Ms. Barbara J Jensen, III" },
            "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@jensen.org", "type": "home" }
            ],
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34.000Z"
            },
            ENTERPRISE: { "employeeNumber": "701984", "manager": { "value": "26118915" } }
        })
    }

    pub(super) fn matches(filter: &str) -> bool {
        match parse(filter) {
            Ok(f) => f.matches(&user(), &TestInfo),
            Err(e) => panic!("{filter}: {e}"),
        }
    }

    pub(super) fn err(filter: &str) -> String {
        match parse(filter) {
            Ok(f) => panic!("{filter} parsed as {f:?}"),
            Err(FilterError(message)) => message,
        }
    }

    pub(super) fn path(text: &str) -> AttrPath {
        parse_attr_path(text).expect("valid path")
    }

    pub(super) fn cmp(p: &str, op: CompareOp, value: Literal) -> Filter {
        Filter::Compare {
            path: path(p),
            op,
            value,
        }
    }

    pub(super) fn s(text: &str) -> Literal {
        Literal::String(text.into())
    }

    pub(super) fn n(v: i64) -> Literal {
        Literal::Number(v.into())
    }

    pub(super) fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    pub(super) fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    pub(super) fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    #[test]
    fn ordering_on_booleans_is_refused_by_validation() {
        let check = |f: &str| parse(f).unwrap().validate(&TestInfo);
        for op in ["gt", "ge", "lt", "le"] {
            let e = check(&format!("active {op} true")).unwrap_err();
            assert!(e.0.contains("boolean") && e.0.contains(op), "{e}");
            assert!(check(&format!("userName eq \"a\" and not (active {op} false)")).is_err());
        }
        assert!(check("active eq true and loginCount gt 3").is_ok());
        assert!(check(r#"emails[type eq "work" and value gt "a"]"#).is_ok());
    }

    #[test]
    fn deepest_accepted_tree_is_stack_safe() {
        let chain = vec!["a pr"; MAX_TREE_DEPTH - 1].join(" and ");
        let f = parse(&chain).expect("within limits");
        assert!(!f.matches(&user(), &TestInfo));
        assert_eq!(parse(&f.to_string()), Ok(f));
    }

    #[test]
    fn resolve_flattens_and_skips_nulls() {
        let u = user();
        assert_eq!(resolve(&u, &path("emails")).len(), 2);
        assert_eq!(
            resolve(&u, &path("EMAILS.VALUE")),
            vec![&json!("bjensen@example.com"), &json!("babs@jensen.org")]
        );
        assert!(resolve(&u, &path("nickName")).is_empty());
        assert!(resolve(&u, &path("missing.x")).is_empty());
        assert_eq!(
            resolve(&u, &path(&format!("{ENTERPRISE}:employeeNumber"))),
            vec![&json!("701984")]
        );
    }

    // --- round trip ------------------------------------------------------------------------

    fn attr_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
            Just("$ref".to_owned()),
            Just("not".to_owned()),
            Just("and".to_owned()),
            Just("pr".to_owned()),
            Just("urn".to_owned()),
        ]
    }

    fn attr_path_strategy() -> impl Strategy<Value = AttrPath> {
        let urn = prop_oneof![
            Just(ENTERPRISE.to_owned()),
            Just(CORE.to_owned()),
            "urn:[a-zA-Z0-9]{1,5}(:[a-zA-Z0-9.-]{1,6}){0,3}",
        ];
        (
            prop::option::of(urn),
            attr_name(),
            prop::option::of(attr_name()),
        )
            .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            Just(Literal::Null),
            any::<bool>().prop_map(Literal::Bool),
            any::<i64>().prop_map(|v| Literal::Number(v.into())),
            any::<u64>().prop_map(|v| Literal::Number(v.into())),
            (-1_000_000i64..1_000_000, 1u32..4).prop_filter_map("decimal", |(m, e)| {
                Number::from_f64(m as f64 / 10f64.powi(e as i32)).map(Literal::Number)
            }),
            any::<String>().prop_map(Literal::String),
            r#"[a-z"\\\u{e9}\u{1f600}\n ]{0,8}"#.prop_map(Literal::String),
        ]
    }

    fn op() -> impl Strategy<Value = CompareOp> {
        prop::sample::select(CompareOp::ALL.to_vec())
    }

    fn leaf() -> impl Strategy<Value = Filter> {
        prop_oneof![
            (attr_path_strategy(), op(), literal()).prop_map(|(path, op, value)| Filter::Compare {
                path,
                op,
                value
            }),
            attr_path_strategy().prop_map(Filter::Present),
        ]
    }

    fn combine(inner: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
            inner.prop_map(not),
        ]
    }

    fn filter_without_value_paths() -> BoxedStrategy<Filter> {
        leaf()
            .prop_recursive(4, 24, 2, |inner| combine(inner.boxed()))
            .boxed()
    }

    fn filter_strategy() -> BoxedStrategy<Filter> {
        let value_path =
            (attr_path_strategy(), filter_without_value_paths()).prop_map(|(path, filter)| {
                Filter::ValuePath {
                    path,
                    filter: Box::new(filter),
                }
            });
        prop_oneof![leaf(), value_path]
            .prop_recursive(4, 32, 2, |inner| combine(inner.boxed()))
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn display_round_trips(f in filter_strategy()) {
            let text = f.to_string();
            prop_assert_eq!(parse(&text), Ok(f), "{}", text);
        }

        #[test]
        fn parse_never_panics(text in r#"[a-z()\[\]" .\\0-9:-]{0,40}"#) {
            if let Ok(f) = parse(&text) {
                let _ = f.matches(&user(), &TestInfo);
            }
        }
    }
}
