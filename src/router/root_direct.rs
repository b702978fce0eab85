//! Which of root's frames to clients of other workspaces carry root's own address
//! (`default/root`) rather than its presence there (`<ws>/root`).
//!
//! hypha-rpc accepts an answer, heartbeat or callback of a session only from the address the
//! session was opened with. A peer that called root's own address expects those from
//! `default/root`; everything else root sends into another workspace speaks as its presence. The
//! Router remembers the calls made to root's own address, by peer and session, until root
//! answers them or the peer leaves.
//!
//! A call too large for one frame reaches root through root's message cache, and the Router never
//! sees its session (it is inside the chunks): such a peer's sessions the Router does not know
//! are taken as calls to root's own address until as many of them were answered. (A peer that
//! meanwhile calls back into root's presence with a session the Router did not see would get
//! that answer from the wrong address; nothing else would.)

use crate::hashing::{HashMap, HashSet};

use crate::registry::ConnId;

/// Calls to root's own address remembered at once, all peers together.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct RootDirect {
    /// Per peer: the sessions of its calls to root's own address, until answered. By peer, so
    /// that a peer leaving (every HTTP request's end) costs its own entries, not a scan.
    calls: HashMap<ConnId, HashSet<String>>,
    /// Per peer: messages it handed to root's own address through root's message cache, not
    /// yet answered (their sessions are unknown).
    chunked: HashMap<ConnId, usize>,
    /// Everything remembered, both kinds, all peers: what the budget counts.
    total: usize,
}

impl RootDirect {
    /// `peer` called root's own address in session `session`.
    pub(super) fn called(&mut self, peer: ConnId, session: &str) {
        if self.total < MAX_REMEMBERED
            && self
                .calls
                .entry(peer)
                .or_default()
                .insert(session.to_owned())
        {
            self.total += 1;
        }
    }

    /// `peer` handed root's own address a message assembled in root's message cache.
    pub(super) fn called_chunked(&mut self, peer: ConnId) {
        if self.total < MAX_REMEMBERED {
            *self.chunked.entry(peer).or_default() += 1;
            self.total += 1;
        }
    }

    /// True if root's frame to `peer` in `session` answers (or calls back into) a call made to
    /// root's own address. `last` (an answer: resolve or reject) ends what it answers.
    pub(super) fn answers(&mut self, peer: ConnId, session: &str, last: bool) -> bool {
        if let Some(sessions) = self.calls.get_mut(&peer) {
            if sessions.contains(session) {
                if last {
                    sessions.remove(session);
                    self.total -= 1;
                    if sessions.is_empty() {
                        self.calls.remove(&peer);
                    }
                }
                return true;
            }
        }
        let Some(pending) = self.chunked.get_mut(&peer) else {
            return false;
        };
        if last {
            *pending -= 1;
            self.total -= 1;
            if *pending == 0 {
                self.chunked.remove(&peer);
            }
        }
        true
    }

    /// `peer` left: nothing of it is kept.
    pub(super) fn forget(&mut self, peer: ConnId) {
        self.total -= self.calls.remove(&peer).map_or(0, |s| s.len());
        self.total -= self.chunked.remove(&peer).unwrap_or(0);
    }

    /// Calls remembered (for tests and metrics).
    pub(super) fn len(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_answered_once_and_a_chunked_one_by_count() {
        let mut direct = RootDirect::default();
        let (a, b) = (ConnId(1), ConnId(2));
        direct.called(a, "s1");
        direct.called(a, "s1");
        assert_eq!(direct.len(), 1, "one session, counted once");
        assert!(direct.answers(a, "s1", false), "a heartbeat keeps it");
        assert!(direct.answers(a, "s1", true));
        assert!(!direct.answers(a, "s1", true), "answered already");
        assert!(!direct.answers(b, "s1", false), "another peer's session");
        direct.called_chunked(b);
        assert!(direct.answers(b, "unseen", true));
        assert!(
            !direct.answers(b, "unseen-2", true),
            "one chunked call, one answer"
        );
        direct.called(a, "s2");
        direct.called(a, "s3");
        direct.called_chunked(a);
        direct.called_chunked(b);
        assert_eq!(direct.len(), 4);
        direct.forget(a);
        assert_eq!(direct.len(), 1, "b's chunked call stays");
        direct.forget(b);
        assert_eq!(direct.len(), 0);
    }
}
