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
//! [`Display`]: fmt::Display

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::attr::{AttrInfo, AttrPath, AttrType};

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

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// Prints the literal as JSON (strings quoted and escaped).
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::String(s) => write_json_string(f, s),
        }
    }
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

/// A filter or path that could not be parsed; the message says what and where.
///
/// The HTTP edge maps it to 400 with `scimType` `invalidFilter` (or `invalidPath` for PATCH).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

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

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
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
            Filter::Present(_) => Ok(()),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.validate_in(parent, info)?;
                b.validate_in(parent, info)
            }
            Filter::Not(f) => f.validate_in(parent, info),
            Filter::ValuePath { path, filter } => filter.validate_in(Some(path), info),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

/// Prints canonical filter text: lowercase keywords, JSON literals, and parentheses exactly
/// where needed for [`parse`] to rebuild an equal tree.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(left, right) => {
                write_operand(f, left, matches!(**left, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(
                    f,
                    right,
                    matches!(**right, Filter::Or(..) | Filter::And(..)),
                )
            }
            Filter::Or(left, right) => {
                write_operand(f, left, false)?;
                f.write_str(" or ")?;
                write_operand(f, right, matches!(**right, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// Writes one operand of `and`/`or`, in parentheses when asked.
fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}

/// Writes `s` as a JSON string literal.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

/// A token's kind and payload.
#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// A JSON string literal, unescaped.
    Str(String),
    /// A JSON number literal.
    Num(Number),
    /// Anything else up to whitespace or a bracket or quote: attribute paths and keywords.
    Word(&'a str),
}

/// A token and where it starts.
#[derive(Debug, Clone)]
struct Token<'a> {
    /// The token.
    tok: Tok<'a>,
    /// Byte offset of its first character in the input.
    pos: usize,
}

/// Whether `c` ends a word.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Splits `input` into tokens.
fn lex(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(c) = input[pos..].chars().next() {
        if c.is_whitespace() {
            pos += c.len_utf8();
            continue;
        }
        let (tok, end) = lex_token(input, pos, c)?;
        tokens.push(Token { tok, pos });
        pos = end;
    }
    Ok(tokens)
}

/// Lexes the token starting with `c` at byte `start`; returns it and the byte offset after it.
fn lex_token(input: &str, start: usize, c: char) -> Result<(Tok<'_>, usize), FilterError> {
    let single = |tok| Ok((tok, start + 1));
    match c {
        '(' => single(Tok::LParen),
        ')' => single(Tok::RParen),
        '[' => single(Tok::LBracket),
        ']' => single(Tok::RBracket),
        '"' => {
            let end = string_end(input, start)?;
            Ok((Tok::Str(decode_string(input, start, end)?), end))
        }
        '-' | '0'..='9' => {
            let end = word_end(input, start);
            // Something that starts like a number but is not one (an unquoted timestamp such as
            // 2015-10-10T14:38:21Z) is a bare word; `parse_literal` decides whether to accept it.
            let tok =
                decode_number(input, start, end).map_or(Tok::Word(&input[start..end]), Tok::Num);
            Ok((tok, end))
        }
        _ => {
            let end = word_end(input, start);
            Ok((Tok::Word(&input[start..end]), end))
        }
    }
}

/// An unquoted comparison value read as a string. RFC 7644 requires quotes, but Microsoft's
/// SCIM test collection (and some scripts) send `userName sw O` or an unquoted timestamp; a
/// bare word cannot be mistaken for anything else in value position, so it is accepted, except
/// the logical keywords, which would make `a eq and` ambiguous. Printing quotes it.
fn bare_string(word: &str) -> Option<Literal> {
    let keyword = ["and", "or", "not"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k));
    (!keyword).then(|| Literal::String(word.to_owned()))
}

/// Byte offset just past the word starting at `start`.
fn word_end(input: &str, start: usize) -> usize {
    input[start..]
        .find(is_delimiter)
        .map_or(input.len(), |len| start + len)
}

/// Byte offset just past the closing quote of the string starting at `start`.
fn string_end(input: &str, start: usize) -> Result<usize, FilterError> {
    // Quotes and backslashes are ASCII and never occur inside a multi-byte UTF-8 sequence, so a
    // byte scan is exact; escapes themselves are validated by serde_json afterwards.
    let bytes = input.as_bytes();
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(error_at(input, start, "unterminated string starting"))
}

/// Decodes the JSON string literal `input[start..end]` (quotes included).
fn decode_string(input: &str, start: usize, end: usize) -> Result<String, FilterError> {
    serde_json::from_str(&input[start..end]).map_err(|_| {
        error_at(
            input,
            start,
            "invalid escape or control character in the string starting",
        )
    })
}

/// Decodes the JSON number literal `input[start..end]`.
fn decode_number(input: &str, start: usize, end: usize) -> Result<Number, FilterError> {
    let text = &input[start..end];
    let plausible = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    plausible
        .then(|| serde_json::from_str::<Number>(text).ok())
        .flatten()
        .ok_or_else(|| error_at(input, start, &format!("invalid number {}", quote(text))))
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// `message at position N`, with N the 0-based character offset of byte `pos` in `input`.
fn error_at(input: &str, pos: usize, message: &str) -> FilterError {
    let chars = input
        .get(..pos)
        .map_or(pos, |prefix| prefix.chars().count());
    FilterError(format!("{message} at position {chars}"))
}

/// `text` in double quotes, shortened if long.
fn quote(text: &str) -> String {
    if text.chars().count() > MAX_QUOTE_LEN {
        let head: String = text.chars().take(MAX_QUOTE_LEN).collect();
        format!("\"{head}…\"")
    } else {
        format!("\"{text}\"")
    }
}

/// A short description of a token for error messages.
fn describe(tok: &Tok<'_>) -> String {
    match tok {
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::LBracket => "\"[\"".into(),
        Tok::RBracket => "\"]\"".into(),
        Tok::Str(_) => "a string".into(),
        Tok::Num(_) => "a number".into(),
        Tok::Word(w) => quote(w),
    }
}

/// Rejects inputs longer than [`MAX_INPUT_LEN`].
fn check_length(input: &str) -> Result<(), FilterError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(FilterError(format!(
            "filter too long ({} bytes; the limit is {MAX_INPUT_LEN})",
            input.len()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Attribute paths
// ---------------------------------------------------------------------------------------------

/// Parses an attribute path; the error is a reason without position.
fn attr_path(text: &str) -> Result<AttrPath, String> {
    let invalid = || format!("invalid attribute path {}", quote(text));
    let is_urn = text
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"));
    let (urn, rest) = match text.rfind(':') {
        Some(colon) if is_urn && colon > 3 => (Some(&text[..colon]), &text[colon + 1..]),
        _ => (None, text),
    };
    if urn.is_some_and(|urn| {
        !urn.chars()
            .all(|c| c.is_ascii_graphic() && !is_delimiter(c))
    }) {
        return Err(invalid());
    }
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(name) || sub.is_some_and(|sub| !is_attr_name(sub)) {
        return Err(invalid());
    }
    Ok(AttrPath {
        urn: urn.map(str::to_owned),
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// RFC 7643 `ATTRNAME = ALPHA *(nameChar)`, also allowing a leading `$` (`$ref`).
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// A parsed subtree and its depth (a leaf has depth 1).
struct Node {
    /// The subtree.
    filter: Filter,
    /// Its depth, for [`MAX_TREE_DEPTH`].
    depth: usize,
}

/// Recursive-descent parser over the token list.
///
/// ```text
/// or     = and *("or" and)
/// and    = unary *("and" unary)
/// unary  = "not" "(" or ")" / "(" or ")" / attrExp
/// attrExp = attrPath ( "pr" / compareOp value / "[" or "]" )
/// ```
struct Parser<'a> {
    /// The filter text, for error positions.
    input: &'a str,
    /// Its tokens.
    tokens: Vec<Token<'a>>,
    /// Index of the next token.
    next: usize,
    /// Current nesting of parentheses, `not` and value paths.
    nesting: usize,
}

impl<'a> Parser<'a> {
    /// Lexes `input` (after checking its length).
    fn new(input: &'a str) -> Result<Self, FilterError> {
        check_length(input)?;
        Ok(Parser {
            input,
            tokens: lex(input)?,
            next: 0,
            nesting: 0,
        })
    }

    /// The next token, if any.
    fn peek(&self) -> Option<&Tok<'a>> {
        self.tokens.get(self.next).map(|t| &t.tok)
    }

    /// The token after the next one, if any.
    fn peek2(&self) -> Option<&Tok<'a>> {
        self.tokens.get(self.next + 1).map(|t| &t.tok)
    }

    /// Byte offset of the next token (the input length at the end).
    fn pos(&self) -> usize {
        self.tokens
            .get(self.next)
            .map_or(self.input.len(), |t| t.pos)
    }

    /// Whether all tokens are consumed.
    fn at_end(&self) -> bool {
        self.next >= self.tokens.len()
    }

    /// Consumes the next token.
    fn advance(&mut self) {
        self.next += 1;
    }

    /// An error located at the next token.
    fn error(&self, message: &str) -> FilterError {
        error_at(self.input, self.pos(), message)
    }

    /// An error for an unexpected next token (or end of input), saying what was expected.
    fn unexpected(&self, expected: &str) -> FilterError {
        match self.peek() {
            Some(tok) => self.error(&format!("expected {expected}, found {}", describe(tok))),
            None => self.error(&format!("unexpected end of filter; expected {expected}")),
        }
    }

    /// Consumes the next token if it is the keyword `keyword` (any case).
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.advance();
        }
        found
    }

    /// Fails unless all input has been consumed.
    fn expect_end(&self) -> Result<(), FilterError> {
        match self.peek() {
            None => Ok(()),
            Some(Tok::RParen) => Err(self.error("unbalanced \")\"")),
            Some(Tok::RBracket) => Err(self.error("unbalanced \"]\"")),
            Some(_) => Err(self.unexpected("\"and\", \"or\" or the end of the filter")),
        }
    }

    /// Enters a parenthesis, `not` or value path, enforcing [`MAX_NESTING`].
    fn enter(&mut self) -> Result<(), FilterError> {
        if self.nesting >= MAX_NESTING {
            return Err(self.error(&format!(
                "filter nested too deeply (the limit is {MAX_NESTING})"
            )));
        }
        self.nesting += 1;
        Ok(())
    }

    /// Wraps `filter`, whose deepest child has depth `child_depth`, enforcing [`MAX_TREE_DEPTH`].
    fn node(&self, filter: Filter, child_depth: usize) -> Result<Node, FilterError> {
        let depth = child_depth + 1;
        if depth > MAX_TREE_DEPTH {
            return Err(self.error(&format!(
                "filter too complex (more than {MAX_TREE_DEPTH} levels)"
            )));
        }
        Ok(Node { filter, depth })
    }

    /// `or = and *("or" and)`, left-associative.
    fn parse_or(&mut self, in_value_path: bool) -> Result<Node, FilterError> {
        let mut left = self.parse_and(in_value_path)?;
        while self.eat_keyword("or") {
            let right = self.parse_and(in_value_path)?;
            let depth = left.depth.max(right.depth);
            left = self.node(
                Filter::Or(Box::new(left.filter), Box::new(right.filter)),
                depth,
            )?;
        }
        Ok(left)
    }

    /// `and = unary *("and" unary)`, left-associative.
    fn parse_and(&mut self, in_value_path: bool) -> Result<Node, FilterError> {
        let mut left = self.parse_unary(in_value_path)?;
        while self.eat_keyword("and") {
            let right = self.parse_unary(in_value_path)?;
            let depth = left.depth.max(right.depth);
            left = self.node(
                Filter::And(Box::new(left.filter), Box::new(right.filter)),
                depth,
            )?;
        }
        Ok(left)
    }

    /// `unary = "not" "(" or ")" / "(" or ")" / attrExp`.
    fn parse_unary(&mut self, in_value_path: bool) -> Result<Node, FilterError> {
        match self.peek() {
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("not") && self.peek2() == Some(&Tok::LParen) =>
            {
                self.advance();
                let inner = self.parse_group(in_value_path)?;
                self.node(Filter::Not(Box::new(inner.filter)), inner.depth)
            }
            Some(Tok::LParen) => self.parse_group(in_value_path),
            Some(Tok::Word(_)) => self.parse_attr_exp(in_value_path),
            _ => Err(self.unexpected("an attribute path, \"not\" or \"(\"")),
        }
    }

    /// `"(" or ")"`, with the next token being `(`.
    fn parse_group(&mut self, in_value_path: bool) -> Result<Node, FilterError> {
        let open = self.pos();
        self.enter()?;
        self.advance();
        let inner = self.parse_or(in_value_path)?;
        self.expect_close(&Tok::RParen, ")", "(", open)?;
        self.nesting -= 1;
        Ok(inner)
    }

    /// Consumes the closing bracket `close` matching the one at byte `open`.
    fn expect_close(
        &mut self,
        close: &Tok<'_>,
        close_text: &str,
        open_text: &str,
        open: usize,
    ) -> Result<(), FilterError> {
        if self.peek() == Some(close) {
            self.advance();
            return Ok(());
        }
        let open_chars = self.input.get(..open).map_or(open, |p| p.chars().count());
        Err(self.unexpected(&format!(
            "\"and\", \"or\" or \"{close_text}\" closing the \"{open_text}\" at position {open_chars}"
        )))
    }

    /// `attrExp = attrPath ( "pr" / compareOp value / "[" or "]" )`, next token being a word.
    fn parse_attr_exp(&mut self, in_value_path: bool) -> Result<Node, FilterError> {
        let word = match self.peek() {
            Some(Tok::Word(w)) => *w,
            _ => return Err(self.unexpected("an attribute path")),
        };
        let path = attr_path(word).map_err(|reason| self.error(&reason))?;
        self.advance();
        match self.peek() {
            Some(Tok::LBracket) => self.parse_value_path(path, in_value_path),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.advance();
                self.reject_value_after_pr()?;
                self.node(Filter::Present(path), 0)
            }
            Some(Tok::Word(w)) => match CompareOp::from_keyword(w) {
                Some(op) => {
                    let op_word = *w;
                    self.advance();
                    let value = self.parse_literal(op_word)?;
                    self.node(Filter::Compare { path, op, value }, 0)
                }
                None => Err(self.error(&format!(
                    "unknown operator {} after {}",
                    quote(w),
                    quote(word)
                ))),
            },
            _ => Err(self.error(&format!(
                "expected a comparison operator after {}",
                quote(word)
            ))),
        }
    }

    /// `"[" or "]"` after `path`, with the next token being `[`.
    fn parse_value_path(
        &mut self,
        path: AttrPath,
        in_value_path: bool,
    ) -> Result<Node, FilterError> {
        if in_value_path {
            return Err(self.error("value paths cannot be nested: unexpected \"[\""));
        }
        let open = self.pos();
        self.enter()?;
        self.advance();
        let inner = self.parse_or(true)?;
        self.expect_close(&Tok::RBracket, "]", "[", open)?;
        self.nesting -= 1;
        let filter = Box::new(inner.filter);
        self.node(Filter::ValuePath { path, filter }, inner.depth)
    }

    /// Fails if a literal follows `pr`.
    fn reject_value_after_pr(&self) -> Result<(), FilterError> {
        let is_value = match self.peek() {
            Some(Tok::Str(_) | Tok::Num(_)) => true,
            Some(Tok::Word(w)) => keyword_literal(w).is_some(),
            _ => false,
        };
        if is_value {
            return Err(self.error("\"pr\" takes no value, found a value"));
        }
        Ok(())
    }

    /// The literal after the operator `op_word`.
    fn parse_literal(&mut self, op_word: &str) -> Result<Literal, FilterError> {
        let literal = match self.peek() {
            Some(Tok::Str(s)) => Some(Literal::String(s.clone())),
            Some(Tok::Num(n)) => Some(Literal::Number(n.clone())),
            Some(Tok::Word(w)) => keyword_literal(w).or_else(|| bare_string(w)),
            _ => None,
        };
        match literal {
            Some(literal) => {
                self.advance();
                Ok(literal)
            }
            None => Err(self.unexpected(&format!("a value after {}", quote(op_word)))),
        }
    }

    /// `attrPath [ "[" or "]" [ "." subAttr ] ]` for PATCH.
    fn parse_patch_path(&mut self) -> Result<PatchPath, FilterError> {
        let attr = match self.peek() {
            Some(Tok::Word(w)) => attr_path(w).map_err(|reason| self.error(&reason))?,
            _ => return Err(self.unexpected("an attribute path")),
        };
        self.advance();
        if self.peek() != Some(&Tok::LBracket) {
            return Ok(PatchPath {
                attr,
                filter: None,
                sub: None,
            });
        }
        if attr.sub.is_some() {
            return Err(self.error("a sub-attribute cannot be filtered: unexpected \"[\""));
        }
        let node = self.parse_value_path(attr, false)?;
        let Filter::ValuePath { path, filter } = node.filter else {
            return Err(self.error("internal error: expected a value path"));
        };
        let sub = self.parse_trailing_sub()?;
        Ok(PatchPath {
            attr: path,
            filter: Some(*filter),
            sub,
        })
    }

    /// The optional `.subAttr` after a PATCH value path.
    fn parse_trailing_sub(&mut self) -> Result<Option<String>, FilterError> {
        let Some(Tok::Word(w)) = self.peek() else {
            return Ok(None);
        };
        match w.strip_prefix('.') {
            Some(sub) if is_attr_name(sub) => {
                let sub = sub.to_owned();
                self.advance();
                Ok(Some(sub))
            }
            _ => Err(self.error(&format!("invalid sub-attribute {}", quote(w)))),
        }
    }
}

/// `true`, `false` or `null` (any case) as a literal.
fn keyword_literal(word: &str) -> Option<Literal> {
    if word.eq_ignore_ascii_case("true") {
        Some(Literal::Bool(true))
    } else if word.eq_ignore_ascii_case("false") {
        Some(Literal::Bool(false))
    } else if word.eq_ignore_ascii_case("null") {
        Some(Literal::Null)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// Where a filter's attribute paths are resolved.
#[derive(Clone, Copy)]
enum Scope<'a> {
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
fn element_path(parent: &AttrPath, path: &AttrPath) -> AttrPath {
    AttrPath {
        urn: parent.urn.clone(),
        name: parent.name.clone(),
        sub: Some(path.name.clone()),
    }
}

/// The values of `name` (and then `sub`) in `base`, flattened, nulls skipped.
fn descend<'a>(base: &'a Value, name: &str, sub: Option<&str>) -> Vec<&'a Value> {
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
    fn eval(&self, scope: Scope<'_>, info: &dyn AttrInfo) -> bool {
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
        (Cow::Owned(a.to_lowercase()), Cow::Owned(b.to_lowercase()))
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
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    /// `id`, `externalId` and `meta.*` are case-exact; `meta.created`/`meta.lastModified` are
    /// dateTime; `active` is boolean; everything else is a case-insensitive string.
    struct TestInfo;

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

    fn user() -> Value {
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

    fn matches(filter: &str) -> bool {
        match parse(filter) {
            Ok(f) => f.matches(&user(), &TestInfo),
            Err(e) => panic!("{filter}: {e}"),
        }
    }

    fn err(filter: &str) -> String {
        match parse(filter) {
            Ok(f) => panic!("{filter} parsed as {f:?}"),
            Err(FilterError(message)) => message,
        }
    }

    fn path(text: &str) -> AttrPath {
        parse_attr_path(text).expect("valid path")
    }

    fn cmp(p: &str, op: CompareOp, value: Literal) -> Filter {
        Filter::Compare {
            path: path(p),
            op,
            value,
        }
    }

    fn s(text: &str) -> Literal {
        Literal::String(text.into())
    }

    fn n(v: i64) -> Literal {
        Literal::Number(v.into())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    // --- parsing ---------------------------------------------------------------------------

    #[test]
    fn parses_every_operator_case_insensitively() {
        for op in CompareOp::ALL {
            let lower = format!("userName {} \"x\"", op.as_str());
            let upper = format!("userName   {}  \"x\"", op.as_str().to_uppercase());
            assert_eq!(parse(&lower), Ok(cmp("userName", op, s("x"))));
            assert_eq!(parse(&upper), Ok(cmp("userName", op, s("x"))));
        }
        assert_eq!(parse("title PR"), Ok(Filter::Present(path("title"))));
    }

    #[test]
    fn parses_literals() {
        assert_eq!(
            parse("a eq TRUE"),
            Ok(cmp("a", CompareOp::Eq, Literal::Bool(true)))
        );
        assert_eq!(
            parse("a eq false"),
            Ok(cmp("a", CompareOp::Eq, Literal::Bool(false)))
        );
        assert_eq!(
            parse("a eq Null"),
            Ok(cmp("a", CompareOp::Eq, Literal::Null))
        );
        assert_eq!(parse("a gt -12"), Ok(cmp("a", CompareOp::Gt, n(-12))));
        for number in ["1.5", "-0.25", "1e3", "2.5E-2"] {
            let parsed = parse(&format!("a lt {number}"));
            let expected: Number = serde_json::from_str(number).expect("number");
            assert_eq!(
                parsed,
                Ok(cmp("a", CompareOp::Lt, Literal::Number(expected)))
            );
        }
    }

    #[test]
    fn parses_string_escapes() {
        let parsed = parse(r#"a eq "q\"b\\s\u00e9\n/""#);
        assert_eq!(parsed, Ok(cmp("a", CompareOp::Eq, s("q\"b\\s\u{e9}\n/"))));
        assert_eq!(
            parse("a eq \"naïve ☃\""),
            Ok(cmp("a", CompareOp::Eq, s("naïve ☃")))
        );
    }

    #[test]
    fn precedence_and_associativity() {
        let a = || cmp("a", CompareOp::Eq, n(1));
        let b = || cmp("b", CompareOp::Eq, n(2));
        let c = || cmp("c", CompareOp::Eq, n(3));
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3"),
            Ok(or(a(), and(b(), c())))
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3"),
            Ok(or(and(a(), b()), c()))
        );
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3"),
            Ok(and(or(a(), b()), c()))
        );
        assert_eq!(
            parse("a eq 1 or b eq 2 or c eq 3"),
            Ok(or(or(a(), b()), c()))
        );
        assert_eq!(
            parse("a eq 1 AND b eq 2 And c eq 3"),
            Ok(and(and(a(), b()), c()))
        );
        assert_eq!(parse("not (a eq 1) and b eq 2"), Ok(and(not(a()), b())));
        assert_eq!(parse("NOT(a eq 1 or b eq 2)"), Ok(not(or(a(), b()))));
        assert_eq!(parse("((a eq 1))"), Ok(a()));
    }

    #[test]
    fn parses_paths() {
        assert_eq!(
            path("name.familyName"),
            AttrPath {
                urn: None,
                name: "name".into(),
                sub: Some("familyName".into())
            }
        );
        assert_eq!(
            path(&format!("{ENTERPRISE}:manager.value")),
            AttrPath {
                urn: Some(ENTERPRISE.into()),
                name: "manager".into(),
                sub: Some("value".into())
            }
        );
        assert_eq!(path(&format!("{CORE}:userName")).urn.as_deref(), Some(CORE));
        assert_eq!(path("members.$ref").sub.as_deref(), Some("$ref"));
        assert!(parse_attr_path("a.b.c").is_err());
        assert!(parse_attr_path("1abc").is_err());
        assert!(parse_attr_path("").is_err());
        assert!(parse_attr_path("urn:").is_err());
    }

    #[test]
    fn parses_value_paths() {
        let parsed = parse(r#"emails[type eq "work" and value co "@ex"] or not (ims[type pr])"#);
        let expected = or(
            Filter::ValuePath {
                path: path("emails"),
                filter: Box::new(and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Co, s("@ex")),
                )),
            },
            not(Filter::ValuePath {
                path: path("ims"),
                filter: Box::new(Filter::Present(path("type"))),
            }),
        );
        assert_eq!(parsed, Ok(expected));
        let urn = format!("{ENTERPRISE}:manager[value eq \"1\"]");
        assert!(matches!(parse(&urn), Ok(Filter::ValuePath { .. })));
    }

    #[test]
    fn parses_patch_paths() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).expect("valid");
        assert_eq!(p.attr, path("emails"));
        assert_eq!(p.filter, Some(cmp("type", CompareOp::Eq, s("work"))));
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
        let plain = parse_patch_path("name.givenName").expect("valid");
        assert_eq!(
            (plain.attr, plain.filter, plain.sub),
            (path("name.givenName"), None, None)
        );
        assert!(parse_patch_path("").is_err());
        assert!(parse_patch_path("emails[type eq \"work\"].").is_err());
        assert!(parse_patch_path("emails[type eq \"work\"] x").is_err());
        assert!(parse_patch_path("name.x[type pr]").is_err());
    }

    // --- errors ----------------------------------------------------------------------------

    #[test]
    fn error_messages_say_what_and_where() {
        assert_eq!(err(""), "empty filter");
        assert_eq!(err("   "), "empty filter");
        assert_eq!(
            err("userName \"x\""),
            "expected a comparison operator after \"userName\" at position 9"
        );
        assert_eq!(
            err("userName xx \"x\""),
            "unknown operator \"xx\" after \"userName\" at position 9"
        );
        assert_eq!(
            err("userName eq"),
            "unexpected end of filter; expected a value after \"eq\" at position 11"
        );
        assert!(err("userName eq and").contains("a value after"));
        assert_eq!(
            err("title pr \"x\""),
            "\"pr\" takes no value, found a value at position 9"
        );
        assert!(err("title pr true").contains("takes no value"));
        assert!(err("(title pr").contains("closing the \"(\" at position 0"));
        assert_eq!(err("title pr)"), "unbalanced \")\" at position 8");
        assert!(err("emails[type pr").contains("\"]\""));
        assert_eq!(err("emails[type pr]]"), "unbalanced \"]\" at position 15");
        assert!(err("title pr foo").contains("expected \"and\", \"or\" or the end"));
        assert!(err("title pr and").contains("unexpected end of filter"));
        assert!(err("emails[x[y pr]]").contains("cannot be nested"));
        assert!(err("a eq \"unterminated").contains("unterminated string"));
        assert!(err(r#"a eq "\x""#).contains("invalid escape"));
        assert_eq!(
            parse("a eq 01").map(|f| f.to_string()),
            Ok(r#"a eq "01""#.into())
        );
        assert_eq!(
            parse("a eq 1abc").map(|f| f.to_string()),
            Ok(r#"a eq "1abc""#.into())
        );
        assert!(err("a.b.c pr").contains("invalid attribute path"));
        assert!(err("not title pr").contains("unknown operator \"title\" after \"not\""));
        assert!(err("()").contains("expected an attribute path"));
        assert!(err("and").contains("comparison operator"));
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(err("é eq 1"), "invalid attribute path \"é\" at position 0");
        assert_eq!(
            err("a eq \"é\" b"),
            "expected \"and\", \"or\" or the end of the filter, found \"b\" at position 9"
        );
    }

    #[test]
    fn limits_nesting_and_length() {
        let deep = format!("{}a pr{}", "(".repeat(65), ")".repeat(65));
        assert!(err(&deep).contains("nested too deeply"));
        let ok = format!("{}a pr{}", "(".repeat(64), ")".repeat(64));
        assert!(parse(&ok).is_ok());
        let nots = format!("{}a pr{}", "not (".repeat(100), ")".repeat(100));
        assert!(err(&nots).contains("nested too deeply"));
        let chain = vec!["a pr"; 1200].join(" or ");
        assert!(err(&chain).contains("too complex"));
        let long = format!("a eq \"{}\"", "x".repeat(MAX_INPUT_LEN));
        assert!(err(&long).contains("too long"));
    }

    #[test]
    fn deepest_accepted_tree_is_stack_safe() {
        let chain = vec!["a pr"; MAX_TREE_DEPTH - 1].join(" and ");
        let f = parse(&chain).expect("within limits");
        assert!(!f.matches(&user(), &TestInfo));
        assert_eq!(parse(&f.to_string()), Ok(f));
    }

    // --- printing --------------------------------------------------------------------------

    #[test]
    fn prints_canonically() {
        let f = parse(r#"A EQ 1 OR b Eq "x\"y" AND NOT (c PR) and emails[Type eq "w"]"#)
            .expect("valid");
        assert_eq!(
            f.to_string(),
            r#"A eq 1 or b eq "x\"y" and not (c pr) and emails[Type eq "w"]"#
        );
        let nested = and(
            cmp("a", CompareOp::Eq, n(1)),
            and(Filter::Present(path("b")), Filter::Present(path("c"))),
        );
        assert_eq!(nested.to_string(), "a eq 1 and (b pr and c pr)");
        let mixed = and(
            or(Filter::Present(path("a")), Filter::Present(path("b"))),
            Filter::Present(path("c")),
        );
        assert_eq!(mixed.to_string(), "(a pr or b pr) and c pr");
        assert_eq!(
            cmp("a", CompareOp::Eq, s("\u{1}")).to_string(),
            r#"a eq "\u0001""#
        );
    }

    // --- evaluation ------------------------------------------------------------------------

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
