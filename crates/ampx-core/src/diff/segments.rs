//! A manifest segment → the segment body the API takes.

use super::*;

/// The segment body sent to the API for a manifest segment.
pub fn segment_body(
    seg: &SegmentSpec,
    flag_weights: &BTreeMap<String, i64>,
    bucketing_key: &str,
) -> Value {
    let conditions: Vec<Value> = seg
        .conditions
        .iter()
        .map(|c| {
            json!({
                "type": c.kind.clone().unwrap_or_else(|| "property".into()),
                "prop": c.prop,
                "op": c.op,
                "values": c.values,
            })
        })
        .collect();
    json!({
        "name": seg.name,
        "conditions": conditions,
        "percentage": seg.percentage.unwrap_or(100),
        "bucketingKey": seg.bucketing_key.clone().unwrap_or_else(|| bucketing_key.to_string()),
        "rolloutWeights": seg.rollout_weights.clone().unwrap_or_else(|| flag_weights.clone()),
    })
}

/// A live segment's `rolloutWeights`, as integers (absent: none).
pub fn segment_weights(seg: &Value) -> BTreeMap<String, i64> {
    seg.get("rolloutWeights")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| num_i64(v).map(|w| (k.clone(), w)))
                .collect()
        })
        .unwrap_or_default()
}
