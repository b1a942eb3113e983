//! scim-gateway: a SCIM 2.0 service provider that provisions identities onward through
//! sandboxed WebAssembly connectors.
//!
//! # Layout
//!
//! A request travels top to bottom through these modules:
//!
//! - [`server`]: starts everything: opens the store, loads tokens, binds the listener, shuts down
//!   on a signal.
//! - [`http`]: the axum router under `/scim/v2`, the bearer-token check, extractors that turn bad
//!   input into SCIM errors, and one small handler per route; [`http::health`]: the
//!   unauthenticated `/healthz` and `/readyz` probes.
//! - [`error`]: [`ScimError`](error::ScimError), the single error type the edge answers with;
//!   every module's typed error converts into it once.
//! - [`scim`]: the protocol, independent of HTTP:
//!   - [`scim::service`]: create / get / replace / patch / delete / search, the one path every
//!     request and every bulk operation takes;
//!   - [`scim::schema`]: the User, Enterprise User and Group schemas, input validation and output
//!     projection; [`scim::attr`]: attribute paths and the schema facts about them;
//!   - [`scim::filter`]: the filter grammar, printer and evaluator; [`scim::patch`]: PATCH
//!     operations; [`scim::list`]: query parameters, index plans, sorting, paging;
//!   - [`scim::bulk`]: `/Bulk`; [`scim::discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`,
//!     `/Schemas`; [`scim::resource`]: timestamps and ETags; [`scim::raw`]: serving stored JSON
//!     text without decoding it (the fast path of plain reads).
//! - [`store`]: the [`Store`](store::Store) trait (resources, indexes, conditional writes, the
//!   outbox, the id map, admin documents) and its embedded redb implementation with group commit.
//! - [`delivery`]: the dispatcher that takes jobs from the store's outbox and hands each to its
//!   connector, in order per (connector, resource), with retries and dead letters;
//!   [`delivery::registry`]: the live set of connector instances, swapped at runtime.
//! - [`runtime`]: the sandboxed wasmtime runtime that runs connector plugins (the WIT contract
//!   in `wit/`), its egress policy, and the plugins bundled into the binary.
//! - [`admin`]: the admin API under `/admin/v1` (admin tokens only): delivery jobs and dead
//!   letters, uploaded plugins and live connector instances; [`admin::catalog`] keeps plugins
//!   and connector definitions in the store and applies changes to the registry.
//! - [`metrics`]: `GET /metrics` in the Prometheus text format: HTTP requests by route template
//!   (recorded by a middleware), the outbox and attempts by connector, plugin call latency and
//!   faults (reported by the dispatcher); a small registry of our own.
//! - [`config`] and [`auth`]: the TOML configuration (including the log format) and the hashed
//!   bearer tokens.

pub mod admin;
pub mod auth;
pub mod config;
pub mod delivery;
pub mod error;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod scim;
pub mod server;
pub mod store;
