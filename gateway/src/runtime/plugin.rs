//! A loaded plugin: compiled, checked against the contract, pre-linked, described.
//!
//! Which world a component implements and which contract version it was built against are read
//! from the names of its imports and exports (`scim-gateway:connector/provisioner@0.1.0`): an
//! interface's name carries the package version, which is why the contract exports interfaces
//! rather than bare functions (see `wit/README.md`). A component whose contract version is on
//! another compatibility track than the host's bindings is refused with both versions named,
//! before any linking could fail with a less helpful message.
//!
//! Everything that does not depend on the call is done once here: compilation (or loading from
//! the cache), linking (`InstancePre`) and the export lookups, so a call costs an instantiation.

use std::collections::HashMap;

use wasmtime::component::{Component, InstancePre};

use crate::runtime::bindings::v0_1;
use crate::runtime::error::RuntimeError;
use crate::runtime::sandbox::HostState;
use crate::runtime::types::{Descriptor, SecretUses, World};

/// The contract's package name, as it prefixes interface names.
const PACKAGE: &str = "scim-gateway:connector";

/// A plugin ready to be instantiated.
pub struct Plugin {
    /// Hex SHA-256 of the component's bytes.
    pub(crate) sha256: String,
    /// The world it implements.
    pub(crate) world: World,
    /// The contract version it was built against.
    pub(crate) contract_version: String,
    /// Whether it takes group members as deltas (it exports `membership` and its
    /// `takes-deltas` said yes at load).
    pub(crate) takes_member_deltas: bool,
    /// What it says about itself.
    pub(crate) descriptor: Descriptor,
    /// How each of its secrets may be used: what its `secrets.secret-uses` declared, or both
    /// ways for each of `secret_names` when it does not export that (built before `0.1.2`).
    pub(crate) secret_uses: HashMap<String, SecretUses>,
    /// The linked code.
    pub(crate) code: PluginCode,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("sha256", &self.sha256)
            .field("world", &self.world)
            .field("contract_version", &self.contract_version)
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// What the plugin says about itself (asked once, at load).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The world it implements.
    pub fn world(&self) -> World {
        self.world
    }

    /// Hex SHA-256 of the component's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The `scim-gateway:connector` version it was built against.
    pub fn contract_version(&self) -> &str {
        &self.contract_version
    }

    /// How its secret `name` may be used (nothing, for a name it does not declare).
    pub fn secret_uses(&self, name: &str) -> SecretUses {
        self.secret_uses.get(name).copied().unwrap_or_default()
    }

    /// Whether it takes group members as deltas (asked once, at load).
    pub fn takes_member_deltas(&self) -> bool {
        self.takes_member_deltas
    }
}

/// The linked component and its export lookups.
pub(crate) struct PluginCode {
    /// The component, linked.
    pub(crate) pre: InstancePre<HostState>,
    /// Where `provisioner`'s functions are.
    pub(crate) provisioner: v0_1::provisioner::GuestIndices,
    /// Where `reader`'s functions are, for a `readable-connector`.
    pub(crate) reader: Option<v0_1::reader::GuestIndices>,
    /// Where `membership`'s function is, if the plugin exports it.
    pub(crate) membership: Option<v0_1::membership::GuestIndices>,
    /// Where `secrets`' function is, if the plugin exports it.
    pub(crate) secrets: Option<v0_1::secrets::GuestIndices>,
}

/// A semver version's compatibility track: `(major, 0)`, or `(0, minor)` for major 0.
fn track(version: &str) -> Option<(u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    Some(if major == 0 { (0, minor) } else { (major, 0) })
}

/// What [`inspect`] reads off a component.
pub(crate) struct Inspected {
    /// The world it implements (`reader` exported or not).
    pub(crate) world: World,
    /// The contract version it was built against.
    pub(crate) version: String,
    /// Whether it exports `membership`.
    pub(crate) membership: bool,
    /// Whether it exports `secrets`.
    pub(crate) secrets: bool,
}

/// The world a component implements and the contract version it uses, or why it is refused.
pub(crate) fn inspect(
    component: &Component,
    engine: &wasmtime::Engine,
) -> Result<Inspected, RuntimeError> {
    let ty = component.component_type();
    let mut exported = Vec::new();
    let mut versions: Vec<String> = Vec::new();
    let names = ty
        .imports(engine)
        .map(|(n, _)| (n.to_owned(), false))
        .chain(ty.exports(engine).map(|(n, _)| (n.to_owned(), true)));
    for (name, is_export) in names {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_owned());
        }
        if is_export {
            exported.push(interface.to_owned());
        }
    }
    if exported.is_empty() {
        return Err(RuntimeError::Incompatible(format!(
            "not a scim-gateway connector: it exports no `{PACKAGE}` interface"
        )));
    }
    let host_track = track(v0_1::VERSION);
    let version = match versions.as_slice() {
        [v] => v.clone(),
        _ => {
            return Err(RuntimeError::Incompatible(format!(
                "the plugin mixes versions of {PACKAGE}: {}",
                versions.join(", ")
            )));
        }
    };
    if track(&version).is_none() || track(&version) != host_track {
        return Err(RuntimeError::Incompatible(format!(
            "the plugin is built against {PACKAGE}@{version}, this gateway supports {PACKAGE}@{} \
             (another major version: rebuild the plugin against the gateway's contract)",
            v0_1::VERSION
        )));
    }
    if !exported.iter().any(|i| i == "provisioner") {
        return Err(RuntimeError::Incompatible(format!(
            "the plugin does not export {PACKAGE}/provisioner (it exports {})",
            exported.join(", ")
        )));
    }
    let world = if exported.iter().any(|i| i == "reader") {
        World::ReadableConnector
    } else {
        World::Connector
    };
    Ok(Inspected {
        world,
        version,
        membership: exported.iter().any(|i| i == "membership"),
        secrets: exported.iter().any(|i| i == "secrets"),
    })
}

/// Links a checked component and looks up its exports.
pub(crate) fn link(
    linker: &wasmtime::component::Linker<HostState>,
    component: &Component,
    inspected: &Inspected,
) -> Result<PluginCode, RuntimeError> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
    let provisioner = v0_1::provisioner::GuestIndices::new(&pre)
        .map_err(|e| RuntimeError::Incompatible(format!("{e:#}")))?;
    let reader = match inspected.world {
        World::ReadableConnector => Some(
            v0_1::reader::GuestIndices::new(&pre)
                .map_err(|e| RuntimeError::Incompatible(format!("{e:#}")))?,
        ),
        World::Connector => None,
    };
    let membership = if inspected.membership {
        Some(
            v0_1::membership::GuestIndices::new(&pre)
                .map_err(|e| RuntimeError::Incompatible(format!("{e:#}")))?,
        )
    } else {
        None
    };
    let secrets = if inspected.secrets {
        Some(
            v0_1::secrets::GuestIndices::new(&pre)
                .map_err(|e| RuntimeError::Incompatible(format!("{e:#}")))?,
        )
    } else {
        None
    };
    Ok(PluginCode {
        pre,
        provisioner,
        reader,
        membership,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::track;

    #[test]
    fn tracks() {
        assert_eq!(track("0.1.0"), Some((0, 1)));
        assert_eq!(track("0.1.7"), Some((0, 1)));
        assert_ne!(track("0.2.0"), track("0.1.0"));
        assert_eq!(track("1.0.0"), Some((1, 0)));
        assert_eq!(track("1.4.2-rc.1"), Some((1, 0)));
        assert_eq!(track(""), None);
    }
}
