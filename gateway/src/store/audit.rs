//! The audit trail: an append-only record of every accepted change (who, what, the digests of
//! the state before and after) and of every delivery outcome, written by the store in the same
//! transaction as what it records, queried newest first, and pruned after a retention period.
//!
//! Entries are numbered in commit order, and their time never goes backwards (the store stamps
//! an entry no earlier than the one before it), so a time range is a contiguous run of entries.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Store;
use crate::model::{Operation, now_ms};

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the trail (commit order); the paging cursor.
    pub seq: u64,
    /// When it was committed (ms since the Unix epoch).
    pub at_ms: u64,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The gateway's id of the resource.
    pub resource_id: String,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// What an audit entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuditEvent {
    /// A change a SCIM client made.
    Change {
        /// The name of the token that made it (`env` for `SCIM_GATEWAY_TOKEN`); absent for
        /// changes made without one (tests, internal callers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        /// Create, replace (PUT or PATCH) or delete.
        operation: Operation,
        /// Hex SHA-256 of the stored resource before the change (absent for a create).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_sha256: Option<String>,
        /// Hex SHA-256 of the stored resource after the change (absent for a delete).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_sha256: Option<String>,
    },
    /// How a delivery attempt ended.
    Delivery {
        /// The connector instance.
        connector: String,
        /// The job's seq; absent for a delivery made while the client waited (a blocking
        /// connector, or the system of record in pass-through mode), which has no job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_seq: Option<u64>,
        /// `delivered`, `skipped`, or the failure kind.
        outcome: String,
        /// Where the job went: `delivered`, `retrying` or `dead`.
        result: String,
    },
}

/// Which entries to read. Every given part must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries older than this seq (the cursor of the previous page).
    pub before: Option<u64>,
    /// Only entries at or after this time (ms since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Only entries before this time (ms since the Unix epoch).
    pub until_ms: Option<u64>,
    /// Only entries of this resource type.
    pub resource_type: Option<String>,
    /// Only entries of this resource id.
    pub resource_id: Option<String>,
    /// Only delivery entries of this connector.
    pub connector: Option<String>,
    /// Only change entries of this token name.
    pub actor: Option<String>,
    /// Most entries to answer.
    pub limit: usize,
}

impl AuditQuery {
    /// Whether `entry` passes the filters other than time and cursor.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        let (actor, connector) = match &entry.event {
            AuditEvent::Change { actor, .. } => (actor.as_deref(), None),
            AuditEvent::Delivery { connector, .. } => (None, Some(connector.as_str())),
        };
        self.resource_type
            .as_ref()
            .is_none_or(|t| *t == entry.resource_type)
            && self
                .resource_id
                .as_ref()
                .is_none_or(|i| *i == entry.resource_id)
            && self
                .connector
                .as_deref()
                .is_none_or(|c| Some(c) == connector)
            && self.actor.as_deref().is_none_or(|a| Some(a) == actor)
    }
}

/// Hex SHA-256 of a stored resource's bytes.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Most entries one pruning pass removes (one write transaction).
pub const PRUNE_BATCH: usize = 1000;

/// How often the trail is pruned after the pass at start.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Removes entries older than `retention_days`, now and then every hour, in passes of at most
/// [`PRUNE_BATCH`] entries so that other writes interleave. `0` keeps everything.
pub fn spawn_pruning(store: Arc<dyn Store>, retention_days: u64) {
    if retention_days == 0 {
        return;
    }
    let retention_ms = retention_days.saturating_mul(24 * 3600 * 1000);
    tokio::spawn(async move {
        loop {
            let cutoff = now_ms().saturating_sub(retention_ms);
            loop {
                match store.prune_audit(cutoff, PRUNE_BATCH).await {
                    Ok(n) if n >= PRUNE_BATCH => tokio::task::yield_now().await,
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(removed = n, "pruned the audit trail");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "pruning the audit trail failed");
                        break;
                    }
                }
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    });
}
