//! Delivery metrics: the outbox by connector and state, the age of its oldest job, attempt
//! outcomes, plugin call latency and sandbox faults.
//!
//! The dispatcher reports here as it works: every job it loads from the outbox, every attempt
//! and how the store recorded it. The outbox figures therefore mirror what the dispatcher has
//! loaded (it reads new jobs on every commit and at least once a second); dead letters are
//! counted from the store once at start and then as jobs die. A scrape costs a few lines per
//! connector, however large the backlog.
//!
//! The dispatcher also marks here when it has started, which `/readyz` reports, and which jobs
//! it is attempting right now, which the admin API lists as `running`. The admin API reports
//! here the dead letters an operator retried or discarded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::histogram::{Histogram, PLUGIN_BUCKETS};
use super::text::{Encoder, Kind, Value};
use crate::model::{Failure, FailureKind, RemoteRef, now_ms};
use crate::store::outbox::{Job, JobOutcome, JobState};

/// See the module docs.
#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    /// Figures by connector name (configured ones from the start, others once a job names them).
    connectors: Mutex<BTreeMap<String, ConnectorStats>>,
    /// Whether the dispatcher has started and read the outbox once.
    started: AtomicBool,
    /// Seqs of the jobs being attempted right now.
    running: Mutex<BTreeSet<u64>>,
}

/// One connector's figures.
#[derive(Debug)]
struct ConnectorStats {
    /// Its jobs in the outbox, by seq.
    outbox: BTreeMap<u64, Queued>,
    /// How many of them wait for their first attempt.
    pending: u64,
    /// How many of them wait for another attempt.
    retrying: u64,
    /// Its dead letters.
    dead: u64,
    /// Jobs delivered since start.
    delivered_total: u64,
    /// Jobs dead-lettered since start.
    dead_lettered_total: u64,
    /// Attempts since start by outcome (`delivered`, `skipped` or a failure kind).
    attempts: BTreeMap<String, u64>,
    /// Duration of plugin calls.
    plugin_calls: Histogram,
    /// Time held back since start, in ms: `retry_after` (the connector paused as its target
    /// asked) and `rate` (requests waiting for the connector's request rate).
    throttled_ms: [u64; 2],
}

/// Why a connector was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Its target answered `429` or `503` with `Retry-After`.
    RetryAfter = 0,
    /// Its requests waited for its `max_requests_per_second`.
    Rate = 1,
}

impl Throttle {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Throttle::RetryAfter => "retry_after",
            Throttle::Rate => "rate",
        }
    }
}

impl Default for ConnectorStats {
    fn default() -> Self {
        Self {
            outbox: BTreeMap::new(),
            pending: 0,
            retrying: 0,
            dead: 0,
            delivered_total: 0,
            dead_lettered_total: 0,
            attempts: BTreeMap::new(),
            plugin_calls: Histogram::new(PLUGIN_BUCKETS),
            throttled_ms: [0; 2],
        }
    }
}

/// Where an attempt left its job, as the store recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Delivered: the job left the outbox.
    Delivered,
    /// Failed; waits for another attempt.
    Retried,
    /// Dead-lettered.
    Dead,
}

impl From<&JobOutcome> for Finish {
    fn from(outcome: &JobOutcome) -> Self {
        match outcome {
            JobOutcome::Delivered(..) => Finish::Delivered,
            JobOutcome::Retry(..) => Finish::Retried,
            JobOutcome::Dead(..) => Finish::Dead,
        }
    }
}

/// An outbox job as the metrics know it.
#[derive(Debug, Clone, Copy)]
struct Queued {
    /// When its change was committed (ms since the Unix epoch).
    created_ms: u64,
    /// Whether it failed before and waits for a retry.
    retrying: bool,
}

impl ConnectorStats {
    /// Removes a job from the outbox figures.
    fn leave(&mut self, seq: u64) {
        match self.outbox.remove(&seq) {
            Some(Queued { retrying: true, .. }) => self.retrying = self.retrying.saturating_sub(1),
            Some(Queued {
                retrying: false, ..
            }) => self.pending = self.pending.saturating_sub(1),
            None => {}
        }
    }
}

impl DeliveryMetrics {
    /// Figures for these connectors, all zero, so that they are reported before their first job.
    pub fn new<'a>(connectors: impl IntoIterator<Item = &'a str>) -> Self {
        let connectors = connectors
            .into_iter()
            .map(|name| (name.to_owned(), ConnectorStats::default()))
            .collect();
        Self {
            connectors: Mutex::new(connectors),
            started: AtomicBool::new(false),
            running: Mutex::new(BTreeSet::new()),
        }
    }

    fn with<R>(&self, connector: &str, f: impl FnOnce(&mut ConnectorStats) -> R) -> R {
        let mut all = self
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match all.get_mut(connector) {
            Some(stats) => f(stats),
            None => f(all.entry(connector.to_owned()).or_default()),
        }
    }

    /// The dispatcher has started and read the outbox.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Whether [`mark_started`](Self::mark_started) was called.
    pub fn has_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// An attempt of job `seq` starts.
    pub fn running_started(&self, seq: u64) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq);
    }

    /// The attempt of job `seq` is over (and its outcome recorded, or given up on).
    pub fn running_ended(&self, seq: u64) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq);
    }

    /// Seqs of the jobs being attempted right now, ascending.
    pub fn running(&self) -> Vec<u64> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// An operator retried or discarded one of `connector`'s dead letters (a retried job is
    /// counted again when the dispatcher loads it).
    pub fn dead_left(&self, connector: &str) {
        self.with(connector, |s| s.dead = s.dead.saturating_sub(1));
    }

    /// Counts dead letters found in the store at start.
    pub fn dead_found(&self, connector: &str) {
        self.with(connector, |s| s.dead += 1);
    }

    /// A job loaded from the outbox.
    pub fn queued(&self, job: &Job) {
        self.with(&job.connector, |s| {
            let retrying = job.state == JobState::Retrying;
            let queued = Queued {
                created_ms: job.created_ms,
                retrying,
            };
            if s.outbox.insert(job.seq, queued).is_none() {
                if retrying {
                    s.retrying += 1;
                } else {
                    s.pending += 1;
                }
            }
        });
    }

    /// An attempt ended with `outcome`; `plugin_call` is how long the plugin ran, if it was
    /// called.
    pub fn attempted(&self, connector: &str, outcome: &str, plugin_call: Option<Duration>) {
        self.with(connector, |s| {
            match s.attempts.get_mut(outcome) {
                Some(n) => *n += 1,
                None => {
                    s.attempts.insert(outcome.to_owned(), 1);
                }
            }
            if let Some(elapsed) = plugin_call {
                s.plugin_calls.observe(elapsed);
            }
        });
    }

    /// A connector was held back for `held`: paused as its target asked (`Retry-After`), or its
    /// requests waited for its request rate.
    pub fn throttled(&self, connector: &str, why: Throttle, held: Duration) {
        let ms = u64::try_from(held.as_millis()).unwrap_or(u64::MAX);
        self.with(connector, |s| {
            let slot = &mut s.throttled_ms[why as usize];
            *slot = slot.saturating_add(ms);
        });
    }

    /// A connector delivered (or failed to) while a client waited: a blocking connector, or the
    /// system of record in pass-through mode. Counted as an attempt, with its plugin call.
    pub fn called_while_waiting(
        &self,
        connector: &str,
        result: &Result<RemoteRef, Failure>,
        elapsed: Duration,
    ) {
        let outcome = match result {
            Ok(_) => "delivered",
            Err(f) => f.kind.as_str(),
        };
        self.attempted(connector, outcome, Some(elapsed));
    }

    /// The store recorded where an attempt left job `seq`.
    pub fn finished(&self, connector: &str, seq: u64, finish: Finish) {
        self.with(connector, |s| match finish {
            Finish::Delivered => {
                s.leave(seq);
                s.delivered_total += 1;
            }
            Finish::Retried => {
                if let Some(q) = s.outbox.get_mut(&seq)
                    && !q.retrying
                {
                    q.retrying = true;
                    s.pending = s.pending.saturating_sub(1);
                    s.retrying += 1;
                }
            }
            Finish::Dead => {
                s.leave(seq);
                s.dead += 1;
                s.dead_lettered_total += 1;
            }
        });
    }

    /// Job `seq` left the outbox without an attempt (it was no longer there when its turn came).
    pub fn vanished(&self, connector: &str, seq: u64) {
        self.with(connector, |s| s.leave(seq));
    }

    /// Writes every delivery family.
    pub fn encode(&self, e: &mut Encoder) {
        self.encode_at(e, now_ms());
    }

    /// [`encode`](Self::encode) with the current time given (ms since the Unix epoch).
    fn encode_at(&self, e: &mut Encoder, now: u64) {
        let all = self
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);

        let name = "scim_gateway_delivery_jobs";
        e.family(name, Kind::Gauge, "Delivery jobs by connector and state: pending (waiting for a first attempt), retrying (waiting for another) and dead (dead letters).");
        for (c, s) in all.iter() {
            for (state, n) in [
                ("pending", s.pending),
                ("retrying", s.retrying),
                ("dead", s.dead),
            ] {
                e.sample(name, &[("connector", c), ("state", state)], Value::Int(n));
            }
        }

        let name = "scim_gateway_delivery_oldest_pending_age_seconds";
        e.family(name, Kind::Gauge, "Age of the oldest job in the outbox (pending or retrying) by connector; 0 when it has none.");
        for (c, s) in all.iter() {
            let age_ms = s
                .outbox
                .values()
                .next()
                .map_or(0, |q| now.saturating_sub(q.created_ms));
            e.sample(
                name,
                &[("connector", c)],
                Value::Float(age_ms as f64 / 1000.0),
            );
        }

        let name = "scim_gateway_delivery_jobs_delivered_total";
        e.family(
            name,
            Kind::Counter,
            "Jobs delivered since start, by connector.",
        );
        for (c, s) in all.iter() {
            e.sample(name, &[("connector", c)], Value::Int(s.delivered_total));
        }

        let name = "scim_gateway_delivery_jobs_dead_lettered_total";
        e.family(
            name,
            Kind::Counter,
            "Jobs dead-lettered since start, by connector.",
        );
        for (c, s) in all.iter() {
            e.sample(name, &[("connector", c)], Value::Int(s.dead_lettered_total));
        }

        let name = "scim_gateway_delivery_throttled_seconds_total";
        e.family(name, Kind::Counter, "Time a connector was held back since start, by connector and reason: retry_after (paused as its target asked with Retry-After on a 429 or 503) and rate (requests waiting for its max_requests_per_second).");
        for (c, s) in all.iter() {
            for why in [Throttle::RetryAfter, Throttle::Rate] {
                e.sample(
                    name,
                    &[("connector", c), ("reason", why.as_str())],
                    Value::Float(s.throttled_ms[why as usize] as f64 / 1000.0),
                );
            }
        }

        let name = "scim_gateway_delivery_attempts_total";
        e.family(name, Kind::Counter, "Delivery attempts since start, by connector and outcome (delivered, skipped, or the failure kind: transient, permanent, trap, timeout, memory, bad-output, ...), including deliveries made while the client waited (blocking connectors, the system of record).");
        for (c, s) in all.iter() {
            for (outcome, n) in &s.attempts {
                e.sample(
                    name,
                    &[("connector", c), ("outcome", outcome)],
                    Value::Int(*n),
                );
            }
        }

        let name = "scim_gateway_plugin_faults_total";
        e.family(name, Kind::Counter, "Plugin calls the sandbox stopped since start, by connector and kind: trap, timeout (deadline exceeded) or memory (limit exceeded).");
        for (c, s) in all.iter() {
            for kind in FailureKind::FAULTS.map(FailureKind::as_str) {
                let n = s.attempts.get(kind).copied().unwrap_or(0);
                e.sample(name, &[("connector", c), ("kind", kind)], Value::Int(n));
            }
        }

        let name = "scim_gateway_plugin_call_duration_seconds";
        e.family(
            name,
            Kind::Histogram,
            "Duration of connector plugin calls (including the target's answer), by connector.",
        );
        for (c, s) in all.iter() {
            s.plugin_calls.encode(e, name, &[("connector", c)]);
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::model::Operation;
    use crate::store::outbox::Attempt;

    fn finish(outcome: &JobOutcome) -> Finish {
        Finish::from(outcome)
    }

    fn job(seq: u64, connector: &str, state: JobState, created_ms: u64) -> Job {
        Job {
            seq,
            connector: connector.into(),
            resource_type: "User".into(),
            resource_id: format!("u{seq}"),
            operation: Operation::Create,
            changed_paths: Vec::new(),
            members: None,
            state,
            next_attempt_ms: 0,
            attempts: Vec::new(),
            created_ms,
            retried_from: None,
            password: None,
        }
    }

    fn attempt(outcome: &str) -> Attempt {
        Attempt {
            at_ms: 0,
            duration_ms: 0,
            outcome: outcome.into(),
            message: String::new(),
            logs: Vec::new(),
        }
    }

    fn render(m: &DeliveryMetrics, now: u64) -> String {
        let mut e = Encoder::default();
        m.encode_at(&mut e, now);
        e.finish()
    }

    #[track_caller]
    fn has(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }

    #[test]
    fn configured_connectors_are_reported_before_any_job() {
        let m = DeliveryMetrics::new(["a"]);
        let text = render(&m, 0);
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"pending\"} 0",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"dead\"} 0",
        );
        has(
            &text,
            "scim_gateway_plugin_faults_total{connector=\"a\",kind=\"trap\"} 0",
        );
        has(
            &text,
            "scim_gateway_delivery_oldest_pending_age_seconds{connector=\"a\"} 0",
        );
        has(
            &text,
            "scim_gateway_plugin_call_duration_seconds_count{connector=\"a\"} 0",
        );
        assert!(!m.has_started());
        m.mark_started();
        assert!(m.has_started());
    }

    #[test]
    fn jobs_move_between_states_and_the_oldest_sets_the_age() {
        let m = DeliveryMetrics::new(["a"]);
        m.dead_found("a");
        m.queued(&job(1, "a", JobState::Pending, 1_000));
        m.queued(&job(2, "a", JobState::Retrying, 2_000));
        m.queued(&job(3, "a", JobState::Pending, 3_000));
        m.queued(&job(3, "a", JobState::Pending, 3_000));
        let text = render(&m, 11_500);
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"pending\"} 2",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"retrying\"} 1",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"dead\"} 1",
        );
        has(
            &text,
            "scim_gateway_delivery_oldest_pending_age_seconds{connector=\"a\"} 10.5",
        );

        m.attempted("a", "delivered", Some(Duration::from_millis(3)));
        m.finished(
            "a",
            1,
            finish(&JobOutcome::Delivered(attempt("delivered"), None)),
        );
        m.attempted("a", "timeout", Some(Duration::from_secs(1)));
        m.finished("a", 3, finish(&JobOutcome::Retry(attempt("timeout"), 99)));
        m.attempted("a", "trap", Some(Duration::from_millis(1)));
        m.finished("a", 2, finish(&JobOutcome::Dead(attempt("trap"))));
        let text = render(&m, 11_500);
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"pending\"} 0",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"retrying\"} 1",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"dead\"} 2",
        );
        has(
            &text,
            "scim_gateway_delivery_oldest_pending_age_seconds{connector=\"a\"} 8.5",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs_delivered_total{connector=\"a\"} 1",
        );
        has(
            &text,
            "scim_gateway_delivery_jobs_dead_lettered_total{connector=\"a\"} 1",
        );
        has(
            &text,
            "scim_gateway_delivery_attempts_total{connector=\"a\",outcome=\"timeout\"} 1",
        );
        has(
            &text,
            "scim_gateway_plugin_faults_total{connector=\"a\",kind=\"trap\"} 1",
        );
        has(
            &text,
            "scim_gateway_plugin_faults_total{connector=\"a\",kind=\"timeout\"} 1",
        );
        has(
            &text,
            "scim_gateway_plugin_faults_total{connector=\"a\",kind=\"memory\"} 0",
        );
        has(
            &text,
            "scim_gateway_plugin_call_duration_seconds_count{connector=\"a\"} 3",
        );

        m.vanished("a", 3);
        let text = render(&m, 11_500);
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"a\",state=\"retrying\"} 0",
        );
        has(
            &text,
            "scim_gateway_delivery_oldest_pending_age_seconds{connector=\"a\"} 0",
        );
    }

    #[test]
    fn jobs_of_an_unconfigured_connector_are_reported_too() {
        let m = DeliveryMetrics::new([]);
        m.queued(&job(7, "gone", JobState::Pending, 0));
        m.attempted("gone", "permanent", None);
        m.finished("gone", 7, Finish::Dead);
        let text = render(&m, 0);
        has(
            &text,
            "scim_gateway_delivery_jobs{connector=\"gone\",state=\"dead\"} 1",
        );
        has(
            &text,
            "scim_gateway_plugin_call_duration_seconds_count{connector=\"gone\"} 0",
        );
    }
}
