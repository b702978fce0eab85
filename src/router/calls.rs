//! Bookkeeping of calls in flight, so that a departing client does not leave callers waiting:
//! - [`CallTable`]: client→client calls that expect an answer (they carry a `session`); when the
//!   callee leaves, each caller gets a `peer_not_found` for its session.
//! - [`ManagerAsks`]: questions the manager put to a client on behalf of another client's call.
//!
//! Both are bounded, and their records expire, because their size is driven by peers.

use crate::hashing::HashMap;
use std::time::Duration;

use crate::manager::Continuation;
use crate::registry::{ClientAddr, ConnId};
use crate::time::Timestamp;

/// How long a tracked call is remembered without a heartbeat.
const TRACK_TTL: Duration = Duration::from_secs(600);
/// How often stale call records are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Calls tracked per caller; beyond this, calls still flow but are not tracked.
const MAX_TRACKED_PER_CALLER: usize = 10_000;
/// Manager questions pending per requesting client.
pub(crate) const MAX_ASKS_PER_REQUESTER: usize = 64;

#[derive(Debug)]
struct InFlight {
    callee: ConnId,
    callee_addr: ClientAddr,
    deadline: Timestamp,
}

/// Client→client calls awaiting an answer, by caller connection and session id.
#[derive(Debug, Default)]
pub(super) struct CallTable {
    by_caller: crate::registry::ConnMap<HashMap<String, InFlight>>,
    next_sweep: Option<Timestamp>,
}

impl CallTable {
    /// Remember that `caller` waits for `callee` to answer `session`.
    pub(super) fn track(
        &mut self,
        now: Timestamp,
        caller: ConnId,
        session: &str,
        callee: ConnId,
        callee_addr: &ClientAddr,
    ) {
        let calls = self.by_caller.entry(caller).or_default();
        if calls.len() >= MAX_TRACKED_PER_CALLER && !calls.contains_key(session) {
            return;
        }
        let record = InFlight {
            callee,
            callee_addr: callee_addr.clone(),
            deadline: now + TRACK_TTL,
        };
        calls.insert(session.to_owned(), record);
        self.next_sweep.get_or_insert(now + SWEEP_EVERY);
    }

    /// `callee` answered `session` of `caller` (resolve or reject); false if that call was not
    /// tracked.
    pub(super) fn complete(&mut self, caller: ConnId, session: &str, callee: ConnId) -> bool {
        let Some(calls) = self.by_caller.get_mut(&caller) else {
            return false;
        };
        if calls.get(session).is_none_or(|c| c.callee != callee) {
            return false;
        }
        // The caller's (now perhaps empty) table stays for its next call: dropping and
        // rebuilding it cost two allocations a call. The sweep drops empty tables, and
        // `forget_caller` the caller's when it leaves.
        calls.remove(session);
        true
    }

    /// The connection `caller` waits on for `session`, if that call is tracked.
    pub(super) fn callee_of(&self, caller: ConnId, session: &str) -> Option<ConnId> {
        self.by_caller.get(&caller)?.get(session).map(|c| c.callee)
    }

    /// `callee` sent a heartbeat for `session` of `caller`: it is still working.
    pub(super) fn keep_alive(
        &mut self,
        now: Timestamp,
        caller: ConnId,
        session: &str,
        callee: ConnId,
    ) {
        if let Some(call) = self
            .by_caller
            .get_mut(&caller)
            .and_then(|c| c.get_mut(session))
        {
            if call.callee == callee {
                call.deadline = now + TRACK_TTL;
            }
        }
    }

    /// Remove and return every `(caller, session, callee address)` waiting on `callee`.
    pub(super) fn take_for_callee(&mut self, callee: ConnId) -> Vec<(ConnId, String, ClientAddr)> {
        let mut out = Vec::new();
        for (caller, calls) in &mut self.by_caller {
            calls.retain(|session, call| {
                let keep = call.callee != callee;
                if !keep {
                    out.push((*caller, session.clone(), call.callee_addr.clone()));
                }
                keep
            });
        }
        self.by_caller.retain(|_, c| !c.is_empty());
        out
    }

    /// The caller left: forget its calls.
    pub(super) fn forget_caller(&mut self, caller: ConnId) {
        self.by_caller.remove(&caller);
    }

    /// Drop records past their deadline.
    pub(super) fn sweep(&mut self, now: Timestamp) {
        if self.next_sweep.is_none_or(|t| t > now) {
            return;
        }
        for calls in self.by_caller.values_mut() {
            calls.retain(|_, c| c.deadline > now);
        }
        self.by_caller.retain(|_, c| !c.is_empty());
        self.next_sweep = (!self.by_caller.is_empty()).then(|| now + SWEEP_EVERY);
    }

    /// When [`Self::sweep`] has work.
    pub(super) fn next_sweep(&self) -> Option<Timestamp> {
        self.next_sweep
    }

    /// Number of tracked calls (for tests and metrics).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_caller.values().map(HashMap::len).sum()
    }

    /// Number of callers with a table (for tests).
    #[cfg(test)]
    fn tables(&self) -> usize {
        self.by_caller.len()
    }
}

/// The client call a manager question serves: where the final answer goes.
#[derive(Debug, Clone)]
pub(super) struct Requester {
    pub(super) conn: ConnId,
    pub(super) addr: ClientAddr,
    /// The requester's session; `None` for fire-and-forget calls (no answer is sent).
    pub(super) session: Option<String>,
    /// The manager address the requester called, when it is not the current one (an id from
    /// before a restart): answers come from the address called, which hypha-rpc checks.
    pub(super) called_as: Option<String>,
}

#[derive(Debug)]
struct Ask {
    target: ConnId,
    requester: Requester,
    then: Continuation,
    deadline: Timestamp,
}

/// Questions the manager sent to clients, by the session id it used.
#[derive(Debug, Default)]
pub(super) struct ManagerAsks {
    asks: HashMap<String, Ask>,
    next_id: u64,
}

impl ManagerAsks {
    /// How many questions `requester` has pending.
    pub(super) fn pending_for(&self, requester: ConnId) -> usize {
        self.asks
            .values()
            .filter(|a| a.requester.conn == requester)
            .count()
    }

    /// Park `then` until `target` answers; returns the session id to send.
    pub(super) fn open(
        &mut self,
        target: ConnId,
        requester: Requester,
        then: Continuation,
        deadline: Timestamp,
    ) -> String {
        self.next_id += 1;
        let id = format!("wm{}", self.next_id);
        self.asks.insert(
            id.clone(),
            Ask {
                target,
                requester,
                then,
                deadline,
            },
        );
        id
    }

    /// True if `id` is a question pending with `from`.
    pub(super) fn is_pending(&self, id: &str, from: ConnId) -> bool {
        self.asks.get(id).is_some_and(|a| a.target == from)
    }

    /// Who is waiting for question `id`, if it is pending with `from`.
    pub(super) fn requester_of(&self, id: &str, from: ConnId) -> Option<Requester> {
        self.asks
            .get(id)
            .filter(|a| a.target == from)
            .map(|a| a.requester.clone())
    }

    /// `from` answered question `id`.
    pub(super) fn answer(&mut self, id: &str, from: ConnId) -> Option<(Requester, Continuation)> {
        if !self.is_pending(id, from) {
            return None;
        }
        self.asks.remove(id).map(|a| (a.requester, a.then))
    }

    /// `from` is still working on `id`.
    pub(super) fn extend(&mut self, id: &str, from: ConnId, deadline: Timestamp) {
        if let Some(ask) = self.asks.get_mut(id).filter(|a| a.target == from) {
            ask.deadline = ask.deadline.max(deadline);
        }
    }

    /// Remove and return the questions past their deadline.
    pub(super) fn expire(&mut self, now: Timestamp) -> Vec<(Requester, Continuation)> {
        let due: Vec<String> = self
            .asks
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|k| self.asks.remove(&k))
            .map(|a| (a.requester, a.then))
            .collect()
    }

    /// Remove and return the questions put to `target`, which left.
    pub(super) fn take_for_target(&mut self, target: ConnId) -> Vec<(Requester, Continuation)> {
        let gone: Vec<String> = self
            .asks
            .iter()
            .filter(|(_, a)| a.target == target)
            .map(|(k, _)| k.clone())
            .collect();
        gone.into_iter()
            .filter_map(|k| self.asks.remove(&k))
            .map(|a| (a.requester, a.then))
            .collect()
    }

    /// The requester left: its questions no longer matter.
    pub(super) fn forget_requester(&mut self, requester: ConnId) {
        self.asks.retain(|_, a| a.requester.conn != requester);
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.asks.values().map(|a| a.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_complete_only_by_their_callee() {
        let mut table = CallTable::default();
        let callee = ClientAddr::new("ws", "b");
        table.track(Timestamp(0), ConnId(1), "s1", ConnId(2), &callee);
        table.complete(ConnId(1), "s1", ConnId(3));
        assert_eq!(table.len(), 1);
        table.complete(ConnId(1), "s1", ConnId(2));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn an_answered_callers_table_stays_until_the_sweep_or_its_departure() {
        let mut table = CallTable::default();
        let callee = ClientAddr::new("ws", "b");
        table.track(Timestamp(0), ConnId(1), "s1", ConnId(2), &callee);
        table.complete(ConnId(1), "s1", ConnId(2));
        assert_eq!(
            (table.len(), table.tables()),
            (0, 1),
            "kept for the next call"
        );
        table.track(Timestamp(0), ConnId(5), "s2", ConnId(2), &callee);
        table.complete(ConnId(5), "s2", ConnId(2));
        table.forget_caller(ConnId(5));
        assert_eq!(table.tables(), 1, "a caller that left has no table");
        let due = table.next_sweep().expect("a sweep is due");
        table.sweep(due);
        assert_eq!(table.tables(), 0, "the sweep drops empty tables");
        assert_eq!(table.next_sweep(), None, "and stops when nothing is left");
    }

    #[test]
    fn a_departing_callee_releases_its_callers() {
        let mut table = CallTable::default();
        let b = ClientAddr::new("ws", "b");
        table.track(Timestamp(0), ConnId(1), "s1", ConnId(2), &b);
        table.track(Timestamp(0), ConnId(3), "s9", ConnId(2), &b);
        table.track(
            Timestamp(0),
            ConnId(3),
            "s8",
            ConnId(4),
            &ClientAddr::new("ws", "d"),
        );
        let mut waiting = table.take_for_callee(ConnId(2));
        waiting.sort();
        assert_eq!(
            waiting,
            vec![
                (ConnId(1), "s1".into(), b.clone()),
                (ConnId(3), "s9".into(), b)
            ]
        );
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn stale_records_are_swept_unless_kept_alive() {
        let mut table = CallTable::default();
        let b = ClientAddr::new("ws", "b");
        table.track(Timestamp(0), ConnId(1), "old", ConnId(2), &b);
        table.track(Timestamp(0), ConnId(1), "busy", ConnId(2), &b);
        let later = Timestamp(0) + Duration::from_secs(590);
        table.keep_alive(later, ConnId(1), "busy", ConnId(2));
        let past_ttl = Timestamp(0) + TRACK_TTL + Duration::from_secs(1);
        table.sweep(past_ttl);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn asks_answer_only_from_their_target_and_expire() {
        let mut asks = ManagerAsks::default();
        let requester = Requester {
            conn: ConnId(1),
            addr: ClientAddr::new("ws", "a"),
            session: Some("s".into()),
            called_as: None,
        };
        let id = asks.open(ConnId(2), requester, Continuation::Ping, Timestamp(100));
        assert!(asks.answer(&id, ConnId(3)).is_none());
        assert_eq!(asks.next_deadline(), Some(Timestamp(100)));
        assert_eq!(asks.expire(Timestamp(100)).len(), 1);
        assert!(asks.answer(&id, ConnId(2)).is_none());
    }
}
