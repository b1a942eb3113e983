//! Host bindings of the connector contract, one module per supported major version.
//!
//! Each module is generated from the WIT of its version (`wit/` holds the current one). Every
//! world is served by the bindings of `any-connector`, the union of them all: the `provisioner`,
//! `reader`, `membership` and `secrets` exports are looked up separately (`GuestIndices`), so a component
//! uses only those it exports. One module serves a whole track: a component built against
//! `0.1.0` links to these `0.1.2` bindings (wasmtime matches interface names semver-compatibly,
//! imports and exports alike).

/// `scim-gateway:connector@0.1.x`.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "any-connector",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });

    pub use self::exports::scim_gateway::connector::membership;
    pub use self::exports::scim_gateway::connector::provisioner;
    pub use self::exports::scim_gateway::connector::reader;
    pub use self::exports::scim_gateway::connector::secrets;
    pub use self::scim_gateway::connector::host;
    pub use self::scim_gateway::connector::types;

    /// The contract version these bindings were generated from.
    pub const VERSION: &str = "0.1.2";
}
