//! `net-snoop`: a test plugin that asks for a network of its own, so its component imports
//! `wasi:sockets`, which the sandbox does not link: the runtime must refuse it at load (a plugin's
//! HTTP goes through the host's `http-request`, checked against the allowlist, or nowhere).
//!
//! It imports `wasi:sockets/instance-network` directly, from bindings of that one interface:
//! `std::net` would also pull in `wasi:filesystem` (through the C library's descriptor table),
//! and the refusal would name that instead. The bindings are of version 0.2.3, which nothing
//! else in the component uses: the standard library's adapter brings its own, complete
//! `wasi:sockets@0.2.6`, which this one-resource sketch could not be merged with.

use scim_gateway_plugin_sdk::{Connector, Delivered, DeliveryError, Event};

wit_bindgen::generate!({
    inline: r#"
        package scim-gateway:net-snoop;

        world net-snoop {
            import wasi:sockets/instance-network@0.2.3;
        }

        package wasi:sockets@0.2.3 {
            interface network {
                resource network;
            }

            interface instance-network {
                use network.{network};
                instance-network: func() -> network;
            }
        }
    "#,
    world: "scim-gateway:net-snoop/net-snoop",
    generate_all,
});

/// The connector.
pub struct NetSnoop;

impl Connector for NetSnoop {
    fn provision(_event: Event) -> Result<Delivered, DeliveryError> {
        let network = wasi::sockets::instance_network::instance_network();
        drop(network);
        Ok(Delivered::new("a network of its own"))
    }
}

scim_gateway_plugin_sdk::export_connector!(NetSnoop);
