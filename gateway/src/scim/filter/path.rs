//! Attribute path syntax (RFC 7643 `ATTRNAME`, sub-attributes and schema URN prefixes).

use crate::scim::attr::AttrPath;

use super::error::quote;
use super::lexer::is_delimiter;

/// Parses an attribute path; the error is a reason without position.
pub(super) fn attr_path(text: &str) -> Result<AttrPath, String> {
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
pub(super) fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use crate::scim::attr::AttrPath;
    use crate::scim::filter::parse_attr_path;
    use crate::scim::filter::tests::{CORE, ENTERPRISE, path};

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
}
