//! `ampx demo`: the whole job end to end on a built-in emulator, no API key.
//!
//! It starts the emulator in-process, gives it a small "live" project that
//! has drifted from the example manifests, then plans, applies and re-plans.
//! Then it plans one manifest set for two environments, staging and prod,
//! each against its own project, so that a per-environment override shows.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::apply::plan_apply_verify;
use super::{client_options, load, out, ExitStatus};
use crate::api::{ApiKey, Client, ClientOptions};
use crate::cli::Global;
use crate::emulator::{self, EmulatorConfig};
use crate::error::Result;
use crate::render::text::Style;

/// The live project the demo starts from.
pub fn seed(handle: &emulator::EmulatorHandle) -> anyhow::Result<()> {
    handle.seed_flag(json!({
        "key": "checkout-redesign",
        "name": "Checkout redesign (draft)",
        "description": "One-page checkout",
        "variants": [
            {"key": "enabled", "name": "Enabled", "payload": {"layout": "two-page"}, "rolloutWeight": 1,
             "inclusions": ["alice@example.com", "qa-bot@example.com"]},
            {"key": "control", "rolloutWeight": 1}
        ],
        "rolloutPercentage": 10,
        "tags": ["checkout"],
        "enabled": false
    }))?;
    handle.seed_flag(json!({
        "key": "legacy-banner",
        "name": "Legacy banner",
        "variants": [{"key": "on", "rolloutWeight": 1}],
        "enabled": true
    }))?;
    Ok(())
}

/// The example manifests, built into the binary: `ampx demo` runs
/// anywhere, not only in a clone of the repository.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "project.yaml",
        include_str!("../../examples/manifests/project.yaml"),
    ),
    (
        "checkout-redesign.yaml",
        include_str!("../../examples/manifests/checkout-redesign.yaml"),
    ),
    (
        "checkout-copy-test.yaml",
        include_str!("../../examples/manifests/checkout-copy-test.yaml"),
    ),
    (
        "pricing-page-test.yaml",
        include_str!("../../examples/manifests/pricing-page-test.yaml"),
    ),
    (
        "groups.yaml",
        include_str!("../../examples/manifests/groups.yaml"),
    ),
    (
        "more-flags.yaml",
        include_str!("../../examples/manifests/more-flags.yaml"),
    ),
];

/// The default manifest path of `ampx demo`.
pub const DEFAULT_PATH: &str = "examples/manifests";

/// Where the environments part of the demo reads its manifests: the files
/// below, from disk when they are there, else the copies built in.
pub const ENVIRONMENTS_PATH: &str = "examples/environments";

/// One manifest set for dev, staging and prod: the Projects and one flag
/// whose rollout differs by environment.
const ENVIRONMENTS: &[(&str, &str)] = &[
    (
        "projects.yaml",
        include_str!("../../examples/environments/projects.yaml"),
    ),
    (
        "checkout-redesign.yaml",
        include_str!("../../examples/environments/checkout-redesign.yaml"),
    ),
];

/// The environments the demo plans, each against a project of its own.
const DEMO_ENVIRONMENTS: [&str; 2] = ["staging", "prod"];

pub async fn run(global: &Global, path: &Path) -> Result<ExitStatus> {
    let set = if path == Path::new(DEFAULT_PATH) && !path.exists() {
        let sources: Vec<(std::path::PathBuf, String)> = EXAMPLES
            .iter()
            .map(|(name, text)| (Path::new(DEFAULT_PATH).join(name), text.to_string()))
            .collect();
        crate::manifest::load_sources(&sources)?
    } else {
        load(&[path.to_path_buf()])?
    }
    .for_env(None)?;
    let key = format!(
        "demo-{:016x}",
        (std::process::id() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    );
    let config = EmulatorConfig {
        api_key: key.clone(),
        project_id: set.project.spec.id.clone(),
        ..Default::default()
    };
    let handle = emulator::start(config, ([127, 0, 0, 1], 0).into()).await?;
    seed(&handle)?;
    let client = Arc::new(Client::new(
        &handle.base_url,
        ApiKey::new(key.clone())?,
        client_options(global),
    )?);
    let st = Style::for_stdout();
    out(&format!(
        "ampx demo: manifests in {}, against the built-in emulator (no API key needed).\n\n== ampx plan ==\n\n",
        path.display()
    ))?;
    let opts = super::apply::ApplyOptions {
        auto_approve: true,
        ..Default::default()
    };
    let status = plan_apply_verify(&client, &set, opts, st).await?;
    out("\n== ampx plan (again) ==\n\n")?;
    let again = super::plan::make_plan(&client, &set).await?;
    out(&crate::render::text::render(&again, st))?;
    handle.shutdown().await;
    environments(global, &key, st).await?;
    Ok(if again.is_empty() {
        status
    } else {
        ExitStatus::Failure
    })
}

/// One manifest set, several projects: staging and prod planned from the
/// same files, each against its own (empty) project with its overrides.
async fn environments(global: &Global, key: &str, st: Style) -> Result<()> {
    let dir = Path::new(ENVIRONMENTS_PATH);
    let sources: Vec<(std::path::PathBuf, String)> = ENVIRONMENTS
        .iter()
        .map(|(name, built_in)| {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|_| built_in.to_string());
            (path, text)
        })
        .collect();
    let all = crate::manifest::load_sources(&sources)?;
    let mut sets = Vec::new();
    for env in DEMO_ENVIRONMENTS {
        sets.push(all.for_env(Some(env))?);
    }
    let ids: Vec<String> = sets.iter().map(|s| s.project.spec.id.clone()).collect();
    let config = EmulatorConfig {
        api_key: key.to_string(),
        project_id: ids[0].clone(),
        other_projects: ids[1..].to_vec(),
        ..Default::default()
    };
    let handle = emulator::start(config, ([127, 0, 0, 1], 0).into()).await?;
    out(&format!(
        "\n== Environments: one manifest set, a project each ==\n\n\
         {ENVIRONMENTS_PATH} describes dev, staging and prod in one manifest set;\n\
         checkout-redesign's `environments:` gives each its own rollout. Staging\n\
         and prod, each planned against its own project:\n"
    ))?;
    for (env, set) in DEMO_ENVIRONMENTS.iter().zip(&sets) {
        let client = Arc::new(Client::new(
            &handle.base_url,
            ApiKey::new(key.to_string())?,
            ClientOptions {
                project: Some(set.project.spec.id.clone()),
                ..client_options(global)
            },
        )?);
        let plan = super::plan::targeted(super::plan::make_plan(&client, set).await?, &client, set);
        out(&format!("\n== ampx --env {env} plan ==\n\n"))?;
        out(&crate::render::text::render(&plan, st))?;
    }
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The built-in copies are the files of examples/manifests, all of them.
    #[test]
    fn the_built_in_examples_are_the_example_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(super::DEFAULT_PATH);
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        on_disk.sort();
        let mut built_in: Vec<(String, String)> = super::EXAMPLES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        built_in.sort();
        assert_eq!(built_in, on_disk);
    }

    /// The built-in environment manifests are those files of
    /// examples/environments.
    #[test]
    fn the_built_in_environments_are_the_example_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(super::ENVIRONMENTS_PATH);
        for (name, text) in super::ENVIRONMENTS {
            assert_eq!(
                std::fs::read_to_string(dir.join(name)).unwrap(),
                *text,
                "{name}"
            );
        }
    }
}
