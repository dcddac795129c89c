//! `ampx refs`: the managed keys' references in source code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{load, out, paths_or_cwd, warn, ExitStatus};
use crate::cli::Global;
use crate::error::{Error, Result};
use crate::manifest::{ManifestSet, ObjectKind};
use crate::refs::{self, Declared, Report};

/// `ampx refs`'s options.
#[derive(Debug, Clone, Args)]
pub struct RefsArgs {
    /// Manifest files or directories (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// A directory (or file) of source code to search; repeatable.
    #[arg(long = "src", value_name = "DIR", required = true)]
    pub src: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RefsFormat::Text)]
    pub format: RefsFormat,
    /// In files ending `.EXT`, count a key only where REGEX matches, with
    /// `{key}` where the key (in any of its forms) stands, e.g.
    /// `ts='variant\(\s*"{key}"'`; repeatable. Other files: any
    /// whole-token occurrence counts.
    #[arg(long = "pattern", value_name = "EXT=REGEX")]
    pub patterns: Vec<String>,
    /// An SDK call whose key must be declared, as a regex with `{key}`
    /// where the key stands (letters, digits, `_`, `-`, `.`); repeatable,
    /// replaces the default: `variant(`, `exposure(`, `getVariant(` and
    /// `isEnabled(` with a quoted key, on one line.
    #[arg(long = "call", value_name = "REGEX")]
    pub calls: Vec<String>,
    /// Exit 2 when there are findings of this kind; repeatable.
    #[arg(long = "fail-on", value_enum, value_name = "FINDING")]
    pub fail_on: Vec<FailOn>,
    /// Locations shown per key (0: every one).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub locations: usize,
}

/// `--format`.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum RefsFormat {
    #[default]
    Text,
    Json,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    /// A declared flag or experiment that no source line references.
    Unreferenced,
    /// An SDK call that asks for a key no manifest declares.
    Undeclared,
    /// A key whose manifest says `archived: true`, still referenced.
    Archived,
}

/// The declared flags and experiments, one entry a key: with `--env`, that
/// environment's; otherwise every environment's (an object is archived when
/// it is in any of them).
fn declared(global: &Global, set: ManifestSet) -> Result<(Vec<Declared>, Vec<String>)> {
    let sets: Vec<(Option<String>, ManifestSet)> = match global.env.as_deref() {
        Some(env) => vec![(Some(env.to_string()), set.into_env(Some(env))?)],
        None if set.projects.len() > 1 => {
            let mut sets = Vec::new();
            for env in set.environments() {
                let one = set.for_env(Some(&env))?;
                sets.push((Some(env), one));
            }
            sets
        }
        None => vec![(None, set.into_env(None)?)],
    };
    let several = sets.len() > 1;
    let mut keys: BTreeMap<String, Declared> = BTreeMap::new();
    let mut known = Vec::new();
    for (env, set) in &sets {
        known.extend(set.group_experiments().cloned());
        for f in &set.flags {
            let d = keys.entry(f.spec.key.clone()).or_insert_with(|| Declared {
                key: f.spec.key.clone(),
                kind: match f.spec.kind {
                    ObjectKind::Flag => "flag",
                    ObjectKind::Experiment => "experiment",
                },
                declared_at: f.at("key").to_string(),
                archived: false,
                archived_in: Vec::new(),
            });
            if f.spec.archived == Some(true) {
                d.archived = true;
                if let (true, Some(env)) = (several, env) {
                    d.archived_in.push(env.clone());
                }
            }
        }
    }
    known.retain(|k| !keys.contains_key(k));
    Ok((keys.into_values().collect(), known))
}

/// `--pattern EXT=REGEX`.
fn pattern(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((ext, regex)) if !ext.is_empty() && !regex.is_empty() => {
            Ok((ext.trim_start_matches('.').to_string(), regex.to_string()))
        }
        _ => Err(Error::Refused(format!(
            "--pattern `{text}`: write EXT=REGEX, e.g. ts='variant\\(\"{{key}}\"'"
        ))),
    }
}

/// Runs `ampx refs`.
pub fn run(global: &Global, args: RefsArgs) -> Result<ExitStatus> {
    for s in &args.src {
        if !s.exists() {
            return Err(Error::Refused(format!(
                "--src {}: no such directory or file",
                refs::printable(&s.display().to_string())
            )));
        }
    }
    let set = load(&args.paths)?;
    let exclude: Vec<PathBuf> = set.sources.iter().map(|(p, _)| p.clone()).collect();
    let (declared, known) = declared(global, set)?;
    let config = refs::Config {
        src: args.src.clone(),
        keys: declared.iter().map(|d| d.key.clone()).collect(),
        known,
        patterns: args
            .patterns
            .iter()
            .map(|p| pattern(p))
            .collect::<Result<_>>()?,
        calls: if args.calls.is_empty() {
            refs::DEFAULT_CALLS.iter().map(|c| c.to_string()).collect()
        } else {
            args.calls.clone()
        },
        exclude,
        threads: 0,
    };
    let scan = refs::scan(&config).map_err(Error::Refused)?;
    for e in scan.errors.iter().take(5) {
        warn(&format!("not searched: {e}"));
    }
    if scan.errors.len() > 5 {
        warn(&format!(
            "{} more paths not searched",
            scan.errors.len() - 5
        ));
    }
    let report = refs::report(&args.src, declared, &scan, args.locations);
    match args.format {
        RefsFormat::Json => {
            let json = serde_json::to_string_pretty(&report)
                .map_err(|e| Error::Other(anyhow::Error::new(e)))?;
            out(&format!("{json}\n"))?;
        }
        RefsFormat::Text => {
            let manifests: Vec<String> = paths_or_cwd(&args.paths)
                .iter()
                .map(|p| refs::printable(&p.display().to_string()))
                .collect();
            out(&refs::text(&report, &manifests))?;
        }
    }
    let failed: Vec<String> = args
        .fail_on
        .iter()
        .filter_map(|f| failing(&report, *f))
        .collect();
    if failed.is_empty() {
        return Ok(ExitStatus::Success);
    }
    super::note(&format!("--fail-on: {}", failed.join("; ")));
    Ok(ExitStatus::Changes)
}

/// What `--fail-on` FINDING fails on, if anything.
fn failing(r: &Report, f: FailOn) -> Option<String> {
    let (n, what) = match f {
        FailOn::Unreferenced => (r.unreferenced.len(), "unreferenced key(s)"),
        FailOn::Undeclared => (r.undeclared.len(), "undeclared key(s)"),
        FailOn::Archived => (
            r.archived_referenced.len(),
            "archived key(s) still referenced",
        ),
    };
    (n > 0).then(|| format!("{n} {what}"))
}
