//! The host calls, routed to the real host in WebAssembly and to [`crate::testing`] natively.

use crate::bindings::all::scim_gateway::connector::host as wire;

/// Sends a request through the host.
pub(crate) fn http_request(req: &wire::Request) -> Result<wire::Response, wire::HttpError> {
    #[cfg(target_arch = "wasm32")]
    {
        wire::http_request(req)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::http_request(req)
    }
}

/// Writes a log line through the host.
pub(crate) fn log(level: wire::Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        wire::log(level, message)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::log(level, message)
    }
}

/// Translates the gateway id of another resource (a group's member) into the id this connector
/// instance delivered it as; `None` if it was not delivered (yet).
///
/// ```
/// # use scim_gateway_plugin_sdk::remote_id;
/// let member = remote_id("User", "2819c223-7f76-453a-919d-413861904646");
/// # assert_eq!(member, None);
/// ```
pub fn remote_id(resource_type: &str, gateway_id: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        wire::remote_id(resource_type, gateway_id)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::remote_id(resource_type, gateway_id)
    }
}

/// HMAC-SHA256 of `data` keyed with the named secret, in lower-case hex, computed by the host
/// (the connector never sees the secret). The error names an unknown secret.
pub fn hmac_sha256(secret: &str, data: &[u8]) -> Result<String, String> {
    #[cfg(target_arch = "wasm32")]
    {
        wire::hmac_sha256(secret, data)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::hmac_sha256(secret, data)
    }
}
