//! `ampx export`: the live project → manifests, in a directory or on stdout.

use std::path::PathBuf;
use std::sync::Arc;

use super::{client_options, out, ExitStatus};
use crate::api::{ApiKey, Client};
use crate::cli::Global;
use crate::error::Result;
use crate::export;
use crate::manifest::Region;

/// What `ampx export` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ExportArgs {
    pub out: Option<PathBuf>,
    pub keys: Vec<String>,
    pub project_id: Option<String>,
    pub force: bool,
}

/// The client for a project no manifest describes (export, and show
/// without manifests): the key from AMPLITUDE_MANAGEMENT_API_KEY, the server
/// from `--server` or `--region` (default us), and the project `project_id`
/// names or else the only one the key sees (the deployment list, which every
/// project has, names them all). Returns the client scoped to that project,
/// its id, and the region.
pub(crate) async fn client_without_manifests(
    global: &Global,
    project_id: Option<&str>,
) -> Result<(Arc<Client>, String, Region)> {
    let key = ApiKey::from_env()?;
    let region: Region = global.region.map(Region::from).unwrap_or(Region::Us);
    let base = match &global.server {
        Some(s) => s.clone(),
        None => region.base_url().to_string(),
    };
    let project = match project_id {
        Some(p) => p.to_string(),
        None => {
            let probe = Client::new(&base, key.clone(), client_options(global))?;
            probe
                .list_all(
                    "/api/1/deployments",
                    "deployments",
                    &[],
                    "the deployment list",
                )
                .await?;
            export::project_id(&probe, None)?
        }
    };
    let options = crate::api::ClientOptions {
        project: Some(project.clone()),
        ..client_options(global)
    };
    let client = Arc::new(Client::new(&base, key, options)?);
    Ok((client, project, region))
}

pub async fn run(global: &Global, args: ExportArgs) -> Result<ExitStatus> {
    // Refuse a non-empty directory before any API call.
    if let Some(dir) = &args.out {
        export::check_out_dir(dir, args.force)?;
    }
    let (client, project, region) =
        client_without_manifests(global, args.project_id.as_deref()).await?;
    let snapshot = export::read(&client, &args.keys, Some(&project)).await?;
    let written_region = global.server.is_none().then_some(region);
    let exported = export::build(&snapshot, written_region);
    if !global.quiet {
        for w in &exported.warnings {
            super::note(&format!("warning: {w}"));
        }
    }
    let summary = format!(
        "Exported {} flag(s), {} experiment(s), {} deployment(s), {} mutex group(s) and {} holdout group(s) from project {} ({} archived left out) with {} API requests.",
        exported.flags,
        exported.experiments,
        exported.deployments,
        exported.mutexes,
        exported.holdouts,
        exported.project_id,
        exported.archived,
        client.requests()
    );
    match &args.out {
        None => {
            out(&exported.stream())?;
            if !global.quiet {
                super::note(&summary);
            }
        }
        Some(dir) => {
            let others = exported.write_to(dir, args.force)?;
            if !global.quiet {
                for o in &others {
                    super::note(&format!(
                        "warning: {} was not written by this export, but `ampx plan {}` reads it too",
                        o.display(),
                        dir.display()
                    ));
                }
            }
            out(&format!(
                "{summary}\nWrote {} manifest file(s) to {}.\nCheck them with: ampx plan {} --detailed-exitcode\n",
                exported.documents.len(),
                dir.display(),
                dir.display()
            ))?;
        }
    }
    Ok(ExitStatus::Success)
}
