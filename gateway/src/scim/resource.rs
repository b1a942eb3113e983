//! Resource metadata: versions and entity tags. (Timestamps come from the model's clock,
//! `model::timestamp`.)

use serde_json::Value;

/// The version string of a resource (`meta.version`), the entity tag it is served with.
pub fn version(resource: &Value) -> Option<&str> {
    resource.pointer("/meta/version").and_then(Value::as_str)
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
    fn etags_match_weakly_and_in_lists() {
        assert!(etag_matches("W/\"3\"", "W/\"3\""));
        assert!(etag_matches("\"3\"", "W/\"3\""));
        assert!(etag_matches("W/\"1\", W/\"3\"", "W/\"3\""));
        assert!(etag_matches("*", "W/\"3\""));
        assert!(!etag_matches("W/\"2\"", "W/\"3\""));
    }
}
