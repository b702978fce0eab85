//! The manager's own services as clients receive them: `default` (workspace management) and
//! `built-in` (ping, get_service, message_cache), encoded as hypha-rpc method descriptors.

use rmpv::Value;

/// One manager method: name, doc and its parameters `(name, description, required)`.
struct MethodSpec<'a> {
    name: &'a str,
    doc: &'a str,
    params: &'a [(&'a str, &'a str, bool)],
}

const DEFAULT_METHODS: &[MethodSpec<'static>] = &[
    MethodSpec {
        name: "echo",
        doc: "Return the data unchanged.",
        params: &[("data", "Data to echo", true)],
    },
    MethodSpec {
        name: "log",
        doc: "Log a message on the server.",
        params: &[("msg", "Message", true)],
    },
    MethodSpec {
        name: "register_service",
        doc: "Register a service of the calling client.",
        params: &[
            ("service", "Service info", true),
            ("config", "Registration options", false),
        ],
    },
    MethodSpec {
        name: "unregister_service",
        doc: "Unregister a service of the calling client.",
        params: &[("service_id", "Service id", true)],
    },
    MethodSpec {
        name: "get_service",
        doc: "Get a service by id: `svc`, `cid:svc`, `ws/cid:svc` or `ws/cid`, with `*` wildcards.",
        params: &[
            ("service_id", "Service id or query", true),
            ("config", "Options: mode, timeout, case_conversion", false),
        ],
    },
    MethodSpec {
        name: "get_service_info",
        doc: "Get the info of a service by id, without its functions.",
        params: &[
            ("service_id", "Service id", true),
            ("config", "Options: mode", false),
        ],
    },
    MethodSpec {
        name: "list_services",
        doc: "List services matching a query string or map.",
        params: &[
            ("query", "Query", false),
            (
                "include_unlisted",
                "Ignored; unlisted services are never listed",
                false,
            ),
        ],
    },
    MethodSpec {
        name: "list_clients",
        doc: "List clients of a workspace.",
        params: &[("workspace", "Workspace", false)],
    },
    MethodSpec {
        name: "subscribe",
        doc: "Receive events of these types in this workspace.",
        params: &[("event_type", "Event type or list of types", true)],
    },
    MethodSpec {
        name: "unsubscribe",
        doc: "Stop receiving events of these types.",
        params: &[("event_type", "Event type or list of types", true)],
    },
    MethodSpec {
        name: "generate_token",
        doc: "Mint a token for a workspace the caller administers.",
        params: &[(
            "config",
            "Options: workspace, expires_in, permission, client_id, roles, extra_scopes",
            false,
        )],
    },
    MethodSpec {
        name: "check_status",
        doc: "Report the server status.",
        params: &[],
    },
    MethodSpec {
        name: "ping",
        doc: "Check that a client of this workspace answers.",
        params: &[
            ("client_id", "Client id", true),
            ("timeout", "Seconds", false),
        ],
    },
    MethodSpec {
        name: "get_service_type",
        doc: "Service types are not supported.",
        params: &[("type_id", "Type id", true)],
    },
];

const BUILT_IN_METHODS: &[MethodSpec<'static>] = &[
    MethodSpec {
        name: "ping",
        doc: "Ping the manager.",
        params: &[("msg", "Anything", false)],
    },
    MethodSpec {
        name: "get_service",
        doc: "Get one of the manager's own services.",
        params: &[("service_id", "Service id", true)],
    },
];

const CACHE_METHODS: &[&str] = &["create", "set", "append", "process", "remove"];

/// Whether method descriptors carry their documentation (`_rdoc`, `_rschema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodDocs {
    Included,
    /// For the host page's own root client: the reference's root API is a plain in-process
    /// object whose functions have no schemas, and the page never reads them. Without them the
    /// manager's descriptor shrinks from 10.8 KB to 5 KB, and root fetches it twice while
    /// `start()` runs (in Node 1.5 ms of its ~47 ms; in Chromium within a cold start's noise).
    Omitted,
}

/// The names of the manager's `default` service methods.
pub(crate) fn default_method_names() -> impl Iterator<Item = &'static str> {
    DEFAULT_METHODS.iter().map(|m| m.name)
}

fn method_value(
    server_url: &str,
    target: &str,
    path: &str,
    spec: &MethodSpec<'_>,
    docs: MethodDocs,
) -> Value {
    let mut entries = vec![
        ("_rtype".into(), "method".into()),
        ("_rserver".into(), server_url.into()),
        ("_rtarget".into(), target.into()),
        ("_rmethod".into(), path.into()),
        ("_rpromise".into(), "*".into()),
        ("_rname".into(), spec.name.into()),
    ];
    if docs == MethodDocs::Included {
        entries.push(("_rdoc".into(), spec.doc.into()));
        entries.push(("_rschema".into(), method_schema(spec)));
    }
    Value::Map(entries)
}

fn method_schema(spec: &MethodSpec<'_>) -> Value {
    let properties: Vec<(Value, Value)> = spec
        .params
        .iter()
        .map(|(name, doc, _)| {
            (
                (*name).into(),
                Value::Map(vec![("description".into(), (*doc).into())]),
            )
        })
        .collect();
    let required: Vec<Value> = spec
        .params
        .iter()
        .filter(|p| p.2)
        .map(|p| p.0.into())
        .collect();
    Value::Map(vec![
        ("name".into(), spec.name.into()),
        ("description".into(), spec.doc.into()),
        (
            "parameters".into(),
            Value::Map(vec![
                ("type".into(), "object".into()),
                ("properties".into(), Value::Map(properties)),
                ("required".into(), Value::Array(required)),
            ]),
        ),
    ])
}

/// Server facts put in the `default` service config.
pub(crate) struct ServerFacts<'a> {
    pub(crate) host_methods: &'a [String],
    pub(crate) server_url: &'a str,
    pub(crate) manager_target: &'a str,
    pub(crate) server_id: &'a str,
    pub(crate) hypha_version: &'a str,
}

/// The `default` service of the manager, as `services.built-in.get_service("default")` returns it.
pub(crate) fn default_service(facts: &ServerFacts<'_>, docs: MethodDocs) -> Value {
    let mut entries: Vec<(Value, Value)> = vec![
        ("id".into(), "default".into()),
        ("name".into(), "Default workspace management service".into()),
        (
            "description".into(),
            "Services for managing workspace.".into(),
        ),
        ("type".into(), "generic".into()),
        (
            "config".into(),
            Value::Map(vec![
                ("require_context".into(), true.into()),
                ("visibility".into(), "public".into()),
                ("workspace".into(), "*".into()),
                ("server_id".into(), facts.server_id.into()),
                ("hypha_version".into(), facts.hypha_version.into()),
                ("public_base_url".into(), facts.server_url.into()),
                ("local_base_url".into(), facts.server_url.into()),
            ]),
        ),
    ];
    for name in facts.host_methods {
        if DEFAULT_METHODS.iter().any(|m| m.name == name) {
            continue; // the manager's own method wins
        }
        let spec = MethodSpec {
            name,
            doc: "Provided by the host page.",
            params: &[],
        };
        let path = format!("services.default.{name}");
        entries.push((
            name.as_str().into(),
            method_value(facts.server_url, facts.manager_target, &path, &spec, docs),
        ));
    }
    for spec in DEFAULT_METHODS {
        let path = format!("services.default.{}", spec.name);
        entries.push((
            spec.name.into(),
            method_value(facts.server_url, facts.manager_target, &path, spec, docs),
        ));
    }
    Value::Map(entries)
}

/// The `built-in` service of the manager (api_version 3: chunked uploads with `set`).
pub(crate) fn built_in_service(facts: &ServerFacts<'_>, docs: MethodDocs) -> Value {
    let mut entries: Vec<(Value, Value)> = vec![
        ("id".into(), "built-in".into()),
        ("name".into(), "Built-in services".into()),
        ("type".into(), "built-in".into()),
        (
            "config".into(),
            Value::Map(vec![
                ("require_context".into(), true.into()),
                ("visibility".into(), "public".into()),
                ("api_version".into(), 3.into()),
            ]),
        ),
    ];
    for spec in BUILT_IN_METHODS {
        let path = format!("services.built-in.{}", spec.name);
        entries.push((
            spec.name.into(),
            method_value(facts.server_url, facts.manager_target, &path, spec, docs),
        ));
    }
    let cache: Vec<(Value, Value)> = CACHE_METHODS
        .iter()
        .map(|name| {
            let spec = MethodSpec {
                name,
                doc: "Chunked message upload.",
                params: &[],
            };
            let path = format!("services.built-in.message_cache.{name}");
            (
                (*name).into(),
                method_value(facts.server_url, facts.manager_target, &path, &spec, docs),
            )
        })
        .collect();
    entries.push(("message_cache".into(), Value::Map(cache)));
    Value::Map(entries)
}
