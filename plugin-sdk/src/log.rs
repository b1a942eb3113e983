//! Log lines, written to the gateway's log tagged with the connector instance's name.
//!
//! ```
//! use scim_gateway_plugin_sdk::log;
//! log::info("creating user");
//! log::warn(format!("target answered {}", 429));
//! ```

pub use crate::bindings::all::scim_gateway::connector::host::Level;

/// Writes a line at the given level.
pub fn log(level: Level, message: impl AsRef<str>) {
    crate::host::log(level, message.as_ref());
}

/// Writes a step-by-step detail.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Writes a detail for diagnosing a problem.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Writes a normal, notable event.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Writes something unexpected that the connector worked around.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Writes a failure.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}
