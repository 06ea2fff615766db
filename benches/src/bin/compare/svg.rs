//! The SVG chart of the measures with a target.

use std::fmt::Write as _;

use super::machine::{Load, Machine};
use super::table::{escape, number, target_text, verdict_text};
use super::{Bound, Row};

/// One horizontal bar per measure with a target: how far it got toward the
/// target (1× is the target line; further right is better), with the figures
/// written beside it. Drawn by hand: a few rectangles and texts.
pub(super) fn svg(rows: &[Row], machine: &Machine, load: &Load) -> String {
    let judged: Vec<&Row> = rows.iter().filter(|r| r.target.is_some()).collect();
    let (label_w, bar_w, row_h, top) = (430.0, 420.0, 34.0, 70.0);
    let max_score = 3.0_f64;
    let width = label_w + bar_w + 330.0;
    let height = top + row_h * judged.len() as f64 + 60.0;
    let x_of = |score: f64| label_w + bar_w * (score.clamp(0.0, max_score) / max_score);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="12" y="24" font-size="16" font-weight="bold">kazasu: each measure against its target (1× = target, right is better)</text>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="44" fill="#555">{}, {} cores, {}; load average {} → {}; {} cores busy on average</text>"##,
        escape(&machine.cpu),
        machine.cores,
        escape(&machine.os),
        load.load_average_before,
        load.load_average_after,
        load.busy_cores.map_or("?".into(), |b| format!("{b:.2}"))
    );
    for tick in [0.0, 0.5, 1.0, 2.0, 3.0] {
        let x = x_of(tick);
        let (stroke, dash) = if tick == 1.0 {
            ("#000", "")
        } else {
            ("#ccc", r#" stroke-dasharray="3,3""#)
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{stroke}"{dash}/><text x="{x}" y="{}" text-anchor="middle" fill="#555">{tick}×</text>"##,
            top - 8.0,
            top + row_h * judged.len() as f64,
            top + row_h * judged.len() as f64 + 16.0
        );
    }
    for (i, row) in judged.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 10.0,
            y + 21.0,
            escape(&row.measure)
        );
        let detail = match row.score() {
            Some(score) => {
                let colour = if score >= 1.0 { "#2e7d32" } else { "#c62828" };
                let _ = writeln!(
                    s,
                    r#"<rect x="{label_w}" y="{}" width="{}" height="{}" fill="{colour}"/>"#,
                    y + 6.0,
                    x_of(score) - label_w,
                    row_h - 12.0
                );
                let shown = match row.target {
                    Some(Bound::RatioAtLeast(_)) => format!("ratio {}", number(row.ratio)),
                    _ => format!("{} {}", number(row.ours), row.unit),
                };
                format!("{shown} (target {})", target_text(row))
            }
            None => verdict_text(row),
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            label_w + bar_w + 10.0,
            y + 21.0,
            escape(&detail)
        );
    }
    // The target line again, over the bars.
    let _ = writeln!(
        s,
        r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#000" stroke-width="2"/>"##,
        top - 8.0,
        top + row_h * judged.len() as f64,
        x = x_of(1.0)
    );
    s.push_str("</svg>\n");
    s
}
