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
use crate::plan::{ObjectPlan, Op, Plan, ID};
use crate::render::text::Style;

/// The outcome for one object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectReport {
    pub kind: String,
    pub key: String,
    pub applied: Vec<Op>,
    pub failed: Option<(Op, String)>,
    pub not_attempted: Vec<Op>,
}

/// The outcome of an apply.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub objects: Vec<ObjectReport>,
    pub requests: usize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.objects.iter().all(|o| o.failed.is_none())
    }
    pub fn applied_calls(&self) -> usize {
        self.objects.iter().map(|o| o.applied.len()).sum()
    }

    pub fn render(&self, st: Style) -> String {
        let mut out = String::new();
        let failed = self.objects.iter().filter(|o| o.failed.is_some()).count();
        for o in &self.objects {
            match &o.failed {
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
                    for a in &o.applied {
                        let _ = writeln!(
                            out,
                            "    applied:       {} {}  ({})",
                            a.method, a.path, a.summary
                        );
                    }
                    let _ = writeln!(
                        out,
                        "    failed:        {} {}  ({})",
                        op.method, op.path, op.summary
                    );
                    let _ = writeln!(out, "                   {err}");
                    for p in &o.not_attempted {
                        let _ = writeln!(
                            out,
                            "    not attempted: {} {}  ({})",
                            p.method, p.path, p.summary
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

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Finds a flag or experiment by key (archived included): recovers the id of
/// a create whose answer was lost.
async fn find_id(client: &Client, kind: &str, key: &str) -> Result<Option<String>, ApiError> {
    let coll = format!("{kind}s");
    let mut call = Call::get(format!("/api/1/{coll}"), format!("{kind} `{key}`"));
    call.query = vec![
        ("key".into(), key.into()),
        ("includeArchived".into(), "true".into()),
        ("limit".into(), "1000".into()),
    ];
    let v = client.get_json(&call).await?;
    Ok(v.get(coll.as_str())
        .and_then(Value::as_array)
        .and_then(|fs| {
            fs.iter()
                .find(|f| f.get("key").and_then(Value::as_str) == Some(key))
        })
        .and_then(id_of))
}

/// Whether a retry's refusal means an earlier, lost attempt already did the
/// change: adding a variant answers 409 once it exists; removing a variant or
/// a deployment, or renaming a variant, answers 404 once done. (Inclusion and
/// deployment additions and `bulk-delete-users` are idempotent; index-based
/// user removal, which is not, is never used.)
fn already_done(op: &Op, status: Option<u16>) -> bool {
    let is_variant_path = op.path.contains("/variants/") && !op.path.contains("/users");
    let renames = op.body.as_ref().is_some_and(|b| b.get("key").is_some());
    match (op.method.as_str(), status) {
        ("POST", Some(409)) => op.path.ends_with("/variants"),
        ("DELETE", Some(404)) => is_variant_path || op.path.contains("/deployments/"),
        ("PATCH", Some(404)) => is_variant_path && renames,
        _ => false,
    }
}

async fn run_object(client: Arc<Client>, o: ObjectPlan) -> ObjectReport {
    let mut report = ObjectReport {
        kind: o.kind.clone(),
        key: o.key.clone(),
        applied: Vec::new(),
        failed: None,
        not_attempted: Vec::new(),
    };
    let mut id = o.id.clone();
    let mut ops = o.ops.into_iter();
    while let Some(op) = ops.next() {
        let is_create = op.method == "POST" && op.path == format!("/api/1/{}s", o.kind);
        let path = match (&id, op.path.contains(ID)) {
            (Some(i), true) => op.path.replace(ID, i),
            (None, true) => {
                report.failed = Some((
                    op.clone(),
                    "the object's id is unknown (its create failed)".into(),
                ));
                report.not_attempted = ops.collect();
                return report;
            }
            _ => op.path.clone(),
        };
        let call = Call {
            method: method(&op.method),
            path: path.clone(),
            query: Vec::new(),
            body: op.body.clone(),
            what: format!("{} `{}`", o.kind, o.key),
        };
        let (result, maybe_applied) = client.send_tracked(&call).await;
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
        let outcome: Result<(), String> = match (result, is_create) {
            (Ok(answer), true) => match answer.json().as_ref().and_then(id_of) {
                Some(new_id) => {
                    id = Some(new_id);
                    Ok(())
                }
                None => match find_id(&client, &o.kind, &o.key).await {
                    Ok(Some(found)) => {
                        id = Some(found);
                        Ok(())
                    }
                    _ => Err(format!("{path}: the create answer carried no id")),
                },
            },
            (Err(e), true) if e.status == Some(409) => {
                match find_id(&client, &o.kind, &o.key).await {
                    Ok(Some(found)) => {
                        tracing::info!(key = %o.key, "create answered 409; the flag exists (an earlier answer was lost?), continuing with it");
                        id = Some(found);
                        Ok(())
                    }
                    Ok(None) => Err(e.to_string()),
                    Err(e2) => Err(format!("{e}; looking it up failed too: {e2}")),
                }
            }
            (Ok(_), false) => Ok(()),
            (Err(e), _) => Err(e.to_string()),
        };
        let mut done = op;
        done.path = path;
        match outcome {
            Ok(()) => report.applied.push(done),
            Err(msg) => {
                report.failed = Some((done, msg));
                report.not_attempted = ops
                    .map(|mut p| {
                        if let Some(i) = &id {
                            p.path = p.path.replace(ID, i);
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

/// Applies every object's calls.
pub async fn apply(client: Arc<Client>, plan: &Plan) -> Report {
    let before = client.requests();
    let sem = Arc::new(Semaphore::new(client.options.parallelism.max(1)));
    let mut set = JoinSet::new();
    for (i, o) in plan.objects.iter().cloned().enumerate() {
        let (c, s) = (client.clone(), sem.clone());
        set.spawn(async move {
            let _permit = s.acquire_owned().await;
            (i, run_object(c, o).await)
        });
    }
    let mut results: Vec<(usize, ObjectReport)> = Vec::new();
    let progress = crate::progress::bar(plan.objects.len(), "Applying");
    while let Some(r) = set.join_next().await {
        progress.inc(1);
        match r {
            Ok(x) => results.push(x),
            Err(e) => tracing::error!("an apply task failed: {e}"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    Report {
        objects: results.into_iter().map(|(_, r)| r).collect(),
        requests: client.requests() - before,
    }
}
