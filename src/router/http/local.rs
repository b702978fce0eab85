//! Root's own service functions, run in-process by the driver for HTTP callers (design.md §7:
//! "functions of the root API and defaultService run in-process").
//!
//! Over the wire, an HTTP call to a function root registered costs a call frame into root's
//! hypha-rpc client (which decodes it, looks the function up, runs it, encodes the answer), the
//! answer frame back through the Router, and, when the request ends, a `client_disconnected`
//! notice so that root's client forgets the session it kept for the call. A driver that hosts
//! root's client in its own process ([`crate::http::HttpConfig::local_root_calls`]) is handed
//! the call instead ([`LocalCall`]), after every check the wire path makes here: the service's
//! visibility for the caller (the manager's lookup and [`Router::call_denied`]) and that the
//! function belongs to the service's provider. The driver runs it as root's hypha-rpc would and
//! answers with a [`LocalOutcome`], or declines, and the call goes over the wire after all.
//!
//! Arguments that hypha-rpc would decode into something else than plain data (a map with an
//! `_rtype` key, map keys that are not strings, msgpack extensions) always go over the wire.

use rmpv::Value;

use super::{Failure, Stage};
use crate::http::args::CallArgs;
use crate::http::{HttpId, LocalCall, LocalOutcome};
use crate::registry::ClientAddr;
use crate::router::{Router, Session};
use crate::time::Timestamp;

/// A call handed to the driver, kept until it answers (a declined call is sent as a frame).
#[derive(Debug)]
pub(super) struct Local {
    target: ClientAddr,
    method: String,
    session: String,
    args: Vec<Value>,
    with_kwargs: bool,
}

/// True if hypha-rpc's decoding leaves `value` as it is: no `_rtype` map (a function, a
/// generator, a typed array... to be decoded), string keys only, no extension types.
fn is_plain(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(is_plain),
        Value::Map(entries) => entries
            .iter()
            .all(|(k, v)| k.as_str().is_some_and(|k| k != "_rtype") && is_plain(v)),
        Value::String(s) => s.is_str(),
        Value::Ext(..) => false,
        _ => true,
    }
}

impl Router {
    /// True if the call of `method` at `target` for exchange `id` runs in the driver: the
    /// driver asked for it, `target` is root's own client, and the call would pass the checks
    /// made on its frame.
    fn runs_locally(&self, id: HttpId, target: &ClientAddr, method: &str, args: &CallArgs) -> bool {
        let root = self.root_conn();
        if !self.config.http.local_root_calls
            || !method.starts_with("services.")
            || target.workspace != crate::auth::DEFAULT_WORKSPACE
            || root.is_none()
            || self.registry.client(target).map(|c| c.conn) != root
        {
            return false;
        }
        let Some(caller) = self.http.exchanges.get(&id).and_then(|e| e.addr.as_ref()) else {
            return false;
        };
        self.call_denied(&caller.workspace, target, method)
            .is_none()
            && args.positional.iter().all(is_plain)
            && args.keywords.iter().all(|(_, v)| is_plain(v))
    }

    /// Call `method` at `target` with the request's arguments: in the driver if it may run
    /// there, else as a frame to the provider.
    pub(super) fn call_function(
        &mut self,
        now: Timestamp,
        id: HttpId,
        target: &ClientAddr,
        method: &str,
        call_args: CallArgs,
    ) -> Result<(), Failure> {
        if !self.runs_locally(id, target, method, &call_args) {
            return self.send_call(now, id, &target.to_string(), method, call_args);
        }
        // The caller's `user` map only for a function that takes the context, as on the wire.
        let reads_user = self.function_reads_user(target, method);
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let to = target.text();
        let session = exchange.new_session(&to);
        let (args, with_kwargs) = call_args.into_wire();
        let context = local_context(
            self.sessions.get(&exchange.conn),
            &to,
            method,
            &session,
            reads_user,
        );
        self.http.outputs_local.push_back(LocalCall {
            id,
            method: method.to_owned(),
            context,
            args: args.clone(),
            with_kwargs,
        });
        exchange.stage = Stage::Local(Local {
            target: target.clone(),
            method: method.to_owned(),
            session,
            args,
            with_kwargs,
        });
        // Armed as for a call over the wire (the driver's timer stays as it is under load); at
        // its deadline a local call is armed again, never timed out (`http_expire`).
        self.arm(now, id);
        Ok(())
    }

    /// The driver answered local call `id` (an id no longer open is ignored: its client left).
    pub fn handle_http_local(&mut self, now: Timestamp, id: HttpId, outcome: LocalOutcome) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        let Stage::Local(local) = std::mem::replace(&mut exchange.stage, Stage::Call) else {
            return;
        };
        let from = local.target.text();
        let (reply, size) = match outcome {
            LocalOutcome::Declined => {
                // Its session is still pending, for the answer from root's client.
                let frame = super::call::method_frame(
                    &from,
                    &local.method,
                    Some(&local.session),
                    local.args,
                    local.with_kwargs,
                );
                let conn = exchange.conn;
                self.arm(now, id);
                self.dispatch_envelope(now, conn, frame);
                self.settle_http(now);
                return;
            }
            LocalOutcome::Resolved {
                value,
                kept_session,
            } => {
                if kept_session {
                    self.keep_local_session(id, &local.target);
                }
                (super::call::Reply::Resolve(value), 0)
            }
            LocalOutcome::Rejected(error) => (super::call::Reply::Reject(error), 0),
        };
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.pending.retain(|p| p.session != local.session);
        }
        // Pulling a generator (or any call back into the session) goes over the wire.
        self.arm(now, id);
        self.on_reply(now, id, reply, size, &from);
        self.settle_http(now);
    }

    /// Next call to run in-process. Drain after every input, as with `poll_http`.
    pub fn poll_local_call(&mut self) -> Option<LocalCall> {
        self.http.outputs_local.pop_front()
    }

    /// Root's client keeps something of the peer's call (a generator, a callback): as after a
    /// call over the wire, the peer's later calls into that session may reach root, and root
    /// hears when the peer leaves.
    fn keep_local_session(&mut self, id: HttpId, root: &ClientAddr) {
        let Some(root_conn) = self.registry.client(root).map(|c| c.conn) else {
            return;
        };
        let Some(peer) = self.http.exchanges.get(&id).map(|e| e.conn) else {
            return;
        };
        if self
            .sessions
            .get(&peer)
            .is_some_and(|s| s.addr.workspace != root.workspace)
        {
            // A refusal leaves the next pull refused, as it would have been over the wire.
            let _ = self.links.link(peer, root_conn);
        }
        self.http.called(peer, root_conn);
    }
}

/// The context root's hypha-rpc builds for a call from the exchange's peer: the stamped fields
/// of the frame the wire path would send (`user` only where that frame would carry it).
fn local_context(
    peer: Option<&Session>,
    to: &str,
    method: &str,
    session: &str,
    with_user: bool,
) -> Value {
    let from = peer.map(|s| s.addr.text()).unwrap_or_default();
    let ws = peer.map(|s| s.addr.workspace.as_str()).unwrap_or_default();
    let mut context = vec![
        ("type".into(), "method".into()),
        ("from".into(), from.into()),
        ("to".into(), to.into()),
        ("method".into(), method.into()),
        ("session".into(), session.into()),
        ("ws".into(), ws.into()),
    ];
    if with_user {
        let user = peer.map(|s| s.user_value().clone()).unwrap_or(Value::Nil);
        context.push(("user".into(), user));
    }
    Value::Map(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_hypha_rpc_leaves_alone_is_plain() {
        let map = |k: Value, v: Value| Value::Map(vec![(k, v)]);
        assert!(is_plain(&Value::Array(vec![
            1.into(),
            "x".into(),
            Value::Binary(vec![1]),
            map("a".into(), Value::Nil),
        ])));
        assert!(!is_plain(&map("_rtype".into(), "method".into())));
        assert!(!is_plain(&Value::Array(vec![map(
            "x".into(),
            map("_rtype".into(), "ndarray".into())
        )])));
        assert!(
            !is_plain(&map(1.into(), 2.into())),
            "a key that is not text"
        );
        assert!(!is_plain(&Value::Ext(1, vec![0])));
    }
}
