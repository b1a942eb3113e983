//! The audit trail in the admin API: `GET /audit`, newest first.
//!
//! Query parameters (all optional, combined with "and"): `since` and `until` (RFC 3339, e.g.
//! `2025-01-31T12:00:00Z`, or ms since the Unix epoch; `since` inclusive, `until` exclusive),
//! `resource_type` and `resource_id`, `connector` (delivery entries of that connector), `actor`
//! (changes made with the token of that name), `before` (the previous page's `next`) and `limit`
//! (default 100, at most 1000). The answer: `{"total": N, "next": SEQ|null, "entries": [...]}`,
//! each entry with its `seq`, `at_ms`, `at` (RFC 3339), `resource_type`, `resource_id`, `kind`
//! (`change` or `delivery`) and the fields of its kind.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AdminError, AdminState};
use crate::store::{AuditEntry, AuditQuery};

/// Entries one answer holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// Most entries one answer holds.
const MAX_LIMIT: usize = 1000;

/// The audit routes.
pub fn router() -> Router<AdminState> {
    Router::new().route("/audit", get(list))
}

/// Query of `GET /audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Entries at or after this time.
    since: Option<String>,
    /// Entries before this time.
    until: Option<String>,
    /// Only this resource type.
    resource_type: Option<String>,
    /// Only this resource id.
    resource_id: Option<String>,
    /// Only delivery entries of this connector.
    connector: Option<String>,
    /// Only changes made with the token of this name.
    actor: Option<String>,
    /// Only entries older than this seq.
    before: Option<u64>,
    /// Most entries to answer.
    limit: Option<usize>,
}

/// A time parameter: ms since the Unix epoch, or RFC 3339.
fn parse_time(name: &str, text: &str) -> Result<u64, AdminError> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        AdminError::bad_request(format!(
            "{name} must be RFC 3339 (2025-01-31T12:00:00Z) or ms since the Unix epoch, not '{text}'"
        ))
    })?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    Ok(u64::try_from(ms).unwrap_or(0))
}

/// An entry as the API shows it: with its time in RFC 3339 too.
fn shown(entry: &AuditEntry) -> Value {
    let mut value = serde_json::to_value(entry).unwrap_or(Value::Null);
    let at = i128::from(entry.at_ms).saturating_mul(1_000_000);
    let at = OffsetDateTime::from_unix_timestamp_nanos(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok());
    if let (Some(obj), Some(at)) = (value.as_object_mut(), at) {
        obj.insert("at".into(), Value::String(at));
    }
    value
}

async fn list(
    State(state): State<AdminState>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, AdminError> {
    let Query(p) = query?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let query = AuditQuery {
        before: p.before,
        since_ms: p.since.map(|t| parse_time("since", &t)).transpose()?,
        until_ms: p.until.map(|t| parse_time("until", &t)).transpose()?,
        resource_type: p.resource_type,
        resource_id: p.resource_id,
        connector: p.connector,
        actor: p.actor,
        limit,
    };
    let entries = state.store.audit(&query)?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let shown: Vec<Value> = entries.iter().map(shown).collect();
    Ok(Json(json!({"total": shown.len(), "next": next, "entries": shown})).into_response())
}
