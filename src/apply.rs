//! Runs a plan's calls: objects concurrently (bounded), each object's calls
//! in order, stopping that object at its first failure while the others go
//! on. The report says, per object, what was applied, what failed (with the
//! API's message) and what was not attempted.
//!
//! Lost answers do no harm. Every write either is idempotent (PATCH of
//! fields, inclusion and deployment additions, `bulk-delete-users`) or is
//! recognised when its retry is refused: a create that answers 409 looks the
//! object up by key and goes on with it (never a duplicate); after a lost
//! answer, a variant add answering 409 and a variant or deployment removal
//! or a variant rename answering 404 count as done. Removal of a user by
//! index, which shifts the others and so is not idempotent, is never used.

use std::fmt::Write as _;
use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::{Answer, ApiError, Call, Client};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::kind::Kind;
use crate::plan::{self, object_name, ObjectPlan, Op, Plan, Recovery};
use crate::render::text::{printable_text, Style};

/// The outcome for one object.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    pub kind: Kind,
    pub key: String,
    /// An archive that prune asked for.
    pub pruned: bool,
    /// The apply was interrupted before this object's calls were all made:
    /// the rest are `not_attempted`.
    pub interrupted: bool,
    /// When its last call ended (milliseconds since the epoch), to tell a
    /// later change by another writer from this apply's own.
    pub finished_ms: i64,
    pub applied: Vec<Op>,
    /// The call that failed, and why.
    pub failed: Option<(Op, Failure)>,
    pub not_attempted: Vec<Op>,
    /// The manifest file the object's changes come from, when the plan
    /// names one: where to act on a failure the manifest must fix.
    pub manifest: Option<String>,
}

/// Why a call of an object did not apply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// The API refused the call, or did not answer.
    #[error("{0}")]
    Api(ApiError),
    /// An experiment answered 405: a web or Guides & Surveys experiment,
    /// which the API does not let anyone edit (no documented field marks
    /// them beforehand).
    #[error("cannot be edited through the API (web or Guides & Surveys experiment): {0}")]
    NotEditable(ApiError),
    /// A create was refused as a duplicate, and finding the object by key
    /// failed too.
    #[error("{}; looking it up failed too: {}", .0.0, .0.1)]
    LookupFailed(Box<(ApiError, ApiError)>),
    /// The create answered, but with no id, and the object is not found by
    /// key.
    #[error("{0}: the create answer carried no id")]
    NoId(String),
    /// The object's own create failed, so its later calls have no id.
    #[error("the object's id is unknown (its create failed)")]
    OwnIdUnknown,
    /// The call names another object the plan creates, whose create failed.
    #[error("the id of {0} is unknown (was it created?)")]
    IdUnknown(String),
    /// A fill names a place the call's body does not have.
    #[error("the call has no `{at}` to write the id of {name} into")]
    NoPlace { at: String, name: String },
    /// The object must follow one that did not apply in full.
    #[error("not attempted: it must follow {0}, which did not apply in full")]
    Blocked(String),
    /// The task applying the object stopped unexpectedly.
    #[error(
        "the apply of this object stopped unexpectedly ({0}); plan again to see what it changed"
    )]
    Stopped(String),
}

/// The outcome of an apply.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub objects: Vec<ObjectReport>,
    pub requests: usize,
}

impl ObjectReport {
    /// A prune archive the API refused because the experiment cannot be
    /// edited through it: reported, but not a failure of the run.
    pub fn prune_refused(&self) -> bool {
        self.pruned && matches!(self.failed, Some((_, Failure::NotEditable(_))))
    }
}

impl Report {
    pub fn ok(&self) -> bool {
        !self.interrupted()
            && self
                .objects
                .iter()
                .all(|o| o.failed.is_none() || o.prune_refused())
    }
    /// Whether an interrupt left calls unmade.
    pub fn interrupted(&self) -> bool {
        self.objects.iter().any(|o| o.interrupted)
    }
    pub fn applied_calls(&self) -> usize {
        self.objects.iter().map(|o| o.applied.len()).sum()
    }

    pub fn render(&self, st: Style) -> String {
        let mut out = String::new();
        let failed = self
            .objects
            .iter()
            .filter(|o| o.failed.is_some() && !o.prune_refused())
            .count();
        for o in &self.objects {
            match &o.failed {
                None if o.interrupted => {
                    let _ = writeln!(
                        out,
                        "{} {} {}: interrupted: {} call(s) applied, {} not attempted",
                        st.yellow("■"),
                        o.kind,
                        o.key,
                        o.applied.len(),
                        o.not_attempted.len()
                    );
                    for p in &o.not_attempted {
                        let _ = writeln!(
                            out,
                            "    not attempted: {} {}  ({})",
                            p.method,
                            p.path,
                            printable_text(&p.summary)
                        );
                    }
                }
                Some(_) if o.prune_refused() => {
                    let _ = writeln!(
                        out,
                        "{} {} {}: not archived: it cannot be edited through the API (web or Guides & Surveys experiment)\n    to keep prune from trying again: archive it in Amplitude, name it in a manifest, or take the owner tag off it",
                        st.yellow("!"),
                        o.kind,
                        o.key
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{} {} {}: {} call(s) applied",
                        st.green("✓"),
                        o.kind,
                        o.key,
                        o.applied.len()
                    );
                }
                Some((op, err)) => {
                    let _ = writeln!(out, "{} {} {}: FAILED", st.red("✗"), o.kind, o.key);
                    if matches!(err, Failure::NotEditable(_)) {
                        let _ = writeln!(
                            out,
                            "    remove it from {}: the API answers 405 to every edit of a web or Guides & Surveys experiment",
                            o.manifest.as_deref().unwrap_or("the manifests")
                        );
                    }
                    for a in &o.applied {
                        let _ = writeln!(
                            out,
                            "    applied:       {} {}  ({})",
                            a.method,
                            a.path,
                            printable_text(&a.summary)
                        );
                    }
                    let _ = writeln!(
                        out,
                        "    failed:        {} {}  ({})",
                        op.method,
                        op.path,
                        printable_text(&op.summary)
                    );
                    let _ = writeln!(
                        out,
                        "                   {}",
                        printable_text(&err.to_string())
                    );
                    for p in &o.not_attempted {
                        let _ = writeln!(
                            out,
                            "    not attempted: {} {}  ({})",
                            p.method,
                            p.path,
                            printable_text(&p.summary)
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "Applied {} call(s) for {} object(s){}, with {} API request(s).",
            self.applied_calls(),
            self.objects.len(),
            if failed > 0 {
                format!("; {failed} object(s) failed")
            } else {
                String::new()
            },
            self.requests
        );
        out
    }
}

fn http_method(m: plan::Method) -> Method {
    match m {
        plan::Method::Get => Method::GET,
        plan::Method::Post => Method::POST,
        plan::Method::Patch => Method::PATCH,
        plan::Method::Delete => Method::DELETE,
    }
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if crate::live::path_safe(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Finds an object by key (a deployment by label), archived included:
/// recovers the id of a create whose answer was lost.
async fn find_id(client: &Client, kind: Kind, key: &str) -> Result<Option<String>, ApiError> {
    let coll = kind.collection();
    if kind.object_kind().is_none() {
        // Groups and deployments: no key filter; one list read.
        let field = if kind == Kind::Deployment {
            "label"
        } else {
            "key"
        };
        // Only `limit` and `cursor` are documented for these lists.
        let items = client
            .list_all(
                &format!("/api/1/{coll}"),
                coll,
                &[],
                &format!("{kind} `{key}`"),
            )
            .await?;
        return Ok(items
            .iter()
            .filter(|i| i.get(field).and_then(Value::as_str) == Some(key))
            .min_by_key(|i| i.get("deleted").and_then(Value::as_bool).unwrap_or(false))
            .and_then(id_of));
    }
    let mut call = Call::get(format!("/api/1/{coll}"), format!("{kind} `{key}`"));
    call.query = vec![
        ("key".into(), key.into()),
        ("includeArchived".into(), "true".into()),
        ("limit".into(), "1000".into()),
    ];
    let project = client.options.project.clone();
    if let Some(p) = &project {
        call.query.push(("projectId".into(), p.clone()));
    }
    let v = client.get_json(&call).await?;
    // A key may be taken in another project the API key sees: only this
    // project's object is this one.
    let ours = |f: &&Value| {
        let other = crate::api::project_of(f).zip(project.as_ref());
        other.is_none_or(|(theirs, ours)| theirs == *ours)
    };
    Ok(v.get(coll)
        .and_then(Value::as_array)
        .and_then(|fs| {
            fs.iter()
                .filter(ours)
                .find(|f| f.get("key").and_then(Value::as_str) == Some(key))
        })
        .and_then(id_of))
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sends a create, never twice blindly: after an attempt that may have been
/// carried out (its answer lost), the object is looked up by its key (a
/// deployment by its label) before the create is sent again, so that no
/// duplicate is made even by a server that would accept one.
async fn send_create(
    client: &Client,
    call: &Call,
    kind: Kind,
    key: &str,
) -> (Result<Answer, ApiError>, bool) {
    let mut attempts = 0;
    loop {
        let (result, maybe_applied) = client.send_tracked(call).await;
        if result.is_ok() || !maybe_applied {
            return (result, maybe_applied);
        }
        match find_id(client, kind, key).await {
            Ok(Some(id)) => {
                tracing::info!(%key, "a create's answer was lost; the object exists: continuing with it");
                return (Ok(Answer::Json(serde_json::json!({ "id": id }))), true);
            }
            Ok(None) if attempts < 3 => {
                attempts += 1;
                tokio::time::sleep(client.options.first_backoff * attempts).await;
            }
            _ => return (result, maybe_applied),
        }
    }
}

/// Whether a retry's refusal means an earlier, lost attempt already did the
/// change, as the call's [`Recovery`] says: adding a variant answers 409 once
/// it exists; removing a variant or a deployment, or renaming a variant,
/// answers 404 once done. (Inclusion and deployment additions and
/// `bulk-delete-users` are idempotent; index-based user removal, which is
/// not, is never used.)
fn already_done(op: &Op, status: Option<u16>) -> bool {
    matches!(
        (op.recovery, status),
        (Recovery::ConflictIsDone, Some(409)) | (Recovery::GoneIsDone, Some(404))
    )
}

/// Ids of the objects a plan creates, by `COLL/KEY`, for the placeholders
/// of the objects that use them.
type Ids = Arc<Mutex<HashMap<String, String>>>;

/// Writes the ids the call's fills name into its body. An id apply has not
/// learned (its object's create failed) is an error naming the object.
fn fill(op: &Op, ids: &HashMap<String, String>) -> Result<Option<Value>, Failure> {
    let mut body = op.body.clone();
    for f in &op.fills {
        let name = f.id.name();
        let Some(id) = ids.get(&name) else {
            return Err(Failure::IdUnknown(name));
        };
        let value = match id.parse::<u64>() {
            Ok(n) if f.numeric => Value::from(n),
            _ => Value::String(id.clone()),
        };
        let Some(slot) = body.as_mut().and_then(|b| b.pointer_mut(&f.at)) else {
            return Err(Failure::NoPlace {
                at: f.at.clone(),
                name,
            });
        };
        *slot = value;
    }
    Ok(body)
}

async fn run_object(client: Arc<Client>, o: ObjectPlan, ids: Ids, stop: Stop) -> ObjectReport {
    let mut report = ObjectReport {
        kind: o.kind,
        key: o.key.clone(),
        pruned: o.pruned,
        interrupted: false,
        finished_ms: 0,
        applied: Vec::new(),
        failed: None,
        not_attempted: Vec::new(),
        manifest: manifest_of(&o),
    };
    let name = object_name(&o);
    let mut id = o.id.clone();
    let mut ops = o.ops.into_iter();
    while let Some(op) = ops.next() {
        // Interrupted: no new call starts; this object's rest is reported.
        if stop.is_set() {
            report.interrupted = true;
            report.not_attempted = std::iter::once(op)
                .chain(ops)
                .map(|mut p| {
                    if let Some(i) = &id {
                        p.path = p.path.with_own_id(i);
                    }
                    p
                })
                .collect();
            return report;
        }
        let is_create = op.recovery == Recovery::Create;
        let resolved = {
            // Read under the lock, not copied: the map holds every id the
            // plan has created so far.
            let known = ids.lock().unwrap_or_else(|e| e.into_inner());
            let path = match (&id, op.path.needs_own_id()) {
                (Some(i), true) => Ok(op.path.with_own_id(i)),
                (None, true) => Err(Failure::OwnIdUnknown),
                _ => Ok(op.path.clone()),
            };
            path.and_then(|p| Ok((p, fill(&op, &known)?)))
        };
        let (path, body) = match resolved {
            Ok(x) => x,
            Err(msg) => {
                report.failed = Some((op.clone(), msg));
                report.not_attempted = ops.collect();
                return report;
            }
        };
        let call = Call {
            method: http_method(op.method),
            path: path.to_string(),
            query: Vec::new(),
            body: body.clone(),
            what: format!("{} `{}`", o.kind, o.key),
            once: is_create,
        };
        let (result, maybe_applied) = if is_create {
            send_create(&client, &call, o.kind, &o.key).await
        } else {
            client.send_tracked(&call).await
        };
        let result = match result {
            Err(e) if maybe_applied && already_done(&op, e.status) => {
                tracing::info!(
                    call = %format!("{} {path}", op.method),
                    "an earlier attempt's answer was lost and the retry answered {}: the change is in place",
                    e.status.unwrap_or_default()
                );
                Ok(Answer::Text(String::new()))
            }
            other => other,
        };
        let outcome: Result<(), Failure> = match (result, is_create) {
            (Ok(answer), true) => match answer.json().as_ref().and_then(id_of) {
                Some(new_id) => {
                    id = Some(new_id);
                    Ok(())
                }
                None => match find_id(&client, o.kind, &o.key).await {
                    Ok(Some(found)) => {
                        id = Some(found);
                        Ok(())
                    }
                    _ => Err(Failure::NoId(path.to_string())),
                },
            },
            (Err(e), true) if e.status == Some(409) => {
                match find_id(&client, o.kind, &o.key).await {
                    Ok(Some(found)) => {
                        tracing::info!(key = %o.key, "create answered 409; the flag exists (an earlier answer was lost?), continuing with it");
                        id = Some(found);
                        Ok(())
                    }
                    Ok(None) => Err(Failure::Api(e)),
                    Err(e2) => Err(Failure::LookupFailed(Box::new((e, e2)))),
                }
            }
            (Ok(_), false) => Ok(()),
            (Err(e), _) if e.status == Some(405) && o.kind == Kind::Experiment => {
                Err(Failure::NotEditable(e))
            }
            (Err(e), _) => Err(Failure::Api(e)),
        };
        if outcome.is_ok() && is_create {
            if let (Some(i), Ok(mut m)) = (&id, ids.lock()) {
                m.insert(name.clone(), i.clone());
            }
        }
        report.finished_ms = now_ms();
        let mut done = op;
        done.path = path;
        done.body = body;
        match outcome {
            Ok(()) => report.applied.push(done),
            Err(msg) => {
                report.failed = Some((done, msg));
                report.not_attempted = ops
                    .map(|mut p| {
                        if let Some(i) = &id {
                            p.path = p.path.with_own_id(i);
                        }
                        p
                    })
                    .collect();
                return report;
            }
        }
    }
    report
}

/// The wave each object runs in: one after the latest wave of the objects
/// of the plan it must follow (`after`); names outside the plan are ignored.
fn waves(plan: &Plan) -> Vec<usize> {
    let names: HashMap<String, usize> = plan
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| (object_name(o), i))
        .collect();
    let mut wave = vec![0usize; plan.objects.len()];
    // Relaxation: at most one pass per object (the plan is ordered, so
    // usually one pass settles it).
    for _ in 0..plan.objects.len().max(1) {
        let mut changed = false;
        for (j, o) in plan.objects.iter().enumerate() {
            for a in &o.after {
                if let Some(&i) = names.get(a) {
                    if i != j && wave[j] <= wave[i] {
                        wave[j] = wave[i] + 1;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    wave
}

/// The report of an object none of whose calls applied: its first call
/// failed for `why`, the rest were not attempted.
fn not_applied(o: &ObjectPlan, why: Failure) -> ObjectReport {
    let mut ops = o.ops.iter().cloned();
    ObjectReport {
        kind: o.kind,
        key: o.key.clone(),
        pruned: o.pruned,
        interrupted: false,
        finished_ms: now_ms(),
        applied: Vec::new(),
        failed: ops.next().map(|op| (op, why)),
        not_attempted: ops.collect(),
        manifest: manifest_of(o),
    }
}

/// The manifest file an object's planned changes are written in.
fn manifest_of(o: &ObjectPlan) -> Option<String> {
    o.changes
        .iter()
        .find_map(|c| c.source.as_ref())
        .map(|s| s.file.clone())
}

/// Set once an interrupt asks the apply to stop: no new call starts.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl Stop {
    pub fn set(&self) {
        self.0 .0.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }
    pub fn is_set(&self) -> bool {
        self.0 .0.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Returns once the stop is set.
    pub async fn wait(&self) {
        loop {
            let notified = self.0 .1.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// Applies every object's calls: objects concurrently (bounded), in waves
/// so that each object starts only once the objects it follows are done.
pub async fn apply(client: Arc<Client>, plan: &Plan) -> Report {
    apply_until(client, plan, Stop::default()).await
}

/// [`apply`], until `stop` is set: then no new call starts, the calls in
/// flight end (within their timeout), and the report says what was
/// applied, what failed and what was not attempted.
pub async fn apply_until(client: Arc<Client>, plan: &Plan, stop: Stop) -> Report {
    let before = client.requests();
    let sem = Arc::new(Semaphore::new(client.options.parallelism.max(1)));
    let ids: Ids = Arc::new(Mutex::new(HashMap::new()));
    let wave = waves(plan);
    let mut failed_names: HashSet<String> = HashSet::new();
    let mut results: Vec<(usize, ObjectReport)> = Vec::new();
    let progress = crate::progress::bar(plan.objects.len(), "Applying");
    for w in 0..=wave.iter().copied().max().unwrap_or(0) {
        let mut set = JoinSet::new();
        // Which object each task applies, to report it if the task fails.
        let mut running = HashMap::new();
        for (i, o) in plan
            .objects
            .iter()
            .enumerate()
            .filter(|(i, _)| wave[*i] == w)
        {
            if let Some(on) = o.after.iter().find(|a| failed_names.contains(*a)) {
                progress.inc(1);
                failed_names.insert(object_name(o));
                results.push((i, not_applied(o, Failure::Blocked(on.clone()))));
                continue;
            }
            let (c, s, ids, o) = (client.clone(), sem.clone(), ids.clone(), o.clone());
            let stop = stop.clone();
            let handle = set.spawn(async move {
                let _permit = s.acquire_owned().await;
                run_object(c, o, ids, stop).await
            });
            running.insert(handle.id(), i);
        }
        while let Some(r) = set.join_next_with_id().await {
            progress.inc(1);
            let (i, report) = match r {
                Ok((id, report)) => (running[&id], report),
                // The object's calls stopped somewhere unknown: it failed,
                // and what it did is for the next plan to see.
                Err(e) => {
                    let i = running[&e.id()];
                    let why = Failure::Stopped(e.to_string());
                    (i, not_applied(&plan.objects[i], why))
                }
            };
            if report.failed.is_some() {
                failed_names.insert(object_name(&plan.objects[i]));
            }
            results.push((i, report));
        }
    }
    results.sort_by_key(|(i, _)| *i);
    Report {
        objects: results.into_iter().map(|(_, r)| r).collect(),
        requests: client.requests() - before,
    }
}
