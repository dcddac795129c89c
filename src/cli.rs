//! Command-line interface (clap derive). Help text comes from these comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::manifest::Region;

/// Keep Amplitude Experiment flags in Git: plan and apply YAML manifests
/// against the Experiment Management API.
///
/// The Management API key is read from AMPLITUDE_MANAGEMENT_API_KEY only.
///
/// Defaults: ampx.toml in the current directory (or the file --config or
/// AMPX_CONFIG names) may set `paths` (a list, used when a command is given
/// no PATH; relative to the file), `format` (text|json|markdown: plan,
/// drift, compare, and apply when text or json), `parallelism`, `max_rps`,
/// `env`, `server`, `region` and `color`. A command-line option wins over its
/// environment variable (AMPX_ENV, AMPX_SERVER; NO_COLOR and CLICOLOR_FORCE
/// for colour), which wins over ampx.toml, which wins over the built-in
/// default. An unknown key or a bad value is an error naming its file and
/// line, and nothing is sent to the API. The file never holds the API key:
/// an entry that looks like one (`api_key`, `key`, `token`, …) is refused.
#[derive(Debug, Parser)]
#[command(name = "ampx", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command. `server`, `region`, `max_rps` and
/// `parallelism` are those of the API: the commands that call it take them
/// as their own options ([`ApiArgs`]), and [`Cli::settle_api`] sets them here,
/// where every command reads them. Given before the subcommand (`ampx
/// --server URL plan`) they are still read, but shown in no help.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Base URL of the Management API; overrides the manifest's `server` and `region`.
    #[arg(long, env = "AMPX_SERVER", hide = true)]
    pub server: Option<String>,
    /// Region of the project (ignored when a server URL is given).
    #[arg(long, hide = true)]
    pub region: Option<RegionArg>,
    /// The environment to work on, when the manifests describe several
    /// (the `environment` of one of their Project documents).
    #[arg(long, env = "AMPX_ENV", global = true, value_name = "NAME")]
    pub env: Option<String>,
    /// Most API requests per second, at least 0.001 (the API allows 100 per
    /// project).
    #[arg(long, default_value_t = 100.0, hide = true, value_parser = max_rps)]
    pub max_rps: f64,
    /// Most API requests in flight at once, 1 to 64.
    #[arg(long, default_value_t = 8, hide = true, value_parser = parallelism)]
    pub parallelism: usize,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour: `auto` (a terminal, unless NO_COLOR or TERM=dumb; CLICOLOR_FORCE
    /// forces it), `always` or `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Read option defaults from FILE instead of ./ampx.toml (see `ampx
    /// --help`).
    #[arg(long, env = "AMPX_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The options of the commands that call the API. Each one given wins over
/// the same option given before the subcommand, over its environment
/// variable and over the default.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// Base URL of the Management API (or AMPX_SERVER); overrides the
    /// manifest's `server` and `region`.
    #[arg(long, help_heading = "API")]
    pub server: Option<String>,
    /// Region of the project (ignored when a server URL is given).
    #[arg(long, help_heading = "API")]
    pub region: Option<RegionArg>,
    /// Most API requests per second, 0.001 to 1000 (default: 100, what the
    /// API allows per project).
    #[arg(long, value_parser = max_rps, help_heading = "API")]
    pub max_rps: Option<f64>,
    /// Most API requests in flight at once, 1 to 64 (default: 8).
    #[arg(long, value_parser = parallelism, help_heading = "API")]
    pub parallelism: Option<usize>,
}

impl Cli {
    /// Sets the API options the command was given on [`Global`], where
    /// every command reads them.
    pub fn settle_api(&mut self) {
        let Some(api) = self.command.api() else {
            return;
        };
        let g = &mut self.global;
        if let Some(s) = &api.server {
            g.server = Some(s.clone());
        }
        if let Some(r) = api.region {
            g.region = Some(r);
        }
        if let Some(v) = api.max_rps {
            g.max_rps = v;
        }
        if let Some(n) = api.parallelism {
            g.parallelism = n;
        }
    }
}

impl Command {
    /// The API options of a command that calls the API.
    pub fn api(&self) -> Option<&ApiArgs> {
        match self {
            Command::Plan { api, .. }
            | Command::Drift { api, .. }
            | Command::Apply { api, .. }
            | Command::Export { api, .. }
            | Command::Show { api, .. }
            | Command::Compare { api, .. }
            | Command::Lint { api, .. } => Some(api),
            _ => None,
        }
    }
}

/// `--color`.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
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
    /// For a pull-request comment or an issue (kept under GitHub's 65,536 characters).
    Markdown,
}

/// `lint --format`.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum LintFormat {
    #[default]
    Text,
    Json,
    Markdown,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

/// How `apply` reports.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum ApplyFormat {
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
        /// Check every environment's effective manifests (what validate does
        /// anyway when no --env is given), and list them.
        #[arg(long, conflicts_with = "env")]
        all_envs: bool,
    },
    /// Show what apply would change, and the API calls it would make.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx plan flags/ --detailed-exitcode
    Plan {
        #[command(flatten)]
        api: ApiArgs,
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
        /// Also save the plan to FILE, for `ampx apply --plan FILE` (holds no secret).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Plan every environment the manifests describe: a section each
        /// (its own project and key), one summary.
        #[arg(long, conflicts_with_all = ["out", "env", "targets"])]
        all_envs: bool,
        /// Plan only this object, as KIND/KEY (flag/…, experiment/…,
        /// deployment/LABEL, mutex/…, holdout/…), and the objects it must
        /// wait for; repeatable. Prune is off under it.
        #[arg(long = "target", value_name = "KIND/KEY")]
        targets: Vec<String>,
    },
    /// Compare the live project with the manifests, naming who changed what.
    ///
    /// Exit 0 when nothing differs, 2 when something drifted, 1 on error.
    /// For each drifted object, shows who changed it last and when (from the
    /// object, or from its newest version entry).
    ///
    /// Example: ampx drift flags/ --format markdown > drift.md
    Drift {
        #[command(flatten)]
        api: ApiArgs,
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Check every environment the manifests describe: a section each,
        /// one summary; exit 2 if any drifted.
        #[arg(long, conflicts_with = "env")]
        all_envs: bool,
    },
    /// Plan, confirm, apply, then verify that a fresh plan is empty.
    ///
    /// With --plan FILE, applies a plan saved by `ampx plan --out FILE`
    /// instead: the live objects it read are read again, and the plan is
    /// refused (exit 1, no writes) when any of them changed since.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx apply flags/ --auto-approve
    Apply {
        #[command(flatten)]
        api: ApiArgs,
        /// Manifest files or directories (default: the current directory).
        #[arg(conflicts_with = "plan")]
        paths: Vec<PathBuf>,
        /// Apply this saved plan (from `ampx plan --out FILE`).
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Apply without asking (required when standard input is not a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Refuse (exit 1, no writes) when the plan carries any risk warning.
        #[arg(long)]
        deny_risky: bool,
        /// `json`: only the apply report, as a versioned document (per
        /// object: applied, failed with the API's message, not attempted;
        /// whether the verify step found no changes).
        #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
        format: ApplyFormat,
        /// Apply only this object, as KIND/KEY, and the objects it must wait
        /// for; repeatable. Prune is off under it, and the verification
        /// looks at the targets only. (A saved plan keeps its own targets.)
        #[arg(long = "target", value_name = "KIND/KEY", conflicts_with = "plan")]
        targets: Vec<String>,
    },
    /// Write the live project as manifests: flags, experiments, deployments and groups.
    ///
    /// Reads every flag, experiment, deployment, mutex group and holdout
    /// group of the project (archived ones are left out, and counted in
    /// project.yaml) and writes one manifest per object: DIR/project.yaml,
    /// DIR/flags/<key>.yaml, DIR/experiments/<key>.yaml,
    /// DIR/deployments/<label>.yaml, DIR/mutexes/<key>.yaml,
    /// DIR/holdouts/<key>.yaml, and DIR/ampx.schema.json for editors. Without
    /// --out, every document goes to stdout, separated by `---`. `ampx plan
    /// DIR` then shows no changes.
    ///
    /// Empty fields (no description, payload, inclusions, cohorts, tags or
    /// segments, no group members) are left out and so stay unmanaged; so is
    /// the bucketing salt. Groups name their experiments and holdout groups by
    /// key. Deployment SDK keys are never read or written.
    ///
    /// With --key, only the objects named are exported: flags, experiments
    /// and groups by key, deployments by label (a deployment that no --key
    /// names is not exported, as with any other object).
    ///
    /// export refuses to write into a directory that is not empty (hidden
    /// entries such as .git do not count); --force replaces the files it
    /// writes, keeps every other file and names the manifests it did not write.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx export --out manifests/ && ampx plan manifests/ --detailed-exitcode
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx export --key checkout-redesign --key checkout-mutex --key web-production
    Export {
        #[command(flatten)]
        api: ApiArgs,
        /// Directory to write the manifests into (new or empty; default: stdout).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Export only the object with this key: a flag, experiment, mutex group or holdout group key, or a deployment label (repeatable).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Project id for project.yaml (default: the projectId the API shows on the flags).
        #[arg(long, value_name = "ID")]
        project_id: Option<String>,
        /// Write into a non-empty --out directory: replace the files export writes, keep the rest.
        #[arg(long, requires = "out")]
        force: bool,
        /// Adopt the project of the --env environment into the manifests at
        /// PATH, which describe other environments already: only its
        /// differences are written (`environments.<env>` overrides, `onlyIn`),
        /// touching only the lines they must.
        #[arg(long, value_name = "PATH", conflicts_with_all = ["out", "keys", "project_id", "force"])]
        into: Option<PathBuf>,
        /// With --into: show the edit without writing it.
        #[arg(long, requires = "into")]
        dry_run: bool,
    },
    /// Print one live object as manifest YAML: what `ampx export --key` writes for it.
    ///
    /// KIND/KEY names a flag, experiment, mutex or holdout group by key, or
    /// a deployment by label: flag/checkout-redesign, experiment/pricing-test,
    /// deployment/web-production, mutex/checkout-mutex, holdout/q1-holdout.
    /// The document comes with its header comment, and what manifests cannot
    /// express is left out with a note, as in an export.
    ///
    /// With manifests (PATH, or the current directory when it holds any),
    /// the project is their Project's, with its key (`apiKeyEnv`), server
    /// and region, and --env when they describe several environments.
    /// Without any, the project is found as export finds it: the key from
    /// AMPLITUDE_MANAGEMENT_API_KEY, and --project-id or the one project the
    /// key sees. An unknown or archived object is an error (exit 1) naming
    /// it. Reads the lists, then only that object's details.
    ///
    /// Example: AMPLITUDE_MANAGEMENT_API_KEY=... ampx show flag/checkout-redesign > flags/checkout-redesign.yaml
    ///
    /// Example: ampx --env prod show experiment/pricing-test manifests/
    Show {
        #[command(flatten)]
        api: ApiArgs,
        /// The object, as KIND/KEY (flag/…, experiment/…, deployment/LABEL,
        /// mutex/…, holdout/…).
        #[arg(value_name = "KIND/KEY")]
        target: String,
        /// Manifest files or directories whose Project is read (default:
        /// the current directory, when it holds any).
        paths: Vec<PathBuf>,
        /// Without manifests: the project to read (default: the one project
        /// the key sees).
        #[arg(long, value_name = "ID")]
        project_id: Option<String>,
    },
    /// Show how one environment differs from another, per object and field.
    ///
    /// Compares the effective manifests of the two environments (offline),
    /// or with --live their live projects (each read with its Project's key).
    /// Exits 2 when they differ.
    ///
    /// Example: ampx compare --from staging --to prod
    Compare {
        #[command(flatten)]
        api: ApiArgs,
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// The environment to compare with.
        #[arg(long, value_name = "ENV")]
        from: String,
        /// The environment to show the differences of.
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Compare the two live projects instead of the manifests.
        #[arg(long)]
        live: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check the manifests against the Policy's rules.
    ///
    /// Offline without a key: description, key pattern, tags, expiry, and
    /// each step of a rollout schedule. With the project's key in the
    /// environment, also the rules that read the live project: the rollout
    /// step of this apply, and flags that have served one variant to
    /// everyone for too long (from their version history). Exit 1 when an
    /// error-level rule is broken and not waived. `plan` and `apply` apply
    /// the same rules (stale aside) and refuse on an error.
    ///
    /// Example: ampx lint flags/ --format sarif > ampx.sarif
    Lint {
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// Output format (`sarif` for GitHub code scanning).
        #[arg(long, value_enum, default_value_t = LintFormat::Text)]
        format: LintFormat,
        /// Source code to look for references in (repeatable): a stale flag
        /// no code references is ready to archive, and the report shows the
        /// manifest edit that archives it.
        #[arg(long, value_name = "DIR")]
        src: Vec<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Edit the manifests so that one environment takes another's values.
    ///
    /// For each object named with --target (all by default), the `environments.<to>`
    /// override is rewritten so that <to>'s effective values equal <from>'s;
    /// only the lines that must change are touched, and the result is checked
    /// before any file is written. Prints the edit as a diff.
    ///
    /// Example: ampx promote --from staging --to prod --target flag/checkout-redesign
    Promote {
        /// Manifest files or directories (default: the current directory).
        paths: Vec<PathBuf>,
        /// The environment whose values are promoted.
        #[arg(long, value_name = "ENV")]
        from: String,
        /// The environment that takes them.
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Promote only this object, as KIND/KEY (flag/…, experiment/…,
        /// deployment/LABEL, mutex/…, holdout/…); repeatable.
        #[arg(long = "target", value_name = "KIND/KEY")]
        targets: Vec<String>,
        /// Show the edit without writing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Find the managed flag and experiment keys in source code.
    ///
    /// Searches the --src trees (as git sees them: .gitignore and .ignore
    /// honoured, hidden and binary files skipped) for every key the
    /// manifests at PATH declare, in every environment unless --env names
    /// one, as a whole token in its written form and its camelCase,
    /// PascalCase, snake_case, SCREAMING_SNAKE_CASE and kebab-case forms.
    /// Reports each key's references (file:line), the keys referenced
    /// nowhere, SDK calls (`variant("KEY")`, `exposure(…)`, `getVariant(…)`,
    /// `isEnabled(…)`) that ask for a key no manifest declares, and archived
    /// flags still referenced. No API call. Exit 0, or 2 with --fail-on when
    /// findings of that kind exist.
    ///
    /// Example: ampx refs --src src --src web flags/ --fail-on undeclared --fail-on archived
    Refs(crate::commands::refs::RefsArgs),
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
    /// The fault flags make it an unreliable API on purpose, to rehearse
    /// retries, lost answers and rate limits.
    ///
    /// Example: ampx emulator --port 8080 --state emulator.json
    ///
    /// Example: ampx emulator --error-rate 0.1 --lost-answer-rate 0.05 --rate-limit-rps 20
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
        /// Answer with every field (tags, archived state, exposure events,
        /// date-times) instead of exactly the documented shapes.
        #[arg(long)]
        lenient: bool,
        /// Another project the key sees, besides 100001 (repeatable).
        #[arg(long, value_name = "ID")]
        other_project: Vec<String>,
        /// Fault: every API request waits this many milliseconds before its answer.
        #[arg(long, value_name = "MS", default_value_t = 0, help_heading = "Faults")]
        latency_ms: u64,
        /// Fault: this fraction (0 to 1) of API requests gets a 500, 502 or 503 and changes nothing.
        #[arg(
            long,
            value_name = "P",
            default_value_t = 0.0,
            allow_negative_numbers = true,
            help_heading = "Faults"
        )]
        error_rate: f64,
        /// Fault: this fraction (0 to 1) of successful writes is carried out, then answered with a 502 or 504.
        #[arg(
            long,
            value_name = "P",
            default_value_t = 0.0,
            allow_negative_numbers = true,
            help_heading = "Faults"
        )]
        lost_answer_rate: f64,
        /// Fault: allow R requests a second (bursts of R); beyond that, a 429 with or without Retry-After.
        #[arg(
            long,
            value_name = "R",
            allow_negative_numbers = true,
            help_heading = "Faults"
        )]
        rate_limit_rps: Option<f64>,
        /// Seed for the faults' random choices: the same requests meet the same faults.
        #[arg(long, value_name = "S", default_value_t = crate::emulator::DEFAULT_FAULT_SEED, help_heading = "Faults")]
        fault_seed: u64,
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

/// `--max-rps`: requests a second, from 0.001 to 1000. Zero or a tiny value
/// would stall every request (1e-20 overflowed the pause between them); the
/// API grants 100 a second, and more than ten times that is a typo.
pub(crate) fn max_rps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.001..=1000.0).contains(&v) => Ok(v),
        Ok(_) => Err(format!(
            "`{s}` is not within 0.001 to 1000 requests a second (the API grants 100)"
        )),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// `--parallelism`: requests in flight, 1 to 64.
pub(crate) fn parallelism(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a whole number from 1 to 64")),
    }
}
