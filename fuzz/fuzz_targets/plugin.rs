//! The plugin parser (`hypha_core::plugin`): the app loader runs it on plugin source fetched from
//! anywhere. Input: the source (lossily UTF-8).
//!
//! Checks: parsing never panics, with or without a tag; a parsed plugin serialises, keeps the
//! source as its `code`, and parses again under each of its own tags.
#![no_main]

use hypha_core::plugin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let _ = plugin::is_plugin_source(&source);
    match plugin::parse(&source, None) {
        Ok(p) => {
            assert_eq!(p.code, source, "the plugin's code is not its source");
            serde_json::to_string(&p).expect("a plugin serialises");
            let _ = p.requirements();
            let _ = serde_json::to_string(&p.docs()).expect("docs serialise");
            let tags: Vec<String> = match p.config.get("tags") {
                Some(serde_json::Value::Array(tags)) => tags
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .take(4)
                    .collect(),
                _ => Vec::new(),
            };
            for tag in tags {
                if let Ok(p) = plugin::parse(&source, Some(&tag)) {
                    serde_json::to_string(&p).expect("a plugin serialises");
                }
            }
        }
        Err(e) => drop(e.to_string()),
    }
    // A tag from the input itself (the first line).
    let tag = source.lines().next().unwrap_or_default();
    if let Ok(p) = plugin::parse(&source, Some(tag)) {
        serde_json::to_string(&p).expect("a plugin serialises");
    }
});
