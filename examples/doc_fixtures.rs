//! The Management API docs' example answers, as test fixtures.
//!
//! ```sh
//! cargo run --example doc_fixtures -- /work/shared/reference/amplitude-docs tests/fixtures/api-docs
//! ```
//!
//! Reads every `*.md` page of the docs directory, finds each endpoint section
//! (a `## ` heading whose first fenced block is the request line,
//! `GET https://experiment.amplitude.com/api/1/flags/<id>`, giving the method
//! and the path pattern `/api/1/flags/{id}`), takes the section's example
//! answers (fenced blocks after its `### Response` heading that are neither a
//! curl command nor inside a tab or admonition named as a request; the docs
//! fence some JSON answers as ```bash), fills the placeholders, checks that
//! the result parses as JSON and writes one file per answer:
//! `<out>/<page-stem>/<section-slug>.json`, holding
//! `{"source": "<page> § <section>", "method", "path", "answer"}`. Write
//! answers (a create's `{"id", "url"}`) are kept too; sections whose answer is
//! the plain text `OK`, or not shown, are listed as skipped with the docs'
//! own words. The run is deterministic: the same docs give the same bytes,
//! and `*.json` files of a page directory that the run did not write are
//! removed (and listed), so one command re-checks a newer docs snapshot.
//! Each request line is also checked against the section's curl example
//! (method and path); a disagreement is printed as a note.
//!
//! Near-duplicate pages: the docs hold each group page twice.
//! `experiment-management-api-mutexs.md` and
//! `experiment-management-api-holdouts.md` are the ones used (the overview
//! page links to them and they carry the published `source:` address);
//! `-mutex-endpoints.md` and `-holdout-group-endpoints.md` are read, compared
//! with them, and skipped, with the comparison printed.
//!
//! Placeholders are filled as one real project would show them, so that the
//! fixtures agree with each other (the mutex example's slot names experiment
//! 123 and holdout 456; the flag and experiment `parentDependencies` name
//! group `"12345"`; the deployment list has `deployment-1`, deleted, and
//! `deployment-2`, active). Where a value depends on the endpoint, the
//! endpoint is told by its path:
//!
//! | placeholder | value |
//! | --- | --- |
//! | `<projectId>` | `100001` |
//! | `<id>` in `/api/1/flags…` and `/api/1/versions` (its example is flag `flag-key`) | `1001` |
//! | `<id>` in `/api/1/experiments…` | `123` |
//! | `<id>` in `/api/1/mutexes…` | `12345` |
//! | `<id>`, `<holdoutId>` in `/api/1/holdouts…` | `456` |
//! | `<id>` in `/api/1/deployments`, in list order | `3001`, `3002` |
//! | `<key>` in `/api/1/deployments`, in list order | `"client-3001-abcdefghij"`, `"client-3002-abcdefghij"` |
//! | `<id>`, `<key>` in `…/{id}/deployments` (a flag's or experiment's) | `3002`, `"client-3002-abcdefghij"` (the active deployment) |
//! | `<id>` in the answer of `POST /api/1/deployments` (a new deployment) | `3003` |
//! | `<deploymentId>` | `3002` |
//! | `<cursorId>` | `null` |
//! | `<bucketingSalt>` | `"mHdQDzeE"` (the salt the flag detail example shows) |
//! | `<userId>` | `"12345"` |
//! | `<user>@<your-company-email>`, `<createdBy>`, `<lastModifiedBy>` | `"user@example.com"` |
//!
//! A placeholder inside a JSON string (`"<id>"`, `".../config/<id>"`) gets
//! the value's text. A placeholder not in this table is an error for that
//! answer (listed as skipped), so that a newer docs snapshot cannot slip one
//! through.
//!
//! Beyond placeholders, two fixes, each printed where made:
//! - a document that does not parse is repaired minimally where the fault is
//!   one of two known kinds: an object member (`"nextCursor": null`) standing
//!   as the last element of a list is moved out, right after the list, into
//!   the enclosing object; a trailing comma before `}` or `]` is dropped;
//! - every non-null `nextCursor` is set to `null`: a server that answers the
//!   example verbatim ignores the cursor, so a client following it would be
//!   answered the same page forever.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

/// Pages that repeat another page: (the duplicate, the page used).
const DUPLICATES: &[(&str, &str)] = &[
    (
        "experiment-management-api-mutex-endpoints.md",
        "experiment-management-api-mutexs.md",
    ),
    (
        "experiment-management-api-holdout-group-endpoints.md",
        "experiment-management-api-holdouts.md",
    ),
];

const HOSTS: &[&str] = &[
    "https://experiment.amplitude.com",
    "https://experiment.eu.amplitude.com",
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One fenced block of a page.
#[derive(Debug, Clone)]
struct Block {
    line: usize,
    text: String,
    /// After the section's `### Response` heading.
    in_response: bool,
    /// The name of the tab or the heading of the admonition it stands in.
    container: Option<String>,
}

/// One `## ` section of a page.
#[derive(Debug, Clone, Default)]
struct Section {
    title: String,
    line: usize,
    blocks: Vec<Block>,
    /// The first paragraph line after `### Response`: what the docs say the
    /// answer is.
    response_words: Option<String>,
}

/// An endpoint section's request line.
#[derive(Debug, Clone, PartialEq)]
struct Endpoint {
    method: String,
    path: String,
}

/// One answer, ready to write.
#[derive(Debug, Clone)]
struct Fixture {
    file: String,
    source: String,
    method: String,
    path: String,
    answer: Value,
    fixes: Vec<String>,
}

/// What one page gave.
#[derive(Debug, Default)]
struct PageResult {
    fixtures: Vec<Fixture>,
    skipped: Vec<String>,
    notes: Vec<String>,
    endpoints: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [docs, out] = args.as_slice() else {
        eprintln!("usage: cargo run --example doc_fixtures -- DOCS_DIR OUT_DIR");
        return ExitCode::from(2);
    };
    match run(Path::new(docs), Path::new(out)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(docs: &Path, out: &Path) -> Result<String, String> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(docs)
        .map_err(|e| format!("cannot read {}: {e}", docs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    if pages.is_empty() {
        return Err(format!("no *.md page in {}", docs.display()));
    }
    let mut report = String::new();
    let mut results: BTreeMap<String, PageResult> = BTreeMap::new();
    for page in &pages {
        let name = file_name(page);
        let text = std::fs::read_to_string(page)
            .map_err(|e| format!("cannot read {}: {e}", page.display()))?;
        results.insert(name.clone(), read_page(&name, &text));
    }
    let (mut written, mut unchanged, mut removed, mut skipped) = (0, 0, 0, 0);
    for (name, result) in &results {
        let stem = name.trim_end_matches(".md");
        if let Some((_, used)) = DUPLICATES.iter().find(|(dup, _)| dup == name) {
            let _ = writeln!(
                report,
                "{name}: skipped, a near duplicate of {used}: {}",
                compare(result, results.get(*used))
            );
            continue;
        }
        if result.endpoints == 0 {
            let _ = writeln!(report, "{name}: skipped, no endpoint section");
            continue;
        }
        let _ = writeln!(
            report,
            "{name}: {} endpoint(s), {} answer(s)",
            result.endpoints,
            result.fixtures.len()
        );
        let dir = out.join(stem);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut files = BTreeSet::new();
        for f in &result.fixtures {
            let path = dir.join(&f.file);
            let body = fixture_text(f);
            let old = std::fs::read_to_string(&path).ok();
            let status = match old {
                Some(o) if o == body => {
                    unchanged += 1;
                    "unchanged"
                }
                Some(_) => {
                    written += 1;
                    "updated  "
                }
                None => {
                    written += 1;
                    "new      "
                }
            };
            if status != "unchanged" {
                std::fs::write(&path, &body)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            files.insert(f.file.clone());
            let _ = writeln!(
                report,
                "  {status} {stem}/{}  {} {}",
                f.file, f.method, f.path
            );
            for fix in &f.fixes {
                let _ = writeln!(report, "      fixed: {fix}");
            }
        }
        // Answers a former snapshot had and this one does not.
        let mut stale: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| !files.contains(&file_name(p)))
            .collect();
        stale.sort();
        for p in stale {
            std::fs::remove_file(&p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
            removed += 1;
            let _ = writeln!(
                report,
                "  removed   {stem}/{} (not in the docs any more)",
                file_name(&p)
            );
        }
        for s in &result.skipped {
            skipped += 1;
            let _ = writeln!(report, "  skipped   {s}");
        }
        for n in &result.notes {
            let _ = writeln!(report, "  note      {n}");
        }
    }
    let _ = writeln!(
        report,
        "{written} answer file(s) written, {unchanged} unchanged, {removed} removed, {skipped} section(s) without a JSON answer skipped; out: {}",
        out.display()
    );
    Ok(report)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A fixture file's text: pretty JSON, the answer's key order as the docs
/// give it, a final newline.
fn fixture_text(f: &Fixture) -> String {
    let mut m = serde_json::Map::new();
    m.insert("source".into(), Value::String(f.source.clone()));
    m.insert("method".into(), Value::String(f.method.clone()));
    m.insert("path".into(), Value::String(f.path.clone()));
    m.insert("answer".into(), f.answer.clone());
    let mut text = serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_default();
    text.push('\n');
    text
}

/// How a duplicate page's answers compare with the page used instead.
fn compare(dup: &PageResult, used: Option<&PageResult>) -> String {
    let Some(used) = used else {
        return "that page is missing, so nothing was compared".into();
    };
    let key = |f: &Fixture| (f.method.clone(), f.path.clone(), f.answer.clone());
    let a: Vec<_> = dup.fixtures.iter().map(key).collect();
    let b: Vec<_> = used.fixtures.iter().map(key).collect();
    if a == b {
        format!("its {} answer(s) are identical", a.len())
    } else {
        let differ: Vec<String> = dup
            .fixtures
            .iter()
            .filter(|f| !b.contains(&key(f)))
            .map(|f| format!("{} {}", f.method, f.path))
            .collect();
        format!(
            "its answers DIFFER ({} here, {} there; not matched: {})",
            a.len(),
            b.len(),
            if differ.is_empty() {
                "none, but the counts differ".into()
            } else {
                differ.join(", ")
            }
        )
    }
}

// ----- reading a page -----

fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut lines = text.lines().enumerate();
    // Front matter.
    if text.starts_with("---") {
        lines.next();
        for (_, l) in lines.by_ref() {
            if l.trim() == "---" {
                break;
            }
        }
    }
    let mut container: Option<String> = None;
    let mut in_response = false;
    let mut want_words = false;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(title) = line.strip_prefix("## ") {
            out.push(Section {
                title: title.trim().to_string(),
                line: i + 1,
                ..Default::default()
            });
            container = None;
            in_response = false;
            want_words = false;
            continue;
        }
        if let Some(h) = line.strip_prefix("### ") {
            in_response = h.trim().to_ascii_lowercase().starts_with("response");
            want_words = in_response;
            continue;
        }
        if trimmed.starts_with("```") {
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            if let Some(s) = out.last_mut() {
                s.blocks.push(Block {
                    line: i + 1,
                    text: body,
                    in_response,
                    container: container.clone(),
                });
            }
            continue;
        }
        if let Some(name) = opening(trimmed) {
            container = Some(name);
        }
        if trimmed.contains("{{/partial:tab}}") || trimmed.contains("{{/partial:admonition}}") {
            container = None;
        }
        if want_words && !trimmed.is_empty() && !trimmed.starts_with("{{") {
            if let Some(s) = out.last_mut() {
                s.response_words = Some(trimmed.to_string());
            }
            want_words = false;
        }
    }
    out
}

/// The name of a tab or the heading (else the type) of an admonition that
/// `line` opens.
fn opening(line: &str) -> Option<String> {
    let start = line
        .find("{{partial:tab ")
        .or_else(|| line.find("{{partial:admonition"))?;
    let tag = &line[start..];
    let tag = &tag[..tag.find("}}").unwrap_or(tag.len())];
    let attr = |name: &str| -> Option<String> {
        let at = tag.find(&format!("{name}="))? + name.len() + 1;
        let rest = &tag[at..];
        let q = rest.chars().next()?;
        let rest = &rest[q.len_utf8()..];
        Some(rest[..rest.find(q)?].to_string())
    };
    attr("name")
        .or_else(|| attr("heading"))
        .or_else(|| attr("type"))
        .or(Some(String::new()))
}

/// `GET https://experiment.amplitude.com/api/1/flags/<id>` → the method and
/// `/api/1/flags/{id}`.
fn request_line(text: &str) -> Option<Endpoint> {
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    let (method, url) = line.split_once(char::is_whitespace)?;
    if !METHODS.contains(&method) {
        return None;
    }
    let url = url.trim();
    let path = HOSTS.iter().find_map(|h| url.strip_prefix(h))?;
    Some(Endpoint {
        method: method.to_string(),
        path: pattern(path),
    })
}

/// A path with its query dropped and each `<x>` or `{x}` segment as `{x}`.
fn pattern(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/')
        .map(|seg| {
            let inner = seg
                .strip_prefix('<')
                .and_then(|s| s.strip_suffix('>'))
                .or_else(|| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')));
            match inner {
                Some(name) => format!("{{{name}}}"),
                None => seg.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A pattern with its parameters' names dropped, for comparing two
/// spellings of one endpoint.
fn shape(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// A curl example's method and URL path.
fn curl(text: &str) -> Option<(String, String)> {
    let flat = text.replace("\\\n", " ");
    if !flat.trim_start().starts_with("curl") {
        return None;
    }
    let words: Vec<&str> = flat.split_whitespace().collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .map(|w| w.trim_matches(|c| c == '\'' || c == '"').to_string())
    };
    let method = after("--request").unwrap_or_else(|| "GET".into());
    let url = after("--url")?;
    let path = HOSTS.iter().find_map(|h| url.strip_prefix(h))?.to_string();
    Some((method, path))
}

fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

fn read_page(name: &str, text: &str) -> PageResult {
    let mut result = PageResult::default();
    let mut used_files = BTreeSet::new();
    for section in sections(text) {
        let Some(endpoint) = section.blocks.iter().find_map(|b| request_line(&b.text)) else {
            continue;
        };
        result.endpoints += 1;
        let at = format!("§ {} (line {})", section.title, section.line);
        let call = format!("{} {}", endpoint.method, endpoint.path);
        for b in &section.blocks {
            if let Some((method, path)) = curl(&b.text) {
                if method != endpoint.method {
                    result.notes.push(format!(
                        "{at}: the request line says {call}, its curl example (line {}) sends {method}",
                        b.line
                    ));
                }
                if shape(&pattern(&path)) != shape(&endpoint.path) {
                    result.notes.push(format!(
                        "{at}: the request line's path is {}, its curl example (line {}) calls {}",
                        endpoint.path,
                        b.line,
                        path.split('?').next().unwrap_or_default()
                    ));
                }
            }
        }
        let answers: Vec<&Block> = section
            .blocks
            .iter()
            .filter(|b| b.in_response)
            .filter(|b| curl(&b.text).is_none() && !b.text.trim_start().starts_with("curl"))
            .filter(|b| {
                !b.container
                    .as_deref()
                    .is_some_and(|c| c.to_ascii_lowercase().contains("request"))
            })
            .collect();
        if answers.is_empty() {
            let words = section
                .response_words
                .as_deref()
                .map(|w| format!("the docs say: \"{w}\""))
                .unwrap_or_else(|| "the section has no Response part".into());
            result
                .skipped
                .push(format!("{at}, {call}: no JSON answer shown; {words}"));
            continue;
        }
        let base = slug(&section.title);
        for (n, b) in answers.iter().enumerate() {
            let mut file = if n == 0 {
                base.clone()
            } else {
                format!("{base}-{}", n + 1)
            };
            let mut k = 2;
            while used_files.contains(&file) {
                file = format!("{base}-{k}");
                k += 1;
            }
            match answer(&endpoint, &b.text) {
                Ok((answer, fixes)) => {
                    used_files.insert(file.clone());
                    result.fixtures.push(Fixture {
                        file: format!("{file}.json"),
                        source: format!("{name} § {}", section.title),
                        method: endpoint.method.clone(),
                        path: endpoint.path.clone(),
                        answer,
                        fixes: fixes
                            .into_iter()
                            .map(|f| format!("{f} (example at line {})", b.line))
                            .collect(),
                    });
                }
                Err(e) => result.skipped.push(format!(
                    "{at}, {call}: the example answer at line {} is unusable: {e}",
                    b.line
                )),
            }
        }
    }
    result
}

// ----- filling and checking an answer -----

/// What an answer's placeholders stand for, told by its path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    Flag,
    Experiment,
    Mutex,
    Holdout,
    /// The project's deployment list.
    Deployments,
    /// A deployment the create call makes (`hello-world` in its example).
    NewDeployment,
    /// A flag's or experiment's deployments.
    ObjectDeployments,
    /// The project's version history (its example shows flag `flag-key`).
    Versions,
}

fn subject(method: &str, path: &str) -> Option<Subject> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let collection = segs.get(2).copied()?;
    let object_deployments = segs.len() == 5 && segs[4] == "deployments";
    Some(match collection {
        "flags" | "experiments" if object_deployments => Subject::ObjectDeployments,
        "flags" => Subject::Flag,
        "experiments" => Subject::Experiment,
        "mutexes" => Subject::Mutex,
        "holdouts" => Subject::Holdout,
        "deployments" if method == "POST" => Subject::NewDeployment,
        "deployments" => Subject::Deployments,
        "versions" => Subject::Versions,
        _ => return None,
    })
}

const EMAIL: &str = "user@example.com";

/// The JSON value placeholder `name` stands for, the `nth` time (from 0) it
/// appears in one answer of `subject`.
fn fill(name: &str, subject: Subject, nth: usize) -> Result<Value, String> {
    let num = |n: u64| Ok(Value::from(n));
    let text = |s: &str| Ok(Value::String(s.to_string()));
    let deployment_key = |id: u64| Value::String(format!("client-{id}-abcdefghij"));
    // The deployment list's entries, in list order.
    let listed = |nth: usize| {
        [3001u64, 3002].get(nth).copied().ok_or_else(|| {
            format!(
                "the deployment list shows a deployment #{}: no id for it",
                nth + 1
            )
        })
    };
    match (name, subject) {
        ("projectId", _) => num(100001),
        ("deploymentId", _) => num(3002),
        ("cursorId", _) => Ok(Value::Null),
        ("bucketingSalt", _) => text("mHdQDzeE"),
        ("userId", _) => text("12345"),
        ("user>@<your-company-email" | "createdBy" | "lastModifiedBy", _) => text(EMAIL),
        ("id", Subject::Flag | Subject::Versions) => num(1001),
        ("id", Subject::Experiment) => num(123),
        ("id", Subject::Mutex) => num(12345),
        ("id" | "holdoutId", Subject::Holdout) => num(456),
        ("id", Subject::ObjectDeployments) => num(3002),
        ("id", Subject::NewDeployment) => num(3003),
        ("key", Subject::ObjectDeployments) => Ok(deployment_key(3002)),
        ("id", Subject::Deployments) => listed(nth).map(Value::from),
        ("key", Subject::Deployments) => listed(nth).map(deployment_key),
        _ => Err(format!(
            "placeholder <{name}> has no value for {subject:?} answers; {}",
            "add it to the mapping in examples/doc_fixtures.rs"
        )),
    }
}

/// Fills every placeholder of `text` (a bare one with its JSON value, one
/// inside a string with the value's text).
fn fill_all(text: &str, subject: Subject) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some((name, len)) = placeholder(rest) {
                let nth = counts.entry(name.to_string()).or_default();
                let value = fill(name, subject, *nth)?;
                *nth += 1;
                match (&value, in_string) {
                    (_, false) => out.push_str(&value.to_string()),
                    (Value::String(s), true) => out.push_str(s),
                    (Value::Number(n), true) => out.push_str(&n.to_string()),
                    (other, true) => {
                        return Err(format!(
                            "placeholder <{name}> stands inside a string, but its value is {other}"
                        ))
                    }
                }
                rest = &rest[len..];
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// A placeholder at the start of `s`: its name and length. The docs' one
/// two-part placeholder, `<user>@<your-company-email>`, is one value.
fn placeholder(s: &str) -> Option<(&str, usize)> {
    const EMAIL_PH: &str = "<user>@<your-company-email>";
    if s.starts_with(EMAIL_PH) {
        return Some(("user>@<your-company-email", EMAIL_PH.len()));
    }
    let body = &s[1..];
    let end = body.find('>')?;
    let name = &body[..end];
    let ok = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some((name, end + 2))
}

/// The example answer of `endpoint` in `text`, filled, parsed and fixed,
/// with a line per fix.
fn answer(endpoint: &Endpoint, text: &str) -> Result<(Value, Vec<String>), String> {
    let subject = subject(&endpoint.method, &endpoint.path)
        .ok_or_else(|| format!("no placeholder mapping for the path {}", endpoint.path))?;
    let mut doc = fill_all(text, subject)?;
    let mut fixes = Vec::new();
    let value = loop {
        match serde_json::from_str::<Value>(&doc) {
            Ok(v) => break v,
            Err(e) if fixes.len() >= 10 => {
                return Err(format!("not JSON after {} repairs ({e})", fixes.len()))
            }
            Err(e) => match repair(&doc) {
                Some((fixed, what)) => {
                    fixes.push(what);
                    doc = fixed;
                }
                None => return Err(format!("not JSON once filled ({e})")),
            },
        }
    };
    let mut value = value;
    null_cursors(&mut value, &mut fixes);
    Ok((value, fixes))
}

/// One minimal repair of a document that does not parse, and what it did.
fn repair(doc: &str) -> Option<(String, String)> {
    member_in_list(doc).or_else(|| trailing_comma(doc))
}

/// `[ …, "name": value ]` → `[ … ], "name": value`: an object member
/// standing as the last element of a list, moved to just after the list.
fn member_in_list(doc: &str) -> Option<(String, String)> {
    let bytes = doc.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    // The open lists and objects, innermost last.
    let mut open: Vec<u8> = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => open.push(b),
            b']' | b'}' => {
                open.pop();
            }
            b',' if open.last() == Some(&b'[') => {
                // `, "name" : scalar ]`
                let rest = &doc[i + 1..];
                let t = rest.trim_start();
                let Some(after_q) = t.strip_prefix('"') else {
                    continue;
                };
                let Some(close) = after_q.find('"') else {
                    continue;
                };
                let name = &after_q[..close];
                let t2 = after_q[close + 1..].trim_start();
                let Some(t3) = t2.strip_prefix(':') else {
                    continue;
                };
                let t3 = t3.trim_start();
                let scalar_len = t3
                    .find(|c: char| c == ']' || c == ',' || c == '}' || c.is_whitespace())
                    .unwrap_or(t3.len());
                let scalar = &t3[..scalar_len];
                if serde_json::from_str::<Value>(scalar).is_err() {
                    continue;
                }
                let t4 = t3[scalar_len..].trim_start();
                if !t4.starts_with(']') {
                    continue;
                }
                let scalar_end = doc.len() - t3[scalar_len..].len();
                let bracket = doc.len() - t4.len();
                let fixed = format!(
                    "{}{}], \"{name}\": {scalar}{}",
                    &doc[..i],
                    &doc[scalar_end..bracket],
                    &doc[bracket + 1..]
                );
                return Some((
                    fixed,
                    format!(
                        "`\"{name}\": {scalar}` stood inside a list, as its last element; moved after the list, into the enclosing object"
                    ),
                ));
            }
            _ => {}
        }
    }
    None
}

/// `, }` or `, ]` → `}` or `]`.
fn trailing_comma(doc: &str) -> Option<(String, String)> {
    let bytes = doc.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' => {
                let t = doc[i + 1..].trim_start();
                if t.starts_with('}') || t.starts_with(']') {
                    let fixed = format!("{}{}", &doc[..i], &doc[i + 1..]);
                    return Some((fixed, "dropped a trailing comma".into()));
                }
            }
            _ => {}
        }
    }
    None
}

/// Sets every non-null `nextCursor` to null, saying so.
fn null_cursors(v: &mut Value, fixes: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "nextCursor" && !x.is_null() {
                    fixes.push(format!(
                        "`nextCursor` {x} → null (a server answering this example verbatim ignores the cursor: following it would never end)"
                    ));
                    *x = Value::Null;
                } else {
                    null_cursors(x, fixes);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| null_cursors(x, fixes)),
        _ => {}
    }
}
