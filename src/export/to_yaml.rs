//! A flag or experiment spec → the entries of its YAML document.

use super::*;

/// Weights in variant order, then any others by key.
pub(super) fn weights_node(w: &BTreeMap<String, i64>, variants: &[LiveVariant]) -> Node {
    let mut entries: Vec<(String, Node)> = variants
        .iter()
        .filter_map(|v| w.get(&v.key).map(|x| (v.key.clone(), Node::int(*x))))
        .collect();
    for (k, x) in w {
        if !variants.iter().any(|v| &v.key == k) {
            entries.push((k.clone(), Node::int(*x)));
        }
    }
    Node::Map(entries)
}

/// A flag or experiment document: the spec's own serialisation (fields in
/// the manifest order of SPEC §1, unset ones left out), under `apiVersion`
/// and `kind`, with every weight map in the live variants' order.
pub(super) fn flag_entries(s: &FlagSpec, variants: &[LiveVariant]) -> Vec<(String, Node)> {
    let kind = match s.kind {
        ObjectKind::Flag => "Flag",
        ObjectKind::Experiment => "Experiment",
    };
    let mut e = vec![
        ("apiVersion".to_string(), Node::str("ampx/v1")),
        ("kind".to_string(), Node::str(kind)),
    ];
    let Ok(Value::Object(fields)) = serde_json::to_value(s) else {
        return e;
    };
    for (field, value) in &fields {
        let node = match (field.as_str(), &s.rollout_weights, &s.target_segments) {
            ("rolloutWeights", Some(w), _) => weights_node(w, variants),
            ("targetSegments", _, Some(segs)) => Node::Seq(
                segs.iter()
                    .zip(value.as_array().into_iter().flatten())
                    .map(|(sg, v)| segment_node(sg, v, variants))
                    .collect(),
            ),
            _ => Node::from(value),
        };
        e.push((field.clone(), node));
    }
    e
}

/// A segment as serialised, its weights in the live variants' order.
fn segment_node(sg: &SegmentSpec, v: &Value, variants: &[LiveVariant]) -> Node {
    let Node::Map(entries) = Node::from(v) else {
        return Node::from(v);
    };
    Node::Map(
        entries
            .into_iter()
            .map(|(k, n)| match (k.as_str(), &sg.rollout_weights) {
                ("rolloutWeights", Some(w)) => (k, weights_node(w, variants)),
                _ => (k, n),
            })
            .collect(),
    )
}
