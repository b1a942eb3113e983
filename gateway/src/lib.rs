//! scim-gateway: a SCIM 2.0 service provider that provisions identities onward through
//! sandboxed WebAssembly connectors.
//!
//! # Layout
//!
//! A request travels top to bottom through these modules:
//!
//! - [`server`]: starts everything: opens the store, loads tokens, binds the listener, shuts down
//!   on a signal.
//! - [`http`]: the axum router under `/scim/v2`, the bearer-token check (which hands the token's
//!   name down as the author of changes), extractors that turn bad input into SCIM errors, and
//!   one small handler per route; [`http::health`]: the unauthenticated `/healthz` and `/readyz`
//!   probes.
//! - [`error`]: [`ScimError`](error::ScimError), the single error type the edge answers with;
//!   every module's typed error converts into it once.
//! - [`scim`]: the protocol, independent of HTTP:
//!   - [`scim::service`]: create / get / replace / patch / delete / search, the one path every
//!     request and every bulk operation takes;
//!   - [`scim::schema`]: the User, Enterprise User and Group schemas, input validation and output
//!     projection; [`scim::attr`]: attribute paths and the schema facts about them;
//!   - [`scim::filter`]: the filter grammar, printer and evaluator; [`scim::patch`]: PATCH
//!     operations; [`scim::list`]: query parameters, index plans, sorting, paging;
//!   - [`scim::passthrough`]: the same operations in pass-through mode, answered by a
//!     connector that is the system of record (the store then keeps no identities);
//!   - [`scim::bulk`]: `/Bulk`; [`scim::discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`,
//!     `/Schemas`; [`scim::resource`]: timestamps and ETags; [`scim::raw`]: serving stored JSON
//!     text without decoding it (the fast path of plain reads).
//! - [`store`]: the [`Store`](store::Store) trait (resources, indexes, conditional writes, the
//!   outbox, dead letters and delivery history, the id map, the audit trail, admin documents)
//!   and its embedded redb implementation with group commit; [`store::audit`]: audit records,
//!   queries and retention.
//! - [`delivery`]: the dispatcher that takes jobs from the store's outbox and hands each to its
//!   connector, in order per (connector, resource), with retries and dead letters (each
//!   attempt's record keeps the plugin's log lines); [`delivery::registry`]: the live set of
//!   connector instances, swapped at runtime; [`delivery::scope`] and [`delivery::plan`]: who
//!   goes where and the jobs a change records; [`delivery::blocking`]: connectors that deliver
//!   while the client waits.
//! - [`runtime`]: the sandboxed wasmtime runtime that runs connector plugins (the WIT contract
//!   in `wit/`), its egress policy, and the plugins bundled into the binary.
//! - [`admin`]: the admin API under `/admin/v1` (admin tokens only): [`admin::jobs`] (delivery
//!   jobs by state, one job with its attempts, retrying and discarding dead letters),
//!   [`admin::audit`] (the audit trail), plugins and connector instances managed live
//!   ([`admin::catalog`] keeps them in the store and applies changes to the registry),
//!   [`admin::reconcile`], and [`admin::openapi`] (the OpenAPI 3.1 document describing all of
//!   it); `admin` itself holds the auth, the error shape and the router.
//! - [`metrics`]: `GET /metrics` in the Prometheus text format: HTTP requests by route template
//!   (recorded by a middleware), the outbox and attempts by connector, plugin call latency and
//!   faults (reported by the dispatcher, which also marks there the jobs it is running); a small
//!   registry of our own.
//! - [`config`] and [`auth`]: the TOML configuration (including the log format) and the hashed
//!   bearer tokens.
//!
//! Beside the server, [`cli`] is `scim-gateway admin …`: the admin API for people, over HTTP to a
//! running gateway ([`cli::client`]), printed as aligned tables ([`cli::table`]) or as JSON;
//! [`cli::jobs`] and [`cli::connectors`] turn each answer into output.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod http;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod scim;
pub mod server;
pub mod store;

#[cfg(test)]
mod layering;
