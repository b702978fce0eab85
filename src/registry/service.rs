//! What the registry keeps about one service.

use rmpv::Value;

use super::ids::ServiceId;

/// Who may see and use a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Listed and usable from every workspace.
    Public,
    /// Usable only from its own workspace (and `authorized_workspaces`). The default.
    Protected,
    /// Usable from every workspace by exact id, never listed.
    Unlisted,
}

impl Visibility {
    /// Parse the `config.visibility` string; absent means protected.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text {
            None | Some("protected") => Some(Self::Protected),
            Some("public") => Some(Self::Public),
            Some("unlisted") => Some(Self::Unlisted),
            Some(_) => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Protected => "protected",
            Self::Unlisted => "unlisted",
        }
    }
}

/// Which of a service's functions take the caller's context (`config.require_context`): the
/// only calls whose frames need the caller's `user` map, which is most of a small call's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RequireContext {
    /// None of them (absent, `false` or null).
    #[default]
    None,
    /// Every one (`true`, or any other value hypha-rpc reads as true).
    All,
    /// The functions named (a list: hypha-rpc matches the path inside the service).
    Only(Vec<String>),
}

impl RequireContext {
    /// Read `config.require_context` as hypha-rpc does (`bool(value)`, or a list of names).
    pub fn from_config(value: Option<&Value>) -> Self {
        match value {
            None | Some(Value::Nil | Value::Boolean(false)) => Self::None,
            Some(Value::Array(names)) if names.is_empty() => Self::None,
            Some(Value::Array(names)) => Self::Only(
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect(),
            ),
            Some(_) => Self::All,
        }
    }

    /// True if `function` (its path inside the service) takes the context.
    pub fn wants(&self, function: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n == function),
        }
    }
}

/// One registered service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// Its absolute id.
    pub id: ServiceId,
    /// The app it belongs to (`*` when none).
    pub app_id: String,
    /// Visibility from its config.
    pub visibility: Visibility,
    /// Its `type` (`built-in`, `generic`, ...).
    pub service_type: String,
    /// Workspaces besides its own that may use it while protected.
    pub authorized_workspaces: Vec<String>,
    /// Which functions take the caller's context.
    pub require_context: RequireContext,
    /// The ServiceInfo map as listed (id absolute, no functions), msgpack-encoded: a record
    /// holds its encoded size, not a tree of values (which cost about five times as much), and
    /// the fields above are all the Router matches on.
    pub encoded_info: Box<[u8]>,
    /// The size of `encoded_info`: what the record counts against the registry's budgets.
    pub bytes: usize,
}

impl ServiceRecord {
    /// The ServiceInfo map as listed.
    pub fn info(&self) -> Value {
        // Encoded by the manager from a value it built: it decodes.
        crate::wire::decode_value(&self.encoded_info).unwrap_or(Value::Nil)
    }

    /// True if a caller in `workspace` may get and call this service.
    pub fn usable_from(&self, workspace: &str) -> bool {
        match self.visibility {
            Visibility::Public | Visibility::Unlisted => true,
            Visibility::Protected => {
                workspace == self.id.provider.workspace
                    || self.authorized_workspaces.iter().any(|w| w == workspace)
            }
        }
    }

    /// True if a caller in `workspace` sees this service in listings.
    pub fn listed_for(&self, workspace: &str) -> bool {
        self.visibility != Visibility::Unlisted && self.usable_from(workspace)
    }
}
