//! The code wit-bindgen generates from `wit/connector.wit`.
//!
//! Several worlds share one set of types, which takes some care: wit-bindgen names the macro
//! that exports an interface after the interface, so generating two worlds with public export
//! macros would define the `provisioner` macro twice. And a world description that lists
//! exports must not sit in the SDK's own object code unless every plugin has those exports:
//! every plugin links it. Instead:
//!
//! * [`all`] generates `any-connector`, the union of every world, with public export macros:
//!   the types, the host imports, and one export macro per exported interface (`provisioner`,
//!   `reader`, `membership`). Its world macro, which `export_readable_connector!` invokes,
//!   emits the description of `any-connector` into the plugin's own crate.
//! * [`base`] generates `declared-connector` (`provisioner`, `membership` and `secrets`, what every
//!   plugin of this SDK exports) with private macros, borrowing every type and import from
//!   [`all`] (`with`). It only contributes its world description, a custom section in the SDK's
//!   object code; `export_connector!` references it so the linker keeps it.
//!
//! Every connector thus exports `provisioner` and `membership` (whose `takes-deltas` answers
//! what [`crate::Connector::takes_member_deltas`] says); a readable one also exports `reader`.
//!
//! Nothing here is meant for connector authors: the crate root re-exports what they need.
#![allow(missing_docs, clippy::all, dead_code, unused_macros, unused_imports)]

/// `any-connector`: all types, imports and export macros.
pub mod all {
    wit_bindgen::generate!({
        world: "any-connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_any_connector_world",
        default_bindings_module: "scim_gateway_plugin_sdk::__private::bindings::all",
        runtime_path: "scim_gateway_plugin_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
        generate_all,
    });
}

/// The `declared-connector` world: only its description.
pub mod base {
    wit_bindgen::generate!({
        world: "declared-connector",
        path: "../wit",
        runtime_path: "scim_gateway_plugin_sdk::__private::wit_bindgen::rt",
        with: {
            "scim-gateway:connector/types@0.1.2": super::all::scim_gateway::connector::types,
            "scim-gateway:connector/host@0.1.2": super::all::scim_gateway::connector::host,
        },
    });
}
