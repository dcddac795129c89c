//! Export's read of the live project: every list and every detail of the
//! exported objects, through the one live reader (`crate::fetch`).

use super::*;

/// What export read from the API.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub project_id: String,
    /// Every listed object, with variants and inclusions filled in for the
    /// exported ones.
    pub live: Live,
    /// The objects to export, flags then experiments, each by key.
    pub selected: Vec<(ObjectKind, String)>,
    /// The deployments to export, one per label, in list order.
    pub deployments: Vec<LiveDeployment>,
    /// The mutual exclusion groups to export, by key.
    pub mutexes: Vec<String>,
    /// The holdout groups to export, by key.
    pub holdouts: Vec<String>,
    /// Variants of the exported objects, in live order.
    pub variants: BTreeMap<(ObjectKind, String), Vec<LiveVariant>>,
    /// Archived objects of every kind, left out.
    pub archived: usize,
    /// The keys given with `--key`, if any.
    pub keys: Vec<String>,
    /// Experiments left out because the API would refuse to edit them.
    pub not_editable: Vec<String>,
}

/// Every key and label `--key` can name, with whether that object is
/// archived (a key may name several objects).
pub(super) fn named(live: &Live) -> Vec<(&str, bool)> {
    let objects = live
        .flags
        .values()
        .chain(live.experiments.values())
        .map(|f| (f.key.as_str(), f.is_archived()));
    let mutexes = live
        .mutexes
        .iter()
        .flat_map(|m| m.values())
        .map(|m| (m.key.as_str(), m.deleted || m.archived));
    let holdouts = live
        .holdouts
        .iter()
        .flat_map(|h| h.values())
        .map(|h| (h.key.as_str(), h.deleted || h.archived));
    let deployments = live
        .deployments
        .iter()
        .flatten()
        .map(|d| (d.label.as_str(), d.deleted));
    objects
        .chain(mutexes)
        .chain(holdouts)
        .chain(deployments)
        .collect()
}

pub(super) fn unknown_keys_error(
    unknown: &[String],
    archived: &[String],
    live: &Live,
) -> anyhow::Error {
    let known: Vec<&str> = named(live)
        .into_iter()
        .filter(|(_, archived)| !archived)
        .map(|(k, _)| k)
        .collect();
    let mut lines = Vec::new();
    for k in unknown {
        let mut line = format!(
            "error: no flag, experiment or group of the project has key `{k}`, and no deployment has it as label"
        );
        if let Some(n) = manifest::nearest(k, &known) {
            line.push_str(&format!(" (did you mean `{n}`?)"));
        }
        lines.push(line);
    }
    for k in archived {
        lines.push(format!(
            "error: `{k}` is archived; export leaves archived objects out"
        ));
    }
    // main prefixes the first line with `error: `.
    let text = lines.join("\n");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    anyhow::anyhow!("{text}\nnothing was written")
}

/// The project id: `--project-id`, else the `projectId` the API shows on
/// the listed objects.
pub fn project_id(client: &Client, given: Option<&str>) -> anyhow::Result<String> {
    let seen = client.projects_seen();
    let list = || seen.iter().cloned().collect::<Vec<_>>().join(", ");
    match (given, seen.len()) {
        (Some(g), _) if seen.contains(g) => Ok(g.to_string()),
        (Some(g), 0) => Ok(g.to_string()),
        (Some(g), _) => anyhow::bail!(
            "--project-id is {g}, but this API key sees project(s) {} only; nothing was written\n  hint: use the Management API key of project {g}",
            list()
        ),
        (None, 1) => Ok(list()),
        (None, 0) => anyhow::bail!(
            "cannot tell the project id: the API listed no flag, experiment, group or deployment that names its project\n  hint: pass --project-id ID (the id shown in the project's settings in Amplitude)"
        ),
        (None, _) => anyhow::bail!(
            "this API key sees several projects ({}): name the one to read; nothing was written\n  hint: pass --project-id with one of them",
            list()
        ),
    }
}

/// Reads what an export of `keys` (all objects when empty) needs. Unknown
/// or archived keys are an error before any per-object call.
///
/// `keys` name flags, experiments, mutex groups and holdout groups by key
/// and deployments by label: with keys, only the objects they name are
/// exported, deployments included.
pub async fn read(
    client: &Arc<Client>,
    keys: &[String],
    given_project_id: Option<&str>,
) -> anyhow::Result<Snapshot> {
    let live = read_lists(client, Lists::ALL).await?;
    read_from(client, live, keys, given_project_id).await
}

/// [`read`] from lists already read (every list, as [`Lists::ALL`] reads
/// them): the details of the objects `keys` name. `ampx show` looks the
/// object up in the lists first, and then reads no more than export does.
pub async fn read_from(
    client: &Arc<Client>,
    mut live: Live,
    keys: &[String],
    given_project_id: Option<&str>,
) -> anyhow::Result<Snapshot> {
    let project_id = project_id(client, given_project_id)?;
    let archived = named(&live).iter().filter(|(_, a)| *a).count();

    let wanted: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let (mut unknown, mut archived_named) = (Vec::new(), Vec::new());
    let all = named(&live);
    for k in &wanted {
        let found: Vec<bool> = all
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, a)| *a)
            .collect();
        if found.is_empty() {
            unknown.push(k.to_string());
        } else if found.iter().all(|a| *a) {
            archived_named.push(k.to_string());
        }
    }
    if !unknown.is_empty() || !archived_named.is_empty() {
        return Err(unknown_keys_error(&unknown, &archived_named, &live));
    }
    let chosen = |k: &str| wanted.is_empty() || wanted.contains(k);
    let mut selected = Vec::new();
    let mut not_editable = Vec::new();
    for kind in [ObjectKind::Flag, ObjectKind::Experiment] {
        for (key, f) in live.objects(kind) {
            if f.is_archived() || !chosen(key) {
                continue;
            }
            if f.is_not_editable() {
                not_editable.push(key.clone());
            } else {
                selected.push((kind, key.clone()));
            }
        }
    }
    // The deployment list shows no type: each exported deployment's detail
    // does.
    let exported: Vec<String> = live
        .deployments
        .iter()
        .flatten()
        .filter(|d| !d.deleted && chosen(&d.label))
        .map(|d| d.label.clone())
        .collect();
    let exported: Vec<&str> = exported.iter().map(String::as_str).collect();
    crate::fetch::read_deployment_types(client, &mut live, &exported).await?;
    // One deployment per label: the active one the plan matches first.
    let mut labels = HashSet::new();
    let selected_deployments: Vec<LiveDeployment> = live
        .deployments
        .iter()
        .flatten()
        .filter(|d| !d.deleted && chosen(&d.label) && labels.insert(d.label.clone()))
        .cloned()
        .collect();
    let selected_mutexes: Vec<String> = live
        .mutexes
        .iter()
        .flat_map(|m| m.values())
        .filter(|m| !(m.deleted || m.archived) && chosen(&m.key))
        .map(|m| m.key.clone())
        .collect();
    let selected_holdouts: Vec<String> = live
        .holdouts
        .iter()
        .flat_map(|h| h.values())
        .filter(|h| !(h.deleted || h.archived) && chosen(&h.key))
        .map(|h| h.key.clone())
        .collect();

    let mut reads = Vec::new();
    for (kind, key) in &selected {
        let lf = &live.objects(*kind)[key];
        let read = |what| DetailRead {
            kind: *kind,
            key: key.clone(),
            id: lf.id.clone(),
            what,
        };
        // Only the experiment detail shows tags; a flag's stay unknown.
        if *kind == ObjectKind::Experiment && lf.tags.is_none() {
            reads.push(read(DetailOf::Object));
        }
        reads.push(read(DetailOf::Variants));
        for v in &lf.variants {
            reads.push(read(DetailOf::Users(v.key.clone())));
            reads.push(read(DetailOf::Cohorts(v.key.clone())));
        }
    }
    let variants = read_details(client, reads, &mut live).await?;
    Ok(Snapshot {
        project_id,
        live,
        selected,
        deployments: selected_deployments,
        mutexes: selected_mutexes,
        holdouts: selected_holdouts,
        variants,
        archived,
        keys: wanted.into_iter().map(str::to_string).collect(),
        not_editable,
    })
}
