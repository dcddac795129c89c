//! Code references: where the flag and experiment keys that the manifests
//! declare appear in source code, which declared keys appear nowhere, which
//! SDK calls ask for a key that no manifest declares, and which archived
//! objects code still asks for.
//!
//! A key is found as a whole token (not inside a longer identifier), in the
//! form it is written and in its camelCase, PascalCase, snake_case,
//! SCREAMING_SNAKE_CASE and kebab-case forms. Source trees are walked as git
//! sees them (`.gitignore`, `.ignore` and git's excludes honoured, hidden
//! files skipped), on every core; binary files are skipped. Each file is
//! read once: a line is looked at only when it holds a key form or an SDK
//! call, and every text taken from a file is made printable before it is
//! kept.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aho_corasick::AhoCorasick;
use grep_matcher::{Captures, LineTerminator, Match, Matcher, NoCaptures, NoError};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};
use serde::Serialize;

/// The placeholder a `--pattern` or `--call` regex writes for the key.
pub const PLACEHOLDER: &str = "{key}";

/// What `{key}` stands for: a key as flags are usually named (letters,
/// digits, `_`, `-` and `.`).
const KEY_TEXT: &str = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*";

/// The SDK calls whose first argument, a quoted key, must name a declared
/// flag or experiment: the Experiment client SDKs' `variant(KEY)` and
/// `exposure(KEY)`, and the `getVariant(KEY)` and `isEnabled(KEY)` that
/// wrappers around them commonly offer. On one line, the key in `"`, `'`
/// or `` ` ``.
pub const DEFAULT_CALLS: &[&str] = &[
    r#"(?-u:\b)variant\(\s*["'`]{key}["'`]"#,
    r#"(?-u:\b)exposure\(\s*["'`]{key}["'`]"#,
    r#"(?-u:\b)getVariant\(\s*["'`]{key}["'`]"#,
    r#"(?-u:\b)isEnabled\(\s*["'`]{key}["'`]"#,
];

/// Key forms up to which the line finder is a DFA (a few MB for 20,000).
const MAX_DFA_FORMS: usize = 20_000;

/// Source lines are shown cut to about this many characters around the key.
pub const EXCERPT_CHARS: usize = 120;

/// A form a key is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Form {
    /// As the manifest writes it.
    #[serde(rename = "written")]
    Written,
    #[serde(rename = "camelCase")]
    CamelCase,
    #[serde(rename = "PascalCase")]
    PascalCase,
    #[serde(rename = "snake_case")]
    SnakeCase,
    #[serde(rename = "SCREAMING_SNAKE_CASE")]
    ScreamingSnakeCase,
    #[serde(rename = "kebab-case")]
    KebabCase,
}

/// The words of a key: split at every character that is not a letter or a
/// digit, and where a lower-case letter or digit meets an upper-case one
/// (`checkoutRedesign`) or an acronym meets a word (`HTTPServer`); lower
/// case.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (before, c) = (chars[i - 1], chars[i]);
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if c.is_uppercase()
                && (before.is_lowercase()
                    || before.is_numeric()
                    || (before.is_uppercase() && next_lower))
            {
                out.push(chars[start..i].iter().collect::<String>());
                start = i;
            }
        }
        if start < chars.len() {
            out.push(chars[start..].iter().collect::<String>());
        }
    }
    out.into_iter().map(|w| w.to_lowercase()).collect()
}

/// The forms of `key` that are searched for, each once, the written form
/// first: `checkout-redesign` is also `checkoutRedesign`,
/// `CheckoutRedesign`, `checkout_redesign` and `CHECKOUT_REDESIGN`.
pub fn forms(key: &str) -> Vec<(Form, String)> {
    let mut out = vec![(Form::Written, key.to_string())];
    let words = words(key);
    if words.is_empty() {
        return out;
    }
    let capital = |w: &str| {
        let mut cs = w.chars();
        cs.next()
            .map(|f| f.to_uppercase().chain(cs).collect::<String>())
            .unwrap_or_default()
    };
    let camel = words[0].clone() + &words[1..].iter().map(|w| capital(w)).collect::<String>();
    let pascal: String = words.iter().map(|w| capital(w)).collect();
    let snake = words.join("_");
    for (form, text) in [
        (Form::CamelCase, camel),
        (Form::PascalCase, pascal),
        (Form::ScreamingSnakeCase, snake.to_uppercase()),
        (Form::SnakeCase, snake),
        (Form::KebabCase, words.join("-")),
    ] {
        if !out.iter().any(|(_, t)| *t == text) {
            out.push((form, text));
        }
    }
    out
}

/// Every form of every key, and which keys each form stands for. A text
/// that is one key's written form stands for that key only, even when it is
/// also another key's alias (`checkout_redesign` declared beside
/// `checkout-redesign`).
struct Forms {
    texts: Vec<String>,
    owners: Vec<Vec<(usize, Form)>>,
    index: HashMap<String, usize>,
}

impl Forms {
    fn new(keys: &[String]) -> Forms {
        let mut forms = Forms {
            texts: Vec::new(),
            owners: Vec::new(),
            index: HashMap::new(),
        };
        let all: Vec<Vec<(Form, String)>> = keys.iter().map(|k| self::forms(k)).collect();
        for written in [true, false] {
            for (k, list) in all.iter().enumerate() {
                for (form, text) in list {
                    if (*form == Form::Written) != written {
                        continue;
                    }
                    match forms.index.get(text) {
                        Some(&i) => {
                            let owners = &mut forms.owners[i];
                            let taken = owners.iter().any(|(_, f)| *f == Form::Written);
                            if written || !taken {
                                owners.push((k, *form));
                            }
                        }
                        None => {
                            forms.index.insert(text.clone(), forms.texts.len());
                            forms.texts.push(text.clone());
                            forms.owners.push(vec![(k, *form)]);
                        }
                    }
                }
            }
        }
        forms
    }
}

/// `regex` with its one `{key}` made a capture group named `key`.
/// `what` names the option in errors (`--call `…``).
fn with_placeholder(regex: &str, what: &str) -> Result<String, String> {
    match regex.matches(PLACEHOLDER).count() {
        1 => Ok(regex.replace(PLACEHOLDER, &format!("(?P<key>{KEY_TEXT})"))),
        0 => Err(format!("{what}: no {PLACEHOLDER} where the key stands")),
        _ => Err(format!("{what}: more than one {PLACEHOLDER}")),
    }
}

/// A regex with a `{key}` capture, compiled.
#[derive(Clone)]
struct KeyRegex {
    matcher: RegexMatcher,
    key: usize,
}

impl KeyRegex {
    fn new(regex: &str, what: &str) -> Result<KeyRegex, String> {
        let full = with_placeholder(regex, what)?;
        let matcher = RegexMatcherBuilder::new()
            .build(&full)
            .map_err(|e| format!("{what}: {e}"))?;
        let key = matcher
            .capture_index("key")
            .ok_or_else(|| format!("{what}: no key capture"))?;
        Ok(KeyRegex { matcher, key })
    }

    /// Each key this regex captures on `line`, with its byte range.
    fn each(&self, line: &[u8], mut f: impl FnMut(usize, usize)) {
        let Ok(mut caps) = self.matcher.new_captures() else {
            return;
        };
        let _ = self.matcher.captures_iter(line, &mut caps, |c| {
            if let Some(m) = c.get(self.key) {
                f(m.start(), m.end());
            }
            true
        });
    }
}

/// What to search, and where.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Directories (or files) of source code.
    pub src: Vec<PathBuf>,
    /// The declared keys whose references are counted.
    pub keys: Vec<String>,
    /// Keys that an SDK call may name without being undeclared: the other
    /// keys the manifests name (experiments a group lists).
    pub known: Vec<String>,
    /// `(EXT, REGEX)`: in files ending `.EXT`, a key counts only where
    /// REGEX matches with the key (one of its forms) at `{key}`.
    pub patterns: Vec<(String, String)>,
    /// Regexes with `{key}`, each an SDK call whose key must be declared.
    pub calls: Vec<String>,
    /// Files not to search (the manifests themselves).
    pub exclude: Vec<PathBuf>,
    /// Threads for the walk and the search; 0 for one per core.
    pub threads: usize,
}

/// One line that references a declared key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u64,
    /// 1-based, in bytes.
    pub column: usize,
    /// The text found: the key in one of its forms.
    #[serde(rename = "as")]
    pub found: String,
    /// Which form (not for an undeclared key's call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// The source line, trimmed, cut to about [`EXCERPT_CHARS`] characters
    /// around the key and made printable.
    pub text: String,
}

/// A reference to a declared key.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Index into [`Config::keys`].
    pub key: usize,
    pub at: Location,
}

/// An SDK call that names a key no manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// The key, made printable.
    pub key: String,
    pub at: Location,
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Files searched (binary ones included).
    pub files: u64,
    /// Bytes read from them.
    pub bytes: u64,
    /// Binary files, whose references are not counted.
    pub binary: u64,
    /// Paths that could not be walked or read, with why (printable).
    pub errors: Vec<String>,
    /// Every reference, by key, then file and line.
    pub references: Vec<Reference>,
    /// Every call to an undeclared key, by key, then file and line.
    pub undeclared: Vec<Call>,
}

/// Finds the lines worth looking at: those with a key form (one
/// Aho-Corasick automaton for all of them, however many keys) or an SDK
/// call on them.
struct Prefilter {
    /// Leftmost-first, which lets it use SIMD prefilters (Teddy).
    forms: AhoCorasick,
    calls: Option<RegexMatcher>,
}

impl Matcher for Prefilter {
    type Captures = NoCaptures;
    type Error = NoError;

    fn find_at(&self, haystack: &[u8], at: usize) -> Result<Option<Match>, NoError> {
        let input = aho_corasick::Input::new(haystack).range(at..);
        let form = self
            .forms
            .find(input)
            .map(|m| Match::new(m.start(), m.end()));
        let Some(calls) = &self.calls else {
            return Ok(form);
        };
        // A call matters only when it comes before the form's line ends:
        // look no further, so that a file with many forms and no call is
        // not searched for calls again from each form on.
        let end = match form {
            Some(m) => haystack[m.end()..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(haystack.len(), |i| m.end() + i),
            None => haystack.len(),
        };
        let call = calls.find_at(&haystack[..end], at).ok().flatten();
        Ok(match (form, call) {
            (Some(f), Some(c)) if c.start() < f.start() => Some(c),
            (Some(f), _) => Some(f),
            (None, c) => c,
        })
    }

    fn new_captures(&self) -> Result<NoCaptures, NoError> {
        Ok(NoCaptures::new())
    }

    fn line_terminator(&self) -> Option<LineTerminator> {
        // Neither a key (no control character) nor a call (built with the
        // line terminator) matches across lines.
        Some(LineTerminator::byte(b'\n'))
    }
}

/// Everything a thread needs, built once.
struct Shared {
    forms: Forms,
    /// Finds every form on a line, overlaps included.
    finder: AhoCorasick,
    prefilter: Prefilter,
    /// By extension.
    patterns: HashMap<String, Vec<KeyRegex>>,
    calls: Vec<KeyRegex>,
    declared: HashSet<String>,
    exclude: HashSet<PathBuf>,
    done: Mutex<Vec<Scan>>,
}

/// Searches the source trees.
pub fn scan(config: &Config) -> Result<Scan, String> {
    let forms = Forms::new(&config.keys);
    let finder = AhoCorasick::new(&forms.texts).map_err(|e| format!("the key forms: {e}"))?;
    // A DFA searches fastest; its memory grows with the forms' bytes, so
    // past some thousands of keys the automaton picks its own kind.
    let dfa = forms.texts.len() <= MAX_DFA_FORMS;
    let any_form = AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .kind(dfa.then_some(aho_corasick::AhoCorasickKind::DFA))
        .build(&forms.texts)
        .map_err(|e| format!("the key forms: {e}"))?;
    let calls = config
        .calls
        .iter()
        .map(|c| KeyRegex::new(c, &format!("--call `{c}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut patterns: HashMap<String, Vec<KeyRegex>> = HashMap::new();
    for (ext, regex) in &config.patterns {
        let ext = ext.trim_start_matches('.').to_string();
        patterns
            .entry(ext.clone())
            .or_default()
            .push(KeyRegex::new(regex, &format!("--pattern `{ext}={regex}`"))?);
    }
    let mut any_call = Vec::new();
    for c in &config.calls {
        any_call.push(with_placeholder(c, &format!("--call `{c}`"))?.replace("(?P<key>", "(?:"));
    }
    let prefilter = Prefilter {
        forms: any_form,
        calls: match any_call.is_empty() {
            true => None,
            false => Some(
                RegexMatcherBuilder::new()
                    .line_terminator(Some(b'\n'))
                    .build_many(&any_call)
                    .map_err(|e| format!("--call: {e}"))?,
            ),
        },
    };
    let exclude = excluded(&config.src, &config.exclude);
    let shared = Arc::new(Shared {
        forms,
        finder,
        prefilter,
        patterns,
        calls,
        declared: config.keys.iter().chain(&config.known).cloned().collect(),
        exclude,
        done: Mutex::new(Vec::new()),
    });
    let Some((first, rest)) = config.src.split_first() else {
        return Ok(Scan::default());
    };
    let mut walk = WalkBuilder::new(first);
    for p in rest {
        walk.add(p);
    }
    // .gitignore counts whether or not the tree is a git checkout.
    walk.require_git(false).threads(config.threads);
    walk.build_parallel().visit(&mut Builder(shared.clone()));
    let parts = std::mem::take(&mut *shared.done.lock().unwrap_or_else(|e| e.into_inner()));
    let mut total = Scan::default();
    for p in parts {
        total.files += p.files;
        total.bytes += p.bytes;
        total.binary += p.binary;
        total.errors.extend(p.errors);
        total.references.extend(p.references);
        total.undeclared.extend(p.undeclared);
    }
    total.errors.sort();
    total
        .references
        .sort_by(|a, b| (a.key, &a.at).cmp(&(b.key, &b.at)));
    total.undeclared.sort();
    Ok(total)
}

/// The manifests' paths as the walk will name them: each one under a
/// source root, spelled from that root.
fn excluded(roots: &[PathBuf], files: &[PathBuf]) -> HashSet<PathBuf> {
    let files: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| std::fs::canonicalize(f).ok())
        .collect();
    let mut out = HashSet::new();
    for root in roots {
        let Ok(real) = std::fs::canonicalize(root) else {
            continue;
        };
        for f in &files {
            if f == &real {
                out.insert(root.clone());
            } else if let Ok(rel) = f.strip_prefix(&real) {
                out.insert(root.join(rel));
            }
        }
    }
    out
}

struct Builder(Arc<Shared>);

impl<'s> ParallelVisitorBuilder<'s> for Builder {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            shared: self.0.clone(),
            searcher: SearcherBuilder::new()
                .binary_detection(BinaryDetection::quit(b'\x00'))
                .line_terminator(LineTerminator::byte(b'\n'))
                .line_number(true)
                .build(),
            scan: Scan::default(),
        })
    }
}

/// One thread's walk: what it found goes to [`Shared::done`] when the
/// thread is done.
struct Visitor {
    shared: Arc<Shared>,
    searcher: Searcher,
    scan: Scan,
}

impl Drop for Visitor {
    fn drop(&mut self) {
        let scan = std::mem::take(&mut self.scan);
        self.shared
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scan);
    }
}

impl ParallelVisitor for Visitor {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                self.scan.errors.push(printable(&e.to_string()));
                return WalkState::Continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            return WalkState::Continue;
        }
        let path = entry.path();
        if !self.shared.exclude.is_empty() && self.shared.exclude.contains(path) {
            return WalkState::Continue;
        }
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.scan
                    .errors
                    .push(printable(&format!("{}: {e}", path.display())));
                return WalkState::Continue;
            }
        };
        let shared = &*self.shared;
        let patterns = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|e| shared.patterns.get(e))
            .map(Vec::as_slice);
        let mut sink = FileSink {
            shared,
            patterns,
            path,
            name: None,
            references: Vec::new(),
            undeclared: Vec::new(),
            binary: false,
        };
        let mut reader = Counted { inner: file, n: 0 };
        let searched = self
            .searcher
            .search_reader(&shared.prefilter, &mut reader, &mut sink);
        self.scan.files += 1;
        self.scan.bytes += reader.n;
        if let Err(e) = searched {
            self.scan
                .errors
                .push(printable(&format!("{}: {e}", path.display())));
        } else if sink.binary {
            self.scan.binary += 1;
        } else {
            self.scan.references.append(&mut sink.references);
            self.scan.undeclared.append(&mut sink.undeclared);
        }
        WalkState::Continue
    }
}

/// A reader that counts the bytes it reads.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// The lines of one file that the prefilter let through.
struct FileSink<'a> {
    shared: &'a Shared,
    patterns: Option<&'a [KeyRegex]>,
    path: &'a Path,
    /// The path as shown, made on the first find.
    name: Option<String>,
    references: Vec<Reference>,
    undeclared: Vec<Call>,
    binary: bool,
}

impl FileSink<'_> {
    fn name(&mut self) -> String {
        self.name
            .get_or_insert_with(|| printable(&self.path.display().to_string()))
            .clone()
    }

    fn location(
        &mut self,
        line: &[u8],
        number: u64,
        range: (usize, usize),
        form: Option<Form>,
    ) -> Location {
        Location {
            file: self.name(),
            line: number,
            column: range.0 + 1,
            found: printable(&String::from_utf8_lossy(&line[range.0..range.1])),
            form,
            text: excerpt(line, range.0, range.1),
        }
    }

    fn line(&mut self, line: &[u8], number: u64) {
        let shared = self.shared;
        // (form, start, end) of each form found.
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        match self.patterns {
            Some(patterns) => {
                for p in patterns {
                    p.each(line, |s, e| {
                        let text = String::from_utf8_lossy(&line[s..e]);
                        if let Some(&i) = shared.forms.index.get(text.as_ref()) {
                            found.push((i, s, e));
                        }
                    });
                }
            }
            None => {
                for m in shared.finder.find_overlapping_iter(line) {
                    if standalone(line, m.start(), m.end()) {
                        found.push((m.pattern().as_usize(), m.start(), m.end()));
                    }
                }
            }
        }
        let mut seen: HashSet<usize> = HashSet::new();
        found.sort_by_key(|&(_, s, _)| s);
        for (i, s, e) in found {
            for &(key, form) in &shared.forms.owners[i] {
                if seen.insert(key) {
                    let at = self.location(line, number, (s, e), Some(form));
                    self.references.push(Reference { key, at });
                }
            }
        }
        let mut named: HashSet<Vec<u8>> = HashSet::new();
        for call in &shared.calls {
            let mut hits = Vec::new();
            call.each(line, |s, e| hits.push((s, e)));
            for (s, e) in hits {
                let key = &line[s..e];
                let text = String::from_utf8_lossy(key);
                if shared.declared.contains(text.as_ref()) || !named.insert(key.to_vec()) {
                    continue;
                }
                let at = self.location(line, number, (s, e), None);
                self.undeclared.push(Call {
                    key: at.found.clone(),
                    at,
                });
            }
        }
    }
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        for (number, line) in (mat.line_number().unwrap_or(0)..).zip(mat.lines()) {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.line(line, number);
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// The character that ends just before byte `at` of `line` (`None` at the
/// start, or where the bytes are no UTF-8).
fn char_before(line: &[u8], at: usize) -> Option<char> {
    (1..=4.min(at)).find_map(|n| {
        std::str::from_utf8(&line[at - n..at])
            .ok()
            .and_then(|s| s.chars().next())
    })
}

/// The character that starts at byte `at` of `line`.
fn char_at(line: &[u8], at: usize) -> Option<char> {
    (1..=4.min(line.len().saturating_sub(at))).find_map(|n| {
        std::str::from_utf8(&line[at..at + n])
            .ok()
            .and_then(|s| s.chars().next())
    })
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `line[start..end]` stands alone, not inside a longer identifier:
/// no letter, digit or `_` touches it, nor a `-` that goes on with one
/// (`my-checkout`, `checkout-v2`).
fn standalone(line: &[u8], start: usize, end: usize) -> bool {
    let before = char_before(line, start);
    let after = char_at(line, end);
    let joined = |c: Option<char>, next: Option<char>| match c {
        Some(c) if word_char(c) => true,
        Some('-') => next.is_some_and(word_char),
        _ => false,
    };
    let before_next = start.checked_sub(1).and_then(|s| char_before(line, s));
    let after_next = char_at(line, end + 1);
    !joined(before, before_next) && !joined(after, after_next)
}

/// Text from a scanned file as it may be shown: tabs as spaces, control
/// characters as their visible symbols (`␛`), and characters that reorder
/// or hide text (bidirectional overrides, zero-width spaces, line
/// separators) as `�`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' => ' ',
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                '\u{fffd}'
            }
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// `line` trimmed and made printable; when longer than [`EXCERPT_CHARS`],
/// cut around `line[start..end]` with `…` where it was cut.
fn excerpt(line: &[u8], start: usize, end: usize) -> String {
    let before = String::from_utf8_lossy(&line[..start]);
    let middle = printable(&String::from_utf8_lossy(&line[start..end]));
    let after = String::from_utf8_lossy(&line[end..]);
    let before: Vec<char> = printable(before.trim_start()).chars().collect();
    let after: Vec<char> = printable(after.trim_end()).chars().collect();
    let m = middle.chars().count();
    if before.len() + m + after.len() <= EXCERPT_CHARS {
        return before.iter().collect::<String>() + &middle + &after.iter().collect::<String>();
    }
    let room = EXCERPT_CHARS.saturating_sub(m);
    let keep_before = before
        .len()
        .min(room / 2)
        .max(room.saturating_sub(after.len()));
    let keep_before = keep_before.min(before.len());
    let keep_after = after.len().min(room.saturating_sub(keep_before));
    let mut out = String::new();
    if keep_before < before.len() {
        out.push('…');
    }
    out.extend(&before[before.len() - keep_before..]);
    out.push_str(&middle);
    out.extend(&after[..keep_after]);
    if keep_after < after.len() {
        out.push('…');
    }
    out
}

// ----- the report -----

/// A key the manifests declare, as the report shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Declared {
    pub key: String,
    /// `flag` or `experiment`.
    pub kind: &'static str,
    /// `file:line` of its manifest.
    pub declared_at: String,
    /// Whether its manifest says `archived: true` (in at least one
    /// environment).
    pub archived: bool,
    /// With several environments: those it is archived in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archived_in: Vec<String>,
}

/// One declared key and the lines that reference it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReport {
    #[serde(flatten)]
    pub declared: Declared,
    /// Lines that reference it.
    pub references: usize,
    /// The first of them, by file and line.
    pub locations: Vec<Location>,
}

/// An undeclared key and the calls that name it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Undeclared {
    pub key: String,
    pub references: usize,
    pub locations: Vec<Location>,
    /// The declared key it may be a misspelling or another form of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
}

/// How much was searched.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scanned {
    pub files: u64,
    pub bytes: u64,
    pub binary_files_skipped: u64,
    pub unreadable: usize,
}

/// The counts of each finding.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub keys: usize,
    pub referenced: usize,
    pub unreferenced: usize,
    pub undeclared: usize,
    pub archived_referenced: usize,
}

/// The report of `ampx refs`; `--format json` prints it as it is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub version: u32,
    pub src: Vec<String>,
    pub scanned: Scanned,
    /// Every declared key, in key order, referenced or not.
    pub keys: Vec<KeyReport>,
    /// Declared keys that no line references.
    pub unreferenced: Vec<String>,
    /// Keys SDK calls ask for that no manifest declares.
    pub undeclared: Vec<Undeclared>,
    /// Keys whose manifest says `archived: true` that lines still reference.
    pub archived_referenced: Vec<String>,
    pub summary: Summary,
}

/// The report: `declared` in the order of [`Config::keys`]; at most
/// `locations` locations each (0: all).
pub fn report(src: &[PathBuf], declared: Vec<Declared>, scan: &Scan, locations: usize) -> Report {
    let mut per_key: Vec<(usize, Vec<Location>)> = vec![(0, Vec::new()); declared.len()];
    for r in &scan.references {
        let (n, list) = &mut per_key[r.key];
        *n += 1;
        if locations == 0 || list.len() < locations {
            list.push(r.at.clone());
        }
    }
    let mut keys: Vec<KeyReport> = declared
        .into_iter()
        .zip(per_key)
        .map(|(declared, (references, locations))| KeyReport {
            declared,
            references,
            locations,
        })
        .collect();
    keys.sort_by(|a, b| a.declared.key.cmp(&b.declared.key));
    let names: Vec<&str> = keys.iter().map(|k| k.declared.key.as_str()).collect();
    let mut undeclared: BTreeMap<&str, Undeclared> = BTreeMap::new();
    for c in &scan.undeclared {
        let u = undeclared.entry(&c.key).or_insert_with(|| Undeclared {
            key: c.key.clone(),
            references: 0,
            locations: Vec::new(),
            did_you_mean: alias_of(&c.key, &names)
                .or_else(|| crate::manifest::nearest(&c.key, &names))
                .map(str::to_string),
        });
        u.references += 1;
        if locations == 0 || u.locations.len() < locations {
            u.locations.push(c.at.clone());
        }
    }
    let unreferenced: Vec<String> = keys
        .iter()
        .filter(|k| k.references == 0)
        .map(|k| k.declared.key.clone())
        .collect();
    let archived_referenced: Vec<String> = keys
        .iter()
        .filter(|k| k.declared.archived && k.references > 0)
        .map(|k| k.declared.key.clone())
        .collect();
    let undeclared: Vec<Undeclared> = undeclared.into_values().collect();
    Report {
        version: 1,
        src: src
            .iter()
            .map(|p| printable(&p.display().to_string()))
            .collect(),
        scanned: Scanned {
            files: scan.files,
            bytes: scan.bytes,
            binary_files_skipped: scan.binary,
            unreadable: scan.errors.len(),
        },
        summary: Summary {
            keys: keys.len(),
            referenced: keys.len() - unreferenced.len(),
            unreferenced: unreferenced.len(),
            undeclared: undeclared.len(),
            archived_referenced: archived_referenced.len(),
        },
        keys,
        unreferenced,
        undeclared,
        archived_referenced,
    }
}

/// The declared key that `text` is another form of, if any.
fn alias_of<'a>(text: &str, keys: &[&'a str]) -> Option<&'a str> {
    keys.iter()
        .find(|k| forms(k).iter().any(|(_, f)| f == text))
        .copied()
}

/// `1.2 MB`, `340 kB`, `12 B`.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{} kB", n / 1_000),
        n => format!("{n} B"),
    }
}

/// The report as text.
pub fn text(r: &Report, manifests: &[String]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let shown = |l: &Location| {
        let alias = match l.form {
            Some(f) if f != Form::Written => format!(" (as {})", l.found),
            _ => String::new(),
        };
        format!("    {}:{}{alias}: {}\n", l.file, l.line, l.text)
    };
    let _ = writeln!(
        out,
        "Code references in {} (manifests: {}): {} file(s), {}{}\n",
        r.src.join(", "),
        manifests.join(", "),
        r.scanned.files,
        bytes(r.scanned.bytes),
        match r.scanned.binary_files_skipped {
            0 => String::new(),
            n => format!("; {n} binary file(s) skipped"),
        }
    );
    for k in &r.keys {
        let d = &k.declared;
        let archived = match (d.archived, d.archived_in.is_empty()) {
            (false, _) => String::new(),
            (true, true) => ", archived".into(),
            (true, false) => format!(", archived in {}", d.archived_in.join(", ")),
        };
        let _ = writeln!(
            out,
            "{} ({}{archived}): {}",
            d.key,
            d.kind,
            match k.references {
                0 => "no references".to_string(),
                1 => "1 reference".to_string(),
                n => format!("{n} references"),
            }
        );
        for l in &k.locations {
            out.push_str(&shown(l));
        }
        if k.references > k.locations.len() {
            let _ = writeln!(out, "    … and {} more", k.references - k.locations.len());
        }
    }
    if !r.unreferenced.is_empty() {
        let _ = writeln!(
            out,
            "\nUnreferenced ({}): declared, referenced nowhere:\n    {}",
            r.unreferenced.len(),
            r.unreferenced.join(", ")
        );
    }
    if !r.undeclared.is_empty() {
        let _ = writeln!(
            out,
            "\nUndeclared ({}): SDK calls ask for keys that no manifest declares:",
            r.undeclared.len()
        );
        for u in &r.undeclared {
            let hint = u
                .did_you_mean
                .as_ref()
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{hint}: {} call(s)", u.key, u.references);
            for l in &u.locations {
                out.push_str(&shown(l));
            }
            if u.references > u.locations.len() {
                let _ = writeln!(out, "    … and {} more", u.references - u.locations.len());
            }
        }
    }
    if !r.archived_referenced.is_empty() {
        let _ = writeln!(
            out,
            "\nArchived but still referenced ({}):",
            r.archived_referenced.len()
        );
        for key in &r.archived_referenced {
            if let Some(k) = r.keys.iter().find(|k| &k.declared.key == key) {
                let first = k
                    .locations
                    .first()
                    .map(|l| format!(", first at {}:{}", l.file, l.line))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {key} ({}, {}): {} reference(s){first}",
                    k.declared.kind, k.declared.declared_at, k.references
                );
            }
        }
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "\n{} key(s): {} referenced, {} unreferenced; {} undeclared; {} archived but still referenced.",
        s.keys, s.referenced, s.unreferenced, s.undeclared, s.archived_referenced
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_each_case_form_once() {
        let f: Vec<String> = forms("checkout-redesign")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            f,
            [
                "checkout-redesign",
                "checkoutRedesign",
                "CheckoutRedesign",
                "CHECKOUT_REDESIGN",
                "checkout_redesign"
            ]
        );
        let f: Vec<String> = forms("newHTTPServer_v2")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            f,
            [
                "newHTTPServer_v2",
                "newHttpServerV2",
                "NewHttpServerV2",
                "NEW_HTTP_SERVER_V2",
                "new_http_server_v2",
                "new-http-server-v2"
            ]
        );
        assert_eq!(forms("--").len(), 1);
    }

    #[test]
    fn a_key_inside_a_longer_identifier_is_not_a_reference() {
        let at = |line: &str, key: &str| {
            let s = line.find(key).unwrap();
            standalone(line.as_bytes(), s, s + key.len())
        };
        assert!(at("if (checkout) {", "checkout"));
        assert!(at("variant('checkout')", "checkout"));
        assert!(at("x = checkout - 1", "checkout"));
        assert!(!at("checkout_v2", "checkout"));
        assert!(!at("mycheckout", "checkout"));
        assert!(!at("checkout-v2", "checkout"));
        assert!(!at("new-checkout", "checkout"));
        assert!(!at("écheckout", "checkout"));
        assert!(at("«checkout»", "checkout"));
    }

    #[test]
    fn a_long_line_is_cut_around_the_key_and_made_printable() {
        let line = format!("{}\x1b[31m checkout {}", "a".repeat(200), "b".repeat(200));
        let s = line.find("checkout").unwrap();
        let e = excerpt(line.as_bytes(), s, s + 8);
        assert!(
            e.contains("checkout") && e.starts_with('…') && e.ends_with('…'),
            "{e}"
        );
        assert!(e.chars().count() <= EXCERPT_CHARS + 2, "{e}");
        assert!(!e.chars().any(|c| c.is_control()), "{e}");
        assert!(e.contains('␛'), "{e}");
        assert_eq!(printable("a\u{202e}b\tc"), "a\u{fffd}b c");
    }
}
