//! Printing: the `Display` impls that turn a tree back into canonical filter text.

use std::fmt;

use super::{CompareOp, Filter, Literal, PatchPath};

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

/// Prints canonical filter text: lowercase keywords, JSON literals, and parentheses exactly
/// where needed for [`parse`](super::parse) to rebuild an equal tree.
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

#[cfg(test)]
mod tests {
    use crate::scim::filter::tests::{and, cmp, n, or, path, s};
    use crate::scim::filter::{CompareOp, Filter, parse};

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
}
