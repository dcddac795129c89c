//! A flag or experiment the project has: each managed field against the
//! live one, a concern a function.

use super::*;

/// The change from one set of ids to another, recorded under `path`:
/// (ids to add, in the manifest's order; ids to remove, sorted), or `None`
/// when the sets are equal.
pub fn id_set_change(
    ch: &mut Vec<Change>,
    path: &str,
    have: &[String],
    want: &[String],
) -> Option<(Vec<String>, Vec<String>)> {
    let want = dedup_in_order(want);
    let have_set: HashSet<&str> = have.iter().map(String::as_str).collect();
    let want_set: HashSet<&str> = want.iter().map(String::as_str).collect();
    let add: Vec<String> = want
        .iter()
        .filter(|x| !have_set.contains(x.as_str()))
        .cloned()
        .collect();
    let mut remove: Vec<String> = have
        .iter()
        .filter(|x| !want_set.contains(x.as_str()))
        .cloned()
        .collect();
    remove.sort();
    remove.dedup();
    if add.is_empty() && remove.is_empty() {
        return None;
    }
    push(ch, path, Some(set_value(have)), Some(set_value(&want)));
    Some((add, remove))
}

pub(super) fn diff_update(
    f: &Located<FlagSpec>,
    lf: &LiveFlag,
    deployments: Option<Vec<String>>,
    live: &Live,
    d: &mut FlagDiff,
    errors: &mut Vec<DiffError>,
) {
    let spec = &f.spec;
    let mut changes = Vec::new();
    let ch = &mut changes;
    if lf.is_archived() {
        push(ch, "archived", Some(json!(true)), Some(json!(false)));
    }
    flag_fields(spec, lf, d, ch);
    let source = match_variants(f, lf, d, ch, errors);
    let mut variant_patch = variant_fields(spec, lf, &source, d, ch);
    weights(spec, lf, &source, d, ch, &mut variant_patch);
    // Patches address the variant by its live key, which a rename changes:
    // renames run first, so address by the new key.
    let renamed_to: BTreeMap<String, String> = d.renames.iter().cloned().collect();
    for (src, p) in variant_patch {
        let addr = renamed_to.get(&src).cloned().unwrap_or(src);
        d.variant_patches.push((addr, p));
    }
    segments(spec, lf, d, ch);
    if let Some(ids) = deployments {
        flag_deployments(&ids, lf, live, d, ch);
    }
    id_lists(spec, lf, &source, d, ch);
    diff_experiment_fields(spec, Some(lf), d, ch, None);
    if let Some(e) = spec.enabled {
        if e != lf.enabled {
            d.enabled = Some(e);
            push(ch, "enabled", Some(json!(lf.enabled)), Some(json!(e)));
        }
    }
    d.changes = changes;
    warn_running(d, lf);
    if !d.changes.is_empty() {
        d.action = Some(if lf.is_archived() {
            Action::Unarchive
        } else {
            Action::Update
        });
    }
}

/// The live bucketing key, the flag's default when the list leaves it out.
fn live_bucketing_key(lf: &LiveFlag) -> &str {
    lf.bucketing_key.as_deref().unwrap_or(DEFAULT_BUCKETING_KEY)
}

/// The flag's own fields: texts, bucketing, rollout percentage, tags.
fn flag_fields(spec: &FlagSpec, lf: &LiveFlag, d: &mut FlagDiff, ch: &mut Vec<Change>) {
    let text_field =
        |d: &mut FlagDiff, ch: &mut Vec<Change>, field: &str, want: &Option<String>, have: &str| {
            if let Some(w) = want {
                if w != have {
                    d.patch.insert(field.into(), s(w));
                    push(ch, field, Some(s(have)), Some(s(w)));
                }
            }
        };
    text_field(d, ch, "name", &spec.name, opt_str(&lf.name));
    text_field(
        d,
        ch,
        "description",
        &spec.description,
        opt_str(&lf.description),
    );
    let mode = spec.evaluation_mode.map(|m| m.as_str().to_string());
    text_field(
        d,
        ch,
        "evaluationMode",
        &mode,
        lf.evaluation_mode.as_deref().unwrap_or("remote"),
    );
    text_field(
        d,
        ch,
        "bucketingKey",
        &spec.bucketing_key,
        live_bucketing_key(lf),
    );
    text_field(
        d,
        ch,
        "bucketingUnit",
        &spec.bucketing_unit,
        lf.bucketing_unit.as_deref().unwrap_or("User"),
    );
    text_field(
        d,
        ch,
        "bucketingSalt",
        &spec.bucketing_salt,
        opt_str(&lf.bucketing_salt),
    );
    if d.patch.contains_key("bucketingKey") {
        warn_rebucket(d, "bucketingKey", lf.is_running());
    }
    if d.patch.contains_key("bucketingSalt") {
        warn_rebucket(d, "bucketingSalt", lf.is_running());
    }
    if let Some(p) = spec.rollout_percentage {
        let have = lf.rollout_percentage.unwrap_or(0.0);
        if (have - p as f64).abs() > f64::EPSILON {
            d.patch.insert("rolloutPercentage".into(), json!(p));
            push(ch, "rolloutPercentage", Some(num(have)), Some(json!(p)));
        }
    }
    if let Some(t) = &spec.tags {
        match &lf.tags {
            Some(have) if sorted_set(t) != sorted_set(have) => {
                d.patch.insert("tags".into(), json!(sorted_set(t)));
                push(ch, "tags", Some(set_value(have)), Some(set_value(t)));
            }
            Some(_) => {}
            None => d.unknown.push((
                "tags".into(),
                format!(
                    "the API does not show a {}'s tags, so they cannot be compared; nothing was written (ampx sets tags when it creates one)",
                    spec.kind.noun()
                ),
            )),
        }
    }
}

/// Which live variant each manifest variant is: the one of its key, or the
/// one it is renamed from (`renamedFrom`), or none (a new variant). Live
/// variants that no manifest variant is are removed.
fn match_variants(
    f: &Located<FlagSpec>,
    lf: &LiveFlag,
    d: &mut FlagDiff,
    ch: &mut Vec<Change>,
    errors: &mut Vec<DiffError>,
) -> BTreeMap<String, Option<String>> {
    let spec = &f.spec;
    // Variants: matched by key, or by `renamedFrom` for an in-place rename.
    // `source[k]` is the live key that manifest variant `k` maps to.
    let mut source: BTreeMap<String, Option<String>> = BTreeMap::new();
    if let Some(vs) = &spec.variants {
        for (i, v) in vs.iter().enumerate() {
            let src = if lf.has_variant(&v.key) {
                if let Some(from) = v.renamed_from.as_ref().filter(|fr| lf.has_variant(fr)) {
                    errors.push(DiffError {
                        at: f.at(&format!("variants[{i}].renamedFrom")),
                        message: format!(
                            "{} `{}`: cannot rename variant `{from}` to `{}`: both exist live; remove one of them first",
                            spec.kind.noun(),
                            spec.key, v.key
                        ),
                    });
                }
                Some(v.key.clone())
            } else if let Some(from) = v.renamed_from.as_ref().filter(|fr| lf.has_variant(fr)) {
                d.renames.push((from.clone(), v.key.clone()));
                push(
                    ch,
                    &format!("variants.{}", v.key),
                    Some(s(from)),
                    Some(s(&v.key)),
                );
                Some(from.clone())
            } else {
                None
            };
            source.insert(v.key.clone(), src);
        }
        let kept: HashSet<&str> = source.values().flatten().map(String::as_str).collect();
        let added: Vec<&str> = source
            .iter()
            .filter(|(_, src)| src.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        for lv in &lf.variants {
            if !kept.contains(lv.key.as_str()) {
                d.variant_deletes.push(lv.key.clone());
                let (held, shown) = variant_holdings(lf, &lv.key);
                push(ch, &format!("variants.{}", lv.key), Some(shown), None);
                let noun = spec.kind.noun();
                if !held.is_empty() {
                    d.destructive = true;
                    d.warnings.push(format!(
                        "removing variant `{}` of {noun} {} drops its {}",
                        lv.key,
                        spec.key,
                        held.join(", ")
                    ));
                }
                if let Some(new) = added.first() {
                    d.warnings.push(format!(
                        "variant `{}` of {noun} {} is removed while `{new}` is added: if `{new}` is `{}` renamed, write `renamedFrom: {}` under it to keep what it holds",
                        lv.key, spec.key, lv.key, lv.key
                    ));
                }
            }
        }
    }
    source
}

/// What a live variant holds that its removal drops (as words for a
/// warning), and the variant as the plan shows it going: its key, payload,
/// inclusion count, cohorts and weight, where the live state read them.
fn variant_holdings(lf: &LiveFlag, key: &str) -> (Vec<String>, Value) {
    let mut held = Vec::new();
    let mut shown = Map::new();
    shown.insert("key".into(), s(key));
    let details = lf.variant_details.as_ref().and_then(|m| m.get(key));
    if let Some(p) = norm_payload(details.and_then(|x| x.payload.as_ref())) {
        held.push("payload".to_string());
        shown.insert("payload".into(), p);
    }
    if let Some(users) = lf.inclusions.get(key).filter(|u| !u.is_empty()) {
        held.push(format!("{} inclusion(s)", users.len()));
        shown.insert("inclusions".into(), json!(users.len()));
    }
    if let Some(cohorts) = lf.cohorts.get(key).filter(|c| !c.is_empty()) {
        held.push(format!("{} cohort(s)", cohorts.len()));
        shown.insert("cohorts".into(), json!(cohorts));
    }
    if let Some(w) = lf.rollout_weights.get(key).filter(|w| **w > 0) {
        held.push(format!("rollout weight {w}"));
        shown.insert("rolloutWeight".into(), json!(w));
    }
    (held, Value::Object(shown))
}

/// New variants' bodies, and the name, description and payload of those
/// that stay, as patches by live key.
fn variant_fields(
    spec: &FlagSpec,
    lf: &LiveFlag,
    source: &BTreeMap<String, Option<String>>,
    d: &mut FlagDiff,
    ch: &mut Vec<Change>,
) -> BTreeMap<String, Map<String, Value>> {
    let mut variant_patch: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for v in spec.variants.iter().flatten() {
        match source.get(&v.key).cloned().flatten() {
            None => {
                let mut b = variant_body(v);
                if let Some(w) = &spec.rollout_weights {
                    b.insert(
                        "rolloutWeight".into(),
                        json!(w.get(&v.key).copied().unwrap_or(0)),
                    );
                }
                push(
                    ch,
                    &format!("variants.{}", v.key),
                    None,
                    Some(Value::Object(b.clone())),
                );
                d.variant_creates.push(Value::Object(b));
            }
            Some(src) => {
                let details = lf.variant_details.as_ref().and_then(|m| m.get(&src));
                let mut p = Map::new();
                let base = format!("variants.{}", v.key);
                if let Some(n) = &v.name {
                    let have = details.map(|x| opt_str(&x.name)).unwrap_or("");
                    if n != have {
                        p.insert("name".into(), s(n));
                        push(ch, &format!("{base}.name"), Some(s(have)), Some(s(n)));
                    }
                }
                if let Some(x) = &v.description {
                    let have = details.map(|x| opt_str(&x.description)).unwrap_or("");
                    if x != have {
                        p.insert("description".into(), s(x));
                        push(
                            ch,
                            &format!("{base}.description"),
                            Some(s(have)),
                            Some(s(x)),
                        );
                    }
                }
                if v.payload.is_some() {
                    let want = norm_payload(v.payload.as_ref());
                    let have = norm_payload(details.and_then(|x| x.payload.as_ref()));
                    if want != have {
                        p.insert("payload".into(), want.clone().unwrap_or(Value::Null));
                        push(ch, &format!("{base}.payload"), have, want);
                    }
                }
                if !p.is_empty() {
                    variant_patch.insert(src.clone(), p);
                }
            }
        }
    }
    variant_patch
}

/// Rollout weights: the exact map when managed (zero and absent are the
/// same), set on each variant that stays, by its live key.
fn weights(
    spec: &FlagSpec,
    lf: &LiveFlag,
    source: &BTreeMap<String, Option<String>>,
    d: &FlagDiff,
    ch: &mut Vec<Change>,
    variant_patch: &mut BTreeMap<String, Map<String, Value>>,
) {
    if let Some(w) = &spec.rollout_weights {
        let want = norm_weights(w);
        let have = norm_weights(&lf.rollout_weights);
        let renamed_to: BTreeMap<&str, &str> = d
            .renames
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        // Live weights, keyed by the manifest's (post-rename) variant keys.
        let have_by_new: BTreeMap<String, i64> = have
            .iter()
            .map(|(k, v)| {
                (
                    renamed_to
                        .get(k.as_str())
                        .map(|x| x.to_string())
                        .unwrap_or(k.clone()),
                    *v,
                )
            })
            .collect();
        let created: HashSet<String> = d
            .variant_creates
            .iter()
            .filter_map(|b| b["key"].as_str().map(str::to_string))
            .collect();
        let deleted: HashSet<&str> = d.variant_deletes.iter().map(String::as_str).collect();
        if want != have_by_new {
            push(
                ch,
                "rolloutWeights",
                Some(json!(have_by_new)),
                Some(json!(want)),
            );
        }
        let keys: BTreeSet<&String> = want.keys().chain(have_by_new.keys()).collect();
        for k in keys {
            let (wv, hv) = (
                want.get(k).copied().unwrap_or(0),
                have_by_new.get(k).copied().unwrap_or(0),
            );
            if wv == hv || created.contains(k) {
                continue;
            }
            // The live key of manifest variant k.
            let src = source
                .get(k)
                .cloned()
                .flatten()
                .unwrap_or_else(|| k.clone());
            if deleted.contains(src.as_str()) {
                continue;
            }
            if !lf.has_variant(&src) {
                continue;
            }
            variant_patch
                .entry(src)
                .or_default()
                .insert("rolloutWeight".into(), json!(wv));
        }
    }
}

/// Target segments, compared in the API's normal form with the flag's
/// defaults spelt out.
fn segments(spec: &FlagSpec, lf: &LiveFlag, d: &mut FlagDiff, ch: &mut Vec<Change>) {
    let live_bk = live_bucketing_key(lf);
    if let Some(segs) = &spec.target_segments {
        let bk = spec.bucketing_key.as_deref().unwrap_or(live_bk);
        let weights = spec
            .rollout_weights
            .clone()
            .unwrap_or_else(|| lf.rollout_weights.clone());
        let want: Vec<Value> = segs
            .iter()
            .map(|sg| segment_body(sg, &weights, bk))
            .collect();
        let want_n: Vec<Value> = want.iter().map(|x| norm_segment(x, bk)).collect();
        let have_n: Vec<Value> = lf
            .target_segments
            .iter()
            .map(|x| norm_segment(x, bk))
            .collect();
        if want_n != have_n {
            let enabled = spec.enabled.unwrap_or(lf.enabled);
            if want_n.is_empty() && enabled {
                d.destructive = true;
                d.warnings.push(format!(
                    "removing every target segment of enabled {} {}: the users they targeted get the default rollout",
                    spec.kind.noun(),
                    spec.key
                ));
            }
            segment_changes(&have_n, &want_n, ch);
            d.patch.insert("targetSegments".into(), Value::Array(want));
        }
    }
}

/// Target segments changed, one change per segment so that each names its
/// segment: matched by name when the names on both sides are distinct
/// (`targetSegments.<name>`, plus `targetSegments` with the names in order
/// when only the order changed), by position otherwise (`targetSegments[i]`).
/// The API receives the whole list either way.
fn segment_changes(have: &[Value], want: &[Value], ch: &mut Vec<Change>) {
    let names = |list: &[Value]| -> Option<Vec<String>> {
        let names: Vec<String> = list
            .iter()
            .map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
            .collect::<Option<_>>()?;
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        (distinct.len() == names.len()).then_some(names)
    };
    let (Some(have_names), Some(want_names)) = (names(have), names(want)) else {
        for i in 0..have.len().max(want.len()) {
            let (b, a) = (have.get(i), want.get(i));
            if b != a {
                push(ch, &format!("targetSegments[{i}]"), b.cloned(), a.cloned());
            }
        }
        return;
    };
    let at = |names: &[String], n: &str| names.iter().position(|x| x == n);
    for (i, n) in want_names.iter().enumerate() {
        match at(&have_names, n) {
            Some(j) if have[j] == want[i] => {}
            Some(j) => push(
                ch,
                &format!("targetSegments.{n}"),
                Some(have[j].clone()),
                Some(want[i].clone()),
            ),
            None => push(
                ch,
                &format!("targetSegments.{n}"),
                None,
                Some(want[i].clone()),
            ),
        }
    }
    for (j, n) in have_names.iter().enumerate() {
        if at(&want_names, n).is_none() {
            push(
                ch,
                &format!("targetSegments.{n}"),
                Some(have[j].clone()),
                None,
            );
        }
    }
    // Segments are tried in order: the first that matches a user decides.
    let common = |of: &[String], other: &[String]| -> Vec<Value> {
        of.iter()
            .filter(|n| other.contains(n))
            .map(|n| Value::String(n.clone()))
            .collect()
    };
    let (b, a) = (
        common(&have_names, &want_names),
        common(&want_names, &have_names),
    );
    if b != a {
        push(
            ch,
            "targetSegments",
            Some(Value::Array(b)),
            Some(Value::Array(a)),
        );
    }
}

/// The deployments the flag is served through, by id; shown by label.
fn flag_deployments(
    ids: &[String],
    lf: &LiveFlag,
    live: &Live,
    d: &mut FlagDiff,
    ch: &mut Vec<Change>,
) {
    let want: BTreeSet<&String> = ids.iter().collect();
    let have: BTreeSet<&String> = lf.deployments.iter().collect();
    if want != have {
        d.deployments_add = want.difference(&have).map(|x| x.to_string()).collect();
        d.deployments_remove = have.difference(&want).map(|x| x.to_string()).collect();
        let label = |ids: &[String]| -> Vec<String> {
            ids.iter().map(|i| live.deployment_label(i)).collect()
        };
        push(
            ch,
            "deployments",
            Some(set_value(&label(&lf.deployments))),
            Some(set_value(&label(ids))),
        );
        if !d.deployments_remove.is_empty() {
            d.destructive = true;
            d.warnings.push(format!(
                "removing deployment(s) {} from {}: apps using those SDK keys stop receiving it",
                label(&d.deployments_remove).join(", "),
                lf.key
            ));
        }
    }
}

/// Each variant's users and cohorts that are managed: what to remove (from
/// a variant that stays) and what to add.
fn id_lists(
    spec: &FlagSpec,
    lf: &LiveFlag,
    source: &BTreeMap<String, Option<String>>,
    d: &mut FlagDiff,
    ch: &mut Vec<Change>,
) {
    for v in spec.variants.iter().flatten() {
        let src = source.get(&v.key).cloned().flatten();
        for list in IdList::ALL {
            let Some(want) = list.wanted(v) else { continue };
            let have: Vec<String> = src
                .as_ref()
                .and_then(|s| list.live(lf).get(s))
                .cloned()
                .unwrap_or_default();
            let path = format!("variants.{}.{}", v.key, list.field());
            let Some((add, remove)) = id_set_change(ch, &path, &have, want) else {
                continue;
            };
            // A variant new to the flag has nothing to remove.
            let remove = if src.is_some() { remove } else { Vec::new() };
            if !remove.is_empty() || !add.is_empty() {
                d.id_lists.push(IdListChange {
                    list,
                    variant: v.key.clone(),
                    remove,
                    add,
                });
            }
        }
    }
}
