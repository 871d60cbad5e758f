//! A history as a section of the report.

use super::text::{fact_text, since_text};
use super::{History, Run, Seen};
use crate::outcomes::{class, mark};
use hil_report::html::esc;
use std::fmt::Write as _;

/// The history as a section of the report. `cell` gives the attributes of a case's
/// result in a run (`Run::input`, case), so a cell opens that result's details.
pub fn html(h: &History, cell: &dyn Fn(usize, &str) -> String) -> String {
    let mut s = String::new();
    runs_table(&mut s, h);
    if let [.., before, now] = h.runs.as_slice() {
        let _ = write!(
            s,
            "<h4>{} against {}</h4>",
            esc(&now.label()),
            esc(&before.label())
        );
        if h.changes.is_empty() && h.new_driver_messages.is_empty() {
            s.push_str("<p>No case changed outcome; no new driver message.</p>");
        }
        changes_table(&mut s, h, before, now, cell);
        new_driver_lines(&mut s, h);
        facts_list(&mut s, h);
        strip_table(&mut s, h, cell);
    }
    s.push_str("</section>\n");
    s
}

/// The section's heading and a row per run: when, its counts, its journal.
fn runs_table(s: &mut String, h: &History) {
    let _ = write!(
        s,
        "<section class=\"history\" data-board=\"{}\"><h3>{}: {} runs</h3>\
         <table class=\"list history-runs\"><tr><th>run</th><th>started</th><th>results</th>\
         <th>journal</th></tr>",
        esc(&h.board),
        esc(&h.board),
        h.runs.len()
    );
    for r in &h.runs {
        let started = if r.started_unix == 0 {
            "?".to_string()
        } else {
            crate::dates::utc(r.started_unix)
        };
        let chips: String = r
            .counts
            .iter()
            .map(|(o, n)| format!("<span class=\"chip {}\">{o} {n}</span>", class(Some(*o))))
            .collect();
        let _ = write!(
            s,
            "<tr><td>run {}</td><td>{}</td><td>{chips}</td><td><code>{}</code></td></tr>",
            r.number,
            esc(&started),
            esc(&r.source)
        );
    }
    s.push_str("</table>");
}

/// The last run against the one before: a row per case that changed.
fn changes_table(
    s: &mut String,
    h: &History,
    before: &Run,
    now: &Run,
    cell: &dyn Fn(usize, &str) -> String,
) {
    if !h.changes.is_empty() {
        let _ = write!(
            s,
            "<table class=\"list history-changes\"><tr><th>what</th><th>case</th>\
             <th>run {}</th><th>run {}</th><th>message</th></tr>",
            before.number, now.number
        );
        for c in &h.changes {
            let chip = |run: &Run, seen: &Seen| match seen.outcome {
                Some(_) => format!(
                    "<span class=\"chip {} clickable\" {}>{}</span>",
                    class(seen.outcome),
                    cell(run.input, &c.case),
                    esc(&seen.describe())
                ),
                None => format!(
                    "<span class=\"chip o-none\">{}</span>",
                    esc(&seen.describe())
                ),
            };
            let _ = write!(
                s,
                "<tr data-change=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(c.kind.title()),
                esc(c.kind.title()),
                esc(&c.case),
                chip(before, &c.before),
                chip(now, &c.now),
                esc(&c.message)
            );
        }
        s.push_str("</table>");
    }
}

/// Run-level driver lines the run before did not log.
fn new_driver_lines(s: &mut String, h: &History) {
    if !h.new_driver_messages.is_empty() {
        s.push_str(
            "<p>New driver messages outside any case:</p><table class=\"list\">\
             <tr><th>line</th><th>seen</th></tr>",
        );
        for m in &h.new_driver_messages {
            let _ = write!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                esc(&m.line),
                esc(&m.when)
            );
        }
        s.push_str("</table>");
    }
}

/// The facts that changed, each with the run it changed in.
fn facts_list(s: &mut String, h: &History) {
    if !h.facts.is_empty() {
        s.push_str("<h4>Facts that changed</h4><ul class=\"facts-changed\">");
        for f in &h.facts {
            let _ = write!(
                s,
                "<li data-fact=\"{}\"><code>{}</code>: {}</li>",
                esc(&f.key),
                esc(&f.key),
                fact_text(f, |v| format!("<b>{}</b>", esc(v)))
            );
        }
        s.push_str("</ul>");
    }
}

/// Cases × runs: a cell per run for each case whose outcome was not constant.
fn strip_table(s: &mut String, h: &History, cell: &dyn Fn(usize, &str) -> String) {
    if !h.strip.is_empty() {
        let _ = write!(
            s,
            "<h4>Cases whose outcome changed ({})</h4><table class=\"matrix strip\"><tr>\
             <th>case</th>",
            h.strip.len()
        );
        for r in &h.runs {
            let _ = write!(s, "<th title=\"{}\">{}</th>", esc(&r.label()), r.number);
        }
        s.push_str("<th>now</th></tr>");
        for c in &h.strip {
            let _ = write!(
                s,
                "<tr data-case=\"{}\"><th><code>{}</code></th>",
                esc(&c.case),
                esc(&c.case)
            );
            for (r, o) in h.runs.iter().zip(&c.outcomes) {
                // A run without this case's result has no details to open.
                let attrs = match o {
                    Some(_) => cell(r.input, &c.case),
                    None => format!("title=\"{}: no result\"", esc(&r.label())),
                };
                let _ = write!(
                    s,
                    "<td class=\"cell {}\" data-run=\"{}\" {attrs}>{}</td>",
                    class(*o),
                    r.number,
                    mark(*o)
                );
            }
            let _ = write!(
                s,
                "<td class=\"since\">{}</td></tr>",
                esc(&since_text(h, c))
            );
        }
        s.push_str("</table>");
    }
}
