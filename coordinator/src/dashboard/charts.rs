//! Server-rendered SVG charts: plotters' SVG backend without font features (text becomes SVG
//! `<text>` that the browser lays out). Each chart is wrapped in a `<figure>` whose caption and
//! `aria-label` say what it shows; the numbers are also in the page as text.

use maud::{Markup, PreEscaped, html};
use plotters::prelude::*;

/// Size of every chart's SVG canvas (scaled to the column width by the stylesheet).
pub const CHART_SIZE: (u32, u32) = (640, 240);

/// One line of a chart.
pub struct Series {
    /// Legend text.
    pub label: &'static str,
    /// Line colour.
    pub color: RGBColor,
    /// `(x, y)` points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// The first series' colour (accessible blue) and the second's (orange).
pub const BLUE: RGBColor = RGBColor(10, 88, 202);
/// Second series colour.
pub const ORANGE: RGBColor = RGBColor(230, 120, 0);

/// A line chart over `x` (with `x_desc` under the axis), y from 0 to the data's maximum.
pub fn line_chart(caption: &str, x: std::ops::Range<f64>, x_desc: &str, y_desc: &str, series: &[Series]) -> Markup {
    let svg = render(x, x_desc, y_desc, series).unwrap_or_else(|e| format!("<p>chart failed: {}</p>", html_escape(&e)));
    html! {
        figure.chart role="group" aria-label=(caption) {
            figcaption { strong { (caption) } }
            (PreEscaped(svg))
        }
    }
}

fn html_escape(s: &str) -> String {
    maud::html! { (s) }.into_string()
}

/// Decimals for y labels: enough to tell the ticks apart (amounts in USD are often tiny).
fn decimals(y_max: f64) -> usize {
    match y_max {
        m if m >= 10.0 => 0,
        m if m >= 0.1 => 2,
        _ => 6,
    }
}

fn render(x: std::ops::Range<f64>, x_desc: &str, y_desc: &str, series: &[Series]) -> Result<String, String> {
    let y_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0_f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(240, 240, 240))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.*}", decimals(y_max)))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(200, 200, 200))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_svg_with_the_caption() {
        let s = Series { label: "calls", color: BLUE, points: vec![(-2.0, 1.0), (-1.0, 3.0), (0.0, 2.0)] };
        let html = line_chart("Calls per minute", -60.0..0.0, "minutes ago", "calls", &[s]).into_string();
        assert!(html.contains("<svg"), "{html}");
        assert!(html.contains("aria-label=\"Calls per minute\""));
    }
}
