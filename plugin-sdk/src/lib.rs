//! Write scim-gateway connector plugins in Rust.
//!
//! A connector is a WebAssembly component that receives the gateway's changes and applies them to
//! one target system. With this crate it is one short file: implement [`Connector`] and export it
//! with [`export_connector!`].
//!
//! ```
//! use scim_gateway_plugin_sdk::{Connector, Delivered, DeliveryError, Descriptor, Event, Operation, http};
//!
//! struct Hook;
//!
//! impl Connector for Hook {
//!     fn describe() -> Descriptor {
//!         Descriptor::new()
//!             .required_config("url", "Where to POST each change")
//!             .secret("api-token")
//!     }
//!
//!     fn provision(event: Event) -> Result<Delivered, DeliveryError> {
//!         let body = serde_json::json!({ "op": format!("{:?}", event.operation), "id": event.id });
//!         http::Request::post(event.require_config("url")?)
//!             .json(&body)
//!             .secret_header("Authorization", "api-token", "Bearer ")
//!             .send()?
//!             .error_for_status()?;
//!         Ok(Delivered::new(event.id.clone()))
//!     }
//! }
//!
//! scim_gateway_plugin_sdk::export_connector!(Hook);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (crate type `cdylib`): the result
//! is a component for the gateway. A connector that can also read its target implements
//! [`ReadableConnector`] too and uses [`export_readable_connector!`]. One that sends group
//! membership changes as deltas (so a change to a 100,000-member group costs what a change to a
//! small one does) says so in [`Connector::takes_member_deltas`] and implements
//! [`Connector::update_group`].
//!
//! # Testing without WebAssembly
//!
//! Compiled for anything but `wasm32`, the host calls ([`http`], [`log`], [`remote_id`],
//! [`hmac_sha256`]) go to [`testing::FakeHost`], a per-thread stand-in with canned HTTP
//! responses, recorded requests, a remote-id map and the logged lines. A connector's unit tests
//! are then plain `cargo test`: call `MyConnector::provision(event)` and look at what it sent.
//!
//! # The sandbox
//!
//! Each call runs in a fresh instance with a memory limit and a deadline; nothing survives between
//! calls. The connector sees no files, environment, clock-based randomness or sockets: it reaches
//! the outside only through [`http`], to the origins its instance is allowed, and never sees a
//! secret: it names one ([`http::Request::secret_header`], [`hmac_sha256`]) and the host uses it.
#![deny(missing_docs)]

extern crate self as scim_gateway_plugin_sdk;

#[doc(hidden)]
pub mod bindings;
mod host;
pub mod http;
pub mod log;
pub mod scim;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod types;

pub use bindings::all::exports::scim_gateway::connector::membership::{GroupChange, Member};
pub use bindings::all::exports::scim_gateway::connector::secrets::{SecretDecl, SecretUse};
pub use bindings::all::scim_gateway::connector::types::{
    ConfigKey, Delivered, DeliveryError, Descriptor, ErrorKind, Event, Operation, Page,
};
pub use host::{hmac_sha256, remote_id};
pub use scim::{Group, User};
pub use types::config_value;

/// A connector: describes itself and delivers changes.
///
/// The functions take no `self`: every call runs in a fresh instance, so there is no state to
/// keep between them.
pub trait Connector {
    /// What the connector tells about itself.
    ///
    /// The default is [`Descriptor::new`]: the crate's name and version, `User` and `Group`, no
    /// configuration keys, no secrets. An empty name or version is filled in from the crate.
    fn describe() -> Descriptor {
        Descriptor::new()
    }

    /// Checks a configuration before the gateway uses it; the error says what is wrong.
    ///
    /// The keys that [`describe`](Connector::describe) marks as required are checked before this
    /// is called; the default accepts everything else.
    fn validate_config(config: &[(String, String)]) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Delivers one change to the target.
    fn provision(event: Event) -> Result<Delivered, DeliveryError>;

    /// How each secret the descriptor names may be used: the host refuses any other use. The
    /// default lets every secret of [`describe`](Connector::describe) go in a header only
    /// ([`http::Request::secret_header`]); a connector that signs with [`hmac_sha256`] says
    /// so for its key, e.g. `vec![SecretDecl { name: "signing-key".into(), uses:
    /// SecretUse::HMAC_KEY }]`.
    fn secret_uses() -> Vec<SecretDecl> {
        Self::describe()
            .secret_names
            .into_iter()
            .map(|name| SecretDecl {
                name,
                uses: SecretUse::HEADER,
            })
            .collect()
    }

    /// Whether a change to a big group's members should reach
    /// [`update_group`](Connector::update_group) as the members added and removed, rather than
    /// [`provision`](Connector::provision) with the whole list. Asked once, at load; the
    /// default is `false`.
    fn takes_member_deltas() -> bool {
        false
    }

    /// Delivers a change to a group's members (and to its attributes in
    /// [`GroupChange::changed_paths`]), for a connector whose
    /// [`takes_member_deltas`](Connector::takes_member_deltas) is `true`.
    ///
    /// Only a group `replace` the connector delivered before comes here; a create, a delete,
    /// and a change to a group it has not delivered yet still reach `provision` whole.
    /// Translate the members with [`remote_id`]; [`GroupChange::group_json`] is the group
    /// without its `members`. The default refuses (it is never called unless
    /// `takes_member_deltas` says yes).
    fn update_group(change: GroupChange) -> Result<Delivered, DeliveryError> {
        Err(DeliveryError::permanent(format!(
            "this connector takes no membership deltas (group {})",
            change.id
        )))
    }
}

/// A connector that can also read its target's resources.
pub trait ReadableConnector: Connector {
    /// Reads one resource by the id the target knows it by: a SCIM JSON object, or `None` if the
    /// target has no such resource.
    fn get(
        resource_type: &str,
        remote_id: &str,
        config: &[(String, String)],
    ) -> Result<Option<String>, DeliveryError>;

    /// Reads a page of resources, optionally filtered by a SCIM filter, from the 1-based
    /// `start_index`, at most `count` of them.
    fn list(
        resource_type: &str,
        filter: Option<&str>,
        start_index: u32,
        count: u32,
        config: &[(String, String)],
    ) -> Result<Page, DeliveryError>;
}

/// Exports a [`Connector`] as the plugin's implementation of the contract (the
/// `declared-connector` world: `provisioner`, `membership` and `secrets`).
///
/// Use it once, at the crate's top level: `export_connector!(MyConnector);`.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        $crate::__connector_glue!($connector);

        // Exported symbols only in WebAssembly: their names (`…/provisioner@0.1.2#provision`)
        // are not valid in a native linker's version script.
        #[cfg(target_arch = "wasm32")]
        $crate::__private::export_provisioner!(
            __ScimGatewayConnectorExport with_types_in
            $crate::__private::bindings::all::exports::scim_gateway::connector::provisioner
        );
        #[cfg(target_arch = "wasm32")]
        $crate::__private::export_membership!(
            __ScimGatewayConnectorExport with_types_in
            $crate::__private::bindings::all::exports::scim_gateway::connector::membership
        );
        #[cfg(target_arch = "wasm32")]
        $crate::__private::export_secrets!(
            __ScimGatewayConnectorExport with_types_in
            $crate::__private::bindings::all::exports::scim_gateway::connector::secrets
        );

        // Keeps the world's description (a custom section in the SDK) in the binary.
        #[cfg(target_arch = "wasm32")]
        #[used]
        #[doc(hidden)]
        static __SCIM_GATEWAY_CONNECTOR_WORLD: fn() =
            $crate::__private::bindings::base::__link_custom_section_describing_imports;
    };
}

/// Exports a [`ReadableConnector`] as the plugin's implementation of the contract (the
/// `any-connector` world: `provisioner`, `reader`, `membership` and `secrets`).
///
/// Use it once, at the crate's top level: `export_readable_connector!(MyConnector);`.
#[macro_export]
macro_rules! export_readable_connector {
    ($connector:ty) => {
        $crate::__connector_glue!($connector);

        impl $crate::__private::ReaderGuest for __ScimGatewayConnectorExport {
            fn get(
                resource_type: ::std::string::String,
                remote_id: ::std::string::String,
                config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<
                ::core::option::Option<::std::string::String>,
                $crate::DeliveryError,
            > {
                <$connector as $crate::ReadableConnector>::get(&resource_type, &remote_id, &config)
            }
            fn list(
                resource_type: ::std::string::String,
                filter: ::core::option::Option<::std::string::String>,
                start_index: u32,
                count: u32,
                config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<$crate::Page, $crate::DeliveryError> {
                <$connector as $crate::ReadableConnector>::list(
                    &resource_type,
                    filter.as_deref(),
                    start_index,
                    count,
                    &config,
                )
            }
        }

        // Every interface's exports and the `any-connector` world's description.
        #[cfg(target_arch = "wasm32")]
        $crate::__private::export_any_world!(
            __ScimGatewayConnectorExport with_types_in $crate::__private::bindings::all
        );
    };
}

/// The part both export macros share: a type implementing the generated `provisioner` and
/// `membership` traits by delegating to the connector. Not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __connector_glue {
    ($connector:ty) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        struct __ScimGatewayConnectorExport;

        impl $crate::__private::ProvisionerGuest for __ScimGatewayConnectorExport {
            fn describe() -> $crate::Descriptor {
                $crate::__private::describe::<$connector>(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                )
            }
            fn validate_config(
                config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::validate_config::<$connector>(&config)
            }
            fn provision(
                event: $crate::Event,
            ) -> ::core::result::Result<$crate::Delivered, $crate::DeliveryError> {
                <$connector as $crate::Connector>::provision(event)
            }
        }

        impl $crate::__private::SecretsGuest for __ScimGatewayConnectorExport {
            fn secret_uses() -> ::std::vec::Vec<$crate::SecretDecl> {
                <$connector as $crate::Connector>::secret_uses()
            }
        }

        impl $crate::__private::MembershipGuest for __ScimGatewayConnectorExport {
            fn takes_deltas() -> bool {
                <$connector as $crate::Connector>::takes_member_deltas()
            }
            fn update_group(
                change: $crate::GroupChange,
            ) -> ::core::result::Result<$crate::Delivered, $crate::DeliveryError> {
                <$connector as $crate::Connector>::update_group(change)
            }
        }
    };
}

/// The export macros' glue. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::all::exports::scim_gateway::connector::membership::Guest as MembershipGuest;
    pub use crate::bindings::all::exports::scim_gateway::connector::provisioner::Guest as ProvisionerGuest;
    pub use crate::bindings::all::exports::scim_gateway::connector::reader::Guest as ReaderGuest;
    pub use crate::bindings::all::exports::scim_gateway::connector::secrets::Guest as SecretsGuest;
    pub use wit_bindgen;

    pub use crate::bindings::all::__export_any_connector_world as export_any_world;
    pub use crate::bindings::all::exports::scim_gateway::connector::membership::__export_scim_gateway_connector_membership_0_1_2_cabi as export_membership;
    pub use crate::bindings::all::exports::scim_gateway::connector::provisioner::__export_scim_gateway_connector_provisioner_0_1_2_cabi as export_provisioner;
    pub use crate::bindings::all::exports::scim_gateway::connector::secrets::__export_scim_gateway_connector_secrets_0_1_2_cabi as export_secrets;

    use crate::{Connector, Descriptor};

    /// The connector's descriptor, its empty name and version filled in from its crate.
    pub fn describe<C: Connector>(crate_name: &str, crate_version: &str) -> Descriptor {
        let mut d = C::describe();
        if d.name.is_empty() {
            d.name = crate_name.to_owned();
        }
        if d.version.is_empty() {
            d.version = crate_version.to_owned();
        }
        d
    }

    /// Checks the required keys, then asks the connector.
    pub fn validate_config<C: Connector>(config: &[(String, String)]) -> Result<(), String> {
        let missing: Vec<String> = C::describe()
            .config_keys
            .into_iter()
            .filter(|k| k.required && crate::config_value(config, &k.name).is_none())
            .map(|k| k.name)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing required configuration: {}",
                missing.join(", ")
            ));
        }
        C::validate_config(config)
    }
}
