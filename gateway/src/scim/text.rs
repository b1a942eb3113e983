//! Text as identities compare it: Unicode compatibility normalization with case folding, and
//! the characters an identifier may not hold.
//!
//! # Why
//! Compared by lower-casing alone, `alice`, `alice ` and `alice` followed by a zero-width
//! space are three users, and so are `café` written precomposed (NFC) and decomposed (NFD).
//! That is a lookalike account, or a second account for one person, waiting to happen. So:
//! - case-insensitive comparisons and index keys use [`caseless`]: NFKC, then full Unicode case
//!   folding, then NFKC again. Compatibility forms fold together (`ｆｕｌｌ` and `full`, `ﬁ`
//!   and `fi`), and so do canonical equivalents and cases (`Straße` and `STRASSE`);
//! - a `userName` is unique by [`identity_key`]: [`caseless`] of it with the white space around
//!   it removed;
//! - an identifier holding a control character or an invisible one ([`invisible`]) is refused
//!   (`400 invalidValue`) rather than stored, since no later comparison could show it.

use std::borrow::Cow;

use icu_casemap::CaseMapperBorrowed;
use icu_normalizer::ComposingNormalizerBorrowed;

use crate::model::is_invisible;

/// `s` as a case-insensitive comparison sees it (see the module docs). ASCII text, the usual
/// case, is only lower-cased, which is the same result.
pub fn caseless(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        };
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let folded = CaseMapperBorrowed::new()
        .fold_string(&nfkc.normalize(s))
        .into_owned();
    Cow::Owned(nfkc.normalize(&folded).into_owned())
}

/// The key under which a `userName` is unique: [`caseless`], without surrounding white space.
pub fn identity_key(s: &str) -> String {
    caseless(s.trim()).into_owned()
}

/// The first character of `s` that an identifier may not hold: a control character, or one
/// that shows nothing (zero-width spaces and joiners, bidirectional controls, the byte order
/// mark, the soft hyphen, invisible operators).
pub fn invisible(s: &str) -> Option<char> {
    s.chars().find(|&c| is_invisible(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_share_a_key() {
        let key = identity_key("alice");
        assert_eq!(identity_key("alice "), key);
        assert_eq!(identity_key(" ALICE"), key);
        assert_eq!(identity_key("ａｌｉｃｅ"), key, "fullwidth");
        assert_eq!(
            identity_key("caf\u{e9}"),
            identity_key("cafe\u{301}"),
            "NFC and NFD"
        );
        assert_eq!(
            identity_key("Straße"),
            identity_key("STRASSE"),
            "full case folding"
        );
        assert_eq!(
            identity_key("\u{fb01}le"),
            identity_key("file"),
            "the fi ligature"
        );
        assert_ne!(identity_key("alice"), identity_key("alicia"));
    }

    #[test]
    fn ascii_is_only_lower_cased() {
        assert!(matches!(caseless("bob@example.com"), Cow::Borrowed(_)));
        assert_eq!(caseless("Bob@Example.COM"), "bob@example.com");
    }

    #[test]
    fn invisible_characters_are_found() {
        assert_eq!(invisible("alice"), None);
        assert_eq!(invisible("café – naïve"), None);
        assert_eq!(invisible("alice\u{200b}"), Some('\u{200b}'));
        assert_eq!(invisible("al\u{202e}ice"), Some('\u{202e}'));
        assert_eq!(invisible("\u{feff}alice"), Some('\u{feff}'));
        assert_eq!(invisible("ali\nce"), Some('\n'));
        assert_eq!(invisible("ali\u{7f}ce"), Some('\u{7f}'));
    }
}
