//! Which pairs of connections in different workspaces may send each other session methods.
//!
//! Across workspaces only `services.*` calls are checked against a service's visibility. What
//! follows such a call names sessions the Router cannot see (they are inside the arguments): the
//! callee's answer and heartbeats (`<caller session>.resolve`), callbacks the caller passed
//! (`<caller session>.<id>`, called during or after the call), a generator or function the callee
//! returned (`<callee session>.<id>`). So a cross-workspace method frame that is not a
//! `services.*` call is routed only between two connections an allowed service call has linked,
//! in either direction, until one of them leaves. Without a link such frames could only fill a
//! stranger's outbox: hypha-rpc drops a method of a session it does not hold.

use std::collections::{HashMap, HashSet};

use crate::registry::ConnId;

/// Distinct connections of other workspaces one connection may be linked with. Past it, a new
/// service call from or to another workspace is refused rather than left without its answers.
pub(super) const MAX_LINKS_PER_CONN: usize = 10_000;

/// The links of every connection, kept on both ends so a departure forgets them in its own time.
#[derive(Debug, Default)]
pub(super) struct CrossLinks {
    peers: HashMap<ConnId, HashSet<ConnId>>,
}

impl CrossLinks {
    /// Link `a` and `b`; false if either already has [`MAX_LINKS_PER_CONN`] other links.
    pub(super) fn link(&mut self, a: ConnId, b: ConnId) -> bool {
        if self.linked(a, b) {
            return true;
        }
        let full = |c: ConnId| self.peers.get(&c).map_or(0, HashSet::len) >= MAX_LINKS_PER_CONN;
        if full(a) || full(b) {
            return false;
        }
        self.peers.entry(a).or_default().insert(b);
        self.peers.entry(b).or_default().insert(a);
        true
    }

    /// True if a service call has linked `a` and `b`.
    pub(super) fn linked(&self, a: ConnId, b: ConnId) -> bool {
        self.peers.get(&a).is_some_and(|p| p.contains(&b))
    }

    /// `conn` left: drop its links, on both ends.
    pub(super) fn forget(&mut self, conn: ConnId) {
        for peer in self.peers.remove(&conn).unwrap_or_default() {
            if let Some(back) = self.peers.get_mut(&peer) {
                back.remove(&conn);
                if back.is_empty() {
                    self.peers.remove(&peer);
                }
            }
        }
    }

    /// Connections holding at least one link (for tests and metrics).
    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_both_ways_and_go_with_either_end() {
        let mut links = CrossLinks::default();
        let (a, b, c) = (ConnId(1), ConnId(2), ConnId(3));
        assert!(links.link(a, b));
        assert!(links.linked(a, b) && links.linked(b, a));
        assert!(!links.linked(a, c));
        assert!(links.link(c, b));
        links.forget(b);
        assert!(!links.linked(a, b) && !links.linked(c, b));
        assert_eq!(links.len(), 0, "nothing kept for a or c");
    }

    #[test]
    fn a_connection_holds_a_bounded_number_of_links() {
        let mut links = CrossLinks::default();
        let hub = ConnId(0);
        for i in 1..=MAX_LINKS_PER_CONN as u64 {
            assert!(links.link(hub, ConnId(i)));
        }
        let late = ConnId(MAX_LINKS_PER_CONN as u64 + 1);
        assert!(!links.link(hub, late), "over the cap");
        assert!(!links.link(late, hub), "from the other end too");
        assert!(links.link(hub, ConnId(1)), "an existing link still holds");
        links.forget(ConnId(1));
        assert!(links.link(hub, late), "room again after a peer left");
    }
}
