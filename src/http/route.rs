//! The URL surface (http-and-cluster.md §5 item 1): which route a method and path name.

use percent_encoding::percent_decode_str;

use crate::auth::is_valid_name;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /health`.
    Health,
    /// `GET /health/liveness` and `/health/readiness`.
    Probe,
    /// `GET /metrics`.
    Metrics,
    /// `GET /{ws}/info`.
    WorkspaceInfo { workspace: String },
    /// `/{ws}/services` without the slash, or `/{ws}/apps/{id}` without it: 307 to `location`.
    Redirect { location: String },
    /// `GET /{ws}/services/`.
    ServiceList { workspace: String },
    /// `GET /{ws}/services/{id}`.
    ServiceInfo { workspace: String, service: String },
    /// `GET|POST /{ws}/services/{id}/{dotted.key}`.
    Call {
        workspace: String,
        service: String,
        key: String,
    },
    /// Any method on `/{ws}/apps/{id}/{path…}`.
    App {
        workspace: String,
        service: String,
        /// The sub-path below the mount, starting with `/`, still percent-encoded.
        sub_path: String,
    },
    /// `GET /rpc` (or `/{ws}/rpc`): hypha-rpc's HTTP streaming transport, the client's stream.
    RpcStream { workspace: Option<String> },
    /// `POST /rpc` (or `/{ws}/rpc`): one message from the client of a stream.
    RpcPost { workspace: Option<String> },
    /// The path names a route, but not for this method.
    MethodNotAllowed { allow: &'static str },
    /// Nothing here.
    NotFound,
}

impl Route {
    /// The label of this route in `/metrics` (a fixed set, so labels cannot grow with URLs).
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Probe => "probe",
            Self::Metrics => "metrics",
            Self::WorkspaceInfo { .. } => "info",
            Self::Redirect { .. } => "redirect",
            Self::ServiceList { .. } => "services",
            Self::ServiceInfo { .. } => "service_info",
            Self::Call { .. } => "call",
            Self::App { .. } => "app",
            Self::RpcStream { .. } => "rpc_stream",
            Self::RpcPost { .. } => "rpc_post",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::NotFound => "not_found",
        }
    }
}

fn decode(segment: &str) -> Option<String> {
    let text = percent_decode_str(segment).decode_utf8().ok()?;
    Some(text.into_owned())
}

/// Route `method` on `path` (percent-encoded, starting with `/`).
pub(crate) fn route(method: &str, path: &str) -> Route {
    let Some(rest) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let get_only = |route: Route| {
        if method == "GET" || method == "HEAD" {
            route
        } else {
            Route::MethodNotAllowed { allow: "GET" }
        }
    };
    match segments.as_slice() {
        ["health"] => get_only(Route::Health),
        ["health", "liveness" | "readiness"] => get_only(Route::Probe),
        ["metrics"] => get_only(Route::Metrics),
        ["rpc"] => rpc_route(method, None),
        [ws, rest @ ..] => {
            let Some(workspace) = decode(ws).filter(|w| is_valid_name(w)) else {
                return Route::NotFound;
            };
            workspace_route(method, workspace, ws, rest)
        }
        [] => Route::NotFound,
    }
}

fn rpc_route(method: &str, workspace: Option<String>) -> Route {
    match method {
        "GET" => Route::RpcStream { workspace },
        "POST" => Route::RpcPost { workspace },
        _ => Route::MethodNotAllowed { allow: "GET, POST" },
    }
}

fn workspace_route(method: &str, workspace: String, raw_ws: &str, rest: &[&str]) -> Route {
    let get_only = |route: Route| {
        if method == "GET" || method == "HEAD" {
            route
        } else {
            Route::MethodNotAllowed { allow: "GET" }
        }
    };
    match rest {
        ["rpc"] => rpc_route(method, Some(workspace)),
        ["info"] => get_only(Route::WorkspaceInfo { workspace }),
        ["services"] => get_only(Route::Redirect {
            location: format!("/{raw_ws}/services/"),
        }),
        ["services", ""] => get_only(Route::ServiceList { workspace }),
        ["services", id] | ["services", id, ""] => match decode(id) {
            Some(service) if !service.is_empty() => {
                get_only(Route::ServiceInfo { workspace, service })
            }
            _ => Route::NotFound,
        },
        ["services", id, key @ ..] => {
            let Some(service) = decode(id).filter(|s| !s.is_empty()) else {
                return Route::NotFound;
            };
            let parts: Option<Vec<String>> = key
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| decode(s))
                .collect();
            let Some(parts) = parts.filter(|p| !p.is_empty()) else {
                return Route::NotFound;
            };
            if method != "GET" && method != "POST" {
                return Route::MethodNotAllowed { allow: "GET, POST" };
            }
            Route::Call {
                workspace,
                service,
                key: parts.join("."),
            }
        }
        ["apps", id] => match decode(id) {
            Some(service) if !service.is_empty() => Route::Redirect {
                location: format!("/{raw_ws}/apps/{id}/"),
            },
            _ => Route::NotFound,
        },
        ["apps", id, sub @ ..] => match decode(id) {
            Some(service) if !service.is_empty() => Route::App {
                workspace,
                service,
                sub_path: format!("/{}", sub.join("/")),
            },
            _ => Route::NotFound,
        },
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ws: &str, service: &str, key: &str) -> Route {
        Route::Call {
            workspace: ws.into(),
            service: service.into(),
            key: key.into(),
        }
    }

    #[test]
    fn the_url_surface() {
        assert_eq!(route("GET", "/health"), Route::Health);
        assert_eq!(route("GET", "/health/readiness"), Route::Probe);
        assert_eq!(route("GET", "/metrics"), Route::Metrics);
        assert_eq!(route("GET", "/rpc"), Route::RpcStream { workspace: None });
        assert_eq!(
            route("POST", "/ws-a/rpc"),
            Route::RpcPost {
                workspace: Some("ws-a".into())
            }
        );
        assert!(matches!(
            route("PUT", "/rpc"),
            Route::MethodNotAllowed { .. }
        ));
        assert_eq!(
            route("GET", "/ws-a/services"),
            Route::Redirect {
                location: "/ws-a/services/".into()
            }
        );
        assert_eq!(
            route("GET", "/ws-a/services/"),
            Route::ServiceList {
                workspace: "ws-a".into()
            }
        );
        assert_eq!(
            route("GET", "/ws-a/services/c1%3Asvc"),
            Route::ServiceInfo {
                workspace: "ws-a".into(),
                service: "c1:svc".into()
            }
        );
        assert_eq!(
            route("POST", "/ws-a/services/svc@app/nested.inner.f"),
            call("ws-a", "svc@app", "nested.inner.f")
        );
        // hypha-core's form: extra segments are a dotted key.
        assert_eq!(
            route("GET", "/ws-a/services/svc/nested/f"),
            call("ws-a", "svc", "nested.f")
        );
        assert_eq!(
            route("DELETE", "/ws-a/services/svc/f"),
            Route::MethodNotAllowed { allow: "GET, POST" }
        );
        assert_eq!(
            route("GET", "/ws-a/apps/site"),
            Route::Redirect {
                location: "/ws-a/apps/site/".into()
            }
        );
        assert_eq!(
            route("PUT", "/ws-a/apps/site/a/b%20c"),
            Route::App {
                workspace: "ws-a".into(),
                service: "site".into(),
                sub_path: "/a/b%20c".into()
            }
        );
    }

    #[test]
    fn malformed_paths_route_nowhere() {
        for path in [
            "",
            "health",
            "/a%2Fb/info",
            "/a%ff/info",
            "/ws/services//f",
            "/ws/x",
        ] {
            assert_eq!(route("GET", path), Route::NotFound, "{path}");
        }
    }
}
