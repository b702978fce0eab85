//! The connection handshake (protocol.md §1): the client's JSON authentication frame in,
//! `connection_info` or an error plus a close out; and the text control frames after it.

use rand::RngExt as _;
use serde_json::json;

use super::{close_code, Event, Frame, Router, Session};
use crate::auth::{is_valid_name, Permission, User};
use crate::jwt::{self, Audience};
use crate::manager::reconnection_claims;
use crate::registry::{ClientAddr, ClientRecord, ConnId};
use crate::time::Timestamp;

/// Text frames longer than this are ignored, as both reference servers do.
const MAX_CONTROL_FRAME: usize = 1000;
/// Largest hello accepted: its four fields hold two tokens of at most 8 KiB ([`jwt::MAX_TOKEN_LEN`])
/// and two ids, so anything near this is not a client; parsing megabytes of JSON would hold the
/// Router's lock for every other client.
const MAX_HELLO_BYTES: usize = 64 * 1024;

/// A refusal: close code and the message the client is shown.
pub(super) struct Refusal(pub(super) u16, pub(super) String);

fn policy(msg: impl Into<String>) -> Refusal {
    Refusal(close_code::POLICY_VIOLATION, msg.into())
}

/// What a client asks for when it connects: the WebSocket hello frame's fields, or the query and
/// bearer token of an HTTP stream (`GET /rpc`). Empty values count as absent.
#[derive(Debug, Default)]
pub(super) struct Hello {
    pub(super) client_id: Option<String>,
    pub(super) workspace: Option<String>,
    pub(super) token: Option<String>,
    pub(super) reconnection_token: Option<String>,
}

/// Who the hello proved the client to be.
pub(super) struct Admitted {
    user: User,
    pub(super) addr: ClientAddr,
    /// Authenticated by a reconnection token for exactly this address.
    reconnecting: bool,
}

fn text_field<'a>(hello: &'a serde_json::Value, key: &str) -> Result<Option<&'a str>, Refusal> {
    match hello.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal(
            close_code::UNSUPPORTED_DATA,
            format!("invalid authentication payload: {key} must be a string"),
        )),
    }
}

/// The WebSocket hello frame: a JSON object with string (or null) fields.
fn parse_hello(text: &str) -> Result<Hello, Refusal> {
    if text.len() > MAX_HELLO_BYTES {
        return Err(Refusal(
            close_code::POLICY_VIOLATION,
            format!("invalid authentication payload: over {MAX_HELLO_BYTES} bytes"),
        ));
    }
    // from_slice, like the JWT payload: one JSON reader in the wasm instead of two.
    let hello: serde_json::Value = serde_json::from_slice(text.as_bytes()).map_err(|e| {
        Refusal(
            close_code::UNSUPPORTED_DATA,
            format!("invalid authentication payload: {e}"),
        )
    })?;
    if !hello.is_object() {
        return Err(Refusal(
            close_code::UNSUPPORTED_DATA,
            "invalid authentication payload: not an object".into(),
        ));
    }
    let field = |key| text_field(&hello, key).map(|v| v.map(str::to_owned));
    Ok(Hello {
        client_id: field("client_id")?,
        workspace: field("workspace")?,
        token: field("token")?,
        reconnection_token: field("reconnection_token")?,
    })
}

impl Router {
    /// A transport connection opened and sent its first (text) frame, `hello`: the JSON
    /// `{client_id, workspace, token, reconnection_token}`. Answers with `connection_info`, or
    /// with an error frame and an [`Event::Close`].
    pub fn handle_connect(&mut self, now: Timestamp, conn: ConnId, hello: &str) {
        if super::is_router_conn(conn) {
            debug_assert!(false, "{conn} is in the Router's own range");
            return;
        }
        if self.sessions.contains_key(&conn) {
            debug_assert!(false, "handle_connect called twice for {conn}");
            return;
        }
        let opened = parse_hello(hello)
            .and_then(|hello| self.admit(now, &hello))
            .and_then(|admitted| self.open_session(now, conn, admitted));
        if let Err(Refusal(code, message)) = opened {
            self.refuse(conn, code, message);
        }
        self.flush_notices();
    }

    fn refuse(&mut self, conn: ConnId, code: u16, message: String) {
        self.send_text(conn, json!({"type": "error", "message": message}));
        self.events.push_back(Event::Close {
            conn,
            code,
            reason: message,
        });
    }

    /// Check what `hello` asks for: who the client is (reconnection token, token, or a fresh
    /// anonymous user) and the address it may take.
    pub(super) fn admit(&mut self, now: Timestamp, hello: &Hello) -> Result<Admitted, Refusal> {
        fn present(field: &Option<String>) -> Option<&str> {
            field.as_deref().filter(|s| !s.is_empty())
        }
        let requested_ws = present(&hello.workspace);
        let token = present(&hello.token);
        let reconnection_token = present(&hello.reconnection_token);
        let client_id = match present(&hello.client_id) {
            Some(cid) if cid.starts_with(super::HTTP_PEER_PREFIX) => {
                return Err(policy(format!(
                    "invalid client id: {cid:?} (the prefix {:?} is reserved)",
                    super::HTTP_PEER_PREFIX
                )))
            }
            Some(cid) if is_valid_name(cid) => cid.to_owned(),
            Some(cid) => return Err(policy(format!("invalid client id: {cid:?}"))),
            None => format!(
                "client-{:012x}",
                self.rng.random::<u64>() & 0xffff_ffff_ffff
            ),
        };
        if let Some(ws) = requested_ws {
            if !is_valid_name(ws) {
                return Err(policy(format!("invalid workspace name: {ws:?}")));
            }
        }
        let secret = &self.config.jwt_secret;
        let now_secs = now.as_secs();

        // A reconnection token is tried first; if it fails, a regular token may still admit the
        // client, but a failing credential never degrades into an anonymous session.
        let mut reconnection_failure = None;
        if let Some(rt) = reconnection_token {
            match jwt::verify(rt, secret, now_secs, Audience::Reconnection) {
                Ok(claims) => {
                    let bound_ws = claims.workspace.clone().unwrap_or_default();
                    if claims.client_id.as_deref() != Some(client_id.as_str()) {
                        reconnection_failure =
                            Some("reconnection token was issued for another client id".to_owned());
                    } else if requested_ws.is_some_and(|ws| ws != bound_ws) {
                        reconnection_failure =
                            Some("reconnection token was issued for another workspace".to_owned());
                    } else {
                        let user = User::from_claims(&claims);
                        let addr = ClientAddr::new(bound_ws, client_id);
                        return Ok(Admitted {
                            user,
                            addr,
                            reconnecting: true,
                        });
                    }
                }
                Err(e) => reconnection_failure = Some(format!("invalid reconnection token: {e}")),
            }
        }
        let (user, token_ws) = match token {
            Some(token) => {
                let claims = jwt::verify(token, secret, now_secs, Audience::Api)
                    .map_err(|e| policy(format!("authentication failed: invalid token: {e}")))?;
                if claims
                    .client_id
                    .as_deref()
                    .is_some_and(|bound| bound != client_id)
                {
                    return Err(policy(format!(
                        "authentication failed: token is bound to client id {:?}",
                        claims.client_id.unwrap_or_default()
                    )));
                }
                (User::from_claims(&claims), claims.workspace)
            }
            None => {
                if let Some(why) = reconnection_failure {
                    return Err(policy(format!("authentication failed: {why}")));
                }
                let id = format!(
                    "anonymouz-{:012x}",
                    self.rng.random::<u64>() & 0xffff_ffff_ffff
                );
                (User::anonymous(id), None)
            }
        };
        let workspace = requested_ws.map_or_else(
            || user.default_workspace(token_ws.as_deref()),
            str::to_owned,
        );
        // The workspace may come from a token claim or the user id (`ws-user-<sub>`): names
        // that break addressing (`/`, `:`, `@`...) are refused whatever their origin.
        if !is_valid_name(&workspace) {
            return Err(policy(format!(
                "invalid workspace name {workspace:?} (from the token or user id {:?})",
                user.id
            )));
        }
        if user.permission(&workspace).is_none() {
            return Err(policy(format!(
                "permission denied: workspace {workspace} does not exist or is not accessible to user {user}"
            )));
        }
        Ok(Admitted {
            user,
            addr: ClientAddr::new(workspace, client_id),
            reconnecting: false,
        })
    }

    /// Register the admitted client on `conn` and send it `connection_info`. A live client at the
    /// same address is refused, unless this is its reconnection (same user, reconnection token),
    /// which takes the address over.
    pub(super) fn open_session(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        admitted: Admitted,
    ) -> Result<(), Refusal> {
        let Admitted {
            user,
            addr,
            reconnecting,
        } = admitted;
        if let Some(existing) = self.registry.client(&addr).map(|c| c.conn) {
            let same_user = self
                .registry
                .client(&addr)
                .is_some_and(|c| c.user.id == user.id);
            if !reconnecting || !same_user {
                return Err(policy(format!(
                    "client already exists and is connected: {addr}"
                )));
            }
            // The holder of the reconnection token takes the address over: the old connection
            // is closed and cleaned up first so its departure cannot remove the new services.
            // Another server's connection is closed by that server.
            match self.remote_server(existing).map(str::to_owned) {
                Some(server) => self.cluster_push(super::ClusterOut::TakenOver {
                    client: addr.clone(),
                    server,
                }),
                None => self.close_connection(
                    now,
                    existing,
                    close_code::GOING_AWAY,
                    "replaced by a reconnection of the same client".into(),
                ),
            }
            self.drop_session(now, existing);
        }
        let record = ClientRecord {
            conn,
            user: user.clone(),
            subscriptions: Default::default(),
        };
        self.registry
            .add_client(addr.clone(), record)
            .map_err(|e| policy(e.to_string()))?;
        let reconnection_token = self.reconnection_token(now, &user, &addr);
        let user_value = user.to_value(&addr.workspace);
        let info = json!({
            "type": "connection_info",
            "hypha_version": self.config.hypha_version,
            "public_base_url": self.config.public_base_url,
            "local_base_url": self.config.public_base_url,
            "manager_id": self.config.manager_id,
            "workspace": addr.workspace,
            "client_id": addr.client_id,
            "user": {
                "id": user.id,
                "is_anonymous": user.is_anonymous(),
                "email": user.email,
                "roles": user.roles,
                "scopes": user.scope_string().split_whitespace().collect::<Vec<_>>(),
                "expires_at": user.expires_at,
            },
            "reconnection_token": reconnection_token,
            "reconnection_token_life_time": self.config.reconnection_token_life.as_secs(),
        });
        self.send_text(conn, info);
        self.events.push_back(Event::ClientConnected {
            client: addr.clone(),
            user_id: user.id.clone(),
            conn,
        });
        self.cluster_push(super::ClusterOut::ClientJoined {
            client: addr.clone(),
            user: user_value.clone(),
            reconnected: reconnecting,
        });
        self.sessions
            .insert(conn, Session::new(addr, user, Some(user_value)));
        Ok(())
    }

    fn reconnection_token(&self, now: Timestamp, user: &User, addr: &ClientAddr) -> String {
        let claims = reconnection_claims(
            user,
            addr,
            now.as_secs(),
            self.config.reconnection_token_life,
        );
        jwt::sign(&claims, &self.config.jwt_secret)
    }

    /// A text frame after the handshake: `ping` → `pong`, `refresh_token` → a new reconnection
    /// token. Anything else, and anything longer than 1000 characters, is ignored.
    pub(super) fn handle_control(&mut self, now: Timestamp, conn: ConnId, text: &str) {
        if text.len() > MAX_CONTROL_FRAME {
            return;
        }
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(text.as_bytes()) else {
            return;
        };
        match message.get("type").and_then(serde_json::Value::as_str) {
            Some("ping") => self.send_text(conn, json!({"type": "pong"})),
            Some("refresh_token") => self.refresh_reconnection_token(now, conn),
            _ => {}
        }
    }

    /// Send the client on `conn` a new reconnection token (its `refresh_token` request).
    pub(super) fn refresh_reconnection_token(&mut self, now: Timestamp, conn: ConnId) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let token = self.reconnection_token(now, &session.user, &session.addr);
        self.send_text(
            conn,
            json!({"type": "reconnection_token", "reconnection_token": token}),
        );
    }

    /// True if the user on `conn` may write to its workspace (used to refuse broadcasts from
    /// read-only clients).
    pub(super) fn may_write(&self, conn: ConnId) -> bool {
        self.sessions
            .get(&conn)
            .and_then(|s| s.user.permission(&s.addr.workspace))
            .is_some_and(|p| p >= Permission::ReadWrite)
    }

    /// Dispatch a frame that arrived on an open connection.
    pub fn handle_message(&mut self, now: Timestamp, conn: ConnId, frame: Frame) {
        if super::is_router_conn(conn) || !self.sessions.contains_key(&conn) {
            return;
        }
        match frame {
            Frame::Text(text) => self.handle_control(now, conn, &text),
            Frame::Binary(bytes) => self.route(now, conn, bytes.into()),
        }
        #[cfg(feature = "http")]
        self.pump_http(now);
        self.flush_notices();
    }
}
