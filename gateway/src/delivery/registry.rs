//! The live set of connector instances: which ones receive which changes (the service asks when
//! it records jobs) and which instance runs a job (the dispatcher asks when an attempt starts).
//!
//! # Hot swap
//! An admin replaces a connector (a new plugin version, a new configuration) by inserting a new
//! entry under the same name. The dispatcher looks the instance up when an attempt *starts* and
//! holds that `Arc` until the attempt ends, so deliveries already running finish on the old
//! instance and the next attempt runs on the new one. Jobs live in the store and are not touched
//! by a swap, and jobs of one resource still run one at a time in order: a swap loses nothing and
//! runs nothing twice.
//!
//! A disabled connector receives no new jobs, and its pending jobs wait (they are neither tried
//! nor dead-lettered) until it is enabled or removed. Jobs of a connector that is not here at all
//! are dead-lettered by the dispatcher with that reason.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Connector;
use super::scope::Scope;
#[cfg(doc)]
use crate::config::Pattern;
use crate::model::ResourceKind;

/// One connector instance as the registry holds it.
#[derive(Clone)]
pub struct Entry {
    /// The running instance.
    pub connector: Arc<dyn Connector>,
    /// The resource types it receives.
    pub kinds: Vec<ResourceKind>,
    /// Which users and groups of those types it receives.
    pub scope: Arc<Scope>,
    /// Whether it delivers while the client waits (see [`Pattern::Blocking`]).
    pub blocking: bool,
    /// Whether it receives and delivers changes now.
    pub enabled: bool,
}

/// What the dispatcher finds under a connector's name.
pub enum Lookup {
    /// Deliver through this instance.
    Ready(Arc<dyn Connector>),
    /// The connector is disabled: hold its jobs.
    Paused,
    /// No such connector.
    Missing,
}

/// See the module docs.
#[derive(Default)]
pub struct Registry {
    /// The entries by connector name. Held only to read or replace one entry, never across an
    /// `await`.
    entries: RwLock<HashMap<String, Entry>>,
}

impl Registry {
    /// A registry with these entries.
    pub fn new(entries: impl IntoIterator<Item = (String, Entry)>) -> Self {
        Self {
            entries: RwLock::new(entries.into_iter().collect()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock cannot leave a half-written map (every
        // write is one insert or remove), so a poisoned lock is still usable.
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The enabled connectors that receive changes of `kind`, by name, with their scopes.
    pub fn routes(&self, kind: ResourceKind) -> Vec<(String, Arc<Scope>)> {
        let mut routes: Vec<(String, Arc<Scope>)> = self
            .read()
            .iter()
            .filter(|(_, e)| e.enabled && e.kinds.contains(&kind))
            .map(|(name, e)| (name.clone(), e.scope.clone()))
            .collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        routes
    }

    /// The instance that should run a job of connector `name` now.
    pub fn lookup(&self, name: &str) -> Lookup {
        match self.read().get(name) {
            Some(e) if e.enabled => Lookup::Ready(e.connector.clone()),
            Some(_) => Lookup::Paused,
            None => Lookup::Missing,
        }
    }

    /// Connector `name`, when it is enabled and delivers while the client waits.
    pub fn blocking(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.read()
            .get(name)
            .filter(|e| e.enabled && e.blocking)
            .map(|e| e.connector.clone())
    }

    /// The resource types and scope of connector `name`.
    pub fn scope(&self, name: &str) -> Option<(Vec<ResourceKind>, Arc<Scope>)> {
        self.read()
            .get(name)
            .map(|e| (e.kinds.clone(), e.scope.clone()))
    }

    /// Adds a connector, or replaces the one with the same name (a hot swap).
    pub fn insert(&self, name: String, entry: Entry) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, entry);
    }

    /// Removes a connector; answers whether it was there.
    pub fn remove(&self, name: &str) -> bool {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .is_some()
    }
}
