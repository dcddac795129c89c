//! `ampx apply`: plan, confirm, apply, verify.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::{client, out, ExitStatus};
use crate::api::Client;
use crate::cli::Global;
use crate::error::{Error, Result};
use crate::manifest::ManifestSet;
use crate::plan::Plan;
use crate::render::text::{render, Style};
use crate::saved::SavedPlan;

/// Asks on the terminal; only `yes` approves.
fn confirm(calls: usize) -> bool {
    eprint!("\nApply these {calls} API call(s)? Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes"
}

/// Watches for SIGINT and SIGTERM while an apply runs. The first stops the
/// apply (no new call starts; calls in flight finish, then the report is
/// printed and ampx exits 130); the second exits at once.
async fn watch_signals(stop: crate::apply::Stop) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(not(unix))]
    let mut term = None::<()>;
    next_signal(&mut term).await;
    stop.set();
    super::note(
        "\nInterrupted: no new call starts; the calls in flight finish, then the report follows (interrupt again to exit at once).",
    );
    next_signal(&mut term).await;
    super::note("Interrupted again: exiting at once; the report may be incomplete. Run `ampx plan` to see what was applied.");
    std::process::exit(ExitStatus::Interrupted as i32);
}

/// The next SIGINT (Ctrl-C) or SIGTERM.
#[cfg(unix)]
async fn next_signal(term: &mut Option<tokio::signal::unix::Signal>) {
    let term = async {
        match term {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// The next Ctrl-C.
#[cfg(not(unix))]
async fn next_signal(_: &mut Option<()>) {
    let _ = tokio::signal::ctrl_c().await;
}

/// How `apply` proceeds.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub auto_approve: bool,
    pub deny_risky: bool,
    /// `--format json`: standard output carries only the report document.
    pub json: bool,
    /// `--target KIND/KEY`: only these objects and what they need.
    pub targets: Vec<String>,
}

/// The apply report as a versioned JSON document (`--format json`): the
/// plan's target, each object's outcome and calls, and the verification.
fn report_json(plan: &Plan, report: &crate::apply::Report, verified: Option<&Plan>) -> String {
    use serde_json::json;
    let call =
        |op: &crate::plan::Op| json!({"method": op.method, "path": op.path, "summary": op.summary});
    let objects: Vec<serde_json::Value> = report
        .objects
        .iter()
        .map(|o| {
            let outcome = match &o.failed {
                Some(_) if o.prune_refused() => "not-editable",
                Some(_) => "failed",
                None if o.interrupted => "interrupted",
                None => "applied",
            };
            let failed = o.failed.as_ref().map(|(op, why)| {
                let status = match why {
                    crate::apply::Failure::Api(e) | crate::apply::Failure::NotEditable(e) => {
                        e.status
                    }
                    _ => None,
                };
                json!({
                    "call": call(op),
                    "error": crate::render::text::printable_text(&why.to_string()),
                    "status": status,
                })
            });
            json!({
                "kind": o.kind,
                "key": o.key,
                "outcome": outcome,
                "applied": o.applied.iter().map(call).collect::<Vec<_>>(),
                "failed": failed,
                "notAttempted": o.not_attempted.iter().map(call).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "formatVersion": 1,
        "report": "apply",
        "server": plan.target.as_ref().map(|t| &t.server),
        "project": plan.target.as_ref().map(|t| &t.project),
        "ok": report.ok(),
        "interrupted": report.interrupted(),
        "objects": objects,
        "requests": report.requests,
        "verified": verified.map(|again| again.is_empty()),
        "stillDiffering": verified
            .map(|again| again.objects.iter().map(crate::plan::object_name).collect::<Vec<_>>())
            .unwrap_or_default(),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

/// Plans, applies when approved, then verifies. Shared by `apply` and `demo`.
pub async fn plan_apply_verify(
    client: &Arc<Client>,
    set: &ManifestSet,
    opts: ApplyOptions,
    st: Style,
) -> Result<ExitStatus> {
    let targets = super::targets_in(set, &opts.targets)?;
    let (plan, live) = super::plan::read_and_plan(client, set).await?;
    super::lint::gate(set, &live)?;
    let mut plan = super::plan::targeted(plan, client, set);
    if !targets.is_empty() {
        plan.select(&targets);
    }
    apply_and_verify(client, set, plan, opts, st).await
}

/// Shows a plan, confirms, applies it, then verifies with a fresh plan.
async fn apply_and_verify(
    client: &Arc<Client>,
    set: &ManifestSet,
    plan: Plan,
    opts: ApplyOptions,
    st: Style,
) -> Result<ExitStatus> {
    // With `--format json`, standard output carries the report document
    // alone; the plan and the progress go nowhere.
    let say = |text: &str| if opts.json { Ok(()) } else { out(text) };
    say(&render(&plan, st))?;
    if plan.is_empty() {
        if opts.json {
            out(&report_json(&plan, &Default::default(), Some(&plan)))?;
        }
        return Ok(ExitStatus::Success);
    }
    super::refuse_risky(&plan, opts.deny_risky)?;
    if !opts.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Refused(
                "refusing to apply without confirmation: standard input is not a terminal.\n  hint: review the plan above and run `ampx apply --auto-approve` to apply it unattended (nothing was changed)".into(),
            ));
        }
        if !confirm(plan.op_count()) {
            return Err(Error::Cancelled);
        }
    }
    say("\nApplying…\n")?;
    let started_ms = crate::apply::now_ms();
    let stop = crate::apply::Stop::default();
    let signals = tokio::spawn(watch_signals(stop.clone()));
    let report = crate::apply::apply_until(client.clone(), &plan, stop.clone()).await;
    say(&report.render(st))?;
    if opts.json && (report.interrupted() || !report.ok()) {
        out(&report_json(&plan, &report, None))?;
    }
    if report.interrupted() {
        signals.abort();
        return Err(Error::Interrupted(
            "Interrupted: the calls above marked `not attempted` were not made. Run apply again: it plans from the live state and converges.".into(),
        ));
    }
    // The report says what failed; the exit status says that something did.
    if !report.ok() {
        say("Some calls failed; fix the cause and run apply again: it plans from the live state and converges.\n")?;
        return Ok(ExitStatus::Failure);
    }
    let (mut again, live_now) = tokio::select! {
        again = super::plan::read_and_plan(client, set) => again?,
        _ = stop.wait() => {
            return Err(Error::Interrupted(
                "Interrupted while verifying: every call above was made, but the check that a fresh plan is empty did not finish; run `ampx plan` to see.".into(),
            ));
        }
    };
    signals.abort();
    // Under --target, the targets (and what they needed) are what must
    // now match; the rest was left out on purpose.
    if let Some(sel) = &plan.selected {
        let mut wanted: Vec<(crate::kind::Kind, String)> = Vec::new();
        for o in &plan.objects {
            wanted.push((o.kind, o.key.clone()));
        }
        for t in &sel.targets {
            wanted.extend(super::envs::parse_target(t).ok());
        }
        again.select(&wanted);
        again.selected = plan.selected.clone();
    }
    // A prune archive the API refused (a web experiment) is in every plan
    // until someone acts on it; the report above says so.
    again.objects.retain(|o| {
        !report
            .objects
            .iter()
            .any(|r| r.prune_refused() && r.kind == o.kind && r.key == o.key && o.pruned)
    });
    if opts.json {
        out(&report_json(&plan, &report, Some(&again)))?;
    }
    if again.is_empty() {
        say(&format!(
            "Verified: a fresh plan shows no changes ({} API request(s)).\n",
            again.requests
        ))?;
        Ok(ExitStatus::Success)
    } else {
        // Who changed each object last, and whether it was someone else
        // while this apply ran: the docs offer no lock, so another writer
        // (the UI, another apply) can interleave.
        crate::fetch::attribution::attribute(client, &mut again, &live_now).await;
        say("\nVerification FAILED: the live project still differs from the manifests:\n\n")?;
        say(&crate::render::text::render_drift(&again, st))?;
        for o in &again.objects {
            // After this apply's last call to it (or, for an object it did
            // not touch, after the apply began).
            let ours = report
                .objects
                .iter()
                .find(|r| r.kind == o.kind && r.key == o.key && !r.applied.is_empty());
            let touched = ours.is_some();
            let after = ours.map_or(started_ms, |r| r.finished_ms);
            let at = o.last_modified.as_ref().and_then(|a| a.at.as_deref());
            let since = at
                .and_then(crate::manifest::parse_instant)
                .is_some_and(|t| t > after);
            if since {
                let who = o
                    .last_modified
                    .as_ref()
                    .and_then(|a| a.by.clone())
                    .unwrap_or_else(|| "someone".into());
                say(&format!(
                    "{} {} was changed by {who} at {} while this apply ran{}: another writer (the Amplitude UI, another apply) interleaved; apply again to settle it.\n",
                    o.kind,
                    o.key,
                    at.unwrap_or_default(),
                    if touched { ", after its calls" } else { "" }
                ))?;
            }
        }
        Ok(ExitStatus::Failure)
    }
}

pub async fn run(global: &Global, paths: &[PathBuf], opts: ApplyOptions) -> Result<ExitStatus> {
    let set = super::load_env(global, paths)?;
    let client = client(global, &set)?;
    plan_apply_verify(&client, &set, opts, Style::for_stdout()).await
}

/// `apply --plan FILE`: re-reads what the saved plan read, refuses when any
/// of it changed, else applies exactly the saved operations.
pub async fn run_saved(
    global: &Global,
    file: &std::path::Path,
    opts: ApplyOptions,
) -> Result<ExitStatus> {
    let saved = SavedPlan::read(file)?;
    if let (Some(want), Some(is)) = (&global.env, &saved.environment) {
        if want != is {
            return Err(Error::Refused(format!(
                "--env is {want}, but the plan was made for environment {is}; nothing was changed"
            )));
        }
    }
    let set = super::scheduled(saved.manifest_set()?)?;
    // The server is settled without the file: the manifests in it may not
    // choose where the key goes. The file's own record must agree.
    let base = match &global.server {
        Some(s) => s.clone(),
        None => global
            .region
            .map(crate::manifest::Region::from)
            .unwrap_or(crate::manifest::Region::Us)
            .base_url()
            .to_string(),
    };
    let base = crate::api::check_base_url(&base)?;
    if base != saved.server.trim_end_matches('/') {
        return Err(Error::Refused(format!(
            "the plan was made against {}, but ampx now points at {base}; nothing was changed\n  hint: set --server / AMPX_SERVER or --region as when the plan was made (a saved plan's manifests do not choose the server), or make a new plan",
            saved.server
        )));
    }
    if saved.project_id != set.project.spec.id {
        return Err(Error::Refused(format!(
            "the plan names project {}, but its manifests name project {}; nothing was changed",
            saved.project_id, set.project.spec.id
        )));
    }
    let client = Arc::new(Client::new(
        &base,
        crate::api::ApiKey::from_env()?,
        crate::api::ClientOptions {
            project: Some(set.project.spec.id.clone()),
            ..super::client_options(global)
        },
    )?);
    let live = crate::fetch::fetch(&client, &set).await?;
    let now = crate::saved::reads(&set, &live, &saved.plan);
    let stale = saved.staleness(&now);
    if !stale.is_empty() {
        return Err(Error::Refused(format!(
            "the live project changed since the plan was made; nothing was changed:\n{}\n  hint: make a new plan with `ampx plan --out {}` and review it",
            stale
                .iter()
                .map(|l| format!("  - {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            file.display()
        )));
    }
    // The plan the manifests make now must be exactly the saved one: a call
    // edited, added, removed or moved in the file is refused, and what is
    // applied is what the manifests ask for.
    let again = crate::plan::make(&set, &live, 0).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!(
            "the live project rules out this plan:\n{}\nnothing was changed",
            lines.join("\n")
        )
    })?;
    super::lint::gate(&set, &live)?;
    let mut again = again;
    if let Some(sel) = &saved.plan.selected {
        again.select(&super::targets_in(&set, &sel.targets)?);
    }
    if let Err(why) = saved.check_calls(&again) {
        return Err(Error::Refused(format!(
            "{} does not hold the plan its manifests make: {why}; nothing was changed\n  hint: a saved plan is applied only as `ampx plan --out` wrote it; make the plan again",
            file.display()
        )));
    }
    let plan = super::plan::targeted(again, &client, &set);
    apply_and_verify(&client, &set, plan, opts, Style::for_stdout()).await
}
