//! The routes answered from what the Router holds, with no peer to ask: health, metrics,
//! workspace info, service listings and service info (the manager's own lookups, with the
//! caller's rights).

use rmpv::Value;
use serde_json::json;

use super::{absolute_query, Failure};
use crate::auth::User;
use crate::http::metrics::Gauges;
use crate::http::HttpId;
use crate::manager::{self, ManagerError, Outcome};
use crate::router::Router;
use crate::time::Timestamp;

impl Router {
    pub(super) fn health(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        let uptime = self
            .http
            .first_seen
            .map_or(0.0, |t| now.0.saturating_sub(t.0) as f64 / 1000.0);
        let body = json!({
            "status": "ok",
            "clients": self.registry.client_count(),
            "connections": self.open_connections(),
            "services": self.registry.service_count(),
            "http_in_flight": self.http.exchanges.len().saturating_sub(1),
            "uptime": uptime,
            "version": self.config.hypha_version,
        });
        self.respond_json(now, id, 200, body.to_string().into_bytes())
    }

    pub(super) fn metrics(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        self.http.metrics.frames_routed = self.frames_routed;
        let text = self.http.metrics.render(&Gauges {
            connections: self.open_connections(),
            clients: self.registry.client_count(),
            services: self.registry.service_count(),
            http_in_flight: self.http.exchanges.len().saturating_sub(1),
        });
        let headers = vec![(
            "content-type".into(),
            "text/plain; version=0.0.4; charset=utf-8".into(),
        )];
        self.respond(now, id, 200, headers, text.into_bytes());
        Ok(())
    }

    pub(super) fn workspace_info(
        &mut self,
        now: Timestamp,
        id: HttpId,
        workspace: &str,
    ) -> Result<(), Failure> {
        let user = self.http.exchanges[&id]
            .user
            .clone()
            .unwrap_or_else(|| User::shared_anonymous(String::new()));
        if user.permission(workspace).is_none() {
            return Err(Failure::new(
                403,
                format!(
                    "{} has no permission to access workspace {workspace}",
                    user.id
                ),
            ));
        }
        let clients = self.registry.clients_in(workspace).count();
        let known = clients > 0
            || workspace == crate::auth::PUBLIC_WORKSPACE
            || workspace == crate::auth::DEFAULT_WORKSPACE;
        if !known {
            return Err(Failure::new(
                404,
                format!("workspace {workspace} does not exist"),
            ));
        }
        let services = self
            .registry
            .find(&crate::registry::ServicePattern {
                workspace: workspace.to_owned(),
                client_id: "*".into(),
                name: "*".into(),
                app_id: "*".into(),
            })
            .len();
        let body = json!({
            "id": workspace,
            "name": workspace,
            "clients": clients,
            "services": services,
            "permission": user.permission(workspace).map(|p| p.as_scope()),
        });
        self.respond_json(now, id, 200, body.to_string().into_bytes())
    }

    pub(super) fn service_list(
        &mut self,
        now: Timestamp,
        id: HttpId,
        workspace: &str,
    ) -> Result<(), Failure> {
        let outcome = self.manager_for(
            now,
            id,
            workspace,
            "services.default.list_services",
            vec![workspace.into()],
        )?;
        let Outcome::Value(Value::Array(mut services)) = outcome else {
            return Err(match outcome {
                Outcome::Error(e) => Failure::from_manager(&e),
                _ => Failure::new(500, "unexpected listing"),
            });
        };
        // Ids as a client of the workspace names them: `client:service`.
        let prefix = format!("{workspace}/");
        for info in &mut services {
            if let Some(short) = manager::map_str(info, "id").and_then(|i| i.strip_prefix(&prefix))
            {
                let short = short.to_owned();
                manager::map_set(info, "id", short.into());
            }
        }
        let body = self.http.exchanges[&id]
            .format
            .body(&Value::Array(services));
        self.respond_value(now, id, body)
    }

    pub(super) fn service_info(
        &mut self,
        now: Timestamp,
        id: HttpId,
        workspace: &str,
        service: &str,
    ) -> Result<(), Failure> {
        if service == "ws" {
            let body = json!({
                "id": format!("{workspace}/{}:default", self.config.manager_id),
                "name": "workspace manager",
                "type": "manager",
                "config": {"visibility": "public", "workspace": workspace},
            });
            return self.respond_json(now, id, 200, body.to_string().into_bytes());
        }
        let query = absolute_query(workspace, service);
        let mode = crate::http::args::query_value(&self.http.exchanges[&id].request.query, "_mode");
        let mut args = vec![query.as_str().into()];
        if let Some(mode) = mode {
            args.push(Value::Map(vec![("mode".into(), mode.into())]));
        }
        match self.manager_for(
            now,
            id,
            workspace,
            "services.default.get_service_info",
            args,
        )? {
            Outcome::Value(info) => {
                let body = self.http.exchanges[&id].format.body(&info);
                self.respond_value(now, id, body)
            }
            Outcome::Error(e) => Err(self.lookup_failure(id, workspace, &query, &e)),
            _ => Err(Failure::new(500, "unexpected service info")),
        }
    }

    /// A failed lookup: 403 if the service exists but the caller may not use it.
    pub(super) fn lookup_failure(
        &self,
        id: HttpId,
        workspace: &str,
        query: &str,
        error: &ManagerError,
    ) -> Failure {
        if matches!(error, ManagerError::NotFound(_)) {
            let user = self.http.exchanges.get(&id).and_then(|e| e.user.as_ref());
            let home = user.map_or_else(String::new, |u| Self::acting_workspace(u, workspace));
            if manager::hidden_from(&self.registry, query, &home) {
                return Failure::new(
                    403,
                    format!("permission denied: {query} is protected and the caller acts from workspace {home}"),
                );
            }
        }
        Failure::from_manager(error)
    }
}
