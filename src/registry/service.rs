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
