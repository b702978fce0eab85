//! Host methods: functions the host page offers to every client through the manager
//! (`create_window`, `load_app`, …). The manager forwards each call to the page with a context
//! the core computed — who calls, which workspaces it may see, and the identity of the client the
//! call may open — so the page decides nothing about rights itself.

use rmpv::Value;

use super::tokens::child_identity;
use super::{Args, Caller, Continuation, Env, ManagerError, Outcome};
use crate::registry::ServiceRecord;

/// True for the page's own dispatch service, which is plumbing and never listed.
pub(super) fn is_host_service(env: &Env<'_>, record: &ServiceRecord) -> bool {
    env.config
        .host
        .as_ref()
        .is_some_and(|h| record.id.provider == h.client && record.id.name == h.service)
}

pub(super) fn is_host_method(env: &Env<'_>, name: &str) -> bool {
    env.config
        .host
        .as_ref()
        .is_some_and(|h| h.methods.iter().any(|m| m == name))
}

/// Ask the host page to run `name` for the caller: `dispatch(name, args, kwargs, context)` with
/// the [`host_context`] of the caller (the host cannot see it otherwise: the call reaches it from
/// the manager).
pub(super) fn forward_to_host(
    env: &mut Env<'_>,
    caller: &Caller<'_>,
    name: &str,
    args: &Args,
) -> Outcome {
    let Some(host) = env.config.host.clone() else {
        return Outcome::Error(ManagerError::Unsupported(format!(
            "method not found: {name}"
        )));
    };
    let context = host_context(env, caller);
    Outcome::Ask {
        method: format!("services.{}.dispatch", host.service),
        args: vec![
            name.into(),
            Value::Array(args.positional().to_vec()),
            Value::Map(args.keywords().to_vec()),
            context,
        ],
        then: Continuation::Host {
            workspace: host.client.workspace.clone(),
        },
        target: host.client,
    }
}

/// What the page is told with a host call:
/// - `ws`, `from`, `to`, `user`: the caller as the Router stamped it;
/// - `visible_workspaces`: `"*"` for root, else the caller's workspace — the windows and apps it
///   may list, get or close;
/// - `child` (absent if the caller holds nothing in its workspace): `{client_id, token, user}` of
///   a client the call may open there, minted by [`child_identity`].
pub(crate) fn host_context(env: &mut Env<'_>, caller: &Caller<'_>) -> Value {
    let workspace = caller.addr.workspace.as_str();
    let visible = if caller.user.is_root() {
        Value::from("*")
    } else {
        Value::Array(vec![workspace.into()])
    };
    let mut context = vec![
        ("ws".into(), workspace.into()),
        ("from".into(), caller.addr.to_string().into()),
        ("to".into(), super::manager_target(env.config).into()),
        ("user".into(), caller.user.to_value(workspace)),
        ("visible_workspaces".into(), visible),
    ];
    if let Some(child) = child_identity(env, caller.user, workspace) {
        context.push((
            "child".into(),
            Value::Map(vec![
                ("client_id".into(), child.client_id.into()),
                ("token".into(), child.token.into()),
                ("user".into(), child.user.to_value(workspace)),
            ]),
        ));
    }
    Value::Map(context)
}
