//! Host bindings of the connector contract, one module per supported major version.
//!
//! Each module is generated from the WIT of its version (`wit/` holds the current one). Both worlds
//! are served by the bindings of the larger one, `readable-connector`: the `provisioner` and
//! `reader` exports are looked up separately (`GuestIndices`), so a plain `connector` component
//! uses only the first.

/// `scim-gateway:connector@0.1.x`.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "readable-connector",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });

    pub use self::exports::scim_gateway::connector::provisioner;
    pub use self::exports::scim_gateway::connector::reader;
    pub use self::scim_gateway::connector::host;
    pub use self::scim_gateway::connector::types;

    /// The contract version these bindings were generated from.
    pub const VERSION: &str = "0.1.0";
}
