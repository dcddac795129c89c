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

/// The JSON form of a plan or drift report (`formatVersion` 1, documented
/// in docs/json-format.md).
pub fn plan_json(plan: &Plan, report: Report) -> String {
    let doc = serde_json::json!({
        "formatVersion": 1,
        "report": match report { Report::Plan => "plan", Report::Drift => "drift" },
        "summary": {
            "create": plan.count(crate::diff::Action::Create),
            "change": plan.count(crate::diff::Action::Update) + plan.count(crate::diff::Action::Unarchive),
            "archive": plan.count(crate::diff::Action::Archive),
            "operations": plan.op_count(),
        },
        "objects": plan.objects,
        "unknown": plan.unknown,
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
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
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
}

pub async fn run(global: &Global, paths: &[PathBuf], opts: PlanOptions) -> Result<ExitStatus> {
    let set = super::load_env(global, paths)?;
    let client = client(global, &set)?;
    let (plan, live) = read_and_plan(&client, &set).await?;
    let plan = targeted(plan, &client, &set);
    print_report(&plan, opts.format, Report::Plan)?;
    if let Some(file) = &opts.out {
        SavedPlan::new(client.base_url(), &set, &live, &plan).write(file)?;
        eprintln!(
            "Saved the plan to {}; apply exactly it with: ampx apply --plan {}",
            file.display(),
            file.display()
        );
    }
    super::refuse_risky(&plan, opts.deny_risky)?;
    Ok(if opts.detailed_exitcode && !plan.is_empty() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
