//! A YAML reader that keeps line and column numbers.
//!
//! Validation errors must point at `file:line:column`, and YAML 1.1 habits must
//! not change meaning: an unquoted `on`, `off`, `yes` or `no` is the string it
//! looks like (YAML 1.2 core schema), never a boolean. serde_yaml offers
//! neither node positions nor control over scalar resolution, so manifests are
//! read from yaml-rust2's marked event stream into a small tree, then turned into
//! `serde_json::Value`; a value's position is found by reading its document
//! again (see [`Doc::pos`]).
//!
//! The reader is bounded: aliases are expanded against a node budget (an "alias
//! bomb" is an error, not an out-of-memory), and nesting is limited in depth.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most nodes aliases may add to one file. A file's budget is this plus its
/// length in bytes: written-out values cost at least a byte each, so only
/// aliases can exceed the length, and they may add at most this many.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 64;

/// A position in a source file, both 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One YAML document, as JSON. Positions are not kept: [`Doc::pos`] reads
/// the document's own text again to find one, which only an error message
/// asks for, so that loading builds no table of paths it will not use.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The document as JSON (null after [`Doc::release`]).
    pub value: Value,
    /// The position of the document's root value.
    pub start: Pos,
    /// Where the document's text begins in its file: the byte offset of the
    /// line it starts on, and that line's number less one.
    origin: (usize, usize),
    /// The text of the document's file.
    text: Arc<str>,
}

impl Doc {
    /// The position of `path` (in serde_path_to_error's notation:
    /// `variants[0].key`, root `.`), or of its nearest ancestor that has
    /// one: a mapping key's position for a value it introduces. Parses the
    /// document again, and only to its end.
    pub fn pos(&self, path: &str) -> Pos {
        self.positions(&[path])[0]
    }

    /// The positions of several paths (as [`pos`](Self::pos)), from one
    /// parse of the document.
    pub fn positions(&self, paths: &[&str]) -> Vec<Pos> {
        if paths.is_empty() {
            return Vec::new();
        }
        count_parse(|c| c.documents += 1);
        let (offset, lines) = self.origin;
        let parsed = self
            .text
            .get(offset..)
            .and_then(|text| RawDocuments::new(text).next());
        let Some(Ok((node, start, _))) = parsed else {
            return vec![self.start; paths.len()];
        };
        let mut table = Positions::default();
        table.index(&node, start, ".");
        paths
            .iter()
            .map(|path| {
                let p = table.find(path).unwrap_or(start);
                Pos {
                    line: p.line + lines,
                    col: p.col,
                }
            })
            .collect()
    }

    /// Lets the tree go once the document is read and checked: a manifest
    /// set of 10,000 flags holds tens of megabytes less. Positions are still
    /// read from the text.
    pub fn release(&mut self) {
        self.value = Value::Null;
    }
}

/// The position of every value of one document, by path, and of every
/// mapping key, by the path of the value it introduces.
#[derive(Default)]
struct Positions {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl Positions {
    fn index(&mut self, node: &Node, pos: Pos, path: &str) {
        self.values.insert(path.to_string(), pos);
        match node {
            Node::Scalar(_) => {}
            Node::Seq(items) => {
                for (i, (n, p)) in items.iter().enumerate() {
                    let child = if path == "." {
                        format!("[{i}]")
                    } else {
                        format!("{path}[{i}]")
                    };
                    self.index(n, *p, &child);
                }
            }
            Node::Map(items) => {
                for (k, kpos, n, p) in items {
                    let child = child_path(path, k);
                    self.keys.insert(child.clone(), *kpos);
                    self.index(n, *p, &child);
                }
            }
        }
    }

    fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.keys.get(&p).or_else(|| self.values.get(&p)) {
                return Some(*pos);
            }
            match parent_path(&p) {
                Some(parent) => p = parent,
                None => return self.values.get(".").copied(),
            }
        }
    }
}

fn parent_path(p: &str) -> Option<String> {
    if p == "." || p.is_empty() {
        return None;
    }
    let cut = p.rfind(['.', '[']).unwrap_or(0);
    if cut == 0 {
        Some(".".to_string())
    } else {
        Some(p[..cut].to_string())
    }
}

/// A YAML syntax or structure error with its position.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

#[derive(Clone, Debug)]
enum Node {
    Scalar(Value),
    Seq(Vec<(Node, Pos)>),
    Map(Vec<(String, Pos, Node, Pos)>),
}

impl Node {
    fn size(&self) -> usize {
        match self {
            Node::Scalar(_) => 1,
            Node::Seq(items) => 1 + items.iter().map(|(n, _)| n.size()).sum::<usize>(),
            Node::Map(items) => 1 + items.iter().map(|(_, _, n, _)| 1 + n.size()).sum::<usize>(),
        }
    }
}

enum Frame {
    Seq(Vec<(Node, Pos)>, usize, Pos),
    Map(
        Vec<(String, Pos, Node, Pos)>,
        Option<(String, Pos)>,
        usize,
        Pos,
    ),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// The root of the document just read, its position, and the marker of
    /// its start (taken by [`Documents`] at the document's end).
    docs: Vec<(Node, Pos, Option<Marker>)>,
    /// The marker of the current document's start.
    doc_start: Option<Marker>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// Most nodes the stream may expand to: [`MAX_NODES`] + its length.
    budget: usize,
    error: Option<YamlError>,
}

fn pos_of(mark: &Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                pos,
                message: message.into(),
            });
        }
    }

    fn push_node(&mut self, node: Node, pos: Pos) {
        let top = self.stack.last_mut();
        match top {
            None => self.docs.push((node, pos, self.doc_start)),
            Some(Frame::Seq(items, _, _)) => items.push((node, pos)),
            Some(Frame::Map(items, pending, _, _)) => match pending.take() {
                None => {
                    let key = match node {
                        Node::Scalar(Value::String(s)) => s,
                        Node::Scalar(Value::Null) => "null".to_string(),
                        Node::Scalar(v) => v.to_string(),
                        _ => {
                            self.fail(
                                pos,
                                "a mapping key must be a plain value, not a list or mapping",
                            );
                            return;
                        }
                    };
                    if items.iter().any(|(k, ..)| *k == key) {
                        self.fail(pos, format!("duplicate key `{key}` in this mapping"));
                        return;
                    }
                    *pending = Some((key, pos));
                }
                Some((key, kpos)) => items.push((key, kpos, node, pos)),
            },
        }
    }

    fn count(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes += n;
        if self.nodes > self.budget {
            self.fail(
                pos,
                format!(
                    "aliases expand the file to more than {} values (too many aliases?)",
                    self.budget
                ),
            );
            return false;
        }
        true
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = pos_of(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if !self.count(1, pos) {
                    return;
                }
                let node = match resolve_scalar(text, style, tag.as_ref()) {
                    Ok(v) => Node::Scalar(v),
                    Err(message) => return self.fail(pos, message),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node, pos);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => {
                    if self.count(node.size(), pos) {
                        self.push_node(node, pos);
                    }
                }
                None => self.fail(pos, "alias to an unknown anchor"),
            },
            Event::SequenceStart(_, Some(tag)) | Event::MappingStart(_, Some(tag)) => {
                self.fail(pos, unsupported_tag(&tag))
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                if self.count(1, pos) {
                    self.stack.push(Frame::Seq(Vec::new(), anchor, pos));
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                if self.count(1, pos) {
                    self.stack.push(Frame::Map(Vec::new(), None, anchor, pos));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq(items, anchor, start)) => (Node::Seq(items), anchor, start),
                    Some(Frame::Map(items, _, anchor, start)) => (Node::Map(items), anchor, start),
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node, start);
            }
            Event::DocumentStart => {
                self.anchors.clear();
                self.doc_start = Some(mark);
            }
            _ => {}
        }
    }
}

/// A scalar under YAML 1.2's core schema, to JSON. What JSON cannot carry
/// (a number out of range, infinity, not-a-number) and tags other than
/// `!!str` are errors rather than strings: a value must not change its type
/// without a word.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        // `!!str`: the parser gives the secondary handle resolved.
        if (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:") && tag.suffix == "str" {
            return Ok(Value::String(text));
        }
        return Err(unsupported_tag(tag));
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text));
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let out_of_range = || {
        Err(format!(
            "`{text}` is a number JSON cannot carry; quote it to mean the text"
        ))
    };
    if looks_like_int(&text) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return out_of_range();
    }
    let special = text.trim_start_matches(['-', '+']);
    if matches!(special, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return out_of_range();
    }
    if looks_like_float(&text) {
        return match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Ok(Value::Number(n)),
            None => out_of_range(),
        };
    }
    Ok(Value::String(text))
}

fn unsupported_tag(tag: &Tag) -> String {
    let shown = if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    };
    format!("the tag `{shown}` is not supported: manifests are plain YAML (only `!!str` may mark a value as text)")
}

fn looks_like_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn looks_like_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int_part = parts.next().unwrap_or("");
    let frac_part = parts.next();
    let int_ok = int_part.bytes().all(|b| b.is_ascii_digit());
    let frac_ok = frac_part.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()));
    let has_digits = !int_part.is_empty() || frac_part.is_some_and(|f| !f.is_empty());
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    int_ok && frac_ok && has_digits && exp_ok && (frac_part.is_some() || exponent.is_some())
}

fn child_path(parent: &str, key: &str) -> String {
    if parent == "." {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Scalar(v) => v,
        Node::Seq(items) => Value::Array(items.into_iter().map(|(n, _)| to_value(n)).collect()),
        Node::Map(items) => Value::Object(
            items
                .into_iter()
                .map(|(k, _, n, _)| (k, to_value(n)))
                .collect(),
        ),
    }
}

/// Parses every document of a YAML stream. Empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Doc>, YamlError> {
    documents(&Arc::from(text)).collect()
}

/// The documents of a YAML stream (a file's text), each read only when asked
/// for, so that a file of many documents never holds more than one
/// document's tree: the loader checks and releases each before the next is
/// read. Empty documents are skipped; after an error the stream ends.
pub fn documents(text: &Arc<str>) -> Documents<'_> {
    count_parse(|c| c.files += 1);
    // A byte order mark may open the stream; the documents begin after it.
    let bom = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    Documents {
        text,
        bom,
        unprintable: unprintable(&text[bom..]),
        raw: RawDocuments::new(&text[bom..]),
    }
}

/// The first character YAML does not allow in a stream, and where: a control
/// character other than tab and line breaks, DEL, a C1 control other than
/// NEL, U+FFFE or U+FFFF (YAML 1.2 §5.1). A NUL, say, would otherwise end
/// the stream early and silently, and the documents after it would be lost.
fn unprintable(text: &str) -> Option<YamlError> {
    let (mut line, mut col, mut prev_cr) = (1, 1, false);
    for c in text.chars() {
        let allowed = matches!(c,
            '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
            | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        if !allowed {
            return Some(YamlError {
                pos: Pos { line, col },
                message: format!(
                    "the character U+{:04X} is not allowed in YAML; inside a double-quoted string, write it as the escape \\u{:04X}",
                    c as u32, c as u32
                ),
            });
        }
        match c {
            '\n' if prev_cr => {}
            '\n' | '\r' => {
                line += 1;
                col = 1;
            }
            _ => col += 1,
        }
        prev_cr = c == '\r';
    }
    None
}

/// An iterator over the documents of a YAML stream (see [`documents`]).
pub struct Documents<'a> {
    text: &'a Arc<str>,
    /// The length of a byte order mark before the documents, or 0.
    bom: usize,
    /// A character YAML does not allow: the stream's only item.
    unprintable: Option<YamlError>,
    raw: RawDocuments<'a>,
}

impl Iterator for Documents<'_> {
    type Item = Result<Doc, YamlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.unprintable.take() {
            self.raw.done = true;
            return Some(Err(e));
        }
        let (node, start, (offset, lines)) = match self.raw.next()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Doc {
            value: to_value(node),
            start,
            origin: (offset + self.bom, lines),
            text: Arc::clone(self.text),
        }))
    }
}

/// The documents of a YAML stream as trees with positions: each root, its
/// position, and where its text begins (see `Doc::origin`).
struct RawDocuments<'a> {
    text: &'a str,
    parser: Parser<std::str::Chars<'a>>,
    builder: Builder,
    /// The last line found and the byte offset where it starts (both from
    /// the text's start, lines 1-based), so that finding documents' lines
    /// walks the text once in all.
    cursor: (usize, usize),
    done: bool,
}

impl<'a> RawDocuments<'a> {
    fn new(text: &'a str) -> Self {
        RawDocuments {
            text,
            parser: Parser::new_from_str(text),
            builder: Builder {
                budget: MAX_NODES.saturating_add(text.len()),
                ..Builder::default()
            },
            cursor: (1, 0),
            done: false,
        }
    }

    /// Where a document starting at `mark` begins: the byte offset of the
    /// start of its line, and that line's number less one. The line is
    /// found by counting line breaks as the scanner does (`\r\n`, `\n`, a
    /// lone `\r`): a marker's index is no byte offset (it counts characters,
    /// except in block scalars, where it counts bytes).
    fn origin(&mut self, mark: Option<Marker>) -> (usize, usize) {
        let Some(mark) = mark else { return (0, 0) };
        let target = mark.line().max(1);
        let (mut line, mut at) = self.cursor;
        let bytes = self.text.as_bytes();
        while line < target {
            let Some(brk) = bytes[at..].iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break;
            };
            at += brk + 1;
            if bytes[at - 1] == b'\r' && bytes.get(at) == Some(&b'\n') {
                at += 1;
            }
            line += 1;
        }
        self.cursor = (line, at);
        (at, target - 1)
    }
}

impl Iterator for RawDocuments<'_> {
    type Item = Result<(Node, Pos, (usize, usize)), YamlError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Events are pulled one by one rather than through `Parser::load`,
        // whose recursion per nesting level would overflow the stack on a
        // deeply nested document before the depth limit could say so.
        while !self.done {
            let (ev, mark) = match self.parser.next_token() {
                Ok(next) => next,
                Err(e) => {
                    self.done = true;
                    return Some(Err(YamlError {
                        pos: pos_of(e.marker()),
                        message: e.info().to_string(),
                    }));
                }
            };
            let stream_end = ev == Event::StreamEnd;
            let doc_end = ev == Event::DocumentEnd;
            self.builder.on_event(ev, mark);
            if let Some(err) = self.builder.error.take() {
                self.done = true;
                return Some(Err(err));
            }
            if stream_end {
                self.done = true;
            }
            if doc_end {
                if let Some((node, pos, start)) = self.builder.docs.pop() {
                    if !matches!(node, Node::Scalar(Value::Null)) {
                        let origin = self.origin(start);
                        return Some(Ok((node, pos, origin)));
                    }
                }
            }
        }
        None
    }
}

/// How often this thread has parsed YAML: whole files, and single documents
/// read again for a position. Loading must parse each file once, whatever
/// its number of documents; the tests hold it to that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseCounts {
    pub files: usize,
    pub documents: usize,
}

thread_local! {
    static PARSES: std::cell::Cell<ParseCounts> = const {
        std::cell::Cell::new(ParseCounts { files: 0, documents: 0 })
    };
}

fn count_parse(f: impl FnOnce(&mut ParseCounts)) {
    PARSES.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}

/// The parses this thread has made so far (see [`ParseCounts`]).
pub fn parse_counts() -> ParseCounts {
    PARSES.with(|c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_booleans_stay_strings() {
        let docs =
            parse_documents("on: off\nyes: no\nt: true\nn: ~\ni: 12\nf: 1.5\ns: '1'\nv: 1.0.2\n")
                .unwrap();
        let v = &docs[0].value;
        assert_eq!(v["on"], Value::String("off".into()));
        assert_eq!(v["yes"], Value::String("no".into()));
        assert_eq!(v["t"], Value::Bool(true));
        assert_eq!(v["n"], Value::Null);
        assert_eq!(v["i"], Value::from(12));
        assert_eq!(v["f"], Value::from(1.5));
        assert_eq!(v["s"], Value::String("1".into()));
        assert_eq!(v["v"], Value::String("1.0.2".into()));
    }

    #[test]
    fn positions_point_at_values_and_keys() {
        let docs = parse_documents("a: 1\nlist:\n  - x: 2\n    y: [3, 4]\n").unwrap();
        let d = &docs[0];
        assert_eq!(d.pos("list[0].y").line, 4);
        assert_eq!(d.pos("list[0].y[1]").line, 4);
        assert_eq!(d.pos("list[0].x").line, 3);
        assert_eq!(d.pos("list[0].missing").line, 3);
        assert_eq!(d.pos("a").col, 1);
    }

    #[test]
    fn positions_are_found_in_any_layout_and_after_release() {
        let layouts = [
            "a: 1\n---\nlist:\n  - x: 2\n    y: [3, 4]\n",
            // An implicit first document after comments, indented.
            "# é comment\n\n  list:\n    - x: 2\n      y: [3, 4]\n---\nb: 1\n",
            // Documents closed by `...`, an empty one, CRLF line ends and
            // characters of several bytes before the document.
            "a: \"ü\"\r\n...\r\n---\r\n...\r\n# ✓\r\nlist:\r\n  - x: 2\r\n    y: [3, 4]\r\n",
            // A directive before the document, the list's items one a line.
            "a: 1\n...\n%YAML 1.2\n---\nlist:\n- x: 2\n  y:\n  - 3\n  - 4\n",
        ];
        for text in layouts {
            // The 1-based line of the first line holding `needle`.
            let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
            let mut d = parse_documents(text)
                .unwrap()
                .into_iter()
                .find(|d| d.value.get("list").is_some())
                .unwrap();
            for released in [false, true] {
                if released {
                    d.release();
                    assert!(d.value.is_null());
                }
                let at = |path: &str| d.pos(path).line;
                assert_eq!(at("list"), line_of("list:"), "{text:?}");
                assert_eq!(at("list[0].x"), line_of("x: 2"), "{text:?}");
                assert_eq!(at("list[0].missing"), line_of("x: 2"), "{text:?}");
                assert_eq!(at("list[0].y[1]"), line_of("4"), "{text:?}");
                assert_eq!(
                    d.pos("list[0].x").col,
                    text.lines()
                        .nth(line_of("x: 2") - 1)
                        .unwrap()
                        .find('x')
                        .unwrap()
                        + 1
                );
            }
        }
    }

    #[test]
    fn multi_documents_and_duplicates() {
        let docs = parse_documents("a: 1\n---\nb: 2\n---\n").unwrap();
        assert_eq!(docs.len(), 2);
        let err = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(err.message.contains("duplicate key `a`"));
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents(&text).unwrap_err();
        assert!(err.message.contains("too many aliases"), "{}", err.message);
    }

    #[test]
    fn positions_after_block_scalars_of_several_byte_characters() {
        // A block scalar's marker counts bytes, not characters.
        let text =
            "a: |\n  日本語の説明\n  ✓✓✓\nb: >\n  é\n---\n# c\nlist:\n  - x: 2\n---\nz: [1, 2]\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs[1].pos("list[0].x").line, 9);
        assert_eq!(docs[1].pos("list").line, 8);
        assert_eq!(docs[2].pos("z[1]").line, 11);
    }

    #[test]
    fn a_nul_is_an_error_where_it_is_not_the_end_of_the_file() {
        let text = "a: 1 # one\u{0}two\n---\nb: 2\n---\nc: 3\n";
        let err = parse_documents(text).unwrap_err();
        assert_eq!((err.pos.line, err.pos.col), (1, 11), "{}", err.message);
        assert!(err.message.contains("U+0000"), "{}", err.message);
        for bad in [
            "a: \u{7}\n",
            "a: b\u{1b}[31m\n",
            "a: \u{7f}\n",
            "a: \u{9b}\n",
        ] {
            assert!(parse_documents(bad).is_err(), "{bad:?} was read");
        }
        // Tab, CRLF, NEL and escapes are fine.
        let ok = parse_documents("a:\t\"\\x00 \\u0007\"\r\nb: \u{85}x\n").unwrap();
        assert_eq!(ok[0].value["a"], Value::String("\u{0} \u{7}".into()));
    }

    #[test]
    fn a_byte_order_mark_opens_the_stream() {
        let text = "\u{feff}apiVersion: x\nlist:\n  - y: 1\n";
        let mut docs = parse_documents(text).unwrap();
        assert!(docs[0].value.get("apiVersion").is_some());
        assert_eq!(docs[0].pos("list[0].y").line, 3);
        docs[0].release();
        assert_eq!(docs[0].pos("list[0].y").line, 3);
        assert_eq!(docs[0].pos("list[0].y").col, 5);
    }

    #[test]
    fn numbers_json_cannot_carry_and_other_tags_are_errors() {
        for (text, says) in [
            ("a: 123456789012345678901234567890\n", "JSON cannot carry"),
            ("a: 1e400\n", "JSON cannot carry"),
            ("a: -.inf\n", "JSON cannot carry"),
            ("a: .nan\n", "JSON cannot carry"),
            ("a: !!binary aGVsbG8=\n", "`!!binary` is not supported"),
            ("a: !custom x\n", "`!custom` is not supported"),
            ("a: !!set {x: null}\n", "`!!set` is not supported"),
        ] {
            let err = parse_documents(text).unwrap_err();
            assert!(err.message.contains(says), "{text:?}: {}", err.message);
            assert_eq!(err.pos.line, 1, "{text:?}");
        }
        // Quoted, they are text; in range, numbers.
        let docs = parse_documents("a: \"1e400\"\nb: 18446744073709551615\nc: 0x1F\n").unwrap();
        assert_eq!(docs[0].value["a"], Value::String("1e400".into()));
        assert_eq!(docs[0].value["b"], Value::from(u64::MAX));
        assert_eq!(docs[0].value["c"], Value::String("0x1F".into()));
    }

    #[test]
    fn a_str_tag_keeps_a_number_a_string() {
        let docs = parse_documents("a: !!str 123\nb: !!str true\n").unwrap();
        assert_eq!(docs[0].value["a"], Value::String("123".into()));
        assert_eq!(docs[0].value["b"], Value::String("true".into()));
    }

    #[test]
    fn a_long_file_without_aliases_is_not_an_alias_bomb() {
        // 1,100 documents of 1,000 values: more than MAX_NODES in all.
        let doc = format!("[{}]\n", vec!["0"; 1000].join(","));
        let text = vec![doc; 1100].join("---\n");
        assert_eq!(parse_documents(&text).unwrap().len(), 1100);
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let err = parse_documents(&text).unwrap_err();
        assert!(
            err.message.contains("nesting") || err.message.contains("recursion"),
            "{}",
            err.message
        );
    }
}
