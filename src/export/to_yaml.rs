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

pub(super) fn date_node(d: &Option<String>) -> Node {
    match d {
        Some(s) => Node::str(s),
        None => Node::Null,
    }
}

/// A flag or experiment document, keys in the manifest order of SPEC §1.
pub(super) fn flag_entries(s: &FlagSpec, variants: &[LiveVariant]) -> Vec<(String, Node)> {
    let mut e: Vec<(String, Node)> = Vec::new();
    let mut put = |k: &str, v: Node| e.push((k.to_string(), v));
    put("apiVersion", Node::str("ampx/v1"));
    put(
        "kind",
        Node::str(match s.kind {
            ObjectKind::Flag => "Flag",
            ObjectKind::Experiment => "Experiment",
        }),
    );
    put("key", Node::str(&s.key));
    if let Some(x) = &s.name {
        put("name", Node::str(x));
    }
    if let Some(x) = &s.description {
        put("description", Node::str(x));
    }
    if let Some(x) = s.enabled {
        put("enabled", Node::Bool(x));
    }
    if let Some(x) = s.evaluation_mode {
        put("evaluationMode", Node::str(x.as_str()));
    }
    if let Some(x) = &s.bucketing_key {
        put("bucketingKey", Node::str(x));
    }
    if let Some(x) = &s.bucketing_unit {
        put("bucketingUnit", Node::str(x));
    }
    if let Some(x) = &s.bucketing_salt {
        put("bucketingSalt", Node::str(x));
    }
    if let Some(x) = &s.tags {
        put("tags", Node::strs(x));
    }
    if let Some(x) = &s.deployments {
        put("deployments", Node::strs(x));
    }
    if let Some(vs) = &s.variants {
        let items = vs
            .iter()
            .map(|v| {
                let mut m = vec![("key".to_string(), Node::str(&v.key))];
                if let Some(x) = &v.name {
                    m.push(("name".into(), Node::str(x)));
                }
                if let Some(x) = &v.description {
                    m.push(("description".into(), Node::str(x)));
                }
                if let Some(x) = &v.payload {
                    m.push(("payload".into(), Node::from(x)));
                }
                if let Some(x) = &v.inclusions {
                    m.push(("inclusions".into(), Node::strs(x)));
                }
                if let Some(x) = &v.cohorts {
                    m.push(("cohorts".into(), Node::strs(x)));
                }
                Node::Map(m)
            })
            .collect();
        put("variants", Node::Seq(items));
    }
    if let Some(x) = s.rollout_percentage {
        put("rolloutPercentage", Node::int(x));
    }
    if let Some(w) = &s.rollout_weights {
        put("rolloutWeights", weights_node(w, variants));
    }
    if let Some(segs) = &s.target_segments {
        let items = segs
            .iter()
            .map(|sg| {
                let conditions = sg
                    .conditions
                    .iter()
                    .map(|c| {
                        let mut m = vec![
                            ("prop".to_string(), Node::str(&c.prop)),
                            ("op".to_string(), Node::str(&c.op)),
                            ("values".to_string(), Node::strs(&c.values)),
                        ];
                        if let Some(t) = &c.kind {
                            m.push(("type".into(), Node::str(t)));
                        }
                        Node::Map(m)
                    })
                    .collect();
                let mut m = vec![
                    ("name".to_string(), Node::str(&sg.name)),
                    ("conditions".to_string(), Node::Seq(conditions)),
                ];
                if let Some(p) = sg.percentage {
                    m.push(("percentage".into(), Node::int(p)));
                }
                if let Some(w) = &sg.rollout_weights {
                    m.push(("rolloutWeights".into(), weights_node(w, variants)));
                }
                if let Some(b) = &sg.bucketing_key {
                    m.push(("bucketingKey".into(), Node::str(b)));
                }
                Node::Map(m)
            })
            .collect();
        put("targetSegments", Node::Seq(items));
    }
    if let Some(x) = s.archived {
        put("archived", Node::Bool(x));
    }
    if let Some(x) = s.experiment_type {
        put("experimentType", Node::str(x.as_str()));
    }
    if let Some(x) = s.sticky_bucketing {
        put("stickyBucketing", Node::Bool(x));
    }
    if let Some(x) = &s.start_date {
        put("startDate", date_node(x));
    }
    if let Some(x) = &s.end_date {
        put("endDate", date_node(x));
    }
    if let Some(x) = &s.exposure_event {
        let mut m = vec![("event_type".to_string(), Node::str(&x.event_type))];
        if !x.filters.is_empty() {
            let filters = x
                .filters
                .iter()
                .map(|f| {
                    let mut fm = vec![
                        ("subprop_type".to_string(), Node::str(&f.subprop_type)),
                        ("subprop_key".to_string(), Node::str(&f.subprop_key)),
                        ("subprop_op".to_string(), Node::str(&f.subprop_op)),
                        ("subprop_value".to_string(), Node::strs(&f.subprop_value)),
                    ];
                    if let Some(g) = &f.group_type {
                        fm.push(("group_type".into(), Node::str(g)));
                    }
                    Node::Map(fm)
                })
                .collect();
            m.push(("filters".into(), Node::Seq(filters)));
        }
        put("exposureEvent", Node::Map(m));
    }
    e
}
