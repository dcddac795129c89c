//! `ampx.toml`: defaults for command-line options, kept beside the manifests.
//!
//! The file is `ampx.toml` in the current directory, or the one `--config
//! FILE` / `AMPX_CONFIG` names. Each key stands for the option of the same
//! name and is used only where neither the command line nor that option's
//! environment variable gives a value: command line > environment variable
//! > ampx.toml > built-in default.
//!
//! ```toml
//! paths = ["manifests"]        # when a command is given no PATH (relative to this file)
//! format = "markdown"          # plan, drift and compare (apply: text or json)
//! parallelism = 4
//! max_rps = 50
//! env = "staging"              # AMPX_ENV wins over it
//! server = "https://…"         # AMPX_SERVER wins over it
//! region = "eu"
//! color = "never"              # NO_COLOR and CLICOLOR_FORCE win over it
//! ```
//!
//! An unknown key or a bad value is an error with its file, line and column,
//! before any API call. The file never holds the Management API key: any
//! entry whose name looks like one (`api_key`, `key`, `token`, …) is refused,
//! and its value never shown.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::cli::{ApplyFormat, Cli, ColorChoice, Command, Format, RegionArg};
use crate::error::{Error, Result};

/// The file read when no `--config` names one, in the current directory.
pub const FILE: &str = "ampx.toml";

/// The keys ampx.toml takes.
pub const KEYS: &[&str] = &[
    "paths",
    "format",
    "parallelism",
    "max_rps",
    "env",
    "server",
    "region",
    "color",
];

/// Larger than any defaults file: a mistaken path, not a config.
const MAX_BYTES: u64 = 1 << 20;

/// What an ampx.toml sets; `None` where it says nothing.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Manifest paths, already relative to the current directory.
    pub paths: Option<Vec<PathBuf>>,
    pub format: Option<Format>,
    pub parallelism: Option<usize>,
    pub max_rps: Option<f64>,
    pub env: Option<String>,
    pub server: Option<String>,
    pub region: Option<RegionArg>,
    pub color: Option<ColorChoice>,
}

/// The command line, with ampx.toml's defaults filled in where neither an
/// option nor its environment variable gave a value. A config that does not
/// read is an error naming each problem's place, and the command does not
/// run.
pub fn resolve(matches: &ArgMatches) -> Result<Cli> {
    let mut cli = Cli::from_arg_matches(matches).map_err(|e| Error::Refused(e.to_string()))?;
    let file = match &cli.global.config {
        Some(f) => f.clone(),
        None if Path::new(FILE).exists() => PathBuf::from(FILE),
        None => return Ok(cli),
    };
    let config = read(&file)?;
    config.apply(&mut cli, matches);
    Ok(cli)
}

/// Reads and checks one config file.
pub fn read(file: &Path) -> Result<Config> {
    let cannot = |e: &dyn std::fmt::Display| {
        Error::Refused(format!(
            "cannot read the config file {}: {e}",
            file.display()
        ))
    };
    let meta = std::fs::metadata(file).map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(cannot(&"not a regular file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(cannot(&format!(
            "{} bytes; a config file holds a few lines",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| cannot(&e))?;
    let mut config = parse(file, &text)?;
    // Paths are written relative to the file.
    if let (Some(paths), Some(dir)) = (&mut config.paths, file.parent()) {
        for p in paths.iter_mut() {
            if p.is_relative() && !dir.as_os_str().is_empty() {
                *p = dir.join(&*p);
            }
        }
    }
    Ok(config)
}

/// One problem, at a byte offset of the file.
struct Problem {
    at: usize,
    message: String,
    hint: Option<String>,
}

/// Parses a config's text (`file` names it in errors). Every problem is
/// reported, in the order of the file.
pub fn parse(file: &Path, text: &str) -> Result<Config> {
    let table = match DeTable::parse(text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            return Err(report(
                file,
                text,
                vec![Problem {
                    at,
                    message: format!("not valid TOML: {}", e.message().trim_end()),
                    hint: None,
                }],
            ));
        }
    };
    let mut problems = Vec::new();
    secrets(&table, &mut problems);
    let refused: Vec<usize> = problems.iter().map(|p| p.at).collect();
    let mut config = Config::default();
    for (key, value) in table.iter() {
        let name: &str = key.get_ref();
        let at = key.span().start;
        if refused.contains(&at) {
            continue;
        }
        let value_at = value.span().start;
        let mut bad = |message: String| {
            problems.push(Problem {
                at: value_at,
                message,
                hint: None,
            })
        };
        match name {
            "paths" => match string_list(value.get_ref()) {
                Some(list) if !list.is_empty() => {
                    config.paths = Some(list.into_iter().map(PathBuf::from).collect())
                }
                Some(_) => bad("`paths` is empty: list the manifest files or directories".into()),
                None => bad(format!(
                    "`paths` is {}; it takes a list of strings, e.g. [\"manifests\"]",
                    shown(value.get_ref())
                )),
            },
            "format" => match choice(name, value, &["text", "json", "markdown"], &mut bad) {
                Some("text") => config.format = Some(Format::Text),
                Some("json") => config.format = Some(Format::Json),
                Some("markdown") => config.format = Some(Format::Markdown),
                _ => {}
            },
            "region" => match choice(name, value, &["us", "eu"], &mut bad) {
                Some("us") => config.region = Some(RegionArg::Us),
                Some("eu") => config.region = Some(RegionArg::Eu),
                _ => {}
            },
            "color" => match choice(name, value, &["auto", "always", "never"], &mut bad) {
                Some("auto") => config.color = Some(ColorChoice::Auto),
                Some("always") => config.color = Some(ColorChoice::Always),
                Some("never") => config.color = Some(ColorChoice::Never),
                _ => {}
            },
            "parallelism" => match value.get_ref() {
                DeValue::Integer(i) => {
                    match crate::cli::parallelism(&number(i.as_str(), i.radix())) {
                        Ok(n) => config.parallelism = Some(n),
                        Err(why) => bad(format!("`parallelism`: {why}")),
                    }
                }
                other => bad(format!(
                    "`parallelism` is {}; it takes a whole number from 1 to 64",
                    shown(other)
                )),
            },
            "max_rps" => {
                let given = match value.get_ref() {
                    DeValue::Integer(i) => Some(number(i.as_str(), i.radix())),
                    DeValue::Float(f) => Some(f.as_str().to_string()),
                    _ => None,
                };
                match given.map(|s| crate::cli::max_rps(&s)) {
                    Some(Ok(v)) => config.max_rps = Some(v),
                    Some(Err(why)) => bad(format!("`max_rps`: {why}")),
                    None => bad(format!(
                        "`max_rps` is {}; it takes a number from 0.001 to 1000",
                        shown(value.get_ref())
                    )),
                }
            }
            "env" | "server" => match value.get_ref() {
                DeValue::String(s) if !s.trim().is_empty() => {
                    let s = s.to_string();
                    if name == "env" {
                        config.env = Some(s);
                    } else {
                        config.server = Some(s);
                    }
                }
                other => bad(format!("`{name}` is {}; it takes a string", shown(other))),
            },
            _ => {
                let hint = match crate::manifest::nearest(name, KEYS) {
                    Some(n) => format!("did you mean `{n}`? the keys are: {}", KEYS.join(", ")),
                    None if squashed(name).ends_with("env") && squashed(name).contains("key") => {
                        "a project's key variable is named by its Project manifest's `apiKeyEnv`; the keys here are: "
                            .to_string()
                            + &KEYS.join(", ")
                    }
                    None => format!("the keys are: {}", KEYS.join(", ")),
                };
                problems.push(Problem {
                    at,
                    message: format!("unknown key `{name}`"),
                    hint: Some(hint),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(report(file, text, problems))
    }
}

/// A name with its separators and case taken out: `api_key_env` and
/// `apiKeyEnv` are both `apikeyenv`.
fn squashed(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether an entry's name says it holds a secret: it names a key, token,
/// secret or password, and is not the name of a variable that holds one
/// (`apiKeyEnv`, `key_env`).
fn secret_name(name: &str) -> bool {
    let s = squashed(name);
    ["key", "token", "secret", "password"]
        .iter()
        .any(|w| s.contains(w))
        && !s.ends_with("env")
}

/// Refuses every entry, at any depth, whose name says it holds a secret.
fn secrets(table: &DeTable<'_>, problems: &mut Vec<Problem>) {
    for (key, value) in table.iter() {
        if secret_name(key.get_ref()) {
            problems.push(Problem {
                at: key.span().start,
                message: format!(
                    "`{}` looks like an API key setting: the config file never holds a key",
                    key.get_ref()
                ),
                hint: Some(
                    "the Management API key comes from the environment only: AMPLITUDE_MANAGEMENT_API_KEY, or the variable a Project's `apiKeyEnv` names; remove this entry".into(),
                ),
            });
        }
        nested(value, problems);
    }
}

fn nested(value: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) {
    match value.get_ref() {
        DeValue::Table(t) => secrets(t, problems),
        DeValue::Array(a) => a.iter().for_each(|v| nested(v, problems)),
        _ => {}
    }
}

/// A string value that must be one of `options`.
fn choice<'a>(
    name: &str,
    value: &Spanned<DeValue<'_>>,
    options: &[&'a str],
    bad: &mut impl FnMut(String),
) -> Option<&'a str> {
    let list = options.join(", ");
    match value.get_ref() {
        DeValue::String(s) => {
            let found = options.iter().find(|o| **o == s.as_ref()).copied();
            if found.is_none() {
                bad(format!("`{name}` is \"{s}\"; it takes one of: {list}"));
            }
            found
        }
        other => {
            bad(format!(
                "`{name}` is {}; it takes a string, one of: {list}",
                shown(other)
            ));
            None
        }
    }
}

fn string_list(value: &DeValue<'_>) -> Option<Vec<String>> {
    let DeValue::Array(items) = value else {
        return None;
    };
    items
        .iter()
        .map(|v| match v.get_ref() {
            DeValue::String(s) if !s.is_empty() => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// An integer as a decimal string (TOML allows `0x…`, `0o…`, `0b…`, `_`).
fn number(digits: &str, radix: u32) -> String {
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    match i128::from_str_radix(&digits, radix) {
        Ok(n) => n.to_string(),
        Err(_) => digits,
    }
}

/// What a wrong value is, without its text (it may be anything).
fn shown(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) | DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The problems as one error: `error: FILE:LINE:COLUMN: …` each, with
/// hints, then a count. Lines and columns count from 1.
fn report(file: &Path, text: &str, mut problems: Vec<Problem>) -> Error {
    problems.sort_by_key(|p| p.at);
    let mut lines = Vec::new();
    for p in &problems {
        let at = p.at.min(text.len());
        let before = text.get(..at).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        lines.push(format!(
            "error: {}:{line}:{column}: {}",
            file.display(),
            p.message
        ));
        if let Some(h) = &p.hint {
            lines.push(format!("  hint: {h}"));
        }
    }
    lines.push(format!(
        "{} error(s) in the config file {}; nothing was sent to the API",
        problems.len(),
        file.display()
    ));
    // `Error::Refused` puts the first `error: ` back.
    let text = lines.join("\n");
    Error::Refused(text.strip_prefix("error: ").unwrap_or(&text).to_string())
}

impl Config {
    /// Fills in, on a parsed command line, every value that neither the
    /// command line nor the option's environment variable gave.
    pub fn apply(self, cli: &mut Cli, matches: &ArgMatches) {
        let given = |m: &ArgMatches, id: &str| {
            m.try_contains_id(id).unwrap_or(false)
                && matches!(
                    m.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
        };
        let sub = matches.subcommand().map(|(_, m)| m);
        let g = &mut cli.global;
        if g.server.is_none() {
            g.server = self.server;
        }
        if g.region.is_none() {
            g.region = self.region;
        }
        if let Some(v) = self.max_rps.filter(|_| !given(matches, "max_rps")) {
            g.max_rps = v;
        }
        if let Some(v) = self.parallelism.filter(|_| !given(matches, "parallelism")) {
            g.parallelism = v;
        }
        // NO_COLOR and CLICOLOR_FORCE are environment variables: they win
        // over the file, as AMPX_ENV or AMPX_SERVER do.
        let colour_env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !given(matches, "color") && !colour_env("NO_COLOR") && !colour_env("CLICOLOR_FORCE") {
            if let Some(c) = self.color {
                g.color = c;
            }
        }
        // `--all-envs` (which excludes --env) wins over a default environment.
        let all_envs =
            sub.is_some_and(|m| matches!(m.try_get_one::<bool>("all_envs"), Ok(Some(true))));
        if g.env.is_none() && !all_envs {
            g.env = self.env;
        }
        let format_given = sub.is_some_and(|m| given(m, "format"));
        let fill = |paths: &mut Vec<PathBuf>, default: &Option<Vec<PathBuf>>| {
            if paths.is_empty() {
                if let Some(d) = default {
                    paths.clone_from(d);
                }
            }
        };
        match &mut cli.command {
            Command::Plan { paths, format, .. }
            | Command::Drift { paths, format, .. }
            | Command::Compare { paths, format, .. } => {
                fill(paths, &self.paths);
                if let Some(f) = self.format.filter(|_| !format_given) {
                    *format = f;
                }
            }
            Command::Apply {
                paths,
                plan,
                format,
                ..
            } => {
                if plan.is_none() {
                    fill(paths, &self.paths);
                }
                // apply reports as text or JSON: markdown leaves it as text.
                match self.format.filter(|_| !format_given) {
                    Some(Format::Json) => *format = ApplyFormat::Json,
                    Some(Format::Text) => *format = ApplyFormat::Text,
                    _ => {}
                }
            }
            Command::Validate { paths, .. }
            | Command::Promote { paths, .. }
            | Command::Show { paths, .. } => fill(paths, &self.paths),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("ampx.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn every_key_reads() {
        let c = parse(
            Path::new("ampx.toml"),
            "paths = [\"m\", \"n\"]\nformat = \"markdown\"\nparallelism = 4\nmax_rps = 2.5\nenv = \"prod\"\nserver = \"http://127.0.0.1:1\"\nregion = \"eu\"\ncolor = \"never\"\n",
        )
        .unwrap();
        assert_eq!(c.paths, Some(vec![PathBuf::from("m"), PathBuf::from("n")]));
        assert_eq!(c.format, Some(Format::Markdown));
        assert_eq!(c.parallelism, Some(4));
        assert_eq!(c.max_rps, Some(2.5));
        assert_eq!(c.env.as_deref(), Some("prod"));
        assert!(matches!(c.region, Some(RegionArg::Eu)));
        assert_eq!(c.color, Some(ColorChoice::Never));
        assert_eq!(
            parse(Path::new("x"), "max_rps = 50\nparallelism = 0x10\n")
                .unwrap()
                .parallelism,
            Some(16)
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_line_and_column() {
        let e = err("format = \"text\"\nparalelism = 4\n");
        assert!(
            e.starts_with("error: ampx.toml:2:1: unknown key `paralelism`\n  hint: did you mean `parallelism`?"),
            "{e}"
        );
        let e = err("format = \"yaml\"\nparallelism = 100\nmax_rps = \"fast\"\n");
        assert!(
            e.contains(
                "ampx.toml:1:10: `format` is \"yaml\"; it takes one of: text, json, markdown"
            ),
            "{e}"
        );
        assert!(
            e.contains("ampx.toml:2:15: `parallelism`: `100` is not a whole number from 1 to 64"),
            "{e}"
        );
        assert!(e.contains("ampx.toml:3:11: `max_rps` is a string"), "{e}");
        assert!(
            e.ends_with("3 error(s) in the config file ampx.toml; nothing was sent to the API"),
            "{e}"
        );
        let e = err("[flags]\nx = 1\n");
        assert!(e.contains("ampx.toml:1:2: unknown key `flags`"), "{e}");
        let e = err("format = \n");
        assert!(e.starts_with("error: ampx.toml:1:"), "{e}");
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn the_readme_example_reads() {
        let readme = include_str!("../README.md");
        let section = &readme[readme.find("### Defaults in ampx.toml").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let example = &section[start..start + section[start..].find("```").unwrap()];
        let c = parse(Path::new("README.md"), example).unwrap();
        assert_eq!(c.paths, Some(vec![PathBuf::from("manifests")]));
        assert_eq!(c.format, Some(Format::Markdown));
    }

    #[test]
    fn a_key_like_entry_is_refused_without_its_value() {
        for (text, name) in [
            ("api_key = \"sekrit-123\"\n", "api_key"),
            ("key = \"sekrit-123\"\n", "key"),
            ("managementApiKey = \"sekrit-123\"\n", "managementApiKey"),
            ("[amplitude]\ntoken = \"sekrit-123\"\n", "token"),
        ] {
            let e = err(text);
            assert!(
                e.contains(&format!("`{name}` looks like an API key setting")),
                "{e}"
            );
            assert!(e.contains("comes from the environment only"), "{e}");
            assert!(!e.contains("sekrit"), "{e}");
        }
        let e = err("\n\napi_key = 1\n");
        assert!(e.starts_with("error: ampx.toml:3:1: "), "{e}");
        // The name of a variable is not a key, but not a setting here either.
        let e = err("apiKeyEnv = \"KEY_PROD\"\n");
        assert!(e.contains("unknown key `apiKeyEnv`"), "{e}");
        assert!(e.contains("Project manifest's `apiKeyEnv`"), "{e}");
    }
}
