//! Delivery jobs in the admin API: list them by state, show one with its attempts (and the
//! plugin's log lines of each), and retry or discard dead ones, one at a time or in bulk.
//!
//! - `GET /jobs?state=&connector=&resource_type=&resource_id=&after=&limit=`: jobs in `seq`
//!   order. `state` is `pending` (waiting for a first attempt), `running` (being attempted now),
//!   `retrying` (waiting for another attempt), `delivered` (the delivery history) or `dead`;
//!   without it, the whole outbox (pending, running and retrying). The answer's `next` is the
//!   `after` of the next page (`null` on the last one).
//! - `GET /jobs/{seq}`: one job, wherever it is.
//! - `POST /jobs/{seq}/retry`, `DELETE /jobs/{seq}`: retry or discard one dead job (`409` for a
//!   job that is not dead).
//! - `POST /jobs/retry`, `POST /jobs/discard` with `{"connector": "...", "seqs": [...]}` (either
//!   or both): the dead jobs selected; the answer says how many.
//!
//! A retried job goes back to the outbox as pending with a fresh seq (its attempts kept,
//! `retried_from` naming its old seq), so it runs after every job of its resource that is
//! already queued. That is safe because an attempt delivers the resource's *current* state: a
//! retried create or replace sends the newest state, and one whose resource was deleted since
//! is skipped.

use std::collections::HashSet;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{AdminError, AdminState};
use crate::store::outbox::JobState;
use crate::store::{DeadAction, DeadSelection, Job, JobFilter, Shelf};

/// Jobs one listing answers unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// Most jobs one listing answers.
const MAX_LIMIT: usize = 1000;

/// The job routes.
pub fn router() -> Router<AdminState> {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/retry", post(retry_many))
        .route("/jobs/discard", post(discard_many))
        .route("/jobs/{seq}", get(show).delete(discard_one))
        .route("/jobs/{seq}/retry", post(retry_one))
}

/// Query of `GET /jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `pending`, `running`, `retrying`, `delivered` or `dead`; absent: the outbox.
    state: Option<String>,
    /// Only this connector's jobs.
    connector: Option<String>,
    /// Only jobs of this resource type.
    resource_type: Option<String>,
    /// Only jobs of this resource id.
    resource_id: Option<String>,
    /// Only jobs with a greater seq (the previous page's `next`).
    after: Option<u64>,
    /// Most jobs to answer (default 100, at most 1000).
    limit: Option<usize>,
}

/// Body of the bulk actions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    /// Only this connector's dead jobs.
    connector: Option<String>,
    /// Only these dead jobs.
    seqs: Option<Vec<u64>>,
}

/// What a listing reads.
enum Listing {
    /// A stored shelf, optionally one state of it; running jobs are shown as running, or left
    /// out when `hide_running`.
    Stored {
        /// Where.
        shelf: Shelf,
        /// Only this stored state.
        state: Option<JobState>,
        /// Leave out the jobs being attempted.
        hide_running: bool,
    },
    /// The jobs being attempted now.
    Running,
}

fn listing(state: Option<&str>) -> Result<Listing, AdminError> {
    let stored = |shelf, state, hide_running| Listing::Stored {
        shelf,
        state,
        hide_running,
    };
    Ok(match state {
        None => stored(Shelf::Outbox, None, false),
        Some("pending") => stored(Shelf::Outbox, Some(JobState::Pending), true),
        Some("retrying") => stored(Shelf::Outbox, Some(JobState::Retrying), true),
        Some("running") => Listing::Running,
        Some("delivered") => stored(Shelf::Delivered, None, false),
        Some("dead") => stored(Shelf::Dead, None, false),
        Some(other) => {
            return Err(AdminError::bad_request(format!(
                "state must be one of pending, running, retrying, delivered, dead; not '{other}'"
            )));
        }
    })
}

async fn list(
    State(state): State<AdminState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AdminError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let after = q.after.unwrap_or(0);
    let filter = JobFilter {
        state: None,
        connector: q.connector,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
    };
    let running: HashSet<u64> = state.delivery.running().into_iter().collect();
    let (jobs, next) = match listing(q.state.as_deref())? {
        Listing::Running => {
            let mut jobs = Vec::new();
            let mut seqs: Vec<u64> = running.iter().copied().filter(|s| *s > after).collect();
            seqs.sort_unstable();
            let mut more = false;
            for seq in seqs {
                if jobs.len() == limit {
                    more = true;
                    break;
                }
                // The attempt may have ended meanwhile: then the job is elsewhere.
                if let Some(job) = state.store.job(seq)?
                    && job.state != JobState::Dead
                    && job.state != JobState::Delivered
                    && filter.matches(&job)
                {
                    jobs.push(job);
                }
            }
            let next = more.then(|| jobs.last().map(|j| j.seq)).flatten();
            (jobs, next)
        }
        Listing::Stored {
            shelf,
            state: only,
            hide_running,
        } => {
            let filter = JobFilter {
                state: only,
                ..filter
            };
            let hidden = if hide_running { running.len() } else { 0 };
            let fetched = state
                .store
                .list_jobs(shelf, &filter, after, limit + hidden)?;
            let full = fetched.len() == limit + hidden;
            let last_scanned = fetched.last().map(|j| j.seq);
            let mut jobs: Vec<Job> = fetched
                .into_iter()
                .filter(|j| !hide_running || !running.contains(&j.seq))
                .collect();
            let next = if jobs.len() > limit {
                jobs.truncate(limit);
                jobs.last().map(|j| j.seq)
            } else if full {
                last_scanned
            } else {
                None
            };
            (jobs, next)
        }
    };
    let jobs: Vec<Job> = jobs.into_iter().map(|j| shown(j, &running)).collect();
    Ok(Json(json!({"total": jobs.len(), "next": next, "jobs": jobs})).into_response())
}

/// A job as the admin API shows it: an outbox job being attempted is `running`.
fn shown(mut job: Job, running: &HashSet<u64>) -> Job {
    if matches!(job.state, JobState::Pending | JobState::Retrying) && running.contains(&job.seq) {
        job.state = JobState::Running;
    }
    job
}

/// The seq of a path, or `400`.
fn parse_seq(seq: &str) -> Result<u64, AdminError> {
    seq.parse()
        .map_err(|_| AdminError::bad_request(format!("a job id is a number, not '{seq}'")))
}

/// The job `seq`, or `404`.
fn find(state: &AdminState, seq: u64) -> Result<Job, AdminError> {
    state
        .store
        .job(seq)?
        .ok_or_else(|| AdminError::new(StatusCode::NOT_FOUND, format!("job {seq} not found")))
}

async fn show(
    State(state): State<AdminState>,
    Path(seq): Path<String>,
) -> Result<Response, AdminError> {
    let job = find(&state, parse_seq(&seq)?)?;
    let running: HashSet<u64> = state.delivery.running().into_iter().collect();
    Ok(Json(shown(job, &running)).into_response())
}

/// The name of a state, as the API spells it.
fn state_name(state: JobState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Retries or discards the dead jobs selected; reports them to the metrics and, after a retry,
/// wakes the dispatcher.
async fn act(
    state: &AdminState,
    action: DeadAction,
    selection: DeadSelection,
) -> Result<Vec<Job>, AdminError> {
    let jobs = state.store.act_on_dead(action, selection).await?;
    for job in &jobs {
        state.delivery.dead_left(&job.connector);
    }
    if action == DeadAction::Retry && !jobs.is_empty() {
        state.committed.notify_one();
    }
    Ok(jobs)
}

/// Acts on the one dead job `seq`: `404` if there is none, `409` if it is not dead.
async fn act_on_one(
    state: &AdminState,
    seq: &str,
    action: DeadAction,
) -> Result<Vec<Job>, AdminError> {
    let seq = parse_seq(seq)?;
    let job = find(state, seq)?;
    let verb = match action {
        DeadAction::Retry => "retried",
        DeadAction::Discard => "discarded",
    };
    let not_dead = |job_state: JobState| {
        AdminError::new(
            StatusCode::CONFLICT,
            format!(
                "job {seq} is {}: only dead jobs can be {verb}",
                state_name(job_state)
            ),
        )
    };
    if job.state != JobState::Dead {
        return Err(not_dead(job.state));
    }
    let selection = DeadSelection {
        connector: None,
        seqs: Some(vec![seq]),
    };
    let jobs = act(state, action, selection).await?;
    if jobs.is_empty() {
        // Another request got there first.
        let now = state.store.job(seq)?.map_or(JobState::Pending, |j| j.state);
        return Err(not_dead(now));
    }
    Ok(jobs)
}

async fn retry_one(
    State(state): State<AdminState>,
    Path(seq): Path<String>,
) -> Result<Response, AdminError> {
    let jobs = act_on_one(&state, &seq, DeadAction::Retry).await?;
    Ok(Json(json!({"retried": jobs.len(), "jobs": jobs})).into_response())
}

async fn discard_one(
    State(state): State<AdminState>,
    Path(seq): Path<String>,
) -> Result<Response, AdminError> {
    let jobs = act_on_one(&state, &seq, DeadAction::Discard).await?;
    let seqs: Vec<u64> = jobs.iter().map(|j| j.seq).collect();
    Ok(Json(json!({"discarded": jobs.len(), "seqs": seqs})).into_response())
}

/// The selection of a bulk action; `400` when it selects nothing in particular.
fn selection(body: Result<Json<Selection>, JsonRejection>) -> Result<DeadSelection, AdminError> {
    let Json(body) = body?;
    if body.connector.is_none() && body.seqs.is_none() {
        return Err(AdminError::bad_request(
            "select the dead jobs by 'connector', 'seqs' or both",
        ));
    }
    Ok(DeadSelection {
        connector: body.connector,
        seqs: body.seqs,
    })
}

async fn retry_many(
    State(state): State<AdminState>,
    body: Result<Json<Selection>, JsonRejection>,
) -> Result<Response, AdminError> {
    let jobs = act(&state, DeadAction::Retry, selection(body)?).await?;
    Ok(Json(json!({"retried": jobs.len(), "jobs": jobs})).into_response())
}

async fn discard_many(
    State(state): State<AdminState>,
    body: Result<Json<Selection>, JsonRejection>,
) -> Result<Response, AdminError> {
    let jobs = act(&state, DeadAction::Discard, selection(body)?).await?;
    let seqs: Vec<u64> = jobs.iter().map(|j| j.seq).collect();
    Ok(Json(json!({"discarded": jobs.len(), "seqs": seqs})).into_response())
}
