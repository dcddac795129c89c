//! Between environments: `ampx compare` shows how two environments differ,
//! field by field (their effective manifests, or with `--live` their live
//! projects); `ampx promote` edits the manifest files so that one
//! environment takes another's values, touching only the lines it must.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::ExitStatus;
use crate::cli::{Format, Global};
use crate::edit::Lines;
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::manifest::{self, Doc, Located, ManifestSet, ObjectKind, Source};

/// Fields whose `null` means "managed, and empty" (sent to the API as such).
const NULLABLE: &[&str] = &["startDate", "endDate", "exposureEvent"];

/// Fields that name an object or scope it, never compared or promoted.
const NOT_VALUES: &[&str] = &[
    "key",
    "label",
    "kind",
    "apiVersion",
    "environments",
    "onlyIn",
];

/// One object as it is in one environment (or one live project).
pub struct View {
    pub kind: Kind,
    pub key: String,
    /// Its effective fields, nulls left out.
    pub value: Map<String, Value>,
    /// Where it is written, when a manifest writes it.
    at: Option<Located<()>>,
    variants: Vec<String>,
}

impl View {
    fn source(&self, path: &str) -> Option<Source> {
        let at = self.at.as_ref()?;
        let variants: Vec<&str> = self.variants.iter().map(String::as_str).collect();
        at.sources(&[path], &variants, &[]).pop()
    }
}

/// `value` as a map of its fields without nulls and identity.
fn fields_of(value: Value) -> Map<String, Value> {
    let Value::Object(m) = value else {
        return Map::new();
    };
    m.into_iter()
        // A null is "not set", except where it is a value of its own: a
        // managed date or exposure event that is to be empty.
        .filter(|(k, v)| {
            (!v.is_null() || NULLABLE.contains(&k.as_str())) && !NOT_VALUES.contains(&k.as_str())
        })
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("variants", Value::Array(vs)) => Value::Array(
                    vs.into_iter()
                        .map(|v| match v {
                            Value::Object(m) => {
                                Value::Object(m.into_iter().filter(|(_, x)| !x.is_null()).collect())
                            }
                            other => other,
                        })
                        .collect(),
                ),
                (_, v) => v,
            };
            (k, v)
        })
        .collect()
}

fn view<T: serde::Serialize>(kind: Kind, key: &str, l: &Located<T>) -> View {
    let value = fields_of(serde_json::to_value(&l.spec).unwrap_or(Value::Null));
    let variants = value
        .get("variants")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.get("key").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    View {
        kind,
        key: key.to_string(),
        value,
        at: Some(Located {
            spec: (),
            file: l.file.clone(),
            doc: l.doc.clone(),
            env_override: l.env_override.clone(),
        }),
        variants,
    }
}

fn flag_kind(k: ObjectKind) -> Kind {
    match k {
        ObjectKind::Flag => Kind::Flag,
        ObjectKind::Experiment => Kind::Experiment,
    }
}

/// Every object of a set, by kind and key (a deployment by label).
pub fn views(set: &ManifestSet) -> BTreeMap<(Kind, String), View> {
    let mut out = BTreeMap::new();
    for f in &set.flags {
        let k = flag_kind(f.spec.kind);
        out.insert((k, f.spec.key.clone()), view(k, &f.spec.key, f));
    }
    for d in &set.deployments {
        out.insert(
            (Kind::Deployment, d.spec.label.clone()),
            view(Kind::Deployment, &d.spec.label, d),
        );
    }
    for g in &set.mutexes {
        out.insert(
            (Kind::Mutex, g.spec.key.clone()),
            view(Kind::Mutex, &g.spec.key, g),
        );
    }
    for g in &set.holdouts {
        out.insert(
            (Kind::Holdout, g.spec.key.clone()),
            view(Kind::Holdout, &g.spec.key, g),
        );
    }
    out
}

/// The fields of `a` and `b` that differ, as plans name them (`variants.on.payload`).
pub fn field_diffs(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
) -> Vec<(String, Option<Value>, Option<Value>)> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if x == y {
            continue;
        }
        if let (true, Some(Value::Array(xs)), Some(Value::Array(ys))) = (k == "variants", x, y) {
            let by_key = |vs: &Vec<Value>| -> Vec<(String, Map<String, Value>)> {
                vs.iter()
                    .filter_map(|v| {
                        let m = v.as_object()?;
                        Some((m.get("key")?.as_str()?.to_string(), m.clone()))
                    })
                    .collect()
            };
            let (xs, ys) = (by_key(xs), by_key(ys));
            let mut names: Vec<&String> = xs.iter().map(|(k, _)| k).collect();
            for (k, _) in &ys {
                if !names.contains(&k) {
                    names.push(k);
                }
            }
            for name in names {
                let xv = xs.iter().find(|(k, _)| k == name).map(|(_, m)| m);
                let yv = ys.iter().find(|(k, _)| k == name).map(|(_, m)| m);
                match (xv, yv) {
                    (Some(xm), Some(ym)) => {
                        let fields: BTreeSet<&String> =
                            xm.keys().chain(ym.keys()).filter(|f| *f != "key").collect();
                        for f in fields {
                            if xm.get(f) != ym.get(f) {
                                out.push((
                                    format!("variants.{name}.{f}"),
                                    xm.get(f).cloned(),
                                    ym.get(f).cloned(),
                                ));
                            }
                        }
                    }
                    (x, y) => out.push((
                        format!("variants.{name}"),
                        x.map(|m| Value::Object(m.clone())),
                        y.map(|m| Value::Object(m.clone())),
                    )),
                }
            }
            continue;
        }
        out.push((k.clone(), x.cloned(), y.cloned()));
    }
    out
}

/// The values an override must give for an object whose other fields are
/// `base` to read as `want`: the fields that differ, variants by key, nested
/// mappings key by key (as overrides merge), and `null` for a field `want`
/// leaves out.
pub fn delta(base: &Map<String, Value>, want: &Map<String, Value>) -> Map<String, Value> {
    delta_at(base, want, true)
}

/// [`delta`], where `top` says whether the maps are the object itself (only
/// its own `variants` go by key).
fn delta_at(base: &Map<String, Value>, want: &Map<String, Value>, top: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, w) in want {
        match base.get(k) {
            Some(b) if b == w => {}
            Some(Value::Array(bs)) if top && k == "variants" => {
                if let Value::Array(ws) = w {
                    let mut list = Vec::new();
                    for wv in ws {
                        let key = wv.get("key");
                        let bv = bs.iter().find(|b| b.get("key") == key);
                        match (bv.and_then(Value::as_object), wv.as_object()) {
                            (Some(bm), Some(wm)) => {
                                let d = delta_at(bm, wm, false);
                                let d: Map<String, Value> =
                                    d.into_iter().filter(|(f, _)| f != "key").collect();
                                if !d.is_empty() {
                                    let mut m = Map::new();
                                    m.insert("key".into(), key.cloned().unwrap_or(Value::Null));
                                    m.extend(d);
                                    list.push(Value::Object(m));
                                }
                            }
                            _ => list.push(wv.clone()),
                        }
                    }
                    if !list.is_empty() {
                        out.insert(k.clone(), Value::Array(list));
                    }
                }
            }
            Some(Value::Object(bm)) if w.is_object() => {
                let d = delta_at(bm, w.as_object().expect("an object"), false);
                if !d.is_empty() {
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            _ => {
                out.insert(k.clone(), w.clone());
            }
        }
    }
    for k in base.keys() {
        if !want.contains_key(k) {
            out.insert(k.clone(), Value::Null);
        }
    }
    out
}

/// A value on one line, for the text report.
fn shown(v: &Option<Value>) -> String {
    match v {
        None => "(not set)".into(),
        Some(v) => crate::render::text::printable_text(&v.to_string()),
    }
}

pub(crate) fn parse_target(t: &str) -> Result<(Kind, String)> {
    let Some((kind, key)) = t.split_once('/') else {
        return Err(Error::Refused(format!(
            "`{t}` is not KIND/KEY (e.g. flag/checkout-redesign, experiment/pricing-test, deployment/web, mutex/…, holdout/…)"
        )));
    };
    let kind = match kind {
        "flag" | "flags" => Kind::Flag,
        "experiment" | "experiments" => Kind::Experiment,
        "deployment" | "deployments" => Kind::Deployment,
        "mutex" | "mutexes" | "mutex-group" => Kind::Mutex,
        "holdout" | "holdouts" | "holdout-group" => Kind::Holdout,
        other => {
            return Err(Error::Refused(format!(
                "`{other}` in `{t}` is not a kind: flag, experiment, deployment, mutex or holdout"
            )))
        }
    };
    Ok((kind, key.to_string()))
}

fn check_envs(all: &ManifestSet, from: &str, to: &str) -> Result<()> {
    let envs = all.environments();
    for e in [from, to] {
        if !envs.iter().any(|x| x == e) {
            return Err(Error::Refused(format!(
                "no Project document names the environment `{e}` (the manifests name: {})",
                if envs.is_empty() {
                    "none".to_string()
                } else {
                    envs.join(", ")
                }
            )));
        }
    }
    if from == to {
        return Err(Error::Refused(format!(
            "`{from}` is both environments: name two"
        )));
    }
    Ok(())
}

/// What `compare` found for one object.
struct Compared<'a> {
    kind: Kind,
    key: &'a str,
    only_in: Option<&'a str>,
    fields: Vec<(String, Option<Value>, Option<Value>)>,
    from: Option<&'a View>,
    to: Option<&'a View>,
}

/// `ampx compare --from A --to B`: how B differs from A, per object and field.
pub async fn compare(
    global: &Global,
    paths: &[PathBuf],
    from: &str,
    to: &str,
    live: bool,
    format: Format,
) -> Result<ExitStatus> {
    let all = super::load(paths)?;
    check_envs(&all, from, to)?;
    let (set_a, set_b) = (all.for_env(Some(from))?, all.for_env(Some(to))?);
    let (a, b) = if live {
        (
            live_views(global, &set_a).await?,
            live_views(global, &set_b).await?,
        )
    } else {
        (views(&set_a), views(&set_b))
    };
    let keys: BTreeSet<&(Kind, String)> = a.keys().chain(b.keys()).collect();
    let mut found = Vec::new();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        let fields = match (x, y) {
            (Some(x), Some(y)) => field_diffs(&x.value, &y.value),
            _ => Vec::new(),
        };
        if x.is_some() && y.is_some() && fields.is_empty() {
            continue;
        }
        found.push(Compared {
            kind: k.0,
            key: &k.1,
            only_in: match (x, y) {
                (Some(_), None) => Some(from),
                (None, Some(_)) => Some(to),
                _ => None,
            },
            fields,
            from: x,
            to: y,
        });
    }
    let what = if live { "live projects" } else { "manifests" };
    let (pa, pb) = (&set_a.project.spec.id, &set_b.project.spec.id);
    let text = match format {
        Format::Json => {
            let objects: Vec<Value> = found
                .iter()
                .map(|c| {
                    let fields: Vec<Value> = c
                        .fields
                        .iter()
                        .map(|(p, x, y)| {
                            json!({
                                "path": p,
                                "from": x,
                                "to": y,
                                "fromSource": c.from.and_then(|v| v.source(p)),
                                "toSource": c.to.and_then(|v| v.source(p)),
                            })
                        })
                        .collect();
                    json!({
                        "kind": c.kind,
                        "key": c.key,
                        "onlyIn": c.only_in,
                        "fields": fields,
                    })
                })
                .collect();
            let doc = json!({
                "formatVersion": 1,
                "compared": what,
                "from": {"environment": from, "project": pa},
                "to": {"environment": to, "project": pb},
                "objects": objects,
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        }
        Format::Text | Format::Markdown => {
            let md = format == Format::Markdown;
            let mut out = String::new();
            let title =
                format!("Comparing the {what} of {to} (project {pb}) with {from} (project {pa})");
            out.push_str(&if md {
                format!("### {title}\n\n")
            } else {
                format!("{title}\n\n")
            });
            if md && !found.is_empty() {
                out.push_str("```diff\n");
            }
            for c in &found {
                let noun = c.kind.noun();
                match c.only_in {
                    Some(e) => out.push_str(&format!(
                        "{} {noun} {}: only in {e}\n",
                        if e == from { "-" } else { "+" },
                        c.key
                    )),
                    None => {
                        out.push_str(&format!("~ {noun} {}\n", c.key));
                        for (p, x, y) in &c.fields {
                            out.push_str(&format!("    ~ {p}:\n"));
                            let width = from.len().max(to.len());
                            for (env, v, view) in [(from, x, c.from), (to, y, c.to)] {
                                let src = view
                                    .and_then(|w| w.source(p))
                                    .map(|s| format!("   # {s}"))
                                    .unwrap_or_default();
                                out.push_str(&format!(
                                    "        {env:width$}  {}{}\n",
                                    shown(v),
                                    crate::render::text::printable_text(&src)
                                ));
                            }
                        }
                    }
                }
            }
            if md && !found.is_empty() {
                out.push_str("```\n\n");
            }
            if found.is_empty() {
                out.push_str(&format!("{to} and {from} do not differ.\n"));
            } else {
                let only = |e: &str| found.iter().filter(|c| c.only_in == Some(e)).count();
                out.push_str(&format!(
                    "{}{} object(s) differ: {} with different values, {} only in {from}, {} only in {to}.\n",
                    if found.is_empty() { "" } else { "\n" },
                    found.len(),
                    found.iter().filter(|c| c.only_in.is_none()).count(),
                    only(from),
                    only(to),
                ));
            }
            out
        }
    };
    super::out(&text)?;
    Ok(if found.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}

/// A live project as manifests, through export: what it would write, and
/// each file's text (its header comment, then the document).
async fn live_set(
    global: &Global,
    set: &ManifestSet,
) -> Result<(ManifestSet, HashMap<PathBuf, String>)> {
    let client = super::client(global, set)?;
    let snapshot = crate::export::read(&client, &[], Some(&set.project.spec.id)).await?;
    let exported = crate::export::build(&snapshot, None);
    let sources: Vec<(PathBuf, String)> = exported
        .documents
        .iter()
        .filter(|d| d.kind != "Project")
        .map(|d| {
            let header = crate::export::yaml_out::comment(&d.header);
            (d.path.clone(), format!("{header}{}", d.body))
        })
        .collect();
    let mut with_project = sources.clone();
    if let Some(p) = exported.documents.iter().find(|d| d.kind == "Project") {
        with_project.push((p.path.clone(), p.body.clone()));
    }
    let loaded = manifest::load_sources(&with_project)?;
    Ok((loaded, sources.into_iter().collect()))
}

async fn live_views(global: &Global, set: &ManifestSet) -> Result<BTreeMap<(Kind, String), View>> {
    let mut v = views(&live_set(global, set).await?.0);
    for view in v.values_mut() {
        view.at = None;
    }
    Ok(v)
}

/// One value to set (or remove) in one document.
#[derive(Debug)]
struct Edit {
    file: PathBuf,
    line: usize,
    path: Vec<String>,
    value: Option<Value>,
    /// `flag checkout-redesign`, for the report.
    object: String,
}

/// Every object of the unscoped set, with its raw `environments` and `onlyIn`.
struct Written {
    base: Map<String, Value>,
    envs: Map<String, Value>,
    only_in: Option<Vec<String>>,
    file: PathBuf,
    doc: Arc<Doc>,
}

fn written<T: serde::Serialize>(l: &Located<T>) -> Written {
    let v = serde_json::to_value(&l.spec).unwrap_or(Value::Null);
    let envs = v
        .get("environments")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let only_in = v
        .get("onlyIn")
        .and_then(|o| serde_json::from_value(o.clone()).ok());
    Written {
        base: fields_of(v),
        envs,
        only_in,
        file: l.file.clone(),
        doc: l.doc.clone(),
    }
}

fn all_written(set: &ManifestSet) -> HashMap<(Kind, String), Written> {
    let mut out = HashMap::new();
    for f in &set.flags {
        out.insert((flag_kind(f.spec.kind), f.spec.key.clone()), written(f));
    }
    for d in &set.deployments {
        out.insert((Kind::Deployment, d.spec.label.clone()), written(d));
    }
    for g in &set.mutexes {
        out.insert((Kind::Mutex, g.spec.key.clone()), written(g));
    }
    for g in &set.holdouts {
        out.insert((Kind::Holdout, g.spec.key.clone()), written(g));
    }
    out
}

/// The edits that make `env`'s override of `w` the values `want` (a map of
/// override fields), field by field: unchanged fields keep their lines.
fn override_edits(w: &Written, env: &str, want: &Map<String, Value>, object: &str) -> Vec<Edit> {
    let old = w
        .envs
        .get(env)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fields: BTreeSet<&String> = old.keys().chain(want.keys()).collect();
    fields
        .into_iter()
        .filter(|f| old.get(*f) != want.get(*f))
        .map(|f| Edit {
            file: w.file.clone(),
            line: w.doc.start.line,
            path: vec!["environments".into(), env.into(), f.clone()],
            value: want.get(f).cloned(),
            object: object.to_string(),
        })
        .collect()
}

/// The edit that lets `env` into an object's `onlyIn` (which goes once it
/// would name every environment).
fn join_only_in(w: &Written, env: &str, envs: &[String], object: &str) -> Edit {
    let mut list = w.only_in.clone().unwrap_or_default();
    list.push(env.to_string());
    let everywhere = envs.iter().all(|e| list.contains(e));
    Edit {
        file: w.file.clone(),
        line: w.doc.start.line,
        path: vec!["onlyIn".into()],
        value: (!everywhere).then(|| json!(list)),
        object: object.to_string(),
    }
}

/// Applies edits to their files' texts (read from disk); every file's new
/// text, or the first edit that cannot be made, with its place.
fn apply_edits(edits: &[Edit]) -> Result<BTreeMap<PathBuf, (String, String)>> {
    let mut files: BTreeMap<PathBuf, (String, Lines)> = BTreeMap::new();
    // From the end of each file up, so that an edit never moves the lines
    // of the documents still to edit.
    let mut order: Vec<&Edit> = edits.iter().collect();
    order.sort_by(|a, b| a.file.cmp(&b.file).then(b.line.cmp(&a.line)));
    for e in order {
        if !files.contains_key(&e.file) {
            let text = std::fs::read_to_string(&e.file).map_err(|err| {
                Error::Refused(format!("{}: cannot read: {err}", e.file.display()))
            })?;
            let lines = Lines::new(&text);
            files.insert(e.file.clone(), (text, lines));
        }
        let (_, lines) = files.get_mut(&e.file).expect("just read");
        let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
        lines.set(e.line, &path, e.value.as_ref()).map_err(|m| {
            Error::Refused(format!(
                "{}:{}: cannot edit {} ({}): {m}",
                e.file.display(),
                e.line,
                e.object,
                e.path.join(".")
            ))
        })?;
    }
    Ok(files
        .into_iter()
        .map(|(f, (old, lines))| (f, (old, lines.text())))
        .collect())
}

/// The manifests as they would load with `edited` texts in place of their
/// files.
fn reload(all: &ManifestSet, edited: &BTreeMap<PathBuf, (String, String)>) -> Result<ManifestSet> {
    let mut files: BTreeSet<&Path> = BTreeSet::new();
    files.extend(all.projects.iter().map(|p| p.file.as_path()));
    files.extend(all.flags.iter().map(|p| p.file.as_path()));
    files.extend(all.deployments.iter().map(|p| p.file.as_path()));
    files.extend(all.mutexes.iter().map(|p| p.file.as_path()));
    files.extend(all.holdouts.iter().map(|p| p.file.as_path()));
    files.extend(all.policy.iter().map(|p| p.file.as_path()));
    files.extend(edited.keys().map(PathBuf::as_path));
    let mut sources = Vec::new();
    for f in files {
        let text = match edited.get(f) {
            Some((_, new)) => new.clone(),
            None => std::fs::read_to_string(f)
                .map_err(|e| Error::Refused(format!("{}: cannot read: {e}", f.display())))?,
        };
        sources.push((f.to_path_buf(), text));
    }
    manifest::load_sources(&sources).map_err(|d| {
        Error::Refused(format!(
            "the edited manifests would not load, so no file was changed:\n{d}"
        ))
    })
}

/// Shows each edited file as a unified diff.
pub(crate) fn file_diffs(edited: &BTreeMap<PathBuf, (String, String)>) -> String {
    let mut out = String::new();
    for (file, (old, new)) in edited {
        let name = file.display().to_string();
        let diff = similar::TextDiff::from_lines(old, new);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(2)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string(),
        );
    }
    crate::render::text::printable_text(&out)
}

/// Writes every file through a temporary file beside it, made new (never
/// one already there, nor through a link), then renames them all into
/// place: a file is either as it was or wholly edited, and a failure while
/// writing leaves every file as it was.
fn write_files(edited: &BTreeMap<PathBuf, (String, String)>) -> Result<()> {
    use std::io::Write as _;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (n, (file, (_, new))) in edited.iter().enumerate() {
        let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        let dir = real.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.ampx-edit-{}-{n}", std::process::id()));
        let perms = std::fs::metadata(&real).map(|m| m.permissions()).ok();
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)
            })
            .and_then(|mut f| {
                f.write_all(new.as_bytes())?;
                f.sync_all()?;
                match perms {
                    Some(p) => f.set_permissions(p),
                    None => Ok(()),
                }
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            cleanup(&staged);
            return Err(Error::Refused(format!(
                "{}: cannot write: {e}; no file was changed",
                file.display()
            )));
        }
        staged.push((tmp, real));
    }
    for (i, (tmp, real)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, real) {
            cleanup(&staged[i..]);
            return Err(Error::Refused(format!(
                "{}: cannot write: {e} (the files before it in this list were written)",
                real.display()
            )));
        }
    }
    Ok(())
}

/// `ampx promote --from A --to B`: edits the manifests so that B takes A's
/// values for the named objects (all by default).
pub fn promote(
    paths: &[PathBuf],
    from: &str,
    to: &str,
    targets: &[String],
    dry_run: bool,
) -> Result<ExitStatus> {
    let all = super::load(paths)?;
    check_envs(&all, from, to)?;
    let targets: Vec<(Kind, String)> = targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<_>>()?;
    let (a, b) = (
        views(&all.for_env(Some(from))?),
        views(&all.for_env(Some(to))?),
    );
    let written = all_written(&all);
    let envs = all.environments();
    for t in &targets {
        if !written.contains_key(t) {
            return Err(Error::Refused(format!(
                "no manifest describes {} `{}`",
                t.0.noun(),
                t.1
            )));
        }
        if !a.contains_key(t) {
            return Err(Error::Refused(format!(
                "{} `{}` is not in {from} (its `onlyIn` leaves it out): there is nothing to promote",
                t.0.noun(),
                t.1
            )));
        }
    }
    let chosen: Vec<&(Kind, String)> = if targets.is_empty() {
        a.keys().collect()
    } else {
        targets.iter().collect()
    };
    let mut edits = Vec::new();
    let mut promoted = Vec::new();
    for k in chosen {
        let (Some(va), Some(w)) = (a.get(k), written.get(k)) else {
            continue;
        };
        let object = format!("{} {}", k.0.noun(), k.1);
        let same = b.get(k).is_some_and(|vb| vb.value == va.value);
        if same {
            continue;
        }
        if !b.contains_key(k) {
            edits.push(join_only_in(w, to, &envs, &object));
        }
        edits.extend(override_edits(w, to, &delta(&w.base, &va.value), &object));
        promoted.push((k.clone(), object));
    }
    if edits.is_empty() {
        super::out(&format!(
            "{to} already takes {from}'s values{}: nothing to edit.\n",
            if targets.is_empty() {
                ""
            } else {
                " for the named objects"
            }
        ))?;
        return Ok(ExitStatus::Success);
    }
    let edited = apply_edits(&edits)?;
    // The edited manifests must load and give B exactly A's values.
    let after = reload(&all, &edited)?;
    let b_after = views(&after.for_env(Some(to)).map_err(|d| {
        Error::Refused(format!(
            "the edited manifests would not load, so no file was changed:\n{d}"
        ))
    })?);
    for (k, object) in &promoted {
        let ok = matches!((a.get(k), b_after.get(k)), (Some(x), Some(y)) if x.value == y.value);
        if !ok {
            return Err(Error::Refused(format!(
                "{object}: the edit would not give {to} {from}'s values, so no file was changed"
            )));
        }
    }
    let mut text = file_diffs(&edited);
    let names: Vec<&str> = promoted.iter().map(|(_, o)| o.as_str()).collect();
    text.push_str(&format!(
        "\n{} {to} {from}'s values for {} object(s) ({}) in {} file(s){}.\n",
        if dry_run { "Would give" } else { "Gave" },
        promoted.len(),
        names.join(", "),
        edited.len(),
        if dry_run {
            ": nothing was written (--dry-run)"
        } else {
            "; review with `git diff` and open a pull request"
        }
    ));
    if !dry_run {
        write_files(&edited)?;
    }
    super::out(&text)?;
    Ok(ExitStatus::Success)
}

/// `ampx export --into PATH --env B`: writes the live project of B into
/// manifests that already describe other environments, as B's differences
/// only: `environments.B` overrides for objects the manifests describe,
/// new documents with `onlyIn: [B]` for objects only B has, and B left out
/// of the `onlyIn` of objects B does not have.
pub async fn adopt(
    global: &Global,
    paths: &[PathBuf],
    env: &str,
    dry_run: bool,
) -> Result<ExitStatus> {
    let all = super::load(paths)?;
    let envs = all.environments();
    if !envs.iter().any(|e| e == env) {
        let known: Vec<&str> = envs.iter().map(String::as_str).collect();
        let close = crate::manifest::nearest(env, &known)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Refused(format!(
            "no Project document in {} names the environment `{env}`{close}: add one there first, with `environment: {env}`, the project's `id` and its `apiKeyEnv`",
            shown.join(", ")
        )));
    }
    let set = all.for_env(Some(env))?;
    let (live, texts) = live_set(global, &set).await?;
    let live_views = views(&live);
    let in_env = views(&set);
    let written = all_written(&all);
    let root = match paths.first() {
        Some(p) if p.is_dir() => p.clone(),
        Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => PathBuf::from("."),
    };
    let into_file = paths.first().filter(|p| p.is_file());
    let mut appended: Vec<(PathBuf, String)> = Vec::new();
    let mut edits = Vec::new();
    // Each object given live values: its kind and key, its name, and the
    // fields it must then read as.
    type Adopted = ((Kind, String), String, Map<String, Value>);
    let mut adopted: Vec<Adopted> = Vec::new();
    let mut added: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    let mut notes = Vec::new();
    let (mut overridden, mut only_here, mut left_out) = (0, 0, 0);
    for (k, lv) in &live_views {
        let object = format!("{} {}", k.0.noun(), k.1);
        match written.get(k) {
            Some(w) => {
                // Only the fields the manifests manage in this environment
                // (the base's and its override's): the rest stays unmanaged.
                let effective = in_env.get(k).map_or(&w.base, |v| &v.value);
                let want = managed(effective, &lv.value);
                let keys = |m: &Map<String, Value>| -> Vec<String> {
                    m.get("variants")
                        .and_then(Value::as_array)
                        .map(|vs| {
                            let mut ks: Vec<String> = vs
                                .iter()
                                .filter_map(|v| v.get("key")?.as_str().map(str::to_string))
                                .collect();
                            ks.sort();
                            ks
                        })
                        .unwrap_or_default()
                };
                if w.base.contains_key("variants") && keys(&w.base) != keys(&lv.value) {
                    notes.push(format!(
                        "{object}: its variants in {env} ({}) are not the manifest's ({}); an override cannot add or remove variants, so it was left as it is",
                        keys(&lv.value).join(", "),
                        keys(&w.base).join(", ")
                    ));
                    continue;
                }
                let mut d: Map<String, Value> = delta(&w.base, &want)
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .collect();
                // What the live project does not show keeps its override.
                let old = w.envs.get(env).and_then(Value::as_object);
                for (f, v) in old.into_iter().flatten() {
                    if !want.contains_key(f) {
                        d.insert(f.clone(), v.clone());
                    }
                }
                // An override merges mappings key by key: it cannot take a
                // key out of a payload.
                if has_nested_null(&Value::Object(d.clone()), 0) {
                    notes.push(format!(
                        "{object}: a mapping in {env} lacks keys the manifest gives it (a payload?); an override cannot remove a key, so it was left as it is"
                    ));
                    continue;
                }
                adopted.push((k.clone(), object.clone(), want.clone()));
                let before = edits.len();
                edits.extend(override_edits(w, env, &d, &object));
                if !in_env.contains_key(k) {
                    edits.push(join_only_in(w, env, &envs, &object));
                }
                if edits.len() > before {
                    overridden += 1;
                }
            }
            None => {
                let Some(at) = &lv.at else { continue };
                let Some(text) = texts.get(&at.file) else {
                    continue;
                };
                let mut lines = Lines::new(text);
                lines
                    .set(at.doc.start.line, &["onlyIn"], Some(&json!([env])))
                    .map_err(Error::Refused)?;
                // Adopting into one file: the new object is a new document
                // of that file, where the next run will read it.
                if let Some(file) = into_file {
                    appended.push((file.clone(), lines.text()));
                    only_here += 1;
                    continue;
                }
                let mut path = root.join(&at.file);
                let mut n = 2;
                while path.exists() || added.contains_key(&path) {
                    let stem = at.file.file_stem().unwrap_or_default().to_string_lossy();
                    path = root
                        .join(at.file.parent().unwrap_or(Path::new("")))
                        .join(format!(
                            "{stem}-{env}{}.yaml",
                            if n > 2 {
                                format!("-{n}")
                            } else {
                                String::new()
                            }
                        ));
                    n += 1;
                }
                added.insert(path, (String::new(), lines.text()));
                only_here += 1;
            }
        }
    }
    for (k, w) in &written {
        if in_env.contains_key(k) && !live_views.contains_key(k) {
            let list: Vec<&String> = match &w.only_in {
                Some(l) => l.iter().filter(|e| *e != env).collect(),
                None => envs.iter().filter(|e| *e != env).collect(),
            };
            edits.push(Edit {
                file: w.file.clone(),
                line: w.doc.start.line,
                path: vec!["onlyIn".into()],
                value: Some(json!(list)),
                object: format!("{} {}", k.0.noun(), k.1),
            });
            left_out += 1;
        }
    }
    let mut edited = apply_edits(&edits)?;
    edited.extend(added);
    for (file, doc) in appended {
        if !edited.contains_key(&file) {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::Refused(format!("{}: cannot read: {e}", file.display())))?;
            edited.insert(file.clone(), (text.clone(), text));
        }
        let (_, text) = edited.get_mut(&file).expect("just read");
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("---\n");
        text.push_str(&doc);
    }
    for n in &notes {
        super::warn(n);
    }
    if edited.is_empty() {
        super::out(&format!(
            "The manifests already describe {env} (project {}): nothing to write.\n",
            set.project.spec.id
        ))?;
        return Ok(ExitStatus::Success);
    }
    let after = reload(&all, &edited)?;
    let after = views(&after.for_env(Some(env)).map_err(|d| {
        Error::Refused(format!(
            "the adopted manifests would not load, so no file was changed:\n{d}"
        ))
    })?);
    // Each adopted object must now read, in this environment, as live.
    for (k, object, want) in &adopted {
        let got = after.get(k).map(|v| managed(want, &v.value));
        if got.as_ref() != Some(want) {
            return Err(Error::Refused(format!(
                "{object}: the edit would not give {env} its live values, so no file was changed"
            )));
        }
    }
    let mut text = file_diffs(&edited);
    text.push_str(&format!(
        "\n{} {env} (project {}): {overridden} object(s) with {env}'s own values, {only_here} only in {env}, {left_out} not in {env}, in {} file(s){}.\n",
        if dry_run { "Would adopt" } else { "Adopted" },
        set.project.spec.id,
        edited.len(),
        if dry_run { "; nothing was written (--dry-run)" } else { "" }
    ));
    if !dry_run {
        write_files(&edited)?;
    }
    super::out(&text)?;
    Ok(ExitStatus::Success)
}

/// Whether a `null` sits inside a mapping below the top level.
fn has_nested_null(v: &Value, depth: usize) -> bool {
    match v {
        Value::Null => depth > 1,
        Value::Object(m) => m.values().any(|x| has_nested_null(x, depth + 1)),
        Value::Array(a) => a.iter().any(|x| has_nested_null(x, depth + 1)),
        _ => false,
    }
}

/// `live`'s fields that `base` manages (variants: the fields each variant
/// of `base` manages).
fn managed(base: &Map<String, Value>, live: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, b) in base {
        let Some(l) = live.get(k) else { continue };
        if let (true, Value::Array(bs), Value::Array(ls)) = (k == "variants", b, l) {
            let list = ls
                .iter()
                .map(|lv| {
                    let key = lv.get("key");
                    let bm = bs
                        .iter()
                        .find(|bv| bv.get("key") == key)
                        .and_then(Value::as_object);
                    match (bm, lv.as_object()) {
                        (Some(bm), Some(lm)) => Value::Object(
                            lm.iter()
                                .filter(|(f, _)| bm.contains_key(*f))
                                .map(|(f, v)| (f.clone(), v.clone()))
                                .collect(),
                        ),
                        _ => lv.clone(),
                    }
                })
                .collect();
            out.insert(k.clone(), Value::Array(list));
        } else {
            out.insert(k.clone(), l.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_holds_only_what_differs_variants_by_key() {
        let base = json!({"rolloutPercentage": 100, "name": "A",
            "variants": [{"key": "on", "payload": {"a": 1, "b": 2}}, {"key": "off"}]});
        let want = json!({"rolloutPercentage": 10,
            "variants": [{"key": "on", "payload": {"a": 1, "b": 3}}, {"key": "off"}]});
        let d = delta(base.as_object().unwrap(), want.as_object().unwrap());
        assert_eq!(
            Value::Object(d),
            json!({"rolloutPercentage": 10, "name": null,
                "variants": [{"key": "on", "payload": {"b": 3}}]})
        );
    }
}
