//! The Terraform-like text plan: one header per object (`+` create, `~`
//! change, `-` archive), field-level changes, unified diffs (via `similar`)
//! for multi-line values, loud warnings, a summary, and the numbered list of
//! API calls apply would make. Deterministic, so it can be snapshot-tested;
//! coloured only when asked (a terminal without `NO_COLOR`).

use std::fmt::Write as _;
use std::io::IsTerminal;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::diff::{Action, Change};
use crate::plan::{ObjectPlan, Plan};

/// ANSI styling, on or off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

/// `--color`: 0 auto, 1 always, 2 never.
static COLOR: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets `--color` for this process: `Some(true)` always, `Some(false)`
/// never, `None` decided per stream.
pub fn set_color(choice: Option<bool>) {
    let v = match choice {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    };
    COLOR.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a stream gets colour: `--color always|never` when given; else
/// `NO_COLOR` (non-empty) says no, `CLICOLOR_FORCE` (non-empty, not `0`)
/// says yes, `TERM=dumb` says no, and otherwise a terminal gets colour.
pub fn colour_for(is_terminal: bool) -> bool {
    match COLOR.load(std::sync::atomic::Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if set("CLICOLOR_FORCE") {
        return true;
    }
    if std::env::var("TERM").is_ok_and(|t| t == "dumb") {
        return false;
    }
    is_terminal
}

impl Style {
    /// Colour as [`colour_for`] decides for standard output.
    pub fn for_stdout() -> Style {
        Style {
            color: colour_for(std::io::stdout().is_terminal()),
        }
    }
    pub fn plain() -> Style {
        Style { color: false }
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

/// A value on one line, as YAML writes it, if it fits there.
fn inline(v: &Value) -> Option<String> {
    crate::export::yaml_out::inline_value(v, 100)
}

/// A value as block YAML, a line per field, for line diffs.
fn lines_of(v: &Value) -> String {
    crate::export::yaml_out::block_value(v)
}

fn set_delta(before: &Value, after: &Value) -> Option<(Vec<String>, Vec<String>)> {
    let (Value::Array(b), Value::Array(a)) = (before, after) else {
        return None;
    };
    let as_str = |v: &Value| v.as_str().map(str::to_string);
    let b: Option<Vec<String>> = b.iter().map(as_str).collect();
    let a: Option<Vec<String>> = a.iter().map(as_str).collect();
    let (b, a) = (b?, a?);
    let added = a.iter().filter(|x| !b.contains(x)).cloned().collect();
    let removed = b.iter().filter(|x| !a.contains(x)).cloned().collect();
    Some((added, removed))
}

const SET_FIELDS: &[&str] = &["tags", "deployments"];

fn is_set_field(path: &str) -> bool {
    SET_FIELDS.contains(&path) || path.ends_with(".inclusions")
}

/// Payloads and segments read best as line diffs, whatever their size (a
/// segment order, a list of names, reads best on one line).
fn always_multiline(path: &str, v: &Value) -> bool {
    let segment = path.starts_with("targetSegments");
    let nested = match v {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().any(|x| x.is_object() || x.is_array()),
        _ => false,
    };
    (path.ends_with(".payload") && (v.is_object() || v.is_array())) || (segment && nested)
}

/// A variant renamed in place (`renamedFrom`): `variants.<new>` going from
/// the old key to the new one.
fn renamed_variant<'a>(
    path: &str,
    before: &'a Value,
    after: &'a Value,
) -> Option<(&'a str, &'a str)> {
    let key = path.strip_prefix("variants.")?;
    match (before, after) {
        (Value::String(b), Value::String(a)) if a == key => Some((b, a)),
        _ => None,
    }
}

fn inline_for(path: &str, v: &Value) -> Option<String> {
    if always_multiline(path, v) {
        None
    } else {
        inline(v)
    }
}

/// One change, its first line ending with where the desired value comes
/// from (`# flags/checkout.yaml:14 (environments.prod)`).
fn render_change(out: &mut String, c: &Change, st: Style) {
    let start = out.len();
    render_change_lines(out, c, st);
    if let Some(src) = &c.source {
        if let Some(nl) = out[start..].find('\n') {
            let note = st.dim(&format!("  # {}", printable_text(&src.to_string())));
            out.insert_str(start + nl, &note);
        }
    }
}

fn render_change_lines(out: &mut String, c: &Change, st: Style) {
    let pad = "      ";
    match (&c.before, &c.after) {
        (None, Some(a)) => match inline_for(&c.path, a) {
            Some(s) => {
                let _ = writeln!(out, "    {} {}: {}", st.green("+"), c.path, s);
            }
            None => {
                let _ = writeln!(out, "    {} {}:", st.green("+"), c.path);
                for l in lines_of(a).lines() {
                    let _ = writeln!(out, "{pad}{}", st.green(&format!("+ {l}")));
                }
            }
        },
        (Some(b), None) => match inline_for(&c.path, b) {
            Some(s) => {
                let _ = writeln!(out, "    {} {}: {}", st.red("-"), c.path, s);
            }
            None => {
                let _ = writeln!(out, "    {} {}", st.red("-"), c.path);
            }
        },
        (Some(b), Some(a)) => {
            if let Some((from, to)) = renamed_variant(&c.path, b, a) {
                let _ = writeln!(
                    out,
                    "    {} variant {} renamed to {} (its users, payload and history stay with it)",
                    st.yellow("~"),
                    crate::export::yaml_out::quote(from),
                    crate::export::yaml_out::quote(to)
                );
                return;
            }
            if is_set_field(&c.path) {
                if let Some((added, removed)) = set_delta(b, a) {
                    let _ = writeln!(
                        out,
                        "    {} {}: {} added, {} removed",
                        st.yellow("~"),
                        c.path,
                        added.len(),
                        removed.len()
                    );
                    const SHOWN: usize = 20;
                    for x in added.iter().take(SHOWN) {
                        let _ = writeln!(out, "{pad}{}", st.green(&format!("+ {x}")));
                    }
                    for x in removed.iter().take(SHOWN) {
                        let _ = writeln!(out, "{pad}{}", st.red(&format!("- {x}")));
                    }
                    let hidden =
                        added.len().saturating_sub(SHOWN) + removed.len().saturating_sub(SHOWN);
                    if hidden > 0 {
                        let _ = writeln!(out, "{pad}  … and {hidden} more");
                    }
                    return;
                }
            }
            match (inline_for(&c.path, b), inline_for(&c.path, a)) {
                (Some(bs), Some(as_)) => {
                    let _ = writeln!(out, "    {} {}: {} → {}", st.yellow("~"), c.path, bs, as_);
                }
                _ => {
                    let _ = writeln!(out, "    {} {}:", st.yellow("~"), c.path);
                    let (old, new) = (lines_of(b), lines_of(a));
                    let diff = TextDiff::from_lines(&old, &new);
                    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
                        if i > 0 {
                            let _ = writeln!(out, "{pad}  ⋮");
                        }
                        for o in group {
                            for ch in diff.iter_changes(o) {
                                let line = ch.value().trim_end_matches('\n');
                                let text = match ch.tag() {
                                    ChangeTag::Delete => st.red(&format!("- {line}")),
                                    ChangeTag::Insert => st.green(&format!("+ {line}")),
                                    ChangeTag::Equal => format!("  {line}"),
                                };
                                let _ = writeln!(out, "{pad}{text}");
                            }
                        }
                    }
                }
            }
        }
        (None, None) => {}
    }
}

/// What a rendering reports: a plan to apply, or drift found by `ampx drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Plan,
    Drift,
}

fn header(o: &ObjectPlan, st: Style, report: Report) -> String {
    let id =
        o.id.as_deref()
            .map(|i| format!(" (id {i})"))
            .unwrap_or_default();
    let key = st.bold(&o.key);
    let kind = &o.kind;
    let destructive = if o.destructive {
        format!(" {}", st.red("(destructive)"))
    } else {
        String::new()
    };
    match (report, o.action) {
        (Report::Plan, Action::Create) => {
            format!("{} {kind} {key} will be created", st.green("+"))
        }
        (Report::Plan, Action::Update) => format!(
            "{} {kind} {key}{id} will be changed{destructive}",
            st.yellow("~")
        ),
        (Report::Plan, Action::Unarchive) => format!(
            "{} {kind} {key}{id} will be unarchived and changed{destructive}",
            st.yellow("~")
        ),
        (Report::Plan, Action::Archive) => format!(
            "{} {kind} {key}{id} will be archived {}",
            st.red("-"),
            st.red("(destructive)")
        ),
        (Report::Drift, Action::Create) => format!(
            "{} {kind} {key} is missing from the live project",
            st.green("+")
        ),
        (Report::Drift, Action::Update) => format!(
            "{} {kind} {key}{id} differs from its manifest",
            st.yellow("~")
        ),
        (Report::Drift, Action::Unarchive) => format!(
            "{} {kind} {key}{id} is archived, but its manifest keeps it active",
            st.yellow("~")
        ),
        (Report::Drift, Action::Archive) => format!(
            "{} {kind} {key}{id} is active, but the manifests archive it",
            st.red("-")
        ),
    }
}

/// "last changed by alice@example.com at 2026-11-20T10:00:00Z", when known.
pub fn attribution_line(o: &ObjectPlan) -> Option<String> {
    let a = o.last_modified.as_ref()?;
    let mut s = String::from("last changed");
    if let Some(by) = &a.by {
        s.push_str(&format!(" by {by}"));
    }
    if let Some(at) = &a.at {
        s.push_str(&format!(" at {at}"));
    }
    (a.by.is_some() || a.at.is_some()).then_some(s)
}

/// One object's header, facts, warnings and changes.
pub fn render_object(out: &mut String, o: &ObjectPlan, st: Style, report: Report) {
    let _ = writeln!(out, "{}", header(o, st, report));
    if !o.context.is_empty() {
        let _ = writeln!(out, "    ({})", o.context.join(", "));
    }
    if let Some(line) = attribution_line(o) {
        let _ = writeln!(out, "    {line}");
    }
    if !o.after.is_empty() && report == Report::Plan {
        let _ = writeln!(out, "    (applied after {})", o.after.join(", "));
    }
    for w in &o.warnings {
        let _ = writeln!(out, "    {}", st.red(&format!("! WARNING: {w}")));
    }
    for c in &o.changes {
        render_change(out, c, st);
    }
}

fn requests_line(out: &mut String, requests: usize) {
    let _ = writeln!(
        out,
        "Read the live state with {} API request{}.",
        requests,
        if requests == 1 { "" } else { "s" }
    );
}

/// The counts line: "1 to create, 2 to change, 0 to archive".
pub fn counts(plan: &Plan) -> String {
    format!(
        "{} to create, {} to change, {} to archive",
        plan.count(Action::Create),
        plan.count(Action::Update) + plan.count(Action::Unarchive),
        plan.count(Action::Archive)
    )
}

/// "Plan for project 100001 on https://…", when the plan says where.
fn target_line(out: &mut String, plan: &Plan, what: &str, st: Style) {
    if let Some(t) = &plan.target {
        let _ = writeln!(out, "{}\n", st.bold(&format!("{what} for {t}")));
    }
}

/// What `--target` kept and left out, in one sentence.
pub fn selection_note(plan: &Plan) -> Option<String> {
    let sel = plan.selected.as_ref()?;
    let needed = match sel.needed.len() {
        0 => String::new(),
        _ => format!(" and {}, which they need first", sel.needed.join(", ")),
    };
    Some(format!(
        "Only the targets {}{needed}: {} other object(s) that differ are left out, and prune is off.",
        sel.targets.join(", "),
        sel.left_out
    ))
}

/// Most keys named in a "not planned" line; the rest are counted.
const UNKNOWN_SHOWN: usize = 10;

fn plural(noun: &str, n: usize) -> String {
    match n {
        1 => noun.to_string(),
        _ => format!("{noun}s"),
    }
}

/// Up to [`UNKNOWN_SHOWN`] keys, then how many more (with `rest` after).
fn some_keys(keys: &[String], rest: &str) -> String {
    let mut shown = keys
        .iter()
        .take(UNKNOWN_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > UNKNOWN_SHOWN {
        shown.push_str(&format!(" and {} more{rest}", keys.len() - UNKNOWN_SHOWN));
    }
    shown
}

/// What a report leaves as it is, titled, a line each: the live objects in
/// no manifest (drift), then what the plan could not compare or left alone,
/// one line per kind, field and reason. Text and markdown show the same.
pub fn notes(plan: &Plan) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    if !plan.unmanaged.is_empty() {
        let lines = plan
            .unmanaged
            .iter()
            .map(|u| {
                let n = u.keys.len();
                format!(
                    "{n} {}: {}",
                    plural(u.kind.noun(), n),
                    some_keys(&u.keys, "")
                )
            })
            .collect();
        out.push((
            format!(
                "Not in any manifest ({}): ampx leaves these as they are (`prune: true` in the Project archives them).",
                plan.unmanaged.iter().map(|u| u.keys.len()).sum::<usize>()
            ),
            lines,
        ));
    }
    if !plan.schedules.is_empty() {
        let at = |t: i64| crate::time::format(t);
        let lines = plan
            .schedules
            .iter()
            .map(|s| {
                let now = match (s.current, s.before) {
                    (Some((t, p)), _) => format!("{p}% since {}", at(t)),
                    (None, Some(p)) => format!("{p}% until its first step"),
                    (None, None) => "no step due yet".to_string(),
                };
                let next = match s.next {
                    Some((t, p)) => format!("next {p}% at {}", at(t)),
                    None => "the last step".to_string(),
                };
                format!("{} {}: {now}; {next}", s.kind.noun(), s.key)
            })
            .collect();
        out.push((
            format!(
                "Rollout schedules ({}): the step due sets rolloutPercentage; apply again after the next step's time to move on.",
                plan.schedules.len()
            ),
            lines,
        ));
    }
    if !plan.unknown.is_empty() {
        let lines = plan
            .unknown
            .iter()
            .map(|u| {
                let n = u.keys.len();
                let keys = some_keys(&u.keys, " (`--format json` lists them all)");
                format!(
                    "{n} {} {keys}: {}: {}",
                    plural(u.kind.noun(), n),
                    u.field,
                    u.note
                )
            })
            .collect();
        out.push((
            format!(
                "Not planned ({}): left as it is, for the reason given.",
                plan.unknown.iter().map(|u| u.keys.len()).sum::<usize>()
            ),
            lines,
        ));
    }
    out
}

fn notes_section(out: &mut String, plan: &Plan, st: Style) {
    for (title, lines) in notes(plan) {
        let _ = writeln!(out, "{}", st.bold(&title));
        for line in lines {
            let _ = writeln!(out, "  ? {line}");
        }
        let _ = writeln!(out);
    }
}

/// Renders a plan.
pub fn render(plan: &Plan, st: Style) -> String {
    let plan = &printable(plan);
    let mut out = String::new();
    target_line(&mut out, plan, "Plan", st);
    if let Some(note) = selection_note(plan) {
        let _ = writeln!(out, "{}\n", st.yellow(&note));
    }
    if plan.is_empty() && plan.selected.is_some() {
        let _ = writeln!(out, "No changes to the targets.");
    } else if plan.is_empty() {
        let _ = writeln!(out, "No changes. The live project matches the manifests.");
    }
    for o in &plan.objects {
        render_object(&mut out, o, st, Report::Plan);
        let _ = writeln!(out);
    }
    let warnings: Vec<&String> = plan.warnings().collect();
    if !warnings.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            st.red(&st.bold(&format!("{} warning(s):", warnings.len())))
        );
        for w in warnings {
            let _ = writeln!(out, "  {}", st.red(&format!("! {w}")));
        }
        let _ = writeln!(out);
    }
    if !plan.is_empty() {
        let _ = writeln!(out, "{} {}.", st.bold("Plan:"), counts(plan));
        let _ = writeln!(out);
        let _ = writeln!(out, "API calls apply would make ({}):", plan.op_count());
        let mut n = 0;
        for o in &plan.objects {
            for op in &o.ops {
                n += 1;
                let path = op.path.render(&format!("<id of {}>", o.key));
                let _ = writeln!(out, "  {n:>3}. {:<6} {path}  ({})", op.method, op.summary);
            }
        }
        let _ = writeln!(out);
    }
    notes_section(&mut out, plan, st);
    requests_line(&mut out, plan.requests);
    out
}

/// Renders a drift report: the live project against the manifests, with
/// values shown as `live → manifest`.
pub fn render_drift(plan: &Plan, st: Style) -> String {
    let plan = &printable(plan);
    let mut out = String::new();
    target_line(&mut out, plan, "Drift check", st);
    let unmanaged: usize = plan.unmanaged.iter().map(|u| u.keys.len()).sum();
    if plan.is_empty() && unmanaged == 0 {
        let _ = writeln!(out, "No drift. The live project matches the manifests.");
    } else if plan.is_empty() {
        let _ = writeln!(
            out,
            "No drift in what the manifests name; {unmanaged} live object(s) are in no manifest (below)."
        );
        let _ = writeln!(out);
    } else {
        let _ = writeln!(
            out,
            "{} {} object(s) differ from the manifests (values shown as live → manifest).",
            st.bold("Drift:"),
            plan.objects.len()
        );
        let _ = writeln!(out);
    }
    for o in &plan.objects {
        render_object(&mut out, o, st, Report::Drift);
        let _ = writeln!(out);
    }
    if !plan.is_empty() {
        let _ = writeln!(
            out,
            "To bring the live project back to the manifests: ampx apply ({}, {} API call(s)).",
            counts(plan),
            plan.op_count()
        );
    }
    notes_section(&mut out, plan, st);
    requests_line(&mut out, plan.requests);
    out
}

/// `s` with every control character but line feed and tab shown as its
/// picture (ESC as `␛`, BEL as `␇`, CR as `␍`; a C1 control as `�`), so that
/// text from the live project (a key, a tag, a description) cannot move the
/// cursor, ring the bell or recolour the terminal.
pub fn printable_text(s: &str) -> String {
    let shown = |c: char| match c {
        '\n' | '\t' => c,
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        c if c.is_control() => '\u{fffd}',
        c => c,
    };
    s.chars().map(shown).collect()
}

fn printable_value(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(printable_text(s)),
        Value::Array(a) => Value::Array(a.iter().map(printable_value).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (printable_text(k), printable_value(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The plan with every text a terminal would show made printable.
fn printable(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    for o in &mut plan.objects {
        o.key = printable_text(&o.key);
        for t in o
            .context
            .iter_mut()
            .chain(&mut o.warnings)
            .chain(&mut o.after)
        {
            *t = printable_text(t);
        }
        for c in &mut o.changes {
            c.path = printable_text(&c.path);
            c.before = c.before.as_ref().map(printable_value);
            c.after = c.after.as_ref().map(printable_value);
        }
        for op in &mut o.ops {
            op.summary = printable_text(&op.summary);
        }
        if let Some(a) = &mut o.last_modified {
            a.by = a.by.as_deref().map(printable_text);
            a.at = a.at.as_deref().map(printable_text);
        }
    }
    for u in &mut plan.unknown {
        for k in &mut u.keys {
            *k = printable_text(k);
        }
    }
    for u in &mut plan.unmanaged {
        for k in &mut u.keys {
            *k = printable_text(k);
        }
    }
    plan
}
