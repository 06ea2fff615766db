//! The output: the text table, its Markdown form and the verdicts' words.

use std::fmt::Write as _;

use super::{Bound, Row, Verdict};

pub(super) fn number(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(v) if !v.is_finite() => "?".into(),
        Some(v) if v.abs() >= 100.0 => {
            let n = v.round() as i64;
            let digits = n.abs().to_string();
            let mut grouped = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            if n < 0 {
                format!("-{grouped}")
            } else {
                grouped
            }
        }
        Some(v) => {
            let places = if v.abs() >= 1.0 { 2 } else { 3 };
            let text = format!("{v:.places$}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

pub(super) fn target_text(row: &Row) -> String {
    match row.target {
        None => "—".into(),
        Some(Bound::RatioAtLeast(t)) => format!("ratio ≥ {}", number(Some(t))),
        Some(Bound::AtLeast(t)) => format!("≥ {} {}", number(Some(t)), row.unit),
        Some(Bound::AtMost(t)) => format!("< {} {}", number(Some(t)), row.unit),
    }
}

pub(super) fn verdict_text(row: &Row) -> String {
    match row.verdict {
        Verdict::Met => "met".into(),
        Verdict::Missed => "MISSED".into(),
        Verdict::Figure => "figure".into(),
        Verdict::Smoke => "ran (quick)".into(),
        Verdict::Failed => format!(
            "FAILED: {}",
            row.error.as_deref().unwrap_or("").replace('\n', " ")
        ),
    }
}

pub(super) const HEADER: [&str; 6] = ["measure", "ours", "anchor", "ratio", "target", "verdict"];

/// Each row's cells: measure, ours, anchor, ratio, target, verdict.
pub(super) fn cells(rows: &[Row]) -> Vec<[String; 6]> {
    rows.iter()
        .map(|r| {
            [
                r.measure.clone(),
                r.ours
                    .map_or("—".into(), |_| format!("{} {}", number(r.ours), r.unit)),
                match (&r.anchor_name, r.anchor) {
                    (Some(name), Some(v)) => format!("{} ({name})", number(Some(v))),
                    _ => "—".into(),
                },
                number(r.ratio),
                target_text(r),
                verdict_text(r),
            ]
        })
        .collect()
}

/// The table, aligned for a terminal.
pub(super) fn table(rows: &[Row]) -> String {
    let cells = cells(rows);
    let header = HEADER;
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if i + 1 < row.len() {
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// The same table in Markdown, for the README.
pub(super) fn markdown_table(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n|---|---:|---|---:|---|---|\n", HEADER.join(" | "));
    for row in cells(rows) {
        let row = row.map(|cell| cell.replace('|', "\\|"));
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
