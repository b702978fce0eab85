//! Service id queries: the text forms clients pass to `get_service` and `list_services`, and the
//! map form of `list_services`, turned into a [`ServicePattern`].

use rmpv::Value;

use super::ManagerError;
use crate::auth::is_valid_name;
use crate::registry::ServicePattern;

fn part_ok(part: &str) -> bool {
    part == "*" || is_valid_name(part)
}

fn bad(query: &str, why: &str) -> ManagerError {
    ManagerError::InvalidArgument(format!("invalid service id {query:?}: {why}"))
}

/// Parse a `get_service` id in the caller's workspace `home`:
/// `svc` → `home/*:svc`; `cid:svc` → `home/cid:svc`; `ws/cid:svc` as is; `ws/cid` → `ws/cid:default`;
/// each may end in `@app`. A `*` workspace is refused (listing is for that).
pub(crate) fn parse_get_query(query: &str, home: &str) -> Result<ServicePattern, ManagerError> {
    if query.matches('@').count() > 1
        || query.matches(':').count() > 1
        || query.matches('/').count() > 1
    {
        return Err(bad(query, "at most one '/', ':' and '@' allowed"));
    }
    let (body, app_id) = match query.split_once('@') {
        Some((body, app)) => (body, app),
        None => (query, "*"),
    };
    let (workspace, client_id, name) = match body.split_once(':') {
        Some((provider, name)) => match provider.split_once('/') {
            Some((ws, cid)) => (ws, cid, name),
            None => (home, provider, name),
        },
        None => match body.split_once('/') {
            Some((ws, cid)) => (ws, cid, "default"),
            None => (home, "*", body),
        },
    };
    if workspace == "*" {
        return Err(bad(query, "workspace '*' is only allowed in list_services"));
    }
    for part in [workspace, client_id, name, app_id] {
        if !part_ok(part) {
            return Err(bad(query, "empty or malformed part"));
        }
    }
    Ok(ServicePattern {
        workspace: workspace.to_owned(),
        client_id: client_id.to_owned(),
        name: name.to_owned(),
        app_id: app_id.to_owned(),
    })
}

/// The patterns a `get_service` id is looked up with, in order: `ws/name` (no `:`) is service
/// `name` of any client in `ws`, as the Python hypha server and both hypha-rpc clients read it,
/// and only if no service has that name, client `name`'s `default` service (hypha-core's
/// reading, which its callers rely on). Every other form is one pattern ([`parse_get_query`]).
pub(crate) fn parse_get_lookup(
    query: &str,
    home: &str,
) -> Result<Vec<ServicePattern>, ManagerError> {
    let exact = parse_get_query(query, home)?;
    let body = query.split_once('@').map_or(query, |(body, _)| body);
    if body.contains(':') || !body.contains('/') {
        return Ok(vec![exact]);
    }
    let by_name = ServicePattern {
        workspace: exact.workspace.clone(),
        client_id: "*".to_owned(),
        name: exact.client_id.clone(),
        app_id: exact.app_id.clone(),
    };
    Ok(vec![by_name, exact])
}

/// Parse a `list_services` query: nil (the caller's workspace), a string (`ws`, `ws/svc`,
/// `cid:svc`, `ws/cid:svc`, `*` meaning every workspace) or a map with keys `workspace`,
/// `client_id`, `service_id`/`id`, `app_id` (plus `visibility` and `type`, returned as filters).
pub(crate) fn parse_list_query(
    query: Option<&Value>,
    home: &str,
) -> Result<ListQuery, ManagerError> {
    let mut out = ListQuery {
        pattern: ServicePattern {
            workspace: home.to_owned(),
            client_id: "*".to_owned(),
            name: "*".to_owned(),
            app_id: "*".to_owned(),
        },
        visibility: None,
        service_type: None,
    };
    match query {
        None => {}
        Some(Value::String(text)) => {
            let text = text.as_str().ok_or_else(|| bad("<bytes>", "not utf-8"))?;
            if text.contains(':') {
                out.pattern = parse_get_query(text, home)?;
            } else if let Some((ws, name)) = text.split_once('/') {
                out.pattern.workspace = ws.to_owned();
                out.pattern.name = name.to_owned();
            } else if !text.is_empty() {
                out.pattern.workspace = text.to_owned();
            }
        }
        Some(Value::Map(entries)) => {
            for (key, value) in entries {
                let key = key.as_str().unwrap_or_default();
                let value = match value {
                    Value::Nil => continue,
                    Value::String(s) => s
                        .as_str()
                        .ok_or_else(|| bad(key, "value not utf-8"))?
                        .to_owned(),
                    _ => return Err(bad(key, "query values must be strings")),
                };
                match key {
                    "workspace" => out.pattern.workspace = value,
                    "client_id" => out.pattern.client_id = value,
                    "service_id" | "id" => {
                        // Accept a full id here too (`ws/cid:svc`), keeping its parts.
                        if value.contains(':') || value.contains('/') {
                            let parsed = parse_get_query(&value, &out.pattern.workspace)?;
                            out.pattern.workspace = parsed.workspace;
                            out.pattern.client_id = parsed.client_id;
                            out.pattern.name = parsed.name;
                        } else {
                            out.pattern.name = value;
                        }
                    }
                    "app_id" => out.pattern.app_id = value,
                    "visibility" => out.visibility = Some(value),
                    "type" => out.service_type = Some(value),
                    other => return Err(bad(other, "unknown query key")),
                }
            }
        }
        Some(_) => return Err(bad("<query>", "must be a string or a map")),
    }
    for part in [
        &out.pattern.workspace,
        &out.pattern.client_id,
        &out.pattern.name,
        &out.pattern.app_id,
    ] {
        if !part_ok(part) {
            return Err(bad(part, "empty or malformed part"));
        }
    }
    Ok(out)
}

/// A parsed `list_services` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListQuery {
    pub(crate) pattern: ServicePattern,
    pub(crate) visibility: Option<String>,
    pub(crate) service_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(p: &ServicePattern) -> (String, String, String, String) {
        (
            p.workspace.clone(),
            p.client_id.clone(),
            p.name.clone(),
            p.app_id.clone(),
        )
    }

    #[test]
    fn get_query_forms() {
        let t = |q| triple(&parse_get_query(q, "home").unwrap());
        let s = |a: &str, b: &str, c: &str, d: &str| {
            (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())
        };
        assert_eq!(t("svc"), s("home", "*", "svc", "*"));
        assert_eq!(t("c1:svc"), s("home", "c1", "svc", "*"));
        assert_eq!(t("ws/c1:svc@app"), s("ws", "c1", "svc", "app"));
        assert_eq!(t("ws/c1"), s("ws", "c1", "default", "*"));
        assert_eq!(t("ws/*:svc"), s("ws", "*", "svc", "*"));
    }

    #[test]
    fn ws_slash_name_is_a_service_name_first_then_a_client() {
        let t = |q| {
            parse_get_lookup(q, "home")
                .unwrap()
                .iter()
                .map(triple)
                .collect::<Vec<_>>()
        };
        let s = |a: &str, b: &str, c: &str, d: &str| {
            (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())
        };
        assert_eq!(
            t("ws/echo"),
            vec![s("ws", "*", "echo", "*"), s("ws", "echo", "default", "*")]
        );
        assert_eq!(
            t("ws/c1-rtc@app"),
            vec![
                s("ws", "*", "c1-rtc", "app"),
                s("ws", "c1-rtc", "default", "app")
            ]
        );
        assert_eq!(t("ws/c1:svc"), vec![s("ws", "c1", "svc", "*")]);
        assert_eq!(t("svc"), vec![s("home", "*", "svc", "*")]);
    }

    #[test]
    fn get_query_rejects_malformed_ids() {
        for q in [
            "", "*/c:s", "a/b/c:s", "a:b:c", "s@a@b", "ws/:svc", "ws/c:", "x y",
        ] {
            assert!(parse_get_query(q, "home").is_err(), "{q:?} accepted");
        }
    }

    #[test]
    fn list_query_forms() {
        let q = parse_list_query(None, "home").unwrap();
        assert_eq!(triple(&q.pattern).0, "home");
        let q = parse_list_query(Some(&"public".into()), "home").unwrap();
        assert_eq!(triple(&q.pattern).0, "public");
        let map = Value::Map(vec![
            ("workspace".into(), "w".into()),
            ("type".into(), "t".into()),
        ]);
        let q = parse_list_query(Some(&map), "home").unwrap();
        assert_eq!(
            (q.pattern.workspace.as_str(), q.service_type.as_deref()),
            ("w", Some("t"))
        );
        let bad = Value::Map(vec![("evil".into(), "x".into())]);
        assert!(parse_list_query(Some(&bad), "home").is_err());
    }
}
