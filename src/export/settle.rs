//! Settling a document: write it, read it back, diff or plan it against the
//! live state, and leave out (unmanaged) what does not come back unchanged.
//! One loop ([`settle`]) for every kind; flags and experiments here, the
//! deployments and groups in `groups`.

use super::*;

/// What reading a document back found: the fields to leave out (`None`
/// where a problem names no field), each with why, and notes that come
/// with this round whatever is left out.
pub(super) struct Check<T> {
    pub found: Vec<(Option<T>, String)>,
    /// Whether the document loaded at all.
    pub loads: bool,
    pub notes: Vec<String>,
}

/// A document that settles: written, read back with the manifest loader,
/// diffed or planned against the live state, and written again without
/// the fields that did not come back unchanged.
pub(super) trait Settle {
    /// What a problem points at, to leave out.
    type Target;
    /// The document as it stands.
    fn document(&self) -> String;
    /// Reads `body` (after `project_body`) back; `None` when it loads and
    /// shows no change.
    fn check(&self, project_body: &str, body: &str, live: &Live) -> Option<Check<Self::Target>>;
    /// Leaves `target` out; the note saying so, or `None` when it was not
    /// there to leave out.
    fn leave_out(&mut self, target: &Self::Target, why: &str) -> Option<String>;
    /// When nothing more can be left out: the note the document is kept
    /// with, or why it cannot be written at all.
    fn stuck(&self, check: &Check<Self::Target>) -> Result<String, String>;
}

/// The one settle loop: at most `rounds` times, read the document back and
/// leave out what does not round-trip, noting each field left out.
pub(super) fn settle<S: Settle>(
    doc: &mut S,
    project_body: &str,
    live: &Live,
    notes: &mut Vec<String>,
    rounds: usize,
) -> Result<String, String> {
    for _ in 0..rounds {
        let body = doc.document();
        let Some(check) = doc.check(project_body, &body, live) else {
            return Ok(body);
        };
        let mut dropped = false;
        for (target, why) in &check.found {
            if let Some(note) = target.as_ref().and_then(|t| doc.leave_out(t, why)) {
                notes.push(note);
                dropped = true;
            }
        }
        notes.extend(check.notes.iter().cloned());
        if !dropped {
            notes.push(doc.stuck(&check)?);
            return Ok(body);
        }
    }
    Ok(doc.document())
}

/// A flag or experiment document, with its live variants (for their order).
pub(super) struct FlagDoc<'a> {
    pub spec: &'a mut FlagSpec,
    pub variants: &'a [LiveVariant],
}

/// What a flag's problem points at.
pub(super) enum FlagTarget {
    /// Every payload: the only free-form structure, and so the one thing
    /// that can keep a document from loading (nested deeper than the reader
    /// allows, say).
    Payloads,
    /// A field, by the diff's path.
    Field(String),
}

impl Settle for FlagDoc<'_> {
    type Target = FlagTarget;

    fn document(&self) -> String {
        yaml_out::document(&flag_entries(self.spec, self.variants))
    }

    fn check(&self, project_body: &str, body: &str, live: &Live) -> Option<Check<FlagTarget>> {
        let text = format!("{project_body}---\n{body}");
        let set = match manifest::load_sources(&[(PathBuf::from("export.yaml"), text)]) {
            Ok(set) => set,
            Err(diags) => {
                let why = diags
                    .0
                    .first()
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                return Some(Check {
                    found: vec![(Some(FlagTarget::Payloads), why)],
                    loads: false,
                    notes: Vec::new(),
                });
            }
        };
        let read_back = set.flags.first()?;
        let mut errors = Vec::new();
        let d = crate::diff::diff_flag(read_back, live, &mut errors);
        let mut paths: Vec<String> = d.changes.iter().map(|c| c.path.clone()).collect();
        if read_back.spec != *self.spec {
            paths.extend(differing_fields(&read_back.spec, self.spec));
        }
        if errors.is_empty() && paths.is_empty() {
            return None;
        }
        paths.sort();
        paths.dedup();
        let why = "its live value does not read back unchanged";
        Some(Check {
            found: paths
                .into_iter()
                .map(|p| (Some(FlagTarget::Field(p)), why.to_string()))
                .collect(),
            loads: true,
            notes: errors
                .into_iter()
                .map(|e| format!("{} (please report this)", e.message))
                .collect(),
        })
    }

    fn leave_out(&mut self, target: &FlagTarget, why: &str) -> Option<String> {
        match target {
            FlagTarget::Payloads => {
                let mut dropped = Vec::new();
                for v in self.spec.variants.iter_mut().flatten() {
                    if v.payload.take().is_some() {
                        dropped.push(format!("`variants.{}.payload`", v.key));
                    }
                }
                (!dropped.is_empty()).then(|| {
                    format!(
                        "{} left out (unmanaged): the document did not read back: {why}",
                        dropped.join(", ")
                    )
                })
            }
            FlagTarget::Field(p) => {
                unmanage(self.spec, p).then(|| format!("`{p}` is left out (unmanaged): {why}"))
            }
        }
    }

    fn stuck(&self, check: &Check<FlagTarget>) -> Result<String, String> {
        if !check.loads {
            let why = check.found.first().map_or("", |(_, w)| w.as_str());
            return Ok(format!(
                "the exported document does not read back (please report this): {why}"
            ));
        }
        let paths: Vec<&str> = check
            .found
            .iter()
            .filter_map(|(t, _)| match t {
                Some(FlagTarget::Field(p)) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        Ok(format!(
            "plan may still show a change to {} (please report this)",
            paths.join(", ")
        ))
    }
}

/// Top-level fields whose values differ between two specs (set in one and
/// not the other, or set to different values).
pub(super) fn differing_fields(a: &FlagSpec, b: &FlagSpec) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out
}

/// Leaves out the field a diff path points at; false when nothing was left.
pub(super) fn unmanage(spec: &mut FlagSpec, path: &str) -> bool {
    let mut parts = path.splitn(2, '.');
    let field = parts.next().unwrap_or("");
    if field == "variants" {
        if let Some(rest) = parts.next() {
            for (sub, clear) in [
                (".name", 0),
                (".description", 1),
                (".payload", 2),
                (".inclusions", 3),
                (".cohorts", 4),
            ] {
                if let Some(vkey) = rest.strip_suffix(sub) {
                    if let Some(v) = spec.variants.iter_mut().flatten().find(|v| v.key == vkey) {
                        let was = match clear {
                            0 => v.name.take().is_some(),
                            1 => v.description.take().is_some(),
                            2 => v.payload.take().is_some(),
                            3 => v.inclusions.take().is_some(),
                            _ => v.cohorts.take().is_some(),
                        };
                        if was {
                            return true;
                        }
                    }
                }
            }
        }
        // The variant set itself differs: leave variants and what names them out.
        let was = spec.variants.take().is_some();
        return was;
    }
    match field {
        "name" => spec.name.take().is_some(),
        "description" => spec.description.take().is_some(),
        "enabled" => spec.enabled.take().is_some(),
        "evaluationMode" => spec.evaluation_mode.take().is_some(),
        "bucketingKey" => spec.bucketing_key.take().is_some(),
        "bucketingUnit" => spec.bucketing_unit.take().is_some(),
        "bucketingSalt" => spec.bucketing_salt.take().is_some(),
        "tags" => spec.tags.take().is_some(),
        "deployments" => spec.deployments.take().is_some(),
        "rolloutPercentage" => spec.rollout_percentage.take().is_some(),
        "rolloutWeights" => spec.rollout_weights.take().is_some(),
        "targetSegments" => spec.target_segments.take().is_some(),
        "experimentType" => spec.experiment_type.take().is_some(),
        "stickyBucketing" => spec.sticky_bucketing.take().is_some(),
        "startDate" => spec.start_date.take().is_some(),
        "endDate" => spec.end_date.take().is_some(),
        "exposureEvent" => spec.exposure_event.take().is_some(),
        _ => false,
    }
}
