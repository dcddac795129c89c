//! Edits of manifest files that change only the lines they must.
//!
//! Promotion and adoption set one value inside one document of a manifest
//! file (`environments.prod.rolloutPercentage`, `onlyIn`) and leave every
//! other byte alone: comments, key order, quoting and blank lines elsewhere
//! stay as they were, so that the change reads as a small pull request.
//!
//! The editor works on block-style YAML, line by line: a mapping entry is
//! its key line and the lines indented deeper than its key that follow it.
//! A value written in flow style (`environments: {prod: {…}}`) that an edit
//! would have to enter is refused with its line, never rewritten silently.
//! A value set is written in block style by the export's writer, so that it
//! reads back as exactly that value.

use serde_json::Value;

use crate::export::yaml_out::{document, is_plain_safe, quote, Node};

/// A manifest file's lines, each with its line ending.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    lines: Vec<String>,
    /// `\r\n` when the file's first line ends so, else `\n`.
    eol: &'static str,
}

/// A mapping entry inside a block: its key, the index of its key line, and
/// the index just past its last line (trailing comments and blank lines
/// before the next entry are not its own).
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    line: usize,
    end: usize,
    /// The value starts on the key's line (a scalar or a flow collection).
    inline: bool,
}

/// The entries of the block mapping written in lines `[start, end)`.
#[derive(Debug)]
struct Block {
    indent: Option<usize>,
    entries: Vec<Entry>,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A line that carries YAML content (not blank, not only a comment).
fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// A document marker (`---` or `...`) at the start of a line.
fn is_marker(line: &str) -> bool {
    let t = line.trim_end();
    (t.starts_with("---") || t.starts_with("..."))
        && t[3..].chars().next().is_none_or(char::is_whitespace)
}

/// The key of a block mapping line (`key: …`, `"key": …`, `'key': …`) and
/// what follows its colon, or `None` for any other line.
fn key_of(line: &str) -> Option<(String, &str)> {
    let t = line.trim_start();
    let (key, rest) = if let Some(body) = t.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => {
                    let (_, e) = chars.next()?;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                '"' => break (out, &body[i + 1..]),
                c => out.push(c),
            }
        }
    } else if let Some(body) = t.strip_prefix('\'') {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let i = rest.find('\'')?;
            out.push_str(&rest[..i]);
            if rest[i + 1..].starts_with('\'') {
                out.push('\'');
                rest = &rest[i + 2..];
            } else {
                break (out, &rest[i + 1..]);
            }
        }
    } else {
        if t.starts_with(['-', '?', '{', '[', '&', '*', '!', '|', '>']) {
            return None;
        }
        let mut at = None;
        for (i, c) in t.char_indices() {
            if c == ':' && t[i + 1..].chars().next().is_none_or(char::is_whitespace) {
                at = Some(i);
                break;
            }
            if c == '#' && t[..i].ends_with(' ') {
                return None;
            }
        }
        let i = at?;
        (t[..i].trim_end().to_string(), &t[i..])
    };
    let rest = rest.trim_start().strip_prefix(':')?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some((key, rest))
}

/// A mapping key as written: plain when that reads back as the same
/// string, quoted otherwise.
fn key_text(k: &str) -> String {
    if is_plain_safe(k) {
        k.to_string()
    } else {
        quote(k)
    }
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        let eol = match lines.first() {
            Some(l) if l.ends_with("\r\n") => "\r\n",
            _ => "\n",
        };
        Lines { lines, eol }
    }

    pub fn text(&self) -> String {
        self.lines.concat()
    }

    fn line(&self, i: usize) -> &str {
        self.lines[i].trim_end_matches(['\n', '\r'])
    }

    /// The lines of the document whose root value starts on `line`
    /// (1-based): from that line to the next document marker.
    fn document(&self, line: usize) -> (usize, usize) {
        let start = line.saturating_sub(1).min(self.lines.len());
        let end = (start + 1..self.lines.len())
            .find(|&i| is_marker(self.line(i)))
            .unwrap_or(self.lines.len());
        (start, end)
    }

    /// The block mapping in lines `[start, end)`.
    fn block(&self, start: usize, end: usize) -> Result<Block, String> {
        let mut indent = None;
        let mut entries: Vec<Entry> = Vec::new();
        let mut last_content = start;
        // Inside a block scalar (`|`, `>`): its key's indentation, and
        // whether it keeps its trailing blank lines (`|+`). Every deeper
        // line is the scalar's, whatever it holds (`#` included).
        let mut scalar: Option<(usize, bool)> = None;
        for i in start..end {
            let l = self.line(i);
            if let Some((key_indent, keep)) = scalar {
                let blank = l.trim().is_empty();
                if blank || indent_of(l) > key_indent {
                    if !blank || keep {
                        last_content = i + 1;
                    }
                    continue;
                }
                scalar = None;
            }
            if !is_content(l) {
                continue;
            }
            let n = indent_of(l);
            let at = *indent.get_or_insert(n);
            if n > at {
                last_content = i + 1;
                continue;
            }
            if n < at {
                break;
            }
            // A sequence written at its key's own indentation (`key:\n- a`)
            // is that key's value.
            let t = l.trim_start();
            if (t.starts_with("- ") || t == "-") && entries.last().is_some_and(|e| !e.inline) {
                last_content = i + 1;
                continue;
            }
            let Some((key, rest)) = key_of(l) else {
                return Err(format!(
                    "line {} is not a `key: value` entry of a block mapping",
                    i + 1
                ));
            };
            if let Some(prev) = entries.last_mut() {
                prev.end = last_content;
            }
            let rest = rest.trim();
            let value = rest.split(" #").next().unwrap_or(rest).trim();
            if value.starts_with(['|', '>']) {
                scalar = Some((n, value.contains('+')));
            }
            entries.push(Entry {
                key,
                line: i,
                end: i + 1,
                inline: !rest.is_empty() && !rest.starts_with('#'),
            });
            last_content = i + 1;
        }
        if let Some(prev) = entries.last_mut() {
            prev.end = last_content;
        }
        Ok(Block { indent, entries })
    }

    /// The lines of `key: value` at `indent`, as the export writes them.
    fn render(&self, key: &str, value: &Value, indent: usize) -> Vec<String> {
        let text = document(&[(key.to_string(), Node::from(value))]);
        let pad = " ".repeat(indent);
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    self.eol.to_string()
                } else {
                    format!("{pad}{l}{}", self.eol)
                }
            })
            .collect()
    }

    /// The first of the comment lines at `indent` right above line `at`
    /// (no blank line between): they speak of that entry and go with it.
    fn comments_above(&self, at: usize, indent: usize) -> usize {
        let mut from = at;
        while from > 0 {
            let l = self.line(from - 1);
            if l.trim_start().starts_with('#') && indent_of(l) == indent {
                from -= 1;
            } else {
                break;
            }
        }
        from
    }

    /// Sets (`Some`) or removes (`None`) the value at `path` inside the
    /// document whose root starts on `doc_line`. Mappings on the way are
    /// made when missing and removed when the removal leaves them empty.
    pub fn set(
        &mut self,
        doc_line: usize,
        path: &[&str],
        value: Option<&Value>,
    ) -> Result<(), String> {
        let (start, end) = self.document(doc_line);
        self.set_in(start, end, None, path, value)
    }

    fn set_in(
        &mut self,
        start: usize,
        end: usize,
        parent_indent: Option<usize>,
        path: &[&str],
        value: Option<&Value>,
    ) -> Result<(), String> {
        let Some((&first, rest)) = path.split_first() else {
            return Ok(());
        };
        let block = self.block(start, end)?;
        let indent = block
            .indent
            .unwrap_or_else(|| parent_indent.map_or(0, |p| p + 2));
        let found = block.entries.iter().find(|e| e.key == first).cloned();
        let at_end = block.entries.last().map_or(start, |e| e.end);
        match (found, value) {
            (None, None) => Ok(()),
            (None, Some(v)) => {
                // A new entry at the end of the block, nested as the path says:
                // the mappings on the way in block style, so that later edits
                // can enter them.
                // Nested as deep as this block is within its parent.
                let step = match parent_indent {
                    Some(p) if indent > p => indent - p,
                    _ => 2,
                };
                let (leaf, parents) = path.split_last().expect("a path");
                let mut new: Vec<String> = parents
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        format!("{}{}:{}", " ".repeat(indent + step * i), key_text(k), self.eol)
                    })
                    .collect();
                new.extend(self.render(leaf, v, indent + step * parents.len()));
                // A last line without its line break gets one first.
                if at_end > 0 && !self.lines[at_end - 1].ends_with('\n') {
                    self.lines[at_end - 1].push_str(self.eol);
                }
                self.lines.splice(at_end..at_end, new);
                Ok(())
            }
            (Some(e), Some(v)) if rest.is_empty() => {
                let new = self.render(first, v, indent);
                self.lines.splice(e.line..e.end, new);
                Ok(())
            }
            (Some(e), None) if rest.is_empty() => {
                let from = self.comments_above(e.line, indent).max(start);
                self.lines.drain(from..e.end);
                Ok(())
            }
            (Some(e), _) if e.inline => Err(format!(
                "line {}: `{first}` is written on one line (flow style); write it as a block mapping for ampx to edit it",
                e.line + 1
            )),
            (Some(e), v) => {
                let before = self.lines.len();
                self.set_in(e.line + 1, e.end, Some(indent), rest, v)?;
                let end = (e.end + self.lines.len()).saturating_sub(before);
                // A mapping the removal emptied goes too, with its comments.
                if (e.line + 1..end).all(|i| !is_content(self.line(i))) {
                    let from = self.comments_above(e.line, indent).max(start);
                    self.lines.drain(from..end);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit(text: &str, path: &[&str], value: Option<Value>) -> String {
        let mut l = Lines::new(text);
        l.set(1, path, value.as_ref()).unwrap();
        l.text()
    }

    #[test]
    fn a_value_is_replaced_on_its_own_lines_only() {
        let text = "key: a # the key\n# about rollout\nrolloutPercentage: 10   # ten\nname: A\n";
        assert_eq!(
            edit(text, &["rolloutPercentage"], Some(json!(20))),
            "key: a # the key\n# about rollout\nrolloutPercentage: 20\nname: A\n"
        );
    }

    #[test]
    fn missing_mappings_are_made_and_emptied_ones_removed() {
        let text = "key: a\nname: A\n";
        let added = edit(
            text,
            &["environments", "prod", "rolloutPercentage"],
            Some(json!(10)),
        );
        assert_eq!(
            added,
            "key: a\nname: A\nenvironments:\n  prod:\n    rolloutPercentage: 10\n"
        );
        let removed = edit(&added, &["environments", "prod", "rolloutPercentage"], None);
        assert_eq!(removed, text);
    }

    #[test]
    fn siblings_comments_and_other_documents_stay_byte_for_byte() {
        let text = "key: a\nenvironments:\n    # staging runs ahead\n    staging:\n        rolloutPercentage: 100\n    prod:\n        rolloutPercentage: 5  # careful\n        enabled: true\n---\nkey: b\nenvironments:\n  prod:\n    rolloutPercentage: 5\n";
        let out = edit(text, &["environments", "prod", "rolloutPercentage"], None);
        assert_eq!(
            out,
            "key: a\nenvironments:\n    # staging runs ahead\n    staging:\n        rolloutPercentage: 100\n    prod:\n        enabled: true\n---\nkey: b\nenvironments:\n  prod:\n    rolloutPercentage: 5\n"
        );
        let out = edit(&out, &["environments", "prod", "enabled"], None);
        assert_eq!(
            out,
            "key: a\nenvironments:\n    # staging runs ahead\n    staging:\n        rolloutPercentage: 100\n---\nkey: b\nenvironments:\n  prod:\n    rolloutPercentage: 5\n"
        );
        let out = edit(
            &out,
            &["environments", "prod", "rolloutPercentage"],
            Some(json!(7)),
        );
        assert!(out.starts_with("key: a\nenvironments:\n    # staging runs ahead\n    staging:\n        rolloutPercentage: 100\n    prod:\n        rolloutPercentage: 7\n---\n"), "{out}");
    }

    #[test]
    fn values_are_written_so_that_they_read_back_the_same() {
        let out = edit(
            "key: a\n",
            &["environments", "prod", "variants"],
            Some(json!([{"key": "on", "payload": {"text": "yes", "n": "10"}}])),
        );
        assert_eq!(
            out,
            "key: a\nenvironments:\n  prod:\n    variants:\n      - key: \"on\"\n        payload: { text: \"yes\", \"n\": \"10\" }\n"
        );
    }

    #[test]
    fn flow_style_that_must_be_entered_is_refused_with_its_line() {
        let mut l = Lines::new("key: a\nenvironments: {prod: {rolloutPercentage: 5}}\n");
        let err = l
            .set(
                1,
                &["environments", "prod", "rolloutPercentage"],
                Some(&json!(7)),
            )
            .unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn block_scalars_and_sequences_at_the_keys_indentation_stay_whole() {
        // A `#` line and a kept blank line inside a block scalar are the
        // scalar's: replacing it replaces them too.
        let text = "key: a\ndescription: |+\n  Text\n  # not a comment\n\nname: A\n";
        assert_eq!(
            edit(text, &["description"], Some(json!("New"))),
            "key: a\ndescription: New\nname: A\n"
        );
        // A sequence at its key's own indentation is that key's value.
        let text = "key: a\nonlyIn:\n- dev\n- staging\nname: A\n";
        assert_eq!(
            edit(text, &["onlyIn"], Some(json!(["dev", "staging", "prod"]))),
            "key: a\nonlyIn: [dev, staging, prod]\nname: A\n"
        );
    }

    #[test]
    fn a_last_line_without_its_line_break_is_not_joined() {
        let out = edit(
            "key: a\ndescription: |\n  Some text",
            &["onlyIn"],
            Some(json!(["prod"])),
        );
        assert_eq!(out, "key: a\ndescription: |\n  Some text\nonlyIn: [prod]\n");
    }

    #[test]
    fn a_removal_never_takes_lines_above_its_document() {
        let text = "# about b\nkey: b\n";
        let mut l = Lines::new("key: a\n---\n# about b\nonlyIn: [dev]\nkey: b\n");
        // The document's root starts on line 4 (`onlyIn`); its comment above
        // is the document's header, before the root: it stays.
        l.set(4, &["onlyIn"], None).unwrap();
        assert_eq!(l.text(), format!("key: a\n---\n{text}"));
    }

    #[test]
    fn crlf_files_keep_their_line_endings() {
        let out = edit("key: a\r\nname: A\r\n", &["onlyIn"], Some(json!(["prod"])));
        assert_eq!(out, "key: a\r\nname: A\r\nonlyIn: [prod]\r\n");
    }
}
