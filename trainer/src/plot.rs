//! Small, dependency-free SVG charts: the watch log's scatter and the training curves.
//! Plain text output, so the same data always gives the same bytes.

use std::fmt::Write as _;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 52.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

/// One named line of a line chart.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// One value per x step (x = 1, 2, ...).
    pub values: Vec<f64>,
}

/// A scatter plot of `(x, y)` points.
pub fn scatter(title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> String {
    let (x_range, y_range) = (
        range(points.iter().map(|p| p.0)),
        range(points.iter().map(|p| p.1)),
    );
    let mut svg = frame(title, x_label, y_label, x_range, y_range);
    for &(x, y) in points {
        let _ = writeln!(
            svg,
            r#"  <circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}" fill-opacity="0.35"/>"#,
            scale_x(x, x_range),
            scale_y(y, y_range),
            COLOURS[0]
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A line chart with one line per series, sharing the y axis.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let steps = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let x_range = (1.0, (steps as f64).max(2.0));
    let y_range = range(series.iter().flat_map(|s| s.values.iter().copied()));
    let mut svg = frame(title, x_label, y_label, x_range, y_range);
    for (index, line) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points: Vec<String> = line
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                format!(
                    "{:.1},{:.1}",
                    scale_x(i as f64 + 1.0, x_range),
                    scale_y(v, y_range)
                )
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"  <polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.join(" ")
        );
        let _ = writeln!(
            svg,
            r#"  <text x="{:.1}" y="{:.1}" font-size="12" fill="{colour}">{}</text>"#,
            LEFT + 10.0 + 150.0 * index as f64,
            TOP - 8.0,
            line.name
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn frame(title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> String {
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">
  <rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>
  <text x="{:.1}" y="20" font-size="15" text-anchor="middle">{title}</text>
  <text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{x_label}</text>
  <text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">{y_label}</text>
  <rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>
"##,
        WIDTH / 2.0,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 12.0,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM,
    );
    for tick in 0..=4 {
        let fraction = tick as f64 / 4.0;
        let (x_value, y_value) = (x.0 + fraction * (x.1 - x.0), y.0 + fraction * (y.1 - y.0));
        let _ = writeln!(
            svg,
            r##"  <text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#444">{}</text>"##,
            scale_x(x_value, x),
            HEIGHT - BOTTOM + 16.0,
            tick_label(x_value)
        );
        let _ = writeln!(
            svg,
            r##"  <text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#444">{}</text>"##,
            LEFT - 6.0,
            scale_y(y_value, y) + 4.0,
            tick_label(y_value)
        );
    }
    svg
}

fn tick_label(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Finite min and max, widened when they coincide so the scale never divides by zero.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if low > high {
        (0.0, 1.0)
    } else if low == high {
        (low - 1.0, high + 1.0)
    } else {
        (low, high)
    }
}

fn scale_x(value: f64, (low, high): (f64, f64)) -> f64 {
    LEFT + (value - low) / (high - low) * (WIDTH - LEFT - RIGHT)
}

fn scale_y(value: f64, (low, high): (f64, f64)) -> f64 {
    HEIGHT - BOTTOM - (value - low) / (high - low) * (HEIGHT - TOP - BOTTOM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_draws_one_point_per_row_inside_the_frame() {
        let svg = scatter("t", "x", "y", &[(0.0, 0.0), (10.0, 7200.0), (5.0, 3600.0)]);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(r#"cx="64.0" cy="348.0""#), "{svg}");
        assert!(svg.contains(r#"cx="616.0" cy="40.0""#), "{svg}");
    }

    #[test]
    fn degenerate_inputs_still_draw() {
        let svg = lines(
            "t",
            "x",
            "y",
            &[Series {
                name: "loss",
                values: vec![1.0],
            }],
        );
        assert!(svg.contains("<polyline") && !svg.contains("NaN"));
        assert!(!scatter("t", "x", "y", &[]).contains("NaN"));
    }
}
