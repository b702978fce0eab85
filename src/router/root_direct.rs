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

use std::collections::{HashMap, HashSet};

use crate::registry::ConnId;

/// Calls to root's own address remembered at once, all peers together.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct RootDirect {
    /// (peer, session) of each call made to root's own address, until answered.
    calls: HashSet<(ConnId, String)>,
    /// Per peer: messages it handed to root's own address through root's message cache, not
    /// yet answered (their sessions are unknown).
    chunked: HashMap<ConnId, usize>,
}

impl RootDirect {
    /// `peer` called root's own address in session `session`.
    pub(super) fn called(&mut self, peer: ConnId, session: &str) {
        if self.len() < MAX_REMEMBERED {
            self.calls.insert((peer, session.to_owned()));
        }
    }

    /// `peer` handed root's own address a message assembled in root's message cache.
    pub(super) fn called_chunked(&mut self, peer: ConnId) {
        if self.len() < MAX_REMEMBERED {
            *self.chunked.entry(peer).or_default() += 1;
        }
    }

    /// True if root's frame to `peer` in `session` answers (or calls back into) a call made to
    /// root's own address. `last` (an answer: resolve or reject) ends what it answers.
    pub(super) fn answers(&mut self, peer: ConnId, session: &str, last: bool) -> bool {
        let key = (peer, session.to_owned());
        if self.calls.contains(&key) {
            if last {
                self.calls.remove(&key);
            }
            return true;
        }
        let Some(pending) = self.chunked.get_mut(&peer) else {
            return false;
        };
        if last {
            *pending -= 1;
            if *pending == 0 {
                self.chunked.remove(&peer);
            }
        }
        true
    }

    /// `peer` left: nothing of it is kept.
    pub(super) fn forget(&mut self, peer: ConnId) {
        self.calls.retain(|(p, _)| *p != peer);
        self.chunked.remove(&peer);
    }

    /// Calls remembered (for tests and metrics).
    pub(super) fn len(&self) -> usize {
        self.calls.len() + self.chunked.values().sum::<usize>()
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
        direct.called_chunked(a);
        direct.forget(a);
        assert_eq!(direct.len(), 0);
    }
}
