//! The lexer: filter text to tokens (brackets, JSON strings, JSON numbers and words).

use serde_json::Number;

use super::error::{FilterError, error_at, quote};

/// A token's kind and payload.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
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
pub(super) struct Token<'a> {
    /// The token.
    pub(super) tok: Tok<'a>,
    /// Byte offset of its first character in the input.
    pub(super) pos: usize,
}

/// Whether `c` ends a word.
pub(super) fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Splits `input` into tokens.
pub(super) fn lex(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
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

/// A short description of a token for error messages.
pub(super) fn describe(tok: &Tok<'_>) -> String {
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

#[cfg(test)]
mod tests {
    use crate::scim::filter::tests::{cmp, s};
    use crate::scim::filter::{CompareOp, parse};

    #[test]
    fn parses_string_escapes() {
        let parsed = parse(r#"a eq "q\"b\\s\u00e9\n/""#);
        assert_eq!(parsed, Ok(cmp("a", CompareOp::Eq, s("q\"b\\s\u{e9}\n/"))));
        assert_eq!(
            parse("a eq \"naïve ☃\""),
            Ok(cmp("a", CompareOp::Eq, s("naïve ☃")))
        );
    }
}
