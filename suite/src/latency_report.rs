//! `hil-latency --report`: fence latency results as one self-contained HTML page in the
//! style of `hil-run`'s report. Per device pair and path a histogram of every round on a
//! log time axis shared by all plots (so they compare at a glance), the CUDA event
//! baseline's median marked, and the share of rounds of 1 ms or more shaded and labelled.
//! Results written before rounds were binned show their percentiles as a strip instead.

use crate::latency::PairReport;
use hil_report::html::{esc, page};
use hil_report::svg::{fmt_us, Bin, LogPlot};
use std::fmt::Write as _;

/// Plotting area height of one histogram, px.
const PLOT_H: f64 = 70.0;
/// Where "slow" starts: the share the tables report as `≥1 ms`.
const SLOW_US: f64 = 1000.0;

/// The page for `reports`; `source` says where they came from (a run, a JSON file).
pub fn html(reports: &[PairReport], source: &str) -> String {
    let (lo, hi) = range(reports);
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>Fence latency</h1><p class=\"muted\">{} · {} device pair(s) · every round \
         host-timed end to end; histograms on one log axis; dashed: the CUDA event baseline's \
         median; shaded: rounds of 1 ms or more</p>",
        esc(source),
        reports.len()
    );
    let old = reports
        .iter()
        .flat_map(|r| &r.rows)
        .any(|r| r.stats.histogram.is_empty());
    if old {
        b.push_str(
            "<p class=\"axis-note\">Percentiles only (min … p50, box to p90, … max or p99) \
             where these results were written before hil-latency recorded every round.</p>\n",
        );
    }
    for r in reports {
        let _ = writeln!(
            b,
            "<h2>signal dev{} ({}) → wait dev{} ({})</h2><p class=\"muted\">{} · {} rounds \
             after {} warm-up</p>",
            r.signal,
            esc(&r.signal_name),
            r.wait,
            esc(&r.wait_name),
            esc(&r.implementation),
            r.rounds,
            r.warm_up
        );
        for row in &r.rows {
            let st = &row.stats;
            let base = r.rows.iter().find(|x| x.path == row.baseline);
            let is_base = row.path == row.baseline;
            let ratio = if is_base {
                "the baseline".to_string()
            } else if row.ratio.is_finite() {
                format!("{:.2}× baseline p50", row.ratio)
            } else {
                "no baseline".to_string()
            };
            let _ = write!(
                b,
                "<div class=\"plot\"><h3>{}</h3><p class=\"mono\">p50 {} · p90 {} · p99 {} · \
                 min {}{} · <strong>≥1 ms {:.1}%</strong> · {}</p>",
                esc(&row.path),
                esc(&fmt_us(st.p50_us)),
                esc(&fmt_us(st.p90_us)),
                esc(&fmt_us(st.p99_us)),
                esc(&fmt_us(st.min_us)),
                if st.max_us > 0.0 {
                    format!(" · max {}", esc(&fmt_us(st.max_us)))
                } else {
                    String::new()
                },
                st.over_1ms_pct,
                esc(&ratio)
            );
            let mut plot = LogPlot::new(lo, hi, PLOT_H);
            plot.shade_from(SLOW_US, &format!("≥1 ms: {:.1}%", st.over_1ms_pct));
            if st.histogram.is_empty() {
                let top = if st.max_us > 0.0 {
                    st.max_us
                } else {
                    st.p99_us
                };
                plot.strip(
                    st.min_us,
                    st.p50_us,
                    st.p50_us,
                    st.p90_us,
                    top,
                    "min … p50 [box to p90] … max (p99 where max was not recorded)",
                );
            } else {
                let bins: Vec<Bin> = st
                    .histogram
                    .bins()
                    .into_iter()
                    .map(|(lo_us, hi_us, count)| Bin {
                        lo_us,
                        hi_us,
                        count,
                    })
                    .collect();
                plot.bars(&bins);
            }
            if let Some(base) = base {
                let label = if is_base {
                    format!("p50 {}", fmt_us(base.stats.p50_us))
                } else {
                    format!("baseline p50 {}", fmt_us(base.stats.p50_us))
                };
                plot.marker(base.stats.p50_us, &label);
            }
            b.push_str(&plot.finish(&format!("latency of {}", row.path)));
            b.push_str("</div>\n");
        }
    }
    page("hil fence latency", &b, "")
}

/// The time range every plot shares: the fastest and slowest round seen (or percentile,
/// for older results), always including 1 ms so the slow share has a place.
fn range(reports: &[PairReport]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = SLOW_US * 10.0;
    for st in reports.iter().flat_map(|r| &r.rows).map(|r| &r.stats) {
        let bins = st.histogram.bins();
        let used: Vec<_> = bins.iter().filter(|b| b.2 > 0).collect();
        let (first, last) = (used.first().map(|b| b.0), used.last().map(|b| b.1));
        lo = lo.min(first.unwrap_or(st.min_us)).min(st.min_us.max(1e-3));
        hi = hi.max(last.unwrap_or(0.0)).max(st.max_us).max(st.p99_us);
    }
    if !lo.is_finite() {
        lo = 1.0;
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::{stats, Row};
    use std::time::Duration;

    fn report() -> PairReport {
        let us = Duration::from_micros;
        let fast: Vec<Duration> = (0..100).map(|i| us(9 + i % 3)).collect();
        let mut bimodal = fast.clone();
        bimodal.extend((0..100).map(|_| us(10_100)));
        let row = |path: &str, s: Vec<Duration>, ratio| Row {
            path: path.into(),
            stats: stats(s).unwrap(),
            baseline: "CUDA event (baseline)".into(),
            ratio,
        };
        PairReport {
            signal: 0,
            wait: 1,
            signal_name: "GPU <A>".into(),
            wait_name: "GPU B".into(),
            implementation: "test".into(),
            rounds: 100,
            warm_up: 20,
            rows: vec![
                row("CUDA event (baseline)", fast, 1.0),
                row("host vkWaitSemaphores", bimodal, 1000.0),
            ],
        }
    }

    #[test]
    fn each_path_is_a_histogram_with_the_baseline_and_slow_share_marked() {
        let page = html(&[report()], "test run");
        assert_eq!(page.matches("<svg ").count(), 2);
        assert!(page.contains("≥1 ms: 50.0%") && page.contains("≥1 ms: 0.0%"));
        assert!(
            page.contains("baseline p50 10.0 µs"),
            "marker on the other path"
        );
        assert!(page.contains("class=\"marker\""));
        assert!(page.contains("GPU &lt;A&gt;") && !page.contains("GPU <A>"));
        assert!(!page.contains("Percentiles only"));
    }

    #[test]
    fn results_without_rounds_show_percentile_strips() {
        let mut r = report();
        for row in &mut r.rows {
            row.stats.histogram = Default::default();
        }
        let page = html(&[r], "old.json");
        assert_eq!(page.matches("class=\"whisker\"").count(), 2);
        assert!(page.contains("Percentiles only"));
    }
}
