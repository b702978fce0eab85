//! What the host page asks of the core for its own clients: the root client's token, the tokens
//! of clients it mounts itself, and the context of root's own host calls. The rules live in the
//! manager ([`crate::manager::host_context`], `tokens`); this only finds the host's session.

use rmpv::Value;

use super::Router;
use crate::manager::{host_context, host_root_token, mounted_client_token, Caller};
use crate::registry::ClientAddr;
use crate::time::Timestamp;

impl Router {
    /// The token of the host page's root client (`default/root`, role `admin`).
    pub fn host_root_token(&mut self, now: Timestamp) -> String {
        let (env, _) = self.manager_env(now);
        host_root_token(&env)
    }

    /// The token of a client the host page mounts itself in `workspace` as `client_id`: what
    /// root's `generate_token` mints for it (no roles, an hour; `user_id` defaults to the client
    /// id). Errors name an invalid argument.
    pub fn mounted_client_token(
        &mut self,
        now: Timestamp,
        workspace: &str,
        client_id: &str,
        user_id: Option<&str>,
        email: Option<&str>,
    ) -> Result<String, String> {
        let host = self.host_addr();
        let (mut env, _) = self.manager_env(now);
        mounted_client_token(&mut env, &host, workspace, client_id, user_id, email)
            .map_err(|e| e.to_string())
    }

    /// The context of a host call made by the host's own client (root's API on the page), as the
    /// manager builds it for the calls it forwards; `None` while that client is not connected.
    pub fn host_call_context(&mut self, now: Timestamp) -> Option<Value> {
        let host = self.host_addr();
        let conn = self.registry.client(&host)?.conn;
        let user = self.sessions.get(&conn)?.user.clone();
        let (mut env, _) = self.manager_env(now);
        let caller = Caller {
            addr: &host,
            user: &user,
        };
        Some(host_context(&mut env, &caller))
    }

    fn host_addr(&self) -> ClientAddr {
        self.config.host.as_ref().map_or_else(
            || ClientAddr::new(crate::auth::DEFAULT_WORKSPACE, "root"),
            |h| h.client.clone(),
        )
    }
}
