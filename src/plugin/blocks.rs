//! The block scanner: cuts plugin source into its top-level blocks (`<config>`, `<script>`,
//! `<window>`, ...) with their attributes and de-indented content.
//!
//! It reads tags the way Vue's single-file-component parser does, because that is what ImJoy
//! plugins were written against: only top-level elements become blocks, and everything nested
//! inside one (a `<script>` inside `<window>`) is part of its content. Inside `script`, `style` and
//! `textarea` nothing is a tag until the element's own end tag, so `"<div>"` in a script is text
//! and the first `</script>` ends it, as in HTML. Comments, `<![...]>` sections and doctypes are
//! skipped; an end tag closes the nearest open element of its name (and any left open inside
//! it); an end tag nothing matches is ignored; `<x/>` holds no content. A `<` that starts no
//! valid tag is text.
//!
//! Where the reference's behaviour is an accident, this scanner does the sensible thing instead:
//! - HTML's void elements (`<link>`, `<img>`, `<br>`, ...) hold no content; the reference has
//!   none, so its top-level `<link href="...">` swallows the rest of the file.
//! - A top-level element still open at the end of the source is reported; the reference quietly
//!   closes it there, losing every block after its start into it.
//! - A malformed start tag (`"x<y"` in a JSON string) is text; the reference stops parsing.
//! - A stray `</p>` or `</br>` is ignored like any other unmatched end tag; the reference makes
//!   an empty block of it.
//!
//! Runs in time linear in the source: nesting is a `Vec`, never recursion, and the searches
//! that could rescan the rest of the source on every `<` are remembered.

use crate::hashing::HashMap;

use serde::{Serialize, Serializer};

use super::dedent::{dedent, is_js_space};

/// What a top-level block is, by its tag name (matched case-sensitively, as the reference does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `<config>`: the plugin's settings, JSON or YAML.
    Config,
    /// `<script>`: code to run.
    Script,
    /// `<window>`: HTML for the plugin's window.
    Window,
    /// `<style>`: CSS for the window.
    Style,
    /// `<docs>`: documentation, usually Markdown.
    Docs,
    /// `<attachment>`: extra text the plugin reads.
    Attachment,
    /// `<link>`: a link to show (a void element, so it has attributes only).
    Link,
    /// Any other top-level element.
    Other,
}

impl BlockKind {
    fn from_tag(tag: &str) -> Self {
        match tag {
            "config" => Self::Config,
            "script" => Self::Script,
            "window" => Self::Window,
            "style" => Self::Style,
            "docs" => Self::Docs,
            "attachment" => Self::Attachment,
            "link" => Self::Link,
            _ => Self::Other,
        }
    }
}

/// One top-level block. Serialises as the reference's block object, `{type, content, attrs,
/// lang?, src?}` (links also get `url` and `text`, which hypha-rpc reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// The tag name as written (`"script"`, or a custom one for [`BlockKind::Other`]).
    #[serde(rename = "type")]
    pub tag: String,
    /// What the tag name means.
    #[serde(skip)]
    pub kind: BlockKind,
    /// The text between the start and end tag, de-indented.
    pub content: String,
    /// Every attribute in source order, serialised as an object; one written without a value
    /// maps to `""`. A repeated one is listed again, and the last counts (as in the object).
    #[serde(serialize_with = "attrs_as_object")]
    pub attrs: Vec<(String, String)>,
    /// The `lang` attribute, lifted (known blocks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The `src` attribute, lifted (known blocks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// For `<link>`: its `href` (or `url`) attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `<link>`: its `text` attribute, else the url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Byte offset of the `<` of the start tag.
    #[serde(skip)]
    pub(crate) opened_at: usize,
    /// Byte offset where the raw (not yet de-indented) content starts.
    #[serde(skip)]
    pub(crate) content_at: usize,
    /// Characters de-indentation removed from each line.
    #[serde(skip)]
    pub(crate) dedented_by: usize,
}

impl Block {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        attr(&self.attrs, name)
    }

    fn new(tag: &str, attrs: Vec<(String, String)>, opened_at: usize, content_at: usize) -> Self {
        let kind = BlockKind::from_tag(tag);
        let lifted = |name: &str| {
            (kind != BlockKind::Other)
                .then(|| attr(&attrs, name).map(str::to_owned))
                .flatten()
        };
        let (lang, src) = (lifted("lang"), lifted("src"));
        let (url, text) = if kind == BlockKind::Link {
            let url = attr(&attrs, "href").or_else(|| attr(&attrs, "url"));
            let text = attr(&attrs, "text").or(url);
            (url.map(str::to_owned), text.map(str::to_owned))
        } else {
            (None, None)
        };
        Self {
            tag: tag.to_owned(),
            kind,
            content: String::new(),
            attrs,
            lang,
            src,
            url,
            text,
            opened_at,
            content_at,
            dedented_by: 0,
        }
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .rfind(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn attrs_as_object<S: Serializer>(
    attrs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(attrs.iter().map(|(key, value)| (key, value)))
}

/// The result of a scan: the complete blocks in source order, and the top-level element still
/// open when the source ended, if any.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) blocks: Vec<Block>,
    pub(crate) unclosed: Option<Block>,
}

/// Elements whose content is raw text up to their own end tag.
fn is_raw_text(name: &str) -> bool {
    ["script", "style", "textarea"]
        .iter()
        .any(|raw| raw.eq_ignore_ascii_case(name))
}

/// Elements that never have content or an end tag (case-sensitive, as in the reference).
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "isindex"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// An element that is open, by the byte range of its name in the source.
struct Open {
    name: (usize, usize),
}

/// Cut `source` into top-level blocks.
pub(crate) fn scan(source: &str) -> Scan {
    Scanner {
        source,
        pos: 0,
        open: Vec::new(),
        open_by_name: HashMap::default(),
        current: None,
        blocks: Vec::new(),
        next_gt: NextGt::default(),
    }
    .run()
}

struct Scanner<'a> {
    source: &'a str,
    pos: usize,
    open: Vec<Open>,
    /// How many elements of each (lower-cased) name are open, so that an end tag nothing
    /// matches is dismissed without walking the whole stack.
    open_by_name: HashMap<String, usize>,
    /// The top-level block being read.
    current: Option<Block>,
    blocks: Vec<Block>,
    next_gt: NextGt,
}

impl Scanner<'_> {
    fn run(mut self) -> Scan {
        let source = self.source;
        while self.pos < source.len() {
            if let Some(top) = self.open.last() {
                let name = &source[top.name.0..top.name.1];
                if is_raw_text(name) {
                    let Some((end_tag_at, after)) = self.raw_text_end(name) else {
                        break;
                    };
                    self.close_from(self.open.len() - 1, end_tag_at);
                    self.pos = after;
                    continue;
                }
            }
            let Some(lt) = source[self.pos..].find('<') else {
                break;
            };
            self.pos += lt;
            let rest = &source[self.pos..];
            if rest.starts_with("<!--") || rest.starts_with("<![") {
                let terminator = if rest.starts_with("<!--") {
                    "-->"
                } else {
                    "]>"
                };
                // Unterminated, the rest of the source is inside it (the reference stops too).
                let Some(end) = find(rest, terminator) else {
                    break;
                };
                self.pos += end + terminator.len();
            } else if let Some(len) = self.doctype_len() {
                self.pos += len;
            } else if let Some((name, len)) = self.end_tag() {
                let at = self.pos;
                self.pos += len;
                self.handle_end_tag(name, at);
            } else if let Some(tag) = self.start_tag() {
                let at = self.pos;
                self.pos += tag.len;
                self.handle_start_tag(tag, at);
            } else {
                self.pos += 1;
            }
        }
        let unclosed = if self.open.is_empty() {
            None
        } else {
            self.current.take()
        };
        Scan {
            blocks: self.blocks,
            unclosed,
        }
    }

    fn handle_start_tag(&mut self, tag: StartTag, at: usize) {
        let name = &self.source[tag.name.0..tag.name.1];
        let void = tag.self_closing || is_void(name);
        if self.open.is_empty() {
            let block = Block::new(name, tag.attrs, at, at + tag.len);
            if void {
                self.blocks.push(block);
            } else {
                self.current = Some(block);
            }
        }
        if !void {
            *self
                .open_by_name
                .entry(name.to_ascii_lowercase())
                .or_default() += 1;
            self.open.push(Open { name: tag.name });
        }
    }

    fn handle_end_tag(&mut self, name: (usize, usize), at: usize) {
        let name = &self.source[name.0..name.1];
        let lower = name.to_ascii_lowercase();
        if self.open_by_name.get(&lower).copied().unwrap_or(0) == 0 {
            return;
        }
        // Found for sure; the walk costs what it pops, so the scan stays linear.
        if let Some(depth) = self
            .open
            .iter()
            .rposition(|open| self.source[open.name.0..open.name.1].eq_ignore_ascii_case(name))
        {
            self.close_from(depth, at);
        }
    }

    /// Close the elements open at `depth` and above, the end tag starting at `end_tag_at`.
    fn close_from(&mut self, depth: usize, end_tag_at: usize) {
        for open in self.open.drain(depth..) {
            let name = self.source[open.name.0..open.name.1].to_ascii_lowercase();
            if let Some(count) = self.open_by_name.get_mut(&name) {
                *count -= 1;
            }
        }
        if depth == 0 {
            if let Some(mut block) = self.current.take() {
                let (content, removed) = dedent(&self.source[block.content_at..end_tag_at]);
                block.content = content;
                block.dedented_by = removed;
                self.blocks.push(block);
            }
        }
    }

    /// Where the raw-text element `name` ends: the first `</name` (any case) followed, later,
    /// by a `>`. Returns the offsets of that `<` and of the byte after the `>`.
    fn raw_text_end(&mut self, name: &str) -> Option<(usize, usize)> {
        let bytes = self.source.as_bytes();
        let mut from = self.pos;
        while let Some(i) = find(&self.source[from..], "</") {
            let at = from + i;
            let name_end = at + 2 + name.len();
            if bytes
                .get(at + 2..name_end)
                .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes()))
            {
                let gt = self.next_gt.find(bytes, name_end)?;
                return Some((at, gt + 1));
            }
            from = at + 2;
        }
        None
    }

    /// `<!DOCTYPE x>` (any case) at `pos`: its length.
    fn doctype_len(&mut self) -> Option<usize> {
        let bytes = self.source.as_bytes();
        let head = bytes.get(self.pos..self.pos + 10)?;
        if !head.eq_ignore_ascii_case(b"<!DOCTYPE ") {
            return None;
        }
        let gt = self.next_gt.find(bytes, self.pos + 10)?;
        (gt > self.pos + 10).then(|| gt + 1 - self.pos)
    }

    /// `</name ...>` at `pos`: the name's range and the tag's length.
    fn end_tag(&mut self) -> Option<((usize, usize), usize)> {
        let rest = &self.source[self.pos..];
        let name_len = rest.strip_prefix("</").map(qname_len).filter(|&n| n > 0)?;
        let name = (self.pos + 2, self.pos + 2 + name_len);
        let gt = self.next_gt.find(self.source.as_bytes(), name.1)?;
        Some((name, gt + 1 - self.pos))
    }

    /// `<name attr="v" ...>` or `<name ... />` at `pos`.
    fn start_tag(&self) -> Option<StartTag> {
        let rest = &self.source[self.pos..];
        let name_len = qname_len(rest.strip_prefix('<')?);
        if name_len == 0 {
            return None;
        }
        let mut i = 1 + name_len;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let after_space = i + leading_space(&rest[i..]);
            let tail = &rest[after_space..];
            if tail.starts_with("/>") {
                i = after_space + 2;
                return Some(self.finish_start_tag(name_len, attrs, i, true));
            }
            if tail.starts_with('>') {
                i = after_space + 1;
                return Some(self.finish_start_tag(name_len, attrs, i, false));
            }
            let (name, value, len) = attribute(tail)?;
            attrs.push((name, value));
            i = after_space + len;
        }
    }

    fn finish_start_tag(
        &self,
        name_len: usize,
        attrs: Vec<(String, String)>,
        len: usize,
        self_closing: bool,
    ) -> StartTag {
        StartTag {
            name: (self.pos + 1, self.pos + 1 + name_len),
            attrs,
            len,
            self_closing,
        }
    }
}

struct StartTag {
    name: (usize, usize),
    attrs: Vec<(String, String)>,
    len: usize,
    self_closing: bool,
}

/// Remembers the last search for `>` so that the many failed tag candidates a hostile source can
/// hold (`</a</a</a...` with no `>`) do not each rescan to the end: positions only move forward.
#[derive(Default)]
struct NextGt {
    /// `(searched from, found at)`; `None` found means there is no `>` from there on.
    last: Option<(usize, Option<usize>)>,
}

impl NextGt {
    fn find(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        if let Some((searched_from, found)) = self.last {
            if from >= searched_from && found.is_none_or(|at| from <= at) {
                return found;
            }
        }
        let found = bytes
            .get(from..)
            .and_then(|tail| tail.iter().position(|&b| b == b'>'))
            .map(|i| from + i);
        self.last = Some((from, found));
        found
    }
}

/// Byte offset of `needle` in `haystack`: a plain loop, because `str::find` with a string
/// pattern brings in a two-way searcher that costs more wasm than this whole scanner's searches.
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Length of a tag name at the start of `text`: `ncname` or `ncname:ncname`, where an ncname
/// is a letter or `_` followed by letters, digits, `_`, `-` and `.`.
fn qname_len(text: &str) -> usize {
    let first = ncname_len(text);
    if first == 0 {
        return 0;
    }
    match text[first..].strip_prefix(':').map(ncname_len) {
        Some(second) if second > 0 => first + 1 + second,
        _ => first,
    }
}

fn ncname_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    if !bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return 0;
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count()
}

fn leading_space(text: &str) -> usize {
    text.len() - text.trim_start_matches(is_js_space).len()
}

/// One attribute at the start of `text`: name, decoded value (`""` if none) and length.
/// `name`, `name=value`, `name="value"` and `name='value'`, spaces allowed around `=`.
fn attribute(text: &str) -> Option<(String, String, usize)> {
    let name_len = text
        .find(|c: char| is_js_space(c) || matches!(c, '"' | '\'' | '<' | '>' | '/' | '='))
        .unwrap_or(text.len());
    if name_len == 0 {
        return None;
    }
    let name = text[..name_len].to_owned();
    let after_name = &text[name_len..];
    let eq = leading_space(after_name);
    let Some(after_eq) = after_name[eq..].strip_prefix('=') else {
        return Some((name, String::new(), name_len));
    };
    let value_at = leading_space(after_eq);
    let value_text = &after_eq[value_at..];
    let consumed_before_value = name_len + eq + 1 + value_at;
    let (raw, value_len) = match value_text.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let close = value_text[1..].find(quote)?;
            (&value_text[1..1 + close], close + 2)
        }
        _ => {
            let len = value_text
                .find(|c: char| is_js_space(c) || matches!(c, '"' | '\'' | '=' | '<' | '>' | '`'))
                .unwrap_or(value_text.len());
            if len == 0 {
                // `name=` with nothing usable after it: the reference's pattern matches `name`
                // alone and then fails on the `=`, so the tag is not a tag.
                return None;
            }
            (&value_text[..len], len)
        }
    };
    Some((
        name,
        decode_entities(raw),
        consumed_before_value + value_len,
    ))
}

/// The four entities the reference decodes in attribute values.
fn decode_entities(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = [
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&amp;", '&'),
        ]
        .into_iter()
        .find(|(entity, _)| rest.starts_with(entity));
        match decoded {
            Some((entity, c)) => {
                out.push(c);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{attribute, decode_entities, qname_len, scan, BlockKind};

    #[test]
    fn tag_names() {
        assert_eq!(qname_len("config lang"), 6);
        assert_eq!(qname_len("my-block.x>"), 10);
        assert_eq!(qname_len("svg:rect "), 8);
        assert_eq!(qname_len("1abc"), 0);
        assert_eq!(qname_len(" script"), 0);
    }

    #[test]
    fn attributes() {
        assert_eq!(
            attribute(r#"lang="json">"#),
            Some(("lang".into(), "json".into(), 11))
        );
        assert_eq!(
            attribute("tag = 'a b' x"),
            Some(("tag".into(), "a b".into(), 11))
        );
        assert_eq!(attribute("x=y>"), Some(("x".into(), "y".into(), 3)));
        assert_eq!(
            attribute("passive>"),
            Some(("passive".into(), "".into(), 7))
        );
        assert_eq!(attribute(r#"a="unterminated"#), None);
        assert_eq!(attribute("a=>"), None);
    }

    #[test]
    fn entities_in_attribute_values() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &quot;&amp;lt;"),
            "a <b> \"&lt;"
        );
        assert_eq!(decode_entities("&nbsp; &"), "&nbsp; &");
    }

    #[test]
    fn void_and_self_closing_blocks_hold_nothing() {
        let scan = scan(r#"<link href="https://x/y"><custom a="1"/><docs>d</docs>"#);
        let kinds: Vec<_> = scan.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BlockKind::Link, BlockKind::Other, BlockKind::Docs]);
        assert_eq!(scan.blocks[0].url.as_deref(), Some("https://x/y"));
        assert_eq!(scan.blocks[0].text.as_deref(), Some("https://x/y"));
        assert_eq!(scan.blocks[2].content, "d");
    }

    #[test]
    fn unmatched_end_tags_are_ignored_and_inner_ones_closed() {
        let scan = scan("</b><window><div><p>x</window>");
        assert!(scan.unclosed.is_none());
        assert_eq!(scan.blocks[0].content, "<div><p>x");
    }

    #[test]
    fn an_unterminated_comment_swallows_the_rest() {
        let scan = scan("<docs>a</docs><!-- <config>{}</config>");
        assert_eq!(scan.blocks.len(), 1);
    }
}
