//! The manager as a peer on the wire: decoding calls addressed to `*/<manager_id>`, sending its
//! answers (both promise forms, protocol.md §2.6), asking clients on its behalf, and resuming.

use rmpv::Value;

use super::calls::{Requester, MAX_ASKS_PER_REQUESTER};
use super::{Frame, Router};
use crate::manager::{self, Args, Caller, ManagerError, Outcome};
use crate::registry::{ClientAddr, ConnId};
use crate::time::Timestamp;
use crate::wire::Envelope;

/// A chunked upload may hold another `process` call, but no deeper.
const MAX_REENTRY: u8 = 1;
/// Heartbeat interval (seconds) announced with the manager's own questions.
const ASK_HEARTBEAT_SECS: u64 = 15;
/// Chunk size of a large answer sent through the recipient's `message_cache` (hypha-rpc's own
/// `long_message_chunk_size`); answers up to one chunk plus 1 KiB go in one frame, as hypha-rpc
/// sends its own.
const LONG_MESSAGE_CHUNK: usize = 256 * 1024;

impl Router {
    /// A stamped frame from `conn` addressed to the manager.
    pub(super) fn manager_call(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        envelope: Envelope,
        depth: u8,
    ) {
        if envelope.str("type") != Some("method") {
            return;
        }
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let requester = Requester {
            conn,
            addr: session.addr.clone(),
            session: envelope.str("session").map(str::to_owned),
            called_as: envelope
                .str("to")
                .filter(|to| *to != self.manager_addr)
                .map(str::to_owned),
        };
        let method = envelope.str("method").unwrap_or_default().to_owned();
        let payload = match envelope.decode_payload() {
            Ok(p) => p,
            Err(e) => {
                let outcome = Outcome::Error(ManagerError::InvalidArgument(format!(
                    "malformed call payload: {e}"
                )));
                return self.deliver(now, &requester, outcome);
            }
        };
        // An answer to one of the manager's own questions.
        if let Some((ask, kind)) = method.rsplit_once('.') {
            if self.asks.is_pending(ask, conn) {
                let first_arg = payload
                    .as_ref()
                    .and_then(|p| match manager::map_get(p, "args") {
                        Some(Value::Array(items)) => items.first().cloned(),
                        _ => None,
                    });
                let reply = match kind {
                    "resolve" => Ok(first_arg.unwrap_or(Value::Nil)),
                    "reject" => Err(error_text(first_arg.as_ref())),
                    "heartbeat" => {
                        self.asks
                            .extend(ask, conn, now + self.config.client_call_timeout);
                        // The original caller's own timer runs too: pass the sign of life on.
                        if let Some(requester) = self.asks.requester_of(ask, conn) {
                            self.heartbeat(&requester);
                        }
                        return;
                    }
                    _ => return,
                };
                if let Some((original, then)) = self.asks.answer(ask, conn) {
                    let outcome = manager::resume(then, reply);
                    self.deliver(now, &original, outcome);
                }
                return;
            }
        }
        let args = Args::from_payload(payload.as_ref());
        let outcome = {
            let (mut env, sessions) = self.manager_env(now);
            let Some(session) = sessions.get(&conn) else {
                return;
            };
            let caller = Caller {
                addr: &session.addr,
                user: &session.user,
            };
            manager::dispatch(&mut env, &caller, &method, &args)
        };
        if matches!(outcome, Outcome::Reenter(_)) && depth >= MAX_REENTRY {
            let error =
                ManagerError::InvalidArgument("nested chunked messages are not allowed".into());
            return self.deliver(now, &requester, Outcome::Error(error));
        }
        // Open uploads are swept for abandonment, whichever call opened them.
        if self.cache_sweep.is_none() && !self.caches.is_empty() {
            self.cache_sweep = Some(now + manager::cache_sweep_interval());
        }
        self.deliver_at_depth(now, &requester, outcome, depth);
    }

    /// Carry out what a manager call produced for `requester`.
    pub(super) fn deliver(&mut self, now: Timestamp, requester: &Requester, outcome: Outcome) {
        self.deliver_at_depth(now, requester, outcome, 0);
    }

    fn deliver_at_depth(
        &mut self,
        now: Timestamp,
        requester: &Requester,
        outcome: Outcome,
        depth: u8,
    ) {
        match outcome {
            Outcome::Value(value) => self.answer(now, requester, Ok(value)),
            Outcome::Error(error) => self.answer(now, requester, Err(error.to_string())),
            Outcome::Ask {
                target,
                method,
                args,
                then,
            } => {
                let Some(target_conn) = self.registry.client(&target).map(|c| c.conn) else {
                    return self.answer(
                        now,
                        requester,
                        Err(format!("client not connected: {target}")),
                    );
                };
                if self.asks.pending_for(requester.conn) >= MAX_ASKS_PER_REQUESTER {
                    return self.answer(
                        now,
                        requester,
                        Err("too many manager requests in flight".to_owned()),
                    );
                }
                let deadline = now + self.config.client_call_timeout;
                let ask = self
                    .asks
                    .open(target_conn, requester.clone(), then, deadline);
                let payload = Value::Map(vec![
                    ("args".into(), Value::Array(args)),
                    ("promise".into(), self.ask_promise(&ask)),
                ]);
                // Stamped with the target's own workspace, so it serves its protected services.
                self.send_from_manager(target_conn, &target, method, Some(ask), payload);
            }
            Outcome::Reenter(bytes) => {
                self.answer(now, requester, Ok(Value::Nil));
                let Ok(mut inner) = Envelope::decode(bytes) else {
                    return;
                };
                let Some(session) = self.sessions.get(&requester.conn) else {
                    return;
                };
                // The assembled message gets the identity of the connection that uploaded it.
                inner.remove("ctx");
                inner.set("from", session.addr.to_string().into());
                inner.set("to", self.manager_addr.as_str().into());
                inner.set("ws", session.addr.workspace.as_str().into());
                inner.set("user", session.user_value().clone());
                self.manager_call(now, requester.conn, inner, depth + 1);
            }
        }
    }

    /// The promise of a manager question, spelled out (`{heartbeat, resolve, reject, interval}`,
    /// each a `_rtype: "method"` on the manager) rather than hypha-rpc 0.21's `"*"` shorthand,
    /// which hypha-rpc 0.20 clients (still loaded by pages in the wild) take for the object
    /// itself; 0.21 expands `"*"` into exactly this.
    fn ask_promise(&self, session: &str) -> Value {
        let target = self.config.manager_id.as_str();
        let callback = |name: &str| {
            Value::Map(vec![
                ("_rtype".into(), "method".into()),
                ("_rtarget".into(), target.into()),
                ("_rmethod".into(), format!("{session}.{name}").into()),
                ("_rpromise".into(), false.into()),
            ])
        };
        Value::Map(vec![
            ("heartbeat".into(), callback("heartbeat")),
            ("resolve".into(), callback("resolve")),
            ("reject".into(), callback("reject")),
            ("interval".into(), ASK_HEARTBEAT_SECS.into()),
        ])
    }

    /// The manager address the requester's answers come from: the one it called.
    fn answering_as<'a>(&'a self, requester: &'a Requester) -> &'a str {
        requester
            .called_as
            .as_deref()
            .unwrap_or(self.manager_addr.as_str())
    }

    /// Tell the requester its call is still being worked on (`<session>.heartbeat`).
    fn heartbeat(&mut self, requester: &Requester) {
        let Some(session) = &requester.session else {
            return;
        };
        let payload = Value::Map(vec![("args".into(), Value::Array(Vec::new()))]);
        let method = format!("{session}.heartbeat");
        let from = self.answering_as(requester).to_owned();
        let frame = self.manager_frame(&from, &requester.addr, method, None, &payload);
        self.send(requester.conn, Frame::Binary(frame.into()));
    }

    /// Resolve or reject the requester's promise, if it asked for an answer.
    fn answer(&mut self, now: Timestamp, requester: &Requester, result: Result<Value, String>) {
        let Some(session) = &requester.session else {
            return;
        };
        let (suffix, arg) = crate::wire::settlement(result);
        let payload = Value::Map(vec![("args".into(), Value::Array(vec![arg]))]);
        let method = format!("{session}.{suffix}");
        let from = self.answering_as(requester).to_owned();
        let frame = self.manager_frame(&from, &requester.addr, method, None, &payload);
        if frame.len() > LONG_MESSAGE_CHUNK + 1024 && !self.is_own_peer(requester.conn) {
            return self.upload(now, requester, frame);
        }
        self.send(requester.conn, Frame::Binary(frame.into()));
    }

    /// Deliver `frame` to the requester through its own `message_cache` (`create`, `set` per
    /// chunk, `process`), each step sent once the previous one was acknowledged, so that every
    /// frame stays within what hypha-rpc peers accept. If a step fails or times out the answer is
    /// lost and the caller's own timeout reports it.
    fn upload(&mut self, now: Timestamp, requester: &Requester, frame: Vec<u8>) {
        use rand::RngExt as _;
        let key = format!("manager-{:016x}", self.rng.random::<u64>());
        let chunks = frame
            .chunks(LONG_MESSAGE_CHUNK)
            .map(<[u8]>::to_vec)
            .collect();
        let first = Outcome::Ask {
            target: requester.addr.clone(),
            method: "services.built-in.message_cache.create".to_owned(),
            args: vec![key.as_str().into(), false.into()],
            then: manager::Continuation::Upload {
                target: requester.addr.clone(),
                key,
                chunks,
                index: 0,
            },
        };
        // The steps' own answers go nowhere: the upload is the answer.
        let carrier = Requester {
            session: None,
            ..requester.clone()
        };
        self.deliver(now, &carrier, first);
    }

    /// True for the Router's own HTTP peers, which read frames whole.
    fn is_own_peer(&self, conn: ConnId) -> bool {
        #[cfg(feature = "http")]
        return super::http::is_peer_conn(conn) && !self.http.is_stream(conn);
        #[cfg(not(feature = "http"))]
        {
            let _ = conn;
            false
        }
    }

    /// Send a `method` frame from the manager to `to` (on `conn`), stamped with the recipient's
    /// own workspace and the manager's user.
    fn send_from_manager(
        &mut self,
        conn: ConnId,
        to: &ClientAddr,
        method: String,
        session: Option<String>,
        payload: Value,
    ) {
        let frame = self.manager_frame(&self.manager_addr, to, method, session, &payload);
        self.send(conn, Frame::Binary(frame.into()));
    }

    /// A `method` frame from the manager to `to`, stamped with the recipient's own workspace and
    /// the manager's user.
    fn manager_frame(
        &self,
        from: &str,
        to: &ClientAddr,
        method: String,
        session: Option<String>,
        payload: &Value,
    ) -> Vec<u8> {
        let mut main = vec![
            ("type".to_owned(), "method".into()),
            ("from".to_owned(), from.into()),
            ("to".to_owned(), to.to_string().into()),
            ("method".to_owned(), method.into()),
        ];
        if let Some(session) = session {
            main.push(("session".to_owned(), session.into()));
        }
        main.push(("ws".to_owned(), to.workspace.as_str().into()));
        main.push(("user".to_owned(), self.manager_user.clone()));
        Envelope::new(main, Some(payload)).encode()
    }
}

/// The message of a rejection a client sent (`{_rtype: "error", _rvalue}` or anything else).
fn error_text(arg: Option<&Value>) -> String {
    match arg {
        Some(v) => manager::map_str(v, "_rvalue")
            .map(str::to_owned)
            .or_else(|| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "the client rejected the request".to_owned()),
        None => "the client rejected the request".to_owned(),
    }
}
