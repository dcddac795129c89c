//! `ampx plan`: manifests + live state → a reviewable plan.

use std::path::PathBuf;
use std::sync::Arc;

use super::{client, load, out, ExitStatus};
use crate::api::Client;
use crate::cli::{Format, Global};
use crate::manifest::ManifestSet;
use crate::plan::Plan;
use crate::render::text::{render, Style};

/// Reads the live state and builds the plan for a manifest set.
pub async fn make_plan(client: &Arc<Client>, set: &ManifestSet) -> anyhow::Result<Plan> {
    let before = client.requests();
    let live = crate::fetch::fetch(client, set).await?;
    let diffs = crate::diff::diff_all(&set.flags, &live).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("error: {}: {}", e.at, e.message))
            .collect();
        anyhow::anyhow!("{}\nnothing was changed", lines.join("\n"))
    })?;
    Ok(crate::plan::build(
        diffs,
        &set.project.spec.id,
        client.requests() - before,
    ))
}

/// The JSON form of a plan.
pub fn plan_json(plan: &Plan) -> String {
    let doc = serde_json::json!({
        "formatVersion": 1,
        "summary": {
            "create": plan.count(crate::diff::Action::Create),
            "change": plan.count(crate::diff::Action::Update) + plan.count(crate::diff::Action::Unarchive),
            "archive": plan.count(crate::diff::Action::Archive),
            "operations": plan.op_count(),
        },
        "objects": plan.objects,
        "requests": plan.requests,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

pub async fn run(
    global: &Global,
    paths: &[PathBuf],
    format: Format,
    detailed: bool,
    deny_risky: bool,
) -> anyhow::Result<ExitStatus> {
    let Some(set) = load(paths) else {
        return Ok(ExitStatus::Failure);
    };
    let client = client(global, &set)?;
    let plan = make_plan(&client, &set).await?;
    match format {
        Format::Text => out(&render(&plan, Style::for_stdout())),
        Format::Json => out(&plan_json(&plan)),
    }
    if super::refuse_risky(&plan, deny_risky) {
        return Ok(ExitStatus::Failure);
    }
    Ok(if detailed && !plan.is_empty() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
