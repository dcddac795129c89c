//! Fields every flag diff shares: deployments by label, experiment-only
//! fields, new variants' bodies, and the warnings for risky changes.

use super::*;

/// The managed fields of a new variant, as create bodies take them.
pub(super) fn variant_body(v: &VariantSpec) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("key".into(), s(&v.key));
    if let Some(n) = &v.name {
        b.insert("name".into(), s(n));
    }
    if let Some(x) = &v.description {
        b.insert("description".into(), s(x));
    }
    if let Some(p) = norm_payload(v.payload.as_ref()) {
        b.insert("payload".into(), p);
    }
    b
}

/// Resolves deployment labels to ids.
pub(super) fn deployment_ids(
    f: &Located<FlagSpec>,
    live: &Live,
    errors: &mut Vec<DiffError>,
) -> Option<Vec<String>> {
    let labels = f.spec.deployments.as_ref()?;
    let mut ids = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        match live.deployment_id(label) {
            Some(id) => ids.push(id.to_string()),
            None => {
                let mut known: Vec<String> = live
                    .deployments
                    .iter()
                    .flatten()
                    .filter(|d| !d.deleted)
                    .map(|d| d.label.clone())
                    .collect();
                known.sort();
                let close = crate::manifest::nearest(
                    label,
                    &known.iter().map(String::as_str).collect::<Vec<_>>(),
                )
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
                errors.push(DiffError {
                    at: f.at(&format!("deployments[{i}]")),
                    message: format!(
                        "{} `{}` names deployment `{label}`, which the project does not have{close} (deployments: {})",
                        f.spec.kind.noun(),
                        f.spec.key,
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                });
            }
        }
    }
    Some(ids)
}

pub(super) fn warn_rebucket(d: &mut FlagDiff, field: &str, running: bool) {
    d.warnings.push(if running {
        format!(
            "experiment `{}` is running: changing {field} re-buckets its users mid-experiment (variant jumping) and invalidates its results",
            d.key
        )
    } else {
        format!(
            "{} `{}`: {field} changes: users are re-bucketed and may see a different variant",
            d.kind.noun(),
            d.key
        )
    });
}

/// Risk warnings for changes to a running experiment, one reason each.
pub(super) fn warn_running(d: &mut FlagDiff, lf: &LiveFlag) {
    if !lf.is_running() {
        return;
    }
    let key = d.key.clone();
    if !d.renames.is_empty() || !d.variant_creates.is_empty() || !d.variant_deletes.is_empty() {
        d.warnings.push(format!(
            "experiment `{key}` is running: adding, removing or renaming variants moves users between variants and biases its results"
        ));
    }
    if d.changes.iter().any(|c| c.path == "rolloutWeights") {
        d.warnings.push(format!(
            "experiment `{key}` is running: changing rolloutWeights shifts traffic between variants mid-experiment and biases its results"
        ));
    }
    if d.enabled == Some(false) {
        d.warnings.push(format!(
            "experiment `{key}` is running: turning it off ends its data collection"
        ));
    }
}

/// Whether a manifest date and a live one are the same, at the precision
/// of the live one: answers show bare dates (`2023-07-29`) where requests
/// send date-times, so a bare live date is compared by its day only.
fn same_date(want: Option<&str>, have: Option<&str>) -> bool {
    const DAY: i64 = 86_400_000;
    match (want, have) {
        (None, None) => true,
        (Some(w), Some(h)) => {
            let bare = h.trim().len() == 10;
            match (parse_instant(w), parse_instant(h)) {
                (Some(w), Some(h)) if bare => w.div_euclid(DAY) == h.div_euclid(DAY),
                (w, h) => w == h,
            }
        }
        _ => false,
    }
}

/// Experiment-only fields; `create` marks a new experiment (everything
/// present is written, `experimentType` through the create body).
pub(super) fn diff_experiment_fields(
    spec: &FlagSpec,
    lf: Option<&LiveFlag>,
    d: &mut FlagDiff,
    ch: &mut Vec<Change>,
    create_body: Option<&mut Map<String, Value>>,
) {
    if spec.kind != ObjectKind::Experiment {
        return;
    }
    if let Some(t) = spec.experiment_type {
        let have = lf.map(|l| {
            l.experiment_type
                .clone()
                .unwrap_or_else(|| "a-b-test".into())
        });
        if have.as_deref() != Some(t.as_str()) {
            push(
                ch,
                "experimentType",
                have.map(Value::String),
                Some(s(t.as_str())),
            );
            match &create_body {
                Some(_) => {}
                None => {
                    d.patch.insert("experimentType".into(), s(t.as_str()));
                }
            }
        }
    }
    if let (Some(t), Some(body)) = (spec.experiment_type, create_body) {
        body.insert("experimentType".into(), s(t.as_str()));
    }
    if let Some(sb) = spec.sticky_bucketing {
        let have = lf.map(|l| l.sticky_bucketing.unwrap_or(false));
        // A new experiment starts without sticky bucketing: only `true` is written.
        if (sb || lf.is_some()) && have != Some(sb) {
            d.patch.insert("stickyBucketing".into(), json!(sb));
            push(
                ch,
                "stickyBucketing",
                have.map(|h| json!(h)),
                Some(json!(sb)),
            );
        }
    }
    for (field, want, have) in [
        ("startDate", &spec.start_date, lf.map(|l| &l.start_date)),
        ("endDate", &spec.end_date, lf.map(|l| &l.end_date)),
    ] {
        let Some(want) = want else { continue };
        let same = match have {
            Some(h) => same_date(want.as_deref(), h.as_deref()),
            None => want.is_none(),
        };
        if !same {
            d.patch.insert(field.into(), date_value(want));
            push(ch, field, have.map(date_value), Some(date_value(want)));
        }
    }
    // The decision fields: writable, and concluding. Shown by every
    // documented experiment answer.
    let decided = [
        (
            "decision",
            spec.decision.map(|d| d.as_str().to_string()),
            lf.map(|l| &l.decision),
        ),
        (
            "decisionReason",
            spec.decision_reason.clone(),
            lf.map(|l| &l.decision_reason),
        ),
        (
            "rolledOutVariant",
            spec.rolled_out_variant.clone(),
            lf.map(|l| &l.rolled_out_variant),
        ),
    ];
    for (field, want, have) in decided {
        let Some(want) = want else { continue };
        let have = match have {
            None => None,
            Some(None) => {
                d.unknown.push((
                    field.into(),
                    "the API's answer does not show it, so it cannot be compared; nothing was written".into(),
                ));
                continue;
            }
            Some(Some(v)) => Some(v),
        };
        if have.and_then(Value::as_str) != Some(want.as_str()) {
            d.patch.insert(field.into(), s(&want));
            push(ch, field, have.cloned(), Some(s(&want)));
        }
    }
    if ["decision", "rolledOutVariant"]
        .iter()
        .any(|f| d.patch.contains_key(*f))
    {
        d.warnings.push(format!(
            "experiment {}: recording a decision concludes it in Amplitude ({})",
            spec.key,
            [("decision", "decision"), ("rolledOutVariant", "rolled out")]
                .iter()
                .filter_map(|(f, label)| d
                    .patch
                    .get(*f)
                    .and_then(Value::as_str)
                    .map(|v| format!("{label}: {v}")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(e) = &spec.exposure_event {
        // Sent as written (`filters` included, which the API requires);
        // compared without nulls and empty lists.
        let want = serde_json::to_value(e).unwrap_or(Value::Null);
        match lf.map(|l| &l.exposure_event) {
            // A new experiment starts with the default exposure event.
            None if want.is_null() => {}
            None => {
                d.patch.insert("exposureEvent".into(), want.clone());
                push(ch, "exposureEvent", None, Some(want));
            }
            Some(None) => d.unknown.push((
                "exposureEvent".into(),
                "the API does not show an experiment's exposure event, so it cannot be compared; nothing was written (ampx sets it when it creates one)".into(),
            )),
            Some(Some(have)) => {
                if norm_exposure(have) != norm_exposure(&want) {
                    d.patch.insert("exposureEvent".into(), want.clone());
                    push(ch, "exposureEvent", Some(have.clone()), Some(want));
                }
            }
        }
    }
}
