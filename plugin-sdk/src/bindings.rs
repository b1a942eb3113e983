//! The code wit-bindgen generates from `wit/connector.wit`.
//!
//! Two worlds share one set of types, which takes some care: wit-bindgen names the macro that
//! exports an interface after the interface, so generating both worlds with public export macros
//! would define the `provisioner` macro twice. Instead:
//!
//! * [`readable`] generates the larger world, `readable-connector`, with public export macros:
//!   the types, the host imports, and one export macro per exported interface. Its world macro
//!   also embeds the description of the `readable-connector` world into the plugin.
//! * [`plain`] generates the `connector` world with private macros, borrowing every type and
//!   import from [`readable`] (`with`). It only contributes its world description (a custom
//!   section in the SDK's object code); `export_connector!` references that section so the
//!   linker keeps it.
//!
//! A plain connector thus exports `provisioner` and is described as `connector`; a readable one
//! also exports `reader`, and the union of the two descriptions is `readable-connector`.
//!
//! Nothing here is meant for connector authors: the crate root re-exports what they need.
#![allow(missing_docs, clippy::all, dead_code, unused_macros, unused_imports)]

/// The `readable-connector` world: all types, imports and export macros.
pub mod readable {
    wit_bindgen::generate!({
        world: "readable-connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_readable_connector_world",
        default_bindings_module: "scim_gateway_plugin_sdk::__private::bindings::readable",
        runtime_path: "scim_gateway_plugin_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
        generate_all,
    });
}

/// The `connector` world: only its description.
pub mod plain {
    wit_bindgen::generate!({
        world: "connector",
        path: "../wit",
        runtime_path: "scim_gateway_plugin_sdk::__private::wit_bindgen::rt",
        with: {
            "scim-gateway:connector/types@0.1.0": super::readable::scim_gateway::connector::types,
            "scim-gateway:connector/host@0.1.0": super::readable::scim_gateway::connector::host,
        },
    });
}
