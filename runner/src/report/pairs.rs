//! Pair tables (`<table>.<row>.<signaler>_<waiter>`): recognised by name, and drawn as a
//! signaler × waiter matrix per board and API.

use super::{mark, Builder};
use hil_report::html::esc;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One side of a pair case: the CPU or a CUDA device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Side {
    Cpu,
    Dev(u32),
}

impl Side {
    fn parse(s: &str) -> Option<Side> {
        if s == "cpu" {
            return Some(Side::Cpu);
        }
        let n = s.strip_prefix("dev")?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| n.parse().ok().map(Side::Dev))
            .flatten()
    }

    fn label(self) -> String {
        match self {
            Side::Cpu => "cpu".into(),
            Side::Dev(n) => format!("dev{n}"),
        }
    }
}

/// A case of a pair table: `<table>.<row>.<signaler>_<waiter>[.runtime]`.
#[derive(Debug, PartialEq)]
pub(super) struct PairCase<'a> {
    pub(super) group: &'a str,
    pub(super) signaler: Side,
    pub(super) waiter: Side,
    pub(super) runtime: bool,
}

pub(super) fn pair_case(name: &str) -> Option<PairCase<'_>> {
    let (rest, runtime) = match name.strip_suffix(".runtime") {
        Some(r) => (r, true),
        None => (name, false),
    };
    let (group, point) = rest.rsplit_once('.')?;
    let (a, b) = point.split_once('_')?;
    Some(PairCase {
        group,
        signaler: Side::parse(a)?,
        waiter: Side::parse(b)?,
        runtime,
    })
}

/// A pair case in its matrix: signaler, waiter, name.
pub(super) type PairCell<'a> = (Side, Side, &'a str);

impl Builder<'_> {
    /// For each pair table (`<table>.<row>`): each board's signaler × waiter matrix, the
    /// driver API and the runtime API side by side.
    pub(super) fn matrices(&mut self) {
        // group -> (board, runtime) -> cases; groups in the order they first appear.
        let mut order: Vec<&str> = Vec::new();
        let mut groups: BTreeMap<&str, BTreeMap<(usize, bool), Vec<PairCell>>> = BTreeMap::new();
        for (bi, v) in self.boards.iter().enumerate() {
            for c in &v.state.cases {
                let Some(p) = pair_case(&c.name) else {
                    continue;
                };
                if !groups.contains_key(p.group) {
                    order.push(p.group);
                }
                groups
                    .entry(p.group)
                    .or_default()
                    .entry((bi, p.runtime))
                    .or_default()
                    .push((p.signaler, p.waiter, c.name.as_str()));
            }
        }
        let _ = write!(
            self.out,
            "<h2 id=\"pairs\">Device pairs</h2>\n<p class=\"muted\">Rows: the signaling (or \
             exporting) side; columns: the waiting (or importing) side. Hatched: no such case \
             (the table skips that pair). {} pair table(s).</p>\n",
            order.len()
        );
        for g in order {
            let _ = write!(
                self.out,
                "<h3><code>{}</code></h3><div class=\"matrices\">",
                esc(g)
            );
            for (&(bi, runtime), cases) in &groups[g] {
                self.matrix(g, bi, runtime, cases);
            }
            self.out.push_str("</div>\n");
        }
    }

    fn matrix(&mut self, group: &str, bi: usize, runtime: bool, cases: &[PairCell]) {
        let st = self.boards[bi].state;
        let mut rows: Vec<Side> = cases.iter().map(|c| c.0).collect();
        let mut cols: Vec<Side> = cases.iter().map(|c| c.1).collect();
        rows.sort();
        rows.dedup();
        cols.sort();
        cols.dedup();
        let api = if runtime { "runtime API" } else { "driver API" };
        let caption = if self.boards.len() > 1 {
            format!("{} · {api}", st.board)
        } else {
            api.to_string()
        };
        let _ = write!(
            self.out,
            "<table class=\"matrix\" data-group=\"{}\" data-board=\"{}\" data-api=\"{}\">\
             <caption>{}</caption><tr><th title=\"signaler ↓ · waiter →\">sig ↓ wait →</th>",
            esc(group),
            esc(&st.board),
            if runtime { "runtime" } else { "driver" },
            esc(&caption)
        );
        let name = |s: Side| match s {
            Side::Cpu => "CPU".to_string(),
            Side::Dev(n) => st
                .facts
                .as_ref()
                .and_then(|f| f.properties.get(&format!("cuda.device.{n}.name")))
                .cloned()
                .unwrap_or_else(|| format!("CUDA device {n}")),
        };
        for c in &cols {
            let _ = write!(
                self.out,
                "<th title=\"{}\">{}</th>",
                esc(&name(*c)),
                c.label()
            );
        }
        self.out.push_str("</tr>");
        for r in &rows {
            let _ = write!(
                self.out,
                "<tr><th title=\"{}\">{}</th>",
                esc(&name(*r)),
                r.label()
            );
            for c in &cols {
                match cases.iter().find(|x| x.0 == *r && x.1 == *c) {
                    Some(&(_, _, case)) => {
                        let (class, text) = match self.index.get(&(bi, case)) {
                            Some(&k) => {
                                let o = self.details[k].result.outcome;
                                let regression = self.boards[bi].cmp.is_regression(case);
                                (
                                    format!(
                                        "{}{}",
                                        crate::outcomes::class(Some(o)),
                                        if regression { " regression" } else { "" }
                                    ),
                                    mark(o),
                                )
                            }
                            None => ("o-none".to_string(), "?"),
                        };
                        let _ = write!(
                            self.out,
                            "<td class=\"cell {class}\" {}>{text}</td>",
                            self.cell_attrs(bi, case)
                        );
                    }
                    None => self.out.push_str("<td class=\"empty\"></td>"),
                }
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</table>");
    }
}
