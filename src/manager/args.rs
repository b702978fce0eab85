//! Arguments of a call to the manager: positional values plus Python's keyword map.

use rmpv::Value;

/// Arguments as hypha-rpc sends them: `args` and, with `with_kwargs`, a trailing map of keywords.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Args {
    positional: Vec<Value>,
    keywords: Vec<(Value, Value)>,
}

impl Args {
    /// Split a decoded payload (`{args, with_kwargs, ...}`) into positional and keyword arguments.
    pub(crate) fn from_payload(payload: Option<&Value>) -> Self {
        let Some(payload) = payload else {
            return Self::default();
        };
        let mut positional = match map_get(payload, "args") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let with_kwargs = matches!(map_get(payload, "with_kwargs"), Some(Value::Boolean(true)));
        let mut keywords = Vec::new();
        if with_kwargs {
            if let Some(Value::Map(entries)) = positional.last() {
                keywords = entries.clone();
                positional.pop();
            }
        }
        Self {
            positional,
            keywords,
        }
    }

    /// Positional arguments only, as the manager's own callers pass them.
    pub(crate) fn from_positional(positional: Vec<Value>) -> Self {
        Self {
            positional,
            keywords: Vec::new(),
        }
    }

    /// The argument declared at `index` with name `name`: the keyword wins over the position.
    /// `nil` counts as absent, as Python's `None` default does.
    pub(crate) fn get(&self, index: usize, name: &str) -> Option<&Value> {
        let by_name = self
            .keywords
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v);
        by_name
            .or_else(|| self.positional.get(index))
            .filter(|v| !v.is_nil())
    }

    /// The positional arguments.
    pub(crate) fn positional(&self) -> &[Value] {
        &self.positional
    }

    /// The keyword arguments.
    pub(crate) fn keywords(&self) -> &[(Value, Value)] {
        &self.keywords
    }

    /// Like [`Self::get`], but only a string.
    pub(crate) fn str(&self, index: usize, name: &str) -> Option<&str> {
        self.get(index, name).and_then(Value::as_str)
    }
}

/// The value at string key `key` of a msgpack map.
pub(crate) fn map_get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Set string key `key` of a msgpack map (no-op on non-maps).
pub(crate) fn map_set(map: &mut Value, key: &str, value: Value) {
    if let Value::Map(entries) = map {
        match entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
            Some(slot) => slot.1 = value,
            None => entries.push((key.into(), value)),
        }
    }
}

/// The string at key `key`, if it is one.
pub(crate) fn map_str<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    map_get(map, key).and_then(Value::as_str)
}
