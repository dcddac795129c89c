//! Live flags and experiments → manifest specs, in the diff's terms of
//! equality.

use super::*;

pub(super) fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|x| !x.is_empty())
}

pub(super) fn sorted_unique(v: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = v.iter().collect();
    set.into_iter().cloned().collect()
}

/// A date as a manifest writes it: `null`, an RFC 3339 date-time, or a
/// bare date as midnight UTC (the same instant). `None`: not a date.
pub(super) fn manifest_date(d: &Option<String>) -> Option<Option<String>> {
    match d.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(t) if parse_instant(t).is_some() && t.len() > 10 => Some(Some(t.to_string())),
        Some(t) if parse_instant(t).is_some() => Some(Some(format!("{t}T00:00:00Z"))),
        Some(_) => None,
    }
}

/// The manifest for a live flag or experiment; what it cannot hold is
/// left out with a note.
pub(super) fn spec_of(
    kind: ObjectKind,
    lf: &LiveFlag,
    variants: &[LiveVariant],
    live: &Live,
    notes: &mut Vec<String>,
) -> FlagSpec {
    let bk = lf
        .bucketing_key
        .clone()
        .unwrap_or_else(|| DEFAULT_BUCKETING_KEY.to_string());
    let mut spec = FlagSpec {
        kind,
        key: lf.key.clone(),
        name: non_empty(&lf.name),
        description: non_empty(&lf.description),
        enabled: Some(lf.enabled),
        evaluation_mode: match lf.evaluation_mode.as_deref().unwrap_or("remote") {
            "local" => Some(EvaluationMode::Local),
            "remote" => Some(EvaluationMode::Remote),
            other => {
                notes.push(format!(
                    "evaluationMode is left out (unmanaged): the live value `{other}` is neither local nor remote"
                ));
                None
            }
        },
        bucketing_key: Some(bk.clone()),
        bucketing_unit: Some(
            lf.bucketing_unit
                .clone()
                .unwrap_or_else(|| "User".to_string()),
        ),
        bucketing_salt: None,
        tags: lf
            .tags
            .as_deref()
            .map(sorted_unique)
            .filter(|t| !t.is_empty()),
        deployments: None,
        variants: None,
        rollout_percentage: None,
        rollout_weights: None,
        target_segments: None,
        archived: None,
        experiment_type: None,
        sticky_bucketing: None,
        start_date: None,
        end_date: None,
        exposure_event: None,
        decision: None,
        decision_reason: None,
        rolled_out_variant: None,
        environments: None,
        only_in: None,
        owner: None,
        expires: None,
        waive: None,
        schedule: None,
    };

    if !lf.deployments.is_empty() {
        let mut labels = Vec::new();
        let mut unknown = Vec::new();
        for id in &lf.deployments {
            let d = live.deployments.iter().flatten().find(|d| &d.id == id);
            match d {
                Some(d) if !d.label.is_empty() && live.deployment_id(&d.label) == Some(id) => {
                    labels.push(d.label.clone())
                }
                _ => unknown.push(id.clone()),
            }
        }
        if unknown.is_empty() {
            spec.deployments = Some(sorted_unique(&labels));
        } else {
            notes.push(format!(
                "deployments is left out (unmanaged): deployment id {} has no label of its own in the project's deployment list",
                unknown.join(", ")
            ));
        }
    }

    let keys: HashSet<&str> = variants.iter().map(|v| v.key.as_str()).collect();
    if !variants.is_empty() {
        spec.variants = Some(
            variants
                .iter()
                .map(|v| VariantSpec {
                    key: v.key.clone(),
                    name: non_empty(&v.name),
                    description: non_empty(&v.description),
                    payload: norm_payload(v.payload.as_ref()),
                    inclusions: lf
                        .inclusions
                        .get(&v.key)
                        .map(|i| sorted_unique(i))
                        .filter(|i| !i.is_empty()),
                    cohorts: lf
                        .cohorts
                        .get(&v.key)
                        .map(|c| sorted_unique(c))
                        .filter(|c| !c.is_empty()),
                    renamed_from: None,
                })
                .collect(),
        );
    }

    match lf.rollout_percentage {
        None => spec.rollout_percentage = Some(0),
        Some(p) if p.fract() == 0.0 && (0.0..=100.0).contains(&p) => {
            spec.rollout_percentage = Some(p as i64)
        }
        Some(p) => notes.push(format!(
            "rolloutPercentage is left out (unmanaged): the live value {p} is not a whole number from 0 to 100"
        )),
    }

    if !lf.rollout_weights.is_empty() {
        let stray: Vec<&String> = lf
            .rollout_weights
            .iter()
            .filter(|(k, w)| (!keys.contains(k.as_str()) && **w != 0) || **w < 0)
            .map(|(k, _)| k)
            .collect();
        if stray.is_empty() {
            spec.rollout_weights = Some(
                lf.rollout_weights
                    .iter()
                    .filter(|(k, _)| keys.contains(k.as_str()))
                    .map(|(k, w)| (k.clone(), *w))
                    .collect(),
            );
        } else {
            notes.push(format!(
                "rolloutWeights is left out (unmanaged): the live weights of {} name no variant or are negative",
                stray
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }

    if !lf.target_segments.is_empty() {
        let flag_weights = spec
            .rollout_weights
            .clone()
            .unwrap_or_else(|| lf.rollout_weights.clone());
        let segments: Result<Vec<SegmentSpec>, String> = lf
            .target_segments
            .iter()
            .map(|s| segment_of(s, &bk, &flag_weights, &keys))
            .collect();
        match segments {
            Ok(s) => spec.target_segments = Some(s),
            Err(why) => notes.push(format!(
                "targetSegments is left out (unmanaged): {why}, which manifests cannot express"
            )),
        }
    }

    if kind == ObjectKind::Experiment {
        match lf.experiment_type.as_deref().unwrap_or("a-b-test") {
            "a-b-test" => spec.experiment_type = Some(ExperimentType::ABTest),
            "multi-arm-bandit" => spec.experiment_type = Some(ExperimentType::MultiArmBandit),
            other => notes.push(format!(
                "experimentType is left out (unmanaged): the live value `{other}` is not a-b-test or multi-arm-bandit"
            )),
        }
        spec.sticky_bucketing = Some(lf.sticky_bucketing.unwrap_or(false));
        // A decision made: written, so that the manifests keep it.
        let text = |v: &Option<Value>| match v {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        if let Some(d) = text(&lf.decision) {
            match serde_json::from_value::<Decision>(Value::String(d.clone())) {
                Ok(d) => spec.decision = Some(d),
                Err(_) => notes.push(format!(
                    "decision is left out (unmanaged): the live value `{d}` is not rollout, rollback or continue-running"
                )),
            }
        }
        spec.decision_reason = text(&lf.decision_reason);
        spec.rolled_out_variant = text(&lf.rolled_out_variant);
        for (field, live_value, slot) in [
            ("startDate", &lf.start_date, &mut spec.start_date),
            ("endDate", &lf.end_date, &mut spec.end_date),
        ] {
            match manifest_date(live_value) {
                Some(d) => *slot = Some(d),
                None => notes.push(format!(
                    "{field} is left out (unmanaged): the live value `{}` is not a date",
                    live_value.as_deref().unwrap_or("")
                )),
            }
        }
        match &lf.exposure_event {
            // Unknown (no answer shows it), or the default: left unmanaged.
            None | Some(Value::Null) => {}
            Some(v) => {
                let parsed = serde_json::from_value::<ExposureEvent>(v.clone())
                    .ok()
                    .filter(|e| {
                        serde_json::to_value(e)
                            .map(|x| norm_exposure(&x) == norm_exposure(v))
                            .unwrap_or(false)
                    });
                match parsed {
                    Some(e) => spec.exposure_event = Some(Some(e)),
                    None => notes.push(
                        "exposureEvent is left out (unmanaged): its live shape has fields or values that manifests cannot express".to_string(),
                    ),
                }
            }
        }
    }
    spec
}

/// A live segment as a manifest writes it, or why it cannot be.
pub(super) fn segment_of(
    seg: &Value,
    bucketing_key: &str,
    flag_weights: &BTreeMap<String, i64>,
    variants: &HashSet<&str>,
) -> Result<SegmentSpec, String> {
    let name = match seg.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("a segment has the name {other}")),
    };
    let shown = format!("segment `{name}`");
    let mut conditions = Vec::new();
    match seg.get("conditions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cs)) => {
            for c in cs {
                let text = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                let kind = text("type");
                if !kind.is_empty() && kind != "property" {
                    return Err(format!("{shown} has a `{kind}` condition"));
                }
                let op = text("op");
                if !OPS.contains(&op.as_str()) {
                    return Err(format!("{shown} has a condition with the operator `{op}`"));
                }
                let mut values = Vec::new();
                match c.get("values") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(vs)) => {
                        for v in vs {
                            match v {
                                Value::String(s) => values.push(s.clone()),
                                Value::Number(n) => values.push(n.to_string()),
                                Value::Bool(b) => values.push(b.to_string()),
                                other => {
                                    return Err(format!("{shown} has a condition value {other}"))
                                }
                            }
                        }
                    }
                    Some(other) => return Err(format!("{shown} has condition values {other}")),
                }
                conditions.push(ConditionSpec {
                    prop: text("prop"),
                    op,
                    values,
                    kind: None,
                });
            }
        }
        Some(other) => return Err(format!("{shown} has conditions {other}")),
    }
    let percentage = seg.get("percentage").and_then(num_i64).unwrap_or(0);
    if !(0..=100).contains(&percentage) {
        return Err(format!("{shown} has the percentage {percentage}"));
    }
    let weights = crate::diff::segment_weights(seg);
    if let Some((k, _)) = weights
        .iter()
        .find(|(k, w)| **w < 0 || (**w != 0 && !variants.contains(k.as_str())))
    {
        return Err(format!("{shown} weighs `{k}`, which is not a variant"));
    }
    let rollout_weights = if norm_weights(&weights) == norm_weights(flag_weights) {
        None
    } else {
        Some(
            weights
                .into_iter()
                .filter(|(k, _)| variants.contains(k.as_str()))
                .collect(),
        )
    };
    let bk = seg
        .get("bucketingKey")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty() && *b != bucketing_key)
        .map(str::to_string);
    Ok(SegmentSpec {
        name,
        conditions,
        percentage: Some(percentage),
        rollout_weights,
        bucketing_key: bk,
    })
}
