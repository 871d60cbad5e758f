//! The report's sections below its header: changes against the baseline, run-level driver
//! messages, a card per board, the flagged scenarios and every case.

use super::{first_line, obs, Builder, FOLD_AFTER};
use hil_proto::{key, Outcome};
use hil_report::html::esc;
use std::fmt::Write as _;

impl Builder<'_> {
    /// Regressions, fixes and flaky cases of every board, before anything else.
    pub(super) fn attention(&mut self) {
        self.out
            .push_str("<h2 id=\"changes\">Against the baseline</h2>\n");
        self.board_differs();
        let (rows, n_rows) = self.attention_rows();
        if rows.is_empty() {
            self.out.push_str(
                "<p>No regression, coverage lost, fix, flaky or unfinished case (without <code>--baseline</code> \
                 every fail, crash and timeout is a regression).</p>\n",
            );
        } else {
            // A long list (a new driver, no baseline yet) is folded, so the matrices stay near.
            let open = if n_rows <= FOLD_AFTER { " open" } else { "" };
            let _ = writeln!(
                self.out,
                "<p class=\"muted\">Without <code>--baseline</code> every fail, crash and timeout \
                 is a regression.</p><details{open}><summary>{n_rows} case(s)</summary>\
                 <table class=\"list\"><tr><th>board</th><th>what</th>\
                 <th>outcome</th><th>case</th><th>detail</th></tr>{rows}</table></details>"
            );
        }
    }

    /// What each board is now that it was not when its baseline was made.
    fn board_differs(&mut self) {
        for v in self
            .boards
            .iter()
            .filter(|v| !v.cmp.fact_changes.is_empty())
        {
            let items: String = v
                .cmp
                .fact_changes
                .iter()
                .map(|c| {
                    format!(
                        "<li><code>{}</code>: {} → <b>{}</b></li>",
                        esc(&c.key),
                        esc(&c.then),
                        esc(&c.now)
                    )
                })
                .collect();
            let _ = writeln!(
                self.out,
                "<p>Board {} differs from its baseline:</p><ul class=\"facts-changed\">{items}</ul>",
                esc(&v.state.board)
            );
        }
    }

    /// A table row per case that needs attention, coverage lost first; and their number.
    fn attention_rows(&self) -> (String, usize) {
        let mut rows = String::new();
        let mut n_rows = 0;
        for (bi, v) in self.boards.iter().enumerate() {
            let mut row = |kind: &str, case: &str, what: String| {
                n_rows += 1;
                let outcome = self
                    .index
                    .get(&(bi, case))
                    .map(|&k| self.details[k].result.outcome);
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td>{}</td><td><span class=\"chip {} clickable\" {}>{}</span></td>\
                     <td><code>{}</code></td><td>{}</td></tr>",
                    esc(&v.state.board),
                    esc(kind),
                    crate::outcomes::class(outcome),
                    self.cell_attrs(bi, case),
                    esc(outcome.map_or("none", Outcome::as_str)),
                    esc(case),
                    esc(&what)
                );
            };
            // Coverage first: a run that tests less is not a green run.
            for l in &v.cmp.coverage_lost {
                row("coverage lost", &l.case, l.describe());
            }
            for (case, want, got) in &v.cmp.regressions {
                let want = want.map(|w| w.as_str()).unwrap_or("pass");
                row("regression", case, format!("{got}, expected {want}"));
            }
            for (case, now) in &v.cmp.newly_covered {
                row(
                    "newly covered",
                    case,
                    format!("{now}; not-supported in the baseline"),
                );
            }

            for (case, was) in &v.cmp.fixes {
                row("fixed", case, format!("passes; the baseline expects {was}"));
            }
            for (case, n) in &v.cmp.flaky {
                row("flaky", case, format!("passed after failing {n} time(s)"));
            }
            for c in v.state.remaining() {
                row(
                    "unfinished",
                    &c.name,
                    "no result: `hil-run --resume`".into(),
                );
            }
        }
        (rows, n_rows)
    }

    /// GPU driver lines in no case's result (logged while no case ran, or seen only in a
    /// parallel attempt), next to the regressions: they fail the run unless expected.
    pub(super) fn driver_messages(&mut self) {
        if self
            .boards
            .iter()
            .all(|v| v.state.driver_messages.is_empty())
        {
            return;
        }
        let mut rows = String::new();
        for v in self.boards {
            for m in &v.state.driver_messages {
                let expected = if v.cmp.driver_messages.contains(m) {
                    "no"
                } else {
                    "yes"
                };
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    esc(&v.state.board),
                    esc(&m.line),
                    esc(&m.when),
                    expected
                );
            }
        }
        let _ = writeln!(
            self.out,
            "<h2 id=\"driver-messages\">Driver messages outside any case</h2>\n\
             <p class=\"muted\">GPU driver lines no case's result holds; each fails the run \
             unless the baseline expects it.</p><table class=\"list\"><tr><th>board</th>\
             <th>line</th><th>seen</th><th>expected</th></tr>{rows}</table>"
        );
    }

    pub(super) fn board_cards(&mut self) {
        self.out
            .push_str("<h2 id=\"boards\">Boards</h2>\n<div class=\"boards\">\n");
        for v in self.boards {
            let st = v.state;
            let prop = |k: &str| crate::facts::fact(st, k).to_string();
            let _ = write!(
                self.out,
                "<div class=\"board\"><h3>{}</h3><table class=\"kv\">",
                esc(&st.board)
            );
            let mut kv = |k: &str, val: &str| {
                let _ = write!(
                    self.out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(k),
                    esc(val)
                );
            };
            if st.started_unix > 0 {
                kv("started", &crate::dates::utc(st.started_unix));
            }
            kv("arch", &prop("arch"));
            kv("driver", &prop("driver.version"));
            kv("CUDA", &prop("cuda.version"));
            kv("runtime (cudart)", &prop("cudart.version"));
            let devices: Vec<String> = (0..)
                .map_while(|i| {
                    st.facts
                        .as_ref()
                        .and_then(|f| f.properties.get(&format!("cuda.device.{i}.name")))
                        .map(|n| format!("dev{i} {n}"))
                })
                .collect();
            if !devices.is_empty() {
                kv("devices", &devices.join(", "));
            }
            if let Some(f) = &st.facts {
                kv("suite", &f.suite_version);
                for (backend, imp) in &f.implementations {
                    kv(backend, imp);
                }
            }
            // What the results were produced under: settings changed from their defaults.
            let settings = crate::summary::settings_changed(st);
            if !settings.is_empty() {
                kv("settings", &settings.join(", "));
            }
            self.out.push_str("</table><p>");
            for (o, n) in crate::outcomes::counts(st) {
                let _ = write!(
                    self.out,
                    "<span class=\"chip {}\">{} {n}</span>",
                    crate::outcomes::class(Some(o)),
                    o
                );
            }
            let _ = write!(
                self.out,
                "<span class=\"muted\">{} of {} planned</span></p><p>",
                st.results.len(),
                st.cases.len()
            );
            let links: Vec<String> = v
                .files
                .iter()
                .map(|f| format!("<a href=\"{}\">{}</a>", esc(&v.link(f)), esc(f)))
                .collect();
            let _ = writeln!(self.out, "{}</p></div>", links.join(" · "));
        }
        self.out.push_str("</div>\n");
    }

    pub(super) fn flagged(&mut self) {
        let mut rows = String::new();
        let mut n = 0;
        for (bi, v) in self.boards.iter().enumerate() {
            for r in v
                .state
                .ordered_results()
                .into_iter()
                .filter(|r| r.outcome == Outcome::Flagged)
            {
                n += 1;
                let driver: Vec<&str> = crate::summary::DRIVER_LOG_KEYS
                    .iter()
                    .map(|k| obs(r, k))
                    .filter(|s| !s.is_empty())
                    .collect();
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td><code class=\"clickable\" {}>{}</code></td><td>{}</td>\
                     <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&v.state.board),
                    self.cell_attrs(bi, &r.case),
                    esc(&r.case),
                    esc(obs(r, key::OBSERVED.as_str())),
                    esc(obs(r, key::DETAIL.as_str())),
                    esc(&crate::summary::health_cell(
                        obs(r, key::HEALTH_AFTER.as_str()),
                        obs(r, key::HEALTH_SHARED_WITH.as_str())
                    )),
                    esc(&driver.join("\n")),
                    esc(obs(r, key::UB_RULE.as_str()))
                );
            }
        }
        let _ = write!(
            self.out,
            "<h2 id=\"flagged\">Flagged scenarios ({n})</h2>\n<p class=\"muted\">Undefined \
             behaviour, run in isolation: what each board did, never judged.</p>\n"
        );
        if n > 0 {
            let _ = writeln!(
                self.out,
                "<table class=\"list\"><tr><th>board</th><th>case</th><th>observed</th>\
                 <th>detail</th><th>device health after</th><th>driver log</th>\
                 <th>undefined because</th></tr>{rows}</table>"
            );
        }
    }

    /// Every case: a row each, a column per board (the same case side by side).
    pub(super) fn all_cases(&mut self) {
        let mut names: Vec<&str> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for v in self.boards {
            for c in &v.state.cases {
                if seen.insert(c.name.as_str()) {
                    names.push(&c.name);
                }
            }
        }
        let _ = write!(
            self.out,
            "<h2 id=\"cases\">All cases ({})</h2>\n<input class=\"filter\" id=\"filter\" \
             placeholder=\"filter: part of a case name\"> <label><input type=\"checkbox\" \
             id=\"not-pass\"> only cases that did not pass everywhere</label>\n\
             <table class=\"list\" id=\"cases-table\"><tr><th>case</th>",
            names.len()
        );
        for v in self.boards {
            let _ = write!(self.out, "<th>{}</th>", esc(&v.state.board));
        }
        self.out.push_str("<th>message</th></tr>");
        for name in names {
            let mut cells = String::new();
            let mut all_pass = true;
            let mut message = String::new();
            for (bi, v) in self.boards.iter().enumerate() {
                let r = self.index.get(&(bi, name)).map(|&k| self.details[k].result);
                let o = r.map(|r| r.outcome);
                all_pass &= o == Some(Outcome::Pass);
                if message.is_empty() {
                    if let Some(r) = r.filter(|r| !r.message.is_empty()) {
                        message = first_line(&r.message).chars().take(200).collect();
                        if self.boards.len() > 1 {
                            message = format!("{}: {message}", v.state.board);
                        }
                    }
                }
                let _ = write!(
                    cells,
                    "<td><span class=\"chip {} clickable\" {}>{}</span></td>",
                    crate::outcomes::class(o),
                    self.cell_attrs(bi, name),
                    esc(o.map_or("none", Outcome::as_str))
                );
            }
            let _ = write!(
                self.out,
                "<tr data-name=\"{}\" data-pass=\"{}\"><td><code>{}</code></td>{cells}<td>{}</td></tr>",
                esc(name),
                all_pass,
                esc(name),
                esc(&message)
            );
        }
        self.out.push_str("</table>\n");
    }
}
