//! Server defaults and notations made equal before comparing: an empty
//! payload is none, zero weights are absent, a segment's defaults are
//! spelt out, sets are sorted, numbers are integers when they can be. Export
//! writes through the same rules.

use super::*;

/// An empty payload (`null`, `{}`) is no payload.
pub fn norm_payload(p: Option<&Value>) -> Option<Value> {
    match p {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(v) => Some(v.clone()),
    }
}

/// Weights without zeros (zero and absent are the same).
pub fn norm_weights(w: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    w.iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// A number as an integer, a fraction rounded (the API may answer `50.0`).
pub fn num_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f.round() as i64))
}

/// A segment with server defaults and ordering noise removed.
pub fn norm_segment(seg: &Value, bucketing_key: &str) -> Value {
    let name = seg.get("name").and_then(Value::as_str).unwrap_or("");
    let conditions: Vec<Value> = seg
        .get("conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut values: Vec<String> = c
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|vs| {
                            vs.iter()
                                .map(|v| {
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    values.sort();
                    values.dedup();
                    json!({
                        "type": c.get("type").and_then(Value::as_str).unwrap_or("property"),
                        "prop": c.get("prop").and_then(Value::as_str).unwrap_or(""),
                        "op": c.get("op").and_then(Value::as_str).unwrap_or(""),
                        "values": values,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let weights = segment_weights(seg);
    let mut out = json!({
        "name": name,
        "conditions": conditions,
        "percentage": seg.get("percentage").and_then(num_i64).unwrap_or(0),
        "rolloutWeights": norm_weights(&weights),
    });
    if let Some(bk) = seg.get("bucketingKey").and_then(Value::as_str) {
        if !bk.is_empty() && bk != bucketing_key {
            out["bucketingKey"] = s(bk);
        }
    }
    out
}

pub(super) fn sorted_set(v: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = v.iter().collect();
    set.into_iter().cloned().collect()
}

/// An exposure event without nulls, for comparison.
pub fn norm_exposure(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                // `filters: []` is the server's way of saying "no filters".
                .filter(|(_, x)| !x.is_null() && x.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, x)| (k.clone(), norm_exposure(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(norm_exposure).collect()),
        other => other.clone(),
    }
}

pub(super) fn date_value(d: &Option<String>) -> Value {
    d.as_ref().map(|x| s(x)).unwrap_or(Value::Null)
}

pub(super) fn dedup_in_order(v: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    v.iter()
        .filter(|x| seen.insert(x.as_str()))
        .cloned()
        .collect()
}

pub(super) fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}
