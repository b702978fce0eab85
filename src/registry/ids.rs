//! Typed identifiers: connections, client addresses and service ids, with their text forms.

use std::fmt;

use crate::auth::is_valid_name;

/// A transport connection, numbered by the driver that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// The absolute address of a client: `<workspace>/<client id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientAddr {
    /// Workspace the client is connected to.
    pub workspace: String,
    /// Client id, unique within the workspace.
    pub client_id: String,
}

impl ClientAddr {
    /// Build an address from its parts.
    pub fn new(workspace: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            workspace: workspace.into(),
            client_id: client_id.into(),
        }
    }

    /// Parse `ws/cid` where both parts are valid names.
    pub fn parse(text: &str) -> Option<Self> {
        let (ws, cid) = text.split_once('/')?;
        (is_valid_name(ws) && is_valid_name(cid)).then(|| Self::new(ws, cid))
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.workspace, self.client_id)
    }
}

/// A registered service: `<workspace>/<client id>:<service name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    /// The providing client.
    pub provider: ClientAddr,
    /// The service name within the client (no `.`, `/`, `:`, `@`).
    pub name: String,
}

impl ServiceId {
    /// Build a service id.
    pub fn new(provider: ClientAddr, name: impl Into<String>) -> Self {
        Self {
            provider,
            name: name.into(),
        }
    }

    /// The registry key prefix shared by every service of `provider`.
    pub(crate) fn prefix_of(provider: &ClientAddr) -> String {
        format!("{provider}:")
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.name)
    }
}

/// True if `name` may name a service: a valid name without `.` (method paths split on dots).
pub fn is_valid_service_name(name: &str) -> bool {
    is_valid_name(name) && !name.contains('.')
}
