//! Reads exactly the live state the manifests need, with as few requests as
//! the API allows (it grants 100 a second and 100,000 a day per project):
//!
//! - one list call per 1,000 flags, and per 1,000 experiments when the
//!   manifests hold any (archived ones included, so that a key held by an
//!   archived object is unarchived rather than re-created);
//! - one deployment list, only when some manifest names deployments;
//! - `GET …/variants` only for flags whose manifests manage a variant's name,
//!   description or payload (weights come with the flag list);
//! - `GET …/users` only for variants whose manifests manage inclusions, and
//!   `GET …/cohorts` only for those that manage cohorts;
//! - one mutex group list when the manifests hold a mutex group, one holdout
//!   group list when they hold or name a holdout group (and then the
//!   experiment list too, to turn experiment keys into ids).
//!
//! The detail calls run concurrently, bounded by the client's parallelism.
//! This is the one reader of the live state: plan and drift read through
//! [`fetch`], export reads every list ([`Lists::ALL`]) and every detail
//! through the same [`read_lists`] and [`read_details`], and drift's
//! [`attribution`] reads the version history beside them.

pub mod attribution;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::api::live::{Live, LiveDeployment, LiveFlag, LiveHoldout, LiveMutex, LiveVariant};
use crate::api::{ApiError, Call, Client};
use crate::kind::Kind;
use crate::manifest::{FlagSpec, Located, ManifestSet, ObjectKind, ProjectSpec};
use crate::plan::ApiPath;

/// The live variants a flag manifest removes: those neither it nor a
/// `renamedFrom` names.
pub fn removed_variants(spec: &FlagSpec, live: &LiveFlag) -> Vec<String> {
    let Some(vs) = &spec.variants else {
        return Vec::new();
    };
    let kept: std::collections::HashSet<&str> = vs
        .iter()
        .flat_map(|v| std::iter::once(&v.key).chain(&v.renamed_from))
        .map(String::as_str)
        .collect();
    live.variants
        .iter()
        .filter(|v| !kept.contains(v.key.as_str()))
        .map(|v| v.key.clone())
        .collect()
}

/// Whether a flag manifest needs `GET …/variants`.
pub fn needs_variant_details(spec: &FlagSpec) -> bool {
    spec.variants.as_ref().is_some_and(|vs| {
        vs.iter()
            .any(|v| v.name.is_some() || v.description.is_some() || v.payload.is_some())
    })
}

/// The live variants whose inclusions (or, with `cohorts`, cohorts) the
/// manifest variants manage: each variant itself, or the variant it is
/// renamed from.
pub fn inclusion_sources(spec: &FlagSpec, live: &LiveFlag, cohorts: bool) -> Vec<String> {
    let mut out = Vec::new();
    for v in spec.variants.iter().flatten() {
        let managed = if cohorts {
            v.cohorts.is_some()
        } else {
            v.inclusions.is_some()
        };
        if !managed {
            continue;
        }
        if live.has_variant(&v.key) {
            out.push(v.key.clone());
        } else if let Some(from) = v.renamed_from.as_ref().filter(|f| live.has_variant(f)) {
            out.push(from.clone());
        }
    }
    out
}

fn malformed(path: &str, what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError {
        method: "GET".into(),
        path: path.into(),
        what: what.into(),
        status: Some(200),
        message: format!("unexpected answer shape: {e}"),
    }
}

/// Which objects of a kind a read must know: every one (export), or those
/// with these keys (a plan: its manifests' keys and the keys its groups
/// name) plus every active one (prune and ownership read those).
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    Keys(std::collections::BTreeSet<String>),
}

/// The objects of one kind read so far, by key; refuses a list that names
/// a key or an id twice (which of the two a call would change cannot be
/// known).
struct Listing {
    noun: &'static str,
    objects: BTreeMap<String, LiveFlag>,
    ids: std::collections::HashMap<String, String>,
}

impl Listing {
    /// Files the items of one page of one list. Objects an earlier list
    /// already gave are kept as they are; `archived` is what this list
    /// says of an object that does not say so itself.
    fn add(
        &mut self,
        items: Vec<LiveFlag>,
        archived: Option<bool>,
        seen_here: &mut std::collections::HashSet<String>,
        (path, what): (&str, &str),
    ) -> Result<(), ApiError> {
        let noun = self.noun;
        for mut flag in items {
            if !seen_here.insert(flag.id.clone()) {
                let key = self.ids.get(&flag.id).cloned().unwrap_or_default();
                return Err(malformed(
                    path,
                    what,
                    format!(
                        "it lists id {} twice (keys `{key}` and `{}`); nothing was changed",
                        flag.id, flag.key
                    ),
                ));
            }
            match self.objects.get(&flag.key) {
                Some(other) if other.id == flag.id => continue,
                Some(other) => {
                    return Err(malformed(
                        path,
                        what,
                        format!(
                            "it lists {noun} key `{}` twice (ids {} and {}); nothing was changed",
                            flag.key, other.id, flag.id
                        ),
                    ))
                }
                None => {}
            }
            if let Some(other) = self.ids.get(&flag.id) {
                return Err(malformed(
                    path,
                    what,
                    format!(
                        "it lists id {} twice (keys `{other}` and `{}`); nothing was changed",
                        flag.id, flag.key
                    ),
                ));
            }
            if !flag.archive_known() {
                flag.archived = archived;
            }
            self.ids.insert(flag.id.clone(), flag.key.clone());
            self.objects.insert(flag.key.clone(), flag);
        }
        Ok(())
    }
}

/// Lists the flags (or experiments) of the project that `scope` asks for,
/// each with its archived state. The documented list entries show neither
/// `archived` nor `deleted`, and a list leaves archived objects out unless
/// asked with `includeArchived=true`: what the list without them leaves
/// out is archived. A plan reads that list, and then looks up only the keys
/// of its manifests that it did not find there (by key, or with the full
/// list when that takes fewer requests).
async fn list_objects(
    client: &Client,
    kind: ObjectKind,
    scope: &Scope,
) -> Result<BTreeMap<String, LiveFlag>, ApiError> {
    let coll = kind.collection();
    let path = format!("/api/1/{coll}");
    let what = format!("the {} list", kind.noun());
    let at = (path.as_str(), what.as_str());
    let mut listing = Listing {
        noun: kind.noun(),
        objects: BTreeMap::new(),
        ids: Default::default(),
    };
    // Each page is filed as it arrives: only one page of raw JSON is held.
    let mut pages = 0usize;
    let mut here = Default::default();
    client
        .list_pages_as(&path, coll, &[], &what, |items| {
            pages += 1;
            listing.add(items, Some(false), &mut here, at)
        })
        .await?;
    let missing: Vec<&String> = match scope {
        Scope::All => Vec::new(),
        Scope::Keys(keys) => keys
            .iter()
            .filter(|k| !listing.objects.contains_key(*k))
            .collect(),
    };
    let archived = [("includeArchived", "true")];
    if matches!(scope, Scope::All) || missing.len() >= pages.max(1) {
        let mut here = Default::default();
        client
            .list_pages_as(&path, coll, &archived, &what, |items| {
                listing.add(items, Some(true), &mut here, at)
            })
            .await?;
    } else {
        for key in missing {
            let mut here = Default::default();
            let query = [("key", key.as_str()), archived[0]];
            client
                .list_pages_as(&path, coll, &query, &what, |items: Vec<LiveFlag>| {
                    // The filter is the server's: only the exact key counts.
                    let exact = items.into_iter().filter(|i| &i.key == key).collect();
                    listing.add(exact, Some(true), &mut here, at)
                })
                .await?;
        }
    }
    Ok(listing.objects)
}

/// Lists the project's mutual exclusion groups by key (the list takes only
/// `limit` and `cursor`: archived groups are there where the API shows
/// them).
async fn list_mutexes(client: &Client) -> Result<BTreeMap<String, LiveMutex>, ApiError> {
    let ms: Vec<LiveMutex> = list_groups(client, "mutexes", "mutex group").await?;
    let active = |m: &LiveMutex| !(m.deleted || m.archived);
    let what = "the mutex group list";
    unique("/api/1/mutexes", what, "key", &ms, |m| {
        (&m.id, &m.key, active(m))
    })?;
    Ok(by_key(ms, |m| &m.key, |m| !active(m)))
}

/// Lists the project's holdout groups by key, as [`list_mutexes`] does.
async fn list_holdouts(client: &Client) -> Result<BTreeMap<String, LiveHoldout>, ApiError> {
    let hs: Vec<LiveHoldout> = list_groups(client, "holdouts", "holdout group").await?;
    let active = |h: &LiveHoldout| !(h.deleted || h.archived);
    let what = "the holdout group list";
    unique("/api/1/holdouts", what, "key", &hs, |h| {
        (&h.id, &h.key, active(h))
    })?;
    Ok(by_key(hs, |h| &h.key, |h| !active(h)))
}

/// Refuses a list that names one id twice, or two active objects by one
/// name (`name`: `key` or `label`): which of the two a call should change
/// cannot be known. An archived object may share the name of an active one.
fn unique<'a, T>(
    path: &str,
    what: &str,
    name: &str,
    items: &'a [T],
    fields: impl Fn(&'a T) -> (&'a String, &'a String, bool),
) -> Result<(), ApiError> {
    let mut ids = std::collections::HashMap::new();
    let mut names = std::collections::HashMap::new();
    for item in items {
        let (id, key, active) = fields(item);
        if let Some(other) = ids.insert(id, key) {
            return Err(malformed(
                path,
                what,
                format!(
                    "it lists id {id} twice ({name}s `{other}` and `{key}`); nothing was changed"
                ),
            ));
        }
        if active {
            if let Some(other) = names.insert(key, id) {
                return Err(malformed(
                    path,
                    what,
                    format!(
                        "it lists two active objects with {name} `{key}` (ids {other} and {id}); nothing was changed\n  hint: rename or archive one of them in Amplitude"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Lists one kind of group (`field`: `mutexes` or `holdouts`).
async fn list_groups<T: serde::de::DeserializeOwned>(
    client: &Client,
    field: &str,
    noun: &str,
) -> Result<Vec<T>, ApiError> {
    let path = format!("/api/1/{field}");
    let what = format!("the {noun} list");
    let items = client.list_all(&path, field, &[], &what).await?;
    items
        .into_iter()
        .map(|i| serde_json::from_value(i).map_err(|e| malformed(&path, &what, e)))
        .collect()
}

/// Lists the project's deployments.
async fn list_deployments(client: &Client) -> Result<Vec<LiveDeployment>, ApiError> {
    let items = client
        .list_all(
            "/api/1/deployments",
            "deployments",
            &[],
            "the deployment list",
        )
        .await?;
    let ds: Vec<LiveDeployment> = items
        .into_iter()
        .map(|i| {
            serde_json::from_value(i)
                .map_err(|e| malformed("/api/1/deployments", "the deployment list", e))
        })
        .collect::<Result<_, _>>()?;
    unique(
        "/api/1/deployments",
        "the deployment list",
        "label",
        &ds,
        |d| (&d.id, &d.label, !d.deleted),
    )?;
    Ok(ds)
}

/// One detail read of a live flag or experiment.
#[derive(Clone, Debug)]
pub struct DetailRead {
    pub kind: ObjectKind,
    pub key: String,
    pub id: String,
    pub what: DetailOf,
}

/// What a [`DetailRead`] reads.
#[derive(Clone, Debug)]
pub enum DetailOf {
    /// `GET …/{id}`: the object's detail, for the fields its list entry
    /// lacks (an experiment's `tags` and `deleted`).
    Object,
    /// `GET …/variants`: the variants in full.
    Variants,
    /// `GET …/variants/{variant}/users`.
    Users(String),
    /// `GET …/variants/{variant}/cohorts`.
    Cohorts(String),
}

enum Detail {
    Object(Box<LiveFlag>),
    Variants(Vec<LiveVariant>),
    Users(String, Vec<String>),
    Cohorts(String, Vec<String>),
}

impl DetailRead {
    async fn run(self, client: Arc<Client>) -> Result<(Self, Detail), ApiError> {
        let (kind, id, key) = (self.kind, self.id.as_str(), self.key.as_str());
        let detail = match &self.what {
            DetailOf::Object => {
                let path = ApiPath::object(Kind::from(kind), Some(id)).to_string();
                let what = format!("{} `{key}`", kind.noun());
                let text = client.get_text(&Call::get(&path, &what)).await?;
                // Read as a whole: a malformed detail is an error here.
                let shown: LiveFlag =
                    serde_json::from_str(text.trim()).map_err(|e| malformed(&path, &what, e))?;
                if shown.id != id {
                    return Err(malformed(
                        &path,
                        &what,
                        format!("it answers for id {} instead", shown.id),
                    ));
                }
                Detail::Object(Box::new(shown))
            }
            DetailOf::Variants => Detail::Variants(get_variants(&client, kind, id, key).await?),
            DetailOf::Users(v) => {
                Detail::Users(v.clone(), get_inclusions(&client, kind, id, key, v).await?)
            }
            DetailOf::Cohorts(v) => {
                Detail::Cohorts(v.clone(), get_cohorts(&client, kind, id, key, v).await?)
            }
        };
        Ok((self, detail))
    }
}

/// Makes the detail reads, at most the client's parallelism at a time, and
/// files each answer in `live`. Returns the variants each `Variants` read
/// found, in live order. A read is started only when one ends, so that the
/// reads of 50,000 flags never wait as 50,000 tasks at once.
pub async fn read_details(
    client: &Arc<Client>,
    reads: Vec<DetailRead>,
    live: &mut Live,
) -> Result<BTreeMap<(ObjectKind, String), Vec<LiveVariant>>, ApiError> {
    let parallelism = client.options.parallelism.max(1);
    let progress = crate::progress::bar(reads.len(), "Reading the live state");
    let mut ordered = BTreeMap::new();
    let mut pending = reads.into_iter();
    let mut tasks = JoinSet::new();
    // What each running task reads, to name the call if the task fails.
    let mut running = std::collections::HashMap::new();
    loop {
        while tasks.len() < parallelism {
            let Some(read) = pending.next() else { break };
            let handle = tasks.spawn(read.clone().run(client.clone()));
            running.insert(handle.id(), read);
        }
        let Some(done) = tasks.join_next_with_id().await else {
            break;
        };
        progress.inc(1);
        let (read, detail) = match done {
            Ok((id, answer)) => {
                running.remove(&id);
                answer?
            }
            Err(e) => return Err(task_failed(running.get(&e.id()), e)),
        };
        let Some(f) = live.objects_mut(read.kind).get_mut(&read.key) else {
            continue;
        };
        match detail {
            Detail::Object(shown) => fill_from_detail(f, *shown),
            Detail::Variants(vs) => {
                f.variant_details = Some(vs.iter().map(|v| (v.key.clone(), v.clone())).collect());
                ordered.insert((read.kind, read.key), vs);
            }
            Detail::Users(variant, users) => {
                f.inclusions.insert(variant, users);
            }
            Detail::Cohorts(variant, cohorts) => {
                f.cohorts.insert(variant, cohorts);
            }
        }
    }
    Ok(ordered)
}

/// Takes from an object's detail the fields its list entry did not show.
fn fill_from_detail(f: &mut LiveFlag, shown: LiveFlag) {
    if f.tags.is_none() {
        f.tags = shown.tags;
    }
    if f.deleted.is_none() {
        f.deleted = shown.deleted;
    }
    if f.archived.is_none() {
        f.archived = shown.archived;
    }
    if f.exposure_event.is_none() {
        f.exposure_event = shown.exposure_event;
    }
}

/// Which lists a read of the live state makes.
#[derive(Debug, Clone)]
pub struct Lists {
    pub flags: Option<Scope>,
    pub experiments: Option<Scope>,
    pub deployments: bool,
    pub mutexes: bool,
    pub holdouts: bool,
}

impl Lists {
    /// Every list, every object: what export reads.
    pub const ALL: Lists = Lists {
        flags: Some(Scope::All),
        experiments: Some(Scope::All),
        deployments: true,
        mutexes: true,
        holdouts: true,
    };

    /// The lists a plan over `set` needs, and no other.
    pub fn for_manifests(set: &ManifestSet) -> Lists {
        // Prune archives live objects that no manifest names: it needs both lists.
        let prune = set.project.spec.prune == Some(true);
        // Groups name experiments by key: their ids come from the experiment list.
        let groups = !set.mutexes.is_empty() || !set.holdouts.is_empty();
        let keys = |k: ObjectKind| -> std::collections::BTreeSet<String> {
            set.flags
                .iter()
                .filter(|f| f.spec.kind == k)
                .map(|f| f.spec.key.clone())
                .collect()
        };
        let (flags, mut experiments) = (keys(ObjectKind::Flag), keys(ObjectKind::Experiment));
        experiments.extend(set.group_experiments().cloned());
        let scope = |wanted: bool, keys| wanted.then_some(Scope::Keys(keys));
        Lists {
            flags: scope(prune || !flags.is_empty(), flags),
            experiments: scope(prune || groups || !experiments.is_empty(), experiments),
            deployments: !set.deployments.is_empty()
                || set.flags.iter().any(|f| f.spec.deployments.is_some()),
            mutexes: !set.mutexes.is_empty(),
            holdouts: !set.holdouts.is_empty()
                || set
                    .mutexes
                    .iter()
                    .any(|m| m.spec.slots.iter().flatten().any(|s| s.holdouts.is_some())),
        }
    }
}

/// Reads the lists `want` names, concurrently; a list not read is empty
/// (flags, experiments) or `None` (the others).
pub async fn read_lists(client: &Client, want: Lists) -> Result<Live, ApiError> {
    let objects = |scope: Option<Scope>, k: ObjectKind| async move {
        match scope {
            Some(scope) => list_objects(client, k, &scope).await,
            None => Ok(BTreeMap::new()),
        }
    };
    let (flags, experiments, deployments, mutexes, holdouts) = tokio::join!(
        objects(want.flags, ObjectKind::Flag),
        objects(want.experiments, ObjectKind::Experiment),
        async {
            if !want.deployments {
                return Ok(None);
            }
            list_deployments(client).await.map(Some)
        },
        async {
            if !want.mutexes {
                return Ok(None);
            }
            list_mutexes(client).await.map(Some)
        },
        async {
            if !want.holdouts {
                return Ok(None);
            }
            list_holdouts(client).await.map(Some)
        }
    );
    Ok(Live {
        flags: flags?,
        experiments: experiments?,
        deployments: deployments?,
        mutexes: mutexes?,
        holdouts: holdouts?,
    })
}

/// Reads the live state for a manifest set.
pub async fn fetch(client: &Arc<Client>, set: &ManifestSet) -> anyhow::Result<Live> {
    let mut live = match read_lists(client, Lists::for_manifests(set)).await {
        Ok(live) => live,
        // A list scoped to a project the key does not see may answer 403:
        // say which projects it does see.
        Err(e) if e.status == Some(403) => {
            check_project(client, &set.project).await?;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    check_project(client, &set.project).await?;
    let typed: Vec<&str> = set
        .deployments
        .iter()
        .filter(|d| d.spec.kind.is_some())
        .flat_map(|d| std::iter::once(&d.spec.label).chain(&d.spec.renamed_from))
        .map(String::as_str)
        .collect();
    read_deployment_types(client, &mut live, &typed).await?;
    let mut reads = object_reads(set, &live);
    for f in &set.flags {
        let kind = f.spec.kind;
        let Some(lf) = live.objects(kind).get(&f.spec.key) else {
            continue;
        };
        if f.spec.archived == Some(true) {
            continue;
        }
        let read = |what| DetailRead {
            kind,
            key: f.spec.key.clone(),
            id: lf.id.clone(),
            what,
        };
        // A live variant the manifest removes: what it holds is read, so
        // that the plan can say what goes with it.
        let removed = removed_variants(&f.spec, lf);
        if needs_variant_details(&f.spec) || !removed.is_empty() {
            reads.push(read(DetailOf::Variants));
        }
        let users = inclusion_sources(&f.spec, lf, false);
        let cohorts = inclusion_sources(&f.spec, lf, true);
        for variant in &removed {
            if !users.contains(variant) {
                reads.push(read(DetailOf::Users(variant.clone())));
            }
            if !cohorts.contains(variant) {
                reads.push(read(DetailOf::Cohorts(variant.clone())));
            }
        }
        for variant in users {
            reads.push(read(DetailOf::Users(variant)));
        }
        for variant in cohorts {
            reads.push(read(DetailOf::Cohorts(variant)));
        }
    }
    read_details(client, reads, &mut live).await?;
    Ok(live)
}

/// Reads the `type` of the live deployments with these labels from their
/// detail (`GET /api/1/deployments/{id}`), where the list does not show it
/// (the documented list does not). A server without that call leaves the
/// type unknown; the plan says so.
pub async fn read_deployment_types(
    client: &Client,
    live: &mut Live,
    labels: &[&str],
) -> Result<(), ApiError> {
    let Some(deployments) = live.deployments.as_mut() else {
        return Ok(());
    };
    for d in deployments
        .iter_mut()
        .filter(|d| d.kind.is_none() && !d.deleted && labels.contains(&d.label.as_str()))
    {
        let path = ApiPath::object(Kind::Deployment, Some(&d.id)).to_string();
        let what = format!("deployment `{}`", d.label);
        match client.get_json(&Call::get(&path, &what)).await {
            Ok(v) => {
                d.kind = v.get("type").and_then(|t| t.as_str()).map(str::to_string);
            }
            Err(e) if matches!(e.status, Some(404 | 405)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Refuses a key that does not see the manifests' project: its plan would
/// create every object in whatever project the key does see, or fail on
/// every write. The lists read so far say which projects the key sees; when
/// they name none (a project without flags), the deployment list, which
/// every project has and which is not filtered by project, is read too.
/// The refusal names the Project document's `id` and the key's variable.
pub async fn check_project(client: &Client, located: &Located<ProjectSpec>) -> anyhow::Result<()> {
    let project = &located.spec.id;
    if client.projects_seen().contains(project) {
        return Ok(());
    }
    client
        .list_all(
            "/api/1/deployments",
            "deployments",
            &[],
            "the deployment list (which projects the key sees)",
        )
        .await?;
    let seen = client.projects_seen();
    if seen.contains(project) {
        return Ok(());
    }
    let var = located
        .spec
        .api_key_env
        .as_deref()
        .unwrap_or(crate::api::KEY_ENV);
    let id_at = located.at("id");
    let message = if seen.is_empty() {
        format!(
            "the API key sees no project: no flag, experiment or deployment it can read names project {project}; nothing was changed\n  hint: check that the key in {var} belongs to project {project} (the Project's `id` at {id_at})"
        )
    } else {
        let list: Vec<&str> = seen.iter().map(String::as_str).collect();
        format!(
            "the API key sees project(s) {}, not project {project} that the manifests name; nothing was changed\n  hint: put the Management API key of project {project} in {var}, or correct the Project's `id` at {id_at}",
            list.join(", ")
        )
    };
    Err(anyhow::anyhow!(message))
}

/// The detail reads of objects whose list entries lack what the plan needs:
/// the tags of experiments whose manifests manage tags (or that an owner tag
/// marks, or that prune with an owner tag considers). Only the experiment
/// detail shows tags; a flag's tags are shown nowhere and stay unknown.
fn object_reads(set: &ManifestSet, live: &Live) -> Vec<DetailRead> {
    let owner = set.project.spec.owner_tag.is_some();
    let prune = set.project.spec.prune == Some(true);
    let managed: std::collections::HashSet<&str> = set
        .flags
        .iter()
        .filter(|f| f.spec.kind == ObjectKind::Experiment)
        .map(|f| f.spec.key.as_str())
        .collect();
    let wants_tags = |key: &str| {
        set.flags.iter().any(|f| {
            f.spec.kind == ObjectKind::Experiment
                && f.spec.key == key
                && f.spec.archived != Some(true)
                && (f.spec.tags.is_some() || owner)
        })
    };
    live.experiments
        .values()
        .filter(|e| e.tags.is_none() && !e.is_archived())
        .filter(|e| wants_tags(&e.key) || (prune && owner && !managed.contains(e.key.as_str())))
        .map(|e| DetailRead {
            kind: ObjectKind::Experiment,
            key: e.key.clone(),
            id: e.id.clone(),
            what: DetailOf::Object,
        })
        .collect()
}

/// `/api/1/<collection>/<id>/variants`, or with `(variant, list)` that
/// variant's `users` or `cohorts`: the paths of the detail reads.
fn variants_path(kind: ObjectKind, id: &str, list: Option<(&str, &str)>) -> String {
    let path = ApiPath::object(Kind::from(kind), Some(id)).join("variants");
    match list {
        Some((variant, list)) => path.join(variant).join(list),
        None => path,
    }
    .to_string()
}

/// `GET …/{id}/variants`: the object's variants in full, in live order.
pub async fn get_variants(
    client: &Client,
    kind: ObjectKind,
    id: &str,
    key: &str,
) -> Result<Vec<LiveVariant>, ApiError> {
    let path = variants_path(kind, id, None);
    let what = format!("{} `{key}`", kind.noun());
    let text = client.get_text(&Call::get(&path, &what)).await?;
    serde_json::from_str(text.trim()).map_err(|e| malformed(&path, &what, e))
}

/// Groups by key; where two share a key, the active one wins.
fn by_key<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &String,
    archived: impl Fn(&T) -> bool,
) -> BTreeMap<String, T> {
    let mut out: BTreeMap<String, T> = BTreeMap::new();
    for item in items {
        let keep_old = out.get(key(&item)).is_some_and(|old| !archived(old));
        if !keep_old {
            out.insert(key(&item).clone(), item);
        }
    }
    out
}

/// `GET …/{id}/variants/{variant}/users`: the variant's inclusions.
pub async fn get_inclusions(
    client: &Client,
    kind: ObjectKind,
    id: &str,
    key: &str,
    variant: &str,
) -> Result<Vec<String>, ApiError> {
    get_id_list(client, kind, id, key, variant, "users").await
}

/// `GET …/{id}/variants/{variant}/cohorts`: the variant's cohort ids.
pub async fn get_cohorts(
    client: &Client,
    kind: ObjectKind,
    id: &str,
    key: &str,
    variant: &str,
) -> Result<Vec<String>, ApiError> {
    get_id_list(client, kind, id, key, variant, "cohorts").await
}

async fn get_id_list(
    client: &Client,
    kind: ObjectKind,
    id: &str,
    key: &str,
    variant: &str,
    list: &str,
) -> Result<Vec<String>, ApiError> {
    let path = variants_path(kind, id, Some((variant, list)));
    let what = format!("{} `{key}` variant `{variant}`", kind.noun());
    let text = client.get_text(&Call::get(&path, &what)).await?;
    let users: Vec<serde_json::Value> =
        serde_json::from_str(text.trim()).map_err(|e| malformed(&path, &what, e))?;
    users
        .iter()
        .map(|u| list_id(u).ok_or_else(|| malformed(&path, &what, format!("an id is {u}"))))
        .collect()
}

/// One id of an inclusion or cohort list. The docs' text calls the list
/// "an array of JSON objects" while their example shows bare ids: a string,
/// a number (read as its digits), or an object that holds one id (`id`,
/// `user_id`, `device_id`, `cohort_id`, `value`, or its only field).
fn list_id(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Object(m) => [
            "id",
            "user_id",
            "userId",
            "device_id",
            "deviceId",
            "cohort_id",
            "cohortId",
            "value",
        ]
        .iter()
        .find_map(|k| m.get(*k).and_then(scalar))
        .or_else(|| match m.len() {
            1 => m.values().next().and_then(scalar),
            _ => None,
        }),
        other => scalar(other),
    }
}

/// A detail read whose task panicked or was cancelled, named by its call.
fn task_failed(read: Option<&DetailRead>, e: tokio::task::JoinError) -> ApiError {
    let (path, what) = match read {
        Some(r) => {
            let list = match &r.what {
                DetailOf::Object | DetailOf::Variants => None,
                DetailOf::Users(v) => Some((v.as_str(), "users")),
                DetailOf::Cohorts(v) => Some((v.as_str(), "cohorts")),
            };
            let path = variants_path(r.kind, &r.id, list);
            (path, format!("{} `{}`", r.kind.noun(), r.key))
        }
        None => (String::new(), "a detail read".into()),
    };
    ApiError {
        method: "GET".into(),
        path,
        what,
        status: None,
        message: format!("the read stopped unexpectedly: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::list_id;
    use serde_json::json;

    #[test]
    fn inclusions_are_read_as_bare_ids_or_objects_holding_one() {
        for (v, want) in [
            (json!("alice@example.com"), Some("alice@example.com")),
            (json!(12345), Some("12345")),
            (json!({"id": "u1"}), Some("u1")),
            (json!({"user_id": "u2", "name": "Ann"}), Some("u2")),
            (json!({"device_id": 7}), Some("7")),
            (json!({"whatever": "u3"}), Some("u3")),
            (json!({"a": 1, "b": 2}), None),
            (json!([1]), None),
            (json!(null), None),
        ] {
            assert_eq!(list_id(&v).as_deref(), want, "{v}");
        }
    }
}
