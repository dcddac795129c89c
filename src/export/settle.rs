//! Settling a flag's document: write it, read it back, diff it against the
//! live object, and leave out (unmanaged) what does not come back unchanged.

use super::*;

/// Writes the spec, reads it back and diffs it against the live object;
/// fields that would still show a change (or that did not read back as
/// written) are left out and noted. Returns the final document.
pub(super) fn settle(
    spec: &mut FlagSpec,
    variants: &[LiveVariant],
    project_body: &str,
    live: &Live,
    notes: &mut Vec<String>,
) -> String {
    for _ in 0..4 {
        let body = yaml_out::document(&flag_entries(spec, variants));
        let text = format!("{project_body}---\n{body}");
        let set = match manifest::load_sources(&[(PathBuf::from("export.yaml"), text)]) {
            Ok(set) => set,
            Err(diags) => {
                let why = diags
                    .0
                    .first()
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                // Payloads are the only free-form structure (one nested
                // deeper than the reader allows, say): leave them out.
                let mut dropped = Vec::new();
                for v in spec.variants.iter_mut().flatten() {
                    if v.payload.take().is_some() {
                        dropped.push(format!("variants.{}.payload", v.key));
                    }
                }
                if dropped.is_empty() {
                    notes.push(format!(
                        "the exported document does not read back (please report this): {why}"
                    ));
                    return body;
                }
                notes.push(format!(
                    "{} left out (unmanaged): the document did not read back: {why}",
                    dropped
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
        };
        let Some(read_back) = set.flags.first() else {
            return body;
        };
        let mut errors = Vec::new();
        let d = crate::diff::diff_flag(read_back, live, &mut errors);
        let mut paths: Vec<String> = d.changes.iter().map(|c| c.path.clone()).collect();
        if read_back.spec != *spec {
            paths.extend(differing_fields(&read_back.spec, spec));
        }
        if errors.is_empty() && paths.is_empty() {
            return body;
        }
        paths.sort();
        paths.dedup();
        let mut dropped = false;
        for p in &paths {
            if unmanage(spec, p) {
                notes.push(format!(
                    "`{p}` is left out (unmanaged): its live value does not read back unchanged"
                ));
                dropped = true;
            }
        }
        for e in errors {
            notes.push(format!("{} (please report this)", e.message));
        }
        if !dropped {
            notes.push(format!(
                "plan may still show a change to {} (please report this)",
                paths.join(", ")
            ));
            return body;
        }
    }
    yaml_out::document(&flag_entries(spec, variants))
}

/// Top-level fields whose values differ between two specs.
pub(super) fn differing_fields(a: &FlagSpec, b: &FlagSpec) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
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
