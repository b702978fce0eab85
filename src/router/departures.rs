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

/// How long after a departure its notices go out, at least.
const DELAY: Duration = Duration::from_secs(1);
/// Notices go out together on ticks this far apart: a timer wake-up per departure cost 2–5 % of
/// a server's requests/s under HTTP load.
const TICK_MS: u64 = 100;
/// Departures waiting for their notices (a second of requests under heavy load); past it, the
/// next ones are told at once.
const MAX_WAITING: usize = 100_000;
/// Connections a peer that never joined a workspace remembers having called: a call, its
/// descriptor and an app's callbacks reach one or two; past this, the rest are not told the
/// peer left.
const MAX_CALLEES: usize = 16;

/// The connections a peer no workspace hears of sent calls to (one of this server's HTTP
/// requests, or another server's): whom to tell when it leaves.
#[derive(Debug, Default)]
pub(super) struct Callees(Vec<ConnId>);

impl Callees {
    pub(super) fn add(&mut self, callee: ConnId) {
        if self.0.len() < MAX_CALLEES && !self.0.contains(&callee) {
            self.0.push(callee);
        }
    }

    pub(super) fn as_slice(&self) -> &[ConnId] {
        &self.0
    }
}

/// Notices waiting to go out, oldest first: when, to whom, about whom.
#[derive(Debug, Default)]
pub(super) struct Departures {
    waiting: VecDeque<(Timestamp, ConnId, ClientAddr)>,
}

impl Departures {
    /// Tell `conn` that `addr` left, on the first tick a [`DELAY`] after `now`; hands the
    /// notice back if too many wait already.
    pub(super) fn defer(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        addr: ClientAddr,
    ) -> Option<(ConnId, ClientAddr)> {
        if self.waiting.len() >= MAX_WAITING {
            return Some((conn, addr));
        }
        let at = (now + DELAY).0.div_ceil(TICK_MS).saturating_mul(TICK_MS);
        self.waiting.push_back((Timestamp(at), conn, addr));
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
    fn notices_come_due_on_ticks_in_order_and_a_full_queue_hands_them_back() {
        let mut d = Departures::default();
        let addr = |i: usize| ClientAddr::new("ws", format!("c{i}"));
        assert_eq!(d.next_deadline(), None);
        // Departures at 1,001..=1,100 ms are told at 2,100; from 1,101 on, at 2,200.
        for i in 0..MAX_WAITING {
            let now = Timestamp(1001 + i as u64);
            assert!(d.defer(now, ConnId(1), addr(i)).is_none());
        }
        assert_eq!(
            d.defer(Timestamp(5), ConnId(2), addr(0)),
            Some((ConnId(2), addr(0))),
            "a full queue hands the notice back"
        );
        assert_eq!(d.next_deadline(), Some(Timestamp(2100)));
        assert_eq!(d.pop_due(Timestamp(2099)), None);
        let mut due = Vec::new();
        while let Some((_, a)) = d.pop_due(Timestamp(2100)) {
            due.push(a);
        }
        assert_eq!(due, (0..100).map(addr).collect::<Vec<_>>());
        assert_eq!(d.next_deadline(), Some(Timestamp(2200)));
    }
}
