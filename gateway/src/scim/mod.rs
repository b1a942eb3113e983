//! The SCIM 2.0 protocol (RFC 7643, RFC 7644) as pure functions over JSON: the schemas and what
//! they allow, attribute paths, the filter language, PATCH operations, list parameters and
//! sorting, ETags, the discovery documents, and the one error type a request fails with.
//!
//! Nothing here knows HTTP, the store or delivery: the application layer (`app`) calls these to
//! validate, apply and shape resources, and the HTTP edge turns [`ScimError`] into a response.

pub mod attr;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod message;
pub mod patch;
pub mod resource;
pub mod schema;
pub mod text;

pub use error::ScimError;
