//! End-to-end tests: each starts the real `scim-gateway` binary on a free loopback port and talks
//! HTTP to it. One test binary, one module per area.
//!
//! Run with `cargo test --workspace` (the gateway is built on first use).

mod admin_connectors;
mod admin_jobs;
mod at_rest;
mod audit;
mod auth;
mod bulk;
mod cli;
mod connections;
mod crash;
mod discovery;
mod durability;
mod errors;
mod etags;
mod extensions;
mod filters;
mod groups;
mod listing;
mod mapping;
mod members;
mod observability;
mod openapi;
mod passthrough;
mod patch;
mod patterns;
mod provisioning;
mod schema_rules;
mod scope;
mod smoke;
mod throttling;
mod users;
