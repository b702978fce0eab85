//! Every API token the server mints, from one place: `generate_token` for callers, the identity
//! of a child client (a window or worker a caller opens through the host page), the host page's
//! own clients, and reconnection tokens. Each builds a [`Grant`]; only [`Grant::sign`] signs.

use std::time::Duration;

use rand::RngExt as _;
use rmpv::Value;

use super::{map_get, map_str, Args, Caller, Env, ManagerError};
use crate::auth::{is_valid_name, Permission, User};
use crate::jwt::{self, Audience, Claims};
use crate::registry::ClientAddr;

/// Longest lifetime `generate_token` grants.
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default lifetime of generated tokens.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(jwt::DEFAULT_TOKEN_LIFE_SECS);
/// Longest lifetime of a child client's token; the parent's own expiry caps it further.
const CHILD_TOKEN_LIFE: Duration = Duration::from_secs(3600);

type Result<T> = std::result::Result<T, ManagerError>;

fn invalid(msg: impl Into<String>) -> ManagerError {
    ManagerError::InvalidArgument(msg.into())
}

/// What an API token grants: exactly what [`User::from_claims`] reads back.
struct Grant {
    sub: String,
    workspace: String,
    permission: Permission,
    client_id: Option<String>,
    email: Option<String>,
    roles: Vec<String>,
    extra_scopes: Vec<String>,
    life: Duration,
}

impl Grant {
    fn claims(self, now: u64) -> Claims {
        let mut scope = vec![format!(
            "ws:{}#{}",
            self.workspace,
            self.permission.as_scope()
        )];
        scope.extend(self.extra_scopes);
        Claims {
            workspace: Some(self.workspace),
            client_id: self.client_id,
            email: self.email,
            roles: self.roles,
            scope: scope.join(" "),
            ..Claims::issued(Audience::Api, self.sub, now, self.life.as_secs())
        }
    }
}

/// `generate_token(config)`: a token for the caller's own workspace or one it administers, at
/// most with the roles it holds; only root names the subject or the email.
pub(super) fn generate_token(env: &mut Env<'_>, caller: &Caller<'_>, args: &Args) -> Result<Value> {
    let empty = Value::Map(Vec::new());
    let config = args.get(0, "config").unwrap_or(&empty);
    if !matches!(config, Value::Map(_)) {
        return Err(invalid("generate_token: config must be a map"));
    }
    let user = caller.user;
    let workspace = map_str(config, "workspace")
        .unwrap_or(&caller.addr.workspace)
        .to_owned();
    if !is_valid_name(&workspace) {
        return Err(invalid(format!(
            "generate_token: invalid workspace {workspace:?}"
        )));
    }
    let held = user.permission(&workspace);
    if held != Some(Permission::Admin) {
        return Err(ManagerError::PermissionDenied(format!(
            "user {user} cannot mint tokens for workspace {workspace}"
        )));
    }
    let permission = match map_str(config, "permission") {
        None => Permission::ReadWrite,
        Some(p) => Permission::parse(p)
            .ok_or_else(|| invalid(format!("generate_token: unknown permission {p:?}")))?,
    };
    let roles = match map_get(config, "roles") {
        None | Some(Value::Nil) => user.roles.clone(),
        Some(Value::Array(items)) => {
            let roles: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            // Root may grant any role: the holder is never root itself (its `sub` differs
            // unless root names it `root` on purpose). Others grant only roles they hold.
            if let Some(extra) = roles
                .iter()
                .find(|r| !user.is_root() && !user.roles.contains(r))
            {
                return Err(ManagerError::PermissionDenied(format!(
                    "user {user} cannot grant role {extra:?} it does not hold"
                )));
            }
            roles
        }
        Some(_) => return Err(invalid("generate_token: roles must be a list of strings")),
    };
    let life = match map_get(config, "expires_in") {
        None | Some(Value::Nil) => DEFAULT_TOKEN_LIFE,
        Some(v) => {
            let secs = v
                .as_f64()
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| invalid("generate_token: expires_in must be a positive number"))?;
            Duration::from_secs_f64(secs.min(MAX_TOKEN_LIFE.as_secs_f64()))
        }
    };
    let client_id = match map_str(config, "client_id") {
        Some(cid) if !is_valid_name(cid) => {
            return Err(invalid(format!(
                "generate_token: invalid client_id {cid:?}"
            )))
        }
        other => other.map(str::to_owned),
    };
    // Only root may name the subject or the email: anyone else would impersonate.
    let sub = match map_str(config, "user_id") {
        Some(id) if !is_valid_name(id) => {
            return Err(invalid(format!("generate_token: invalid user_id {id:?}")))
        }
        Some(id) if user.is_root() => id.to_owned(),
        Some(id) if id != user.id => {
            return Err(ManagerError::PermissionDenied(format!(
                "user {user} cannot mint tokens for user {id:?}"
            )))
        }
        // A child identity, so the holder does not inherit the caller's own workspace.
        _ => format!("{}-{:08x}", user.id, env.rng.random::<u32>()),
    };
    let email = if user.is_root() {
        map_str(config, "email").map(str::to_owned)
    } else {
        None
    };
    let mut extra_scopes = Vec::new();
    if let Some(Value::Array(extra)) = map_get(config, "extra_scopes") {
        for s in extra.iter().filter_map(Value::as_str) {
            if s.starts_with("ws:") || s.contains(char::is_whitespace) {
                return Err(invalid(format!(
                    "generate_token: extra scope {s:?} not allowed"
                )));
            }
            extra_scopes.push(s.to_owned());
        }
    }
    let grant = Grant {
        sub,
        workspace,
        permission,
        client_id,
        email,
        roles,
        extra_scopes,
        life,
    };
    Ok(jwt::sign(&grant.claims(env.now.as_secs()), &env.config.jwt_secret).into())
}

/// The identity of a client that `parent` opens in `workspace` (a window or worker started
/// through the host page), or `None` if the parent holds nothing there.
#[derive(Debug, Clone)]
pub(crate) struct ChildIdentity {
    /// The child's client id.
    pub(crate) client_id: String,
    /// Its API token.
    pub(crate) token: String,
    /// The user that token makes it.
    pub(crate) user: User,
}

/// A child acts as its parent, never with more: the parent's user, roles and email, read-write in
/// `workspace` only if the parent may write there (read-only otherwise), and no longer than the
/// parent's own token lives. A child of root is a fresh identity named after its client id,
/// read-write in `workspace`, with no roles: root's apps never hold root's rights.
pub(crate) fn child_identity(
    env: &mut Env<'_>,
    parent: &User,
    workspace: &str,
) -> Option<ChildIdentity> {
    let held = parent.permission(workspace)?;
    let client_id = format!("client-{:012x}", env.rng.random::<u64>() >> 16);
    let now = env.now.as_secs();
    let grant = if parent.is_root() {
        Grant {
            sub: client_id.clone(),
            workspace: workspace.to_owned(),
            permission: Permission::ReadWrite,
            client_id: Some(client_id.clone()),
            email: None,
            roles: Vec::new(),
            extra_scopes: Vec::new(),
            life: CHILD_TOKEN_LIFE,
        }
    } else {
        let permission = if held >= Permission::ReadWrite {
            Permission::ReadWrite
        } else {
            Permission::Read
        };
        let parent_left = parent
            .expires_at
            .map_or(u64::MAX, |exp| exp.saturating_sub(now));
        Grant {
            sub: parent.id.clone(),
            workspace: workspace.to_owned(),
            permission,
            client_id: Some(client_id.clone()),
            email: parent.email.clone(),
            roles: parent.roles.clone(),
            extra_scopes: Vec::new(),
            life: CHILD_TOKEN_LIFE.min(Duration::from_secs(parent_left)),
        }
    };
    let claims = grant.claims(now);
    Some(ChildIdentity {
        user: User::from_claims(&claims),
        token: jwt::sign(&claims, &env.config.jwt_secret),
        client_id,
    })
}

/// The token of the host page's own root client (`default/root`, role `admin`).
pub(crate) fn host_root_token(env: &Env<'_>) -> String {
    let claims = Claims {
        workspace: Some(crate::auth::DEFAULT_WORKSPACE.to_owned()),
        client_id: Some("root".to_owned()),
        roles: vec![crate::auth::ADMIN_ROLE.to_owned()],
        ..Claims::issued(
            Audience::Api,
            "root".to_owned(),
            env.now.as_secs(),
            DEFAULT_TOKEN_LIFE.as_secs(),
        )
    };
    jwt::sign(&claims, &env.config.jwt_secret)
}

/// The token of a client the host page mounts itself (`mountWorker`, `mountIframe`): what root's
/// `generate_token` gives for `{workspace, client_id, user_id, email}`, with no roles, for an
/// hour. `user_id` defaults to the client id.
pub(crate) fn mounted_client_token(
    env: &mut Env<'_>,
    host: &ClientAddr,
    workspace: &str,
    client_id: &str,
    user_id: Option<&str>,
    email: Option<&str>,
) -> Result<String> {
    let mut config = vec![
        ("workspace".into(), workspace.into()),
        ("client_id".into(), client_id.into()),
        ("user_id".into(), user_id.unwrap_or(client_id).into()),
        ("roles".into(), Value::Array(Vec::new())),
        ("expires_in".into(), CHILD_TOKEN_LIFE.as_secs().into()),
    ];
    if let Some(email) = email {
        config.push(("email".into(), email.into()));
    }
    let root = User::root();
    let caller = Caller {
        addr: host,
        user: &root,
    };
    let args = Args::from_positional(vec![Value::Map(config)]);
    match generate_token(env, &caller, &args)? {
        Value::String(s) => Ok(s.into_str().unwrap_or_default()),
        _ => Err(invalid("generate_token returned no token")),
    }
}

/// The claims of a reconnection token for `user` at `addr`.
///
/// A session opened with a token cannot outlive it through reconnections: the expiry is capped
/// at the user's own. Anonymous users hold no credential, so theirs is not capped.
pub(crate) fn reconnection_claims(
    user: &User,
    addr: &ClientAddr,
    now: u64,
    life: Duration,
) -> Claims {
    let mut claims = Claims {
        workspace: Some(addr.workspace.clone()),
        client_id: Some(addr.client_id.clone()),
        email: user.email.clone(),
        roles: user.roles.clone(),
        scope: user.scope_string(),
        ..Claims::issued(Audience::Reconnection, user.id.clone(), now, life.as_secs())
    };
    if !user.is_anonymous() {
        claims.exp = claims.exp.min(user.expires_at.unwrap_or(u64::MAX));
    }
    claims
}
