//! Whole commands, loading included: the release `ampx` binary run as a
//! child process on manifests written to disk in two layouts (one file per
//! object; every object in one file), measured by `wait4` (user + system
//! CPU and peak RSS of that process alone) and a wall clock.
//!
//! Two groups of rows: the targets (`validate` and `plan` against the
//! emulator with the API's limits) and a scaling table (every command that
//! turns manifests into a report, at 1,000, 10,000 and 50,000 flags, against
//! an emulator without limits, so that only ampx's own work grows with N).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{fmt_dur, thousands, KEY};

/// How the manifests are laid out on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `project.yaml` and `flags/<key>.yaml`, one document each.
    Many,
    /// One file, every document separated by `---`.
    One,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Many => "one file per object",
            Layout::One => "all in one file",
        }
    }
}

/// One command run and what it cost.
#[derive(Clone, Debug)]
pub struct Run {
    pub n: usize,
    pub command: &'static str,
    pub layout: Layout,
    /// Whether the emulator had the API's latency and rate limit.
    pub limited: bool,
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_mb: f64,
}

/// The release binary, built if it is missing or stale (`cargo run
/// --example` builds the example, not the binary).
pub fn ampx_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "ampx"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()?;
    anyhow::ensure!(status.success(), "cargo build --release --bin ampx failed");
    // This program is target/release/examples/bench; the binary is beside
    // the examples directory.
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(format!("ampx{}", std::env::consts::EXE_SUFFIX)))
        .ok_or_else(|| anyhow::anyhow!("cannot find the target directory"))?;
    anyhow::ensure!(bin.exists(), "{} was not built", bin.display());
    Ok(bin)
}

/// Writes `sources` (file name, text; the Project first) under `dir` in
/// `layout`, returning the path to pass to ampx.
pub fn write_manifests(
    dir: &Path,
    sources: &[(PathBuf, String)],
    layout: Layout,
) -> anyhow::Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    match layout {
        Layout::Many => {
            for (name, text) in sources {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(path, text)?;
            }
        }
        Layout::One => {
            let mut all = String::new();
            for (_, text) in sources {
                if !all.is_empty() {
                    all.push_str("---\n");
                }
                all.push_str(text);
            }
            std::fs::write(dir.join("manifests.yaml"), all)?;
        }
    }
    Ok(dir.to_path_buf())
}

/// Runs `bin args` with the emulator's address and key in its environment
/// and its output discarded (it is still written: a closed pipe would stop
/// the command early); returns its wall time, CPU and peak RSS, or an error
/// if it exits with another code than one of `ok_codes`.
///
/// The command is started by a fresh copy of this program
/// (`--measure-child`), which waits for it with `wait4` and prints what it
/// used. On Linux a process's peak RSS starts from that of the process it
/// was started from (the high-water mark survives `exec`), so a command
/// started straight from this program, which holds a manifest set and a
/// live state, would show their memory as its own.
pub fn measure(bin: &Path, args: &[&str], url: &str, ok_codes: &[i32]) -> anyhow::Result<Run> {
    let started = Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .arg("--measure-child")
        .arg("--")
        .arg(bin)
        .args(args)
        .env("AMPX_SERVER", url)
        .env("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()?;
    let wall = started.elapsed();
    let report = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<i64> = report
        .trim()
        .strip_prefix("used ")
        .unwrap_or("")
        .split(' ')
        .filter_map(|f| f.parse().ok())
        .collect();
    let [code, cpu_us, rss_kb] = fields[..] else {
        anyhow::bail!(
            "`ampx {}` could not be measured: {report}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    anyhow::ensure!(
        ok_codes.contains(&(code as i32)),
        "`ampx {}` exited with {code}:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Run {
        n: 0,
        command: "",
        layout: Layout::Many,
        limited: false,
        wall,
        cpu: Duration::from_micros(cpu_us.max(0) as u64),
        // Linux reports ru_maxrss in kilobytes.
        peak_rss_mb: rss_kb as f64 / 1024.0,
    })
}

/// The `--measure-child` side of [`measure`]: runs `command` with its
/// standard output discarded and its standard error passed on, and prints
/// `used <exit code> <CPU µs> <peak RSS KB>`.
pub fn measure_child(command: &[String]) -> anyhow::Result<()> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("--measure-child needs a command after --"))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are
    // to live locals.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(got == pid, "wait4 failed for {program}");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    println!(
        "used {code} {} {}",
        us(usage.ru_utime) + us(usage.ru_stime),
        usage.ru_maxrss
    );
    Ok(())
}

/// `ampx demo`, the release binary, run three times from an empty
/// directory outside the repository (its manifests are built in): the
/// target line with its median wall time.
pub fn demo_line(bin: &Path) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("ampx-bench-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut walls = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let out = Command::new(bin)
            .arg("demo")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "ampx demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        walls.push(started.elapsed());
    }
    let _ = std::fs::remove_dir_all(&dir);
    walls.sort();
    let median = walls[1];
    Ok(format!(
        "- `ampx demo` from an empty directory outside the repository, under 1 s of wall time (median of 3 runs, {}): {}",
        fmt_dur(median),
        if median < Duration::from_secs(1) { "met" } else { "**not met**" }
    ))
}

fn fmt_cpu(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// The report's section on whole commands: the target rows, the scaling
/// table, and whether each target is met.
pub fn section(runs: &[Run]) -> String {
    let mut md = String::new();
    md.push_str("## Whole commands, loading included\n\n");
    md.push_str(
        "The release binary run as a child process on manifests on disk, in both layouts: \
         one file per object, and every object (the Project included) in one file of \
         documents separated by `---`. CPU is user + system time and peak RSS is \
         `ru_maxrss`, both of that process alone (`wait4`); wall time is from start to exit. \
         `plan` reads an emulator (a separate process) whose live state differs from the \
         manifests in 5% of the flags, so every plan has changes to render; with the API's \
         limits, each row is the run of median CPU of three.\n\n",
    );
    md.push_str("| N | command | layout | emulator | wall | CPU | peak RSS |\n");
    md.push_str("|--:|---|---|---|--:|--:|--:|\n");
    for r in runs.iter().filter(|r| r.limited || r.command == "validate") {
        let _ = writeln!(
            md,
            "| {} | `ampx {}` | {} | {} | {} | {} | {:.0} MB |",
            thousands(r.n),
            r.command,
            r.layout.name(),
            if r.command == "validate" {
                "–"
            } else {
                "API limits"
            },
            fmt_dur(r.wall),
            fmt_cpu(r.cpu),
            r.peak_rss_mb
        );
    }

    md.push_str(
        "\n### Growth with N\n\n\
         Every command from manifests to a report, against an emulator without latency or \
         rate limit (`--max-rps 1000`, the most ampx accepts: pauses cost wall time, not CPU), one file per object unless named: loading and \
         validation across documents (`validate`), reference resolution, diff and ordering \
         (`plan`), rendering (`--format text | json | markdown`) and export writing \
         (`export --out`). CPU of the ampx process; the growth columns divide the CPU at one \
         N by the CPU at the N before it, next to what N log N would give (×11.3 from 1,000 \
         to 10,000, ×5.9 from 10,000 to 50,000).\n\n",
    );
    let sizes = sorted_unique(runs.iter().filter(|r| !r.limited).map(|r| r.n));
    let mut header = String::from("| command |");
    let mut rule = String::from("|---|");
    for n in &sizes {
        let _ = write!(header, " CPU at {} |", thousands(*n));
        rule.push_str("--:|");
    }
    for pair in sizes.windows(2) {
        let _ = write!(header, " growth {}→{} |", short(pair[0]), short(pair[1]));
        rule.push_str("--:|");
    }
    let _ = writeln!(
        md,
        "{header} peak RSS at {} |",
        thousands(*sizes.last().unwrap_or(&0))
    );
    let _ = writeln!(md, "{rule}--:|");
    let mut worst: Option<(String, f64)> = None;
    for (command, layout) in scaling_commands(runs) {
        let cpu = |n: usize| {
            runs.iter()
                .find(|r| !r.limited && r.n == n && r.command == command && r.layout == layout)
        };
        let label = if layout == Layout::One {
            format!("`ampx {command}`, all in one file")
        } else {
            format!("`ampx {command}`")
        };
        let mut line = format!("| {label} |");
        for n in &sizes {
            let _ = write!(
                line,
                " {} |",
                cpu(*n).map_or("–".into(), |r| fmt_cpu(r.cpu))
            );
        }
        for pair in sizes.windows(2) {
            match (cpu(pair[0]), cpu(pair[1])) {
                (Some(a), Some(b)) => {
                    let growth = b.cpu.as_secs_f64() / a.cpu.as_secs_f64().max(1e-6);
                    let excess = growth / n_log_n(pair[0], pair[1]);
                    // Below 50 ms the clock's resolution and start-up
                    // dominate; such a pair says nothing about growth.
                    if a.cpu >= Duration::from_millis(50)
                        && worst.as_ref().is_none_or(|(_, w)| excess > *w)
                    {
                        worst = Some((
                            format!("{label}, {}→{}", short(pair[0]), short(pair[1])),
                            excess,
                        ));
                    }
                    let _ = write!(line, " ×{growth:.1} |");
                }
                _ => line.push_str(" – |"),
            }
        }
        let last = sizes.last().and_then(|n| cpu(*n));
        let _ = writeln!(
            line,
            " {} |",
            last.map_or("–".into(), |r| format!("{:.0} MB", r.peak_rss_mb))
        );
        md.push_str(&line);
    }

    md.push_str("\nTargets for whole commands:\n\n");
    let check = |ok: bool| if ok { "met" } else { "**not met**" };
    let at = |n: usize, command: &str, limited: bool| -> Vec<&Run> {
        runs.iter()
            .filter(|r| r.n == n && r.command == command && r.limited == limited)
            .collect()
    };
    let validate_10k = at(10_000, "validate", false);
    if !validate_10k.is_empty() {
        let slowest = validate_10k
            .iter()
            .map(|r| r.wall)
            .max()
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- `validate` of 10,000 flags under 0.5 s in either layout (slowest {}): {}",
            fmt_dur(slowest),
            check(slowest < Duration::from_millis(500))
        );
    }
    let mut ratios = Vec::new();
    for r in runs.iter().filter(|r| r.layout == Layout::One) {
        if let Some(many) = runs.iter().find(|m| {
            m.layout == Layout::Many
                && m.n == r.n
                && m.command == r.command
                && m.limited == r.limited
        }) {
            ratios.push(r.cpu.as_secs_f64() / many.cpu.as_secs_f64().max(1e-6));
        }
    }
    if !ratios.is_empty() {
        let worst_ratio = ratios.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "- one-file CPU within 1.5× of many-files CPU, every command at every N (worst {worst_ratio:.2}×): {}",
            check(worst_ratio <= 1.5)
        );
    }
    let plan_10k = at(10_000, "plan", true);
    if !plan_10k.is_empty() {
        let cpu = plan_10k.iter().map(|r| r.cpu).max().unwrap_or_default();
        let _ = writeln!(
            md,
            "- `plan` CPU (the whole command) under 1 s at 10,000 flags ({}): {}",
            fmt_cpu(cpu),
            check(cpu < Duration::from_secs(1))
        );
    }
    let at_10k: Vec<&Run> = runs
        .iter()
        .filter(|r| r.n == 10_000 && (r.limited || r.command == "validate"))
        .collect();
    if !at_10k.is_empty() {
        let rss = at_10k.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "- peak memory under 150 MB at 10,000 flags, `validate` and `plan` in both layouts ({rss:.0} MB): {}",
            check(rss < 150.0)
        );
    }
    if let Some((which, excess)) = worst {
        let _ = writeln!(
            md,
            "- no step grows faster than N log N (the largest growth is {excess:.2}× N log N's, {which}; \
             above 1.3× would be a super-linear step, below it noise): {}",
            check(excess <= 1.3)
        );
    }
    md
}

/// The (command, layout) pairs of the scaling table, in the order first run.
fn scaling_commands(runs: &[Run]) -> Vec<(&'static str, Layout)> {
    let mut out: Vec<(&'static str, Layout)> = Vec::new();
    for r in runs.iter().filter(|r| !r.limited) {
        if !out.contains(&(r.command, r.layout)) {
            out.push((r.command, r.layout));
        }
    }
    out
}

fn sorted_unique(ns: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = ns.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn short(n: usize) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// How much N log N grows from `a` to `b`.
fn n_log_n(a: usize, b: usize) -> f64 {
    let f = |n: usize| n as f64 * (n as f64).ln();
    f(b) / f(a)
}
