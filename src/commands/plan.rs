//! `ampx plan`: manifests + live state → a reviewable plan.

use std::path::PathBuf;
use std::sync::Arc;

use super::{client, out, ExitStatus};
use crate::api::live::Live;
use crate::api::Client;
use crate::cli::{Format, Global};
use crate::error::Result;
use crate::manifest::ManifestSet;
use crate::plan::Plan;
use crate::render::text::{render, render_drift, Report, Style};
use crate::saved::SavedPlan;

/// Reads the live state and builds the plan for a manifest set.
pub async fn make_plan(client: &Arc<Client>, set: &ManifestSet) -> anyhow::Result<Plan> {
    Ok(read_and_plan(client, set).await?.0)
}

/// The plan with the server and project it was made against, for its
/// report's header.
pub fn targeted(mut plan: Plan, client: &Client, set: &ManifestSet) -> Plan {
    plan.target = Some(crate::plan::Target {
        server: client.base_url().to_string(),
        project: set.project.spec.id.clone(),
        environment: set.project.spec.environment.clone(),
    });
    plan
}

/// Like [`make_plan`], also returning the live state it read.
pub async fn read_and_plan(
    client: &Arc<Client>,
    set: &ManifestSet,
) -> anyhow::Result<(Plan, Live)> {
    let before = client.requests();
    let live = crate::fetch::fetch(client, set).await?;
    let plan = crate::plan::make(set, &live, client.requests() - before).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!(
            "the live project rules out this plan:\n{}\nnothing was changed",
            lines.join("\n")
        )
    })?;
    Ok((plan, live))
}

/// The JSON form of a plan or drift report (`formatVersion` 2, documented
/// in docs/json-format.md).
pub fn plan_json(plan: &Plan, report: Report) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(&plan_doc(plan, report)).unwrap_or_default()
    )
}

/// The JSON document of a plan or drift report.
fn plan_doc(plan: &Plan, report: Report) -> serde_json::Value {
    let doc = serde_json::json!({
        "formatVersion": 2,
        "report": match report { Report::Plan => "plan", Report::Drift => "drift" },
        "summary": {
            "create": plan.count(crate::diff::Action::Create),
            "change": plan.count(crate::diff::Action::Update) + plan.count(crate::diff::Action::Unarchive),
            "archive": plan.count(crate::diff::Action::Archive),
            "operations": plan.op_count(),
        },
        "objects": plan.objects,
        "unknown": plan.unknown,
        "unmanaged": plan.unmanaged,
        "requests": plan.requests,
    });
    let mut doc = doc;
    if let (Some(t), Some(m)) = (&plan.target, doc.as_object_mut()) {
        m.insert("server".into(), t.server.clone().into());
        m.insert("project".into(), t.project.clone().into());
        if let Some(e) = &t.environment {
            m.insert("environment".into(), e.clone().into());
        }
    }
    if let (false, Some(m)) = (plan.schedules.is_empty(), doc.as_object_mut()) {
        let list: Vec<serde_json::Value> = plan
            .schedules
            .iter()
            .map(|s| {
                let step = |st: Option<(i64, i64)>| {
                    st.map(|(at, p)| serde_json::json!({"at": crate::time::format_rfc3339(at), "rolloutPercentage": p}))
                };
                serde_json::json!({
                    "kind": s.kind,
                    "key": s.key,
                    "current": step(s.current),
                    "next": step(s.next),
                })
            })
            .collect();
        m.insert("schedules".into(), list.into());
    }
    if let (Some(sel), Some(m)) = (&plan.selected, doc.as_object_mut()) {
        m.insert(
            "selected".into(),
            serde_json::to_value(sel).unwrap_or_default(),
        );
    }
    doc
}

/// `plan --all-envs` and `drift --all-envs`: every environment the
/// manifests describe, each against its own project with its own key, one
/// section each (in the format asked for), then one summary. True when any
/// environment differs.
pub async fn run_all_envs(
    global: &Global,
    paths: &[PathBuf],
    format: Format,
    report: Report,
    deny_risky: bool,
) -> Result<bool> {
    let all = super::load(paths)?;
    let mut envs: Vec<Option<String>> = all.environments().into_iter().map(Some).collect();
    if envs.is_empty() {
        envs.push(None);
    }
    let mut plans = Vec::new();
    for env in &envs {
        let set = super::scheduled(all.for_env(env.as_deref())?)?;
        let client = client(global, &set)?;
        let (plan, live) = read_and_plan(&client, &set).await?;
        if report == Report::Plan {
            super::lint::gate(&set, &live)?;
        }
        let mut plan = targeted(plan, &client, &set);
        if report == Report::Drift {
            crate::fetch::attribution::attribute(&client, &mut plan, &live).await;
        }
        plans.push((env.clone().unwrap_or_default(), plan));
    }
    let summary: Vec<String> = plans
        .iter()
        .map(|(env, plan)| {
            let what = if plan.is_empty() {
                "no changes".to_string()
            } else {
                crate::render::text::counts(plan)
            };
            format!("{env}: {what}")
        })
        .collect();
    let text = match format {
        Format::Json => {
            let doc = serde_json::json!({
                "formatVersion": 2,
                "report": match report { Report::Plan => "plan", Report::Drift => "drift" },
                "environments": plans
                    .iter()
                    .map(|(_, plan)| plan_doc(plan, report))
                    .collect::<Vec<_>>(),
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        }
        Format::Markdown => {
            let mut s = String::new();
            for (env, plan) in &plans {
                s.push_str(&format!("## Environment `{env}`\n\n"));
                s.push_str(&crate::render::markdown::render(plan, report));
                s.push('\n');
            }
            s.push_str(&format!("**Summary**: {}\n", summary.join("; ")));
            s
        }
        Format::Text => {
            let mut s = String::new();
            for (_, plan) in &plans {
                s.push_str(&match report {
                    Report::Plan => render(plan, Style::for_stdout()),
                    Report::Drift => render_drift(plan, Style::for_stdout()),
                });
                s.push('\n');
            }
            s.push_str(&format!("Environments: {}.\n", summary.join("; ")));
            s
        }
    };
    out(&text)?;
    for (_, plan) in &plans {
        super::refuse_risky(plan, deny_risky)?;
    }
    Ok(plans.iter().any(|(_, p)| !p.is_empty()))
}

/// Prints a plan or drift report in the chosen format.
pub fn print_report(plan: &Plan, format: Format, report: Report) -> Result<()> {
    let text = match (format, report) {
        (Format::Text, Report::Plan) => render(plan, Style::for_stdout()),
        (Format::Text, Report::Drift) => render_drift(plan, Style::for_stdout()),
        (Format::Json, _) => plan_json(plan, report),
        (Format::Markdown, _) => crate::render::markdown::render(plan, report),
    };
    out(&text)
}

/// How `plan` reports.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub format: Format,
    pub detailed_exitcode: bool,
    pub deny_risky: bool,
    /// Save the plan here for `apply --plan`.
    pub out: Option<PathBuf>,
    /// `--target KIND/KEY`: only these objects and what they need.
    pub targets: Vec<String>,
}

pub async fn run(global: &Global, paths: &[PathBuf], opts: PlanOptions) -> Result<ExitStatus> {
    let set = super::load_env(global, paths)?;
    let targets = super::targets_in(&set, &opts.targets)?;
    let client = client(global, &set)?;
    let (plan, live) = read_and_plan(&client, &set).await?;
    super::lint::gate(&set, &live)?;
    let mut plan = targeted(plan, &client, &set);
    if !targets.is_empty() {
        plan.select(&targets);
    }
    print_report(&plan, opts.format, Report::Plan)?;
    if let Some(file) = &opts.out {
        SavedPlan::new(client.base_url(), &set, &live, &plan).write(file)?;
        if !global.quiet {
            super::note(&format!(
                "Saved the plan to {}; apply exactly it with: ampx apply --plan {}",
                file.display(),
                file.display()
            ));
        }
    }
    super::refuse_risky(&plan, opts.deny_risky)?;
    let status = if opts.detailed_exitcode && !plan.is_empty() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    };
    super::left_to_exit((set, live, plan));
    Ok(status)
}
