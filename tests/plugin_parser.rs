//! The plugin-source parser from the outside: fixture plugins in `tests/fixtures/plugins/`
//! (every block kind, JSON and YAML configs, tags) and malformed or hostile sources, checked
//! through the Rust API and through the JSON object the browser bridge hands to JavaScript.

use std::time::{Duration, Instant};

use hypha_core::plugin::{
    self, is_plugin_source, BlockKind, Plugin, PluginError, MAX_SOURCE_BYTES,
};
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/plugins/{name}.imjoy.html",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_fixture(name: &str, tag: Option<&str>) -> Plugin {
    plugin::parse(&fixture(name), tag).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What JavaScript receives from `parsePlugin`.
fn as_js(plugin: &Plugin) -> Value {
    serde_json::to_value(plugin).unwrap()
}

fn error_of(source: &str) -> String {
    match plugin::parse(source, None) {
        Ok(plugin) => panic!("parsed, expected an error: {:?}", as_js(&plugin)),
        Err(error) => error.to_string(),
    }
}

#[test]
fn every_block_kind_is_read_with_its_attributes() {
    let source = fixture("window-json");
    let plugin = plugin::parse(&source, None).unwrap();
    let js = as_js(&plugin);

    assert_eq!(js["name"], "Image Viewer");
    assert_eq!(js["_id"], "Image_Viewer");
    assert_eq!(js["type"], "window");
    assert_eq!(js["tags"], json!([]));
    assert_eq!(js["tag"], Value::Null);
    assert_eq!(js["code"], source.as_str());

    let scripts = js["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0]["type"], "script");
    assert_eq!(scripts[0]["lang"], "javascript");
    assert_eq!(
        scripts[0]["attrs"],
        json!({"lang": "javascript", "data-role": "main", "async": ""})
    );
    // `<div>` and `</div>` inside the script are text; the common indentation is gone.
    assert_eq!(
        scripts[0]["content"],
        "\nclass ImageViewer {\n  async setup() {\n    const html = \"<div>not a tag</div>\";\n    \
         if (1 < 2 && 3 > 2) api.log(\"ok\");\n  }\n  async run(ctx) {}\n}\napi.export(new ImageViewer());\n"
    );
    assert_eq!(js["script"], scripts[0]["content"]);
    assert_eq!(js["lang"], "javascript");

    // Nested tags, a `<script>` among them, are window content.
    let window = &js["windows"][0];
    assert_eq!(window["lang"], "html");
    assert_eq!(
        window["content"],
        "\n<div id=\"viewer\">\n  <img src=\"x.png\">\n  <br/>\n  <p>first paragraph\n  <script>\n    \
         // a script inside the window is window content\n    var closing = \"</div>\";\n  </script>\n</div>\n"
    );
    assert_eq!(js["windows"].as_array().unwrap().len(), 1);

    assert_eq!(
        js["styles"],
        json!([{"type": "style", "content": "\n#viewer { display: flex; }\n", "attrs": {"lang": "css"}, "lang": "css"}])
    );
    assert_eq!(
        js["attachments"],
        json!([{"type": "attachment", "content": "\nline one\nline two\n", "attrs": {"name": "sample", "type": "text/plain"}}])
    );
    // hypha-rpc renders a link from `url` and `text`.
    assert_eq!(js["links"][0]["url"], "https://imjoy.io/docs");
    assert_eq!(js["links"][0]["text"], "ImJoy docs");
    assert_eq!(js["links"][0]["content"], "");

    // The docs block wins over config.docs; relative indentation survives de-indentation.
    assert_eq!(js["docs"]["type"], "docs");
    assert_eq!(js["docs"]["lang"], "markdown");
    assert_eq!(
        js["docs"]["content"],
        "\n# Image Viewer\nShows an image. Write `<b>` in docs freely.\n\n  indented code stays indented relative to the rest\n"
    );

    // Unknown blocks land in `others`, with entities in attribute values decoded.
    assert_eq!(plugin.others.len(), 1);
    assert_eq!(plugin.others[0].kind, BlockKind::Other);
    assert_eq!(plugin.others[0].tag, "custom-block");
    assert_eq!(plugin.others[0].attr("answer"), Some("42"));
    assert_eq!(plugin.others[0].attr("escaped"), Some("a <b> \"c\" & d"));
    assert_eq!(plugin.others[0].content, "\nkept in others\n");
    assert!(js.get("others").is_none());

    // Every config field the author wrote is kept.
    assert_eq!(js["version"], "0.1.2");
    assert_eq!(js["api_version"], "0.1.8");
    assert_eq!(js["description"], "Shows an image <b>bold</b>");
    assert_eq!(js["custom_field"], json!({"nested": [1, 2.5, null, true]}));
    assert_eq!(
        js["requirements"],
        json!(["https://cdn.example.org/lib.js"])
    );
    assert_eq!(js["labels"], json!(["viewer"]));
    assert_eq!(js["runnable"], true);
    // The random instance id is the loader's business.
    assert!(js.get("id").is_none());
}

#[test]
fn yaml_config() {
    let plugin = parse_fixture("worker-yaml", None);
    let js = as_js(&plugin);
    assert_eq!(js["name"], "YAML Worker");
    assert_eq!(js["type"], "web-worker");
    assert_eq!(js["version"], "1.0.0");
    assert_eq!(js["runnable"], false);
    assert_eq!(js["flags"], json!(["single-instance"]));
    assert_eq!(js["cover"], Value::Null);
    assert_eq!(js["passive"], false);
    assert_eq!(js["env"], json!([{"key": "value"}]));
    assert_eq!(
        js["inputs"],
        json!({"count": 3, "ratio": 0.5, "hex": 31, "quoted": "12", "when": "2024-01-01"})
    );
    assert_eq!(js["description"], "A worker\nwritten in YAML.\n");
    // No lang attribute: the script counts as JavaScript, which hypha-rpc requires.
    assert_eq!(js["scripts"][0]["lang"], "javascript");
    assert_eq!(js["scripts"][0]["attrs"], json!({}));
    assert_eq!(js["lang"], "javascript");
    assert_eq!(
        js["script"],
        "\napi.export({ setup() {}, run() { return 1 } });\n"
    );
    for absent in ["windows", "styles", "links", "attachments", "docs"] {
        assert_eq!(js[absent], Value::Null, "{absent}");
    }
    assert_eq!(js["requirements"], json!([]));
}

#[test]
fn a_config_without_lang_is_json_or_else_yaml() {
    let json_plugin = as_js(&parse_fixture("no-lang-json", None));
    assert_eq!(json_plugin["name"], "No Lang JSON");
    assert_eq!(json_plugin["type"], "web-worker");

    let yaml_plugin = as_js(&parse_fixture("no-lang-yaml", None));
    assert_eq!(yaml_plugin["name"], "No Lang YAML");
    assert_eq!(yaml_plugin["type"], "window");
    // No <docs> block: config.docs is used.
    assert_eq!(yaml_plugin["docs"], "Written in the config.");
    assert_eq!(yaml_plugin["windows"][0]["content"], "\n<p>hello</p>\n");
    assert_eq!(yaml_plugin["scripts"], json!([]));
    assert_eq!(yaml_plugin["script"], Value::Null);
}

#[test]
fn the_first_tag_picks_scripts_and_per_tag_fields() {
    let js = as_js(&parse_fixture("tags", None));
    assert_eq!(js["tag"], "stable");
    assert_eq!(js["tags"], json!(["stable", "dev"]));
    let scripts: Vec<&str> = js["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        scripts,
        ["\nprint(\"stable\")\n", "\n// shared by every tag\n"]
    );
    assert_eq!(js["script"], "\nprint(\"stable\")\n");
    assert_eq!(js["lang"], "python");
    assert_eq!(js["type"], "web-worker");
    assert_eq!(js["requirements"], json!(["numpy"]));
    assert_eq!(js["env"], "conda create -n stable");
    // Not a configurable field, or not an object: untouched.
    assert_eq!(js["icon"], "extension");
}

#[test]
fn an_explicit_tag_overrides_the_first() {
    let js = as_js(&parse_fixture("tags", Some("dev")));
    assert_eq!(js["tag"], "dev");
    assert_eq!(js["scripts"][0]["content"], "\nconsole.log(\"dev\")\n");
    assert_eq!(js["scripts"][1]["content"], "\n// shared by every tag\n");
    assert_eq!(js["scripts"].as_array().unwrap().len(), 2);
    assert_eq!(js["lang"], "javascript");
    assert_eq!(js["type"], "window");
    assert_eq!(js["requirements"], json!(["numpy", "scipy"]));
    // `env` has no entry for "dev".
    assert_eq!(js["env"], Value::Null);

    // An empty tag is no override.
    assert_eq!(as_js(&parse_fixture("tags", Some("")))["tag"], "stable");

    // A tag no script is written for: only untagged scripts apply, and the main script falls
    // back to the first of all.
    let js = as_js(&parse_fixture("tags", Some("other")));
    assert_eq!(js["scripts"].as_array().unwrap().len(), 1);
    assert_eq!(js["script"], "\nprint(\"stable\")\n");
    assert_eq!(js["type"], Value::Null);
    assert_eq!(js["requirements"], json!([]));
}

#[test]
fn a_field_given_per_tag_needs_tags() {
    let source = fixture("per-tag-without-tags");
    assert_eq!(
        plugin::parse(&source, None).unwrap_err(),
        PluginError::PerTagWithoutTags("requirements")
    );
    assert_eq!(
        error_of(&source),
        r#"<config> block: "requirements" is given per tag but the plugin has no "tags""#
    );
    // With a tag asked for, the field resolves.
    let js = as_js(&plugin::parse(&source, Some("a")).unwrap());
    assert_eq!(js["requirements"], json!(["x"]));
}

#[test]
fn derived_fields_shadow_config_fields_of_the_same_name() {
    let source = r#"<config lang="json">{"name": "a b", "_id": "mine", "scripts": "x", "code": 1, "lang": "javascript", "runnable": 0}</config>
<script>1</script>"#;
    let js = as_js(&plugin::parse(source, None).unwrap());
    assert_eq!(js["_id"], "a_b");
    assert_eq!(js["scripts"][0]["content"], "1");
    assert_eq!(js["code"], source);
    // Only `false` turns runnable off, as in the reference.
    assert_eq!(js["runnable"], true);
}

#[test]
fn deindentation_follows_the_reference() {
    let content = |source: &str| {
        as_js(&plugin::parse(source, None).unwrap())["scripts"][0]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let config = "<config>{\"name\": \"x\"}</config>";
    // Tabs, and CRLF turned into LF when lines are de-indented.
    assert_eq!(
        content(&format!(
            "{config}<script>\r\n\t\ta()\r\n\t\t\tb()\r\n</script>"
        )),
        "\na()\n\tb()\n"
    );
    // A first line flush left means nothing is removed, and CRLF stays.
    assert_eq!(
        content(&format!("{config}<script>\r\na()\r\n  b()\r\n</script>")),
        "\r\na()\r\n  b()\r\n"
    );
    // Content that does not start with whitespace is left alone.
    assert_eq!(
        content(&format!("{config}<script>a()\n    b()</script>")),
        "a()\n    b()"
    );
}

#[test]
fn tags_follow_the_reference() {
    let config = r#"<config lang="json">{"name": "x"}</config>"#;
    let parse = |rest: &str| plugin::parse(&format!("{config}{rest}"), None).unwrap();

    // A `</script>` inside a string ends the script, as in HTML; the rest is top-level text.
    let plugin = parse(r#"<script>var s = "</script>"; x()</script>"#);
    assert_eq!(plugin.scripts.len(), 1);
    assert_eq!(plugin.scripts[0].content, "var s = \"");

    // Comments, CDATA and doctypes are skipped; end tags match case-insensitively.
    let plugin = parse("<!-- <script>no</script> --><![CDATA[<window>]]><!doctype html><SCRIPT-not>x</SCRIPT-not><script>yes</SCRIPT>");
    assert_eq!(plugin.scripts.len(), 1);
    assert_eq!(plugin.scripts[0].content, "yes");
    assert_eq!(plugin.others[0].tag, "SCRIPT-not");

    // Same-name nesting inside a window is counted, not cut at the first end tag.
    let plugin = parse("<window><window>inner</window>outer</window>");
    assert_eq!(plugin.windows[0].content, "<window>inner</window>outer");

    // Block names are case-sensitive, as in the reference.
    let plugin = parse("<Window>x</Window><script>y</script>");
    assert!(plugin.windows.is_empty());
    assert_eq!(plugin.others[0].tag, "Window");

    // Attributes: quoted, unquoted, valueless, repeated (the last counts).
    let plugin = parse(r#"<script a=1 b = "two" c d='x' d='y' src="lib.js"></script>"#);
    let attrs = &as_js(&plugin)["scripts"][0]["attrs"];
    assert_eq!(
        attrs,
        &json!({"a": "1", "b": "two", "c": "", "d": "y", "src": "lib.js"})
    );
    assert_eq!(plugin.scripts[0].src.as_deref(), Some("lib.js"));

    // A `<` that starts no tag is text, even in the config.
    let plugin = plugin::parse(
        r#"<config>{"name": "a<b", "note": "x < y"}</config><script>1</script>"#,
        None,
    )
    .unwrap();
    assert_eq!(plugin.name, "a<b");
}

#[test]
fn malformed_sources_name_the_block_and_the_place() {
    assert_eq!(
        error_of(&fixture("bad-json")),
        "<config> block: invalid JSON at line 5, column 12: expected `:`"
    );
    let yaml = error_of(&fixture("bad-yaml"));
    assert!(
        yaml.starts_with("<config> block: invalid YAML at line 4, column "),
        "{yaml}"
    );
    assert_eq!(
        error_of(&fixture("no-config")),
        "plugin source has no <config> block"
    );
    assert_eq!(
        error_of(&fixture("unclosed-script")),
        "<script> block opened at line 5 is never closed"
    );
    assert_eq!(
        error_of(&fixture("not-an-object")),
        "<config> block must be an object"
    );
    assert_eq!(
        error_of(&fixture("no-name")),
        r#"<config> block: "name" is required"#
    );

    // A JSON error on the start tag's line counts columns from the start of that line.
    assert_eq!(
        error_of(r#"<config lang="json">{"name": }</config><script></script>"#),
        "<config> block: invalid JSON at line 1, column 30: expected value"
    );
    // With no lang, an error is reported in the language the content looks like.
    assert!(
        error_of("<config>\n{\"name\": 1,,}\n</config><script></script>")
            .starts_with("<config> block: invalid JSON at line 2")
    );
    assert!(error_of("<config>\nname: [x\n</config><script></script>")
        .starts_with("<config> block: invalid YAML"));
    assert_eq!(
        error_of(r#"<config lang="toml">name = "x"</config><script></script>"#),
        r#"<config> block: unsupported lang "toml" (use "json" or "yaml")"#
    );
    assert_eq!(
        error_of(r#"<config>{"name": "x", "tags": "a"}</config><script></script>"#),
        r#"<config> block: "tags" must be a list of strings"#
    );
    assert_eq!(
        error_of(r#"<config>{"name": 7}</config><script></script>"#),
        r#"<config> block: "name" must be a string"#
    );
    assert_eq!(
        error_of("<config lang=\"yaml\">\nname: x\n---\nname: y\n</config><script></script>"),
        "<config> block: invalid YAML at line 3, column 1: more than one YAML document"
    );
}

#[test]
fn oversized_sources_are_refused_before_any_work() {
    let mut source = String::from("<config>{\"name\": \"x\"}</config><script>");
    source.push_str(&" ".repeat(MAX_SOURCE_BYTES));
    source.push_str("</script>");
    assert_eq!(
        plugin::parse(&source, None).unwrap_err(),
        PluginError::TooLarge {
            size: source.len(),
            limit: MAX_SOURCE_BYTES
        }
    );
    assert!(!is_plugin_source(&source));
}

/// Hostile shapes must neither overflow the stack nor take quadratic time. The bound is loose
/// (a debug build on a busy machine); quadratic behaviour on these inputs takes minutes.
fn assert_quick(what: &str, started: Instant) {
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "{what} took {elapsed:?}");
}

#[test]
fn deep_nesting_is_neither_a_stack_overflow_nor_slow() {
    let depth = 300_000;
    let config = r#"<config lang="json">{"name": "deep"}</config>"#;

    let started = Instant::now();
    let source = format!(
        "{config}<window>{}{}</window>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let plugin = plugin::parse(&source, None).unwrap();
    assert_eq!(plugin.windows[0].content.len(), depth * 11);
    assert_quick("balanced nesting", started);

    // Never closed, then end tags that match nothing: each must be dismissed at once.
    let started = Instant::now();
    let source = format!(
        "{config}<window>{}{}</window>",
        "<div>".repeat(depth),
        "</span>".repeat(depth)
    );
    assert_eq!(plugin::parse(&source, None).unwrap().windows.len(), 1);
    assert_quick("unmatched end tags", started);

    // Tag starts that never end (no `>` anywhere after them).
    let started = Instant::now();
    let source = format!(
        "{config}<script></script>{}",
        "</a <!DOCTYPE x <b c=\"d\" e ".repeat(depth / 4)
    );
    assert_eq!(plugin::parse(&source, None).unwrap().scripts.len(), 1);
    assert_quick("unterminated tags", started);

    // Deep JSON and YAML are parse errors, not crashes.
    let deep_json = format!(
        "<config lang=\"json\">{}</config><script></script>",
        "[".repeat(depth)
    );
    assert!(
        error_of(&deep_json).contains("recursion limit exceeded"),
        "{}",
        error_of(&deep_json)
    );
    let deep_json_no_lang = format!(
        "<config>{}</config><script></script>",
        "{\"a\":".repeat(depth)
    );
    assert!(error_of(&deep_json_no_lang).starts_with("<config> block: invalid JSON"));
    let deep_yaml = format!(
        "<config lang=\"yaml\">\n{}x\n</config><script></script>",
        "- ".repeat(depth)
    );
    assert!(
        error_of(&deep_yaml).contains("nested more than 128 levels deep"),
        "{}",
        error_of(&deep_yaml)
    );
}

#[test]
fn yaml_aliases_cannot_blow_up() {
    let mut yaml = String::from("name: laughs\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        yaml += &format!("a{i}: &a{i} [{refs}]\n");
    }
    let started = Instant::now();
    let error = error_of(&format!(
        "<config lang=\"yaml\">\n{yaml}</config><script></script>"
    ));
    assert!(error.contains("expands to more than"), "{error}");
    assert_quick("billion laughs", started);

    // Ordinary aliases work.
    let js = as_js(&plugin::parse("<config lang=\"yaml\">\nname: a\nbase: &b {x: 1}\ncopy: *b\n</config><script></script>", None).unwrap());
    assert_eq!(js["copy"], json!({"x": 1}));
}

#[test]
fn recognising_plugin_source() {
    for name in [
        "window-json",
        "worker-yaml",
        "no-lang-json",
        "no-lang-yaml",
        "tags",
        "bad-json",
        "unclosed-script",
    ] {
        assert!(is_plugin_source(&fixture(name)), "{name}");
    }
    assert!(!is_plugin_source(&fixture("no-config")));
    // A config alone is not enough.
    assert!(!is_plugin_source("<config>{}</config><docs>x</docs>"));
    // Blocks nested in an HTML page are not top-level.
    assert!(!is_plugin_source(
        "<!DOCTYPE html><html><body><config>{}</config><script>x()</script></body></html>"
    ));
    // Nor is a config in a comment or a script.
    assert!(!is_plugin_source(
        "<!-- <config>{}</config> --><script>1</script>"
    ));
    assert!(!is_plugin_source(
        "<script>'<config>{}</config>'</script><window></window>"
    ));
    assert!(is_plugin_source(
        "<config>{}</config>\n<window><p>hi</p></window>"
    ));
    assert!(!is_plugin_source("https://example.org/plugin.imjoy.html"));
}
