//! `fs-snoop`: a test plugin that reads a file, so its component imports `wasi:filesystem`, which
//! the sandbox does not link: the runtime must refuse it at load.

use scim_gateway_plugin_sdk::{Connector, Delivered, DeliveryError, Event};

/// The connector.
pub struct FsSnoop;

impl Connector for FsSnoop {
    fn provision(_event: Event) -> Result<Delivered, DeliveryError> {
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| DeliveryError::permanent(e.to_string()))?;
        Ok(Delivered::new(passwd))
    }
}

scim_gateway_plugin_sdk::export_connector!(FsSnoop);
