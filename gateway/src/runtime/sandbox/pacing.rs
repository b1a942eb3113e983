//! Pacing a connector's HTTP: the request rate its admin allowed, and the pause its target
//! asked for.
//!
//! Both are the host's business, not the plugin's: the host sends every request, so it can
//! hold one back until the instance's rate allows it ([`Pacer`]), and it sees every answer, so
//! a `429` or `503` with `Retry-After` is noticed whatever the plugin makes of it
//! ([`retry_after`]). The delivery dispatcher then holds the connector's next attempts until
//! that time. A plugin cannot forget to honour a target's throttling, nor hurry past it.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The longest `Retry-After` honoured: a target asking for more is asked again after this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A request rate for one connector instance, shared by its calls: each request takes the next
/// slot, `1 / rate` after the previous one.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Time between two requests.
    interval: Duration,
    /// The next free slot.
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `per_second` requests a second.
    pub(crate) fn per_second(per_second: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's slot; answers how long it waited.
    pub(crate) async fn turn(&self) -> Duration {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        let wait = slot.saturating_duration_since(now);
        if !wait.is_zero() {
            tokio::time::sleep_until(slot.into()).await;
        }
        wait
    }
}

/// The pause a throttling answer asks for: the `Retry-After` of a `429` or `503`, in seconds or
/// as an HTTP date, at most [`MAX_RETRY_AFTER`]. Any other answer, or a header that is neither,
/// asks for none.
pub(crate) fn retry_after(
    status: u16,
    headers: &[(String, String)],
    now: SystemTime,
) -> Option<Duration> {
    if status != 429 && status != 503 {
        return None;
    }
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?
        .1
        .trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> Vec<(String, String)> {
        vec![("retry-after".to_owned(), value.to_owned())]
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_of_throttling_answers_only() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            retry_after(429, &header("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(503, &header(" 0 "), now), Some(Duration::ZERO));
        // 784,111,777 is Sun, 06 Nov 1994 08:49:37 GMT.
        let date = "Sun, 06 Nov 1994 08:50:07 GMT";
        assert_eq!(
            retry_after(429, &header(date), now),
            Some(Duration::from_secs(30))
        );
        let past = "Sun, 06 Nov 1994 08:00:00 GMT";
        assert_eq!(retry_after(429, &header(past), now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(429, &header("999999"), now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after(500, &header("7"), now), None);
        assert_eq!(retry_after(429, &header("soon"), now), None);
        assert_eq!(retry_after(429, &[], now), None);
    }

    #[tokio::test]
    async fn a_pacer_gives_each_request_the_next_slot() {
        let pacer = Pacer::per_second(2);
        let interval = Duration::from_millis(500);
        let mut waits = Vec::new();
        for _ in 0..3 {
            waits.push(pacer.turn().await);
        }
        // The first goes at once; each later one, asked right after its predecessor's slot,
        // waits for its own: more than nothing, at most one interval.
        assert_eq!(waits[0], Duration::ZERO);
        assert!(
            waits[1..].iter().all(|w| !w.is_zero() && *w <= interval),
            "{waits:?}"
        );
    }
}
