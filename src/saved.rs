//! Saved plans: `ampx plan --out FILE` and `ampx apply --plan FILE`.
//!
//! A saved plan records the desired state (the manifest files' text), the
//! operations, and a fingerprint and snapshot of every live object the plan
//! read: each flag or experiment a manifest names (or `null` when it did not
//! exist), each object prune would archive, and the deployment list when it
//! was read. `apply --plan` reads the same objects again and refuses, naming
//! the object and field, when any differs; otherwise it applies exactly the
//! recorded operations. The file holds no secret: the API key is never part
//! of the plan, and deployment SDK keys are never read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::live::Live;
use crate::kind::Kind;
use crate::manifest::{load_sources, ManifestSet, ObjectKind};
use crate::plan::Plan;

/// The saved-plan format; a file with another version is refused. Format 2:
/// calls carry their `recovery` and `fills`, which apply acts on.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    pub ampx_saved_plan: u32,
    /// The ampx version that wrote it (informational).
    pub ampx_version: String,
    /// Base URL of the API the plan was made against.
    pub server: String,
    pub project_id: String,
    /// The environment the plan is for, when the manifests describe several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The manifest files, as read.
    pub manifests: Vec<SavedSource>,
    /// What the plan read, in a stable order.
    pub reads: Vec<Read>,
    pub plan: Plan,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedSource {
    pub path: PathBuf,
    pub text: String,
}

/// One live object as the plan saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Read {
    /// `flag`, `experiment` or `deployments` (the whole list).
    pub kind: String,
    pub key: String,
    /// FNV-1a 64 of the snapshot's JSON text, in hex; `absent` when the
    /// object did not exist.
    pub fingerprint: String,
    pub snapshot: Option<Value>,
}

fn fnv1a(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn read(kind: &str, key: &str, snapshot: Option<Value>) -> Read {
    let fingerprint = match &snapshot {
        Some(v) => fnv1a(&serde_json::to_string(v).unwrap_or_default()),
        None => "absent".to_string(),
    };
    Read {
        kind: kind.to_string(),
        key: key.to_string(),
        fingerprint,
        snapshot,
    }
}

/// What a plan over `set` read of `live`: the objects the manifests name,
/// the objects the plan touches, and the deployment list.
pub fn reads(set: &ManifestSet, live: &Live, plan: &Plan) -> Vec<Read> {
    let mut keys: BTreeSet<(ObjectKind, String)> = set
        .flags
        .iter()
        .map(|f| (f.spec.kind, f.spec.key.clone()))
        .collect();
    for o in &plan.objects {
        if let Some(kind) = o.kind.object_kind() {
            keys.insert((kind, o.key.clone()));
        }
    }
    let mut out: Vec<Read> = keys
        .into_iter()
        .map(|(kind, key)| {
            let snapshot = live
                .objects(kind)
                .get(&key)
                .and_then(|lf| serde_json::to_value(lf).ok());
            read(kind.noun(), &key, snapshot)
        })
        .collect();
    for g in &set.mutexes {
        let snapshot = live
            .mutexes
            .as_ref()
            .and_then(|ms| ms.get(&g.spec.key))
            .and_then(|m| serde_json::to_value(m).ok());
        out.push(read(Kind::Mutex.noun(), &g.spec.key, snapshot));
    }
    for g in &set.holdouts {
        let snapshot = live
            .holdouts
            .as_ref()
            .and_then(|hs| hs.get(&g.spec.key))
            .and_then(|h| serde_json::to_value(h).ok());
        out.push(read(Kind::Holdout.noun(), &g.spec.key, snapshot));
    }
    if let Some(ds) = &live.deployments {
        let mut ds = ds.clone();
        ds.sort_by(|a, b| a.id.cmp(&b.id));
        out.push(read("deployments", "", serde_json::to_value(ds).ok()));
    }
    out
}

impl SavedPlan {
    pub fn new(server: &str, set: &ManifestSet, live: &Live, plan: &Plan) -> SavedPlan {
        SavedPlan {
            ampx_saved_plan: FORMAT_VERSION,
            ampx_version: env!("CARGO_PKG_VERSION").to_string(),
            server: server.to_string(),
            project_id: set.project.spec.id.clone(),
            environment: set.project.spec.environment.clone(),
            manifests: set
                .sources
                .iter()
                .map(|(path, text)| SavedSource {
                    path: path.clone(),
                    text: text.clone(),
                })
                .collect(),
            reads: reads(set, live, plan),
            plan: plan.clone(),
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("serializing the plan")?;
        // The file may be kept as a build artifact: no secret a server
        // echoed into the live state goes into it.
        let text = crate::secrets::scrub(&text) + "\n";
        std::fs::write(path, text.as_bytes())
            .with_context(|| format!("writing the plan to {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the saved plan {}", path.display()))?;
        let head: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a saved plan (not JSON)", path.display()))?;
        match head.get("ampxSavedPlan").and_then(Value::as_u64) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => anyhow::bail!(
                "{} is a saved plan of format {v}; this ampx reads format {FORMAT_VERSION}: make the plan again with this version",
                path.display()
            ),
            None => anyhow::bail!(
                "{} is not a saved plan (made by `ampx plan --out FILE`)",
                path.display()
            ),
        }
        serde_json::from_value(head)
            .with_context(|| format!("{} is not a valid saved plan", path.display()))
    }

    /// The manifests the plan was made from, validated again.
    pub fn manifest_set(&self) -> anyhow::Result<ManifestSet> {
        let sources: Vec<(PathBuf, String)> = self
            .manifests
            .iter()
            .map(|s| (s.path.clone(), s.text.clone()))
            .collect();
        load_sources(&sources)
            .and_then(|all| all.for_env(self.environment.as_deref()))
            .map_err(|d| anyhow::anyhow!("the saved plan's manifests do not load:\n{d}"))
    }

    /// What changed live since the plan was made, one line per object;
    /// empty when nothing did.
    pub fn staleness(&self, now: &[Read]) -> Vec<String> {
        let mut out = Vec::new();
        for was in &self.reads {
            let is = now.iter().find(|r| r.kind == was.kind && r.key == was.key);
            let what = if was.kind == "deployments" {
                "the deployment list".to_string()
            } else {
                format!("{} {}", was.kind, was.key)
            };
            let Some(is) = is else {
                out.push(format!("{what}: no longer read by this plan"));
                continue;
            };
            if is.fingerprint == was.fingerprint {
                continue;
            }
            match (&was.snapshot, &is.snapshot) {
                (None, Some(_)) => out.push(format!("{what}: created since the plan was made")),
                (Some(_), None) => out.push(format!("{what}: no longer exists")),
                (Some(a), Some(b)) => {
                    let fields = changed_fields(a, b, "");
                    out.push(format!("{what}: {} changed", fields.join(", ")));
                }
                (None, None) => {}
            }
        }
        out
    }
}

/// The calls of a plan in order, each named by its object, as compared
/// between a saved plan and the plan made again from its manifests.
fn calls(plan: &Plan) -> Vec<(String, Value)> {
    plan.objects
        .iter()
        .flat_map(|o| {
            let name = crate::plan::object_name(o);
            o.ops.iter().map(move |op| {
                (
                    name.clone(),
                    serde_json::to_value(op).unwrap_or(Value::Null),
                )
            })
        })
        .collect()
}

/// `METHOD path` of a call as [`calls`] gives it.
fn call_line(call: &Value) -> String {
    format!(
        "{} {}",
        call["method"].as_str().unwrap_or("?"),
        call["path"].as_str().unwrap_or("?")
    )
}

impl SavedPlan {
    /// Refuses a saved plan whose calls are not exactly those its own
    /// manifests make against the live state now: a call edited, added,
    /// removed or moved by hand (or a plan made by another version), named
    /// by the first call that differs.
    pub fn check_calls(&self, again: &Plan) -> Result<(), String> {
        let (saved, now) = (calls(&self.plan), calls(again));
        let first = saved
            .iter()
            .zip(&now)
            .position(|(a, b)| a != b)
            .or((saved.len() != now.len()).then(|| saved.len().min(now.len())));
        let Some(i) = first else { return Ok(()) };
        let n = i + 1;
        Err(match (saved.get(i), now.get(i)) {
            (Some((oa, a)), Some((ob, b))) if call_line(a) == call_line(b) && oa == ob => {
                let fields: Vec<String> = changed_fields(a, b, "");
                format!(
                    "call {n} ({}, for {oa}) differs from what the manifests in the file ask for: {}",
                    call_line(a),
                    fields.join(", ")
                )
            }
            (Some((oa, a)), Some((ob, b))) => format!(
                "call {n} is `{}` for {oa}, but the manifests in the file ask for `{}` for {ob}",
                call_line(a),
                call_line(b)
            ),
            (Some((oa, a)), None) => format!(
                "call {n} (`{}` for {oa}) is not one the manifests in the file ask for",
                call_line(a)
            ),
            (None, Some((ob, b))) => format!(
                "the manifests in the file ask for call {n} (`{}` for {ob}), which the saved plan lacks",
                call_line(b)
            ),
            (None, None) => String::new(),
        })
    }
}

/// Dotted paths of the fields that differ (two levels into objects).
fn changed_fields(a: &Value, b: &Value, prefix: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if prefix.matches('.').count() < 2 => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            let mut out = Vec::new();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) if p == q => {}
                    (Some(p), Some(q)) => out.extend(changed_fields(p, q, &path)),
                    _ => out.push(path),
                }
            }
            if out.is_empty() && a != b {
                out.push(prefix.to_string());
            }
            out
        }
        _ if a == b => Vec::new(),
        _ => vec![if prefix.is_empty() {
            "(whole object)".to_string()
        } else {
            prefix.to_string()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_names_nested_paths() {
        let a = json!({"name": "A", "variantDetails": {"on": {"payload": 1, "name": "On"}}, "tags": ["x"]});
        let b = json!({"name": "A", "variantDetails": {"on": {"payload": 2, "name": "On"}}, "tags": ["y"]});
        assert_eq!(
            changed_fields(&a, &b, ""),
            ["tags", "variantDetails.on.payload"]
        );
    }

    #[test]
    fn fingerprints_differ_when_content_does() {
        let a = read("flag", "k", Some(json!({"a": 1})));
        let b = read("flag", "k", Some(json!({"a": 2})));
        let c = read("flag", "k", Some(json!({"a": 1})));
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint, c.fingerprint);
        assert_eq!(read("flag", "k", None).fingerprint, "absent");
    }
}
