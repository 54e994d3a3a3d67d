//! Latency plots as standalone SVG, written by hand (a plotting crate would outweigh the rest
//! of the tool): the percentile curve on a "nines" axis, where 90 %, 99 %, 99.9 % and 99.99 %
//! are equally spaced so the tail is as visible as the median, and latency over time.

use std::fmt::Write;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/// One line of a plot.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// `(x, y)` in data units.
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// The x axis of a plot.
#[derive(Debug, Clone, Copy)]
enum XAxis {
    /// Percentiles 0..=99.99 placed at `-log10(1 - p)`.
    Nines,
    /// Seconds from 0 to the largest x.
    Seconds,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round number at or above `value` (1, 2 or 5 times a power of ten).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= value).unwrap_or(10.0 * magnitude)
}

fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(1e-4);
    (-rest.log10()).clamp(0.0, 4.0)
}

/// The percentile curve of each series (`points` are `(percentile, ms)`).
pub fn percentile_plot(title: &str, series: &[Series]) -> String {
    plot(title, "percentile", series, XAxis::Nines)
}

/// Latency over time (`points` are `(seconds, ms)`).
pub fn timeline_plot(title: &str, series: &[Series]) -> String {
    plot(title, "seconds since the start of the measured window (scheduled send time)", series, XAxis::Seconds)
}

fn plot(title: &str, x_label: &str, series: &[Series], axis: XAxis) -> String {
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x_of = |x: f64| match axis {
        XAxis::Nines => nines(x),
        XAxis::Seconds => x,
    };
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_max = match axis {
        XAxis::Nines => 4.0,
        XAxis::Seconds => nice_ceiling(all().map(|p| p.0).fold(0.0, f64::max)),
    };
    let y_max = nice_ceiling(all().map(|p| p.1).fold(0.0, f64::max) * 1.05);
    let px = |x: f64| LEFT + plot_w * (x_of(x) / x_max).clamp(0.0, 1.0);
    let py = |y: f64| TOP + plot_h * (1.0 - (y / y_max).clamp(0.0, 1.0));

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let _ = write!(svg, r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#, escape(title));

    // Grid and ticks.
    for i in 0..=5 {
        let y = y_max * f64::from(i) / 5.0;
        let at = py(y);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            at + 4.0,
            format_number(y)
        );
    }
    let x_ticks: Vec<(f64, String)> = match axis {
        XAxis::Nines => [(0.0, "0%"), (90.0, "90%"), (99.0, "99%"), (99.9, "99.9%"), (99.99, "99.99%")]
            .iter()
            .map(|(p, label)| (*p, (*label).to_owned()))
            .collect(),
        XAxis::Seconds => (0..=5).map(|i| x_max * f64::from(i) / 5.0).map(|s| (s, format_number(s))).collect(),
    };
    for (x, label) in &x_ticks {
        let at = px(*x);
        let _ = write!(
            svg,
            r##"<line x1="{at:.1}" y1="{TOP}" x2="{at:.1}" y2="{:.1}" stroke="#eee"/><text x="{at:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">latency (ms)</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        escape(x_label),
        TOP + plot_h / 2.0
    );

    // Lines and legend.
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dash = if s.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        if !s.points.is_empty() {
            let points: Vec<String> = s.points.iter().map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y))).collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6"{dash} points="{}"/>"#,
                points.join(" ")
            );
        }
        let y = TOP + 10.0 + 20.0 * i as f64;
        let x = LEFT + plot_w + 14.0;
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 24.0,
            x + 30.0,
            y + 4.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_number(value: f64) -> String {
    if value == value.round() { format!("{value:.0}") } else { format!("{value:.2}").trim_end_matches('0').to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every tag is closed in order (the plots use no comments, CDATA or entities
    /// other than the escapes).
    fn well_formed(svg: &str) -> Result<(), String> {
        let mut open: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').ok_or("unterminated tag")? + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                match open.pop() {
                    Some(top) if top == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else if !tag.ends_with('/') {
                open.push(tag.split_whitespace().next().unwrap_or_default().to_owned());
            }
            if tag.matches('"').count() % 2 == 1 {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            rest = &rest[end + 1..];
        }
        if open.is_empty() { Ok(()) } else { Err(format!("unclosed: {open:?}")) }
    }

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.to_owned(), points, dashed: false }
    }

    #[test]
    fn a_percentile_plot_is_well_formed_svg_with_its_legend() {
        let curve: Vec<(f64, f64)> =
            [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0].iter().map(|p| (*p, p / 10.0)).collect();
        let svg = percentile_plot(
            "delivery <1,000 users> & \"ack\"",
            &[series("delivery", curve.clone()), series("ack", curve)],
        );
        well_formed(&svg).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("&lt;1,000 users&gt; &amp; &quot;ack&quot;"));
        assert!(svg.contains(">99.99%</text>") && svg.contains(">delivery</text>") && svg.contains(">ack</text>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
    }

    #[test]
    fn a_timeline_plot_of_an_hour_of_seconds_stays_small() {
        let points: Vec<(f64, f64)> = (0..3600).map(|s| (f64::from(s), 1.0 + f64::from(s % 7))).collect();
        let lines = ["p50", "p99", "max", "ack p99"].map(|n| series(n, points.clone()));
        let svg = timeline_plot("latency over time", &lines);
        well_formed(&svg).unwrap();
        assert!(svg.len() < 300_000, "{} bytes", svg.len());
    }

    #[test]
    fn empty_series_still_give_a_plot() {
        well_formed(&timeline_plot("nothing", &[series("p99", Vec::new())])).unwrap();
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert!((nice_ceiling(0.07) - 0.1).abs() < 1e-12);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines(100.0), 4.0);
    }
}
