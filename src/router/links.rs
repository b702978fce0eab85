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

use crate::hashing::{HashMap, HashSet};

use crate::registry::ConnId;

/// Distinct connections of other workspaces one connection may be linked with (a popular
/// public service has a caller per anonymous visitor, each in a workspace of its own). Past it,
/// a new service call from or to another workspace is refused rather than left without its
/// answers.
pub(super) const MAX_LINKS_PER_CONN: usize = 10_000;
/// Links the whole server holds (~40 bytes each, both ends): peers that link many connections to
/// many others cannot grow the table past ~80 MB; past it new cross-workspace calls are refused
/// until links go with their connections.
pub(super) const MAX_LINKS: usize = 2_000_000;

/// The links of every connection, kept on both ends so a departure forgets them in its own time.
#[derive(Debug)]
pub(super) struct CrossLinks {
    peers: HashMap<ConnId, HashSet<ConnId>>,
    links: usize,
    per_conn: usize,
    total: usize,
}

impl Default for CrossLinks {
    fn default() -> Self {
        Self::with_limits(MAX_LINKS_PER_CONN, MAX_LINKS)
    }
}

/// Why a link was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// One of the two connections holds its most links.
    Connection,
    /// The server holds its most links.
    Server,
}

impl CrossLinks {
    pub(super) fn with_limits(per_conn: usize, total: usize) -> Self {
        Self {
            peers: HashMap::default(),
            links: 0,
            per_conn,
            total,
        }
    }

    /// Link `a` and `b`, unless either connection or the server is at its limit.
    pub(super) fn link(&mut self, a: ConnId, b: ConnId) -> Result<(), Refused> {
        if self.linked(a, b) {
            return Ok(());
        }
        let full = |c: ConnId| self.peers.get(&c).map_or(0, HashSet::len) >= self.per_conn;
        if full(a) || full(b) {
            return Err(Refused::Connection);
        }
        if self.links >= self.total {
            return Err(Refused::Server);
        }
        self.peers.entry(a).or_default().insert(b);
        self.peers.entry(b).or_default().insert(a);
        self.links += 1;
        Ok(())
    }

    /// True if a service call has linked `a` and `b`.
    pub(super) fn linked(&self, a: ConnId, b: ConnId) -> bool {
        self.peers.get(&a).is_some_and(|p| p.contains(&b))
    }

    /// `conn` left: drop its links, on both ends. Returns the connections it was linked with.
    pub(super) fn forget(&mut self, conn: ConnId) -> Vec<ConnId> {
        let peers: Vec<ConnId> = self
            .peers
            .remove(&conn)
            .unwrap_or_default()
            .into_iter()
            .collect();
        for &peer in &peers {
            self.links -= 1;
            if let Some(back) = self.peers.get_mut(&peer) {
                back.remove(&conn);
                if back.is_empty() {
                    self.peers.remove(&peer);
                }
            }
        }
        peers
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
        assert_eq!(links.link(a, b), Ok(()));
        assert!(links.linked(a, b) && links.linked(b, a));
        assert!(!links.linked(a, c));
        assert_eq!(links.link(c, b), Ok(()));
        let mut gone = links.forget(b);
        gone.sort();
        assert_eq!(gone, vec![a, c], "forget names whom b was linked with");
        assert!(!links.linked(a, b) && !links.linked(c, b));
        assert_eq!(links.len(), 0, "nothing kept for a or c");
    }

    #[test]
    fn a_connection_and_the_server_hold_a_bounded_number_of_links() {
        let mut links = CrossLinks::with_limits(3, 5);
        let hub = ConnId(0);
        for i in 1..=3 {
            assert_eq!(links.link(hub, ConnId(i)), Ok(()));
        }
        let late = ConnId(4);
        assert_eq!(
            links.link(hub, late),
            Err(Refused::Connection),
            "over its cap"
        );
        assert_eq!(
            links.link(late, hub),
            Err(Refused::Connection),
            "from either end"
        );
        assert_eq!(
            links.link(hub, ConnId(1)),
            Ok(()),
            "an existing link still holds"
        );
        // Two more links elsewhere fill the server's five.
        assert_eq!(links.link(ConnId(10), ConnId(11)), Ok(()));
        assert_eq!(links.link(ConnId(12), ConnId(13)), Ok(()));
        assert_eq!(links.link(ConnId(14), ConnId(15)), Err(Refused::Server));
        // A departure gives its links back to both budgets.
        links.forget(ConnId(1));
        assert_eq!(links.link(hub, late), Ok(()));
        links.forget(hub);
        assert_eq!(links.link(ConnId(14), ConnId(15)), Ok(()));
        assert_eq!(links.links, 3);
    }
}
