//! The SDK for scim-gateway connector plugins.
//!
//! Connectors are WebAssembly components written against the WIT contract in `wit/`. This crate
//! will hold the typed SCIM models, the event and error types and the export glue; it is filled in
//! together with the connector runtime (see the project's issue on connector plugins).
