//! `client_disconnected` notices the Router sends to chosen connections rather than to a
//! workspace: to the providers one of its HTTP peers called, and to the clients of other
//! workspaces a departing client was linked with (`Router::tell_left`). hypha-rpc frees what it
//! keeps for a caller (a session per answered call) when it hears that the caller left.
//!
//! They go out a moment after the departure, not with it. hypha-rpc (0.21) looks up the session
//! method a call names only after an `await`; a caller's last call into a provider's session
//! (a generator's `next` of a stream cut short) still being taken in when the notice cleans that
//! session fails half-way and leaves its heartbeat interval running for good.

use std::collections::VecDeque;
use std::time::Duration;

use crate::registry::{ClientAddr, ConnId};
use crate::time::Timestamp;

/// How long after a departure its notices go out.
pub(super) const DEPARTURE_NOTICE_DELAY: Duration = Duration::from_secs(1);
/// Departures waiting for their notices (a second of requests under heavy load); past it, the
/// next ones are told at once.
const MAX_WAITING: usize = 100_000;

/// Notices waiting to go out, oldest first: when, to whom, about whom.
#[derive(Debug, Default)]
pub(super) struct Departures {
    waiting: VecDeque<(Timestamp, ConnId, ClientAddr)>,
}

impl Departures {
    /// Tell `conn` at `at` that `addr` left; hands the notice back if too many wait already.
    pub(super) fn defer(
        &mut self,
        at: Timestamp,
        conn: ConnId,
        addr: ClientAddr,
    ) -> Option<(ConnId, ClientAddr)> {
        if self.waiting.len() >= MAX_WAITING {
            return Some((conn, addr));
        }
        self.waiting.push_back((at, conn, addr));
        None
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.waiting.front().map(|(at, _, _)| *at)
    }

    /// The next notice due at `now`, if any.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Option<(ConnId, ClientAddr)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.waiting.pop_front().map(|(_, conn, addr)| (conn, addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_come_due_in_order_and_a_full_queue_hands_them_back() {
        let mut d = Departures::default();
        let addr = |i: usize| ClientAddr::new("ws", format!("c{i}"));
        assert_eq!(d.next_deadline(), None);
        for i in 0..MAX_WAITING {
            assert!(d
                .defer(Timestamp(1000 + i as u64), ConnId(1), addr(i))
                .is_none());
        }
        assert_eq!(
            d.defer(Timestamp(5), ConnId(2), addr(0)),
            Some((ConnId(2), addr(0)))
        );
        assert_eq!(d.next_deadline(), Some(Timestamp(1000)));
        assert_eq!(d.pop_due(Timestamp(999)), None);
        assert_eq!(d.pop_due(Timestamp(1001)), Some((ConnId(1), addr(0))));
        assert_eq!(d.pop_due(Timestamp(1001)), Some((ConnId(1), addr(1))));
        assert_eq!(d.pop_due(Timestamp(1001)), None);
        assert_eq!(d.next_deadline(), Some(Timestamp(1002)));
    }
}
