//! The transactional outbox: delivery jobs recorded in the same transaction as the change they
//! deliver, and what became of them.
//!
//! A job names one connector instance and one change of one resource. It holds no copy of the
//! resource: an attempt delivers the resource's current committed state (see
//! [`delivery`](crate::delivery)), so a copy would only make every outbox write and read
//! larger. Jobs of one (connector, resource) pair are delivered in `seq` order; the remote id is
//! looked up when a job runs, so a replace queued behind a create uses the id that the create
//! obtained.

use serde::{Deserialize, Serialize};

use crate::model::{MemberDelta, Operation, RemoteRef};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its first attempt.
    Pending,
    /// Failed transiently; waits for `next_attempt_ms`.
    Retrying,
    /// Failed for good (or ran out of attempts); kept with its last error.
    Dead,
    /// Delivered (or skipped); kept in the delivery history, which holds the newest
    /// `[delivery] keep_delivered` jobs.
    Delivered,
    /// Being attempted right now. Never stored: the admin API reports it for the jobs the
    /// dispatcher has in flight.
    Running,
}

/// One try at delivering a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started (ms since the Unix epoch).
    pub at_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// `delivered`, `transient`, `permanent`, `trap`, `timeout`, `memory`, …
    pub outcome: String,
    /// The connector's message or the runtime's reason.
    pub message: String,
    /// What the plugin logged during the attempt (its `log` calls, then its stdout and
    /// stderr), capped per attempt; empty for records written before logs were kept.
    #[serde(default)]
    pub logs: Vec<String>,
}

/// A delivery job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Position in the outbox; orders the jobs of one (connector, resource) pair.
    pub seq: u64,
    /// The connector instance's name.
    pub connector: String,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The gateway's id of the resource.
    pub resource_id: String,
    /// What happened.
    pub operation: Operation,
    /// For a PATCH: the attribute paths it changed.
    pub changed_paths: Vec<String>,
    /// For a group's create or replace: the members the change added and removed, exact
    /// against the state it was committed on (a create: every member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<MemberDelta>,
    /// Where the job is.
    pub state: JobState,
    /// Earliest time of the next attempt (ms since the Unix epoch).
    pub next_attempt_ms: u64,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// When the change was committed (ms since the Unix epoch).
    pub created_ms: u64,
    /// For a dead job an operator sent back to the outbox: the seq it had when it died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_from: Option<u64>,
    /// For a user's change that set a password: the password, sealed with the operator's key
    /// ([`crate::vault`]), for this job's connector only. It is the one place a password rests:
    /// never in the resource, and gone from the job's record once the job is delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<crate::vault::Sealed>,
}

impl Job {
    /// The (connector, resource type, resource id) queue this job belongs to.
    pub fn key(&self) -> JobKey {
        JobKey {
            connector: self.connector.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
        }
    }
}

/// The unit of ordering: jobs with the same key run one at a time, in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKey {
    /// The connector instance.
    pub connector: String,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The gateway's id.
    pub resource_id: String,
}

/// How a job attempt ended, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Delivered: the job leaves the outbox; the remote id is kept (or, after a delete,
    /// forgotten).
    Delivered(Attempt, Option<RemoteRef>),
    /// Try again at `next_attempt_ms`.
    Retry(Attempt, u64),
    /// Give up: the job moves to the dead letters.
    Dead(Attempt),
}

/// Where job records are kept: the three places a stored job can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    /// The outbox: pending and retrying jobs.
    Outbox,
    /// The dead letters.
    Dead,
    /// The delivery history (the newest delivered jobs).
    Delivered,
}

/// Which jobs of one shelf to list, in `seq` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this stored state (`Pending` or `Retrying` make sense in the outbox).
    pub state: Option<JobState>,
    /// Only this connector's jobs.
    pub connector: Option<String>,
    /// Only jobs of this resource type.
    pub resource_type: Option<String>,
    /// Only jobs of this resource id.
    pub resource_id: Option<String>,
}

impl JobFilter {
    /// Whether `job` passes.
    pub fn matches(&self, job: &Job) -> bool {
        self.state.is_none_or(|s| s == job.state)
            && self.connector.as_ref().is_none_or(|c| *c == job.connector)
            && self
                .resource_type
                .as_ref()
                .is_none_or(|t| *t == job.resource_type)
            && self
                .resource_id
                .as_ref()
                .is_none_or(|i| *i == job.resource_id)
    }
}

/// What to do with dead jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadAction {
    /// Send them back to the outbox (state pending, attempts kept, a fresh seq).
    Retry,
    /// Remove them for good.
    Discard,
}

/// Which dead jobs an operator acts on. Both parts given: jobs that match both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadSelection {
    /// Only this connector's dead jobs.
    pub connector: Option<String>,
    /// Only these seqs (those that are not dead jobs are passed over).
    pub seqs: Option<Vec<u64>>,
}
