//! A regression's predicted values against the true ones, one dot per
//! sample and target, with the diagonal where a perfect model's dots lie.

use std::path::Path;

use plotters::prelude::*;

use super::curves::{format_number, nice_ticks};
use super::paint::*;
use super::{PlotError, SCATTER_SIZE};
use crate::regression::RegressionResult;

/// Draws `result`'s predictions (vertical) against the true values
/// (horizontal) on the same scale ([`SCATTER_SIZE`] pixels); non-finite
/// predictions are left out.
pub fn plot_scatter(path: impl AsRef<Path>, result: &RegressionResult) -> Result<(), PlotError> {
    let path = path.as_ref();
    let points: Vec<(f64, f64)> = result
        .actual
        .iter()
        .zip(&result.predicted)
        .map(|(&t, &p)| (t as f64, p as f64))
        .filter(|(t, p)| t.is_finite() && p.is_finite())
        .collect();
    if points.is_empty() {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "no predictions",
        });
    }
    let lo = points
        .iter()
        .map(|&(t, p)| t.min(p))
        .fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|&(t, p)| t.max(p))
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.04).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    let ticks = nice_ticks(lo, hi, 6);
    let m = result.metrics;
    let subtitle = format!(
        "{} ({} values): RMSE {}, MAE {}, R² {:.4}",
        result.names.join(", "),
        points.len(),
        format_number(m.rmse),
        format_number(m.mae),
        m.r2
    );
    render(path, SCATTER_SIZE, |p| {
        let area = p.area;
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let (w, h) = (SCATTER_SIZE.0 as i32, SCATTER_SIZE.1 as i32);
        let (l, t, r, b) = (90, 76, w - 30, h - 64);
        let px = |x: f64| (l as f64 + (x - lo) / (hi - lo) * (r - l) as f64).round() as i32;
        let py = |y: f64| (b as f64 - (y - lo) / (hi - lo) * (b - t) as f64).round() as i32;
        p.text(
            "Predicted against true",
            ((l + r) / 2, 14),
            22.0,
            TEXT,
            H::Center,
            V::Top,
            false,
        )?;
        p.text(
            &subtitle,
            ((l + r) / 2, 44),
            14.0,
            MUTED,
            H::Center,
            V::Top,
            false,
        )?;
        for &v in &ticks {
            let (x, y) = (px(v), py(v));
            area.draw(&PathElement::new(
                vec![(l, y), (r, y)],
                GRID.stroke_width(1),
            ))
            .map_err(e)?;
            area.draw(&PathElement::new(
                vec![(x, t), (x, b)],
                GRID.stroke_width(1),
            ))
            .map_err(e)?;
            let label = format_number(v);
            p.text(&label, (l - 8, y), 14.0, TEXT, H::Right, V::Middle, false)?;
            p.text(&label, (x, b + 8), 14.0, TEXT, H::Center, V::Top, false)?;
        }
        area.draw(&Rectangle::new([(l, t), (r, b)], AXIS.stroke_width(1)))
            .map_err(e)?;
        // Where a perfect model's dots would be.
        area.draw(&PathElement::new(
            vec![(px(lo), py(lo)), (px(hi), py(hi))],
            VALIDATION.stroke_width(2),
        ))
        .map_err(e)?;
        for &(truth, predicted) in &points {
            area.draw(&Circle::new(
                (px(truth), py(predicted)),
                3,
                TRAIN.mix(0.6).filled(),
            ))
            .map_err(e)?;
        }
        p.text(
            "true value",
            ((l + r) / 2, h - 26),
            16.0,
            TEXT,
            H::Center,
            V::Top,
            false,
        )?;
        p.text(
            "predicted",
            (l - 60, t - 22),
            16.0,
            TEXT,
            H::Left,
            V::Top,
            false,
        )
    })
}
