//! Outbox jobs, dead letters, the delivery history and the id map inside the writer's
//! transaction.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::super::audit::AuditEvent;
use super::super::outbox::{DeadAction, DeadSelection, Job, JobOutcome, JobState};
use super::super::{ScopedJob, StoreError};
use super::{Counters, DEAD, DELIVERED, ID_MAP, OUTBOX, audit, io};
use crate::model::{MemberDelta, Operation, RemoteRef, ResourceKind, now_ms};

/// Most old entries one delivery removes from the history when it is over its size (more than
/// one only after `keep_delivered` was lowered: the excess goes over the next deliveries).
const HISTORY_PRUNE_STEP: usize = 64;

/// Separates the parts of an id-map key; it cannot occur in ids, type names or connector names
/// that come from configuration.
const SEP: char = '\u{1f}';

/// The id-map key of a resource at a connector.
pub(super) fn id_map_key(resource_type: &str, id: &str, connector: &str) -> String {
    format!("{resource_type}{SEP}{id}{SEP}{connector}")
}

/// Keeps (`Some`) or forgets (`None`) what `connector` calls a resource.
pub(super) fn set_remote(
    txn: &WriteTransaction,
    resource_type: &str,
    id: &str,
    connector: &str,
    remote: Option<&RemoteRef>,
) -> Result<(), StoreError> {
    let key = id_map_key(resource_type, id, connector);
    let mut id_map = txn.open_table(ID_MAP).map_err(io)?;
    match remote {
        Some(remote) => {
            let bytes = serde_json::to_vec(remote).map_err(io)?;
            id_map.insert(key.as_str(), bytes.as_slice()).map_err(io)?;
        }
        None => {
            id_map.remove(key.as_str()).map_err(io)?;
        }
    }
    Ok(())
}

/// The connectors that hold a remote id for the resource.
pub(super) fn holders(
    txn: &WriteTransaction,
    resource_type: &str,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    let prefix = format!("{resource_type}{SEP}{id}{SEP}");
    let t = txn.open_table(ID_MAP).map_err(io)?;
    let mut out = Vec::new();
    for entry in t.range(prefix.as_str()..).map_err(io)? {
        let (key, _) = entry.map_err(io)?;
        let Some(connector) = key.value().strip_prefix(prefix.as_str()) else {
            break;
        };
        out.push(connector.to_owned());
    }
    Ok(out)
}

/// What a new job is made of.
pub(super) struct NewJob<'a> {
    /// The connector instance.
    pub connector: String,
    /// The resource's kind.
    pub kind: ResourceKind,
    /// The resource's id.
    pub id: &'a str,
    /// What happened.
    pub operation: Operation,
    /// For a PATCH, the changed paths.
    pub changed_paths: &'a [String],
    /// For a group's create or replace, its membership delta.
    pub members: Option<MemberDelta>,
    /// The password it delivers, sealed.
    pub password: Option<crate::vault::Sealed>,
}

/// Records a delivery job in the outbox.
pub(super) fn enqueue(
    txn: &WriteTransaction,
    seq: &mut u64,
    new: NewJob<'_>,
) -> Result<(), StoreError> {
    *seq += 1;
    let now = now_ms();
    let job = Job {
        seq: *seq,
        connector: new.connector,
        resource_type: new.kind.name().to_owned(),
        resource_id: new.id.to_owned(),
        operation: new.operation,
        changed_paths: new.changed_paths.to_vec(),
        members: new.members,
        state: JobState::Pending,
        next_attempt_ms: now,
        attempts: Vec::new(),
        created_ms: now,
        retried_from: None,
        password: new.password,
    };
    let bytes = serde_json::to_vec(&job).map_err(io)?;
    txn.open_table(OUTBOX)
        .map_err(io)?
        .insert(*seq, bytes.as_slice())
        .map_err(io)?;
    Ok(())
}

/// Records a job for a resource other than the change's own, or with another operation.
pub(super) fn enqueue_scoped(
    txn: &WriteTransaction,
    seq: &mut u64,
    job: ScopedJob,
    password: Option<crate::vault::Sealed>,
) -> Result<(), StoreError> {
    enqueue(
        txn,
        seq,
        NewJob {
            connector: job.connector,
            kind: job.kind,
            id: &job.id,
            operation: job.operation,
            changed_paths: &[],
            members: job.members,
            password,
        },
    )
}

/// Records how an attempt ended: delivered jobs move from the outbox to the history (keeping or
/// forgetting the remote id; the history keeps the newest `keep_delivered`), retried ones wait,
/// dead ones move to the dead letters. The outcome is appended to the audit trail.
pub(super) fn finish(
    txn: &WriteTransaction,
    counters: &mut Counters,
    seq: u64,
    outcome: JobOutcome,
    keep_delivered: u64,
) -> Result<(), StoreError> {
    let mut outbox = txn.open_table(OUTBOX).map_err(io)?;
    let mut job: Job = match outbox.get(seq).map_err(io)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map_err(io)?,
        None => return Err(StoreError::NotFound(format!("job {seq}"))),
    };
    let (attempt_outcome, result) = match &outcome {
        JobOutcome::Delivered(a, _) => (a.outcome.clone(), "delivered"),
        JobOutcome::Retry(a, _) => (a.outcome.clone(), "retrying"),
        JobOutcome::Dead(a) => (a.outcome.clone(), "dead"),
    };
    match outcome {
        JobOutcome::Delivered(attempt, remote) => {
            job.attempts.push(attempt);
            job.state = JobState::Delivered;
            // Delivered: the password has reached this job's connector and is kept no longer.
            job.password = None;
            outbox.remove(seq).map_err(io)?;
            let (kind, id, connector) = (&job.resource_type, &job.resource_id, &job.connector);
            match (job.operation, remote) {
                (Operation::Delete, _) => set_remote(txn, kind, id, connector, None)?,
                (_, Some(remote)) => set_remote(txn, kind, id, connector, Some(&remote))?,
                (_, None) => {}
            }
            remember_delivered(txn, &job, keep_delivered)?;
        }
        JobOutcome::Retry(attempt, next_attempt_ms) => {
            job.attempts.push(attempt);
            job.state = JobState::Retrying;
            job.next_attempt_ms = next_attempt_ms;
            let bytes = serde_json::to_vec(&job).map_err(io)?;
            outbox.insert(seq, bytes.as_slice()).map_err(io)?;
        }
        JobOutcome::Dead(attempt) => {
            job.attempts.push(attempt);
            job.state = JobState::Dead;
            outbox.remove(seq).map_err(io)?;
            let bytes = serde_json::to_vec(&job).map_err(io)?;
            txn.open_table(DEAD)
                .map_err(io)?
                .insert(seq, bytes.as_slice())
                .map_err(io)?;
        }
    }
    audit::append(
        txn,
        counters,
        &job.resource_type,
        &job.resource_id,
        AuditEvent::Delivery {
            connector: job.connector.clone(),
            job_seq: Some(seq),
            outcome: attempt_outcome,
            result: result.to_owned(),
        },
    )
}

/// Adds a delivered job to the history and drops the oldest entries over `keep`.
fn remember_delivered(txn: &WriteTransaction, job: &Job, keep: u64) -> Result<(), StoreError> {
    let mut history = txn.open_table(DELIVERED).map_err(io)?;
    if keep > 0 {
        let bytes = serde_json::to_vec(job).map_err(io)?;
        history.insert(job.seq, bytes.as_slice()).map_err(io)?;
    }
    let excess = history.len().map_err(io)?.saturating_sub(keep);
    let step = usize::try_from(excess)
        .unwrap_or(usize::MAX)
        .min(HISTORY_PRUNE_STEP);
    for _ in 0..step {
        history.pop_first().map_err(io)?;
    }
    Ok(())
}

/// Retries or discards the dead jobs `selection` names; answers the affected jobs (retried ones
/// as they are back in the outbox, with a fresh seq and `retried_from` set).
pub(super) fn act_on_dead(
    txn: &WriteTransaction,
    counters: &mut Counters,
    action: DeadAction,
    selection: &DeadSelection,
) -> Result<Vec<Job>, StoreError> {
    let mut dead = txn.open_table(DEAD).map_err(io)?;
    let mut chosen: Vec<Job> = Vec::new();
    match &selection.seqs {
        Some(seqs) => {
            let mut seqs = seqs.clone();
            seqs.sort_unstable();
            seqs.dedup();
            for seq in seqs {
                if let Some(bytes) = dead.get(seq).map_err(io)? {
                    chosen.push(serde_json::from_slice(bytes.value()).map_err(io)?);
                }
            }
        }
        None => {
            for entry in dead.iter().map_err(io)? {
                let (_, bytes) = entry.map_err(io)?;
                chosen.push(serde_json::from_slice(bytes.value()).map_err(io)?);
            }
        }
    }
    chosen.retain(|j| {
        selection
            .connector
            .as_ref()
            .is_none_or(|c| *c == j.connector)
    });
    let mut outbox = txn.open_table(OUTBOX).map_err(io)?;
    let mut affected = Vec::with_capacity(chosen.len());
    for mut job in chosen {
        dead.remove(job.seq).map_err(io)?;
        if action == DeadAction::Retry {
            counters.job += 1;
            job.retried_from = Some(job.seq);
            job.seq = counters.job;
            job.state = JobState::Pending;
            job.next_attempt_ms = now_ms();
            let bytes = serde_json::to_vec(&job).map_err(io)?;
            outbox.insert(job.seq, bytes.as_slice()).map_err(io)?;
        }
        affected.push(job);
    }
    Ok(affected)
}
