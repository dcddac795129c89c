//! `ampx lint`: the Policy's rules over the manifests, offline, and with a
//! key the rules that read the live project too; and the same rules as a
//! gate in `plan` and `apply`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use super::ExitStatus;
use crate::api::{Call, Client};
use crate::cli::{Global, LintFormat};
use crate::error::{Error, Result};
use crate::live::{Live, LiveFlag};
use crate::manifest::{ManifestSet, ObjectKind, Severity};
use crate::policy::{self, LiveFacts, Violation};

/// The time schedules and expiry are judged at: `AMPX_NOW` (RFC 3339 or a
/// date), which previews a later plan, or else the clock.
pub fn now() -> Result<i64> {
    match std::env::var("AMPX_NOW") {
        Ok(s) => crate::time::parse(&s).ok_or_else(|| {
            Error::Refused(format!(
                "AMPX_NOW is `{s}`, not a time (write it as 2026-12-05T09:00:00Z)"
            ))
        }),
        Err(_) => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default()),
    }
}

/// The live facts the rules read from what a plan already fetched: each
/// flag's rollout (no request of its own).
pub fn facts_of(live: &Live) -> LiveFacts {
    let mut facts = LiveFacts::default();
    for kind in [ObjectKind::Flag, ObjectKind::Experiment] {
        for (key, f) in live.objects(kind) {
            if let Some(p) = f.rollout_percentage {
                facts.rollout.insert((kind, key.clone()), p.round() as i64);
            }
        }
    }
    facts
}

/// Whether a live flag serves one variant to everyone: on, at 100%, no
/// target segment, and one variant (or one with weight).
fn serves_one_variant(f: &LiveFlag) -> bool {
    let weighted = f.rollout_weights.values().filter(|w| **w > 0).count();
    f.enabled
        && f.rollout_percentage.is_some_and(|p| p >= 100.0)
        && f.target_segments.is_empty()
        && (f.variants.len() == 1 || weighted == 1)
}

/// Since when each managed flag that serves one variant to everyone has
/// done so: the time of its newest version (one `GET …/versions` per such
/// flag), or its `lastModifiedAt` when the history says nothing.
async fn one_variant_since(
    client: &Arc<Client>,
    set: &ManifestSet,
    live: &Live,
) -> HashMap<(ObjectKind, String), i64> {
    let mut out = HashMap::new();
    for f in &set.flags {
        let kind = f.spec.kind;
        let Some(lf) = live.objects(kind).get(&f.spec.key) else {
            continue;
        };
        if !serves_one_variant(lf) {
            continue;
        }
        let call = Call::get(
            crate::plan::ApiPath::object(crate::kind::Kind::from(kind), Some(&lf.id))
                .join("versions")
                .to_string(),
            format!("history of {} {}", kind.noun(), f.spec.key),
        );
        let newest = crate::fetch::attribution::newest_version(client, &call)
            .await
            .ok()
            .flatten();
        let at = newest
            .as_ref()
            .and_then(|v| v.get("createdAt"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| lf.last_modified_at.clone());
        if let Some(t) = at.as_deref().and_then(crate::time::parse) {
            out.insert((kind, f.spec.key.clone()), t);
        }
    }
    out
}

/// The gate of `plan` and `apply`: warnings on stderr, and a refusal (exit
/// 1, before any write) when an error-level rule is broken and not waived.
pub fn gate(set: &ManifestSet, live: &Live) -> Result<()> {
    if set.policy.is_none() {
        return Ok(());
    }
    let found = policy::check(set, Some(&facts_of(live)), now()?);
    for v in found.iter().filter(|v| !v.blocks() && v.waived.is_none()) {
        super::warn(&format!("{}: [{}] {}", v.at, v.rule, v.message));
    }
    let blocking: Vec<String> = found
        .iter()
        .filter(|v| v.blocks())
        .map(|v| format!("  {}: [{}] {}", v.at, v.rule, v.message))
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the Policy refuses this plan ({} error(s)); nothing was changed:\n{}\n  hint: fix the manifests, or waive a rule on the object with `waive: [{{rule: …, reason: \"…\"}}]`",
        blocking.len(),
        blocking.join("\n")
    )))
}

/// `ampx lint`: every rule the manifests break. With the project's key in
/// the environment, also the rules that read the live project.
pub async fn run(
    global: &Global,
    paths: &[PathBuf],
    format: LintFormat,
    src: &[PathBuf],
) -> Result<ExitStatus> {
    let set = super::load_env(global, paths)?;
    let now = now()?;
    let key_var = set
        .project
        .spec
        .api_key_env
        .clone()
        .unwrap_or_else(|| "AMPLITUDE_MANAGEMENT_API_KEY".into());
    let live_checked = std::env::var_os(&key_var).is_some();
    let facts = if live_checked {
        let client = super::client(global, &set)?;
        let live = crate::fetch::fetch(&client, &set).await?;
        let mut facts = facts_of(&live);
        facts.one_variant_since = one_variant_since(&client, &set, &live).await;
        Some(facts)
    } else {
        None
    };
    let mut found = policy::check(&set, facts.as_ref(), now);
    let archive = if src.is_empty() {
        Vec::new()
    } else {
        ready_to_archive(&set, &mut found, src)?
    };
    let errors = found.iter().filter(|v| v.blocks()).count();
    let warnings = found
        .iter()
        .filter(|v| v.severity == Severity::Warning && v.waived.is_none())
        .count();
    let waived = found.iter().filter(|v| v.waived.is_some()).count();
    let scope = if set.policy.is_none() {
        "no Policy document: nothing to check".to_string()
    } else if live_checked {
        format!(
            "checked against the manifests and the live project {}",
            set.project.spec.id
        )
    } else {
        format!("checked against the manifests only ({key_var} is not set: maxRolloutStep and stale read the live project)")
    };
    let text = match format {
        LintFormat::Text => {
            let mut out = String::new();
            for v in &found {
                let label = match (&v.waived, v.severity) {
                    (Some(_), _) => "waived",
                    (None, Severity::Error) => "error",
                    _ => "warning",
                };
                out.push_str(&format!("{}: {label} [{}] {}", v.at, v.rule, v.message));
                if let Some(r) = &v.waived {
                    out.push_str(&format!(" (waived: {r})"));
                }
                out.push('\n');
            }
            if !archive.is_empty() {
                out.push_str(&format!(
                    "\nReady to archive ({}): stale, and no code under {} references them. The edit:\n\n{}",
                    archive.len(),
                    src.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                    archive_diff(&archive)?
                ));
            }
            out.push_str(&format!(
                "{}{errors} error(s), {warnings} warning(s), {waived} waived; {scope}.\n",
                if found.is_empty() { "" } else { "\n" }
            ));
            out
        }
        LintFormat::Markdown => {
            let mut out = format!(
                "### ampx lint: {errors} error(s), {warnings} warning(s), {waived} waived\n\n"
            );
            if !found.is_empty() {
                out.push_str(
                    "| | rule | object | where | finding |\n| --- | --- | --- | --- | --- |\n",
                );
                for v in &found {
                    let sign = match (&v.waived, v.severity) {
                        (Some(_), _) => "➖",
                        (None, Severity::Error) => "❌",
                        _ => "⚠️",
                    };
                    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
                    out.push_str(&format!(
                        "| {sign} | `{}` | {} `{}` | `{}` | {}{} |\n",
                        v.rule,
                        v.kind.noun(),
                        cell(&v.key),
                        cell(&v.at.to_string()),
                        cell(&v.message),
                        v.waived
                            .as_ref()
                            .map(|r| format!(" (waived: {})", cell(r)))
                            .unwrap_or_default()
                    ));
                }
                out.push('\n');
            }
            out.push_str(&format!("<sub>{scope}</sub>\n"));
            out
        }
        LintFormat::Json => {
            let list: Vec<Value> = found
                .iter()
                .map(|v| {
                    let mut j = serde_json::to_value(v).unwrap_or_default();
                    if let Some(m) = j.as_object_mut() {
                        m.insert("file".into(), v.at.file.display().to_string().into());
                        m.insert("line".into(), v.at.line.into());
                    }
                    j
                })
                .collect();
            format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({
                    "formatVersion": 1,
                    "live": live_checked,
                    "errors": errors,
                    "warnings": warnings,
                    "waived": waived,
                    "violations": list,
                    "readyToArchive": archive.iter().map(|(k, file, line)| json!({
                        "kind": k.0,
                        "key": k.1,
                        "file": file.display().to_string(),
                        "line": line,
                    })).collect::<Vec<_>>(),
                }))
                .unwrap_or_default()
            )
        }
        LintFormat::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(&sarif(&found)).unwrap_or_default()
        ),
    };
    super::out(&text)?;
    Ok(if errors > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// A flag to archive: its kind and key, its file, and its document's line.
type ToArchive = ((ObjectKind, String), PathBuf, usize);

/// Stale flags that no code under `src` references: each finding says so,
/// and the flag's kind, key, file and document line come back for the edit
/// that archives it.
fn ready_to_archive(
    set: &ManifestSet,
    found: &mut [Violation],
    src: &[PathBuf],
) -> Result<Vec<ToArchive>> {
    let stale: Vec<usize> = (0..found.len())
        .filter(|&i| found[i].rule == "stale")
        .collect();
    if stale.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = stale.iter().map(|&i| found[i].key.clone()).collect();
    let exclude = set
        .flags
        .iter()
        .map(|f| f.file.clone())
        .chain(set.projects.iter().map(|p| p.file.clone()))
        .collect();
    let scan = crate::refs::scan(&crate::refs::Config {
        src: src.to_vec(),
        keys: keys.clone(),
        exclude,
        ..Default::default()
    })
    .map_err(Error::Refused)?;
    let mut out = Vec::new();
    for (n, &i) in stale.iter().enumerate() {
        if scan.references.iter().any(|r| r.key == n) {
            continue;
        }
        let v = &mut found[i];
        v.message.push_str(&format!(
            "; no code references it: ready to archive (`archived: true` in {})",
            v.at.file.display()
        ));
        if let Some(f) = set
            .flags
            .iter()
            .find(|f| f.spec.kind == v.kind && f.spec.key == v.key)
        {
            out.push(((v.kind, v.key.clone()), f.file.clone(), f.doc.start.line));
        }
    }
    Ok(out)
}

/// The manifest edit that archives each flag ready for it, as a diff.
fn archive_diff(flags: &[ToArchive]) -> Result<String> {
    let mut edited = std::collections::BTreeMap::new();
    let mut order: Vec<&ToArchive> = flags.iter().collect();
    // From the end of each file up, so that no edit moves another's line.
    order.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
    for (_, file, line) in order {
        let entry = match edited.entry(file.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Error::Refused(format!("{}: cannot read: {e}", file.display())))?;
                v.insert((text.clone(), text))
            }
        };
        let mut lines = crate::edit::Lines::new(&entry.1);
        lines
            .set(*line, &["archived"], Some(&Value::Bool(true)))
            .map_err(|m| Error::Refused(format!("{}:{line}: {m}", file.display())))?;
        entry.1 = lines.text();
    }
    Ok(super::envs::file_diffs(&edited))
}

/// What each rule checks, for SARIF's rule list.
fn rule_text(rule: &str) -> &'static str {
    match rule {
        "requireDescription" => "Every flag and experiment has a description.",
        "keyPattern" => "Keys match the Policy's pattern.",
        "requireTags" => "Every flag and experiment carries a tag the Policy asks for.",
        "maxRolloutStep" => {
            "A rollout rises at most the Policy's points per apply and per schedule step."
        }
        "expiry" => "Flags carry an `expires` date, not too far ahead, and are gone by then.",
        "stale" => "No flag serves one variant to everyone for longer than the Policy allows.",
        _ => "A Policy rule.",
    }
}

/// The findings as a SARIF 2.1.0 log, for GitHub code scanning: one result
/// per finding, at its manifest line; a waived one carries an in-source
/// suppression with its reason.
pub fn sarif(found: &[Violation]) -> Value {
    let rules: Vec<Value> = policy::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r,
                "name": r,
                "shortDescription": {"text": rule_text(r)},
            })
        })
        .collect();
    let results: Vec<Value> = found
        .iter()
        .map(|v| {
            let uri = v.at.file.to_string_lossy().replace('\\', "/");
            let uri = uri.strip_prefix("./").unwrap_or(&uri).to_string();
            let mut r = json!({
                "ruleId": v.rule,
                "ruleIndex": policy::RULES.iter().position(|x| *x == v.rule).unwrap_or(0),
                "level": match v.severity { Severity::Error => "error", _ => "warning" },
                "message": {"text": v.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": v.at.line.max(1)},
                    }
                }],
            });
            if let (Some(reason), Some(m)) = (&v.waived, r.as_object_mut()) {
                m.insert(
                    "suppressions".into(),
                    json!([{"kind": "inSource", "justification": reason}]),
                );
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "ampx",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://amplitude.com/docs/feature-experiment",
                    "rules": rules,
                }
            },
            "results": results,
        }]
    })
}
