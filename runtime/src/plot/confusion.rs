//! The confusion matrix as a heatmap with counts and class names.

use std::path::Path;

use plotters::prelude::*;

use super::paint::*;
use super::{CONFUSION_SIZE, PlotError};
use crate::metrics::ConfusionMatrix;

/// The confusion matrix as a heatmap ([`CONFUSION_SIZE`] pixels): rows are
/// true classes, columns predicted classes, each cell showing its count
/// and shaded by the share of its row (the class's recall on the
/// diagonal), so small classes are as visible as large ones. Class names
/// label the axes when given (their number must match the matrix).
/// Counts are written while cells are at least 16 pixels wide (up to
/// about 40 classes).
pub fn plot_confusion(
    path: impl AsRef<Path>,
    matrix: &ConfusionMatrix,
    class_names: Option<&[String]>,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let n = matrix.classes();
    if n == 0 {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "a confusion matrix of 0 classes",
        });
    }
    if let Some(names) = class_names
        && names.len() != n
    {
        return Err(PlotError::ClassNames {
            path: path.to_path_buf(),
            names: names.len(),
            classes: n,
        });
    }
    let labels: Vec<String> = (0..n)
        .map(|c| class_names.map_or_else(|| c.to_string(), |names| names[c].clone()))
        .collect();
    render(path, CONFUSION_SIZE, |p| draw_confusion(p, matrix, &labels))
}

/// Sequential white-to-blue colour map (close to matplotlib's "Blues").
fn blues(t: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [247.0, 251.0, 255.0]),
        (0.25, [198.0, 219.0, 239.0]),
        (0.5, [107.0, 174.0, 214.0]),
        (0.75, [33.0, 113.0, 181.0]),
        (1.0, [8.0, 48.0, 107.0]),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let i = STOPS.iter().rposition(|s| s.0 <= t).unwrap_or(0).min(3);
    let (t0, a) = STOPS[i];
    let (t1, b) = STOPS[i + 1];
    let u = (t - t0) / (t1 - t0);
    let c = |k: usize| (a[k] + (b[k] - a[k]) * u).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

fn draw_confusion(p: &Painter, m: &ConfusionMatrix, labels: &[String]) -> Res {
    let area = p.area;
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let n = m.classes() as i32;
    let (w, h) = (CONFUSION_SIZE.0 as i32, CONFUSION_SIZE.1 as i32);
    let label_size = if n <= 20 { 15.0 } else { 11.0 };
    let max_label = labels
        .iter()
        .map(|l| p.width(l, label_size).ceil() as i32)
        .max()
        .unwrap_or(0);

    // Layout: title on top, axis title and row labels on the left, column
    // labels and axis title below the grid.
    let title_h = 64;
    let left = 44 + max_label + 10;
    let avail_w = w - left - 30;
    let provisional = (avail_w.min(h - title_h - 90) / n).max(1);
    // Column labels stand upright when they fit in a cell, else turn.
    let rotate = max_label > provisional - 6;
    let xlabel_h = if rotate { max_label + 12 } else { 24 } + 40;
    let avail_h = h - title_h - xlabel_h - 8;
    let cell = (avail_w.min(avail_h) / n).max(1);
    let grid = cell * n;
    let x0 = left + (avail_w - grid) / 2;
    let y0 = title_h;

    let title = format!(
        "Confusion matrix: {} samples, accuracy {:.2}%",
        m.total(),
        100.0 * m.accuracy()
    );
    p.text(&title, (w / 2, 14), 21.0, TEXT, H::Center, V::Top, false)?;
    p.text(
        "shade: share of the true class's samples (the diagonal is recall)",
        (w / 2, 42),
        13.0,
        MUTED,
        H::Center,
        V::Top,
        false,
    )?;

    let count_size = (cell as f32 * 0.3).clamp(8.0, 20.0);
    let show_counts = cell >= 16;
    for (t, row) in m.rows().enumerate() {
        let support: u64 = row.iter().sum();
        for (pred, &count) in row.iter().enumerate() {
            let share = if support == 0 {
                0.0
            } else {
                count as f64 / support as f64
            };
            let (cx, cy) = (x0 + pred as i32 * cell, y0 + t as i32 * cell);
            area.draw(&Rectangle::new(
                [(cx, cy), (cx + cell, cy + cell)],
                blues(share).filled(),
            ))
            .map_err(e)?;
            if show_counts {
                let color = if share > 0.45 { WHITE } else { TEXT };
                let text = count.to_string();
                // Shrink counts that would not fit the cell.
                let mut size = count_size;
                while size > 7.0 && p.width(&text, size) > cell as f32 - 4.0 {
                    size -= 1.0;
                }
                p.text(
                    &text,
                    (cx + cell / 2, cy + cell / 2),
                    size,
                    color,
                    H::Center,
                    V::Middle,
                    false,
                )?;
            }
        }
    }
    // Thin white separators and a frame.
    for i in 1..n {
        let line = WHITE.stroke_width(1);
        area.draw(&PathElement::new(
            vec![(x0 + i * cell, y0), (x0 + i * cell, y0 + grid)],
            line,
        ))
        .map_err(e)?;
        area.draw(&PathElement::new(
            vec![(x0, y0 + i * cell), (x0 + grid, y0 + i * cell)],
            line,
        ))
        .map_err(e)?;
    }
    area.draw(&Rectangle::new(
        [(x0, y0), (x0 + grid, y0 + grid)],
        AXIS.stroke_width(1),
    ))
    .map_err(e)?;

    // Skip labels when cells are too small to hold them legibly.
    let every = ((label_size as i32 + 2) / cell.max(1) + 1).max(1) as usize;
    for (t, label) in labels.iter().enumerate().step_by(every) {
        let cy = y0 + t as i32 * cell + cell / 2;
        p.text(
            label,
            (x0 - 8, cy),
            label_size,
            TEXT,
            H::Right,
            V::Middle,
            false,
        )?;
    }
    for (pred, label) in labels.iter().enumerate().step_by(every) {
        let cx = x0 + pred as i32 * cell + cell / 2;
        if rotate {
            // Reading upwards, ending just below the grid.
            p.text(
                label,
                (cx, y0 + grid + 8),
                label_size,
                TEXT,
                H::Right,
                V::Middle,
                true,
            )?;
        } else {
            p.text(
                label,
                (cx, y0 + grid + 8),
                label_size,
                TEXT,
                H::Center,
                V::Top,
                false,
            )?;
        }
    }
    p.text(
        "predicted class",
        (x0 + grid / 2, y0 + grid + xlabel_h - 26),
        16.0,
        TEXT,
        H::Center,
        V::Middle,
        false,
    )?;
    p.text(
        "true class",
        (16, y0 + grid / 2),
        16.0,
        TEXT,
        H::Center,
        V::Middle,
        true,
    )?;
    Ok(())
}
