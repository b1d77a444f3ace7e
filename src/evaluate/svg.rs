//! The drawings of the HTML report as inline SVG, written by hand (a page of text, no script,
//! nothing fetched): one bar chart per pattern, and trace figures — sensor panels over time
//! with their limits, an episode's phases and the evaluation times each detector flagged.

use std::fmt::Write as _;

use super::figures::{Trace, DETECTORS};
use crate::clock::{instant_string, DAY, HOUR};

/// Text escaped for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A linear map from values to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    from: f64,
    to: f64,
    px0: f64,
    px1: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        let span = if self.to > self.from { self.to - self.from } else { 1.0 };
        self.px0 + (v - self.from) / span * (self.px1 - self.px0)
    }
}

/// Colours of the detectors, in [`DETECTORS`]' order.
pub const DETECTOR_COLOURS: [&str; 3] = ["#1f5fa8", "#e07b00", "#8a8a8a"];

/// One bar chart: for each metric (a group), a bar per detector; values from 0 to 1, `None`
/// drawn as no bar.
pub fn bars(pattern: &str, metrics: &[&str], values: &[[Option<f64>; 3]]) -> String {
    let (w, h, left, top, bottom) = (440.0, 160.0, 34.0, 10.0, 24.0);
    let y = Scale { from: 0.0, to: 1.0, px0: h - bottom, px1: top };
    let group = (w - left - 8.0) / metrics.len() as f64;
    let bar = group / 4.0;
    let mut s = format!(
        r#"<svg class="bars" data-pattern="{}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="precision, recall and F1 of {}">"#,
        esc(pattern),
        esc(pattern)
    );
    for v in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y0:.1}" y2="{y0:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{v}</text>"##,
            w - 8.0,
            left - 4.0,
            y.at(v) + 3.0,
            y0 = y.at(v)
        );
    }
    for (g, (metric, vals)) in metrics.iter().zip(values).enumerate() {
        let x0 = left + g as f64 * group + bar * 0.5;
        for (k, v) in vals.iter().enumerate() {
            let Some(v) = v else { continue };
            let x = x0 + k as f64 * bar;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {metric}: {v:.3}</title></rect>"#,
                y.at(*v),
                bar - 1.0,
                y.at(0.0) - y.at(*v),
                DETECTOR_COLOURS[k],
                DETECTORS[k],
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" class="tick" text-anchor="middle">{metric}</text>"#,
            x0 + bar * 1.5,
            h - 8.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A span of time painted behind the panels: (from, to, colour, name).
pub type Span = (i64, i64, &'static str, &'static str);

/// Marks across the panels: (time, colour, label).
pub type Mark = (i64, &'static str, String);

/// What a trace figure shows besides its traces.
pub struct Overlay<'a> {
    pub spans: &'a [Span],
    pub marks: &'a [Mark],
    /// Rows of flag ticks under the panels: (name, colour, times).
    pub rows: &'a [(&'a str, &'a str, &'a [i64])],
}

const WIDTH: f64 = 860.0;
const LEFT: f64 = 100.0;
const RIGHT: f64 = 12.0;
const PANEL: f64 = 92.0;
const TITLE: f64 = 16.0;
const ROW: f64 = 15.0;

/// A figure of `traces` over [`from`, `to`): a panel per sensor with its warning (dashed) and
/// critical (solid) limits, the mean line within the min–max band of each bucket, then a
/// row per detector with a tick at each time it flagged, and the time axis.
pub fn trace_figure(class: &str, id: &str, from: i64, to: i64, traces: &[Trace], overlay: &Overlay<'_>) -> String {
    let x = Scale { from: from as f64, to: to as f64, px0: LEFT, px1: WIDTH - RIGHT };
    let rows_h = overlay.rows.len() as f64 * ROW;
    let panels_h = traces.len() as f64 * (PANEL + TITLE);
    let h = panels_h + rows_h + 22.0;
    let mut s = format!(
        r#"<svg class="{class}" data-id="{}" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" role="img">"#,
        esc(id)
    );
    for (k, t) in traces.iter().enumerate() {
        s.push_str(&panel(t, x, k as f64 * (PANEL + TITLE), overlay.spans));
    }
    for (k, (name, colour, times)) in overlay.rows.iter().enumerate() {
        s.push_str(&flag_row(name, colour, times, x, panels_h + k as f64 * ROW));
    }
    for (t, colour, label) in overlay.marks {
        let px = x.at(*t as f64);
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" x2="{px:.1}" y1="0" y2="{panels_h}" stroke="{colour}" stroke-dasharray="4 3"/><text x="{:.1}" y="11" class="mark" fill="{colour}">{}</text>"#,
            px + 3.0,
            esc(label)
        );
    }
    s.push_str(&time_axis(x, from, to, panels_h + rows_h));
    s.push_str("</svg>");
    s
}

/// One sensor's panel at height `y0`.
fn panel(t: &Trace, x: Scale, y0: f64, spans: &[Span]) -> String {
    let top = y0 + TITLE;
    let (lo, hi) = value_range(t);
    let y = Scale { from: lo, to: hi, px0: top + PANEL - 4.0, px1: top + 4.0 };
    let unit = if t.info.unit.is_empty() { String::new() } else { format!(" ({})", t.info.unit) };
    let mut s = format!(
        r#"<text x="{LEFT}" y="{:.1}" class="name">{} {}{}</text>"#,
        top - 4.0,
        esc(&t.sensor_id),
        esc(&t.info.name),
        esc(&unit)
    );
    for (a, b, colour, name) in spans {
        let (xa, xb) = (x.at(*a as f64).max(LEFT), x.at(*b as f64).min(WIDTH - RIGHT));
        if xb > xa {
            let _ = write!(
                s,
                r#"<rect x="{xa:.1}" y="{top:.1}" width="{:.1}" height="{PANEL}" fill="{colour}"><title>{name}</title></rect>"#,
                xb - xa
            );
        }
    }
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{PANEL}" fill="none" stroke="#bbb"/>"##,
        WIDTH - LEFT - RIGHT
    );
    s.push_str(&limits(t, y, lo, hi));
    for v in [lo, hi] {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            y.at(v) + 3.0,
            short(v)
        );
    }
    s.push_str(&series(t, x, y));
    s
}

/// The values a panel spans: its readings, and the limits that lie near them.
fn value_range(t: &Trace) -> (f64, f64) {
    let lo = t.points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = t.points.iter().map(|p| p.3).fold(f64::NEG_INFINITY, f64::max);
    let (mut lo, mut hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let (near_lo, near_hi) = (lo - (hi - lo).max(1e-6), hi + (hi - lo).max(1e-6));
    for limit in limit_values(t) {
        if limit >= near_lo && limit <= near_hi {
            lo = lo.min(limit);
            hi = hi.max(limit);
        }
    }
    let pad = (hi - lo).max(1e-6) * 0.05;
    (lo - pad, hi + pad)
}

fn limit_values(t: &Trace) -> impl Iterator<Item = f64> {
    let (w, c) = (t.info.warning, t.info.critical);
    [w.0, w.1, c.0, c.1].into_iter().flatten()
}

/// The warning (dashed) and critical (solid) limits within [`lo`, `hi`].
fn limits(t: &Trace, y: Scale, lo: f64, hi: f64) -> String {
    let mut s = String::new();
    let (w, c) = (t.info.warning, t.info.critical);
    for (v, colour, dash, name) in [
        (w.0, "#d08000", "5 3", "warning min"),
        (w.1, "#d08000", "5 3", "warning max"),
        (c.0, "#c62828", "", "critical min"),
        (c.1, "#c62828", "", "critical max"),
    ] {
        let Some(v) = v.filter(|v| *v >= lo && *v <= hi) else { continue };
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="{colour}" stroke-dasharray="{dash}"><title>{name} {v}</title></line>"#,
            WIDTH - RIGHT,
            py = y.at(v)
        );
    }
    s
}

/// The min–max band and the mean line, broken where buckets are missing.
fn series(t: &Trace, x: Scale, y: Scale) -> String {
    let step = t.points.windows(2).map(|w| w[1].0 - w[0].0).min().unwrap_or(1).max(1);
    let mut s = String::new();
    for seg in t.points.chunk_by(|a, b| b.0 - a.0 <= 2 * step) {
        let upper = seg.iter().map(|p| format!("{:.1},{:.1}", x.at(p.0 as f64), y.at(p.3)));
        let lower = seg.iter().rev().map(|p| format!("{:.1},{:.1}", x.at(p.0 as f64), y.at(p.1)));
        let band: Vec<String> = upper.chain(lower).collect();
        let mean: Vec<String> = seg.iter().map(|p| format!("{:.1},{:.1}", x.at(p.0 as f64), y.at(p.2))).collect();
        let _ = write!(
            s,
            r##"<polygon points="{}" fill="#9ec5ea" fill-opacity="0.6"/><polyline points="{}" fill="none" stroke="#1f5fa8" stroke-width="1.2"/>"##,
            band.join(" "),
            mean.join(" ")
        );
    }
    s
}

/// A row of ticks, one per flagged time.
fn flag_row(name: &str, colour: &str, times: &[i64], x: Scale, y0: f64) -> String {
    let mut s = format!(
        r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
        LEFT - 4.0,
        y0 + 11.0,
        esc(name)
    );
    for &t in times {
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="2" height="10" fill="{colour}"/>"#,
            x.at(t as f64) - 1.0,
            y0 + 3.0
        );
    }
    s
}

/// Ticks and labels along the time axis, at a step that gives at most eight.
fn time_axis(x: Scale, from: i64, to: i64, y0: f64) -> String {
    let steps = [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY];
    let step = steps.iter().copied().find(|s| (to - from) / s <= 8).unwrap_or(56 * DAY);
    let mut s = String::new();
    let mut t = from + (step - from.rem_euclid(step)) % step;
    while t <= to {
        let px = x.at(t as f64);
        let label = instant_string(t).get(5..16).unwrap_or_default().replace('T', " ");
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{y0:.1}" y2="{:.1}" stroke="#888"/><text x="{px:.1}" y="{:.1}" class="tick" text-anchor="middle">{label}</text>"##,
            y0 + 4.0,
            y0 + 16.0
        );
        t += step;
    }
    s
}

/// A value in a few significant digits.
fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::figures::SensorInfo;

    fn trace(points: Vec<(i64, f64, f64, f64)>) -> Trace {
        let info = SensorInfo {
            name: "Vibration".into(),
            unit: "mm/s".into(),
            warning: (None, Some(7.0)),
            critical: (None, Some(11.0)),
        };
        Trace { sensor_id: "S<1>".into(), info, points }
    }

    #[test]
    fn a_panel_spans_its_readings_and_the_limits_near_them() {
        let (lo, hi) = value_range(&trace(vec![(0, 2.0, 3.0, 4.0), (10, 3.0, 5.0, 6.0)]));
        assert!(lo < 2.0 && lo > 1.0, "{lo}");
        assert!(hi > 7.0 && hi < 11.0, "the warning limit (7) is near, the critical (11) is not: {hi}");
    }

    #[test]
    fn a_gap_in_the_buckets_breaks_the_line() {
        let t = trace(vec![(0, 1.0, 1.0, 1.0), (10, 1.0, 1.0, 1.0), (20, 1.0, 1.0, 1.0), (100, 1.0, 1.0, 1.0)]);
        let x = Scale { from: 0.0, to: 100.0, px0: 0.0, px1: 100.0 };
        let y = Scale { from: 0.0, to: 2.0, px0: 100.0, px1: 0.0 };
        assert_eq!(series(&t, x, y).matches("<polyline").count(), 2);
    }

    #[test]
    fn text_is_escaped_and_the_axis_has_at_most_eight_ticks() {
        let svg = trace_figure(
            "trace",
            "e\"1",
            0,
            2 * DAY,
            &[trace(vec![(0, 1.0, 2.0, 3.0)])],
            &Overlay { spans: &[], marks: &[], rows: &[] },
        );
        assert!(svg.contains("S&lt;1&gt;") && svg.contains("data-id=\"e&quot;1\""), "{svg}");
        let ticks = svg.matches("stroke=\"#888\"").count();
        assert!((2..=9).contains(&ticks), "{ticks} ticks over two days");
    }

    #[test]
    fn a_bar_per_detector_and_metric_with_a_value() {
        let svg = bars("p", &["precision", "recall"], &[[Some(1.0), Some(0.5), None], [Some(0.0), None, None]]);
        assert_eq!(svg.matches("<rect").count(), 3, "None draws no bar: {svg}");
    }
}
