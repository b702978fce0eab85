//! Typed identifiers: connections, client addresses and service ids, with their text forms.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crate::auth::is_valid_name;

/// A transport connection, numbered by the driver that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A map keyed by connection id. Connection ids are numbers the drivers and the Router hand
/// out, never chosen by a peer, so such maps need no defence against chosen collisions; SipHash
/// (std's default) was ~10 % of routing a frame, which looks up its sender and its callee.
pub(crate) type ConnMap<V> = HashMap<ConnId, V, BuildHasherDefault<ConnIdHasher>>;

/// Hashes a [`ConnId`] with one multiplication by 2⁶⁴/φ (Fibonacci hashing), which spreads
/// consecutive ids over the high bits hashbrown's probe tags use.
#[derive(Default)]
pub(crate) struct ConnIdHasher(u64);

impl Hasher for ConnIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // A ConnId hashes through `write_u64`; other input still folds in byte by byte.
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

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

    /// `ws/cid`, as [`fmt::Display`] writes it, built without the format machinery: routing
    /// stamps two addresses on every frame.
    #[must_use]
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(self.workspace.len() + 1 + self.client_id.len());
        text.push_str(&self.workspace);
        text.push('/');
        text.push_str(&self.client_id);
        text
    }

    /// True if `text` is this address as [`ClientAddr::text`] writes it.
    #[must_use]
    pub fn is_text(&self, text: &str) -> bool {
        split_address(text).is_some_and(|(ws, cid)| ws == self.workspace && cid == self.client_id)
    }

    /// Parse `ws/cid` where both parts are valid names.
    pub fn parse(text: &str) -> Option<Self> {
        let (ws, cid) = split_address(text)?;
        (is_valid_name(ws) && is_valid_name(cid)).then(|| Self::new(ws, cid))
    }
}

/// `ws/cid` split at its first `/`. The same as `text.split_once('/')`, which searches with the
/// general pattern machinery: on addresses a few dozen bytes long (routing splits one or two
/// per frame) that costs several times a plain byte scan.
#[must_use]
pub fn split_address(text: &str) -> Option<(&str, &str)> {
    let slash = text.bytes().position(|b| b == b'/')?;
    // `/` is ASCII: both sides of it are character boundaries.
    Some((&text[..slash], &text[slash + 1..]))
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

    /// `ws/client:name`, as `to_string()` gives it, without the formatting machinery: the HTTP
    /// API keys its descriptor cache with it on every call.
    #[must_use]
    pub fn text(&self) -> String {
        let (ws, client) = (&self.provider.workspace, &self.provider.client_id);
        let mut text = String::with_capacity(ws.len() + client.len() + self.name.len() + 2);
        text.push_str(ws);
        text.push('/');
        text.push_str(client);
        text.push(':');
        text.push_str(&self.name);
        text
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

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, Hasher};

    use super::*;

    #[test]
    fn an_address_as_text_is_its_display_form() {
        let addr = ClientAddr::new("ws-user-1", "client-a");
        assert_eq!(addr.text(), addr.to_string());
        assert_eq!(addr.text(), "ws-user-1/client-a");
    }

    #[test]
    fn a_service_id_as_text_is_its_display_form() {
        let id = ServiceId::new(ClientAddr::new("ws-user-1", "client-a"), "calc");
        assert_eq!(id.text(), id.to_string());
        assert_eq!(id.text(), "ws-user-1/client-a:calc");
    }

    #[test]
    fn connection_ids_hash_apart_in_the_high_bits_and_bytes_all_count() {
        let build = BuildHasherDefault::<ConnIdHasher>::default();
        // Consecutive ids differ in the top 7 bits hashbrown uses as probe tags.
        let tags: std::collections::HashSet<u64> =
            (0..64).map(|i| build.hash_one(ConnId(i)) >> 57).collect();
        assert!(tags.len() > 32, "{} distinct tags of 64 ids", tags.len());
        // Bytes written one at a time all count, not only the last.
        let hash = |bytes: &[u8]| {
            let mut h = build.build_hasher();
            h.write(bytes);
            h.finish()
        };
        assert_ne!(hash(&[1, 2]), hash(&[2]));
        assert_ne!(hash(&[1, 2]), hash(&[3, 2]));
        let mut map: ConnMap<u64> = ConnMap::default();
        for i in 0..1000 {
            map.insert(ConnId(i), i);
        }
        assert!((0..1000).all(|i| map.get(&ConnId(i)) == Some(&i)));
    }
}
