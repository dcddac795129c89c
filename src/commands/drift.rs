//! `ampx drift`: the live project against the manifests, with who changed
//! each drifted object last ([`attribute`]).

use std::path::PathBuf;

use super::plan::{print_report, read_and_plan};
use super::{client, ExitStatus};
use crate::cli::{Format, Global};
use crate::error::Result;
use crate::render::text::Report;

pub use crate::fetch::attribution::attribute;

/// Names the live flags and experiments that no manifest names (and that
/// prune, if on, does not already archive in the plan): drift does not say
/// "matches" while such objects exist. Reads a list the plan did not need.
async fn unmanaged(
    client: &crate::api::Client,
    set: &crate::manifest::ManifestSet,
    live: &crate::live::Live,
    plan: &mut crate::plan::Plan,
) -> Result<()> {
    use crate::fetch::{read_lists, Lists, Scope};
    use crate::manifest::ObjectKind;
    let wanted = Lists::for_manifests(set);
    let missing = Lists {
        flags: wanted
            .flags
            .is_none()
            .then(|| Scope::Keys(Default::default())),
        experiments: wanted
            .experiments
            .is_none()
            .then(|| Scope::Keys(Default::default())),
        deployments: false,
        mutexes: false,
        holdouts: false,
    };
    let extra = if missing.flags.is_some() || missing.experiments.is_some() {
        Some(read_lists(client, missing).await?)
    } else {
        None
    };

    let in_plan: std::collections::BTreeSet<(crate::kind::Kind, &str)> = plan
        .objects
        .iter()
        .map(|o| (o.kind, o.key.as_str()))
        .collect();
    for kind in [ObjectKind::Flag, ObjectKind::Experiment] {
        let named = set.named(kind);
        let mut keys = Vec::new();
        let objects = live
            .objects(kind)
            .iter()
            .chain(extra.iter().flat_map(|l| l.objects(kind).iter()));
        for (key, lf) in objects {
            if lf.is_archived()
                || named.contains(key.as_str())
                || in_plan.contains(&(kind.into(), key.as_str()))
            {
                continue;
            }
            keys.push(key.clone());
        }
        if !keys.is_empty() {
            plan.unmanaged.push(crate::plan::Unmanaged {
                kind: kind.into(),
                keys,
            });
        }
    }
    Ok(())
}

pub async fn run(global: &Global, paths: &[PathBuf], format: Format) -> Result<ExitStatus> {
    let set = super::load_env(global, paths)?;
    let client = client(global, &set)?;
    let (plan, live) = read_and_plan(&client, &set).await?;
    let mut plan = super::plan::targeted(plan, &client, &set);
    attribute(&client, &mut plan, &live).await;
    unmanaged(&client, &set, &live, &mut plan).await?;
    print_report(&plan, format, Report::Drift)?;
    Ok(if plan.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}
