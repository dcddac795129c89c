//! Markdown for a pull-request comment or an issue: a title with the counts,
//! a summary table, then one collapsible section per object with its changes
//! as a `diff` block and the API calls. GitHub refuses comments over 65,536
//! characters, so the document is kept under [`LIMIT`]: sections that do not
//! fit are left out and the comment says how many, and where to see them all.

use std::fmt::Write as _;

use crate::diff::Action;
use crate::plan::{ObjectPlan, Plan};
use crate::render::text::{attribution_line, counts, render_object, Report, Style};

/// GitHub's limit on a comment or issue body, in characters.
pub const GITHUB_LIMIT: usize = 65_536;
/// What the document stays under, leaving room for a marker a workflow adds.
pub const LIMIT: usize = GITHUB_LIMIT - 1_536;
/// A single section is cut to this many characters of diff.
const SECTION_MAX: usize = 20_000;

/// Text safe in a table cell or a summary line (no HTML, no pipes).
fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ")
}

fn action_word(report: Report, o: &ObjectPlan) -> &'static str {
    match (report, o.action) {
        (Report::Plan, Action::Create) => "create",
        (Report::Plan, Action::Update) if o.destructive => "**change (destructive)**",
        (Report::Plan, Action::Update) => "change",
        (Report::Plan, Action::Unarchive) if o.destructive => {
            "**unarchive + change (destructive)**"
        }
        (Report::Plan, Action::Unarchive) => "unarchive + change",
        (Report::Plan, Action::Archive) => "**archive (destructive)**",
        (Report::Drift, Action::Create) => "missing live",
        (Report::Drift, Action::Update) => "differs",
        (Report::Drift, Action::Unarchive) => "archived live",
        (Report::Drift, Action::Archive) => "active live, archived in Git",
    }
}

fn sign(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Update | Action::Unarchive => "~",
        Action::Archive => "-",
    }
}

/// A fence longer than any backtick run in `body`.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat(longest.max(2) + 1)
}

/// Cuts `s` to at most `max` bytes on a line boundary.
fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let end = s[..end].rfind('\n').map_or(end, |i| i + 1);
    (&s[..end], true)
}

fn section(o: &ObjectPlan, report: Report) -> String {
    let mut body = String::new();
    render_object(&mut body, o, Style::plain(), report);
    // The diff block reads best with the change signs in the first column.
    let body: String = body
        .lines()
        .skip(1)
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let (shown, was_cut) = cut(&body, SECTION_MAX);
    let mut out = String::new();
    let changes = o.changes.len();
    let _ = writeln!(
        out,
        "<details><summary><code>{}</code> {} <b>{}</b>: {} ({} change{})</summary>\n",
        sign(o.action),
        cell(o.kind.noun()),
        cell(&o.key),
        action_word(report, o),
        changes,
        if changes == 1 { "" } else { "s" }
    );
    let f = fence(shown);
    let _ = writeln!(out, "{f}diff\n{shown}{f}");
    if was_cut {
        let _ = writeln!(
            out,
            "\n_This object's diff is cut here; the text output of ampx shows it whole._"
        );
    }
    if report == Report::Plan && !o.ops.is_empty() {
        let calls: String = o
            .ops
            .iter()
            .map(|op| {
                let path = op.path.render(&format!("<id of {}>", o.key));
                format!("{} {path}  ({})\n", op.method, op.summary)
            })
            .collect();
        let (calls, _) = cut(&calls, SECTION_MAX / 4);
        let f = fence(calls);
        let _ = writeln!(out, "\nAPI calls:\n\n{f}\n{calls}{f}");
    }
    let _ = writeln!(out, "</details>\n");
    out
}

/// Renders a plan or drift report as Markdown, under [`LIMIT`] characters.
pub fn render(plan: &Plan, report: Report) -> String {
    let mut out = String::new();
    let title = match report {
        Report::Plan => "ampx plan",
        Report::Drift => "ampx drift",
    };

    if plan.is_empty() {
        let _ = match report {
            Report::Plan => writeln!(
                out,
                "### {title}: no changes\n\nThe live project matches the manifests."
            ),
            Report::Drift => writeln!(
                out,
                "### {title}: no drift\n\nThe live project matches the manifests."
            ),
        };
    } else {
        let _ = match report {
            Report::Plan => writeln!(
                out,
                "### {title}: {}, {} API call(s)\n",
                counts(plan),
                plan.op_count()
            ),
            Report::Drift => writeln!(
                out,
                "### {title}: {} object(s) differ from the manifests\n\nValues are shown as live → manifest; `ampx apply` would bring them back ({}).\n",
                plan.objects.len(),
                counts(plan)
            ),
        };
        let warnings: Vec<&String> = plan.warnings().collect();
        if !warnings.is_empty() {
            let _ = writeln!(out, "> [!WARNING]");
            for w in &warnings {
                let _ = writeln!(out, "> {}", cell(w));
            }
            let _ = writeln!(out);
        }
        let last = match report {
            Report::Plan => "API calls",
            Report::Drift => "last changed",
        };
        let _ = writeln!(out, "| | kind | key | what | changes | {last} |");
        let _ = writeln!(out, "|---|---|---|---|---:|---|");
        let mut table = String::new();
        let mut rows_cut = 0;
        for o in &plan.objects {
            let tail = match report {
                Report::Plan => o.ops.len().to_string(),
                Report::Drift => attribution_line(o)
                    .map(|l| cell(l.trim_start_matches("last changed ")))
                    .unwrap_or_default(),
            };
            let row = format!(
                "| `{}` | {} | `{}` | {} | {} | {tail} |\n",
                sign(o.action),
                cell(o.kind.noun()),
                cell(&o.key).replace('`', "'"),
                action_word(report, o),
                o.changes.len(),
            );
            // The table may take at most a third of the room.
            if table.len() + row.len() > LIMIT / 3 {
                rows_cut += 1;
                continue;
            }
            table.push_str(&row);
        }
        out.push_str(&table);
        if rows_cut > 0 {
            let _ = writeln!(out, "| | | … {rows_cut} more | | | |");
        }
        let _ = writeln!(out);
    }
    let footer = format!(
        "<sub>Read the live state with {} API request{}.</sub>\n",
        plan.requests,
        if plan.requests == 1 { "" } else { "s" }
    );
    let mut left_out = 0;
    for o in &plan.objects {
        let s = section(o, report);
        // Room for this section, the footer and a truncation note.
        if left_out > 0 || out.len() + s.len() + footer.len() + 300 > LIMIT {
            left_out += 1;
            continue;
        }
        out.push_str(&s);
    }
    for (title, lines) in super::text::notes(plan) {
        let _ = writeln!(out, "> [!NOTE]\n> {title}");
        for line in lines {
            let _ = writeln!(out, "> - {}", cell(&line));
        }
        let _ = writeln!(out);
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "**{left_out} more object(s) not shown**: a GitHub comment holds at most {GITHUB_LIMIT} characters. Run `{title}` for the full report.\n"
        );
    }
    out.push_str(&footer);
    // Under the heading: where the plan's calls go.
    if let (Some(t), Some(end)) = (&plan.target, out.find('\n')) {
        let env = t
            .environment
            .as_ref()
            .map(|e| format!("Environment `{}`, p", cell(e).replace('`', "'")))
            .unwrap_or_else(|| "P".into());
        let line = format!(
            "\n<sub>{env}roject `{}` on `{}`</sub>\n",
            cell(&t.project).replace('`', "'"),
            cell(&t.server).replace('`', "'")
        );
        out.insert_str(end + 1, &line);
    }
    // Under --target, which part of the plan this is.
    if let (Some(note), Some(end)) = (super::text::selection_note(plan), out.find("\n\n")) {
        out.insert_str(end + 2, &format!("> {}\n\n", cell(&note)));
    }
    out
}
