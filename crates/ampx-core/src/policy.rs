//! Policy as code and rollout schedules.
//!
//! A `kind: Policy` document sets rules every flag and experiment is held
//! to, each `error`, `warning` or `off`: a description, a key pattern,
//! required tags, the most a rollout may rise per apply, an expiry date,
//! and how long a flag may serve one variant to everyone. An object waives
//! a rule with `waive: [{rule, reason}]`. The offline rules need only the
//! manifests; `maxRolloutStep` and `stale` also read the live project,
//! which the caller passes in as [`LiveFacts`].
//!
//! A `schedule` sets `rolloutPercentage` as time passes: the latest step
//! that is due wins. "Now" is always passed in.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::manifest::{
    Diagnostic, FlagSpec, Located, Location, ManifestSet, ObjectKind, PolicySpec, Severity,
};
use crate::time;

/// The rules, as `waive` names them.
pub const RULES: &[&str] = &[
    "requireDescription",
    "keyPattern",
    "requireTags",
    "maxRolloutStep",
    "expiry",
    "stale",
];

/// One rule broken by one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub severity: Severity,
    pub kind: ObjectKind,
    pub key: String,
    pub message: String,
    /// The line the finding is about.
    #[serde(skip)]
    pub at: Location,
    /// The reason given in `waive`, when the object waives the rule: then
    /// the violation is shown but counts for nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
}

impl Violation {
    /// Whether it stops `plan` and `apply`.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.waived.is_none()
    }
}

/// What the live project says, for the rules that read it.
#[derive(Debug, Clone, Default)]
pub struct LiveFacts {
    /// The live `rolloutPercentage` of each flag and experiment, by kind
    /// and key.
    pub rollout: HashMap<(ObjectKind, String), i64>,
    /// Since when each live flag or experiment has served one variant to
    /// everyone (seconds since the epoch), for those that do.
    pub one_variant_since: HashMap<(ObjectKind, String), i64>,
}

/// Offline checks of a Policy document: its key pattern compiles and its
/// numbers make sense.
pub fn validate_policy(p: &Located<PolicySpec>, errors: &mut Vec<Diagnostic>) {
    let r = &p.spec.rules;
    let mut fail = |path: &str, message: String| {
        errors.push(Diagnostic {
            file: p.file.clone(),
            pos: p.doc.pos(path),
            message,
            hint: None,
        })
    };
    if let Some(k) = &r.key_pattern {
        if let Err(e) = regex::Regex::new(&k.pattern) {
            fail(
                "rules.keyPattern.pattern",
                format!("`{}` is not a regular expression: {e}", k.pattern),
            );
        }
    }
    if let Some(m) = &r.max_rollout_step {
        if !(1..=100).contains(&m.points) {
            fail(
                "rules.maxRolloutStep.points",
                format!("points must be 1 to 100, not {}", m.points),
            );
        }
    }
    if let Some(e) = &r.expiry {
        if !(1..=36_500).contains(&e.max_days) {
            fail(
                "rules.expiry.maxDays",
                format!("maxDays must be 1 to 36500, not {}", e.max_days),
            );
        }
    }
    if let Some(s) = &r.stale {
        if !(1..=36_500).contains(&s.days) {
            fail(
                "rules.stale.days",
                format!("days must be 1 to 36500, not {}", s.days),
            );
        }
    }
    if let Some(t) = &r.require_tags {
        if t.any_of.is_empty() {
            fail(
                "rules.requireTags.anyOf",
                "anyOf names no tag pattern".into(),
            );
        }
    }
}

/// Offline checks of a flag's policy fields: every waiver names a rule and
/// gives a reason, `expires` is a date, and a schedule's steps are times in
/// order with percentages from 0 to 100.
pub fn validate_flag(f: &Located<FlagSpec>, errors: &mut Vec<Diagnostic>) {
    let mut fail = |path: &str, message: String, hint: Option<String>| {
        errors.push(Diagnostic {
            file: f.file.clone(),
            pos: f.doc.pos(path),
            message,
            hint,
        })
    };
    for (i, w) in f.spec.waive.iter().flatten().enumerate() {
        if !RULES.contains(&w.rule.as_str()) {
            fail(
                &format!("waive[{i}].rule"),
                format!("`{}` is not a policy rule", w.rule),
                Some(match crate::manifest::nearest(&w.rule, RULES) {
                    Some(n) => format!("did you mean `{n}`? rules: {}", RULES.join(", ")),
                    None => format!("rules: {}", RULES.join(", ")),
                }),
            );
        }
        if w.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            fail(
                &format!("waive[{i}]"),
                format!("the waiver of `{}` gives no reason", w.rule),
                Some("say why, for whoever reviews it: `reason: \"…\"`".into()),
            );
        }
    }
    if let Some(e) = &f.spec.expires {
        if time::parse(e).is_none() {
            fail(
                "expires",
                format!("`{e}` is not a date (write it as 2027-03-01)"),
                None,
            );
        }
    }
    let mut last: Option<i64> = None;
    for (i, step) in f.spec.schedule.iter().flatten().enumerate() {
        match time::parse(&step.at) {
            None => fail(
                &format!("schedule[{i}].at"),
                format!(
                    "`{}` is not a time (write it as 2026-12-05T09:00:00Z)",
                    step.at
                ),
                None,
            ),
            Some(t) if last.is_some_and(|l| t <= l) => fail(
                &format!("schedule[{i}].at"),
                "schedule steps must be in time order, each later than the one before".into(),
                None,
            ),
            Some(t) => last = Some(t),
        }
        if !(0..=100).contains(&step.rollout_percentage) {
            fail(
                &format!("schedule[{i}].rolloutPercentage"),
                format!(
                    "rolloutPercentage must be 0 to 100, not {}",
                    step.rollout_percentage
                ),
                None,
            );
        }
    }
}

/// Where a flag's schedule stands at `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    pub kind: ObjectKind,
    pub key: String,
    /// The step in force (its time and percentage), if one is due.
    pub current: Option<(i64, i64)>,
    /// The next step, if any.
    pub next: Option<(i64, i64)>,
    /// The percentage before the first step (the manifest's own).
    pub before: Option<i64>,
}

/// The steps of a schedule, as (time, percentage), skipping any that do not
/// read (validation has reported them).
fn steps(spec: &FlagSpec) -> Vec<(i64, i64)> {
    spec.schedule
        .iter()
        .flatten()
        .filter_map(|s| Some((time::parse(&s.at)?, s.rollout_percentage)))
        .collect()
}

/// Sets every scheduled flag's `rolloutPercentage` to the step due at
/// `now` (the latest whose time has come; before the first step, the
/// manifest's own value stays), and says where each schedule stands.
pub fn apply_schedules(set: &mut ManifestSet, now: i64) -> Vec<Scheduled> {
    let mut out = Vec::new();
    for f in set.flags.iter_mut() {
        let steps = steps(&f.spec);
        if steps.is_empty() {
            continue;
        }
        let current = steps.iter().rev().find(|(at, _)| *at <= now).copied();
        let next = steps.iter().find(|(at, _)| *at > now).copied();
        let before = f.spec.rollout_percentage;
        if let Some((_, p)) = current {
            f.spec.rollout_percentage = Some(p);
        }
        out.push(Scheduled {
            kind: f.spec.kind,
            key: f.spec.key.clone(),
            current,
            next,
            before,
        });
    }
    out
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Every rule the manifests' flags and experiments break: the offline
/// rules always, `maxRolloutStep` and `stale` when `live` is given. `now`
/// is seconds since the epoch. Sorted by file and line.
pub fn check(set: &ManifestSet, live: Option<&LiveFacts>, now: i64) -> Vec<Violation> {
    let Some(policy) = &set.policy else {
        return Vec::new();
    };
    let rules = &policy.spec.rules;
    let pattern = rules
        .key_pattern
        .as_ref()
        .and_then(|k| regex::Regex::new(&k.pattern).ok().map(|r| (k, r)));
    let mut out = Vec::new();
    for f in &set.flags {
        let spec = &f.spec;
        if spec.archived == Some(true) {
            continue;
        }
        let id = (spec.kind, spec.key.clone());
        let noun = spec.kind.noun();
        let waived = |rule: &str| {
            spec.waive
                .iter()
                .flatten()
                .find(|w| w.rule == rule)
                .and_then(|w| w.reason.clone())
        };
        let mut add = |rule: &'static str, severity: Severity, path: &str, message: String| {
            if severity == Severity::Off {
                return;
            }
            out.push(Violation {
                rule,
                severity,
                kind: spec.kind,
                key: spec.key.clone(),
                message,
                at: f.at(path),
                waived: waived(rule),
            });
        };
        if let Some(sev) = rules.require_description {
            if spec
                .description
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
            {
                add(
                    "requireDescription",
                    sev,
                    "key",
                    format!("{noun} `{}` has no description", spec.key),
                );
            }
        }
        if let Some((rule, re)) = &pattern {
            if !re.is_match(&spec.key) {
                add(
                    "keyPattern",
                    rule.severity,
                    "key",
                    format!("key `{}` does not match `{}`", spec.key, rule.pattern),
                );
            }
        }
        if let Some(rule) = &rules.require_tags {
            let tags = spec.tags.as_deref().unwrap_or_default();
            if !tags.iter().any(|t| rule.any_of.iter().any(|p| glob(p, t))) {
                add(
                    "requireTags",
                    rule.severity,
                    if spec.tags.is_some() { "tags" } else { "key" },
                    format!(
                        "{noun} `{}` has no tag matching {}",
                        spec.key,
                        rule.any_of
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                );
            }
        }
        if let Some(rule) = &rules.expiry {
            let day = 86_400;
            match spec.expires.as_deref().and_then(time::parse) {
                None if spec.expires.is_none() => add(
                    "expiry",
                    rule.severity,
                    "key",
                    format!(
                        "{noun} `{}` has no `expires` date (at most {} days ahead)",
                        spec.key, rule.max_days
                    ),
                ),
                None => {}
                Some(t) if t <= now => add(
                    "expiry",
                    rule.severity,
                    "expires",
                    format!(
                        "{noun} `{}` expired on {}: remove it from the code and archive it, or move `expires`",
                        spec.key,
                        time::format_date(t)
                    ),
                ),
                Some(t) if t > now.saturating_add(rule.max_days.saturating_mul(day)) => add(
                    "expiry",
                    rule.severity,
                    "expires",
                    format!(
                        "{noun} `{}` expires on {}, more than {} days ahead",
                        spec.key,
                        time::format_date(t),
                        rule.max_days
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(rule) = &rules.max_rollout_step {
            // Each step of a schedule, offline, from the manifest's own
            // value (the set may hold the step due now in its place).
            let own = set
                .schedules
                .iter()
                .find(|s| s.kind == spec.kind && s.key == spec.key)
                .map_or(spec.rollout_percentage, |s| s.before);
            let mut prev = own.filter(|_| spec.schedule.is_some());
            for (i, (at, p)) in steps(spec).into_iter().enumerate() {
                if let Some(before) = prev {
                    if p - before > rule.points {
                        add(
                            "maxRolloutStep",
                            rule.severity,
                            &format!("schedule[{i}].rolloutPercentage"),
                            format!(
                                "the schedule of {noun} `{}` raises the rollout from {before}% to {p}% at {}, more than {} points in one step",
                                spec.key,
                                time::format(at),
                                rule.points
                            ),
                        );
                    }
                }
                prev = Some(p);
            }
            // This apply, against live (a flag the apply creates, on, rises
            // from nothing).
            let have = live.and_then(|l| {
                l.rollout
                    .get(&id)
                    .copied()
                    .or((spec.enabled == Some(true)).then_some(0))
            });
            if let (Some(want), Some(have)) = (spec.rollout_percentage, have) {
                if want - have > rule.points {
                    add(
                        "maxRolloutStep",
                        rule.severity,
                        if spec.schedule.is_some() { "schedule" } else { "rolloutPercentage" },
                        format!(
                            "{noun} `{}` would go from {have}% to {want}% in one apply, more than {} points",
                            spec.key, rule.points
                        ),
                    );
                }
            }
        }
        if let Some(rule) = &rules.stale {
            if let Some(since) = live.and_then(|l| l.one_variant_since.get(&id)) {
                let days = (now - since) / 86_400;
                if days >= rule.days {
                    add(
                        "stale",
                        rule.severity,
                        "key",
                        format!(
                            "{noun} `{}` has served one variant to everyone for {days} days (since {}): it is stale",
                            spec.key,
                            time::format_date(*since)
                        ),
                    );
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.at.file, a.at.line).cmp(&(&b.at.file, b.at.line)));
    out
}

#[cfg(test)]
mod tests;
