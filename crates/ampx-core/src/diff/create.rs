//! A flag or experiment the project does not have: its create call's body
//! and what create does not take.

use super::*;

pub(super) fn diff_create(
    spec: &FlagSpec,
    deployments: Option<Vec<String>>,
    live: &Live,
    d: &mut FlagDiff,
) {
    d.action = Some(Action::Create);
    let mut body = Map::new();
    body.insert("key".into(), s(&spec.key));
    let ch = &mut d.changes;
    if let Some(n) = &spec.name {
        body.insert("name".into(), s(n));
        push(ch, "name", None, Some(s(n)));
    }
    if let Some(x) = &spec.description {
        body.insert("description".into(), s(x));
        push(ch, "description", None, Some(s(x)));
    }
    if let Some(m) = spec.evaluation_mode {
        body.insert("evaluationMode".into(), s(m.as_str()));
        push(ch, "evaluationMode", None, Some(s(m.as_str())));
    }
    if let Some(b) = &spec.bucketing_key {
        body.insert("bucketingKey".into(), s(b));
        push(ch, "bucketingKey", None, Some(s(b)));
    }
    let bucketing_key = spec
        .bucketing_key
        .as_deref()
        .unwrap_or(DEFAULT_BUCKETING_KEY);
    if let Some(vs) = &spec.variants {
        let bodies: Vec<Value> = vs.iter().map(|v| Value::Object(variant_body(v))).collect();
        for b in &bodies {
            let key = b["key"].as_str().unwrap_or_default();
            push(ch, &format!("variants.{key}"), None, Some(b.clone()));
        }
        body.insert("variants".into(), Value::Array(bodies));
    }
    let weights = spec.rollout_weights.clone().unwrap_or_default();
    if let Some(w) = &spec.rollout_weights {
        // Every variant gets an explicit weight (0 when unlisted), so the
        // server's default for unlisted variants never matters.
        let mut full = w.clone();
        for v in spec.variants.iter().flatten() {
            full.entry(v.key.clone()).or_insert(0);
        }
        body.insert("rolloutWeights".into(), json!(full));
        push(ch, "rolloutWeights", None, Some(json!(w)));
    }
    if let Some(segs) = &spec.target_segments {
        let bodies: Vec<Value> = segs
            .iter()
            .map(|sg| segment_body(sg, &weights, bucketing_key))
            .collect();
        push(
            ch,
            "targetSegments",
            None,
            Some(Value::Array(bodies.clone())),
        );
        body.insert("targetSegments".into(), Value::Array(bodies));
    }
    if let Some(ids) = deployments {
        let labels: Vec<String> = ids.iter().map(|i| live.deployment_label(i)).collect();
        push(ch, "deployments", None, Some(set_value(&labels)));
        body.insert("deployments".into(), json!(ids));
    }
    // Create does not take these: they follow in a PATCH.
    if let Some(p) = spec.rollout_percentage {
        d.patch.insert("rolloutPercentage".into(), json!(p));
        push(ch, "rolloutPercentage", None, Some(json!(p)));
    }
    if let Some(t) = &spec.tags {
        d.patch.insert("tags".into(), json!(sorted_set(t)));
        push(ch, "tags", None, Some(set_value(t)));
    }
    if let Some(u) = &spec.bucketing_unit {
        d.patch.insert("bucketingUnit".into(), s(u));
        push(ch, "bucketingUnit", None, Some(s(u)));
    }
    if let Some(x) = &spec.bucketing_salt {
        d.patch.insert("bucketingSalt".into(), s(x));
        push(ch, "bucketingSalt", None, Some(s(x)));
    }
    for v in spec.variants.iter().flatten() {
        for list in IdList::ALL {
            let Some(ids) = list.wanted(v).as_ref().filter(|i| !i.is_empty()) else {
                continue;
            };
            let add = dedup_in_order(ids);
            push(
                ch,
                &format!("variants.{}.{}", v.key, list.field()),
                None,
                Some(set_value(&add)),
            );
            d.id_lists.push(IdListChange {
                list,
                variant: v.key.clone(),
                remove: Vec::new(),
                add,
            });
        }
    }
    let mut ch_exp = Vec::new();
    diff_experiment_fields(spec, None, d, &mut ch_exp, Some(&mut body));
    d.changes.extend(ch_exp);
    let ch = &mut d.changes;
    if let Some(e) = spec.enabled {
        push(ch, "enabled", None, Some(json!(e)));
        if e {
            d.enabled = Some(true);
        }
    }
    d.create = Some(Value::Object(body));
}
