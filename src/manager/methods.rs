//! One function per manager method. Each checks the caller's rights itself: nothing a client
//! sends is trusted beyond the identity the Router stamped.

use rand::RngExt as _;
use rmpv::Value;

use super::host::{forward_to_host, is_host_method, is_host_service};
use super::query::{parse_get_lookup, parse_list_query};
use super::{
    map_get, map_set, map_str, Args, Caller, CaseConversion, Continuation, Env, ManagerError,
    Notice, Outcome,
};
use crate::auth::is_valid_name;
use crate::registry::{
    is_valid_service_name, ClientAddr, RequireContext, ServiceId, ServiceRecord, Visibility,
};

/// Event subscriptions one client may hold.
const MAX_SUBSCRIPTIONS: usize = 256;

type Result<T> = std::result::Result<T, ManagerError>;

fn invalid(msg: impl Into<String>) -> ManagerError {
    ManagerError::InvalidArgument(msg.into())
}

pub(super) fn call_default(
    env: &mut Env<'_>,
    caller: &Caller<'_>,
    name: &str,
    args: &Args,
) -> Outcome {
    match name {
        "echo" => Outcome::Value(args.get(0, "data").cloned().unwrap_or(Value::Nil)),
        "log" => Outcome::Value(Value::Nil),
        "register_service" => register_service(env, caller, args).into(),
        "unregister_service" => unregister_service(env, caller, args).into(),
        "get_service" => get_service(env, caller, args),
        "get_service_info" => get_service_info(env, caller, args).into(),
        "list_services" => list_services(env, caller, args).into(),
        "list_clients" => list_clients(env, caller, args).into(),
        "subscribe" => subscribe(env, caller, args, true).into(),
        "unsubscribe" => subscribe(env, caller, args, false).into(),
        "generate_token" => super::tokens::generate_token(env, caller, args).into(),
        "check_status" => Outcome::Value(Value::Map(vec![("status".into(), "ok".into())])),
        "ping" => ping(env, caller, args),
        "get_service_type" => Outcome::Error(ManagerError::Unsupported(
            "service types are not supported".into(),
        )),
        host if is_host_method(env, host) => forward_to_host(env, caller, host, args),
        other => Outcome::Error(ManagerError::Unsupported(format!(
            "method not found: services.default.{other}"
        ))),
    }
}

pub(super) fn call_built_in(
    env: &mut Env<'_>,
    caller: &Caller<'_>,
    name: &str,
    args: &Args,
) -> Outcome {
    let key = || {
        args.str(0, "key")
            .ok_or_else(|| invalid("message_cache: key must be a string"))
    };
    match name {
        "ping" => Outcome::Value("pong".into()),
        "get_service" => match args
            .str(0, "service_id")
            .map(|s| s.split('@').next().unwrap_or(s))
        {
            Some("default") => Outcome::Value(super::default_service(env.config, caller.addr)),
            Some("built-in") => Outcome::Value(super::built_in_service(env.config, caller.addr)),
            other => Outcome::Error(ManagerError::NotFound(format!(
                "Service not found: {}",
                other.unwrap_or("")
            ))),
        },
        "message_cache.create" => key()
            .and_then(|k| env.caches.create(caller.addr, k, env.now))
            .map(|()| Value::Nil)
            .into(),
        "message_cache.set" | "message_cache.append" => {
            let (index, data) = if name.ends_with("set") {
                (
                    args.get(1, "index").and_then(Value::as_u64),
                    args.get(2, "data"),
                )
            } else {
                (None, args.get(1, "data"))
            };
            let result = key().and_then(|k| match data {
                Some(Value::Binary(bytes)) => {
                    if name.ends_with("set") && index.is_none() {
                        return Err(invalid(
                            "message_cache.set: index must be a non-negative integer",
                        ));
                    }
                    env.caches.set(caller.addr, k, index, bytes.clone())
                }
                _ => Err(invalid("message_cache: data must be bytes")),
            });
            result.map(|()| Value::Nil).into()
        }
        "message_cache.process" => match key().and_then(|k| env.caches.take(caller.addr, k)) {
            Ok(bytes) => Outcome::Reenter(bytes),
            Err(e) => Outcome::Error(e),
        },
        "message_cache.remove" => key()
            .and_then(|k| env.caches.remove(caller.addr, k))
            .map(|()| Value::Nil)
            .into(),
        other => Outcome::Error(ManagerError::Unsupported(format!(
            "method not found: services.built-in.{other}"
        ))),
    }
}

pub(super) fn resume(then: Continuation, reply: std::result::Result<Value, String>) -> Outcome {
    let value = match reply {
        Ok(v) => v,
        Err(reason) => return Outcome::Error(ManagerError::Client(reason)),
    };
    match then {
        Continuation::Ping => Outcome::Value("pong".into()),
        Continuation::Upload {
            target,
            key,
            mut chunks,
            index,
        } => match chunks.pop_front() {
            Some(chunk) => Outcome::Ask {
                target: target.clone(),
                method: "services.built-in.message_cache.set".to_owned(),
                args: vec![
                    key.as_str().into(),
                    index.into(),
                    Value::Binary(chunk),
                    false.into(),
                ],
                then: Continuation::Upload {
                    target,
                    key,
                    chunks,
                    index: index + 1,
                },
            },
            None => Outcome::Ask {
                target,
                method: "services.built-in.message_cache.process".to_owned(),
                args: vec![key.into(), false.into()],
                then: Continuation::Uploaded,
            },
        },
        Continuation::Uploaded => Outcome::Value(Value::Nil),
        Continuation::Host { workspace } => {
            let mut value = value;
            absolutize_targets(&mut value, &workspace, 0);
            Outcome::Value(value)
        }
        Continuation::GetService { id, case } => {
            let mut service = value;
            if !matches!(service, Value::Map(_)) {
                return Outcome::Error(ManagerError::Client(format!(
                    "provider of {id} returned no service"
                )));
            }
            absolutize_targets(&mut service, &id.provider.workspace, 0);
            map_set(&mut service, "id", id.to_string().into());
            if let Some(case) = case {
                case.apply(&mut service);
            }
            Outcome::Value(service)
        }
    }
}

// ---------------------------------------------------------------- registration

/// Resolve the id a client registers or unregisters under: `svc`, `cid:svc` or `ws/cid:svc`
/// (each optionally `@app`) must all name the caller itself.
fn own_service_id(caller: &Caller<'_>, raw: &str) -> Result<(ServiceId, Option<String>)> {
    let (body, app) = match raw.split_once('@') {
        Some((body, app)) => (body, Some(app.to_owned())),
        None => (raw, None),
    };
    let (provider, name) = match body.split_once(':') {
        Some((provider, name)) => (Some(provider), name),
        None => (None, body),
    };
    let addr = match provider {
        None => caller.addr.clone(),
        Some(p) if p.contains('/') => {
            ClientAddr::parse(p).ok_or_else(|| invalid(format!("invalid service id: {raw}")))?
        }
        Some(cid) => ClientAddr::new(caller.addr.workspace.clone(), cid),
    };
    if &addr != caller.addr {
        return Err(ManagerError::PermissionDenied(format!(
            "service {raw} belongs to {addr}, not to the caller {}",
            caller.addr
        )));
    }
    if !is_valid_service_name(name) {
        return Err(invalid(format!("invalid service name {name:?} in {raw}")));
    }
    if app
        .as_deref()
        .is_some_and(|a| a != "*" && !is_valid_name(a))
    {
        return Err(invalid(format!("invalid app id in {raw}")));
    }
    Ok((ServiceId::new(addr, name), app))
}

fn register_service(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Result<Value> {
    let service = args
        .get(0, "service")
        .ok_or_else(|| invalid("register_service: service is required"))?;
    if !matches!(service, Value::Map(_)) {
        return Err(invalid("register_service: service must be a map"));
    }
    let raw_id = map_str(service, "id")
        .ok_or_else(|| invalid("register_service: service.id must be a string"))?;
    let (id, app_from_id) = own_service_id(caller, raw_id)?;
    let empty = Value::Map(Vec::new());
    let config = match map_get(service, "config") {
        None | Some(Value::Nil) => &empty,
        Some(c @ Value::Map(_)) => c,
        Some(_) => return Err(invalid("register_service: service.config must be a map")),
    };
    // Interface objects (`_rintf_*`) and local-only services never leave their client.
    if id.name.starts_with("_rintf_")
        || matches!(map_get(config, "_local_only"), Some(Value::Boolean(true)))
    {
        return Ok(Value::Nil);
    }
    let visibility_text = map_str(config, "visibility");
    let visibility = Visibility::parse(visibility_text).ok_or_else(|| {
        invalid(format!(
            "invalid visibility {:?} for {id}",
            visibility_text.unwrap_or("")
        ))
    })?;
    let service_type = map_str(service, "type").unwrap_or("generic").to_owned();
    let is_built_in = id.name == "built-in";
    // Every client registers its own built-in service on connect, wherever it is; anything else
    // needs write access to the workspace.
    if !is_built_in && !caller.user.can_write(&id.provider.workspace) {
        return Err(ManagerError::PermissionDenied(format!(
            "user {} cannot register services in workspace {}",
            caller.user, id.provider.workspace
        )));
    }
    let app_id = app_from_id
        .or_else(|| map_str(service, "app_id").map(str::to_owned))
        .unwrap_or_else(|| "*".to_owned());
    let mut info = service.clone();
    map_set(&mut info, "id", id.to_string().into());
    map_set(&mut info, "app_id", app_id.as_str().into());
    map_set(&mut info, "type", service_type.as_str().into());
    if map_get(&info, "name").is_none_or(Value::is_nil) {
        map_set(&mut info, "name", id.name.as_str().into());
    }
    let mut config = config.clone();
    map_set(
        &mut config,
        "workspace",
        id.provider.workspace.as_str().into(),
    );
    map_set(&mut config, "visibility", visibility.as_str().into());
    map_set(&mut info, "config", config);

    let record = record_from_info(&info)
        .ok_or_else(|| invalid(format!("register_service: malformed service {id}")))?;
    check_registry_budgets(env, caller, &id, record.bytes)?;
    let replaced = env.registry.register(record)?;
    registration_notices(env.notices, &id, replaced, &info);
    Ok(info)
}

/// What subscribers hear when the service `id` (listed as `info`) was registered, replacing
/// `replaced` if any: the old one removed, or a new client's arrival (its `built-in` comes
/// first), then the new one added. For a registration here and one on another server alike.
pub(crate) fn registration_notices(
    notices: &mut Vec<Notice>,
    id: &ServiceId,
    replaced: Option<ServiceRecord>,
    info: &Value,
) {
    let workspace = id.provider.workspace.clone();
    if let Some(old) = replaced {
        notices.push(Notice {
            workspace: workspace.clone(),
            event: "service_removed",
            data: old.info(),
        });
    } else if id.name == "built-in" {
        let data = Value::Map(vec![
            ("id".into(), id.provider.to_string().into()),
            ("workspace".into(), workspace.as_str().into()),
        ]);
        notices.push(Notice {
            workspace: workspace.clone(),
            event: "client_connected",
            data,
        });
    }
    notices.push(Notice {
        workspace,
        event: "service_added",
        data: info.clone(),
    });
}

/// The registry record of a service from its info as listed: what `register_service` builds,
/// and what another server of a cluster reports. `None` if the info is not one this manager
/// would list (no valid id, unknown visibility).
pub(crate) fn record_from_info(info: &Value) -> Option<ServiceRecord> {
    let (provider, name) = map_str(info, "id")?.split_once(':')?;
    let provider = ClientAddr::parse(provider)?;
    if !is_valid_service_name(name) {
        return None;
    }
    let empty = Value::Map(Vec::new());
    let config = map_get(info, "config").unwrap_or(&empty);
    let authorized_workspaces = match map_get(config, "authorized_workspaces") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let encoded_info = crate::wire::encode_value(info).into_boxed_slice();
    Some(ServiceRecord {
        id: ServiceId::new(provider, name),
        app_id: map_str(info, "app_id").unwrap_or("*").to_owned(),
        visibility: Visibility::parse(map_str(config, "visibility"))?,
        service_type: map_str(info, "type").unwrap_or("generic").to_owned(),
        authorized_workspaces,
        require_context: RequireContext::from_config(map_get(config, "require_context")),
        bytes: encoded_info.len(),
        encoded_info,
    })
}

/// Refuse a record of `bytes` that is too big, or that would take its user's registrations or
/// the whole registry over budget (a record it replaces gives its bytes back first).
fn check_registry_budgets(
    env: &Env<'_>,
    caller: &Caller<'_>,
    id: &ServiceId,
    bytes: usize,
) -> Result<()> {
    let limits = &env.config.limits;
    if bytes > limits.service_bytes {
        return Err(invalid(format!(
            "service {id} is {bytes} bytes, more than the {} a service may have",
            limits.service_bytes
        )));
    }
    let replaced = env.registry.service(id).map_or(0, |r| r.bytes);
    let user = &caller.user.id;
    if env.registry.bytes_of_user(user) - replaced + bytes > limits.user_registry_bytes {
        return Err(invalid(format!(
            "the services of user {user} would exceed {} bytes",
            limits.user_registry_bytes
        )));
    }
    if env.registry.bytes() - replaced + bytes > limits.registry_bytes {
        return Err(invalid(format!(
            "the server holds {} bytes of services, its limit: try again later",
            limits.registry_bytes
        )));
    }
    Ok(())
}

fn unregister_service(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Result<Value> {
    let raw = match args.get(0, "service_id") {
        Some(Value::String(s)) => s.as_str().unwrap_or_default().to_owned(),
        Some(m @ Value::Map(_)) => map_str(m, "id").unwrap_or_default().to_owned(),
        _ => return Err(invalid("unregister_service: service_id must be a string")),
    };
    let (id, _) = own_service_id(caller, &raw)?;
    let removed = env
        .registry
        .unregister(&id)
        .ok_or_else(|| ManagerError::NotFound(format!("Service not found: {id}")))?;
    env.notices.push(Notice {
        workspace: id.provider.workspace,
        event: "service_removed",
        data: removed.info(),
    });
    Ok(Value::Nil)
}

// ---------------------------------------------------------------- lookup

/// Pick one service for a `get_service`-style query, honouring visibility and `mode`.
fn resolve<'r>(
    env: &'r mut Env<'_>,
    caller: &Caller<'_>,
    query: &str,
    mode: Option<&str>,
) -> Result<&'r ServiceRecord> {
    let patterns = parse_get_lookup(query, &caller.addr.workspace)?;
    let home = &caller.addr.workspace;
    let registry: &crate::registry::Registry = env.registry;
    let candidates: Vec<&ServiceRecord> = patterns
        .iter()
        .map(|pattern| {
            registry
                .find(pattern)
                .into_iter()
                // Root administers every workspace.
                .filter(|r| r.usable_from(home) || caller.user.is_root())
                .collect::<Vec<_>>()
        })
        .find(|found| !found.is_empty())
        .unwrap_or_default();
    if candidates.is_empty() {
        // From another workspace a service may exist and be closed to the caller: the answer is
        // the same either way (nothing revealed), worded so clients matching "not found" and
        // clients matching "permission denied" both understand it.
        let message = if patterns[0].workspace != *home && !caller.user.is_root() {
            format!("Service not found: {query} (it does not exist, or permission denied from workspace {home})")
        } else {
            format!("Service not found: {query}")
        };
        return Err(ManagerError::NotFound(message));
    }
    let default_mode = if patterns[0].workspace == crate::auth::PUBLIC_WORKSPACE {
        "random"
    } else {
        "exact"
    };
    let chosen = match mode.unwrap_or(default_mode) {
        "exact" if candidates.len() > 1 => {
            let ids: Vec<String> = candidates.iter().map(|r| r.id.to_string()).collect();
            return Err(ManagerError::Ambiguous(format!(
                "multiple services found for {query}: {}; pass config mode 'first', 'last' or 'random'",
                ids.join(", ")
            )));
        }
        "exact" | "first" => candidates[0],
        "last" => candidates[candidates.len() - 1],
        "random" => candidates[env.rng.random_range(0..candidates.len())],
        other => return Err(invalid(format!("unsupported get_service mode: {other}"))),
    };
    Ok(chosen)
}

/// The id and type of the service `query` names for `caller` (the lookup `get_service` makes).
#[cfg(feature = "http")]
pub(crate) fn resolve_service(
    env: &mut Env<'_>,
    caller: &Caller<'_>,
    query: &str,
    mode: Option<&str>,
) -> Result<(ServiceId, String)> {
    resolve(env, caller, query, mode).map(|r| (r.id.clone(), r.service_type.clone()))
}

/// True if `query` names services that exist but none of which a caller in `home` may use: the
/// lookup said "not found" to hide them, and the HTTP API answers 403 instead.
#[cfg(feature = "http")]
pub(crate) fn hidden_from(registry: &crate::registry::Registry, query: &str, home: &str) -> bool {
    parse_get_lookup(query, home).is_ok_and(|ps| ps.iter().any(|p| !registry.find(p).is_empty()))
}

fn query_arg(args: &Args) -> Result<String> {
    match args.get(0, "service_id").or_else(|| args.get(0, "query")) {
        Some(Value::String(s)) => s
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| invalid("service id not utf-8")),
        // hypha-core accepts `{id}` / `{service_id}` maps too.
        Some(m @ Value::Map(_)) => map_str(m, "id")
            .or_else(|| map_str(m, "service_id"))
            .map(str::to_owned)
            .ok_or_else(|| invalid("get_service: query map needs an id")),
        _ => Err(invalid("get_service: service_id must be a string")),
    }
}

fn get_service(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Outcome {
    let config = args.get(1, "config");
    let mode = config.and_then(|c| map_str(c, "mode")).map(str::to_owned);
    let case = config
        .and_then(|c| map_str(c, "case_conversion"))
        .and_then(CaseConversion::parse);
    let found = query_arg(args)
        .and_then(|q| resolve(env, caller, &q, mode.as_deref()).map(|r| r.id.clone()));
    match found {
        Ok(id) => Outcome::Ask {
            target: id.provider.clone(),
            method: "services.built-in.get_service".to_owned(),
            args: vec![id.name.as_str().into()],
            then: Continuation::GetService { id, case },
        },
        Err(e) => Outcome::Error(e),
    }
}

fn get_service_info(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Result<Value> {
    let query = query_arg(args)?;
    let mode = args
        .get(1, "config")
        .and_then(|c| map_str(c, "mode"))
        .map(str::to_owned);
    Ok(resolve(env, caller, &query, mode.as_deref())?.info())
}

fn list_services(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Result<Value> {
    let query = parse_list_query(args.get(0, "query"), &caller.addr.workspace)?;
    let home = &caller.addr.workspace;
    let all_workspaces = query.pattern.workspace == "*";
    let found = env
        .registry
        .find(&query.pattern)
        .into_iter()
        .filter(|r| {
            r.listed_for(home) || (caller.user.is_root() && r.visibility != Visibility::Unlisted)
        })
        // The host page's dispatch service is the manager's plumbing, not a service to list.
        .filter(|r| !is_host_service(env, r))
        // Across every workspace only public services are listed.
        .filter(|r| {
            !all_workspaces
                || r.visibility == Visibility::Public
                || &r.id.provider.workspace == home
        })
        .filter(|r| {
            query
                .visibility
                .as_deref()
                .is_none_or(|v| v == r.visibility.as_str())
        })
        .filter(|r| {
            query
                .service_type
                .as_deref()
                .is_none_or(|t| t == r.service_type)
        })
        .collect::<Vec<_>>();
    // Sized before anything is cloned: the records know their encoded size.
    let bytes: usize = found.iter().map(|r| r.bytes).sum();
    let budget = env.config.limits.listing_bytes;
    if bytes > budget {
        return Err(invalid(format!(
            "list_services: the {} matching services take {bytes} bytes, more than the {budget} a listing may; narrow the query (a workspace, client, type or visibility)",
            found.len()
        )));
    }
    Ok(Value::Array(
        found.into_iter().map(ServiceRecord::info).collect(),
    ))
}

fn list_clients(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Result<Value> {
    let workspace = args
        .str(0, "workspace")
        .unwrap_or(&caller.addr.workspace)
        .to_owned();
    if workspace != caller.addr.workspace && caller.user.permission(&workspace).is_none() {
        return Err(ManagerError::PermissionDenied(format!(
            "cannot list clients of workspace {workspace}"
        )));
    }
    let clients = env
        .registry
        .clients_in(&workspace)
        .map(|(addr, record)| {
            Value::Map(vec![
                ("id".into(), addr.to_string().into()),
                ("workspace".into(), addr.workspace.as_str().into()),
                ("client_id".into(), addr.client_id.as_str().into()),
                (
                    "user".into(),
                    Value::Map(vec![("id".into(), record.user.id.as_str().into())]),
                ),
            ])
        })
        .collect();
    Ok(Value::Array(clients))
}

fn subscribe(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args, on: bool) -> Result<Value> {
    let types: Vec<String> = match args.get(0, "event_type") {
        Some(Value::String(s)) => vec![s.as_str().unwrap_or_default().to_owned()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => {
            return Err(invalid(
                "subscribe: event_type must be a string or a list of strings",
            ))
        }
    };
    if types.iter().any(|t| t.is_empty() || t.len() > 128) {
        return Err(invalid(
            "subscribe: event types must be 1 to 128 characters",
        ));
    }
    let record = env
        .registry
        .client_mut(caller.addr)
        .ok_or_else(|| ManagerError::NotFound(format!("client not connected: {}", caller.addr)))?;
    for t in types {
        if on {
            if record.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                return Err(invalid(format!(
                    "too many subscriptions (limit {MAX_SUBSCRIPTIONS})"
                )));
            }
            record.subscriptions.insert(t);
        } else {
            record.subscriptions.remove(&t);
        }
    }
    Ok(Value::Nil)
}

fn ping(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Outcome {
    let Some(target) = args.str(0, "client_id") else {
        return Outcome::Error(invalid("ping: client_id must be a string"));
    };
    let addr = if target.contains('/') {
        ClientAddr::parse(target)
    } else {
        Some(ClientAddr::new(caller.addr.workspace.clone(), target))
    };
    match addr {
        Some(addr)
            if addr.workspace == caller.addr.workspace && env.registry.client(&addr).is_some() =>
        {
            Outcome::Ask {
                target: addr,
                method: "services.built-in.ping".to_owned(),
                args: vec!["ping".into()],
                then: Continuation::Ping,
            }
        }
        _ => Outcome::Error(ManagerError::NotFound(format!(
            "client not found in this workspace: {target}"
        ))),
    }
}

// ---------------------------------------------------------------- descriptor rewriting

/// Prefix bare `_rtarget`s with the provider's workspace: callers resolve bare targets against
/// the workspace of whoever sent the descriptor, which for a forwarded service is the manager.
fn absolutize_targets(value: &mut Value, workspace: &str, depth: usize) {
    if depth > 64 {
        return;
    }
    match value {
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                if k.as_str() == Some("_rtarget") {
                    if let Some(t) = v.as_str() {
                        if !t.contains('/') {
                            *v = format!("{workspace}/{t}").into();
                        }
                    }
                } else {
                    absolutize_targets(v, workspace, depth + 1);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| absolutize_targets(v, workspace, depth + 1)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_targets_get_the_provider_workspace() {
        let mut v = Value::Map(vec![(
            "f".into(),
            Value::Map(vec![
                ("_rtype".into(), "method".into()),
                ("_rtarget".into(), "c1".into()),
            ]),
        )]);
        absolutize_targets(&mut v, "ws", 0);
        let f = map_get(&v, "f").unwrap();
        assert_eq!(map_str(f, "_rtarget"), Some("ws/c1"));
    }
}
