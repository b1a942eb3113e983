//! scim-gateway: a SCIM 2.0 service provider that provisions identities onward through
//! sandboxed WebAssembly connectors.
//!
//! # Layout
//!
//! The modules form layers, and every import points down them (checked by a unit test,
//! `layering.rs`, which holds the table):
//!
//! - [`model`]: the words every layer shares and nothing else: [`ResourceKind`](model::ResourceKind),
//!   the one [`Operation`](model::Operation), [`RemoteRef`](model::RemoteRef),
//!   [`Failure`](model::Failure) with its [`FailureKind`](model::FailureKind),
//!   [`Page`](model::Page), the clock.
//! - [`scim`]: the protocol as pure functions over JSON, independent of HTTP and storage:
//!   [`scim::schema`] (the User, Enterprise User and Group tables and the admin's declared
//!   extensions, input validation, output projection), [`scim::attr`] (attribute paths), [`scim::filter`] (grammar, printer,
//!   evaluator), [`scim::patch`], [`scim::list`] (query parameters, sorting, the
//!   `ListResponse`), [`scim::resource`] (versions, ETags), [`scim::discovery`], and
//!   [`ScimError`](scim::ScimError), the one error a request fails with.
//! - [`config`] and [`auth`]: the TOML configuration (with connector scopes and delivery
//!   settings) and the hashed bearer tokens.
//! - [`vault`]: the operator's key (environment, key file, or one made in the data directory)
//!   and the values it seals: connector secrets, and passwords until they are delivered.
//! - [`store`]: the [`Store`](store::Store) trait (resources, indexes, conditional writes, the
//!   outbox, dead letters and delivery history, the id map, the audit trail, admin documents),
//!   its embedded redb implementation with group commit, and [`store::plan`] (which index
//!   answers a filter).
//! - [`metrics`]: `GET /metrics` in the Prometheus text format: HTTP requests by route template,
//!   the outbox and attempts by connector, plugin call latency and faults.
//! - [`runtime`]: the sandboxed wasmtime runtime that runs connector plugins (the WIT contract
//!   in `wit/`), its egress policy, and the plugins bundled into the binary. It depends on the
//!   model only.
//! - [`delivery`]: the dispatcher that takes jobs from the store's outbox and hands each to its
//!   connector, in order per (connector, resource), with retries and dead letters;
//!   [`delivery::connector`] adapts runtime instances to the [`Connector`](delivery::Connector)
//!   trait; [`delivery::registry`] is the live set of instances, swapped at runtime;
//!   [`delivery::scope`] and [`delivery::plan`] decide who gets which job;
//!   [`delivery::blocking`] delivers while the client waits; [`delivery::fill`] sends a whole
//!   group to a connector that takes deltas a page of members per call; [`delivery::mapping`]
//!   is a connector's attribute mapping, applied by the host before the plugin sees an event.
//! - [`app`]: the provisioning service. [`Provisioning`](app::Provisioning) runs create / get /
//!   replace / patch / delete / search / bulk the same way in both modes, over a
//!   [`Resources`](app::Resources) implementation chosen once at start:
//!   [`Persisted`](app::Persisted) (the store) or [`PassThrough`](app::PassThrough) (a
//!   connector is the system of record). Every change is committed by one recorder with its
//!   delivery jobs and audit entry. [`app::body`] streams answers that show a big group's
//!   members; [`app::budget`] is a request's time budget, checked where work can stop cleanly.
//! - [`admin`]: the admin API under `/admin/v1` (admin tokens only): jobs, the audit trail,
//!   plugins and connector instances managed live ([`admin::catalog`]), the preview of the event
//!   a connector's plugin would receive, reconcile, and the OpenAPI document.
//! - [`http`]: the axum router under `/scim/v2`, the bearer-token check, extractors that turn bad
//!   input into SCIM errors, one small handler per route, [`http::response`] (SCIM errors and
//!   resources as responses), and the `/healthz` and `/readyz` probes.
//! - [`listen`]: the HTTP/1.1 accept loop with a connection cap and header, idle and body
//!   timeouts (`[http]`), which `axum::serve` lacks.
//! - [`server`]: starts everything: opens the store, loads tokens, chooses the mode, binds the
//!   listener, shuts down on a signal.
//!
//! Beside the server, [`cli`] is `scim-gateway admin …`: the admin API for people, over HTTP to a
//! running gateway, printed as aligned tables or as JSON.
//!
//! # A request, from the edge to the plugin
//!
//! `PATCH /scim/v2/Groups/{id}` with a token:
//!
//! 1. `http::auth` checks the token and names the actor; `http::extract` parses the body;
//!    `http::handlers::patch` calls [`Provisioning::patch`](app::Provisioning::patch).
//! 2. `app` parses the PatchOp ([`scim::patch`]) and splits off what it does to `members`
//!    (a [`MemberEdit`](store::MemberEdit)), reads the group's row (without members) through
//!    [`Resources::read_row`](app::Resources::read_row), checks `If-Match`, applies the other
//!    operations and validates the result ([`scim::schema`]), and hands the new row and the
//!    edit to [`Resources::write`](app::Resources::write).
//! 3. `Persisted` has the recorder plan the jobs ([`delivery::plan`], [`delivery::scope`]),
//!    deliver to blocking connectors, and commit the change, its jobs and its audit entry in one
//!    store transaction ([`store::Store::write`]); a lost race is recomputed from step 2.
//! 4. The handler shapes the answer (`attributes`, `$ref`s, ETag) and responds.
//! 5. Woken by the commit, the [`delivery::Dispatcher`] reads the job from the outbox (a
//!    membership change lingers a moment for the next ones), and once the connector's
//!    [`Gate`](delivery::gate::Gate) admits it (no pause its target asked for, below its cap)
//!    builds a [`ConnectorEvent`](delivery::ConnectorEvent): the group's row and the composed
//!    delta of its queued changes for a connector that takes deltas, its current state for any
//!    other. [`delivery::connector`] applies the connector's mapping and turns it into a
//!    [`PluginEvent`](runtime::PluginEvent), and
//!    the runtime calls the plugin's `membership.update-group` or `provision` in a fresh
//!    sandboxed instance, pacing its HTTP and noting a `Retry-After`. The outcome is recorded in
//!    the store before the job leaves the outbox.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod scim;
pub mod server;
pub mod store;
pub mod vault;

#[cfg(test)]
mod layering;
