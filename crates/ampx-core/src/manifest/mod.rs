//! Manifests: finding the files, reading them with positions, checking them
//! offline. Nothing here talks to the API: a manifest set that fails these
//! checks never reaches it.

mod envs;
mod groups;
pub mod model;
pub mod yaml;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use model::*;
pub use yaml::{Doc, Pos};

/// Largest manifest file read, in bytes: room for 50,000 flags in one file
/// (its documents are read one at a time, so memory grows with the text, not
/// with a tree of the whole file), and a bound on what a stray file costs.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One problem found in the manifests, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A problem with the file as a whole has no position to show.
        if self.pos == Pos::default() {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.pos.line,
                self.pos.col,
                self.message
            )?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// All the problems of a manifest set.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "error: {d}")?;
        }
        write!(
            f,
            "{} error{} in the manifests; nothing was sent to the API",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

/// A manifest object with the document it came from, so that later stages
/// can still point at `file:line` for any of its fields.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub spec: T,
    pub file: PathBuf,
    pub doc: Arc<Doc>,
    /// In one environment's set: the environment's name and the
    /// `environments.<name>` values merged into `spec`, if the object has
    /// any, so that a field can still say where its value comes from.
    pub env_override: Option<(String, Value)>,
}

impl<T> Located<T> {
    /// Where a field path inside this object's document is.
    pub fn at(&self, path: &str) -> Location {
        Location {
            file: self.file.clone(),
            line: self.doc.pos(path).line,
        }
    }

    /// Where the desired value of each changed field comes from, for field
    /// paths as plans show them (`rolloutPercentage`, `variants.on.payload`):
    /// its line in this object's document, and the environment override it
    /// comes from when one sets it. `variants` and `segments` list the
    /// variant keys and segment names in the manifest's order. One parse of
    /// the document answers every path.
    pub fn sources(&self, paths: &[&str], variants: &[&str], segments: &[&str]) -> Vec<Source> {
        let manifest_paths: Vec<(String, Option<String>)> = paths
            .iter()
            .map(|p| manifest_path(p, variants, segments, self.env_override.as_ref()))
            .collect();
        let lookups: Vec<&str> = manifest_paths.iter().map(|(p, _)| p.as_str()).collect();
        self.doc
            .positions(&lookups)
            .into_iter()
            .zip(manifest_paths)
            .map(|(pos, (_, environment))| Source {
                file: self.file.display().to_string(),
                line: pos.line,
                environment,
            })
            .collect()
    }
}

/// Where a field's desired value is written: a file, a line, and the
/// environment whose `environments.<name>` sets it, if one does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    pub file: String,
    pub line: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(e) = &self.environment {
            write!(f, " (environments.{e})")?;
        }
        Ok(())
    }
}

/// A plan's field path (`variants.on.payload`) as a path into the manifest
/// document (`variants[1].payload`, or `environments.prod.variants[0].payload`
/// when the override sets it), with the overriding environment's name.
fn manifest_path(
    path: &str,
    variants: &[&str],
    segments: &[&str],
    over: Option<&(String, Value)>,
) -> (String, Option<String>) {
    let mut parts = path.splitn(3, '.');
    let field = parts.next().unwrap_or_default();
    let child = |base: &str, k: &str| {
        if base == "." {
            k.to_string()
        } else {
            format!("{base}.{k}")
        }
    };
    if field == "variants" {
        if let Some(vkey) = parts.next() {
            let rest = parts.next();
            if let Some((env, ov)) = over {
                let list = ov.get("variants").and_then(Value::as_array);
                let found = list.and_then(|l| {
                    l.iter()
                        .position(|v| v.get("key").and_then(Value::as_str) == Some(vkey))
                        .map(|j| (j, &l[j]))
                });
                match (found, rest) {
                    (Some((j, v)), Some(r)) => {
                        let first = r.split('.').next().unwrap_or(r);
                        if v.get(first).is_some() {
                            let p = format!("environments.{env}.variants[{j}].{r}");
                            return (p, Some(env.clone()));
                        }
                    }
                    // The whole variant, when the override changes its body
                    // (inclusions and cohorts are changes of their own).
                    (Some((j, v)), None)
                        if v.as_object().is_some_and(|m| {
                            m.keys()
                                .any(|k| !matches!(k.as_str(), "key" | "inclusions" | "cohorts"))
                        }) =>
                    {
                        return (
                            format!("environments.{env}.variants[{j}]"),
                            Some(env.clone()),
                        )
                    }
                    _ => {}
                }
            }
            if let Some(i) = variants.iter().position(|k| *k == vkey) {
                let base = format!("variants[{i}]");
                return (
                    match rest {
                        Some(r) => format!("{base}.{r}"),
                        None => base,
                    },
                    None,
                );
            }
            return ("variants".to_string(), None);
        }
    }
    // A segment by name (`targetSegments.<name>`) is the list item of that
    // name, in the override's list when the override replaces the list.
    if let Some(name) = path.strip_prefix("targetSegments.") {
        let index = |list: Option<&Vec<Value>>| {
            list?
                .iter()
                .position(|s| s.get("name").and_then(Value::as_str) == Some(name))
        };
        if let Some((env, ov)) = over {
            if let Some(list) = ov.get("targetSegments") {
                let p = match index(list.as_array()) {
                    Some(j) => format!("environments.{env}.targetSegments[{j}]"),
                    None => format!("environments.{env}.targetSegments"),
                };
                return (p, Some(env.clone()));
            }
        }
        return match segments.iter().position(|s| *s == name) {
            Some(i) => (format!("targetSegments[{i}]"), None),
            None => ("targetSegments".to_string(), None),
        };
    }
    let field = path.split(['.', '[']).next().unwrap_or(path);
    if let Some((env, ov)) = over {
        if ov.get(field).is_some() {
            return (
                child(&format!("environments.{env}"), path),
                Some(env.clone()),
            );
        }
    }
    (child(".", path), None)
}

/// Where something is declared: a manifest file and a line in it. Shown as
/// `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A loaded, validated manifest set.
#[derive(Debug, Clone)]
pub struct ManifestSet {
    /// The Project the plan is for: the only one, or the one of the
    /// environment chosen with [`ManifestSet::for_env`].
    pub project: Located<ProjectSpec>,
    /// Every Project document: one per environment when there are several.
    pub projects: Vec<Located<ProjectSpec>>,
    pub flags: Vec<Located<FlagSpec>>,
    pub deployments: Vec<Located<DeploymentSpec>>,
    pub mutexes: Vec<Located<MutexSpec>>,
    pub holdouts: Vec<Located<HoldoutSpec>>,
    /// The rules of the one `kind: Policy` document, if there is one.
    pub policy: Option<Located<PolicySpec>>,
    /// Where each rollout schedule stands, once applied (see
    /// [`crate::policy::apply_schedules`]).
    pub schedules: Vec<crate::policy::Scheduled>,
    /// The files it was read from (name, text): a saved plan records them.
    pub sources: Vec<(PathBuf, String)>,
    /// Flags and experiments the manifests declare for other environments
    /// only (`onlyIn`): not this environment's to create, nor prune's to
    /// archive.
    pub elsewhere: Vec<(ObjectKind, String)>,
    /// YAML files met in a directory that are plainly not manifests.
    pub skipped: Vec<PathBuf>,
}

impl ManifestSet {
    /// The keys of one kind that the manifests name: its objects, the
    /// experiments a group lists, and the objects declared for another
    /// environment only. Prune never archives them; drift does not call
    /// them unmanaged.
    pub fn named(&self, kind: ObjectKind) -> HashSet<&str> {
        let listed = self
            .group_experiments()
            .filter(|_| kind == ObjectKind::Experiment)
            .map(String::as_str);
        let elsewhere = self
            .elsewhere
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, key)| key.as_str());
        self.flags
            .iter()
            .filter(|f| f.spec.kind == kind)
            .map(|f| f.spec.key.as_str())
            .chain(listed)
            .chain(elsewhere)
            .collect()
    }

    /// The experiment keys the mutex and holdout groups name.
    pub fn group_experiments(&self) -> impl Iterator<Item = &String> {
        self.mutexes
            .iter()
            .flat_map(|g| g.spec.slots.iter().flatten())
            .flat_map(|slot| slot.experiments.iter().flatten())
            .chain(
                self.holdouts
                    .iter()
                    .flat_map(|g| g.spec.experiments.iter().flatten()),
            )
    }

    /// What is valid but will not do quite what it says, with positions:
    /// an experiment date with a time of day, which the API answers as a
    /// bare date, so the plan compares the date only.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in &self.flags {
            for (field, value) in [
                ("startDate", &f.spec.start_date),
                ("endDate", &f.spec.end_date),
            ] {
                let Some(Some(text)) = value else { continue };
                let Some(ms) = model::parse_instant(text) else {
                    continue;
                };
                if ms.rem_euclid(86_400_000) != 0 {
                    out.push(format!(
                        "{}: {field} `{text}`: the API answers dates without a time of day, so ampx compares the date only and a change of the time alone is not planned",
                        f.at(field)
                    ));
                }
            }
        }
        out
    }
}

const KINDS: &[&str] = &[
    "Project",
    "Flag",
    "Experiment",
    "Deployment",
    "MutexGroup",
    "HoldoutGroup",
    "Policy",
];
const API_VERSION: &str = "ampx/v1";

/// The file whose patterns (gitignore syntax) leave files and directories
/// under a manifest directory out of the walk.
pub const IGNORE_FILE: &str = ".ampxignore";

/// Finds manifest files: files named directly, and `*.yaml` / `*.yml` under
/// directories (recursively, skipping hidden directories and what an
/// [`IGNORE_FILE`] there or above, up to the directory given, matches), in a
/// stable order.
pub fn find_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut walk = Walk::default();
    for p in paths {
        if p.is_dir() {
            walk.dir(p);
        } else if p.is_file() {
            // Named on the command line: read whatever an ignore file says.
            walk.out.push(p.clone());
        } else {
            walk.errors
                .push(diag(p, Pos::default(), "no such file or directory", None));
        }
    }
    let Walk {
        mut out,
        mut errors,
        ignored,
        ..
    } = walk;
    if errors.is_empty() && out.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        errors.push(diag(
            paths
                .first()
                .map(PathBuf::as_path)
                .unwrap_or(Path::new(".")),
            Pos::default(),
            &format!("no *.yaml or *.yml manifests found in {}", shown.join(", ")),
            Some(if ignored > 0 {
                format!("{ignored} file(s) or directories were left out by {IGNORE_FILE}")
            } else {
                "pass the directory or files that hold your manifests".into()
            }),
        ));
    }
    if errors.is_empty() {
        out.sort();
        out.dedup();
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

/// A walk of manifest directories: what it found, and the ignore files in
/// force in the directory it is in (the outermost first).
#[derive(Default)]
struct Walk {
    out: Vec<PathBuf>,
    errors: Vec<Diagnostic>,
    /// Real paths of the directories walked.
    visited: HashSet<PathBuf>,
    ignores: Vec<ignore::gitignore::Gitignore>,
    /// Files and directories an ignore file left out.
    ignored: usize,
}

impl Walk {
    /// Walks `dir` for manifests. A directory reached again (through a
    /// symbolic link back up the tree, say) is not walked twice, so that
    /// links cannot make the walk endless or exponential.
    fn dir(&mut self, dir: &Path) {
        if let Ok(real) = std::fs::canonicalize(dir) {
            if !self.visited.insert(real) {
                return;
            }
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.errors.push(diag(
                    dir,
                    Pos::default(),
                    &format!("cannot read directory: {e}"),
                    None,
                ));
                return;
            }
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        // The directory's own ignore file is found in its listing: a
        // directory without one costs nothing more.
        let own = entries
            .iter()
            .find(|p| p.file_name() == Some(IGNORE_FILE.as_ref()))
            .and_then(|p| match read_ignore(dir, p) {
                Ok(matcher) => Some(matcher),
                Err(d) => {
                    self.errors.extend(d);
                    None
                }
            });
        let pushed = own.is_some();
        self.ignores.extend(own);
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            let is_dir = path.is_dir();
            let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
            if !is_dir && !yaml {
                continue;
            }
            if self.is_ignored(&path, is_dir) {
                self.ignored += 1;
                continue;
            }
            if is_dir {
                self.dir(&path);
            } else {
                self.out.push(path);
            }
        }
        if pushed {
            self.ignores.pop();
        }
    }

    /// Whether the ignore files in force leave `path` out: the innermost
    /// file that matches it decides, as with `.gitignore` (a `!pattern`
    /// there brings back what an outer one leaves out).
    fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        for matcher in self.ignores.iter().rev() {
            match matcher.matched(path, is_dir) {
                ignore::Match::Ignore(_) => return true,
                ignore::Match::Whitelist(_) => return false,
                ignore::Match::None => {}
            }
        }
        false
    }
}

/// Reads the ignore file `file` of directory `dir`: its patterns are
/// relative to `dir`. A pattern that does not read is an error at its line.
fn read_ignore(dir: &Path, file: &Path) -> Result<ignore::gitignore::Gitignore, Vec<Diagnostic>> {
    let text = read_file(file).map_err(|d| vec![d])?;
    let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Err(e) = builder.add_line(Some(file.to_path_buf()), line) {
            errors.push(diag(
                file,
                Pos {
                    line: i + 1,
                    col: 1,
                },
                &format!("invalid pattern: {e}"),
                Some("patterns are written as in .gitignore".into()),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    builder.build().map_err(|e| {
        vec![diag(
            file,
            Pos::default(),
            &format!("invalid patterns: {e}"),
            None,
        )]
    })
}

fn diag(file: &Path, pos: Pos, message: &str, hint: Option<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        pos,
        message: message.to_string(),
        hint,
    }
}

/// Loads and validates the manifests under `paths`. Every problem is
/// reported, not only the first.
pub fn load(paths: &[PathBuf]) -> Result<ManifestSet, Diagnostics> {
    let files = find_files(paths)?;
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let mut skipped = Vec::new();
    for file in files {
        match read_file(&file) {
            // A YAML file met in a directory that is plainly not a manifest
            // (a docker-compose.yml beside them) is left alone, with a
            // warning; one named on the command line is read.
            Ok(text) if !paths.contains(&file) && !looks_like_a_manifest(&text) => {
                skipped.push(file)
            }
            Ok(text) => sources.push((file, text)),
            Err(d) => errors.push(d),
        }
    }
    // One directory given: a missing Project is named there.
    let dir = match paths {
        [one] if one.is_dir() => Some(one.as_path()),
        _ => None,
    };
    if sources.is_empty() && errors.is_empty() && !skipped.is_empty() {
        let at = dir.unwrap_or(&skipped[0]);
        return Err(Diagnostics(vec![diag(
            at,
            Pos::default(),
            &format!(
                "no ampx manifests found: {} YAML file(s) skipped as not ampx manifests ({}{})",
                skipped.len(),
                skipped[0].display(),
                if skipped.len() > 1 { ", …" } else { "" }
            ),
            Some(format!(
                "a manifest starts with `apiVersion: {API_VERSION}` and its `kind`"
            )),
        )]));
    }
    match load_sources_in(&sources, dir) {
        Ok(mut set) if errors.is_empty() => {
            set.skipped = skipped;
            Ok(set)
        }
        Ok(_) => Err(Diagnostics(errors)),
        Err(Diagnostics(more)) => {
            errors.extend(more);
            Err(Diagnostics(errors))
        }
    }
}

/// Whether a YAML text says it is an ampx manifest: a line giving
/// `apiVersion: ampx/…`, or a `kind` only ampx has (Flag, Experiment,
/// MutexGroup, HoldoutGroup: a flag whose `apiVersion` has a typo is still
/// refused, never dropped). A file that says so is checked strictly; one
/// that does not is some other YAML (a CI, compose or Kubernetes file).
pub fn looks_like_a_manifest(text: &str) -> bool {
    let value = |l: &str, field: &str| -> Option<String> {
        l.strip_prefix(field)
            .filter(|rest| rest.trim_start().starts_with(':'))
            .map(|rest| {
                rest.trim_start_matches([' ', ':', '"', '\''])
                    .trim_end_matches([' ', '"', '\'', ','])
                    .to_string()
            })
    };
    text.lines().any(|l| {
        let l = l.trim_start_matches(['-', ' ', '{', '\t']);
        value(l, "apiVersion").is_some_and(|v| v.starts_with("ampx/"))
            || value(l, "kind").is_some_and(|k| {
                ["Flag", "Experiment", "MutexGroup", "HoldoutGroup", "Policy"].contains(&k.as_str())
            })
    })
}

fn read_file(file: &Path) -> Result<String, Diagnostic> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| {
        diag(
            file,
            Pos::default(),
            &format!("cannot read file: {e}"),
            None,
        )
    };
    // Only a regular file is read (following a symlink): a FIFO would block
    // the read forever and a device never ends.
    let meta = std::fs::metadata(file).map_err(cannot)?;
    if !meta.is_file() {
        return Err(diag(
            file,
            Pos::default(),
            "not a regular file; manifests are read from regular files only",
            None,
        ));
    }
    // Read at most one byte past the limit: the size a file's metadata
    // states is not what a growing file yields. The stated size only sizes
    // the buffer, so that a file is read in one call and one more that finds
    // its end.
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE_BYTES) as usize + 1);
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(diag(
            file,
            Pos::default(),
            &format!("file is larger than {MAX_FILE_BYTES} bytes; larger manifests are refused"),
            Some("split the manifests into several files".into()),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| diag(file, Pos::default(), "file is not valid UTF-8 text", None))
}

/// The objects read from one file, and the problems found in it.
#[derive(Default)]
struct FileObjects {
    errors: Vec<Diagnostic>,
    projects: Vec<Located<ProjectSpec>>,
    flags: Vec<Located<FlagSpec>>,
    deployments: Vec<Located<DeploymentSpec>>,
    mutexes: Vec<Located<MutexSpec>>,
    holdouts: Vec<Located<HoldoutSpec>>,
    policies: Vec<Located<PolicySpec>>,
}

/// Reads and checks one file's documents one at a time, releasing each
/// document's tree once checked (see [`Doc::release`]), so that a file of
/// many documents is parsed once and never held whole. A YAML syntax error
/// is the file's only error: what its documents would mean is unknown.
fn load_file(file: &Path, text: &str) -> FileObjects {
    let mut got = FileObjects::default();
    // The file's documents read their positions from it.
    let shared: Arc<str> = Arc::from(text);
    for doc in yaml::documents(&shared) {
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                return FileObjects {
                    errors: vec![diag(
                        file,
                        e.pos,
                        &format!("invalid YAML: {}", e.message),
                        None,
                    )],
                    ..FileObjects::default()
                };
            }
        };
        load_document(file, doc, &mut got);
    }
    got
}

/// Checks one document and files its object under its kind.
fn load_document(file: &Path, mut doc: Doc, got: &mut FileObjects) {
    let errors = &mut got.errors;
    let Value::Object(map) = &mut doc.value else {
        errors.push(diag(
            file,
            doc.start,
            "a manifest document must be a mapping",
            None,
        ));
        return;
    };
    // The header goes; the body is what the kind's type reads.
    let (api_version, kind) = (map.remove("apiVersion"), map.remove("kind"));
    match api_version {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(other) => errors.push(diag(
            file,
            doc.pos("apiVersion"),
            &format!("unsupported apiVersion {other}"),
            Some(format!("use `apiVersion: {API_VERSION}`")),
        )),
        None => errors.push(diag(
            file,
            doc.start,
            "missing `apiVersion`",
            Some(format!("add `apiVersion: {API_VERSION}`")),
        )),
    }
    let kind = match kind {
        Some(Value::String(k)) => k,
        _ => {
            errors.push(diag(
                file,
                doc.pos("kind"),
                "missing or non-string `kind`",
                Some(format!("one of: {}", KINDS.join(", "))),
            ));
            return;
        }
    };
    // Checks a typed object, then lets its document's tree go.
    fn keep<T>(spec: T, file: &Path, doc: Doc, check: impl FnOnce(&Located<T>)) -> Located<T> {
        let doc = Arc::new(doc);
        let mut located = Located {
            spec,
            file: file.to_path_buf(),
            doc,
            env_override: None,
        };
        check(&located);
        release(&mut located.doc);
        located
    }
    match kind.as_str() {
        "Project" => {
            if let Some(spec) = typed::<ProjectSpec>(file, &doc, errors) {
                got.projects.push(keep(spec, file, doc, |_| {}));
            }
        }
        "Flag" | "Experiment" => {
            // A Flag is told only of the fields a flag has.
            let hidden = if kind == "Flag" {
                EXPERIMENT_FIELDS
            } else {
                &[]
            };
            if let Some(mut spec) = typed_hiding::<FlagSpec>(file, &doc, hidden, errors) {
                spec.kind = if kind == "Flag" {
                    ObjectKind::Flag
                } else {
                    ObjectKind::Experiment
                };
                let f = keep(spec, file, doc, |l| {
                    validate_flag(l, errors);
                    crate::policy::validate_flag(l, errors);
                });
                got.flags.push(f);
            }
        }
        "Deployment" => {
            if let Some(spec) = typed::<DeploymentSpec>(file, &doc, errors) {
                let d = keep(spec, file, doc, |l| groups::validate_deployment(l, errors));
                got.deployments.push(d);
            }
        }
        "MutexGroup" => {
            if let Some(spec) = typed::<MutexSpec>(file, &doc, errors) {
                let g = keep(spec, file, doc, |l| groups::validate_mutex(l, errors));
                got.mutexes.push(g);
            }
        }
        "HoldoutGroup" => {
            if let Some(spec) = typed::<HoldoutSpec>(file, &doc, errors) {
                let g = keep(spec, file, doc, |l| groups::validate_holdout(l, errors));
                got.holdouts.push(g);
            }
        }
        "Policy" => {
            if let Some(spec) = typed::<PolicySpec>(file, &doc, errors) {
                let p = keep(spec, file, doc, |l| {
                    crate::policy::validate_policy(l, errors)
                });
                got.policies.push(p);
            }
        }
        other => errors.push(diag(
            file,
            doc.pos("kind"),
            &format!("unknown kind `{other}`"),
            Some(match nearest(other, KINDS) {
                Some(n) => format!("did you mean `{n}`? known kinds: {}", KINDS.join(", ")),
                None => format!("known kinds: {}", KINDS.join(", ")),
            }),
        )),
    }
}

/// Loads manifests from in-memory sources (file name, text).
pub fn load_sources(sources: &[(PathBuf, String)]) -> Result<ManifestSet, Diagnostics> {
    load_sources_in(sources, None)
}

/// [`load_sources`], read from directory `dir` when one was given (where a
/// missing Project document is suggested).
fn load_sources_in(
    sources: &[(PathBuf, String)],
    dir: Option<&Path>,
) -> Result<ManifestSet, Diagnostics> {
    let mut errors = Vec::new();
    let mut projects: Vec<Located<ProjectSpec>> = Vec::new();
    let mut flags: Vec<Located<FlagSpec>> = Vec::new();
    let mut deployments: Vec<Located<DeploymentSpec>> = Vec::new();
    let mut mutexes: Vec<Located<MutexSpec>> = Vec::new();
    let mut holdouts: Vec<Located<HoldoutSpec>> = Vec::new();
    let mut policies: Vec<Located<PolicySpec>> = Vec::new();

    for (file, text) in sources {
        let got = load_file(file, text);
        errors.extend(got.errors);
        projects.extend(got.projects);
        flags.extend(got.flags);
        deployments.extend(got.deployments);
        mutexes.extend(got.mutexes);
        holdouts.extend(got.holdouts);
        policies.extend(got.policies);
    }
    if let [first, second, ..] = policies.as_slice() {
        errors.push(diag(
            &second.file,
            second.doc.start,
            &format!(
                "a second Policy document (the first is at {}): one Policy holds every rule",
                first.at(".")
            ),
            None,
        ));
    }

    // Positions are asked for only when a duplicate is found: a released
    // document reads its text again to answer.
    let mut seen: HashMap<&str, (&PathBuf, &Arc<Doc>)> = HashMap::new();
    let keyed = flags
        .iter()
        .map(|f| (f.spec.key.as_str(), &f.file, &f.doc))
        .chain(
            mutexes
                .iter()
                .map(|g| (g.spec.key.as_str(), &g.file, &g.doc)),
        )
        .chain(
            holdouts
                .iter()
                .map(|g| (g.spec.key.as_str(), &g.file, &g.doc)),
        );
    for (key, file, doc) in keyed {
        if let Some((first_file, first_doc)) = seen.get(key) {
            let first = format!("{}:{}", first_file.display(), first_doc.pos("key").line);
            errors.push(diag(
                file,
                doc.pos("key"),
                &format!(
                    "duplicate key `{key}` (first defined at {first}); flags, experiments and groups share one key space"
                ),
                None,
            ));
        } else {
            seen.insert(key, (file, doc));
        }
    }
    let mut labels: HashMap<&str, &Located<DeploymentSpec>> = HashMap::new();
    for d in &deployments {
        if let Some(first) = labels.get(d.spec.label.as_str()) {
            errors.push(diag(
                &d.file,
                d.doc.pos("label"),
                &format!(
                    "duplicate deployment label `{}` (first defined at {})",
                    d.spec.label,
                    first.at("label")
                ),
                None,
            ));
        } else {
            labels.insert(&d.spec.label, d);
        }
    }
    groups::check_references(&flags, &deployments, &mutexes, &holdouts, &mut errors);
    let project = projects.first().cloned();
    if project.is_none() && errors.is_empty() {
        errors.push(no_project(sources, dir));
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| {
            (&a.file, a.pos.line, a.pos.col).cmp(&(&b.file, b.pos.line, b.pos.col))
        });
        return Err(Diagnostics(errors));
    }
    let project = project.expect("checked above");
    let set = ManifestSet {
        project,
        projects,
        flags,
        deployments,
        mutexes,
        holdouts,
        policy: policies.into_iter().next(),
        schedules: Vec::new(),
        sources: sources.to_vec(),
        elsewhere: Vec::new(),
        skipped: Vec::new(),
    };
    envs::check(&set, &mut errors);
    if !errors.is_empty() {
        errors.sort_by(|a, b| {
            (&a.file, a.pos.line, a.pos.col).cmp(&(&b.file, b.pos.line, b.pos.col))
        });
        return Err(Diagnostics(errors));
    }
    Ok(set)
}

/// The error for a manifest set without a Project document, at a place that
/// does not depend on the order the files were read in: the first file in
/// path order, line 1 (the directory given, when there is no file), with a
/// Project document to add and where.
fn no_project(sources: &[(PathBuf, String)], dir: Option<&Path>) -> Diagnostic {
    let first = sources.iter().map(|(f, _)| f).min();
    let folder = dir
        .or_else(|| first.and_then(|f| f.parent()))
        .unwrap_or(Path::new("."));
    let (file, pos) = match first {
        Some(f) => (f.as_path(), Pos { line: 1, col: 1 }),
        None => (folder, Pos::default()),
    };
    diag(
        file,
        pos,
        "no `kind: Project` document in the manifests: ampx does not know which project they describe",
        Some(format!(
            "add one, e.g. as {}:\n          apiVersion: {API_VERSION}\n          kind: Project\n          id: \"123456\"   # the project's id, shown in its settings in Amplitude",
            folder.join("project.yaml").display()
        )),
    )
}

/// Releases a checked document's tree and positions (see [`Doc::release`]):
/// later stages need a position only for an error message, and then read
/// the file again.
fn release(doc: &mut Arc<Doc>) {
    if let Some(d) = Arc::get_mut(doc) {
        d.release();
    }
}

/// Deserialises a document body, reporting every field-level problem: after
/// each error the offending field is set aside and the rest is read again,
/// so that one typo does not hide the next mistake. Returns the value read
/// from what remains (for further checks) even when errors were found.
fn typed<T: DeserializeOwned>(file: &Path, doc: &Doc, errors: &mut Vec<Diagnostic>) -> Option<T> {
    typed_hiding(file, doc, &[], errors)
}

/// [`typed`], leaving `hidden` fields out of the known fields an error
/// lists (a Flag is told of no Experiment-only field).
fn typed_hiding<T: DeserializeOwned>(
    file: &Path,
    doc: &Doc,
    hidden: &[&str],
    errors: &mut Vec<Diagnostic>,
) -> Option<T> {
    // Unknown fields that no other hint fits: (the error, the known fields).
    let mut unlisted: Vec<(usize, Vec<String>)> = Vec::new();
    let read = read_typed(file, doc, hidden, errors, &mut unlisted);
    // Each list of known fields is shown once, on the first of its errors
    // in the document (fields are not read in the document's order).
    unlisted.sort_by_key(|(i, _)| (errors[*i].pos.line, errors[*i].pos.col));
    let mut shown: Vec<Vec<String>> = Vec::new();
    for (i, expected) in unlisted {
        if !shown.contains(&expected) {
            errors[i].hint = Some(format!("known fields: {}", expected.join(", ")));
            shown.push(expected);
        }
    }
    read
}

/// The reading of [`typed_hiding`]: an error per round, each unknown field
/// that only a list of the known fields could help with in `unlisted`.
fn read_typed<T: DeserializeOwned>(
    file: &Path,
    doc: &Doc,
    hidden: &[&str],
    errors: &mut Vec<Diagnostic>,
    unlisted: &mut Vec<(usize, Vec<String>)>,
) -> Option<T> {
    const MAX_ROUNDS: usize = 50;
    // Read in place; a copy is made only to set fields aside after an error.
    let mut body: Option<Value> = None;
    for _ in 0..MAX_ROUNDS {
        let read = serde_path_to_error::deserialize::<_, T>(body.as_ref().unwrap_or(&doc.value));
        let e = match read {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let path = e.path().to_string();
        let mut inner = plain_types(&e.into_inner().to_string());
        let (path, hint) = match unknown_field(&inner) {
            Some((field, expected)) => {
                let expected: Vec<String> = expected
                    .into_iter()
                    .filter(|f| !hidden.contains(&f.as_str()))
                    .collect();
                // The fields are listed once, in a hint.
                inner = format!("unknown field `{field}`");
                let p = if path == "." {
                    field.clone()
                } else if path == field || path.ends_with(&format!(".{field}")) {
                    path.clone()
                } else {
                    format!("{path}.{field}")
                };
                // A variant's field at the top level of a flag: the path is
                // the field's name alone.
                let hint = if p == field && expected.iter().any(|f| f == "variants") {
                    misplaced_variant_field(&field, &doc.value, None)
                } else {
                    None
                };
                let known: Vec<&str> = expected.iter().map(String::as_str).collect();
                let hint = hint
                    .or_else(|| nearest(&field, &known).map(|n| format!("did you mean `{n}`?")));
                if hint.is_none() {
                    unlisted.push((errors.len(), expected));
                }
                (p, hint)
            }
            None => (path, None),
        };
        let where_ = if path == "." {
            String::new()
        } else {
            format!("`{path}`: ")
        };
        errors.push(diag(
            file,
            doc.pos(&path),
            &format!("{where_}{inner}"),
            hint,
        ));
        if !remove_at(body.get_or_insert_with(|| doc.value.clone()), &path) {
            return None;
        }
    }
    None
}

/// A variant's own field written at the top level of a flag or experiment,
/// or of its override for environment `env` (indented one level too
/// little): where it goes, shown with the object's first variant key.
fn misplaced_variant_field(field: &str, body: &Value, env: Option<&str>) -> Option<String> {
    let example = match field {
        "inclusions" | "cohorts" => "[...]",
        "payload" => "{...}",
        "renamedFrom" => "old-key",
        _ => return None,
    };
    let key = body
        .get("variants")
        .and_then(|v| v.get(0))
        .and_then(|v| v.get("key"))
        .and_then(Value::as_str)
        .unwrap_or("on");
    // Continuation lines line up under the hint's first word.
    let (intro, pad) = match env {
        None => (String::new(), ""),
        Some(e) => (
            format!("\n          environments:\n            {e}:"),
            "    ",
        ),
    };
    Some(format!(
        "`{field}` belongs to a variant: indent it under one, as in{intro}\n          {pad}variants:\n            {pad}- key: {key}\n              {pad}{field}: {example}"
    ))
}

/// A deserialiser's message with Rust's type names in words a manifest's
/// author reads: `expected i64` is "expected a whole number".
fn plain_types(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, words) in [
        ("i64", "a whole number"),
        ("u64", "a whole number from 0"),
        ("i32", "a whole number"),
        ("u32", "a whole number from 0"),
        ("u8", "a whole number from 0 to 255"),
        ("f64", "a number"),
        ("usize", "a whole number from 0"),
    ] {
        out = out
            .replace(&format!("expected {rust}"), &format!("expected {words}"))
            .replace(&format!("into {rust}"), &format!("into {words}"));
    }
    out
}

/// Removes the value at a serde_path_to_error path (`a.b[0].c`); false when
/// there is nothing to remove (the root, or a missing field).
fn remove_at(root: &mut Value, path: &str) -> bool {
    if path == "." || path.is_empty() {
        return false;
    }
    let mut segments: Vec<(String, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        let name_end = rest.find('[').unwrap_or(rest.len());
        if name_end > 0 {
            segments.push((rest[..name_end].to_string(), None));
        }
        rest = &rest[name_end..];
        while let Some(close) = rest.find(']') {
            match rest[1..close].parse::<usize>() {
                Ok(i) => segments.push((String::new(), Some(i))),
                Err(_) => return false,
            }
            rest = &rest[close + 1..];
        }
    }
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut cur = root;
    for (name, idx) in parents {
        let next = match idx {
            Some(i) => cur.get_mut(*i),
            None => cur.get_mut(name.as_str()),
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur) {
        ((name, None), Value::Object(m)) => m.remove(name.as_str()).is_some(),
        ((_, Some(i)), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" message.
fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    let field = rest[..end].to_string();
    let expected = rest[end..]
        .split('`')
        .skip(2)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field, expected))
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| {
            (
                strsim::levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                *c,
            )
        })
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean `x`? ` when a candidate is close to `word`, else nothing:
/// the start of a hint that goes on to list the candidates.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    nearest(word, candidates)
        .map(|n| format!("did you mean `{n}`? "))
        .unwrap_or_default()
}

fn check_percentage(
    f: &Located<FlagSpec>,
    path: &str,
    value: Option<i64>,
    errors: &mut Vec<Diagnostic>,
) {
    if let Some(v) = value {
        if !(0..=100).contains(&v) {
            errors.push(diag(
                &f.file,
                f.doc.pos(path),
                &format!("`{path}` is {v}; a percentage must be between 0 and 100"),
                None,
            ));
        }
    }
}

fn check_weights(
    f: &Located<FlagSpec>,
    path: &str,
    weights: Option<&BTreeMap<String, i64>>,
    variant_keys: Option<&HashSet<&str>>,
    errors: &mut Vec<Diagnostic>,
) {
    let Some(weights) = weights else { return };
    for (k, w) in weights {
        let p = format!("{path}.{k}");
        if *w < 0 {
            errors.push(diag(
                &f.file,
                f.doc.pos(&p),
                &format!("`{p}` is {w}; weights must not be negative"),
                None,
            ));
        }
        if let Some(keys) = variant_keys {
            if !keys.contains(k.as_str()) {
                let mut known: Vec<&str> = keys.iter().copied().collect();
                known.sort_unstable();
                errors.push(diag(
                    &f.file,
                    f.doc.pos(&p),
                    &format!(
                        "`{path}` names `{k}`, which is not a variant of flag `{}`",
                        f.spec.key
                    ),
                    Some(match nearest(k, &known) {
                        Some(n) => format!("did you mean `{n}`? variants: {}", known.join(", ")),
                        None => format!("variants: {}", known.join(", ")),
                    }),
                ));
            }
        }
    }
}

/// Why `key` cannot name a resource in an API path as it is, if it cannot:
/// `.` and `..` are dot segments that URL parsers resolve away, `/` would
/// split it, and control characters are no text.
fn not_a_segment(key: &str) -> Option<String> {
    if key == "." || key == ".." {
        return Some(format!("cannot be `{key}`"));
    }
    if key.contains('/') {
        return Some(format!("cannot contain `/` (`{key}`)"));
    }
    key.chars()
        .find(|c| c.is_control())
        .map(|c| format!("cannot contain the control character U+{:04X}", c as u32))
}

fn validate_flag(f: &Located<FlagSpec>, errors: &mut Vec<Diagnostic>) {
    let s = &f.spec;
    if s.kind == ObjectKind::Flag {
        for field in EXPERIMENT_FIELDS {
            if let Some(Value::Object(m)) = Some(&f.doc.value) {
                if m.contains_key(*field) {
                    errors.push(diag(
                        &f.file,
                        f.doc.pos(field),
                        &format!("`{field}` is only for `kind: Experiment`"),
                        Some("change the kind, or remove the field".into()),
                    ));
                }
            }
        }
    }
    if let (Some(v), Some(vs)) = (&s.rolled_out_variant, &s.variants) {
        if !vs.iter().any(|x| &x.key == v) {
            let keys: Vec<&str> = vs.iter().map(|x| x.key.as_str()).collect();
            errors.push(diag(
                &f.file,
                f.doc.pos("rolledOutVariant"),
                &format!("`rolledOutVariant` is `{v}`, which is not a variant of this experiment"),
                Some(format!(
                    "{}one of: {}",
                    did_you_mean(v, &keys),
                    keys.join(", ")
                )),
            ));
        }
    }
    for (field, value) in [("startDate", &s.start_date), ("endDate", &s.end_date)] {
        if let Some(Some(text)) = value {
            if parse_instant(text).is_none() || text.len() <= 10 {
                errors.push(diag(
                    &f.file,
                    f.doc.pos(field),
                    &format!("`{field}` is `{text}`, which is not a date-time"),
                    Some("use RFC 3339, e.g. 2026-12-01T00:00:00Z, or null".into()),
                ));
            }
        }
    }
    if let (Some(Some(a)), Some(Some(b))) = (&s.start_date, &s.end_date) {
        if let (Some(a), Some(b)) = (parse_instant(a), parse_instant(b)) {
            if b < a {
                errors.push(diag(
                    &f.file,
                    f.doc.pos("endDate"),
                    "`endDate` is before `startDate`",
                    None,
                ));
            }
        }
    }
    if s.key.trim().is_empty() {
        errors.push(diag(
            &f.file,
            f.doc.pos("key"),
            "`key` must not be empty",
            None,
        ));
    }
    check_percentage(f, "rolloutPercentage", s.rollout_percentage, errors);
    let variant_keys: Option<HashSet<&str>> = s
        .variants
        .as_ref()
        .map(|vs| vs.iter().map(|v| v.key.as_str()).collect());
    if let Some(variants) = &s.variants {
        let mut seen = HashSet::new();
        let mut renamed = HashSet::new();
        for (i, v) in variants.iter().enumerate() {
            let p = format!("variants[{i}]");
            if v.key.is_empty() {
                errors.push(diag(
                    &f.file,
                    f.doc.pos(&format!("{p}.key")),
                    "a variant key must not be empty",
                    None,
                ));
            }
            // Variant keys are path segments of the calls that change them.
            for (field, key) in [
                ("key", Some(&v.key)),
                ("renamedFrom", v.renamed_from.as_ref()),
            ] {
                if let Some(why) = key.and_then(|k| not_a_segment(k)) {
                    errors.push(diag(
                        &f.file,
                        f.doc.pos(&format!("{p}.{field}")),
                        &format!("a variant key {why}"),
                        Some("variant keys name the variant in API paths: use letters, digits, `-`, `_`".into()),
                    ));
                }
            }
            if !seen.insert(v.key.as_str()) {
                errors.push(diag(
                    &f.file,
                    f.doc.pos(&format!("{p}.key")),
                    &format!("duplicate variant key `{}` in flag `{}`", v.key, s.key),
                    None,
                ));
            }
            if let Some(from) = &v.renamed_from {
                let rp = format!("{p}.renamedFrom");
                if variant_keys
                    .as_ref()
                    .is_some_and(|k| k.contains(from.as_str()))
                {
                    errors.push(diag(
                        &f.file,
                        f.doc.pos(&rp),
                        &format!("`renamedFrom: {from}` names a variant that the manifest also keeps"),
                        Some("remove `renamedFrom` once the rename is applied, or remove the other variant".into()),
                    ));
                }
                if !renamed.insert(from.as_str()) {
                    errors.push(diag(
                        &f.file,
                        f.doc.pos(&rp),
                        &format!("two variants are renamed from `{from}`"),
                        None,
                    ));
                }
            }
            if let Some(inc) = &v.inclusions {
                let unique: HashSet<&String> = inc.iter().collect();
                if unique.len() > MAX_INCLUSIONS {
                    errors.push(diag(
                        &f.file,
                        f.doc.pos(&format!("{p}.inclusions")),
                        &format!(
                            "variant `{}` has {} inclusions; the API keeps at most {MAX_INCLUSIONS} per variant",
                            v.key,
                            unique.len()
                        ),
                        Some("target a cohort or a user property in a segment instead".into()),
                    ));
                }
            }
        }
    }
    check_weights(
        f,
        "rolloutWeights",
        s.rollout_weights.as_ref(),
        variant_keys.as_ref(),
        errors,
    );
    if let Some(segments) = &s.target_segments {
        for (i, seg) in segments.iter().enumerate() {
            let p = format!("targetSegments[{i}]");
            check_percentage(f, &format!("{p}.percentage"), seg.percentage, errors);
            check_weights(
                f,
                &format!("{p}.rolloutWeights"),
                seg.rollout_weights.as_ref(),
                variant_keys.as_ref(),
                errors,
            );
            for (j, c) in seg.conditions.iter().enumerate() {
                let cp = format!("{p}.conditions[{j}]");
                if !OPS.contains(&c.op.as_str()) {
                    let hint = match nearest(&c.op, OPS) {
                        Some(n) => format!("did you mean `{n}`? valid ops: {}", OPS.join(", ")),
                        None => format!("valid ops: {}", OPS.join(", ")),
                    };
                    errors.push(diag(
                        &f.file,
                        f.doc.pos(&format!("{cp}.op")),
                        &format!("unknown condition op `{}`", c.op),
                        Some(hint),
                    ));
                }
                if let Some(t) = &c.kind {
                    if t != "property" {
                        errors.push(diag(
                            &f.file,
                            f.doc.pos(&format!("{cp}.type")),
                            &format!("condition type `{t}` is not supported; only `property`"),
                            Some("cohorts go on a variant, not in a segment".into()),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
