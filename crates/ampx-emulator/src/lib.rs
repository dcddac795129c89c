//! `ampx emulator`: an in-memory stand-in for the Amplitude Experiment
//! Management API.
//!
//! What it may depend on: an HTTP server (axum, tokio) and serde, never on
//! `ampx-core` or the `ampx` client. It is the oracle the client's tests run
//! against, so its rules and limits ([`limits`]) come from the API's
//! documentation, written out here; a rule imported from the client would
//! make every mistake in that rule pass its own test.
//!
//! Why it exists: the real API has no sandbox, a project-wide rate limit and
//! no DELETE for flags, so it is a poor place to run a test suite or to try a
//! manifest out. The emulator serves the same `/api/1` paths with the same
//! answer shapes and, above all, the same documented quirks a correct client
//! has to handle: create ignores `enabled`, `rolloutPercentage` and `tags`;
//! PATCH ignores `rolloutWeights`; list and detail show variants by key only;
//! `nextCursor` is a string for flags and a number for experiments; archived
//! keys cannot be created again; a variant used by a target segment cannot be
//! removed; inclusion limits (2000 a variant, 100 per bulk delete); cohort
//! inclusions on variants (`…/variants/{key}/cohorts` adds and never repeats
//! an id; `bulk-delete-cohorts` takes the ids in `users`, at most 100); writes
//! answer the plain text `OK`; an `exposureEvent` needs `event_type` and
//! `filters` (an array, which may be empty; each filter with `subprop_type`,
//! `subprop_key`, a documented `subprop_op` and `subprop_value`), and `null`
//! restores the default event; turning an experiment on moves it from
//! `planning` to `running`; a web experiment (only seeding makes one) can be
//! read but answers every write with a 405, and nothing in its answers marks
//! it. It records every request it receives so tests can assert on exactly
//! which calls a plan made.
//!
//! # Answer shapes: strict by default, lenient on request
//!
//! By default every answer has exactly the fields of the docs' example, in
//! the docs' order (the lists are written out in `store/shapes.rs`), so a
//! client meets what the docs leave unknown:
//! - flag list entries show authors and times but no `tags`, `archived` or
//!   `deleted`; flag details show `deleted` and no times, authors or tags;
//!   experiment list entries show no `tags`, `deleted`, `archived` or
//!   `exposureEvent`; experiment details show `deleted`, `tags` and
//!   `createdBy` (but no times). `parentDependencies` appears when there are
//!   some. Authors are an email (`ampx-emulator@example.com`).
//! - `startDate` and `endDate` are answered as the UTC day of the date-time
//!   a request sent (`"2023-07-29"`); requests must still send date-times.
//! - a version's `flagConfig` holds the version example's fields (an
//!   experiment's shows no evaluation mode, salt, unit, rollout percentage
//!   or state).
//! - deployment list entries (and a flag's or experiment's deployments) show
//!   no `type`; `GET /deployments/{id}` does.
//! - group lists take only `limit` and `cursor`: a mutex list leaves
//!   archived groups out (no field of its entries could mark them), a
//!   holdout list shows them with `deleted: true`; mutex answers show no
//!   `deleted`.
//! - experiments have no `activate`, `deactivate` or `rollout-weights`
//!   (the current docs pages show none: 404).
//! - a flag and an experiment cannot share a key (one key space with the
//!   groups, per project).
//!
//! [`EmulatorConfig::lenient`] keeps the emulator's older, kinder answers,
//! for demos and for the CLI's tests until the client reads the documented
//! shapes: lists and details show every field (`tags`, `archived`,
//! `deleted`, `exposureEvent`, dates as sent, the `type` of deployments and
//! web experiments, authors as `ampx-emulator`, flags without authors),
//! versions hold that full shape, group lists take `includeArchived` (and
//! mutex answers show `deleted`), experiments have `activate`, `deactivate`
//! and `rollout-weights`, a flag and an experiment may share a key,
//! `projectId` does not filter lists, and a deployment may be created in any
//! project (it goes to the default one). `GET /deployments/{id}` and
//! `GET /versions` are served in both modes.
//!
//! # Projects
//!
//! The key sees [`EmulatorConfig::project_id`] (the default project) and
//! [`EmulatorConfig::other_projects`]; each starts with the same three
//! deployments. Every flag, experiment, deployment and group belongs to one
//! project: creates name it in `projectId` (one the key does not see is a
//! 403), seeds may (the default project otherwise). Keys and deployment
//! labels are unique per project; a flag's deployments, and a group's
//! experiments and holdouts, must be of its project (400). Flag and
//! experiment lists filter by `projectId` (403 for one the key does not
//! see) and otherwise show every project's; the deployment, group and
//! version lists show every project's objects, each with its `projectId`.
//! `GET /versions?start=&end=&limit=&cursor=` lists the versions of every
//! flag and experiment, archived or not, newest first, `start` inclusive
//! and `end` exclusive (ISO 8601 date-times, or dates meaning midnight UTC),
//! with a numeric `nextCursor`.
//!
//! Mutual exclusion groups (`/mutexes`, with `…/slots/{slotIndex}`) and
//! holdout groups (`/holdouts`) follow the docs where they speak: no DELETE
//! (`PATCH {"archive": true}`, which for a mutex ignores name and description);
//! create answers `{"id", "url"}`; 1 to 20 slots with integer percentages
//! from 1 to 100 adding up to 100; a holdout percentage from 1 to 99; keys
//! unique across flags, experiments and both kinds of group, archived or not
//! (409); experiments and holdouts named in a group must exist (400 naming
//! the id); what cannot change after creation (slots and percentages, the
//! holdout percentage, evaluation mode, bucketing key and salt) is refused
//! with a 400 and nothing changes. An experiment's read-only
//! `parentDependencies` (`{"flags": {"<group id>": ["slot-1"] or ["on"]},
//! "operator": "all"}`) is derived from the live groups that list it, after
//! any a seed gave (seeding is the only way a flag gets some).
//! Where the docs are silent, the emulator's choices are: slot indexes are
//! 1-based, as the slots show them (0 or past the last slot is a 404); group
//! lists have a numeric `nextCursor`; a slot PATCH replaces each list it
//! gives and keeps the others; an archived group keeps its lists
//! (unarchiving restores its dependencies); an object without dependencies
//! has no `parentDependencies` field, and version snapshots never show it;
//! a local-evaluation experiment cannot join a remote-evaluation holdout
//! (the docs' "compatible" modes); groups have no versions.
//!
//! Flags and experiments share one store and one code path (a collection
//! parameter in `store`). State lives in memory and, with
//! [`EmulatorConfig::state_file`], is written out as pretty JSON after every
//! successful write and read back at start (older files, without projects,
//! put everything in the default project; restart with the same projects).
//!
//! # Rehearsing failures
//!
//! [`EmulatorConfig::faults`] (or [`EmulatorHandle::set_faults`] on a running
//! emulator) makes it an unreliable API on purpose; `ampx emulator` takes the
//! same settings as flags:
//!
//! - `--latency-ms N`: every `/api/1` request waits N ms before its answer.
//! - `--error-rate P` (0 to 1): that fraction of requests gets a 500, 502 or
//!   503, with a JSON or a plain-text body, and changes nothing.
//! - `--lost-answer-rate P` (0 to 1): that fraction of writes (POST, PATCH,
//!   DELETE) is carried out and saved, and then answered with a gateway's 502
//!   or 504, as when a connection drops after the server acted. A write that
//!   fails anyway answers its real error.
//! - `--rate-limit-rps R`: a token bucket of R requests refilled at R a
//!   second; a request that finds it empty gets a 429, some with
//!   `Retry-After` (whole seconds), some without, and changes nothing.
//! - `--fault-seed S` (default 1): seeds every random choice, so the same
//!   requests in the same order meet the same faults (the rate limit alone
//!   depends on the clock).
//!
//! Faults apply only after authentication (a wrong key still gets its 401),
//! in the order above: latency, rate limit, error, the request, lost answer.
//! Each injected fault is noted in the request's [`RequestRecord::fault`].

mod faults;
pub mod limits;
mod routes;
mod store;
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Faults, DEFAULT_FAULT_SEED};

use faults::{FaultState, Verdict};
use store::{Collection, GroupKind, Setup, Store};
use support::ApiError;

/// The request log keeps at most this many records; past it the oldest go.
const MAX_LOGGED_REQUESTS: usize = 100_000;

/// How the emulator is set up.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Requests whose `Authorization` is not exactly `Bearer <api_key>` get a 401.
    pub api_key: String,
    /// The default project, e.g. `"100001"`: objects seeded without a
    /// `projectId` belong to it.
    pub project_id: String,
    /// The other projects the API key sees (none by default). Each starts
    /// with the same three deployments as the default one.
    pub other_projects: Vec<String>,
    /// Serve the emulator's older, kinder answers instead of the docs'
    /// shapes (see the crate documentation). Off by default: a temporary
    /// switch for the CLI's tests and demos while the client catches up.
    pub lenient: bool,
    /// Most items a list page holds; a client's `limit` is capped by it too.
    pub page_size: usize,
    /// Loaded at start if it exists; the whole state is written to it as
    /// pretty JSON after every successful write.
    pub state_file: Option<PathBuf>,
    /// Faults to inject into `/api/1` requests; none by default.
    pub faults: Faults,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            api_key: "emulator-key".to_owned(),
            project_id: "100001".to_owned(),
            other_projects: Vec::new(),
            lenient: false,
            page_size: 1000,
            state_file: None,
            faults: Faults::default(),
        }
    }
}

/// One request as the emulator received it.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string, `""` when there is none.
    pub query: String,
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub body: Option<serde_json::Value>,
    /// The fault injected into this request, if any: `"rate-limited"`,
    /// `"error 500"` (or 502, 503) or `"lost answer 502"` (or 504). Latency
    /// is not noted here.
    pub fault: Option<String>,
}

/// Where a request sits in the log, so the fault layer can note its fault
/// there; put in the request's extensions by the recording middleware.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogSeq(u64);

/// What the routes share: the store, the request log and the settings.
pub(crate) struct Shared {
    api_key: String,
    lenient: bool,
    page_size: usize,
    state_file: Option<PathBuf>,
    store: Mutex<Store>,
    log: Mutex<Log>,
    faults: Mutex<FaultState>,
}

/// The request log: records in arrival order, each with a sequence number.
#[derive(Default)]
struct Log {
    next: u64,
    records: Vec<(u64, RequestRecord)>,
}

/// Locks a mutex; a panic elsewhere while it was held leaves data that is
/// still consistent (every write validates before changing), so go on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(config: EmulatorConfig) -> anyhow::Result<Self> {
        config.faults.validate().map_err(anyhow::Error::msg)?;
        let setup = Setup {
            project_id: config.project_id,
            other_projects: config.other_projects,
            lenient: config.lenient,
        };
        let mut seen = std::collections::HashSet::new();
        for project in std::iter::once(&setup.project_id).chain(&setup.other_projects) {
            anyhow::ensure!(
                !project.is_empty(),
                "an emulator project id must not be empty"
            );
            anyhow::ensure!(
                seen.insert(project),
                "the emulator's projects name {project:?} twice"
            );
        }
        let existing = match &config.state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading emulator state {}", path.display()))?;
                let store = Store::from_json(&text, &setup)
                    .with_context(|| format!("parsing emulator state {}", path.display()))?;
                Some(store)
            }
            _ => None,
        };
        let fresh = existing.is_none();
        let store = existing.unwrap_or_else(|| Store::seeded(&setup));
        if let (true, Some(path)) = (fresh, &config.state_file) {
            // Written at once so that the deployments' SDK keys stay the same
            // across restarts.
            save(path, &store)?;
        }
        Ok(Self {
            api_key: config.api_key,
            lenient: setup.lenient,
            page_size: config.page_size,
            state_file: config.state_file,
            store: Mutex::new(store),
            log: Mutex::new(Log::default()),
            faults: Mutex::new(FaultState::new(config.faults)),
        })
    }

    fn record(&self, record: RequestRecord) -> LogSeq {
        let mut log = lock(&self.log);
        if log.records.len() >= MAX_LOGGED_REQUESTS {
            log.records.drain(..MAX_LOGGED_REQUESTS / 10);
        }
        let seq = log.next;
        log.next += 1;
        log.records.push((seq, record));
        LogSeq(seq)
    }

    /// Notes an injected fault on a logged request (unless the log has
    /// dropped it since).
    fn note_fault(&self, seq: Option<LogSeq>, fault: String) {
        tracing::debug!(fault, "emulator: injected a fault");
        let Some(LogSeq(seq)) = seq else { return };
        let mut log = lock(&self.log);
        if let Ok(i) = log.records.binary_search_by_key(&seq, |(s, _)| *s) {
            log.records[i].1.fault = Some(fault);
        }
    }

    fn fault_latency(&self) -> Option<Duration> {
        lock(&self.faults).latency()
    }

    fn judge(&self, is_write: bool) -> Verdict {
        lock(&self.faults).judge(is_write, Instant::now())
    }

    fn read<T>(&self, f: impl FnOnce(&Store) -> Result<T, ApiError>) -> Result<T, ApiError> {
        f(&lock(&self.store))
    }

    /// Runs a change and, when it succeeds, saves the state file. The lock is
    /// held while saving so that the file never goes back in time.
    fn write<T>(&self, f: impl FnOnce(&mut Store) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut store = lock(&self.store);
        let out = f(&mut store)?;
        if let Some(path) = &self.state_file {
            save(path, &store).map_err(|e| {
                tracing::error!("emulator: {e:#}");
                ApiError::internal(format!("could not save the emulator state: {e:#}"))
            })?;
        }
        Ok(out)
    }
}

/// Writes the state through a temporary file, so a crash never leaves half a file.
fn save(path: &Path, store: &Store) -> anyhow::Result<()> {
    let text = store.to_json().context("serializing emulator state")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, text + "\n")
        .with_context(|| format!("writing emulator state {}", temp.display()))?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("writing emulator state {}", path.display()))
}

/// A running emulator. Dropping it stops the server too, without waiting.
pub struct EmulatorHandle {
    /// Where it listens, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// Every request received, in order (at most the latest 100,000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log)
            .records
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).records.clear();
    }

    /// How many requests had this method (any case) and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.shared.log)
            .records
            .iter()
            .filter(|(_, r)| {
                r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix)
            })
            .count()
    }

    /// How many logged requests had a fault injected (see
    /// [`RequestRecord::fault`]); [`clear_requests`](Self::clear_requests)
    /// resets it.
    pub fn faults_injected(&self) -> usize {
        lock(&self.shared.log)
            .records
            .iter()
            .filter(|(_, r)| r.fault.is_some())
            .count()
    }

    /// Replaces the faults from the next request on, and starts the
    /// generator again from `faults.seed` with a full rate-limit bucket.
    /// `Faults::default()` switches them all off. Requests already past
    /// their latency keep the faults they were given.
    ///
    /// # Panics
    ///
    /// When [`Faults::validate`] refuses them: a rate outside 0 to 1 or not
    /// a number, or a rate limit that is not above 0.
    pub fn set_faults(&self, faults: Faults) {
        if let Err(e) = faults.validate() {
            panic!("EmulatorHandle::set_faults: {e}");
        }
        *lock(&self.shared.faults) = FaultState::new(faults);
    }

    /// The stored flag with this key, archived or not (the default
    /// project's when several projects hold the key): the lenient detail
    /// shape whatever the mode (with `tags`, `archived`, `deleted`), but with
    /// `variants` in full (key, name, description, payload, rolloutWeight),
    /// `inclusions` as `{"variantKey": [ids]}` and `cohorts` as
    /// `{"variantKey": [cohort ids]}`.
    pub fn flag_json(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.shared.store).full_json(Collection::Flags, key)
    }

    /// Like [`flag_json`](Self::flag_json), for an experiment.
    pub fn experiment_json(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.shared.store).full_json(Collection::Experiments, key)
    }

    /// Inserts a flag as if created through the API, and returns its id.
    /// Takes the create body plus `enabled`, `rolloutPercentage`, `tags`,
    /// `archived`, `bucketingSalt`, `bucketingUnit` (any flag PATCH field),
    /// per-variant `rolloutWeight`, `inclusions` and `cohorts` (cohort ids),
    /// `parentDependencies` (`{"flags": {"<id>": ["on"]}, "operator":
    /// "all"}`, shown as given, with any a group adds) and deployment labels
    /// (of the flag's project) as well as ids. `projectId` may be left out
    /// (the default project); when given it must be one of the emulator's.
    pub fn seed_flag(&self, flag: serde_json::Value) -> anyhow::Result<String> {
        self.seed(Collection::Flags, &flag)
    }

    /// Like [`seed_flag`](Self::seed_flag), for an experiment. Also takes the
    /// experiment PATCH fields (`experimentType`, `stickyBucketing`,
    /// `startDate`, `endDate` (a bare date is fine here), `exposureEvent`) and
    /// what no request sets: `state`, `decision`, `decisionReason`,
    /// `rolledOutVariant` and `type` (`"feature"`, the default, or `"web"`:
    /// a web experiment answers every write with a 405). `enabled: true`
    /// moves the state from `planning` to `running` unless `state` is given.
    pub fn seed_experiment(&self, experiment: serde_json::Value) -> anyhow::Result<String> {
        self.seed(Collection::Experiments, &experiment)
    }

    fn seed(&self, collection: Collection, body: &serde_json::Value) -> anyhow::Result<String> {
        let id = self.shared.write(|s| s.create(collection, body, true))?;
        Ok(id.to_string())
    }

    /// Inserts a mutual exclusion group as if created through the API, and
    /// returns its id. Takes the create body (`projectId` and `name` may be
    /// left out; the project then is the default one, the name the key) plus
    /// `archived`, `bucketingSalt` and per-slot `cohorts`; slot `experiments`
    /// and `holdouts` may name experiments and holdout groups (of the
    /// group's project) by id or by key.
    pub fn seed_mutex(&self, group: serde_json::Value) -> anyhow::Result<String> {
        self.seed_group(GroupKind::Mutex, &group)
    }

    /// Like [`seed_mutex`](Self::seed_mutex), for a holdout group (with
    /// `holdoutPercentage`, `experiments` by id or key,
    /// `individualInclusion`, `individualExclusion`).
    pub fn seed_holdout(&self, group: serde_json::Value) -> anyhow::Result<String> {
        self.seed_group(GroupKind::Holdout, &group)
    }

    fn seed_group(&self, kind: GroupKind, body: &serde_json::Value) -> anyhow::Result<String> {
        let id = self.shared.write(|s| s.create_group(kind, body, true))?;
        Ok(id.to_string())
    }

    /// The stored mutual exclusion group with this key, archived or not, in
    /// the lenient detail shape whatever the mode (slots numbered from 1,
    /// `deleted` when archived).
    pub fn mutex_json(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.shared.store).group_json(GroupKind::Mutex, key)
    }

    /// Like [`mutex_json`](Self::mutex_json), for a holdout group.
    pub fn holdout_json(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.shared.store).group_json(GroupKind::Holdout, key)
    }

    /// The id of the deployment with this label: a live one of the default
    /// project first, then a live one of any project, then an archived one.
    pub fn deployment_id(&self, label: &str) -> Option<String> {
        lock(&self.shared.store)
            .deployment_id(label)
            .map(|id| id.to_string())
    }

    /// Stops the server and waits (briefly) for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the server already ended.
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free port), serves in a tokio task and
/// returns at once.
pub async fn start(config: EmulatorConfig, addr: SocketAddr) -> anyhow::Result<EmulatorHandle> {
    let shared = Arc::new(Shared::new(config)?);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the emulator to {addr}"))?;
    let local = listener.local_addr()?;
    let app = routes::router(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender stops the server as well.
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!("emulator server failed: {e}");
        }
    });
    Ok(EmulatorHandle {
        base_url: format!("http://{local}"),
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

/// `ampx emulator`: serves on `127.0.0.1:port` until Ctrl-C.
pub async fn serve_forever(config: EmulatorConfig, port: u16) -> anyhow::Result<()> {
    // Only the well-known default key is shown: a key chosen with --api-key
    // may be a real one, and keys are never printed.
    let shown_key = if config.api_key == EmulatorConfig::default().api_key {
        config.api_key.clone()
    } else {
        "<the key given with --api-key>".to_string()
    };
    // What the first line says about the setup: projects, then the shapes.
    let mut about = format!("project {}", config.project_id);
    if !config.other_projects.is_empty() {
        about = format!(
            "projects {}, {}",
            config.project_id,
            config.other_projects.join(", ")
        );
    }
    if config.lenient {
        about.push_str("; lenient answers");
    }
    let faults = config.faults.any().then(|| config.faults.to_string());
    let shared = Arc::new(Shared::new(config)?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("binding the emulator to 127.0.0.1:{port}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    match faults {
        Some(faults) => {
            println!("ampx emulator listening on {url} ({about}; faults: {faults})")
        }
        None => println!("ampx emulator listening on {url} ({about})"),
    }
    println!("point ampx at it with: AMPX_SERVER={url} AMPLITUDE_MANAGEMENT_API_KEY={shown_key}");
    axum::serve(listener, routes::router(shared))
        .with_graceful_shutdown(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!("emulator: cannot listen for Ctrl-C: {e}");
                std::future::pending::<()>().await;
            }
        })
        .await
        .context("serving the emulator")
}
