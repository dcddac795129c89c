//! Live objects no manifest names: archived with `prune: true`, and the
//! owner tag that marks what ampx manages.

use super::*;

/// A manifest with the project's `ownerTag` added to its tags. With `tags`
/// absent the live tags stay as they are, plus the owner tag; when the live
/// tags are unknown (the answer does not show them) the manifest is left as
/// it is: replacing tags nobody could read would drop them all.
pub(super) fn with_owner_tag(f: &Located<FlagSpec>, owner: &str, live: &Live) -> Located<FlagSpec> {
    let mut g = f.clone();
    let mut tags = match &f.spec.tags {
        Some(t) => t.clone(),
        None => match live.objects(f.spec.kind).get(&f.spec.key) {
            None => Vec::new(),
            Some(lf) => match &lf.tags {
                Some(t) => t.clone(),
                None => return g,
            },
        },
    };
    if !tags.iter().any(|t| t == owner) {
        tags.push(owner.to_string());
    }
    g.spec.tags = Some(tags);
    g
}

/// Archives for `prune: true`: live, unarchived flags and experiments that no
/// manifest names (with an `ownerTag`, only those that carry it).
pub(super) fn prune_diffs(set: &ManifestSet, live: &Live) -> Vec<FlagDiff> {
    // With an owner tag, an object whose tags no answer shows is left alone:
    // whether ampx owns it cannot be known.
    let owner = set.project.spec.owner_tag.as_deref();
    let mut out = Vec::new();
    for kind in [ObjectKind::Flag, ObjectKind::Experiment] {
        // A key a group lists, or one declared for another environment only,
        // is named too: prune never archives it.
        let named = set.named(kind);
        for (key, lf) in live.objects(kind) {
            if lf.is_archived() || named.contains(key.as_str()) {
                continue;
            }
            if lf.is_not_editable() {
                out.push(FlagDiff {
                    kind,
                    key: key.clone(),
                    unknown: vec![(
                        "archived".into(),
                        "prune: a web or Guides & Surveys experiment, which the API does not let anyone archive; left alone".into(),
                    )],
                    ..Default::default()
                });
                continue;
            }
            if let (Some(o), None) = (owner, &lf.tags) {
                out.push(FlagDiff {
                    kind,
                    key: key.clone(),
                    unknown: vec![(
                        "tags".into(),
                        format!("prune: the API does not show their tags, so whether they carry the owner tag `{o}` cannot be known; left alone"),
                    )],
                    ..Default::default()
                });
                continue;
            }
            if owner.is_some_and(|o| !lf.tags.iter().flatten().any(|t| t == o)) {
                continue;
            }
            let mut d = FlagDiff {
                kind,
                key: key.clone(),
                id: Some(lf.id.clone()),
                action: Some(Action::Archive),
                pruned: true,
                ..Default::default()
            };
            d.context.push("prune: no manifest names it".into());
            if lf.is_running() {
                d.warnings.push(format!(
                    "{} {key} is running: archiving it ends the experiment for every user in it",
                    kind.noun()
                ));
            }
            d.changes.push(Change {
                path: "archived".into(),
                before: Some(Value::Bool(false)),
                after: Some(Value::Bool(true)),
                source: None,
            });
            out.push(d);
        }
    }
    out
}
