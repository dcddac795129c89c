//! Command-line interface (clap derive). Help text comes from these comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::manifest::Region;

/// Keep Amplitude Experiment flags in Git: plan and apply YAML manifests
/// against the Experiment Management API.
///
/// The Management API key is read from AMPLITUDE_MANAGEMENT_API_KEY only.
#[derive(Debug, Parser)]
#[command(name = "ampx", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Base URL of the Management API; overrides the manifest's `server` and `region`.
    #[arg(long, env = "AMPX_SERVER", global = true)]
    pub server: Option<String>,
    /// Region of the project (ignored when a server URL is given).
    #[arg(long, global = true)]
    pub region: Option<RegionArg>,
    /// Most API requests per second (the API allows 100 per project).
    #[arg(long, default_value_t = 100.0, global = true)]
    pub max_rps: f64,
    /// Most API requests in flight at once.
    #[arg(long, default_value_t = 8, global = true)]
    pub parallelism: usize,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RegionArg {
    Us,
    Eu,
}

impl From<RegionArg> for Region {
    fn from(r: RegionArg) -> Region {
        match r {
            RegionArg::Us => Region::Us,
            RegionArg::Eu => Region::Eu,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline; no API call.
    ///
    /// Example: ampx validate flags/
    Validate {
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
    },
    /// Show what apply would change, and the API calls it would make.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx plan flags/ --detailed-exitcode
    Plan {
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit 2 when there are changes, 0 when none, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Fail (exit 1) when the plan carries any risk warning.
        #[arg(long)]
        deny_risky: bool,
    },
    /// Plan, confirm, apply, then verify that a fresh plan is empty.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx apply flags/ --auto-approve
    Apply {
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// Apply without asking (required when standard input is not a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Refuse (exit 1, no writes) when the plan carries any risk warning.
        #[arg(long)]
        deny_risky: bool,
    },
    /// Write the live project's flags and experiments as manifests.
    ///
    /// Reads every flag and experiment of the project (archived ones are left
    /// out, and counted in project.yaml) and writes one manifest per object:
    /// DIR/project.yaml, DIR/flags/<key>.yaml, DIR/experiments/<key>.yaml, and
    /// DIR/ampx.schema.json for editors. Without --out, every document goes to
    /// stdout, separated by `---`. `ampx plan DIR` then shows no changes.
    ///
    /// Empty fields (no description, payload, inclusions, tags or segments)
    /// are left out and so stay unmanaged; so is the bucketing salt.
    /// Deployment SDK keys are never written.
    ///
    /// export refuses to write into a directory that is not empty (hidden
    /// entries such as .git do not count); --force replaces the files it
    /// writes, keeps every other file and names the manifests it did not write.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx export --out manifests/ && ampx plan manifests/ --detailed-exitcode
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx export --key checkout-redesign --key pricing-page-test
    Export {
        /// Directory to write the manifests into (new or empty; default: stdout).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Export only the flag or experiment with this key (repeatable).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Project id for project.yaml (default: the projectId the API shows on the flags).
        #[arg(long, value_name = "ID")]
        project_id: Option<String>,
        /// Write into a non-empty --out directory: replace the files export writes, keep the rest.
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Print a shell completion script.
    ///
    /// Example: ampx completions bash > /etc/bash_completion.d/ampx
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manifests' JSON Schema (for editors and linters).
    ///
    /// Example: ampx schema > schemas/ampx.schema.json
    Schema,
    /// Run a local stand-in for the Management API.
    ///
    /// Example: ampx emulator --port 8080 --state emulator.json
    Emulator {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Keep the state in this JSON file across restarts.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Items per list page (small pages exercise paging).
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
        /// API key the emulator accepts (default: `emulator-key`).
        #[arg(long)]
        api_key: Option<String>,
    },
    /// Plan, apply and re-plan the manifests in examples/ against a built-in emulator (no API key needed).
    ///
    /// Example: ampx demo
    Demo {
        /// Manifests to apply (default: examples/manifests).
        #[arg(default_value = "examples/manifests")]
        path: PathBuf,
    },
}
