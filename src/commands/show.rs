//! `ampx show KIND/KEY`: one live object as manifest YAML, exactly the
//! document `ampx export --key KEY` writes for it (its header comment, then
//! the document).
//!
//! With manifests (PATH, or the current directory when it holds any) the
//! Project they describe is read, with its key, server and environment;
//! without any, the project is found as export finds it. The lists are read
//! once and the object looked up in them before any per-object call, so an
//! unknown or archived key costs the lists only, and a known one what export
//! of that one key costs.

use std::path::{Path, PathBuf};

use super::{out, ExitStatus};
use crate::cli::Global;
use crate::error::{Error, Result};
use crate::fetch::{read_lists, Lists};
use crate::kind::Kind;
use crate::live::Live;
use crate::manifest;

/// What `ampx show` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ShowArgs {
    /// `KIND/KEY`, as `--target` takes it.
    pub target: String,
    pub paths: Vec<PathBuf>,
    pub project_id: Option<String>,
}

pub async fn run(global: &Global, args: ShowArgs) -> Result<ExitStatus> {
    let (kind, key) = super::envs::parse_target(&args.target)?;
    if key.is_empty() {
        return Err(Error::Refused(format!(
            "`{}` names no key: write KIND/KEY, e.g. flag/checkout-redesign",
            args.target
        )));
    }
    // Manifests named, or found in the current directory: their Project.
    let set = if !args.paths.is_empty() || holds_manifests(Path::new(".")) {
        Some(super::load_env(global, &args.paths)?)
    } else {
        None
    };
    let (client, project) = match &set {
        Some(set) => {
            let id = &set.project.spec.id;
            if let Some(p) = args.project_id.as_ref().filter(|p| *p != id) {
                return Err(Error::Refused(format!(
                    "--project-id is {p}, but the manifests describe project {id}: --project-id is for a directory without manifests"
                )));
            }
            (super::client(global, set)?, id.clone())
        }
        None => {
            let (client, project, _) =
                super::export::client_without_manifests(global, args.project_id.as_deref()).await?;
            (client, project)
        }
    };
    let live = read_lists(&client, Lists::ALL).await?;
    find(&live, kind, &key, &project)?;
    let snapshot =
        crate::export::read_from(&client, live, std::slice::from_ref(&key), Some(&project)).await?;
    let exported = crate::export::build(&snapshot, None);
    if !global.quiet {
        for w in &exported.warnings {
            super::note(&format!("warning: {w}"));
        }
    }
    tracing::info!(
        "read {} {key} of project {project} with {} API requests",
        kind.noun(),
        client.requests()
    );
    let doc = exported
        .documents
        .iter()
        .find(|d| d.kind == document_kind(kind) && d.key == key)
        .ok_or_else(|| {
            Error::Refused(format!(
                "{} `{key}` of project {project} cannot be written as a manifest (see the warning above)",
                kind.noun()
            ))
        })?;
    out(&format!(
        "{}{}",
        crate::export::yaml_out::comment(&doc.header),
        doc.body
    ))?;
    Ok(ExitStatus::Success)
}

/// The `kind` of an exported document of this kind.
fn document_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Flag => "Flag",
        Kind::Experiment => "Experiment",
        Kind::Deployment => "Deployment",
        Kind::Mutex => "MutexGroup",
        Kind::Holdout => "HoldoutGroup",
    }
}

/// How `show` names a kind in KIND/KEY.
fn target_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Flag => "flag",
        Kind::Experiment => "experiment",
        Kind::Deployment => "deployment",
        Kind::Mutex => "mutex",
        Kind::Holdout => "holdout",
    }
}

/// Every listed object of a kind: its key (a deployment's label), and
/// whether it is archived.
fn listed(live: &Live, kind: Kind) -> Vec<(&str, bool)> {
    match kind {
        Kind::Flag | Kind::Experiment => {
            let objects = match kind {
                Kind::Flag => &live.flags,
                _ => &live.experiments,
            };
            objects
                .values()
                .map(|f| (f.key.as_str(), f.is_archived()))
                .collect()
        }
        Kind::Deployment => live
            .deployments
            .iter()
            .flatten()
            .map(|d| (d.label.as_str(), d.deleted))
            .collect(),
        Kind::Mutex => live
            .mutexes
            .iter()
            .flat_map(|m| m.values())
            .map(|m| (m.key.as_str(), m.deleted || m.archived))
            .collect(),
        Kind::Holdout => live
            .holdouts
            .iter()
            .flat_map(|h| h.values())
            .map(|h| (h.key.as_str(), h.deleted || h.archived))
            .collect(),
    }
}

/// Checks that the lists hold an active object of `kind` with `key`, one
/// manifests can describe; else the error names it, with the closest key of
/// that kind or the kind that does have the key.
fn find(live: &Live, kind: Kind, key: &str, project: &str) -> Result<()> {
    let noun = kind.noun();
    let found: Vec<bool> = listed(live, kind)
        .into_iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, archived)| archived)
        .collect();
    if found.iter().any(|archived| !archived) {
        if kind == Kind::Experiment
            && live
                .experiments
                .get(key)
                .is_some_and(|e| e.is_not_editable())
        {
            return Err(Error::Refused(format!(
                "experiment `{key}` of project {project} is a web or Guides & Surveys experiment, which the API does not let anyone edit: manifests leave it out"
            )));
        }
        return Ok(());
    }
    if !found.is_empty() {
        return Err(Error::Refused(format!(
            "{noun} `{key}` of project {project} is archived; show, like export, leaves archived objects out"
        )));
    }
    let what = if kind == Kind::Deployment {
        "label"
    } else {
        "key"
    };
    let mut text = format!("no {noun} of project {project} has the {what} `{key}`");
    let active: Vec<&str> = listed(live, kind)
        .into_iter()
        .filter(|(_, archived)| !archived)
        .map(|(k, _)| k)
        .collect();
    let other = Kind::ALL.into_iter().find(|k| {
        *k != kind
            && listed(live, *k)
                .iter()
                .any(|(n, archived)| *n == key && !archived)
    });
    if let Some(other) = other {
        text.push_str(&format!(
            " (did you mean `{}/{key}`? a {} has it)",
            target_kind(other),
            other.noun()
        ));
    } else if let Some(close) = manifest::nearest(key, &active) {
        text.push_str(&format!(" (did you mean `{}/{close}`?)", target_kind(kind)));
    }
    Err(Error::Refused(text))
}

/// Whether `dir` holds any ampx manifest (a directory of other YAML, or
/// none, does not: show then reads the project as export does).
fn holds_manifests(dir: &Path) -> bool {
    let Ok(files) = manifest::find_files(&[dir.to_path_buf()]) else {
        return false;
    };
    files.iter().any(|f| {
        std::fs::metadata(f).is_ok_and(|m| m.is_file())
            && std::fs::read_to_string(f).is_ok_and(|t| manifest::looks_like_a_manifest(&t))
    })
}
