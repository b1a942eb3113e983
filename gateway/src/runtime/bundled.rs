//! The connector plugins built into the binary (`plugins/scim2`, `plugins/webhook`), compiled
//! for `wasm32-wasip2` by `gateway/build.rs`: a config names them instead of a `.wasm` path.

/// The names a config's `plugin` may use for a bundled plugin.
pub const NAMES: &[&str] = &["scim2", "webhook"];

/// The component of a bundled plugin.
pub fn wasm(name: &str) -> Option<&'static [u8]> {
    match name {
        "scim2" => Some(include_bytes!(concat!(env!("OUT_DIR"), "/scim2.wasm"))),
        "webhook" => Some(include_bytes!(concat!(env!("OUT_DIR"), "/webhook.wasm"))),
        _ => None,
    }
}
