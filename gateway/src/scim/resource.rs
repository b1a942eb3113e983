//! Resource metadata: timestamps, versions and entity tags.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time as an RFC 3339 timestamp with millisecond precision (`meta.created`,
/// `meta.lastModified`).
pub fn now() -> String {
    let t = OffsetDateTime::now_utc();
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Whether an `If-Match` / `If-None-Match` header value names `version` (or is `*`). Weak and
/// strong forms of the same tag match each other: SCIM versions are weak tags.
pub fn etag_matches(header: &str, version: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let wanted = bare(version);
    header
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_millis() {
        let t = now();
        assert!(OffsetDateTime::parse(&t, &Rfc3339).is_ok(), "{t}");
        assert!(t.ends_with('Z'));
    }

    #[test]
    fn etags_match_weakly_and_in_lists() {
        assert!(etag_matches("W/\"3\"", "W/\"3\""));
        assert!(etag_matches("\"3\"", "W/\"3\""));
        assert!(etag_matches("W/\"1\", W/\"3\"", "W/\"3\""));
        assert!(etag_matches("*", "W/\"3\""));
        assert!(!etag_matches("W/\"2\"", "W/\"3\""));
    }
}
