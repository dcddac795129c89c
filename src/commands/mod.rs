//! One function per subcommand; each returns the process's exit status.

pub mod apply;
pub mod demo;
pub mod drift;
pub mod envs;
pub mod export;
pub mod lint;
pub mod plan;
pub mod refs;
pub mod show;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{ApiKey, Client, ClientOptions};
use crate::cli::{Cli, Command, Global};
use crate::error::{Error, Result};
use crate::manifest::{self, ManifestSet, Region};

/// The exit-code contract (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success; for `plan --detailed-exitcode` and `drift`: nothing differs.
    Success = 0,
    /// Error: bad input, API failure, refused or unconfirmed apply.
    Failure = 1,
    /// `plan --detailed-exitcode` or `drift`: differences found.
    Changes = 2,
    /// `apply` stopped by SIGINT or SIGTERM (128 + 2, as shells report it).
    Interrupted = 130,
}

/// Writes to stdout. A closed pipe (`ampx plan | head`) is
/// [`Error::ClosedPipe`], which ends the command quietly.
pub fn out(text: &str) -> Result<()> {
    let text = crate::secrets::scrub(text);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Error::ClosedPipe,
            _ => Error::Other(anyhow::Error::new(e).context("writing standard output")),
        })
}

/// Writes a line to standard error: a warning or a note that can quote the
/// API, with its control characters shown and secrets taken out.
pub fn note(text: &str) {
    let text = crate::render::text::printable_text(text);
    eprintln!("{}", crate::secrets::scrub(&text));
}

/// With `--deny-risky`, a plan with risk warnings is refused.
pub fn refuse_risky(plan: &crate::plan::Plan, deny_risky: bool) -> Result<()> {
    let n = plan.warnings().count();
    if deny_risky && n > 0 {
        return Err(Error::Refused(format!(
            "--deny-risky: the plan carries {n} risk warning(s) (listed above); nothing was applied"
        )));
    }
    Ok(())
}

/// Manifest paths, defaulting to the current directory.
pub fn paths_or_cwd(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    }
}

/// Leaves `held` (a manifest set, a live state, a plan: at 10,000 flags some
/// hundred thousand allocations) to the end of the process instead of
/// freeing it piece by piece, which costs a few per cent of a large plan's
/// CPU just before the process exits anyway. Only for what a command is done
/// with once its report is written.
pub fn left_to_exit<T>(held: T) {
    std::mem::forget(held);
}

/// The objects `--target` names, each checked against the manifests: an
/// object no manifest describes is refused (with the closest name), before
/// any API call.
pub fn targets_in(
    set: &ManifestSet,
    targets: &[String],
) -> Result<Vec<(crate::kind::Kind, String)>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let named = envs::views(set);
    targets
        .iter()
        .map(|t| {
            let (kind, key) = envs::parse_target(t)?;
            if named.contains_key(&(kind, key.clone())) {
                return Ok((kind, key));
            }
            let same_kind: Vec<&str> = named
                .keys()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| n.as_str())
                .collect();
            let close = manifest::nearest(&key, &same_kind)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            Err(Error::Refused(format!(
                "--target {t}: no manifest describes {} `{key}`{close}",
                kind.noun()
            )))
        })
        .collect()
}

/// Loads manifests; every problem comes back in the error.
pub fn load(paths: &[PathBuf]) -> Result<ManifestSet> {
    let set = manifest::load(&paths_or_cwd(paths))?;
    for f in &set.skipped {
        tracing::info!(
            "{}: not an ampx manifest (no `apiVersion: ampx/…`): skipped",
            f.display()
        );
    }
    for w in set.warnings() {
        warn(&w);
    }
    Ok(set)
}

/// The manifests as they are in the environment `--env` names (or the only
/// one): what every command that talks to the API works on.
pub fn load_env(global: &Global, paths: &[PathBuf]) -> Result<ManifestSet> {
    scheduled(load(paths)?.into_env(global.env.as_deref())?)
}

/// One environment's manifests with every rollout schedule at the step due
/// now (see [`lint::now`]).
pub fn scheduled(mut set: ManifestSet) -> Result<ManifestSet> {
    set.schedules = crate::policy::apply_schedules(&mut set, lint::now()?);
    Ok(set)
}

/// `-q`: warnings are not shown.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes a warning to standard error, unless `-q`.
pub fn warn(text: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        note(&format!("warning: {text}"));
    }
}

/// The base URL: `--server` / `AMPX_SERVER`, then the Project's `server`,
/// then `--region`, then the Project's `region`, then us.
pub fn base_url(global: &Global, set: &ManifestSet) -> String {
    if let Some(s) = &global.server {
        return s.clone();
    }
    if let Some(s) = &set.project.spec.server {
        return s.clone();
    }
    let region: Region = global
        .region
        .map(Region::from)
        .or(set.project.spec.region)
        .unwrap_or(Region::Us);
    region.base_url().to_string()
}

pub fn client_options(global: &Global) -> ClientOptions {
    ClientOptions {
        max_rps: global.max_rps,
        parallelism: global.parallelism.max(1),
        ..ClientOptions::default()
    }
}

/// Builds the API client for a manifest set, with the key from the
/// environment, scoped to the set's project.
pub fn client(global: &Global, set: &ManifestSet) -> anyhow::Result<Arc<Client>> {
    let key = match &set.project.spec.api_key_env {
        Some(var) => ApiKey::from_var(var)?,
        None => ApiKey::from_env()?,
    };
    Ok(Arc::new(Client::new(
        &base_url(global, set),
        key,
        ClientOptions {
            project: Some(set.project.spec.id.clone()),
            ..client_options(global)
        },
    )?))
}

/// Runs a parsed command line.
pub async fn run(mut cli: Cli) -> Result<ExitStatus> {
    QUIET.store(cli.global.quiet, std::sync::atomic::Ordering::Relaxed);
    cli.settle_api();
    match cli.command {
        Command::Validate { paths, all_envs } => {
            let all = load(&paths)?;
            let envs = all.environments();
            if (all_envs || cli.global.env.is_none()) && envs.len() > 1 {
                // Loading checked every environment's effective manifests.
                let lines: Vec<String> = all
                    .projects
                    .iter()
                    .map(|p| {
                        let set = all.for_env(p.spec.environment.as_deref());
                        let objects = set.map(|s| s.flags.len()).unwrap_or(0);
                        format!(
                            "  {}: project {}, {objects} flag(s) and experiment(s)",
                            p.spec.environment.as_deref().unwrap_or_default(),
                            p.spec.id
                        )
                    })
                    .collect();
                out(&format!(
                    "The manifests are valid in every environment:\n{}\n",
                    lines.join("\n")
                ))?;
                return Ok(ExitStatus::Success);
            }
            let set = all.into_env(cli.global.env.as_deref())?;
            {
                let experiments = set
                    .flags
                    .iter()
                    .filter(|f| f.spec.kind == crate::manifest::ObjectKind::Experiment)
                    .count();
                let mut counts = vec![
                    format!("{} flag(s)", set.flags.len() - experiments),
                    format!("{experiments} experiment(s)"),
                ];
                for (n, what) in [
                    (set.deployments.len(), "deployment(s)"),
                    (set.mutexes.len(), "mutex group(s)"),
                    (set.holdouts.len(), "holdout group(s)"),
                ] {
                    if n > 0 {
                        counts.push(format!("{n} {what}"));
                    }
                }
                out(&format!(
                    "The manifests are valid: project {}, {}.\n",
                    set.project.spec.id,
                    counts.join(", ")
                ))?;
                Ok(ExitStatus::Success)
            }
        }
        Command::Plan {
            api: _,
            paths,
            format,
            detailed_exitcode,
            deny_risky,
            out,
            all_envs,
            targets,
        } => {
            if all_envs {
                let differs = plan::run_all_envs(
                    &cli.global,
                    &paths,
                    format,
                    crate::render::text::Report::Plan,
                    deny_risky,
                )
                .await?;
                return Ok(if detailed_exitcode && differs {
                    ExitStatus::Changes
                } else {
                    ExitStatus::Success
                });
            }
            let opts = plan::PlanOptions {
                format,
                detailed_exitcode,
                deny_risky,
                out,
                targets,
            };
            plan::run(&cli.global, &paths, opts).await
        }
        Command::Drift {
            api: _,
            paths,
            format,
            all_envs,
        } => {
            if all_envs {
                let differs = plan::run_all_envs(
                    &cli.global,
                    &paths,
                    format,
                    crate::render::text::Report::Drift,
                    false,
                )
                .await?;
                return Ok(if differs {
                    ExitStatus::Changes
                } else {
                    ExitStatus::Success
                });
            }
            drift::run(&cli.global, &paths, format).await
        }
        Command::Apply {
            api: _,
            paths,
            plan,
            auto_approve,
            deny_risky,
            format,
            targets,
        } => {
            let opts = apply::ApplyOptions {
                auto_approve,
                deny_risky,
                json: format == crate::cli::ApplyFormat::Json,
                targets,
            };
            match plan {
                Some(file) => apply::run_saved(&cli.global, &file, opts).await,
                None => apply::run(&cli.global, &paths, opts).await,
            }
        }
        Command::Compare {
            api: _,
            paths,
            from,
            to,
            live,
            format,
        } => envs::compare(&cli.global, &paths, &from, &to, live, format).await,
        Command::Lint {
            paths, format, src, ..
        } => lint::run(&cli.global, &paths, format, &src).await,
        Command::Promote {
            paths,
            from,
            to,
            targets,
            dry_run,
        } => envs::promote(&paths, &from, &to, &targets, dry_run),
        Command::Show {
            api: _,
            target,
            paths,
            project_id,
        } => {
            let args = show::ShowArgs {
                target,
                paths,
                project_id,
            };
            show::run(&cli.global, args).await
        }
        Command::Export {
            into: Some(into),
            dry_run,
            ..
        } => {
            let Some(env) = cli.global.env.as_deref() else {
                return Err(Error::Refused(
                    "export --into needs --env NAME: the environment whose project is adopted"
                        .into(),
                ));
            };
            envs::adopt(&cli.global, &[into], env, dry_run).await
        }
        Command::Export {
            out,
            keys,
            project_id,
            force,
            ..
        } => {
            let args = export::ExportArgs {
                out,
                keys,
                project_id,
                force,
            };
            export::run(&cli.global, args).await
        }
        Command::Emulator {
            port,
            state,
            page_size,
            api_key,
            lenient,
            other_project,
            latency_ms,
            error_rate,
            lost_answer_rate,
            rate_limit_rps,
            fault_seed,
        } => {
            let mut config = crate::emulator::EmulatorConfig::default();
            if let Some(k) = api_key {
                config.api_key = k;
            }
            let faults = crate::emulator::Faults {
                latency_ms,
                error_rate,
                lost_answer_rate,
                rate_limit_rps,
                seed: fault_seed,
            };
            let config = crate::emulator::EmulatorConfig {
                lenient,
                other_projects: other_project,
                state_file: state,
                page_size: page_size.clamp(1, 1000),
                faults,
                ..config
            };
            crate::emulator::serve_forever(config, port).await?;
            Ok(ExitStatus::Success)
        }
        Command::Refs(args) => refs::run(&cli.global, args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "ampx", &mut buf);
            out(&String::from_utf8_lossy(&buf))?;
            Ok(ExitStatus::Success)
        }
        Command::Schema => {
            out(&crate::schema::schema_json())?;
            Ok(ExitStatus::Success)
        }
        Command::Demo { path } => demo::run(&cli.global, &path).await,
    }
}
