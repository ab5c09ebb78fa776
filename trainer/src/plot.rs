//! Small, dependency-free SVG charts: the watch log's scatter, the training curves and the
//! viewer × genre heat map of a taste log. Plain text output, so the same data always gives
//! the same bytes (a plotting crate would bring fonts and a renderer for three charts).

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

/// A heat map: one row per labelled row of `values`, one column per column label; a cell's
/// blue deepens with its value (0 white, the largest value darkest).
pub fn heatmap(
    title: &str,
    row_label: &str,
    columns: &[String],
    rows: &[(u64, Vec<f64>)],
) -> String {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 560.0;
    const BOTTOM: f64 = 130.0;
    let (width, height) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let cell_width = width / columns.len().max(1) as f64;
    let cell_height = height / rows.len().max(1) as f64;
    let largest = rows
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">
  <rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>
  <text x="{:.1}" y="20" font-size="15" text-anchor="middle">{title}</text>
  <text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>
  <g shape-rendering="crispEdges">
"##,
        WIDTH / 2.0,
        TOP + height / 2.0,
        TOP + height / 2.0,
        escape(row_label)
    );
    for (row, (_, values)) in rows.iter().enumerate() {
        for (column, value) in values.iter().enumerate() {
            let depth = (value / largest).clamp(0.0, 1.0);
            // From white to a deep blue.
            let channel = |white: f64, blue: f64| (white + (blue - white) * depth).round() as u8;
            let _ = writeln!(
                svg,
                r##"  <rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#{:02x}{:02x}{:02x}"/>"##,
                LEFT + column as f64 * cell_width,
                TOP + row as f64 * cell_height,
                cell_width,
                cell_height,
                channel(255.0, 8.0),
                channel(255.0, 48.0),
                channel(255.0, 107.0)
            );
        }
    }
    svg.push_str("  </g>\n");
    let _ = writeln!(
        svg,
        r##"  <rect x="{LEFT}" y="{TOP}" width="{width:.1}" height="{height:.1}" fill="none" stroke="#888"/>"##
    );
    for (column, label) in columns.iter().enumerate() {
        let x = LEFT + (column as f64 + 0.5) * cell_width;
        let y = TOP + height + 8.0;
        let _ = writeln!(
            svg,
            r##"  <text x="{x:.1}" y="{y:.1}" font-size="11" text-anchor="end" fill="#444" transform="rotate(-60 {x:.1} {y:.1})">{}</text>"##,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Text safe inside an SVG element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Charts drawn one above the other, in one picture.
pub fn stack(charts: &[String]) -> String {
    let height = HEIGHT * charts.len() as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">
"#
    );
    for (index, chart) in charts.iter().enumerate() {
        // A nested <svg> keeps each chart's own coordinates; only its origin moves.
        let _ = writeln!(
            svg,
            "{}",
            chart.trim_end().replacen(
                "<svg ",
                &format!(r#"<svg y="{:.1}" "#, HEIGHT * index as f64),
                1
            )
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
        let (mut x_value, y_value) = (x.0 + fraction * (x.1 - x.0), y.0 + fraction * (y.1 - y.0));
        if x.0.fract() == 0.0 && x.1.fract() == 0.0 && x.1 - x.0 >= 4.0 {
            x_value = x_value.round(); // epochs are whole numbers
        }
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
    fn heatmap_draws_a_cell_per_value_darkest_for_the_largest() {
        let columns = vec!["Drama".to_string(), "War & <Peace>".to_string()];
        let svg = heatmap(
            "t",
            "viewer",
            &columns,
            &[(1, vec![0.0, 0.5]), (2, vec![1.0, 0.25])],
        );
        assert_eq!(
            svg.matches("<rect x=").count(),
            4 + 1,
            "four cells and the frame"
        );
        assert!(
            svg.contains(r##"fill="#08306b""##),
            "the largest value is darkest"
        );
        assert!(svg.contains(r##"fill="#ffffff""##), "zero is white");
        assert!(svg.contains("War &amp; &lt;Peace&gt;"));
        assert!(!heatmap("t", "v", &[], &[]).contains("NaN"));
    }

    #[test]
    fn stacked_charts_sit_one_below_the_other() {
        let chart = scatter("t", "x", "y", &[(0.0, 0.0)]);
        let both = stack(&[chart.clone(), chart]);
        assert!(both.contains(r#"<svg y="0.0" "#) && both.contains(r#"<svg y="400.0" "#));
        assert!(
            both.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="800""#)
        );
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
