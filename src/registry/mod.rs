//! Clients and services, with the invariants that hold between them: every service belongs to a
//! registered client, and a client address is held by one connection at a time.
//!
//! Plain data, no I/O, no permission decisions (the manager makes those). Lookups go by address,
//! never by connection, so a later cluster driver can feed records of clients held elsewhere.

mod ids;
mod service;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::hashing::HashMap;

pub(crate) use ids::ConnMap;
pub use ids::{is_valid_service_name, split_address, ClientAddr, ConnId, ServiceId};
pub use service::{RequireContext, ServiceRecord, Visibility};

use crate::auth::User;

/// Limit on services one client may hold (the Python server uses the same quota).
pub const MAX_SERVICES_PER_CLIENT: usize = 1000;

/// A connected client.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// The connection that carries it.
    pub conn: ConnId,
    /// Who it is.
    pub user: User,
    /// Event types it subscribed to with `subscribe`.
    pub subscriptions: Subscriptions,
}

/// The event types a client subscribed to. A client holds a few (the manager caps them at a few
/// hundred), so a plain list does; a set type would cost kilobytes of wasm for nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions(Vec<String>);

impl Subscriptions {
    /// Whether `event` is subscribed to.
    pub fn contains(&self, event: &str) -> bool {
        self.0.iter().any(|e| e == event)
    }

    /// Subscribe to `event`; false if it already was.
    pub fn insert(&mut self, event: String) -> bool {
        let new = !self.contains(&event);
        if new {
            self.0.push(event);
        }
        new
    }

    /// Unsubscribe from `event`; false if it was not subscribed to.
    pub fn remove(&mut self, event: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|e| e != event);
        self.0.len() != before
    }

    /// Number of event types subscribed to.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why the registry refused a change.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// Another connection already holds this client address.
    #[error("client already exists: {0}")]
    ClientExists(ClientAddr),
    /// The provider is not a registered client.
    #[error("client not connected: {0}")]
    UnknownClient(ClientAddr),
    /// Another server of a cluster may not add more clients here (see router/cluster.rs).
    #[error("too many clients or servers known from the cluster (server {0})")]
    ClusterFull(String),
    /// The provider holds too many services.
    #[error("too many services for client {0} (limit {MAX_SERVICES_PER_CLIENT})")]
    TooManyServices(ClientAddr),
}

/// A query over service ids; each part is exact or `*` for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePattern {
    /// Workspace, or `*`.
    pub workspace: String,
    /// Client id, or `*`.
    pub client_id: String,
    /// Service name, or `*`.
    pub name: String,
    /// App id, or `*`.
    pub app_id: String,
}

impl ServicePattern {
    fn matches(&self, record: &ServiceRecord) -> bool {
        let part = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        part(&self.workspace, &record.id.provider.workspace)
            && part(&self.client_id, &record.id.provider.client_id)
            && part(&self.name, &record.id.name)
            && part(&self.app_id, &record.app_id)
    }

    /// The longest key prefix every match shares, to narrow the scan.
    fn key_prefix(&self) -> String {
        if self.workspace == "*" {
            String::new()
        } else if self.client_id == "*" {
            format!("{}/", self.workspace)
        } else if self.name == "*" {
            format!("{}/{}:", self.workspace, self.client_id)
        } else {
            format!("{}/{}:{}", self.workspace, self.client_id, self.name)
        }
    }
}

/// All clients and services the server knows.
#[derive(Debug, Default)]
pub struct Registry {
    clients: HashMap<ClientAddr, ClientRecord>,
    /// Keyed by the text form of the service id, so a client's services form one key range.
    services: BTreeMap<String, ServiceRecord>,
    /// [`ServiceRecord::bytes`] of every service, and per user id of its providers.
    bytes: usize,
    bytes_by_user: HashMap<String, usize>,
    /// The connection of root itself ([`ROOT_ADDR`] held by the superuser), kept at hand:
    /// routing asks for it on every frame between workspaces, and building the address to look
    /// it up cost two allocations each time.
    root_conn: Option<ConnId>,
}

/// Root's own address: `default/root`.
pub const ROOT_ADDR: (&str, &str) = (crate::auth::DEFAULT_WORKSPACE, "root");

fn is_root_addr(addr: &ClientAddr) -> bool {
    (addr.workspace.as_str(), addr.client_id.as_str()) == ROOT_ADDR
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a client; refuses an address that is already held.
    pub fn add_client(
        &mut self,
        addr: ClientAddr,
        record: ClientRecord,
    ) -> Result<(), RegistryError> {
        if self.clients.contains_key(&addr) {
            return Err(RegistryError::ClientExists(addr));
        }
        if is_root_addr(&addr) && record.user.is_root() {
            self.root_conn = Some(record.conn);
        }
        self.clients.insert(addr, record);
        Ok(())
    }

    /// Remove a client and every service it provides; returns the removed services.
    pub fn remove_client(
        &mut self,
        addr: &ClientAddr,
    ) -> Option<(ClientRecord, Vec<ServiceRecord>)> {
        let record = self.clients.remove(addr)?;
        if is_root_addr(addr) {
            self.root_conn = None;
        }
        let keys: Vec<String> = self.service_keys_of(addr).collect();
        let removed: Vec<ServiceRecord> = keys
            .iter()
            .filter_map(|k| self.services.remove(k))
            .collect();
        for service in &removed {
            self.release(&record.user.id, service.bytes);
        }
        Some((record, removed))
    }

    /// The client at `addr`.
    pub fn client(&self, addr: &ClientAddr) -> Option<&ClientRecord> {
        self.clients.get(addr)
    }

    /// The connection of root itself (`default/root` held by the superuser), if connected.
    pub fn root_conn(&self) -> Option<ConnId> {
        self.root_conn
    }

    /// The client at `addr`, mutably (its subscriptions: its address, connection and user stay
    /// as they were added).
    pub fn client_mut(&mut self, addr: &ClientAddr) -> Option<&mut ClientRecord> {
        self.clients.get_mut(addr)
    }

    /// Clients connected to `workspace`, in address order.
    pub fn clients_in<'a>(
        &'a self,
        workspace: &'a str,
    ) -> impl Iterator<Item = (&'a ClientAddr, &'a ClientRecord)> + 'a {
        let mut found: Vec<_> = self
            .clients
            .iter()
            .filter(move |(a, _)| a.workspace == workspace)
            .collect();
        // Addresses are unique (map keys): an unstable sort gives the same order, in less code.
        found.sort_unstable_by(|a, b| a.0.cmp(b.0));
        found.into_iter()
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Number of registered services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Add or replace a service; returns the record it replaced.
    pub fn register(
        &mut self,
        record: ServiceRecord,
    ) -> Result<Option<ServiceRecord>, RegistryError> {
        let provider = &record.id.provider;
        if !self.clients.contains_key(provider) {
            return Err(RegistryError::UnknownClient(provider.clone()));
        }
        let key = record.id.to_string();
        if !self.services.contains_key(&key)
            && self.service_keys_of(provider).count() >= MAX_SERVICES_PER_CLIENT
        {
            return Err(RegistryError::TooManyServices(provider.clone()));
        }
        let user = self.clients[provider].user.id.clone();
        *self.bytes_by_user.entry(user.clone()).or_default() += record.bytes;
        self.bytes += record.bytes;
        let replaced = self.services.insert(key, record);
        if let Some(old) = &replaced {
            self.release(&user, old.bytes);
        }
        Ok(replaced)
    }

    /// Remove one service.
    pub fn unregister(&mut self, id: &ServiceId) -> Option<ServiceRecord> {
        let removed = self.services.remove(&id.to_string())?;
        if let Some(user) = self.clients.get(&id.provider).map(|c| c.user.id.clone()) {
            self.release(&user, removed.bytes);
        }
        Some(removed)
    }

    /// Bytes of every service record ([`ServiceRecord::bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of the service records of `user`'s clients.
    pub fn bytes_of_user(&self, user: &str) -> usize {
        self.bytes_by_user.get(user).copied().unwrap_or(0)
    }

    fn release(&mut self, user: &str, bytes: usize) {
        self.bytes -= bytes;
        if let Some(held) = self.bytes_by_user.get_mut(user) {
            *held -= bytes;
            if *held == 0 {
                self.bytes_by_user.remove(user);
            }
        }
    }

    /// The service with exactly this id.
    pub fn service(&self, id: &ServiceId) -> Option<&ServiceRecord> {
        self.services.get(&id.to_string())
    }

    /// The service `name` of `provider`, without building a [`ServiceId`].
    pub fn service_of(&self, provider: &str, name: &str) -> Option<&ServiceRecord> {
        let mut key = String::with_capacity(provider.len() + name.len() + 1);
        key.push_str(provider);
        key.push(':');
        key.push_str(name);
        self.services.get(&key)
    }

    /// Services matching `pattern`, in id order.
    pub fn find(&self, pattern: &ServicePattern) -> Vec<&ServiceRecord> {
        let prefix = pattern.key_prefix();
        self.services
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, r)| r)
            .filter(|r| pattern.matches(r))
            .collect()
    }

    /// Services of one client.
    pub fn services_of(&self, provider: &ClientAddr) -> Vec<&ServiceRecord> {
        self.service_keys_of(provider)
            .filter_map(|k| self.services.get(&k))
            .collect()
    }

    fn service_keys_of(&self, provider: &ClientAddr) -> impl Iterator<Item = String> + '_ {
        let prefix = ServiceId::prefix_of(provider);
        self.services
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
    }
}
