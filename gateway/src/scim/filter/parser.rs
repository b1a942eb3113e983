//! The recursive-descent parser: tokens to a [`Filter`] or [`PatchPath`], within the length
//! and nesting limits.

use crate::scim::attr::AttrPath;

use super::error::{FilterError, check_length, error_at, quote};
use super::lexer::{Tok, Token, describe, lex};
use super::path::{attr_path, is_attr_name};
use super::{CompareOp, Filter, Literal, MAX_NESTING, MAX_TREE_DEPTH, PatchPath};

/// A parsed subtree and its depth (a leaf has depth 1).
pub(super) struct Node {
    /// The subtree.
    pub(super) filter: Filter,
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
pub(super) struct Parser<'a> {
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
    pub(super) fn new(input: &'a str) -> Result<Self, FilterError> {
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
    pub(super) fn at_end(&self) -> bool {
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
    pub(super) fn expect_end(&self) -> Result<(), FilterError> {
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
    pub(super) fn parse_or(&mut self, in_value_path: bool) -> Result<Node, FilterError> {
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
            Some(Tok::LBracket) => {
                let node = self.parse_value_path(path, in_value_path)?;
                self.parse_sub_comparison(node)
            }
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

    /// `valuePath "." subAttr ( "pr" / compareOp value )` after the value path `node`: the form
    /// Entra ID sends when a multi-valued attribute is its matching attribute,
    /// `emails[type eq "work"].value eq "ann@example.com"`. Not in RFC 7644's filter grammar
    /// (only in PATCH paths), but its meaning is plain: some element passes the brackets' filter
    /// and compares so. It is read as exactly that, one value path,
    /// `emails[type eq "work" and value eq "ann@example.com"]`, and prints so.
    fn parse_sub_comparison(&mut self, node: Node) -> Result<Node, FilterError> {
        let Some(Tok::Word(w)) = self.peek() else {
            return Ok(node);
        };
        let Some(sub) = w.strip_prefix('.') else {
            return Ok(node);
        };
        if !is_attr_name(sub) {
            return Err(self.error(&format!("invalid sub-attribute {}", quote(w))));
        }
        let Filter::ValuePath { path, filter } = node.filter else {
            return Err(self.error("internal error: expected a value path"));
        };
        let sub_path = AttrPath {
            urn: None,
            name: sub.to_owned(),
            sub: None,
        };
        self.advance();
        let compared = match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.advance();
                self.reject_value_after_pr()?;
                Filter::Present(sub_path)
            }
            Some(Tok::Word(w)) => match CompareOp::from_keyword(w) {
                Some(op) => {
                    let op_word = *w;
                    self.advance();
                    let value = self.parse_literal(op_word)?;
                    Filter::Compare {
                        path: sub_path,
                        op,
                        value,
                    }
                }
                None => {
                    return Err(self.unexpected("a comparison operator after the sub-attribute"));
                }
            },
            _ => return Err(self.unexpected("a comparison operator after the sub-attribute")),
        };
        let inner = self.node(Filter::And(filter, Box::new(compared)), node.depth)?;
        self.node(
            Filter::ValuePath {
                path,
                filter: Box::new(inner.filter),
            },
            inner.depth,
        )
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
    pub(super) fn parse_patch_path(&mut self) -> Result<PatchPath, FilterError> {
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

#[cfg(test)]
mod tests {
    use serde_json::Number;

    use super::*;
    use crate::scim::filter::tests::{ENTERPRISE, and, cmp, err, n, not, or, path, s};
    use crate::scim::filter::{MAX_INPUT_LEN, parse, parse_patch_path};

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
    fn a_sub_attribute_compared_after_a_value_path_joins_its_filter() {
        // Entra ID's form when a work email is the matching attribute.
        let parsed = parse(r#"emails[type eq "work"].value eq "ann@example.com""#);
        let expected = Filter::ValuePath {
            path: path("emails"),
            filter: Box::new(and(
                cmp("type", CompareOp::Eq, s("work")),
                cmp("value", CompareOp::Eq, s("ann@example.com")),
            )),
        };
        assert_eq!(parsed, Ok(expected.clone()));
        assert_eq!(parse(&expected.to_string()), Ok(expected));
        let present = parse(r#"emails[type eq "work"].value pr and userName eq "a""#).unwrap();
        assert!(matches!(present, Filter::And(..)), "{present:?}");
        for bad in [
            r#"emails[type eq "work"].value"#,
            r#"emails[type eq "work"].value zz "x""#,
            r#"emails[type eq "work"].1x eq "x""#,
            r#"emails[type eq "work"].value pr "x""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
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
}
