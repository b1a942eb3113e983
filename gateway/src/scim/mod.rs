//! The SCIM 2.0 protocol (RFC 7643, RFC 7644), independent of HTTP and of storage.

pub mod attr;
pub mod bulk;
pub mod discovery;
pub mod filter;
pub mod list;
pub mod passthrough;
pub mod patch;
pub mod raw;
pub mod resource;
pub mod schema;
pub mod service;
