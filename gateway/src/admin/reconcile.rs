//! Reconcile: push every resource in a connector's scope to it as ordinary delivery jobs, for a
//! connector added after the users were (or one that missed changes while disabled).
//!
//! `POST /admin/v1/connectors/{name}/reconcile` starts a run in the background and answers
//! `202` with its progress; `GET` on the same path shows the progress of the latest run. A run
//! pages through users, then groups (so that members are there when their groups arrive), by an
//! id cursor (so every page costs the same), judges each against the connector's scope and records a *create* job (a *replace* where the
//! connector already holds the resource) in batches, each batch durable before the next is
//! read. The jobs then take the normal path: in order per resource, retried, visible under
//! `/admin/v1/jobs`. One run per connector at a time.
//!
//! In pass-through mode the resources are paged from the system of record (which itself cannot
//! be reconciled: it is where the resources come from).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;

use super::{AdminError, AdminState};
use crate::delivery::registry::{Lookup, Registry};
use crate::delivery::scope::Scope;
use crate::model::Failure;
use crate::model::ResourceKind;
use crate::model::{Operation, now_ms};
use crate::store::{ScopedJob, Store, StoreError};

/// Resources read (and jobs recorded) per batch.
const BATCH: usize = 500;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Reading resources and recording jobs.
    Running,
    /// Every in-scope resource has its job.
    Done,
    /// Stopped by a store failure (see `error`); the jobs recorded so far stand.
    Failed,
}

/// The progress of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// The connector.
    pub connector: String,
    /// Where the run is.
    pub state: RunState,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// When it ended.
    pub finished_ms: Option<u64>,
    /// Resources read so far.
    pub scanned: u64,
    /// Jobs recorded so far (resources in scope).
    pub enqueued: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The runs, by connector.
pub struct Reconciler {
    /// Where resources are read and jobs recorded.
    store: Arc<dyn Store>,
    /// The connectors' scopes.
    registry: Arc<Registry>,
    /// Wakes the dispatcher after each batch.
    committed: Arc<Notify>,
    /// The latest run of each connector.
    runs: Mutex<HashMap<String, Progress>>,
    /// In pass-through mode, the connector the resources are read from.
    system_of_record: Option<String>,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
enum RunError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system of record could not be read.
    #[error("reading the system of record failed ({}): {}", .0.kind, .0.message)]
    Source(Failure),
}

impl Reconciler {
    /// A reconciler over the store and the live connectors.
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, committed: Arc<Notify>) -> Self {
        Self {
            store,
            registry,
            committed,
            runs: Mutex::default(),
            system_of_record: None,
        }
    }

    /// The same reconciler for pass-through mode: resources are read from `system_of_record`.
    pub fn reading_from(self, system_of_record: &str) -> Self {
        Self {
            system_of_record: Some(system_of_record.to_owned()),
            ..self
        }
    }

    /// The next `BATCH` resources of `kind` after the `skip` read so far, the last of them
    /// `last`: from the store by cursor, or from the system of record by index.
    async fn page(
        &self,
        kind: ResourceKind,
        skip: u64,
        last: Option<&str>,
    ) -> Result<Vec<Value>, RunError> {
        let Some(name) = &self.system_of_record else {
            return Ok(self.store.page_after(kind, last, BATCH)?);
        };
        let Lookup::Ready(sor) = self.registry.lookup(name) else {
            return Err(RunError::Source(Failure::transient("it is not available")));
        };
        let start = u32::try_from(skip + 1).unwrap_or(u32::MAX);
        let batch = u32::try_from(BATCH).unwrap_or(u32::MAX);
        let page = sor.list(kind, None, start, batch).await;
        Ok(page.map_err(RunError::Source)?.resources)
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Progress>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, connector: &str, change: impl FnOnce(&mut Progress)) {
        if let Some(p) = self.runs().get_mut(connector) {
            change(p);
        }
    }

    /// Starts a run for `connector`; `409` while one runs, `404` for an unknown connector.
    pub fn start(self: &Arc<Self>, connector: &str) -> Result<Progress, AdminError> {
        if self.system_of_record.as_deref() == Some(connector) {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                format!("'{connector}' is the system of record: the resources come from it"),
            ));
        }
        let (kinds, scope) = self.registry.scope(connector).ok_or_else(|| {
            AdminError::new(
                StatusCode::NOT_FOUND,
                format!("no connector named '{connector}'"),
            )
        })?;
        let progress = {
            let mut runs = self.runs();
            if runs
                .get(connector)
                .is_some_and(|p| p.state == RunState::Running)
            {
                return Err(AdminError::new(
                    StatusCode::CONFLICT,
                    format!("a reconcile of '{connector}' is already running"),
                ));
            }
            let progress = Progress {
                connector: connector.to_owned(),
                state: RunState::Running,
                started_ms: now_ms(),
                finished_ms: None,
                scanned: 0,
                enqueued: 0,
                error: None,
            };
            runs.insert(connector.to_owned(), progress.clone());
            progress
        };
        let this = self.clone();
        let name = connector.to_owned();
        tokio::spawn(async move {
            let result = this.run(&name, &kinds, &scope).await;
            this.update(&name, |p| {
                p.finished_ms = Some(now_ms());
                match result {
                    Ok(()) => p.state = RunState::Done,
                    Err(e) => {
                        tracing::error!(connector = %name, error = %e, "reconcile failed");
                        p.state = RunState::Failed;
                        p.error = Some(e.to_string());
                    }
                }
            });
        });
        Ok(progress)
    }

    /// The latest run of `connector`.
    pub fn progress(&self, connector: &str) -> Option<Progress> {
        self.runs().get(connector).cloned()
    }

    async fn run(
        &self,
        connector: &str,
        kinds: &[ResourceKind],
        scope: &Scope,
    ) -> Result<(), RunError> {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            if !kinds.contains(&kind) {
                continue;
            }
            let (mut skip, mut last) = (0u64, None::<String>);
            loop {
                let page = self.page(kind, skip, last.as_deref()).await?;
                let Some(tail) = page.last() else {
                    break;
                };
                skip += page.len() as u64;
                let Some(id) = tail.get("id").and_then(Value::as_str) else {
                    // Without it the cursor would start over: stop instead of looping.
                    return Err(RunError::Store(StoreError::Io(format!(
                        "a {} without an id was read",
                        kind.name()
                    ))));
                };
                last = Some(id.to_owned());
                let mut jobs = Vec::new();
                for resource in &page {
                    let id = resource
                        .get("id")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    let in_scope = match kind {
                        ResourceKind::User => {
                            let groups = if scope.has_role_condition() {
                                self.store.groups_of(id)?
                            } else {
                                Vec::new()
                            };
                            scope.admits_user(resource, &groups)
                        }
                        ResourceKind::Group => scope.admits_group(resource),
                    };
                    if !in_scope {
                        continue;
                    }
                    let held = self.store.remote_ref(connector, kind.name(), id)?.is_some();
                    jobs.push(ScopedJob {
                        connector: connector.to_owned(),
                        kind,
                        id: id.to_owned(),
                        operation: if held {
                            Operation::Replace
                        } else {
                            Operation::Create
                        },
                        members: None,
                    });
                }
                let recorded = jobs.len() as u64;
                if !jobs.is_empty() {
                    self.store.enqueue(jobs).await?;
                    self.committed.notify_one();
                }
                self.update(connector, |p| {
                    p.scanned += page.len() as u64;
                    p.enqueued += recorded;
                });
            }
        }
        Ok(())
    }
}

/// The reconcile routes.
pub fn routes() -> Router<AdminState> {
    Router::new().route("/connectors/{name}/reconcile", get(show).post(start))
}

async fn start(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    let progress = state.reconciler.start(&name)?;
    Ok((StatusCode::ACCEPTED, Json(progress)).into_response())
}

async fn show(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    match state.reconciler.progress(&name) {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(AdminError::new(
            StatusCode::NOT_FOUND,
            format!("no reconcile of '{name}' has run"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::registry::Entry;
    use crate::delivery::{Attempted, Connector, ConnectorEvent, DeliverFuture, IdLookup};
    use crate::store::redb::RedbStore;

    /// A connector that is never called here (a reconcile only records jobs).
    struct Idle;

    impl Connector for Idle {
        fn deliver(&self, _event: ConnectorEvent, _ids: IdLookup) -> DeliverFuture {
            Box::pin(async { Attempted::from(Err(Failure::permanent("not called"))) })
        }
    }

    /// On a current-thread runtime the first run cannot begin before the second start, so
    /// the overlap is certain, not a race.
    #[tokio::test(flavor = "current_thread")]
    async fn a_second_run_while_one_runs_is_409_and_the_system_of_record_is_never_run() {
        let dir = std::env::temp_dir().join(format!("reconcile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir).unwrap());
        let entry = |kinds| Entry {
            connector: Arc::new(Idle),
            kinds,
            scope: Arc::new(Scope::default()),
            blocking: false,
            enabled: true,
        };
        let registry = Arc::new(Registry::new([
            ("crm".to_owned(), entry(vec![ResourceKind::User])),
            (
                "directory".to_owned(),
                entry(vec![ResourceKind::User, ResourceKind::Group]),
            ),
        ]));
        let reconciler = Arc::new(
            Reconciler::new(store, registry, Arc::new(Notify::new())).reading_from("directory"),
        );
        assert_eq!(reconciler.start("crm").unwrap().state, RunState::Running);
        let again = reconciler.start("crm").unwrap_err();
        assert_eq!(again.status, StatusCode::CONFLICT);
        let sor = reconciler.start("directory").unwrap_err();
        assert_eq!(sor.status, StatusCode::CONFLICT);
        assert_eq!(
            reconciler.start("nope").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
