//! The clock, in the two forms the gateway records: ms since the Unix epoch (jobs, audit) and
//! RFC 3339 text (`meta.created`, `meta.lastModified`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The current time as an RFC 3339 timestamp with millisecond precision.
pub fn timestamp() -> String {
    let t = OffsetDateTime::now_utc();
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_millis() {
        let t = timestamp();
        assert!(OffsetDateTime::parse(&t, &Rfc3339).is_ok(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
