//! Outbound delivery: takes the jobs the store's outbox holds and hands each to its connector,
//! in order per (connector, resource), in parallel across resources, with retries.
//!
//! # Shape
//! One dispatcher task owns all scheduling state ([`queue::Queues`]); it never waits on a
//! connector. Each attempt runs in its own task, which records the outcome in the store (the
//! job leaves the outbox, waits for a retry, or is dead-lettered) *before* reporting back, so a
//! crash at any point leaves the job in the outbox to be tried again: delivery is at least once,
//! and connectors make it idempotent (the `scim2` connector adopts a user that already exists).
//!
//! The dispatcher learns of new jobs by reading the outbox past the highest seq it has seen,
//! whenever the service signals a commit (and every second, as a safety net), so the outbox is
//! the only source of truth and a restart simply reads it from the start.
//!
//! # Coalescing a group's changes
//! A group's jobs for one connector wait in one queue, so while one is delivered the next ones
//! pile up (Entra ID adds members one PATCH at a time); a membership change that finds the
//! queue idle waits `member_linger_ms` (200 by default) before its first attempt, so that a
//! burst's next changes join it rather than each going out alone. An attempt of a group's create or
//! replace takes the replaces queued behind it with it (up to [`COALESCE`]): their membership
//! deltas are composed ([`MemberDelta::then`]), the group's other attributes are its current
//! state anyway, and one delivery carries them all. Order holds: only consecutive jobs of one
//! queue merge, and a delete ends the run. A burst of 1,000 single-member adds thus reaches the
//! target in a handful of deliveries. A connector that takes deltas
//! ([`Connector::takes_member_deltas`]) gets the group's row and the delta; any other gets the
//! whole current state as before. If the attempt fails, only the head is recorded as failed;
//! the others stay queued, and are coalesced again at the next attempt.
//!
//! It reports what it loads and every attempt's outcome to [`DeliveryMetrics`], and marks there
//! that it has started once it has read the outbox (what `/readyz` waits for) and which jobs
//! are running (what the admin API lists as `running`). Each attempt's record keeps the lines
//! the plugin logged during it.

pub mod blocking;
pub mod connector;
pub mod fill;
pub mod gate;
pub mod mapping;
pub mod plan;
pub mod queue;
pub mod registry;
pub mod retry;
pub mod scope;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use crate::metrics::DeliveryMetrics;
use crate::metrics::delivery::{Finish, Throttle};
use crate::model::{Failure, Operation, Page, RemoteRef, ResourceKind, now_ms};
pub use crate::model::{MemberDelta, MemberRef};
use crate::store::Store;
use crate::store::outbox::{Attempt, Job, JobKey, JobOutcome};
use crate::vault::{Vault, password_purpose};
use gate::Gate;
use queue::Queues;
use registry::{Lookup, Registry};
use retry::RetryPolicy;

/// One change, as a connector receives it (the runtime turns it into the plugin's
/// `PluginEvent`).
#[derive(Debug, Clone)]
pub struct ConnectorEvent {
    /// What happened.
    pub operation: Operation,
    /// Users or Groups.
    pub kind: ResourceKind,
    /// The gateway's id.
    pub id: String,
    /// What the connector called the resource last time, if it was delivered before.
    pub remote_id: Option<String>,
    /// The resource as committed (`Null` for a delete).
    pub resource: Value,
    /// For a PATCH, the attribute paths it changed.
    pub changed_paths: Vec<String>,
    /// For a group, when the connector takes membership deltas
    /// ([`Connector::takes_member_deltas`]): the members this change (or these coalesced
    /// changes) added and removed. `resource` then carries no `members` at all: the connector
    /// applies the delta and leaves the target's other members alone. `None`: `resource` is the
    /// whole current state, members included.
    pub members: Option<MemberDelta>,
}

/// Translates the gateway id of another resource (a group's member) into the id this connector
/// knows it by.
pub type IdLookup = Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

/// What a connector attempt answers: its result and the lines the plugin logged meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The remote reference, or why the attempt failed.
    pub result: Result<RemoteRef, Failure>,
    /// The plugin's log lines of this attempt (capped by the runtime).
    pub logs: Vec<String>,
    /// What the attempt learnt about pacing the target.
    pub paced: Paced,
}

/// What an attempt learnt about pacing its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paced {
    /// The target asked (`429`/`503` with `Retry-After`) that nothing be sent before this long
    /// from the attempt's end: the connector's next attempts wait.
    pub retry_after: Option<Duration>,
    /// How long the attempt's requests waited for the connector's request rate.
    pub throttled: Duration,
}

impl From<Result<RemoteRef, Failure>> for Attempted {
    fn from(result: Result<RemoteRef, Failure>) -> Self {
        Attempted {
            result,
            logs: Vec::new(),
            paced: Paced::default(),
        }
    }
}

/// A connector attempt in flight.
pub type DeliverFuture = Pin<Box<dyn Future<Output = Attempted> + Send>>;

/// A read from a connector's target in flight.
pub type ReadFuture<T> = Pin<Box<dyn Future<Output = Result<T, Failure>> + Send>>;

/// Something that delivers events: a connector instance running a plugin. One that can also
/// read its target (a `readable-connector`) can be the system of record of a gateway in
/// pass-through mode.
pub trait Connector: Send + Sync {
    /// Delivers one event. On success, answers the remote reference (for a delete, whatever
    /// the connector returns is ignored).
    fn deliver(&self, event: ConnectorEvent, ids: IdLookup) -> DeliverFuture;

    /// Whether group events may carry [`ConnectorEvent::members`] deltas instead of the whole
    /// member list (the plugin exports the membership interface).
    fn takes_member_deltas(&self) -> bool {
        false
    }

    /// The most attempts of this connector in flight at once; `None`: as many as the
    /// dispatcher's workers.
    fn max_concurrency(&self) -> Option<usize> {
        None
    }

    /// Whether [`Connector::get`] and [`Connector::list`] can work.
    fn can_read(&self) -> bool {
        false
    }

    /// Reads one resource by the id the target knows it by; `None` if it has none.
    fn get(&self, _kind: ResourceKind, _remote_id: &str) -> ReadFuture<Option<Value>> {
        Box::pin(async { Err(cannot_read()) })
    }

    /// Reads a page of resources, optionally filtered (SCIM filter text), from the 1-based
    /// `start_index`, at most `count`.
    fn list(
        &self,
        _kind: ResourceKind,
        _filter: Option<String>,
        _start_index: u32,
        _count: u32,
    ) -> ReadFuture<Page> {
        Box::pin(async { Err(cannot_read()) })
    }
}

/// The failure of a read from a connector that cannot read.
fn cannot_read() -> Failure {
    Failure::permanent("this connector cannot read its target")
}

/// What the dispatcher needs.
pub struct Dispatcher {
    /// The outbox, the id map and the job records.
    pub store: Arc<dyn Store>,
    /// The connector instances.
    pub connectors: Arc<Registry>,
    /// Retry limits and backoff.
    pub policy: RetryPolicy,
    /// Signalled by the service after each commit that recorded jobs.
    pub committed: Arc<Notify>,
    /// Most attempts in flight at once.
    pub workers: usize,
    /// How long a new membership change of a group waits before its first attempt (ms), for
    /// the changes behind it to be coalesced with it.
    pub member_linger_ms: u64,
    /// Where the outbox, the attempts and the dispatcher's start are reported.
    pub metrics: Arc<DeliveryMetrics>,
    /// In pass-through mode, the connector that holds the resources: an attempt reads the
    /// resource's current state from it instead of from the store.
    pub system_of_record: Option<String>,
    /// The operator's key, which opens the passwords jobs carry sealed.
    pub vault: Arc<Vault>,
}

/// An attempt's end, reported to the dispatcher.
struct Completion {
    /// The job's queue.
    key: JobKey,
    /// When the same job is due again, if it stays at the head of its queue.
    retry_at: Option<u64>,
    /// How many jobs behind the head were delivered with it.
    coalesced: usize,
    /// The target asked that the connector send nothing before this time (ms).
    pause_until: Option<u64>,
}

/// Most jobs of one group one attempt delivers together.
pub const COALESCE: usize = 1000;

/// How often the head job of a disabled connector's queue is looked at again (ms).
const PAUSED_RECHECK_MS: u64 = 1000;

/// How many outbox jobs one read loads.
const LOAD_BATCH: usize = 1000;

impl Dispatcher {
    /// Runs until the process ends.
    pub async fn run(self) {
        let mut queues = Queues::default();
        let mut gate = Gate::default();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
        self.count_dead();
        self.load_new(&mut queues);
        self.metrics.mark_started();
        let cap = |name: &str| match self.connectors.lookup(name) {
            Lookup::Ready(c) => c.max_concurrency(),
            Lookup::Paused | Lookup::Missing => None,
        };
        loop {
            self.load_new(&mut queues);
            let now = now_ms();
            queues.promote_due(now);
            for key in gate.release(now, cap) {
                queues.unpark(key);
            }
            while queues.in_flight() < self.workers {
                let Some((key, seq)) = queues.next_ready() else {
                    break;
                };
                if !gate.admits(&key.connector, cap(&key.connector), now) {
                    queues.park(&key);
                    gate.park(key);
                    continue;
                }
                gate.started(&key.connector);
                let followers = match key.resource_type.as_str() {
                    "Group" => queues.followers(&key, COALESCE),
                    _ => Vec::new(),
                };
                self.start(key, seq, followers, done_tx.clone());
            }
            let sleep = queues
                .next_due()
                .into_iter()
                .chain(gate.next_wake())
                .min()
                .map(|due| Duration::from_millis(due.saturating_sub(now_ms())))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            let mut finish = |done: Completion| {
                gate.ended(&done.key.connector, done.pause_until);
                queues.finish_with(&done.key, done.retry_at, done.coalesced, now_ms());
            };
            tokio::select! {
                Some(done) = done_rx.recv() => {
                    finish(done);
                    // Take every other completion that is already waiting before rescheduling.
                    while let Ok(done) = done_rx.try_recv() {
                        finish(done);
                    }
                }
                () = self.committed.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Counts the dead letters already in the store, for the metrics.
    fn count_dead(&self) {
        match self.store.dead_jobs() {
            Ok(dead) => {
                for job in &dead {
                    self.metrics.dead_found(&job.connector);
                }
            }
            Err(e) => tracing::error!(error = %e, "counting dead letters failed"),
        }
    }

    /// Reads the jobs committed since the last read into the queues.
    fn load_new(&self, queues: &mut Queues) {
        loop {
            match self.store.jobs_after(queues.cursor(), LOAD_BATCH) {
                Ok(jobs) if jobs.is_empty() => return,
                Ok(jobs) => {
                    for job in jobs {
                        self.metrics.queued(&job);
                        let due = match lingers(&job) {
                            true => job
                                .next_attempt_ms
                                .max(job.created_ms + self.member_linger_ms),
                            false => job.next_attempt_ms,
                        };
                        queues.add(job.key(), job.seq, due, now_ms());
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading the outbox failed; retrying shortly");
                    return;
                }
            }
        }
    }

    /// Runs one attempt of job `seq` in its own task.
    fn start(
        &self,
        key: JobKey,
        seq: u64,
        followers: Vec<u64>,
        done: mpsc::UnboundedSender<Completion>,
    ) {
        let store = self.store.clone();
        let connector = match self.connectors.lookup(&key.connector) {
            Lookup::Ready(c) => Some(c),
            Lookup::Missing => None,
            Lookup::Paused => {
                // Hold the job: its queue is looked at again a little later.
                let retry_at = Some(now_ms() + PAUSED_RECHECK_MS);
                let _ = done.send(Completion {
                    key,
                    retry_at,
                    coalesced: 0,
                    pause_until: None,
                });
                return;
            }
        };
        let source = match &self.system_of_record {
            None => Source::Store,
            Some(name) => match self.connectors.lookup(name) {
                Lookup::Ready(c) => Source::SystemOfRecord(c),
                Lookup::Paused | Lookup::Missing => Source::Unavailable(name.clone()),
            },
        };
        let policy = self.policy.clone();
        let metrics = self.metrics.clone();
        let vault = self.vault.clone();
        metrics.running_started(seq);
        tokio::spawn(async move {
            let (retry_at, coalesced, pause_until) = attempt(
                store,
                &vault,
                (source, connector),
                policy,
                &metrics,
                &key.connector,
                (seq, followers),
            )
            .await;
            metrics.running_ended(seq);
            let _ = done.send(Completion {
                key,
                retry_at,
                coalesced,
                pause_until,
            });
        });
    }
}

/// Whether a job waits [`Dispatcher::member_linger_ms`] before its first attempt: a group's
/// membership change not tried yet (a retry is already paced by its backoff).
fn lingers(job: &Job) -> bool {
    job.resource_type == ResourceKind::Group.name()
        && job.operation == Operation::Replace
        && job.members.is_some()
        && job.attempts.is_empty()
}

/// Where an attempt reads the resource's current state.
enum Source {
    /// The store (persist-and-provision).
    Store,
    /// The system of record (pass-through).
    SystemOfRecord(Arc<dyn Connector>),
    /// The system of record, which is not available now (by name).
    Unavailable(String),
}

/// The jobs behind a group's create or replace that one delivery can carry with it: the
/// replaces that follow it, up to the first other job.
fn coalescable(store: &dyn Store, head: &Job, followers: &[u64]) -> Vec<Job> {
    if !matches!(head.operation, Operation::Create | Operation::Replace) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &seq in followers {
        match store.job(seq) {
            Ok(Some(job)) if job.operation == Operation::Replace && job.attempts.is_empty() => {
                out.push(job);
            }
            _ => break,
        }
    }
    out
}

/// One attempt: deliver, record the outcome, answer when the job is due again (if it stays),
/// how many jobs behind it were delivered with it, and until when its target asked for quiet.
async fn attempt(
    store: Arc<dyn Store>,
    vault: &Vault,
    (source, connector): (Source, Option<Arc<dyn Connector>>),
    policy: RetryPolicy,
    metrics: &DeliveryMetrics,
    connector_name: &str,
    (seq, followers): (u64, Vec<u64>),
) -> (Option<u64>, usize, Option<u64>) {
    // If the store cannot be read or written, the job stays in the outbox: try again soon.
    let soon = (Some(now_ms() + 1000), 0, None);
    let job = match store.job(seq) {
        Ok(Some(job)) => job,
        Ok(None) => {
            metrics.vanished(connector_name, seq);
            return (None, 0, None);
        }
        Err(e) => {
            tracing::error!(seq, error = %e, "loading a job failed");
            return soon;
        }
    };
    let with = match (&source, &connector) {
        (Source::Store, Some(_)) => coalescable(&*store, &job, &followers),
        _ => Vec::new(),
    };
    let started = now_ms();
    let mut plugin_call = None;
    let mut logs = Vec::new();
    let mut paced = Paced::default();
    let result = match connector {
        Some(c) => match event_for(
            &store,
            vault,
            &source,
            (&job, &with),
            c.takes_member_deltas(),
        )
        .await
        {
            Ok(Some((event, rest))) => {
                let called = Instant::now();
                let ids = id_lookup(store.clone(), &job.connector);
                let delivered = fill::deliver(&*c, event, rest, ids).await;
                plugin_call = Some(called.elapsed());
                logs = delivered.logs;
                paced = delivered.paced;
                delivered.result.map(Some)
            }
            Ok(None) => Ok(None),
            Err(failure) => Err(failure),
        },
        None => Err(Failure::permanent(format!(
            "connector '{}' is not configured",
            job.connector
        ))),
    };
    let finished = now_ms();
    if !paced.throttled.is_zero() {
        metrics.throttled(&job.connector, Throttle::Rate, paced.throttled);
    }
    let pause_until = paced.retry_after.map(|wait| {
        metrics.throttled(&job.connector, Throttle::RetryAfter, wait);
        finished + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
    });
    let (mut record, mut retry_at) = outcome(&job, result, logs, &policy, started, finished);
    // A retry waits at least as long as the target asked.
    if let (JobOutcome::Retry(_, at), Some(until)) = (&mut record, pause_until) {
        *at = (*at).max(until);
        retry_at = Some(*at);
    }
    log_outcome(&job, &record);
    metrics.attempted(
        &job.connector,
        attempt_of(&record).outcome.as_str(),
        plugin_call,
    );
    let finish = Finish::from(&record);
    // Jobs delivered with the head are recorded with it: submitted together, they commit in
    // the writer's same batch.
    let carried: Vec<(u64, JobOutcome)> = match &record {
        JobOutcome::Delivered(a, remote) => with
            .iter()
            .map(|j| {
                let mut note = a.clone();
                note.message = format!("delivered with job {seq}");
                note.logs = Vec::new();
                (j.seq, JobOutcome::Delivered(note, remote.clone()))
            })
            .collect(),
        _ => Vec::new(),
    };
    let head = store.finish_job(seq, record);
    let others: Vec<_> = carried
        .into_iter()
        .map(|(s, outcome)| (s, store.finish_job(s, outcome)))
        .collect();
    let mut coalesced = 0;
    let head = head.await;
    for (s, pending) in others {
        match pending.await {
            Ok(_) => {
                metrics.finished(&job.connector, s, Finish::Delivered);
                coalesced += 1;
            }
            Err(e) => {
                // Recorded or not, it is delivered again: delivery is at least once.
                tracing::error!(seq = s, error = %e, "recording a coalesced delivery failed");
                break;
            }
        }
    }
    match head {
        Ok(_) => {
            metrics.finished(&job.connector, seq, finish);
            (retry_at, coalesced, pause_until)
        }
        Err(e) => {
            tracing::error!(seq, error = %e, "recording a delivery outcome failed");
            soon
        }
    }
}

/// The resource as a job of `operation` sends it: a deactivation sends it with `active: false`.
pub(crate) fn as_delivered(operation: Operation, mut resource: Value) -> Value {
    if let (Operation::Deactivate, Some(obj)) = (operation, resource.as_object_mut()) {
        obj.insert("active".into(), Value::Bool(false));
    }
    resource
}

/// The event a job delivers, or `None` when there is nothing to deliver because the resource
/// was deleted since (its delete job comes next in the same queue).
///
/// A create or replace carries the resource's *current* committed state, not the snapshot in
/// the job: jobs of a resource still run in order, but a later state supersedes an earlier one.
/// This matters for groups: a member deleted after the group changed is already gone from the
/// group's current state, while the old snapshot would name a member the target no longer has.
/// In pass-through mode the current state is the system of record's (whose id is the
/// gateway's).
///
/// Jobs coalesced with it (`with`) add their changed paths and membership deltas. A connector
/// that takes deltas gets a group's row (no `members`) with the composed delta, when every job
/// carries one (jobs recorded before deltas existed, or by a reconcile, do not). A whole group
/// for such a connector is read from the store a page at a time (`fill.rs`): the event carries
/// the first page, and the [`fill::Rest`] the others.
async fn event_for(
    store: &Arc<dyn Store>,
    vault: &Vault,
    source: &Source,
    (job, with): (&Job, &[Job]),
    takes_deltas: bool,
) -> Result<Option<(ConnectorEvent, Option<fill::Rest>)>, Failure> {
    let store_failed =
        |e: crate::store::StoreError| Failure::transient(format!("reading the store failed: {e}"));
    let kind = ResourceKind::from_name(&job.resource_type).ok_or_else(|| {
        Failure::permanent(format!("unknown resource type '{}'", job.resource_type))
    })?;
    let mut changed_paths = job.changed_paths.clone();
    let mut delta = job.members.clone();
    for j in with {
        for path in &j.changed_paths {
            if !changed_paths.contains(path) {
                changed_paths.push(path.clone());
            }
        }
        delta = match (delta, &j.members) {
            (Some(d), Some(next)) => Some(d.then(next.clone())),
            _ => None,
        };
    }
    let remote = store
        .remote_ref(&job.connector, &job.resource_type, &job.resource_id)
        .map_err(store_failed)?;
    // A delta goes only where the group is known: a target that has not got the group yet
    // gets it whole.
    let members = delta.filter(|_| {
        takes_deltas
            && kind == ResourceKind::Group
            && remote.is_some()
            && matches!(job.operation, Operation::Replace)
            && matches!(source, Source::Store)
    });
    let paged = fill::is_whole_group(kind, job.operation, members.is_some(), takes_deltas);
    let mut rest = None;
    let resource = match job.operation {
        Operation::Delete => Value::Null,
        Operation::Create | Operation::Replace | Operation::Deactivate => {
            let current = match source {
                Source::Store if members.is_some() => {
                    store.row(kind, &job.resource_id).map_err(store_failed)?
                }
                Source::Store if paged => {
                    let found = fill::from_store(store, &job.resource_id).map_err(store_failed)?;
                    found.map(|(row, pages)| {
                        rest = pages;
                        row
                    })
                }
                Source::Store => store.get(kind, &job.resource_id).map_err(store_failed)?,
                Source::SystemOfRecord(sor) => {
                    sor.get(kind, &job.resource_id).await.map_err(|f| {
                        Failure::transient(format!(
                            "reading the system of record failed ({}): {}",
                            f.kind, f.message
                        ))
                    })?
                }
                Source::Unavailable(name) => {
                    return Err(Failure::transient(format!(
                        "the system of record '{name}' is not available"
                    )));
                }
            };
            match current {
                Some(current) => {
                    with_password(vault, job, with, as_delivered(job.operation, current))?
                }
                None => return Ok(None),
            }
        }
    };
    let event = ConnectorEvent {
        operation: job.operation,
        kind,
        id: job.resource_id.clone(),
        remote_id: remote.map(|r| r.remote_id),
        resource,
        changed_paths,
        members,
    };
    Ok(Some((event, rest)))
}

/// `resource` with the password the newest of the jobs (`job`, then those coalesced `with` it)
/// carries, if one does: opened with the operator's key for this delivery only.
fn with_password(
    vault: &Vault,
    job: &Job,
    with: &[Job],
    mut resource: Value,
) -> Result<Value, Failure> {
    let newest = with
        .iter()
        .rev()
        .chain(std::iter::once(job))
        .find_map(|j| j.password.as_ref());
    if let (Some(sealed), Some(obj)) = (newest, resource.as_object_mut()) {
        let password = vault
            .open_str(&password_purpose(&job.resource_id), sealed)
            .map_err(|e| Failure::permanent(format!("the job's password cannot be opened: {e}")))?;
        obj.insert("password".into(), Value::String(password));
    }
    Ok(resource)
}

/// Remote ids of other resources at the same connector.
pub(crate) fn id_lookup(store: Arc<dyn Store>, connector: &str) -> IdLookup {
    let connector = connector.to_owned();
    Arc::new(move |resource_type: &str, id: &str| {
        store
            .remote_ref(&connector, resource_type, id)
            .ok()
            .flatten()
            .map(|r| r.remote_id)
    })
}

/// What the store records for an attempt, and when the job is due again if it stays.
fn outcome(
    job: &Job,
    result: Result<Option<RemoteRef>, Failure>,
    logs: Vec<String>,
    policy: &RetryPolicy,
    started: u64,
    finished: u64,
) -> (JobOutcome, Option<u64>) {
    let attempt = |outcome: &str, message: String| Attempt {
        at_ms: started,
        duration_ms: finished.saturating_sub(started),
        outcome: outcome.to_owned(),
        message,
        logs,
    };
    match result {
        Ok(Some(remote)) => (
            JobOutcome::Delivered(attempt("delivered", remote.remote_id.clone()), Some(remote)),
            None,
        ),
        Ok(None) => (
            JobOutcome::Delivered(
                attempt("skipped", "deleted before this change was delivered".into()),
                None,
            ),
            None,
        ),
        Err(failure) => {
            let tries = job.attempts.len() as u32 + 1;
            let record = attempt(failure.kind.as_str(), failure.message);
            if failure.retryable && tries < policy.max_attempts {
                let at = finished + policy.delay_ms(tries);
                (JobOutcome::Retry(record, at), Some(at))
            } else {
                (JobOutcome::Dead(record), None)
            }
        }
    }
}

/// The attempt an outcome records.
fn attempt_of(outcome: &JobOutcome) -> &Attempt {
    match outcome {
        JobOutcome::Delivered(a, _) | JobOutcome::Retry(a, _) | JobOutcome::Dead(a) => a,
    }
}

fn log_outcome(job: &Job, outcome: &JobOutcome) {
    let span = tracing::info_span!("delivery", connector = %job.connector, seq = job.seq,
        resource = %format!("{}/{}", job.resource_type, job.resource_id));
    let _entered = span.enter();
    match outcome {
        JobOutcome::Delivered(a, _) => tracing::debug!(ms = a.duration_ms, "delivered"),
        JobOutcome::Retry(a, at) => {
            tracing::warn!(outcome = %a.outcome, message = %a.message, retry_at_ms = at, "delivery failed; will retry")
        }
        JobOutcome::Dead(a) => {
            tracing::error!(outcome = %a.outcome, message = %a.message, "delivery failed; dead-lettered")
        }
    }
}

#[cfg(test)]
mod tests;
