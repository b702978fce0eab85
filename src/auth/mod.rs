//! Who a connection is and what it may do: users, workspace permissions, and the mapping from
//! verified token claims to a user.
//!
//! This module decides; it does not verify signatures (that is [`crate::jwt`]) and does no I/O.
//! The rules are stricter than the JavaScript reference (design.md §5):
//! - root (`sub == "root"` with the `admin` role) administers every workspace;
//! - every user administers its own workspace `ws-user-<id>`;
//! - a token grants the workspace named in its `workspace` claim (read-write unless its scope says
//!   otherwise) and any workspace listed as `ws:<name>#<r|rw|a>` in its scope;
//! - everyone may read `public`; nobody but root writes to `public`.

use std::fmt;

use rmpv::Value;

use crate::jwt::Claims;

#[cfg(test)]
mod tests;

/// The workspace everyone may enter to find public services.
pub const PUBLIC_WORKSPACE: &str = "public";
/// The workspace of root and of the in-tab host page.
pub const DEFAULT_WORKSPACE: &str = "default";
/// The role that, held by the user `root`, makes a superuser.
pub const ADMIN_ROLE: &str = "admin";
/// The role carried by users who presented no token.
pub const ANONYMOUS_ROLE: &str = "anonymous";

/// A level of access to one workspace, ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Enter, list and call services.
    Read,
    /// Also register services.
    ReadWrite,
    /// Also mint tokens for the workspace.
    Admin,
}

impl Permission {
    /// The scope suffix used in token scopes (`ws:<name>#<suffix>`).
    pub fn as_scope(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::ReadWrite => "rw",
            Self::Admin => "a",
        }
    }

    /// Parse a scope suffix or a `generate_token` permission name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "r" | "read" => Some(Self::Read),
            "rw" | "read_write" => Some(Self::ReadWrite),
            "a" | "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Workspace grants, in workspace-name order. A token carries a few, so a sorted list does; a
/// map type would cost kilobytes of wasm for nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(Vec<(String, Permission)>);

impl Grants {
    /// The permission granted for `workspace`, if any.
    pub fn get(&self, workspace: &str) -> Option<Permission> {
        self.find(workspace).ok().map(|i| self.0[i].1)
    }

    /// True if `workspace` has a grant.
    pub fn contains(&self, workspace: &str) -> bool {
        self.find(workspace).is_ok()
    }

    /// Grant `permission` on `workspace`, keeping the higher of it and an existing grant.
    pub fn raise(&mut self, workspace: &str, permission: Permission) {
        match self.find(workspace) {
            Ok(i) => self.0[i].1 = self.0[i].1.max(permission),
            Err(i) => self.0.insert(i, (workspace.to_owned(), permission)),
        }
    }

    /// Grant `permission` on `workspace` unless it already has a grant.
    pub fn insert_if_absent(&mut self, workspace: &str, permission: Permission) {
        if let Err(i) = self.find(workspace) {
            self.0.insert(i, (workspace.to_owned(), permission));
        }
    }

    /// The grants, in workspace-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Permission)> {
        self.0.iter().map(|(ws, p)| (ws.as_str(), *p))
    }

    fn find(&self, workspace: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(ws, _)| ws.as_str().cmp(workspace))
    }
}

/// An authenticated user, as every message it sends is stamped.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user id (`sub` of its token, `anonymouz-…` without one).
    pub id: String,
    /// Roles carried by the token; `anonymous` for users without one.
    pub roles: Vec<String>,
    /// Email from the token, if any.
    pub email: Option<String>,
    /// Token expiry (UNIX seconds), if the user came with a token.
    pub expires_at: Option<u64>,
    /// Explicit workspace grants (from the token's `workspace` claim and `ws:` scopes).
    pub grants: Grants,
    /// Scope entries that are not workspace grants, kept to be passed on.
    pub extra_scopes: Vec<String>,
    /// Whether the user administers its own workspace `ws-user-<id>`. False only for identities
    /// many callers share (the anonymous HTTP user), which must own nothing.
    pub owns_workspace: bool,
}

impl User {
    /// A client's user as another server of the cluster reports it: known by id, allowed
    /// nothing here (its own server checked what it may do and stamped its frames).
    pub fn remote(id: String) -> Self {
        Self {
            id,
            roles: Vec::new(),
            email: None,
            expires_at: None,
            grants: Grants::default(),
            extra_scopes: Vec::new(),
            owns_workspace: false,
        }
    }

    /// A fresh anonymous user.
    pub fn anonymous(id: String) -> Self {
        Self {
            id,
            roles: vec![ANONYMOUS_ROLE.to_owned()],
            email: None,
            expires_at: None,
            grants: Grants::default(),
            extra_scopes: Vec::new(),
            owns_workspace: true,
        }
    }

    /// An anonymous identity shared by many callers (the anonymous HTTP user): read-only
    /// everywhere it may read, and owner of no workspace, so no caller can write under it.
    pub fn shared_anonymous(id: String) -> Self {
        Self {
            owns_workspace: false,
            ..Self::anonymous(id)
        }
    }

    /// The superuser of the in-tab host page.
    pub fn root() -> Self {
        Self {
            id: "root".to_owned(),
            roles: vec![ADMIN_ROLE.to_owned()],
            email: None,
            expires_at: None,
            grants: Grants::default(),
            extra_scopes: Vec::new(),
            owns_workspace: true,
        }
    }

    /// Rebuild a user from verified claims.
    pub fn from_claims(claims: &Claims) -> Self {
        let mut grants = Grants::default();
        let mut extra_scopes = Vec::new();
        for entry in claims.scope.split_whitespace() {
            match parse_workspace_scope(entry) {
                Some((ws, permission)) => grants.raise(ws, permission),
                None => extra_scopes.push(entry.to_owned()),
            }
        }
        if let Some(ws) = &claims.workspace {
            grants.insert_if_absent(ws, Permission::ReadWrite);
        }
        Self {
            id: claims.sub.clone(),
            roles: claims.roles.clone(),
            email: claims.email.clone(),
            expires_at: Some(claims.exp),
            grants,
            extra_scopes,
            owns_workspace: true,
        }
    }

    /// True for users without a token.
    pub fn is_anonymous(&self) -> bool {
        self.roles.iter().any(|r| r == ANONYMOUS_ROLE)
    }

    /// True for the superuser.
    pub fn is_root(&self) -> bool {
        self.id == "root" && self.roles.iter().any(|r| r == ADMIN_ROLE)
    }

    /// The workspace this user owns.
    pub fn own_workspace(&self) -> String {
        user_workspace(&self.id)
    }

    /// The access this user has to `workspace`, if any.
    pub fn permission(&self, workspace: &str) -> Option<Permission> {
        if self.is_root() || (self.owns_workspace && workspace == self.own_workspace()) {
            return Some(Permission::Admin);
        }
        let granted = self.grants.get(workspace);
        if workspace == PUBLIC_WORKSPACE {
            // Public is readable by all and writable by root only, whatever a token says.
            return Some(Permission::Read);
        }
        if workspace == DEFAULT_WORKSPACE {
            // Only root (or a token root minted for `default`) reaches the host's workspace.
            return granted;
        }
        granted
    }

    /// True if this user may register services in `workspace`.
    pub fn can_write(&self, workspace: &str) -> bool {
        self.permission(workspace)
            .is_some_and(|p| p >= Permission::ReadWrite)
    }

    /// The workspace a connection lands in when it asked for none.
    pub fn default_workspace(&self, token_workspace: Option<&str>) -> String {
        match token_workspace {
            Some(ws) => ws.to_owned(),
            None if self.is_root() => DEFAULT_WORKSPACE.to_owned(),
            None => self.own_workspace(),
        }
    }

    /// The space-separated scope string that reproduces this user's grants in a token.
    pub fn scope_string(&self) -> String {
        let mut parts: Vec<String> = self
            .grants
            .iter()
            .map(|(ws, p)| format!("ws:{ws}#{}", p.as_scope()))
            .collect();
        parts.extend(self.extra_scopes.iter().cloned());
        parts.join(" ")
    }

    /// The user as stamped into messages (`context.user`): the Python server's `UserInfo` shape
    /// plus hypha-core's `scopes`, so services written for either validate it.
    pub fn to_value(&self, current_workspace: &str) -> Value {
        let mut workspaces: Vec<(Value, Value)> = self
            .grants
            .iter()
            .map(|(ws, p)| (ws.into(), p.as_scope().into()))
            .collect();
        let own = self.own_workspace();
        if self.owns_workspace && !self.grants.contains(&own) {
            workspaces.push((own.into(), "a".into()));
        }
        let email = self.email.as_deref().map_or(Value::Nil, Value::from);
        let expires_at = self.expires_at.map_or(Value::Nil, Value::from);
        let scopes: Vec<Value> = self
            .scope_string()
            .split_whitespace()
            .map(Value::from)
            .collect();
        let roles: Vec<Value> = self.roles.iter().map(|r| r.as_str().into()).collect();
        Value::Map(vec![
            ("id".into(), self.id.as_str().into()),
            ("is_anonymous".into(), self.is_anonymous().into()),
            ("email".into(), email),
            ("roles".into(), Value::Array(roles)),
            ("parent".into(), Value::Nil),
            ("expires_at".into(), expires_at),
            ("current_workspace".into(), current_workspace.into()),
            (
                "scope".into(),
                Value::Map(vec![
                    ("current_workspace".into(), current_workspace.into()),
                    ("workspaces".into(), Value::Map(workspaces)),
                    ("client_id".into(), Value::Nil),
                    (
                        "extra_scopes".into(),
                        Value::Array(
                            self.extra_scopes
                                .iter()
                                .map(|s| s.as_str().into())
                                .collect(),
                        ),
                    ),
                ]),
            ),
            ("scopes".into(), Value::Array(scopes)),
        ])
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// The workspace owned by user `id`.
pub fn user_workspace(id: &str) -> String {
    format!("ws-user-{id}")
}

/// Parse one `ws:<name>#<perm>` scope entry.
fn parse_workspace_scope(entry: &str) -> Option<(&str, Permission)> {
    let rest = entry.strip_prefix("ws:")?;
    let (ws, perm) = rest.rsplit_once('#')?;
    if ws.is_empty() {
        return None;
    }
    Some((ws, Permission::parse(perm)?))
}

/// True if `name` is acceptable as a workspace or client id: non-empty, at most 128 bytes, and
/// free of the separators the addressing scheme uses (`/`, `:`, `@`, `*`) and of whitespace.
pub fn is_valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 128 {
        return false;
    }
    // Routing checks the names of an address on every frame, and they are nearly always ASCII:
    // for an ASCII character, "neither whitespace nor control" is "graphic", a byte test.
    if name.is_ascii() {
        name.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'@' | b'*' | b'#'))
    } else {
        name.chars().all(|c| {
            !matches!(c, '/' | ':' | '@' | '*' | '#') && !c.is_whitespace() && !c.is_control()
        })
    }
}
