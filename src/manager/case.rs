//! `get_service(.., {case_conversion})`: the member names of a service in another case, the way
//! hypha-rpc's `convert_case` renames them (`camel`, `snake`, or both with `camel+snake`), so a
//! client sees the same names from us as from Python hypha.

use rmpv::Value;

use super::map_get;

/// Which names a converted service has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CaseConversion {
    camel: bool,
    snake: bool,
}

impl CaseConversion {
    /// The conversion a `case_conversion` option names: `camel`, `snake`, or any other text that
    /// names either or both (`camel+snake`, `snake+camel`), as hypha-rpc reads it.
    pub(crate) fn parse(option: &str) -> Option<Self> {
        let conversion = match option {
            "camel" => Self {
                camel: true,
                snake: false,
            },
            "snake" => Self {
                camel: false,
                snake: true,
            },
            other => Self {
                camel: other.contains("camel"),
                snake: other.contains("snake"),
            },
        };
        (conversion.camel || conversion.snake).then_some(conversion)
    }

    /// Rename the members of `service` (and of the maps inside it). Keys the wire format owns
    /// (`_r…`) and encoded objects (maps with `_rtype`) are left as they are.
    pub(crate) fn apply(self, service: &mut Value) {
        self.apply_at(service, 0);
    }

    fn apply_at(self, value: &mut Value, depth: usize) {
        // Services nest a few levels; a hostile one cannot make this recurse without end.
        const MAX_DEPTH: usize = 32;
        if !matches!(value, Value::Map(_))
            || depth > MAX_DEPTH
            || map_get(value, "_rtype").is_some()
        {
            return;
        }
        let Value::Map(entries) = std::mem::replace(value, Value::Nil) else {
            unreachable!("matched a map above")
        };
        let mut renamed: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
        let mut put = |key: Value, mut item: Value| {
            if key.as_str().is_some_and(|k| !k.starts_with('_')) {
                self.apply_at(&mut item, depth + 1);
            }
            // A later member with the same new name replaces an earlier one, as in a dict.
            match renamed.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = item,
                None => renamed.push((key, item)),
            }
        };
        for (key, item) in entries {
            match key.as_str() {
                Some(name) if !name.starts_with('_') => {
                    let (camel, snake) = (to_camel(name), to_snake(name));
                    match (self.camel, self.snake) {
                        (true, true) => {
                            put(camel.into(), item.clone());
                            put(snake.into(), item);
                        }
                        (true, false) => put(camel.into(), item),
                        _ => put(snake.into(), item),
                    }
                }
                _ => put(key, item),
            }
        }
        *value = Value::Map(renamed);
    }
}

/// hypha-rpc's `to_camel_case`: a name without `_` only gets a lower-case first letter
/// (`HelloWorld` → `helloWorld`); otherwise the parts after the first are title-cased and joined
/// (`list_all_services` → `listAllServices`).
fn to_camel(name: &str) -> String {
    let mut parts = name.split('_');
    let first = parts.next().unwrap_or_default();
    if !name.contains('_') {
        let mut chars = first.chars();
        return match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
    }
    let mut out = first.to_owned();
    for part in parts {
        out.push_str(&title(part));
    }
    out
}

/// Python's `str.title()`: a letter after a non-letter is upper case, any other lower case.
fn title(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut after_letter = false;
    for c in part.chars() {
        if after_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphabetic();
    }
    out
}

/// hypha-rpc's `to_snake_case`: `_` plus the lower-case letter for each upper-case one, without
/// leading underscores (`HelloWorld` → `hello_world`).
fn to_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_uppercase() {
            out.push('_');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out.trim_start_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<&str> {
        match v {
            Value::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_str()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn names_as_hypha_rpc_converts_them() {
        assert_eq!(to_camel("HelloWorld"), "helloWorld");
        assert_eq!(to_camel("list_services"), "listServices");
        assert_eq!(to_camel("get_HTTP_url"), "getHttpUrl");
        assert_eq!(to_camel("id"), "id");
        assert_eq!(to_snake("HelloWorld"), "hello_world");
        assert_eq!(to_snake("listServices"), "list_services");
        assert_eq!(to_snake("already_snake"), "already_snake");
    }

    #[test]
    fn options_as_hypha_rpc_reads_them() {
        assert_eq!(CaseConversion::parse("nonsense"), None);
        let both = CaseConversion::parse("camel+snake").unwrap();
        assert!(both.camel && both.snake);
        assert_eq!(CaseConversion::parse("snake+camel"), Some(both));
    }

    #[test]
    fn members_renamed_and_encoded_objects_kept() {
        let function = Value::Map(vec![
            ("_rtype".into(), "method".into()),
            ("_rtarget".into(), "ws/c".into()),
        ]);
        let service = Value::Map(vec![
            ("id".into(), "ws/c:s".into()),
            ("HelloWorld".into(), function.clone()),
            ("_rintf".into(), true.into()),
            (
                "config".into(),
                Value::Map(vec![("run_in_executor".into(), true.into())]),
            ),
        ]);
        let mut camel = service.clone();
        CaseConversion::parse("camel").unwrap().apply(&mut camel);
        assert_eq!(keys(&camel), ["id", "helloWorld", "_rintf", "config"]);
        assert_eq!(map_get(&camel, "helloWorld"), Some(&function));
        assert_eq!(keys(map_get(&camel, "config").unwrap()), ["runInExecutor"]);

        let mut both = service;
        CaseConversion::parse("camel+snake")
            .unwrap()
            .apply(&mut both);
        assert_eq!(
            keys(&both),
            ["id", "helloWorld", "hello_world", "_rintf", "config"]
        );
    }
}
