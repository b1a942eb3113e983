//! A change as it crosses the seams: what happened to a resource, how a connector knows it, and
//! a page of resources read back from a connector's target.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happened to a resource: the one operation the store's jobs, the dispatcher, the
/// connectors and the plugin runtime all speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// A new resource.
    Create,
    /// A changed resource (PUT or PATCH): the connector receives the full new state.
    Replace,
    /// A deleted resource.
    Delete,
    /// A user that left the connector's scope, where leaving means deactivation: the connector
    /// receives it as a replace of the current state with `active: false`.
    Deactivate,
}

/// The identity of a resource at a connector, as the connector reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRef {
    /// The connector's id for the resource.
    pub remote_id: String,
    /// The connector's version of it, if it reports one.
    pub remote_version: Option<String>,
}

/// One page of resources read from a connector's target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// How many resources match in all.
    pub total: u64,
    /// This page's resources, each a SCIM JSON object.
    pub resources: Vec<Value>,
}
