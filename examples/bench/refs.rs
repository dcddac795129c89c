//! `ampx refs` over a large real codebase: the sources of the crates in the
//! local cargo registry (`$CARGO_HOME/registry/src`), searched for the keys
//! of 1,000 flags by the release binary, run as a user runs it. Its section
//! of BENCHMARKS.md sits between two markers, so that `--refs-only` can
//! rewrite it alone and leave the rest of the file as it is.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{commands, fmt_dur, machine, sh, thousands};

pub const BEGIN: &str = "<!-- refs:begin -->";
pub const END: &str = "<!-- refs:end -->";

/// Flag keys named after identifiers common in Rust code, so that the
/// search finds many lines (each in all of its forms: `hash-map` is also
/// `HashMap`, `hash_map`, `HASH_MAP`, …) and the per-line work is measured
/// too; the other keys of the manifest set are found nowhere.
const COMMON: &[&str] = &[
    "hash-map",
    "btree-map",
    "serde-json",
    "once-cell",
    "read-to-string",
    "unwrap-or-default",
    "from-str",
    "to-string",
    "max-value",
    "debug-assert",
];

/// Keys in the manifest set.
const KEYS: usize = 1_000;

/// Measured runs, after one warm-up run; the median is reported.
const RUNS: usize = 3;

/// One measured run, with what the report says it searched.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub src: PathBuf,
    pub crates: usize,
    pub files: u64,
    pub bytes: u64,
    pub binary: u64,
    pub references: u64,
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_mb: f64,
    pub load_before: String,
}

/// The registry's sources: `$CARGO_HOME/registry/src`, else
/// `~/.cargo/registry/src`.
pub fn default_src() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("registry/src")
}

/// The manifests: a Project and [`KEYS`] flags, in one file.
fn write_manifests(dir: &Path) -> anyhow::Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let mut text = String::from("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n");
    let keys = COMMON
        .iter()
        .map(|k| k.to_string())
        .chain((0..KEYS - COMMON.len()).map(|i| format!("bench-refs-{i:05}")));
    for key in keys {
        let _ = write!(text, "---\napiVersion: ampx/v1\nkind: Flag\nkey: {key}\n");
    }
    let file = dir.join("flags.yaml");
    std::fs::write(&file, text)?;
    Ok(file)
}

/// Runs `ampx refs` once: wall time, and CPU and peak RSS of that process
/// alone (wait4), with its JSON report.
fn run_once(
    bin: &Path,
    src: &Path,
    manifests: &Path,
    out: &Path,
) -> anyhow::Result<(Duration, Duration, f64, Value)> {
    let start = Instant::now();
    let child = Command::new(bin)
        .arg("refs")
        .arg("--src")
        .arg(src)
        .arg(manifests)
        .args(["--format", "json", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(out)?))
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are
    // to live locals.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    anyhow::ensure!(got == pid, "wait4 failed for ampx refs");
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "ampx refs failed (status {status})"
    );
    let us = |t: libc::timeval| (t.tv_sec * 1_000_000 + t.tv_usec) as u64;
    let cpu = Duration::from_micros(us(usage.ru_utime) + us(usage.ru_stime));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out)?)?;
    Ok((wall, cpu, usage.ru_maxrss as f64 / 1024.0, report))
}

/// Searches `src` with the release binary: one warm-up run, then the
/// median of [`RUNS`].
pub fn measure(src: &Path) -> anyhow::Result<Measurement> {
    anyhow::ensure!(src.is_dir(), "{} is not a directory", src.display());
    let load_before = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let bin = commands::ampx_binary()?;
    let dir = std::env::temp_dir().join(format!("ampx-bench-refs-{}", std::process::id()));
    let manifests = write_manifests(&dir)?;
    let out = dir.join("report.json");
    eprintln!("refs: warm-up run over {}", src.display());
    run_once(&bin, src, &manifests, &out)?;
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let r = run_once(&bin, src, &manifests, &out)?;
        eprintln!("refs: run {} took {}", i + 1, fmt_dur(r.0));
        runs.push(r);
    }
    let _ = std::fs::remove_dir_all(&dir);
    runs.sort_by_key(|r| r.0);
    let (wall, cpu, peak_rss_mb, report) = runs.swap_remove(RUNS / 2);
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let crates = std::fs::read_dir(src)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| std::fs::read_dir(e.path()).map_or(0, |d| d.count()))
                .sum()
        })
        .unwrap_or(0);
    Ok(Measurement {
        src: src.to_path_buf(),
        crates,
        files: n(&report["scanned"]["files"]),
        bytes: n(&report["scanned"]["bytes"]),
        binary: n(&report["scanned"]["binaryFilesSkipped"]),
        references: report["keys"]
            .as_array()
            .map(|ks| ks.iter().map(|k| n(&k["references"])).sum())
            .unwrap_or(0),
        wall,
        cpu,
        peak_rss_mb,
        load_before,
    })
}

/// `path` with the home directory written `~`.
fn shown(path: &Path) -> String {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// The section, markers included.
pub fn section(
    m: &Result<Measurement, String>,
    command: &str,
    (commit, dirty): &(String, bool),
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    let _ = writeln!(md, "## Code references: `ampx refs` on a large codebase\n");
    let m = match m {
        Ok(m) => m,
        Err(why) => {
            let _ = writeln!(md, "Not measured: {why}.\n");
            let _ = writeln!(md, "{END}");
            return md;
        }
    };
    let _ = writeln!(
        md,
        "`ampx refs --src {} flags.yaml --format json` over the sources of the {} crate \
         versions in the local cargo registry, with a manifest set of {} flags: {} named \
         after identifiers common in Rust code ({}), so that many lines match, each key \
         in all of its case forms, and {} found nowhere. The release binary, run as a user \
         runs it; one warm-up run (the files are then in the page cache), then the median \
         of {RUNS} runs. Generated by [`examples/bench`](examples/bench) \
         (`--refs-only` runs this part alone and rewrites only this section).\n",
        shown(&m.src),
        thousands(m.crates),
        thousands(KEYS),
        COMMON.len(),
        COMMON
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        thousands(KEYS - COMMON.len()),
    );
    let _ = writeln!(md, "- Machine: {}", machine());
    let _ = writeln!(md, "- Date: {}", sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]));
    let _ = writeln!(
        md,
        "- Commit: `{commit}`{}",
        if *dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "- Load average (1 min) before the runs: {}",
        m.load_before
    );
    let _ = writeln!(md, "- Command: `{command}`\n");
    md.push_str(
        "| files searched | bytes | binary files skipped | references found | wall time | files/s | MB/s | CPU (user + system) | peak RSS |\n\
         |--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let secs = m.wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        md,
        "| {} | {:.1} MB | {} | {} | {} | {} | {:.0} | {} | {:.0} MB |\n",
        thousands(m.files as usize),
        m.bytes as f64 / 1e6,
        thousands(m.binary as usize),
        thousands(m.references as usize),
        fmt_dur(m.wall),
        thousands((m.files as f64 / secs) as usize),
        m.bytes as f64 / 1e6 / secs,
        fmt_dur(m.cpu),
        m.peak_rss_mb,
    );
    let _ = writeln!(
        md,
        "Files searched count every file the walk reached (binary ones included; \
         ignored and hidden files are not reached); the time includes loading the \
         manifests, the walk, the search and writing the report. CPU above wall time is \
         the search running on every core ({} here).\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = writeln!(md, "{END}");
    md
}

/// Measures `src` (default: the cargo registry's sources) and returns the
/// section; a measurement that cannot be made is said in the section.
pub fn run_section(src: Option<&Path>, command: &str, state: &(String, bool)) -> String {
    let src = src.map(Path::to_path_buf).unwrap_or_else(default_src);
    let m = measure(&src).map_err(|e| format!("{}: {e:#}", src.display()));
    if let Err(e) = &m {
        eprintln!("refs: not measured: {e}");
    }
    section(&m, command, state)
}

/// `--refs-only`: measures and rewrites only the refs section of `out`.
pub fn only(
    out: &Path,
    src: Option<&Path>,
    command: &str,
    state: &(String, bool),
) -> anyhow::Result<()> {
    let section = run_section(src, command, state);
    let text = std::fs::read_to_string(out).unwrap_or_default();
    std::fs::write(out, splice(&text, &section))?;
    println!("{section}");
    eprintln!("wrote the refs section of {}", out.display());
    Ok(())
}

/// `text` with its refs section replaced by `section`, or with `section`
/// appended when it has none.
pub fn splice(text: &str, section: &str) -> String {
    if let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) {
        if b < e {
            let end = e + END.len();
            let end = end + usize::from(text[end..].starts_with('\n'));
            return format!("{}{section}{}", &text[..b], &text[end..]);
        }
    }
    let mut out = text.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
    out.push_str(section);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_section_between_the_markers_is_replaced() {
        let old = format!("# B\n\nrest\n\n{BEGIN}\nold\n{END}\n\n## After\n");
        let new = format!("{BEGIN}\nnew\n{END}\n");
        assert_eq!(
            splice(&old, &new),
            format!("# B\n\nrest\n\n{BEGIN}\nnew\n{END}\n\n## After\n")
        );
        assert_eq!(splice("# B\n", &new), format!("# B\n\n{new}"));
    }
}
