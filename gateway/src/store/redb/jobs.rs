//! Outbox jobs and the id map inside the writer's transaction.

use redb::{ReadableTable, WriteTransaction};

use super::super::outbox::{Job, JobOutcome, JobState, Operation, RemoteRef, now_ms};
use super::super::{ScopedJob, StoreError};
use super::{DEAD, ID_MAP, OUTBOX, io};
use crate::scim::schema::ResourceKind;

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
        state: JobState::Pending,
        next_attempt_ms: now,
        attempts: Vec::new(),
        created_ms: now,
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
        },
    )
}

/// Records how an attempt ended: delivered jobs leave the outbox (keeping or forgetting the
/// remote id), retried ones wait, dead ones move to the dead letters.
pub(super) fn finish(
    txn: &WriteTransaction,
    seq: u64,
    outcome: JobOutcome,
) -> Result<(), StoreError> {
    let mut outbox = txn.open_table(OUTBOX).map_err(io)?;
    let mut job: Job = match outbox.get(seq).map_err(io)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map_err(io)?,
        None => return Err(StoreError::NotFound(format!("job {seq}"))),
    };
    match outcome {
        JobOutcome::Delivered(attempt, remote) => {
            job.attempts.push(attempt);
            outbox.remove(seq).map_err(io)?;
            let (kind, id, connector) = (&job.resource_type, &job.resource_id, &job.connector);
            match (job.operation, remote) {
                (Operation::Delete, _) => set_remote(txn, kind, id, connector, None)?,
                (_, Some(remote)) => set_remote(txn, kind, id, connector, Some(&remote))?,
                (_, None) => {}
            }
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
    Ok(())
}
