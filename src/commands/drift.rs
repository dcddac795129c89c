//! `ampx drift`: the live project against the manifests, with who changed
//! each drifted object last ([`attribute`]).

use std::path::PathBuf;

use super::plan::{print_report, read_and_plan};
use super::{client, ExitStatus};
use crate::cli::{Format, Global};
use crate::error::Result;
use crate::render::text::Report;

pub use crate::fetch::attribution::attribute;

pub async fn run(global: &Global, paths: &[PathBuf], format: Format) -> Result<ExitStatus> {
    let set = super::load_env(global, paths)?;
    let client = client(global, &set)?;
    let (plan, live) = read_and_plan(&client, &set).await?;
    let mut plan = super::plan::targeted(plan, &client, &set);
    attribute(&client, &mut plan, &live).await;
    print_report(&plan, format, Report::Drift)?;
    Ok(if plan.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}
