//! Request economy and speed of `ampx plan` and `ampx apply` at 100, 1,000 and
//! 10,000 flags, against the emulator with the API's limits (20 ms latency,
//! 100 requests a second), next to the per-object reads that Terraform
//! providers make; then whole commands, loading included, at up to 50,000
//! flags in two manifest layouts (see `commands.rs`). Writes BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release --example bench               # everything
//! cargo run --release --example bench -- --quick    # N = 100; commands at 1,000
//! cargo run --release --example bench -- --n 1000   # a subset (repeatable)
//! cargo run --release --example bench -- --refs-only  # `ampx refs` alone (see `refs.rs`)
//! ```
//!
//! The emulator runs in a child process (this program started again with
//! `--serve-emulator`), so that the memory and CPU measured here are ampx's
//! alone, as in a real `ampx plan`. Everything it holds is generated from
//! `--seed`: the same seed gives the same flags, changes and requests.

mod commands;
mod refs;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ampx::api::{ApiKey, Call, Client, ClientOptions};
use ampx::emulator::{EmulatorConfig, Faults};
use ampx::manifest::{load_sources, ManifestSet, ObjectKind};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

// ----- heap accounting: bytes allocated now, and the peak since a reset -----

struct CountingAlloc;

static HEAP_NOW: AtomicUsize = AtomicUsize::new(0);
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = HEAP_NOW.fetch_add(n, Ordering::Relaxed) + n;
    HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        HEAP_NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                HEAP_NOW.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Starts a new heap peak at the current level; returns that level.
fn heap_reset() -> usize {
    let now = HEAP_NOW.load(Ordering::Relaxed);
    HEAP_PEAK.store(now, Ordering::Relaxed);
    now
}

// ----- /proc readings -----

fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets this process's peak RSS (VmHWM) to its current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb(pid: &str) -> f64 {
    status_kb(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0
}

/// CPU time of the whole process (user + system), 10 ms resolution.
fn process_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// CPU time of the calling thread, in nanoseconds when the kernel keeps it.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

// ----- deterministic data -----

/// splitmix64: small, seeded, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }
}

const VARIANT_KEYS: [&str; 3] = ["control", "treatment", "treatment-b"];

#[derive(Clone)]
struct FlagData {
    key: String,
    name: String,
    enabled: bool,
    team: u64,
    variants: usize,
    rollout: i64,
    /// `(layout, steps, beta)` of the `treatment` variant's payload.
    payload: Option<(u64, u64, bool)>,
    /// The `treatment` variant's inclusions.
    inclusions: Option<Vec<String>>,
}

impl FlagData {
    fn payload_json(&self) -> Option<Value> {
        self.payload.map(|(layout, steps, beta)| {
            json!({"layout": format!("v{layout}"), "steps": steps, "colors": ["red", "blue"], "beta": beta})
        })
    }

    fn seed_json(&self, i: usize) -> Value {
        let variants: Vec<Value> = VARIANT_KEYS[..self.variants]
            .iter()
            .map(|k| {
                let mut v = json!({"key": k, "rolloutWeight": 1});
                if *k == "treatment" {
                    if let Some(p) = self.payload_json() {
                        v["payload"] = p;
                    }
                    if let Some(ids) = &self.inclusions {
                        v["inclusions"] = json!(ids);
                    }
                }
                v
            })
            .collect();
        json!({
            "key": self.key,
            "name": self.name,
            "description": format!("Generated flag {i} for the benchmark"),
            "enabled": self.enabled,
            "tags": ["bench", format!("team-{}", self.team)],
            "rolloutPercentage": self.rollout,
            "variants": variants,
        })
    }

    /// The manifest that describes this flag exactly.
    fn manifest(&self, i: usize) -> String {
        let mut y = String::with_capacity(512);
        let _ = writeln!(y, "apiVersion: ampx/v1\nkind: Flag\nkey: {}", self.key);
        let _ = writeln!(y, "name: {}", self.name);
        let _ = writeln!(y, "description: Generated flag {i} for the benchmark");
        let _ = writeln!(y, "enabled: {}", self.enabled);
        let _ = writeln!(y, "tags: [bench, team-{}]", self.team);
        y.push_str("variants:\n");
        for k in &VARIANT_KEYS[..self.variants] {
            let _ = writeln!(y, "  - key: {k}");
            if *k == "treatment" {
                if let Some((layout, steps, beta)) = self.payload {
                    let _ = writeln!(
                        y,
                        "    payload: {{ layout: v{layout}, steps: {steps}, colors: [red, blue], beta: {beta} }}"
                    );
                }
                if let Some(ids) = &self.inclusions {
                    let _ = writeln!(y, "    inclusions: [{}]", ids.join(", "));
                }
            }
        }
        let _ = writeln!(y, "rolloutPercentage: {}", self.rollout);
        let weights: Vec<String> = VARIANT_KEYS[..self.variants]
            .iter()
            .map(|k| format!("{k}: 1"))
            .collect();
        let _ = writeln!(y, "rolloutWeights: {{ {} }}", weights.join(", "));
        y
    }
}

/// N flags with 2–3 variants each, a payload on 10% and 50–500 inclusions
/// on 2%.
fn generate(n: usize, seed: u64) -> Vec<FlagData> {
    let mut rng = Rng(seed);
    let mut flags: Vec<FlagData> = (0..n)
        .map(|i| FlagData {
            key: format!("bench-{i:05}"),
            name: format!("Bench flag {i}"),
            enabled: rng.below(2) == 0,
            team: rng.below(12),
            variants: 2 + rng.below(2) as usize,
            rollout: rng.below(101) as i64,
            payload: None,
            inclusions: None,
        })
        .collect();
    for &i in &rng.permutation(n)[..n / 10] {
        let (layout, steps, beta) = (rng.below(7), 1 + rng.below(5), rng.below(2) == 0);
        flags[i].payload = Some((layout, steps, beta));
    }
    for &i in &rng.permutation(n)[..n / 50] {
        let count = 50 + rng.below(451) as usize;
        flags[i].inclusions = Some((0..count).map(|j| format!("user-{i}-{j}")).collect());
    }
    flags
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Change {
    Name,
    Payload,
    Inclusions,
    Rollout,
}

impl Change {
    /// The calls the change needs: one PATCH, or for inclusions one
    /// `bulk-delete-users` and one add.
    fn calls(self) -> usize {
        match self {
            Change::Inclusions => 2,
            _ => 1,
        }
    }
}

/// 5% of the flags, changed in turn by name, payload, inclusions and
/// rollout percentage.
fn pick_changes(flags: &[FlagData], seed: u64) -> Vec<(usize, Change)> {
    let n = flags.len();
    let total = (n * 5).div_ceil(100);
    let order = Rng(seed ^ 0xC4A9_5EED).permutation(n);
    let mut used = vec![false; n];
    let mut out = Vec::new();
    let kinds = [
        Change::Name,
        Change::Payload,
        Change::Inclusions,
        Change::Rollout,
    ];
    for t in 0..total {
        let mut kind = kinds[t % 4];
        let eligible = |i: usize, kind: Change| {
            !used[i]
                && match kind {
                    Change::Payload => flags[i].payload.is_some(),
                    Change::Inclusions => flags[i].inclusions.is_some(),
                    _ => true,
                }
        };
        let found = order.iter().copied().find(|&i| eligible(i, kind));
        let i = match found {
            Some(i) => i,
            None => {
                kind = Change::Name;
                match order.iter().copied().find(|&i| eligible(i, kind)) {
                    Some(i) => i,
                    None => break,
                }
            }
        };
        used[i] = true;
        out.push((i, kind));
    }
    out
}

fn apply_changes(flags: &[FlagData], changes: &[(usize, Change)]) -> Vec<FlagData> {
    let mut out = flags.to_vec();
    for &(i, c) in changes {
        let f = &mut out[i];
        match c {
            Change::Name => f.name.push_str(" renamed"),
            Change::Payload => {
                if let Some(p) = f.payload.as_mut() {
                    p.1 += 10;
                }
            }
            Change::Inclusions => {
                if let Some(ids) = f.inclusions.as_mut() {
                    ids.drain(..10);
                    ids.extend((0..10).map(|j| format!("user-{i}-new-{j}")));
                }
            }
            Change::Rollout => f.rollout = (f.rollout + 50) % 101,
        }
    }
    out
}

const PROJECT: &str = "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n";
const KEY: &str = "bench-key-0123456789";
const LATENCY_MS: u64 = 20;
const RPS: f64 = 100.0;
const MB: f64 = 1024.0 * 1024.0;

/// The manifests of `flags` (file name, text), the Project first.
fn sources(flags: &[FlagData]) -> Vec<(PathBuf, String)> {
    let mut sources = vec![(PathBuf::from("project.yaml"), PROJECT.to_string())];
    for (i, f) in flags.iter().enumerate() {
        sources.push((
            PathBuf::from(format!("flags/{}.yaml", f.key)),
            f.manifest(i),
        ));
    }
    sources
}

fn manifests(flags: &[FlagData]) -> ManifestSet {
    match load_sources(&sources(flags)) {
        Ok(set) => set,
        Err(d) => panic!("the generated manifests are invalid: {d}"),
    }
}

/// What a plan must read: one list call per 1,000 flags, the variants of
/// flags with a managed payload, the users of variants with managed
/// inclusions; nothing else.
fn minimal_plan_requests(flags: &[FlagData]) -> usize {
    flags.len().div_ceil(1000)
        + flags.iter().filter(|f| f.payload.is_some()).count()
        + flags.iter().filter(|f| f.inclusions.is_some()).count()
}

// ----- the emulator, in a child process -----

/// Serves an emulator seeded with `n` flags; with `limited`, with the API's
/// latency and rate limit.
fn serve_emulator(n: usize, seed: u64, limited: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = EmulatorConfig {
            api_key: KEY.into(),
            page_size: 1000,
            ..Default::default()
        };
        let emu = ampx::emulator::start(config, ([127, 0, 0, 1], 0).into()).await?;
        for (i, f) in generate(n, seed).iter().enumerate() {
            emu.seed_flag(f.seed_json(i))?;
        }
        if limited {
            emu.set_faults(Faults {
                latency_ms: LATENCY_MS,
                rate_limit_rps: Some(RPS),
                ..Default::default()
            });
        }
        println!("ready {}", emu.base_url);
        std::io::stdout().flush()?;
        // Serve until the parent closes stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        emu.shutdown().await;
        anyhow::Ok(())
    })
}

struct EmulatorProcess {
    child: Child,
    url: String,
    seeded_in: Duration,
}

impl EmulatorProcess {
    fn start(n: usize, seed: u64, limited: bool) -> anyhow::Result<EmulatorProcess> {
        let started = Instant::now();
        let mut args = vec![
            "--serve-emulator".to_string(),
            n.to_string(),
            "--seed".to_string(),
            seed.to_string(),
        ];
        if !limited {
            args.push("--no-limits".into());
        }
        let mut child = Command::new(std::env::current_exe()?)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("ready ")
            .ok_or_else(|| anyhow::anyhow!("the emulator did not start: {line:?}"))?
            .to_string();
        Ok(EmulatorProcess {
            child,
            url,
            seeded_in: started.elapsed(),
        })
    }

    fn peak_rss_mb(&self) -> f64 {
        peak_rss_mb(&self.child.id().to_string())
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ----- measurements -----

#[derive(Clone, Debug)]
struct Row {
    n: usize,
    scenario: &'static str,
    requests: usize,
    minimal: usize,
    wall: Duration,
    lower_bound: Duration,
    diff_plan_cpu: Option<Duration>,
    diff_plan_heap_mb: Option<f64>,
    peak_rss_mb: Option<f64>,
    ampx_cpu: Option<Duration>,
    note: String,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.lower_bound.as_secs_f64().max(1e-9)
    }
}

struct Stage {
    started: Instant,
    requests: usize,
    cpu: Duration,
}

fn stage_start(client: &Client) -> Stage {
    reset_peak_rss();
    Stage {
        started: Instant::now(),
        requests: client.requests(),
        cpu: process_cpu(),
    }
}

/// `max(requests ÷ 100 a second, latency × the longest chain of dependent calls)`.
fn lower_bound(requests: usize, chain: usize) -> Duration {
    let by_rate = Duration::from_secs_f64(requests as f64 / RPS);
    let by_latency = Duration::from_millis(LATENCY_MS * chain as u64);
    by_rate.max(by_latency)
}

/// CPU of `plan::make` (diff and order) on a live state already read: the
/// median of three runs on this thread, and the heap they allocate at most.
fn diff_and_plan(set: &ManifestSet, live: &ampx::api::live::Live) -> (Duration, f64, usize) {
    let mut times = Vec::new();
    let mut heap = 0usize;
    let mut objects = 0;
    for _ in 0..3 {
        let base = heap_reset();
        let (cpu0, t0) = (thread_cpu(), Instant::now());
        let plan = ampx::plan::make(set, live, 0).expect("the manifests diff cleanly");
        let elapsed = match (cpu0, thread_cpu()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => t0.elapsed(),
        };
        heap = heap.max(HEAP_PEAK.load(Ordering::Relaxed).saturating_sub(base));
        objects = plan.objects.len();
        drop(plan);
        times.push(elapsed);
    }
    times.sort();
    (times[1], heap as f64 / (1024.0 * 1024.0), objects)
}

/// The per-object reads a Terraform provider makes: `GET /flags/{id}` and
/// `GET /flags/{id}/variants` for each flag, at most `parallelism` flags at
/// a time.
async fn per_object_reads(client: &Arc<Client>, ids: &[String]) -> anyhow::Result<()> {
    let sem = Arc::new(Semaphore::new(client.options.parallelism));
    let mut tasks = JoinSet::new();
    for id in ids {
        let (c, s, id) = (client.clone(), sem.clone(), id.clone());
        tasks.spawn(async move {
            let _permit = s.acquire_owned().await;
            c.get_json(&Call::get(format!("/api/1/flags/{id}"), "flag"))
                .await?;
            ampx::fetch::get_variants(&c, ObjectKind::Flag, &id, &id).await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

struct SizeResult {
    rows: Vec<Row>,
    notes: Vec<String>,
}

async fn run_size(n: usize, seed: u64, per_object_max: usize) -> anyhow::Result<SizeResult> {
    let mut notes = Vec::new();
    eprintln!("N = {n}: seeding the emulator…");
    let emu = EmulatorProcess::start(n, seed, true)?;
    let flags = generate(n, seed);
    let changes = pick_changes(&flags, seed);
    let changed = apply_changes(&flags, &changes);

    let (t, heap0) = (Instant::now(), HEAP_NOW.load(Ordering::Relaxed));
    let base_set = manifests(&flags);
    let load_time = t.elapsed();
    let set_heap = HEAP_NOW.load(Ordering::Relaxed).saturating_sub(heap0);
    notes.push(format!(
        "N = {n}: seeding the emulator took {:.1} s; loading the {n} manifests from YAML took {} (not part of any row).",
        emu.seeded_in.as_secs_f64(),
        fmt_dur(load_time)
    ));

    let client = Arc::new(Client::new(
        &emu.url,
        ApiKey::new(KEY.into())?,
        ClientOptions {
            max_rps: RPS,
            ..Default::default()
        },
    )?);
    let minimal = minimal_plan_requests(&flags);
    let pages = n.div_ceil(1000);
    let details = minimal - pages;
    let plan_chain = pages + usize::from(details > 0);
    let mut rows = Vec::new();

    // (a) plan, no changes
    eprintln!("N = {n}: plan, no changes…");
    let s = stage_start(&client);
    let heap0 = HEAP_NOW.load(Ordering::Relaxed);
    let (plan, live) = ampx::commands::plan::read_and_plan(&client, &base_set).await?;
    let live_heap = HEAP_NOW.load(Ordering::Relaxed).saturating_sub(heap0);
    notes.push(format!(
        "N = {n}: heap held by one manifest set: {:.1} MB; by the live state a plan read: {:.1} MB.",
        set_heap as f64 / MB,
        live_heap as f64 / MB
    ));
    let (wall, cpu, rss) = (
        s.started.elapsed(),
        process_cpu() - s.cpu,
        peak_rss_mb("self"),
    );
    let requests = client.requests() - s.requests;
    if !plan.is_empty() {
        anyhow::bail!(
            "N = {n}: the manifests should describe the live state exactly, but the plan has {} change(s):\n{}",
            plan.objects.len(),
            ampx::render::text::render(&plan, ampx::render::text::Style::plain())
        );
    }
    drop(plan);
    let (dp_cpu, dp_heap, _) = diff_and_plan(&base_set, &live);
    let ids: Vec<String> = live.flags.values().map(|f| f.id.clone()).collect();
    drop(live);
    // As in `ampx plan`, one manifest set at a time.
    drop(base_set);
    let changed_set = manifests(&changed);
    drop(changed);
    rows.push(Row {
        n,
        scenario: "plan, no changes",
        requests,
        minimal,
        wall,
        lower_bound: lower_bound(requests.max(minimal), plan_chain),
        diff_plan_cpu: Some(dp_cpu),
        diff_plan_heap_mb: Some(dp_heap),
        peak_rss_mb: Some(rss),
        ampx_cpu: Some(cpu),
        note: String::new(),
    });

    // (b) plan, 5% changed
    eprintln!("N = {n}: plan, 5% changed…");
    let s = stage_start(&client);
    let (plan, live) = ampx::commands::plan::read_and_plan(&client, &changed_set).await?;
    let (wall, cpu, rss) = (
        s.started.elapsed(),
        process_cpu() - s.cpu,
        peak_rss_mb("self"),
    );
    let requests = client.requests() - s.requests;
    let (dp_cpu, dp_heap, objects) = diff_and_plan(&changed_set, &live);
    drop(live);
    let expected_calls: usize = changes.iter().map(|(_, c)| c.calls()).sum();
    let mut note = String::new();
    if objects != changes.len() || plan.op_count() != expected_calls {
        note = format!(
            "expected {} changed flags and {expected_calls} calls, the plan has {objects} and {}",
            changes.len(),
            plan.op_count()
        );
    }
    rows.push(Row {
        n,
        scenario: "plan, 5% changed",
        requests,
        minimal,
        wall,
        lower_bound: lower_bound(requests.max(minimal), plan_chain),
        diff_plan_cpu: Some(dp_cpu),
        diff_plan_heap_mb: Some(dp_heap),
        peak_rss_mb: Some(rss),
        ampx_cpu: Some(cpu),
        note,
    });

    // (c) apply the 5%
    eprintln!("N = {n}: apply…");
    let s = stage_start(&client);
    let report = ampx::apply::apply(client.clone(), &plan).await;
    let (wall, cpu, rss) = (
        s.started.elapsed(),
        process_cpu() - s.cpu,
        peak_rss_mb("self"),
    );
    let requests = client.requests() - s.requests;
    if !report.ok() {
        anyhow::bail!(
            "N = {n}: apply failed:\n{}",
            report.render(ampx::render::text::Style::plain())
        );
    }
    let chain = plan.objects.iter().map(|o| o.ops.len()).max().unwrap_or(0);
    let mix = |k: Change| changes.iter().filter(|(_, c)| *c == k).count();
    rows.push(Row {
        n,
        scenario: "apply 5%",
        requests,
        minimal: expected_calls,
        wall,
        lower_bound: lower_bound(requests.max(expected_calls), chain),
        diff_plan_cpu: None,
        diff_plan_heap_mb: None,
        peak_rss_mb: Some(rss),
        ampx_cpu: Some(cpu),
        note: format!(
            "{} flags: {} name, {} payload, {} inclusions (10 out, 10 in), {} rollout",
            changes.len(),
            mix(Change::Name),
            mix(Change::Payload),
            mix(Change::Inclusions),
            mix(Change::Rollout)
        ),
    });
    drop(plan);

    // (d) per-object reads, Terraform-style
    let measured = n.min(per_object_max);
    eprintln!("N = {n}: per-object reads of {measured} flags…");
    let s = stage_start(&client);
    per_object_reads(&client, &ids[..measured]).await?;
    let (wall, cpu, rss) = (
        s.started.elapsed(),
        process_cpu() - s.cpu,
        peak_rss_mb("self"),
    );
    let requests = client.requests() - s.requests;
    let scale = n as f64 / measured as f64;
    let (requests, wall, note) = if measured < n {
        (
            (requests as f64 * scale).round() as usize,
            wall.mul_f64(scale),
            format!(
                "**extrapolated** ×{scale:.0} from {measured} flags read ({requests} requests in {})",
                fmt_dur(wall)
            ),
        )
    } else {
        (requests, wall, String::new())
    };
    rows.push(Row {
        n,
        scenario: "per-object reads (Terraform-style)",
        requests,
        minimal: 2 * n,
        wall,
        lower_bound: lower_bound(requests.max(2 * n), 2),
        diff_plan_cpu: None,
        diff_plan_heap_mb: None,
        peak_rss_mb: (measured == n).then_some(rss),
        ampx_cpu: (measured == n).then_some(cpu),
        note,
    });

    notes.push(format!(
        "N = {n}: the emulator process peaked at {:.0} MB RSS (not counted in any row).",
        emu.peak_rss_mb()
    ));
    emu.stop();
    Ok(SizeResult { rows, notes })
}

/// Whole commands at each N of `sizes` (validate, plan in three formats and
/// export, against an emulator without limits), and at each N of
/// `plan_sizes` `plan` against the emulator with the API's limits; both
/// manifest layouts where the layout is what is measured.
fn run_commands(
    sizes: &[usize],
    plan_sizes: &[usize],
    seed: u64,
) -> anyhow::Result<Vec<commands::Run>> {
    use commands::{measure, write_manifests, Layout};
    let bin = commands::ampx_binary()?;
    let tmp = std::env::temp_dir().join(format!("ampx-bench-{}", std::process::id()));
    let mut runs = Vec::new();
    let mut all: Vec<usize> = sizes.iter().chain(plan_sizes).copied().collect();
    all.sort_unstable();
    all.dedup();
    for n in all {
        let flags = generate(n, seed);
        let changes = pick_changes(&flags, seed);
        let sources = sources(&apply_changes(&flags, &changes));
        drop(flags);
        let many = write_manifests(&tmp.join("many"), &sources, Layout::Many)?;
        let one = write_manifests(&tmp.join("one"), &sources, Layout::One)?;
        drop(sources);
        let dir = |layout| match layout {
            Layout::Many => many.to_string_lossy().into_owned(),
            Layout::One => one.to_string_lossy().into_owned(),
        };
        let mut record = |run: anyhow::Result<commands::Run>, command, layout, limited| {
            let mut run = run?;
            (run.n, run.command, run.layout, run.limited) = (n, command, layout, limited);
            runs.push(run);
            anyhow::Ok(())
        };
        if sizes.contains(&n) {
            eprintln!("N = {n}: whole commands without limits…");
            for layout in [Layout::Many, Layout::One] {
                let r = measure(&bin, &["validate", &dir(layout)], "", &[0]);
                record(r, "validate", layout, false)?;
            }
            let emu = EmulatorProcess::start(n, seed, false)?;
            let fast = ["--max-rps", "1000"];
            for (command, layout, format) in [
                ("plan", Layout::Many, "text"),
                ("plan", Layout::One, "text"),
                ("plan --format json", Layout::Many, "json"),
                ("plan --format markdown", Layout::Many, "markdown"),
            ] {
                let d = dir(layout);
                let mut args = vec!["plan", d.as_str(), "--format", format];
                args.extend(fast);
                record(
                    measure(&bin, &args, &emu.url, &[0, 2]),
                    command,
                    layout,
                    false,
                )?;
            }
            let out = tmp.join("export");
            let _ = std::fs::remove_dir_all(&out);
            let out = out.to_string_lossy().into_owned();
            let mut args = vec!["export", "--out", out.as_str()];
            args.extend(fast);
            record(
                measure(&bin, &args, &emu.url, &[0]),
                "export --out",
                Layout::Many,
                false,
            )?;
            emu.stop();
        }
        if plan_sizes.contains(&n) {
            eprintln!("N = {n}: plan with the API's limits…");
            let emu = EmulatorProcess::start(n, seed, true)?;
            for layout in [Layout::Many, Layout::One] {
                let d = dir(layout);
                let args = ["plan", d.as_str(), "--max-rps", "100"];
                // Twelve seconds of waiting on the rate limit make the CPU
                // of one run noisy (±20% seen): the run of median CPU of three.
                let mut three = (0..3)
                    .map(|_| measure(&bin, &args, &emu.url, &[0, 2]))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                three.sort_by_key(|r| r.cpu);
                record(Ok(three.swap_remove(1)), "plan", layout, true)?;
            }
            emu.stop();
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(runs)
}

// ----- the report -----

fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

fn fmt_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {os} (Linux {})", kernel.trim())
}

/// The commit measured and whether the tree had changes, read when the run
/// starts (what is built and measured is the tree at that moment).
fn commit_state() -> (String, bool) {
    let commit = sh("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty = !sh("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    (commit, dirty)
}

fn report(
    rows: &[Row],
    runs: &[commands::Run],
    notes: &[String],
    command: &str,
    (commit, dirty): (String, bool),
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Request economy and speed of `ampx plan` and `ampx apply` against the \
         built-in emulator with the Management API's limits: {LATENCY_MS} ms latency on every \
         request and a rate limit of {RPS:.0} requests a second (a 429 beyond it); ampx's \
         client runs with `max_rps` {RPS:.0} and its default parallelism (8). Generated by \
         [`examples/bench`](examples/bench); every number below is measured by it in \
         one run.\n"
    );
    let _ = writeln!(md, "- Machine: {}", machine());
    let _ = writeln!(md, "- Date: {}", sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]));
    let _ = writeln!(
        md,
        "- Commit: `{commit}`{}",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "- Command: `{command}`\n");
    let _ = writeln!(md, "## Results\n");
    md.push_str(
        "| N | scenario | requests | minimal requests | wall time | lower bound | actual ÷ bound | diff + plan CPU | diff + plan heap | peak RSS (ampx) | ampx CPU |\n",
    );
    md.push_str("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let opt = |d: Option<Duration>, f: fn(Duration) -> String| d.map_or("–".into(), f);
        let _ = writeln!(
            md,
            "| {} | {}{} | {} | {} | {} | {} | {:.2}× | {} | {} | {} | {} |",
            thousands(r.n),
            r.scenario,
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            },
            thousands(r.requests),
            thousands(r.minimal),
            fmt_dur(r.wall),
            fmt_dur(r.lower_bound),
            r.ratio(),
            opt(r.diff_plan_cpu, fmt_ms),
            r.diff_plan_heap_mb
                .map_or("–".into(), |m| format!("{m:.1} MB")),
            r.peak_rss_mb.map_or("–".into(), |m| format!("{m:.0} MB")),
            opt(r.ampx_cpu, fmt_dur),
        );
    }
    md.push_str(
        "\nColumns:\n\n\
         - **requests**: HTTP requests ampx's client sent in that stage, retries included \
         (`Client::requests()`); a 429 or a retry would show as a request above the minimum.\n\
         - **minimal requests**: for a plan, one list call per 1,000 flags + `GET …/variants` \
         for each flag whose manifest manages a payload (10% of flags) + `GET …/users` for each \
         variant whose manifest manages inclusions (2% of flags); no deployment or experiment \
         list, since no manifest names a deployment or an experiment. For apply, one call per \
         change (a PATCH of the flag or the variant), two for an inclusion change \
         (`bulk-delete-users` and an add). For the per-object reads, two per flag.\n\
         - **lower bound**: max(requests ÷ 100 a second, 20 ms × the longest chain of \
         dependent calls). A plan's chain is its list pages, read one after the other \
         (each needs the previous page's cursor), then one round of detail reads; an \
         apply's is the most calls one flag needs in order (2); a per-object read's is 2.\n\
         - **diff + plan CPU**: thread CPU time of `ampx::plan::make` (diff, \
         calls and dependency order) on the live state the plan read (median of three runs); \
         **diff + plan heap**: the most heap they allocated above what was already held \
         (counted by a global allocator wrapper).\n\
         - **peak RSS (ampx)**: the process's VmHWM over the stage (reset before it \
         through `/proc/self/clear_refs`). The emulator runs in a separate process, so this \
         is ampx alone: one manifest set at a time (as `ampx plan` holds), the client, \
         the live state and the plan. **ampx CPU**: user + system CPU of that process over the \
         stage (10 ms resolution).\n",
    );
    md.push_str("\n## What limits it\n\n");
    md.push_str(&analysis(rows));
    if !runs.is_empty() {
        md.push('\n');
        md.push_str(&commands::section(runs));
    }
    if !notes.is_empty() {
        md.push_str("\n## Notes\n\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md
}

fn analysis(rows: &[Row]) -> String {
    let mut out = String::new();
    let Some(n) = rows.iter().map(|r| r.n).max() else {
        return out;
    };
    let row = |s: &str| rows.iter().find(|r| r.n == n && r.scenario.starts_with(s));
    let (Some(a), Some(b), Some(c), Some(d)) = (
        row("plan, no"),
        row("plan, 5%"),
        row("apply"),
        row("per-object"),
    ) else {
        return out;
    };
    let rate_share = |r: &Row| (r.requests as f64 / RPS) / r.wall.as_secs_f64() * 100.0;
    let pages = n.div_ceil(1000);
    let _ = writeln!(
        out,
        "At N = {}, a plan makes {} requests; at {RPS:.0} a second they take {:.1} s, \
         {:.0}% of the {} the plan took (the {pages} list page(s), read one after the \
         other, add at least {} of latency). Diff and plan take {} of CPU ({:.1}% of the \
         wall time) and the whole plan {} of ampx's CPU, so ampx waits on the API's rate \
         limit, not on its own work. Apply makes {} calls for {} changed flags: {:.1} s at \
         {RPS:.0} a second, {:.0}% of its {}; 8 calls in flight at {LATENCY_MS} ms each could \
         carry {:.0} a second, so the parallelism is not what limits it either.",
        thousands(n),
        thousands(a.requests),
        a.requests as f64 / RPS,
        rate_share(a),
        fmt_dur(a.wall),
        fmt_dur(Duration::from_millis(LATENCY_MS * pages as u64)),
        a.diff_plan_cpu.map_or("?".into(), fmt_ms),
        a.diff_plan_cpu
            .map_or(0.0, |c| c.as_secs_f64() / a.wall.as_secs_f64() * 100.0),
        a.ampx_cpu.map_or("?".into(), fmt_dur),
        thousands(c.requests),
        c.note.split(' ').next().unwrap_or("?"),
        c.requests as f64 / RPS,
        rate_share(c),
        fmt_dur(c.wall),
        8.0 * 1000.0 / LATENCY_MS as f64,
    );
    let _ = writeln!(
        out,
        "\nReading the same project per object, as Terraform providers do, takes {} \
         requests ({:.0}× as many) and {} ({:.0}× as long){}; it also spends {:.1}% of the \
         API's daily quota of 100,000 requests per refresh, against {:.1}% for ampx's plan \
         (and it still has not read a single inclusion, which takes one more request per \
         variant).",
        thousands(d.requests),
        d.requests as f64 / a.requests as f64,
        fmt_dur(d.wall),
        d.wall.as_secs_f64() / a.wall.as_secs_f64(),
        if d.note.contains("extrapolated") {
            ", extrapolated"
        } else {
            ""
        },
        d.requests as f64 / 1000.0,
        a.requests as f64 / 1000.0,
    );
    let small = rows.iter().map(|r| r.n).min().unwrap_or(n);
    let worst_small = rows
        .iter()
        .filter(|r| r.n == small && !r.scenario.starts_with("per-object"))
        .max_by(|x, y| x.ratio().total_cmp(&y.ratio()));
    if let Some(w) = worst_small.filter(|_| small < n) {
        let over = w.wall.saturating_sub(w.lower_bound);
        let _ = writeln!(
            out,
            "\nThe ratio is highest at the smallest N ({} at N = {}, {:.2}×), where the bound \
             is short and {} separate the two: the bound takes the larger of the rate limit's \
             time and the latency chain rather than their sum, yet a plan's detail reads can \
             start only once the list has answered ({LATENCY_MS} ms), and the last request of \
             any stage still waits its own {LATENCY_MS} ms after its slot.",
            w.scenario,
            thousands(small),
            w.ratio(),
            fmt_dur(over),
        );
    }
    let _ = writeln!(out, "\nTargets (at N = {}):\n", thousands(n));
    let check = |ok: bool| if ok { "met" } else { "**not met**" };
    let exact = rows
        .iter()
        .filter(|r| r.scenario.starts_with("plan"))
        .all(|r| r.requests == r.minimal);
    let _ = writeln!(
        out,
        "- the plan makes exactly the minimal set of requests, at every N: {}",
        check(exact)
    );
    let worst = rows
        .iter()
        .filter(|r| r.scenario.starts_with("plan") || r.scenario.starts_with("apply"))
        .map(Row::ratio)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "- plan and apply within 1.3× of the lower bound, at every N (worst {worst:.2}×): {}",
        check(worst <= 1.3)
    );
    let cpu = a.diff_plan_cpu.max(b.diff_plan_cpu).unwrap_or_default();
    let _ = writeln!(
        out,
        "- diff + plan under 1 s of CPU ({}): {}",
        fmt_ms(cpu),
        check(cpu < Duration::from_secs(1))
    );
    let rss = [a, b, c]
        .iter()
        .filter_map(|r| r.peak_rss_mb)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "- peak memory under 150 MB (ampx's peak RSS over plan and apply, {rss:.0} MB): {}",
        check(rss < 150.0)
    );
    out
}

// ----- the command line -----

#[derive(Parser, Debug)]
#[command(about = "Benchmarks ampx's request economy and speed against the emulator")]
struct Args {
    /// Flag counts to run (repeatable or comma-separated); default 100, 1000, 10000.
    #[arg(long = "n", alias = "sizes", value_delimiter = ',')]
    sizes: Vec<usize>,
    /// N = 100 only.
    #[arg(long)]
    quick: bool,
    /// Reads per object at most this many flags and extrapolates beyond.
    #[arg(long, default_value_t = 10_000)]
    per_object_max: usize,
    /// Seeds every generated flag and change.
    #[arg(long, default_value_t = 5)]
    seed: u64,
    /// Where the markdown report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md"))]
    out: PathBuf,
    /// Flag counts for the whole commands without limits; default 1000, 10000, 50000.
    #[arg(long = "commands-n", value_delimiter = ',')]
    commands_sizes: Vec<usize>,
    /// Flag counts for `ampx plan` with the API's limits; default 1000, 10000.
    #[arg(long = "plan-n", value_delimiter = ',')]
    plan_sizes: Vec<usize>,
    /// Internal: serve an emulator seeded with this many flags.
    #[arg(long, hide = true)]
    serve_emulator: Option<usize>,
    /// Internal: the served emulator has no latency or rate limit.
    #[arg(long, hide = true)]
    no_limits: bool,
    /// Writes the manifests of the first `--n` size (5% changed from the
    /// emulator's flags) into this directory, one file per object, and
    /// stops: for profiling a command by hand against `--serve-emulator`.
    #[arg(long)]
    write_manifests: Option<PathBuf>,
    /// Internal: run the command after `--` and report its resources.
    #[arg(long, hide = true)]
    measure_child: bool,
    /// The command for `--measure-child`.
    #[arg(last = true, hide = true)]
    child: Vec<String>,
    /// Only `ampx refs` over a large codebase: rewrites only its section of
    /// the report.
    #[arg(long)]
    refs_only: bool,
    /// The source tree `ampx refs` searches (default: the cargo registry's
    /// sources, `$CARGO_HOME/registry/src`).
    #[arg(long, value_name = "DIR")]
    refs_src: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(n) = args.serve_emulator {
        return serve_emulator(n, args.seed, !args.no_limits);
    }
    if args.measure_child {
        return commands::measure_child(&args.child);
    }
    if let Some(dir) = &args.write_manifests {
        let n = args.sizes.first().copied().unwrap_or(1_000);
        let flags = generate(n, args.seed);
        let changes = pick_changes(&flags, args.seed);
        let sources = sources(&apply_changes(&flags, &changes));
        commands::write_manifests(dir, &sources, commands::Layout::Many)?;
        eprintln!("wrote {n} flags to {}", dir.display());
        return Ok(());
    }
    let sizes = if args.quick {
        vec![100]
    } else if args.sizes.is_empty() {
        vec![100, 1_000, 10_000]
    } else {
        args.sizes.clone()
    };
    let state = commit_state();
    let mut command = String::from("cargo run --release --example bench");
    let extra: Vec<String> = std::env::args().skip(1).collect();
    if !extra.is_empty() {
        command.push_str(" -- ");
        command.push_str(&extra.join(" "));
    }
    if args.refs_only {
        return refs::only(&args.out, args.refs_src.as_deref(), &command, &state);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for n in sizes {
        let r = rt.block_on(run_size(n, args.seed, args.per_object_max))?;
        rows.extend(r.rows);
        notes.extend(r.notes);
    }
    let or = |given: &[usize], quick: &[usize], full: &[usize]| match () {
        _ if !given.is_empty() => given.to_vec(),
        _ if args.quick => quick.to_vec(),
        _ => full.to_vec(),
    };
    let commands_sizes = or(&args.commands_sizes, &[1_000], &[1_000, 10_000, 50_000]);
    let plan_sizes = or(&args.plan_sizes, &[1_000], &[1_000, 10_000]);
    let runs = run_commands(&commands_sizes, &plan_sizes, args.seed)?;
    eprintln!("ampx demo…");
    let demo = commands::demo_line(&commands::ampx_binary()?)?;
    let mut md = report(&rows, &runs, &notes, &command, state.clone());
    md = md.replacen(
        "\nTargets for whole commands:\n\n",
        &format!("\nTargets for whole commands:\n\n{demo}\n"),
        1,
    );
    let md = refs::splice(
        &md,
        &refs::run_section(args.refs_src.as_deref(), &command, &state),
    );
    std::fs::write(&args.out, &md)?;
    println!("{md}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
