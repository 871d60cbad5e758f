//! Latency plots on a log time axis, written as SVG by hand: a few rectangles, lines and
//! labels need no plotting crate, and the output stays small, inline and deterministic
//! (no fonts, no scripts; colours come from the page's style).

use crate::html::esc;
use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 16.0;
const AXIS_H: f64 = 18.0;

/// A time in microseconds as people read it: `850 ns`, `9.72 µs`, `10.1 ms`, `1.20 s`.
pub fn fmt_us(us: f64) -> String {
    let (v, unit) = if us < 1.0 {
        (us * 1e3, "ns")
    } else if us < 1e3 {
        (us, "µs")
    } else if us < 1e6 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// A histogram bin: samples in `[lo_us, hi_us)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub lo_us: f64,
    pub hi_us: f64,
    pub count: u64,
}

/// One plot over `[lo_us, hi_us]` on a log axis, built from parts in drawing order.
pub struct LogPlot {
    lo: f64,
    hi: f64,
    height: f64,
    parts: String,
    labels: String,
}

impl LogPlot {
    /// A plot of `height` px of plotting area (plus the axis) over whole decades around
    /// `[lo_us, hi_us]` (both > 0).
    pub fn new(lo_us: f64, hi_us: f64, height: f64) -> LogPlot {
        let lo = 10f64.powf(lo_us.max(1e-3).log10().floor());
        let hi = 10f64.powf(hi_us.max(lo_us * 10.0).log10().ceil());
        LogPlot {
            lo,
            hi,
            height,
            parts: String::new(),
            labels: String::new(),
        }
    }

    /// x of a time, clamped into the plot.
    pub fn x(&self, us: f64) -> f64 {
        let t = (us.max(self.lo).min(self.hi).log10() - self.lo.log10())
            / (self.hi.log10() - self.lo.log10());
        LEFT + t * (WIDTH - LEFT - RIGHT)
    }

    fn bottom(&self) -> f64 {
        TOP + self.height
    }

    /// Bars whose heights are counts, scaled to the largest; a bin with any sample is at
    /// least 2 px tall, so a rare mode stays visible. Each bar's title gives its range and count.
    pub fn bars(&mut self, bins: &[Bin]) {
        let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
        let total: u64 = bins.iter().map(|b| b.count).sum();
        for b in bins.iter().filter(|b| b.count > 0) {
            let (x0, x1) = (self.x(b.lo_us), self.x(b.hi_us));
            let h = (b.count as f64 / max * self.height).max(2.0);
            let _ = write!(
                self.parts,
                "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
                 <title>{} – {}: {} of {total}</title></rect>",
                self.bottom() - h,
                (x1 - x0 - 0.6).max(0.6),
                esc(&fmt_us(b.lo_us)),
                esc(&fmt_us(b.hi_us)),
                b.count
            );
        }
    }

    /// Shades everything from `from_us` to the right with `label` at its top (the share of
    /// slow rounds).
    pub fn shade_from(&mut self, from_us: f64, label: &str) {
        let x = self.x(from_us);
        let _ = write!(
            self.parts,
            "<rect class=\"slow\" x=\"{x:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            WIDTH - RIGHT - x,
            self.height
        );
        let _ = write!(
            self.labels,
            "<text class=\"slow-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 4.0,
            TOP - 4.0,
            esc(label)
        );
    }

    /// A dashed vertical line at `at_us` with `label` (e.g. the baseline's median).
    pub fn marker(&mut self, at_us: f64, label: &str) {
        let x = self.x(at_us);
        let _ = write!(
            self.parts,
            "<line class=\"marker\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
            TOP - 2.0,
            self.bottom()
        );
        // Label on the side with room.
        let (anchor, dx) = if x > WIDTH * 0.6 {
            ("end", -4.0)
        } else {
            ("start", 4.0)
        };
        let _ = write!(
            self.labels,
            "<text class=\"marker-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x + dx,
            TOP + 10.0,
            esc(label)
        );
    }

    /// A percentile strip: whiskers from `lo` to `hi`, a box from `q1` to `q3`, a bar at
    /// `mid` (for results that carry percentiles only).
    pub fn strip(&mut self, lo: f64, q1: f64, mid: f64, q3: f64, hi: f64, title: &str) {
        let y = TOP + self.height / 2.0;
        let (xl, x1, xm, x3, xh) = (self.x(lo), self.x(q1), self.x(mid), self.x(q3), self.x(hi));
        let _ = write!(
            self.parts,
            "<g><title>{}</title>\
             <line class=\"whisker\" x1=\"{xl:.1}\" y1=\"{y:.1}\" x2=\"{xh:.1}\" y2=\"{y:.1}\"/>\
             <rect class=\"box\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
             <line class=\"median\" x1=\"{xm:.1}\" y1=\"{:.1}\" x2=\"{xm:.1}\" y2=\"{:.1}\"/></g>",
            esc(title),
            y - self.height / 4.0,
            (x3 - x1).max(1.0),
            self.height / 2.0,
            y - self.height / 3.0,
            y + self.height / 3.0
        );
    }

    /// The finished `<svg>`, with decade grid lines and labels; `label` is its accessible name.
    pub fn finish(self, label: &str) -> String {
        let h = self.bottom() + AXIS_H;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {h}\" role=\"img\" \
             aria-label=\"{}\">",
            esc(label)
        );
        let mut d = self.lo;
        while d <= self.hi * 1.0001 {
            let x = self.x(d);
            let _ = write!(
                s,
                "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
                self.bottom()
            );
            let anchor = if d == self.lo {
                "start"
            } else if d >= self.hi * 0.999 {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                h - 4.0,
                esc(&fmt_us(d))
            );
            d *= 10.0;
        }
        s.push_str(&self.parts);
        let _ = write!(
            s,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{b:.1}\" x2=\"{:.1}\" y2=\"{b:.1}\"/>",
            WIDTH - RIGHT,
            b = self.bottom()
        );
        s.push_str(&self.labels);
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_their_unit() {
        assert_eq!(fmt_us(0.5), "500 ns");
        assert_eq!(fmt_us(9.717), "9.72 µs");
        assert_eq!(fmt_us(10094.18), "10.1 ms");
        assert_eq!(fmt_us(1000.0), "1.00 ms");
        assert_eq!(fmt_us(2e6), "2.00 s");
    }

    #[test]
    fn the_axis_is_logarithmic_over_whole_decades() {
        let p = LogPlot::new(3.0, 20_000.0, 60.0);
        assert_eq!((p.lo, p.hi), (1.0, 100_000.0));
        let (a, b, c) = (p.x(1.0), p.x(10.0), p.x(100.0));
        assert!((b - a - (c - b)).abs() < 1e-9, "equal steps per decade");
        assert_eq!(p.x(0.001), p.x(1.0), "clamped");
    }

    #[test]
    fn a_plot_is_one_svg_with_escaped_labels_and_a_bar_per_nonempty_bin() {
        let mut p = LogPlot::new(1.0, 1e5, 60.0);
        p.shade_from(1000.0, "≥1 ms: 50.4%");
        p.bars(&[
            Bin {
                lo_us: 10.0,
                hi_us: 12.6,
                count: 900,
            },
            Bin {
                lo_us: 12.6,
                hi_us: 15.8,
                count: 0,
            },
            Bin {
                lo_us: 10_000.0,
                hi_us: 12_589.0,
                count: 3,
            },
        ]);
        p.marker(9.7, "<baseline> p50");
        let svg = p.finish("a & b");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert!(svg.contains("&lt;baseline&gt; p50") && svg.contains("aria-label=\"a &amp; b\""));
        assert!(!svg.contains("<baseline>"));
    }
}
