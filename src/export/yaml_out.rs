//! A small YAML writer for exported manifests.
//!
//! Manifests are read as YAML 1.2 (an unquoted `on` is a string), but people
//! and other tools read them too, often with YAML 1.1 rules (`on`, `no`, `y`
//! are booleans, `1_000` and `1:30` are numbers, `2026-12-01` is a date). So a
//! string is written plain only when no YAML 1.1 or 1.2 reader can take it for
//! anything but that string: it starts with a letter, `_` or `/`, holds only
//! letters, digits, spaces and `_ - . / @ + ? ! ' ( ) % & * = $ ;` (never
//! `:`, `#`, `,` or brackets), does not end in a space and is
//! not one of the words either version resolves (`yes`, `no`, `on`, `off`, `y`,
//! `n`, `true`, `false`, `null`, in any case). Everything else is double-quoted
//! with escapes. Multi-line strings are literal blocks (`|` or `|-`) when the
//! block gives back exactly the same text, and double-quoted otherwise.
//!
//! Keys longer than 1000 characters are written as explicit keys (`? key`),
//! because readers refuse implicit keys past 1024.
//!
//! Output is deterministic: mappings keep the order they are given in.

use serde_json::{Number, Value};

/// A YAML value to write. Mappings keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }

    pub fn int(i: i64) -> Node {
        Node::Number(i.into())
    }

    /// A list of strings.
    pub fn strs<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Node {
        Node::Seq(
            items
                .into_iter()
                .map(|s| Node::Str(s.as_ref().to_string()))
                .collect(),
        )
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Node::Seq(_) | Node::Map(_))
    }

    fn is_empty_collection(&self) -> bool {
        match self {
            Node::Seq(v) => v.is_empty(),
            Node::Map(v) => v.is_empty(),
            _ => false,
        }
    }
}

impl From<&Value> for Node {
    fn from(v: &Value) -> Node {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::Str(s.clone()),
            Value::Array(a) => Node::Seq(a.iter().map(Node::from).collect()),
            Value::Object(m) => Node::Map(m.iter().map(|(k, v)| (k.clone(), v.into())).collect()),
        }
    }
}

/// Longest key written as `key: value`; YAML caps implicit keys at 1024
/// characters.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Widest line a flow collection (`[a, b]`, `{ k: v }`) may make.
const FLOW_WIDTH: usize = 80;

/// Words that a YAML 1.1 or 1.2 reader resolves to a boolean or null, in
/// any letter case (YAML 1.1 knows `yes`, `Yes`, `YES`; quoting every case
/// costs nothing).
const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `s` may be written as a plain scalar: no YAML 1.1 or 1.2 reader
/// takes it for anything but this string, in block or flow context.
pub fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !(first.is_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if s.ends_with(' ') {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_alphanumeric() || " _-./@+?!'()%&*=$;".contains(c))
    {
        return false;
    }
    !RESERVED.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// A scalar string on one line: plain when safe, else double-quoted.
pub fn quote(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Control characters, YAML 1.1's extra line breaks (NEL, LS,
            // PS), the byte-order mark and the non-characters.
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
                ) =>
            {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as both YAML versions read it back: floats always carry a `.`
/// and a signed exponent (`1.0e+20`; YAML 1.1 reads `1e20` as a string).
fn number(n: &Number) -> String {
    let text = n.to_string();
    if n.is_f64() {
        if let Some((mantissa, exp)) = text.split_once(['e', 'E']) {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_string()
            } else {
                format!("{mantissa}.0")
            };
            let exp = if exp.starts_with(['-', '+']) {
                exp.to_string()
            } else {
                format!("+{exp}")
            };
            return format!("{mantissa}e{exp}");
        }
        if !text.contains('.') {
            return format!("{text}.0");
        }
    }
    text
}

fn scalar(n: &Node) -> String {
    match n {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Number(x) => number(x),
        Node::Str(s) => quote(s),
        Node::Seq(_) | Node::Map(_) => flow(n),
    }
}

/// A collection in flow style: `[a, b]`, `{ k: v }`, `[]`, `{}`.
fn flow(n: &Node) -> String {
    match n {
        Node::Seq(items) if items.is_empty() => "[]".into(),
        Node::Map(items) if items.is_empty() => "{}".into(),
        Node::Seq(items) => format!(
            "[{}]",
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ),
        Node::Map(items) => format!(
            "{{ {} }}",
            items
                .iter()
                .map(|(k, v)| format!("{}: {}", quote(k), scalar(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => scalar(other),
    }
}

/// The lines and chomping indicator of a literal block that reads back as
/// exactly `s`, if there is one.
fn literal_block(s: &str) -> Option<(&'static str, Vec<&str>)> {
    if !s.contains('\n') {
        return None;
    }
    // Line breaks other than \n, tabs and control characters: quoted.
    if s.chars().any(|c| {
        c != '\n'
            && (c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
                ))
    }) {
        return None;
    }
    let (indicator, body) = match s.strip_suffix('\n') {
        Some(rest) if rest.ends_with('\n') => return None,
        Some(rest) => ("|", rest),
        None => ("|-", s),
    };
    let lines: Vec<&str> = body.split('\n').collect();
    // The first line sets the block's indentation: it must start with text.
    let first = lines.first().copied().unwrap_or("");
    if first.is_empty() || first.starts_with(' ') {
        return None;
    }
    // Trailing spaces (and lines of spaces only) are easily lost.
    if lines.iter().any(|l| l.ends_with(' ')) {
        return None;
    }
    Some((indicator, lines))
}

/// Whether a collection is written in flow style after `prefix` (e.g.
/// `  tags: `): its items are all scalars and the line stays short.
fn fits_flow(n: &Node, prefix_len: usize) -> bool {
    let items: Vec<&Node> = match n {
        Node::Seq(v) => v.iter().collect(),
        Node::Map(v) => v.iter().map(|(_, x)| x).collect(),
        _ => return false,
    };
    items
        .iter()
        .all(|x| x.is_scalar() || x.is_empty_collection())
        && prefix_len + flow(n).chars().count() <= FLOW_WIDTH
}

/// Writes a value after `head` (`key:` or `-`), which sits at `indent`.
fn value_after(out: &mut String, head: &str, indent: usize, v: &Node) {
    let pad = " ".repeat(indent);
    match v {
        Node::Str(s) => match literal_block(s) {
            Some((indicator, lines)) => {
                out.push_str(&format!("{pad}{head} {indicator}\n"));
                let inner = " ".repeat(indent + 2);
                for l in lines {
                    if l.is_empty() {
                        out.push('\n');
                    } else {
                        out.push_str(&format!("{inner}{l}\n"));
                    }
                }
            }
            None => out.push_str(&format!("{pad}{head} {}\n", quote(s))),
        },
        Node::Seq(items) if !items.is_empty() && !fits_flow(v, indent + head.len() + 1) => {
            out.push_str(&format!("{pad}{head}\n"));
            seq(out, items, indent + 2);
        }
        Node::Map(items) if !items.is_empty() && !fits_flow(v, indent + head.len() + 1) => {
            out.push_str(&format!("{pad}{head}\n"));
            map(out, items, indent + 2, None);
        }
        other => out.push_str(&format!("{pad}{head} {}\n", scalar(other))),
    }
}

/// A block mapping at `indent`. With `first_head`, the first entry goes on
/// the line of a sequence item (`- key: value`).
fn map(out: &mut String, items: &[(String, Node)], indent: usize, first_head: Option<usize>) {
    for (i, (k, v)) in items.iter().enumerate() {
        let key = quote(k);
        let mut entry = String::new();
        if key.chars().count() > MAX_IMPLICIT_KEY {
            // `? key` then `: value`: readers refuse longer implicit keys.
            entry.push_str(&format!("{}? {key}\n", " ".repeat(indent)));
            value_after(&mut entry, ":", indent, v);
        } else {
            value_after(&mut entry, &format!("{key}:"), indent, v);
        }
        match (i, first_head) {
            (0, Some(dash_indent)) => {
                // `- ` takes the two columns before the entry.
                out.push_str(&format!("{}- ", " ".repeat(dash_indent)));
                out.push_str(&entry[indent..]);
            }
            _ => out.push_str(&entry),
        }
    }
}

/// A block sequence whose dashes sit at `indent`.
fn seq(out: &mut String, items: &[Node], indent: usize) {
    for item in items {
        match item {
            Node::Map(entries) if !entries.is_empty() => {
                map(out, entries, indent + 2, Some(indent))
            }
            other => value_after(out, "-", indent, other),
        }
    }
}

/// A value on one line as YAML writes it (`Checkout`, `"on"`, `10`,
/// `[web, ios]`, `{ control: 1, on: 1 }`), when it fits in `width`
/// characters and needs no nesting.
pub fn inline_value(v: &Value, width: usize) -> Option<String> {
    let n = Node::from(v);
    let text = match &n {
        Node::Str(s) if s.contains('\n') => return None,
        Node::Seq(_) | Node::Map(_) => {
            if !n.is_empty_collection() && !fits_flow(&n, 0) {
                return None;
            }
            flow(&n)
        }
        other => scalar(other),
    };
    (text.chars().count() <= width).then_some(text)
}

/// A value as block YAML, one line per field or item (a mapping's entries,
/// a sequence's `-` items, or the value itself), for line diffs.
pub fn block_value(v: &Value) -> String {
    let mut out = String::new();
    match Node::from(v) {
        Node::Map(items) if !items.is_empty() => map(&mut out, &items, 0, None),
        Node::Seq(items) if !items.is_empty() => seq(&mut out, &items, 0),
        Node::Str(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        other => {
            out.push_str(&scalar(&other));
            out.push('\n');
        }
    }
    out
}

/// One YAML document (no `---`) for a top-level mapping.
pub fn document(entries: &[(String, Node)]) -> String {
    let mut out = String::new();
    map(&mut out, entries, 0, None);
    out
}

/// `text` as `#` comment lines; line breaks and control characters in it
/// are escaped so that it stays a comment.
pub fn comment(text: &str) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        let clean: String = line
            .chars()
            .map(|c| {
                if c.is_control()
                    || matches!(
                        c,
                        '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
                    )
                {
                    format!("\\u{:04X}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect();
        if clean.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str(&format!("# {clean}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::parse_documents;
    use serde_json::json;

    /// Strings that YAML 1.1 or 1.2 readers take for something else, or
    /// that YAML syntax gives a meaning to.
    pub const AMBIGUOUS: &[&str] = &[
        "on",
        "On",
        "ON",
        "off",
        "yes",
        "Yes",
        "no",
        "NO",
        "y",
        "Y",
        "n",
        "N",
        "true",
        "False",
        "null",
        "Null",
        "~",
        "",
        " ",
        "1.0",
        "1",
        "-1",
        "+1",
        "0x1F",
        "0o17",
        "017",
        "1_000",
        "1:30",
        "1e3",
        ".5",
        ".inf",
        "-.inf",
        ".nan",
        "2026-12-01",
        "2026-12-01T00:00:00Z",
        "#",
        "#x",
        "a #b",
        "- x",
        "-",
        "key: v",
        "a: b",
        "a:b",
        "gp:plan",
        "[a]",
        "{a: 1}",
        "a, b",
        "*alias",
        "&anchor",
        "!tag",
        "!!str",
        "%YAML",
        "@home",
        "`cmd`",
        "|",
        ">",
        "'single'",
        "\"double\"",
        "?",
        "? x",
        "<<",
        "=",
        "---",
        "...",
        " lead",
        "trail ",
        "tab\there",
        "back\\slash",
        "line1\nline2",
        "ends with newline\n",
        "two\n\n",
        "\nleading newline",
        "  indented\nblock",
        "trailing \nspace",
        "cr\r\nlf",
        "nel\u{85}x",
        "ls\u{2028}x",
        "bom\u{FEFF}x",
        "bell\u{7}",
        "del\u{7F}",
        "Zürich",
        "日本語",
        "emoji 🎉",
        "a  b",
        "United States",
        "alice@example.com",
        "1234567",
        "why?",
        "don't",
        "a!b",
        "50%",
        "(x)",
        "a=b",
        "a*b",
        "a&b",
        "a$b",
        "a;b",
        "it's 'q'",
        "a ?b",
        "a !b",
        "'",
        "a,b",
        "a]b",
        "a}b",
        "a:",
        "a :b",
    ];

    fn reread(text: &str) -> Value {
        let docs = parse_documents(text).unwrap_or_else(|e| panic!("{}:\n{text}", e.message));
        docs[0].value.clone()
    }

    #[test]
    fn ambiguous_strings_read_back_as_themselves() {
        for s in AMBIGUOUS {
            // As a value, a key, in a list, in a flow list and in a variant.
            let doc = document(&[
                ("value".into(), Node::str(*s)),
                ((*s).to_string(), Node::str("k")),
                (
                    "list".into(),
                    Node::Seq(vec![
                        Node::str(*s),
                        Node::Map(vec![("x".into(), Node::str(*s))]),
                    ]),
                ),
                ("flow".into(), Node::strs([*s, "b"])),
                (
                    "map".into(),
                    Node::Map(vec![((*s).to_string(), Node::str(*s))]),
                ),
            ]);
            let v = reread(&doc);
            assert_eq!(v["value"], json!(s), "value {s:?}:\n{doc}");
            assert_eq!(v[*s], json!("k"), "key {s:?}:\n{doc}");
            assert_eq!(v["list"][0], json!(s), "item {s:?}:\n{doc}");
            assert_eq!(v["list"][1]["x"], json!(s), "item {s:?}:\n{doc}");
            assert_eq!(v["flow"][0], json!(s), "flow {s:?}:\n{doc}");
            assert_eq!(v["map"][*s], json!(s), "map {s:?}:\n{doc}");

            // yaml-rust2's own loader (YAML 1.2 core schema) agrees.
            let loaded = yaml_rust2::YamlLoader::load_from_str(&doc).unwrap();
            assert_eq!(
                loaded[0]["value"],
                yaml_rust2::Yaml::String((*s).to_string()),
                "{s:?}:\n{doc}"
            );
        }
    }

    /// YAML 1.1's implicit types (PyYAML's resolvers), checked on what the
    /// writer leaves plain.
    fn yaml11_non_string(s: &str) -> bool {
        let bools = [
            "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
            "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ];
        let nulls = ["~", "null", "Null", "NULL", ""];
        let numeric_start = s
            .trim_start_matches(['-', '+'])
            .starts_with(|c: char| c.is_ascii_digit() || c == '.');
        bools.contains(&s) || nulls.contains(&s) || numeric_start || s == "<<" || s == "="
    }

    #[test]
    fn plain_output_is_a_string_for_yaml_11_too() {
        for s in AMBIGUOUS {
            let q = quote(s);
            if !q.starts_with('"') {
                assert!(!yaml11_non_string(&q), "{s:?} left plain");
            }
        }
        assert_eq!(quote("on"), "\"on\"");
        assert_eq!(quote("United States"), "United States");
        assert_eq!(quote("1.0"), "\"1.0\"");
        assert_eq!(quote("a: b"), "\"a: b\"");
    }

    #[test]
    fn multi_line_strings_use_literal_blocks_when_exact() {
        let doc = document(&[
            ("a".into(), Node::str("first\n\nthird")),
            ("b".into(), Node::str("ends\n")),
            ("c".into(), Node::str(" lead\nx")),
        ]);
        assert!(doc.contains("a: |-\n  first\n\n  third\n"), "{doc}");
        assert!(doc.contains("b: |\n  ends\n"), "{doc}");
        assert!(doc.contains("c: \" lead\\nx\""), "{doc}");
        let v = reread(&doc);
        assert_eq!(v["a"], "first\n\nthird");
        assert_eq!(v["b"], "ends\n");
        assert_eq!(v["c"], " lead\nx");
    }

    #[test]
    fn json_values_of_every_type_read_back_equal() {
        let payloads = [
            json!({"layout": "one-page", "steps": 1, "on": true, "ratio": 0.25}),
            json!([1, "two", null, false, {"x": []}, [[]]]),
            json!("on"),
            json!(""),
            json!(0),
            json!(-7),
            json!(1.0),
            json!(1e20),
            json!(1.5e-7),
            json!(u64::MAX),
            json!(true),
            json!(null),
            json!({}),
            json!([]),
            json!({"deep": {"deeper": {"list": [{"a": "1.0"}, "multi\nline"]}}}),
            json!({"": "empty key", "a: b": "#", "null": null}),
            json!({"k".repeat(2000): {"x".repeat(1500): ["v"]}, "short": 1}),
            json!([{"y".repeat(1100): "multi\nline", "z": 1}]),
        ];
        for p in payloads {
            let doc = document(&[("payload".into(), Node::from(&p))]);
            assert_eq!(reread(&doc)["payload"], p, "{doc}");
        }
    }

    #[test]
    fn layout_is_block_with_short_flow_leaves() {
        let doc = document(&[
            ("key".into(), Node::str("f")),
            ("tags".into(), Node::strs(["a", "b"])),
            (
                "variants".into(),
                Node::Seq(vec![Node::Map(vec![
                    ("key".into(), Node::str("on")),
                    (
                        "payload".into(),
                        Node::Map(vec![("x".into(), Node::int(1))]),
                    ),
                ])]),
            ),
        ]);
        assert_eq!(
            doc,
            "key: f\ntags: [a, b]\nvariants:\n  - key: \"on\"\n    payload: { x: 1 }\n"
        );
    }

    #[test]
    fn comments_stay_comments() {
        assert_eq!(comment("a\nb"), "# a\n# b\n");
        assert_eq!(comment("x\ry"), "# x\\u000Dy\n");
    }
}
