//! The training curves: loss and accuracy per epoch, train and validation, in
//! two panels side by side.

use std::path::Path;

use plotters::prelude::*;

use super::paint::*;
use super::{CURVES_SIZE, PlotError};
use crate::metrics::EpochRecord;

/// A "nice" tick step for `span`: 1, 2, 2.5 or 5 times a power of ten,
/// giving at most about `max_ticks` ticks.
pub(super) fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let raw = span.max(1e-12) / max_ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// The multiples of [`nice_step`] within [lo, hi].
pub(super) fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let step = nice_step(hi - lo, max_ticks);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

pub(super) fn format_number(y: f64) -> String {
    let s = format!("{y:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// One line of a panel: legend name, colour, points (epoch, value).
struct Line {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

struct Panel<'a> {
    /// Pixel rectangle of the whole panel: (left, top, right, bottom).
    frame: (i32, i32, i32, i32),
    title: &'a str,
    subtitle: String,
    y_title: &'a str,
    x_range: (f64, f64),
    y_range: (f64, f64),
    y_ticks: Vec<f64>,
    y_format: &'a dyn Fn(f64) -> String,
    lines: &'a [Line],
    legend_top: bool,
}

fn draw_panel(p: &Painter, panel: &Panel) -> Res {
    let area = p.area;
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (left, top, right, bottom) = panel.frame;
    // The plotting rectangle inside the frame.
    let (l, t, r, b) = (left + 84, top + 66, right - 24, bottom - 58);
    let (x0, x1) = panel.x_range;
    let (y0, y1) = panel.y_range;
    let px = |x: f64| l as f64 + (x - x0) / (x1 - x0) * (r - l) as f64;
    let py = |y: f64| b as f64 - (y - y0) / (y1 - y0) * (b - t) as f64;

    p.text(
        panel.title,
        ((l + r) / 2, top + 14),
        22.0,
        TEXT,
        H::Center,
        V::Top,
        false,
    )?;
    p.text(
        &panel.subtitle,
        ((l + r) / 2, top + 44),
        14.0,
        MUTED,
        H::Center,
        V::Top,
        false,
    )?;

    // Grid and tick labels.
    for &y in &panel.y_ticks {
        let yy = py(y).round() as i32;
        area.draw(&PathElement::new(
            vec![(l, yy), (r, yy)],
            GRID.stroke_width(1),
        ))
        .map_err(e)?;
        p.text(
            &(panel.y_format)(y),
            (l - 8, yy),
            14.0,
            TEXT,
            H::Right,
            V::Middle,
            false,
        )?;
    }
    let span = x1 - x0;
    let x_ticks: Vec<f64> = nice_ticks(x0, x1, 10)
        .into_iter()
        .filter(|x| x.fract() == 0.0)
        .collect();
    let x_ticks = if x_ticks.is_empty() {
        vec![x0.ceil()]
    } else {
        x_ticks
    };
    for &x in &x_ticks {
        let xx = px(x).round() as i32;
        area.draw(&PathElement::new(
            vec![(xx, t), (xx, b)],
            GRID.stroke_width(1),
        ))
        .map_err(e)?;
        area.draw(&PathElement::new(
            vec![(xx, b), (xx, b + 5)],
            AXIS.stroke_width(1),
        ))
        .map_err(e)?;
        p.text(
            &format_number(x),
            (xx, b + 9),
            14.0,
            TEXT,
            H::Center,
            V::Top,
            false,
        )?;
    }
    // Axes.
    area.draw(&PathElement::new(
        vec![(l, t), (l, b), (r, b)],
        AXIS.stroke_width(1),
    ))
    .map_err(e)?;
    p.text(
        "epoch",
        ((l + r) / 2, b + 32),
        16.0,
        TEXT,
        H::Center,
        V::Top,
        false,
    )?;
    p.text(
        panel.y_title,
        (left + 14, (t + b) / 2),
        16.0,
        TEXT,
        H::Center,
        V::Middle,
        true,
    )?;

    // Lines, with markers while the points are far enough apart.
    let spacing = (r - l) as f64 / (span.max(1.0));
    for line in panel.lines {
        let pts: Vec<(i32, i32)> = line
            .points
            .iter()
            .map(|&(x, y)| (px(x).round() as i32, py(y).round() as i32))
            .collect();
        if pts.len() > 1 {
            area.draw(&PathElement::new(pts.clone(), line.color.stroke_width(3)))
                .map_err(e)?;
        }
        if spacing >= 12.0 || pts.len() == 1 {
            for &c in &pts {
                area.draw(&Circle::new(c, 4, line.color.filled()))
                    .map_err(e)?;
            }
        }
    }

    // Legend.
    let shown: Vec<&Line> = panel
        .lines
        .iter()
        .filter(|l| !l.points.is_empty())
        .collect();
    if !shown.is_empty() {
        let text_w = shown
            .iter()
            .map(|l| p.width(l.name, 15.0))
            .fold(0.0f32, f32::max) as i32;
        let (w, h) = (16 + 28 + 8 + text_w + 14, 12 + 24 * shown.len() as i32);
        // The corner covering the fewest points of the lines (sampled
        // along each segment), preferring the panel's usual corner.
        let corners = [
            (r - 12 - w, t + 12),
            (r - 12 - w, b - 12 - h),
            (l + 12, t + 12),
            (l + 12, b - 12 - h),
        ];
        let order: [usize; 4] = if panel.legend_top {
            [0, 1, 2, 3]
        } else {
            [1, 0, 3, 2]
        };
        let mut samples: Vec<(f64, f64)> = Vec::new();
        for line in panel.lines {
            let pts: Vec<(f64, f64)> = line.points.iter().map(|&(x, y)| (px(x), py(y))).collect();
            samples.extend(&pts);
            for s in pts.windows(2) {
                for k in 1..8 {
                    let u = k as f64 / 8.0;
                    samples.push((
                        s[0].0 + u * (s[1].0 - s[0].0),
                        s[0].1 + u * (s[1].1 - s[0].1),
                    ));
                }
            }
        }
        let covered = |(cx, cy): (i32, i32)| {
            let (x0, y0) = ((cx - 6) as f64, (cy - 6) as f64);
            let (x1, y1) = ((cx + w + 6) as f64, (cy + h + 6) as f64);
            samples
                .iter()
                .filter(|&&(x, y)| x >= x0 && x <= x1 && y >= y0 && y <= y1)
                .count()
        };
        let best = order
            .iter()
            .copied()
            .min_by_key(|&i| covered(corners[i]))
            .unwrap_or(0);
        let (bx, by) = corners[best];
        area.draw(&Rectangle::new(
            [(bx, by), (bx + w, by + h)],
            WHITE.mix(0.92).filled(),
        ))
        .map_err(e)?;
        area.draw(&Rectangle::new(
            [(bx, by), (bx + w, by + h)],
            GRID.stroke_width(1),
        ))
        .map_err(e)?;
        for (i, line) in shown.iter().enumerate() {
            let cy = by + 18 + 24 * i as i32;
            area.draw(&PathElement::new(
                vec![(bx + 14, cy), (bx + 42, cy)],
                line.color.stroke_width(3),
            ))
            .map_err(e)?;
            p.text(
                line.name,
                (bx + 50, cy),
                15.0,
                TEXT,
                H::Left,
                V::Middle,
                false,
            )?;
        }
    }
    Ok(())
}

/// Loss and accuracy per epoch, train and validation, side by side
/// ([`CURVES_SIZE`] pixels), with the last epoch's values in the
/// subtitles. Non-finite values (a diverged loss) are left out of the
/// lines; without validation values there is no validation line.
pub fn plot_curves(path: impl AsRef<Path>, records: &[EpochRecord]) -> Result<(), PlotError> {
    let path = path.as_ref();
    if records.is_empty() {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "no epochs",
        });
    }
    let series = |f: fn(&EpochRecord) -> Option<f64>, scale: f64| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| Some((r.epoch as f64, f(r)? * scale)))
            .filter(|(_, y)| y.is_finite())
            .collect()
    };
    let loss = [
        Line {
            name: "train",
            color: TRAIN,
            points: series(|r| Some(r.train_loss), 1.0),
        },
        Line {
            name: "validation",
            color: VALIDATION,
            points: series(|r| r.val_loss, 1.0),
        },
    ];
    let acc = [
        Line {
            name: "train",
            color: TRAIN,
            points: series(|r| Some(r.train_accuracy), 100.0),
        },
        Line {
            name: "validation",
            color: VALIDATION,
            points: series(|r| r.val_accuracy, 100.0),
        },
    ];

    let first = records.iter().map(|r| r.epoch).min().unwrap_or(1) as f64;
    let last_epoch = records.iter().map(|r| r.epoch).max().unwrap_or(1) as f64;
    let pad = ((last_epoch - first) * 0.03).max(0.5);
    let x_range = (first - pad, last_epoch + pad);

    let values = |lines: &[Line]| -> Vec<f64> {
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .collect()
    };
    let max_loss = values(&loss).into_iter().fold(0.0f64, f64::max);
    // The top: the first multiple of a nice step above the largest loss.
    let loss_top = if max_loss > 0.0 {
        let step = nice_step(max_loss * 1.04, 6);
        (max_loss * 1.04 / step).ceil() * step
    } else {
        1.0
    };
    let loss_ticks = nice_ticks(0.0, loss_top, 6);
    let min_acc = values(&acc).into_iter().fold(100.0f64, f64::min);
    let acc_bottom = (((min_acc - 2.0) / 10.0).floor() * 10.0).clamp(0.0, 90.0);
    let acc_ticks = nice_ticks(acc_bottom, 100.0, 6);

    let last = records.iter().max_by_key(|r| r.epoch).expect("not empty");
    let describe = |train: f64, val: Option<f64>, f: &dyn Fn(f64) -> String| match val {
        Some(v) => format!(
            "epoch {}: train {}, validation {}",
            last.epoch,
            f(train),
            f(v)
        ),
        None => format!("epoch {}: train {}", last.epoch, f(train)),
    };
    let loss_fmt = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            format!("{v}")
        }
    };
    // Regression has no accuracy (NaN).
    let pct = |v: f64| {
        if v.is_nan() {
            "n/a".to_string()
        } else {
            format!("{:.2}%", 100.0 * v)
        }
    };

    // A schedule's learning rate gets a third panel.
    let lr = [Line {
        name: "learning rate",
        color: TRAIN,
        points: series(|r| r.lr, 1.0),
    }];
    let with_lr = !lr[0].points.is_empty();
    let max_lr = values(&lr).into_iter().fold(0.0f64, f64::max);
    let lr_top = if max_lr > 0.0 {
        let step = nice_step(max_lr * 1.04, 5);
        (max_lr * 1.04 / step).ceil() * step
    } else {
        1.0
    };
    let lr_format = |v: f64| {
        if v != 0.0 && v.abs() < 1e-3 {
            format!("{v:.1e}")
        } else {
            format!("{v:.6}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
    };

    let size = if with_lr {
        (CURVES_SIZE.0 * 3 / 2, CURVES_SIZE.1)
    } else {
        CURVES_SIZE
    };
    let (w, h) = (size.0 as i32, size.1 as i32);
    let panels = if with_lr { 3 } else { 2 };
    let frame = |i: i32| (w * i / panels, 0, w * (i + 1) / panels, h);
    render(path, size, |p| {
        draw_panel(
            p,
            &Panel {
                frame: frame(0),
                title: "Loss",
                subtitle: describe(last.train_loss, last.val_loss, &loss_fmt),
                y_title: "loss",
                x_range,
                y_range: (0.0, loss_top),
                y_ticks: loss_ticks,
                y_format: &format_number,
                lines: &loss,
                legend_top: true,
            },
        )?;
        draw_panel(
            p,
            &Panel {
                frame: frame(1),
                title: "Accuracy",
                subtitle: describe(last.train_accuracy, last.val_accuracy, &pct),
                y_title: "accuracy",
                x_range,
                y_range: (acc_bottom, 100.0),
                y_ticks: acc_ticks,
                y_format: &|v| format!("{}%", format_number(v)),
                lines: &acc,
                legend_top: false,
            },
        )?;
        if with_lr {
            draw_panel(
                p,
                &Panel {
                    frame: frame(2),
                    title: "Learning rate",
                    subtitle: format!(
                        "epoch {}: {}",
                        last.epoch,
                        last.lr.map(lr_format).unwrap_or_default()
                    ),
                    y_title: "learning rate (last step of the epoch)",
                    x_range,
                    y_range: (0.0, lr_top),
                    y_ticks: nice_ticks(0.0, lr_top, 5),
                    y_format: &lr_format,
                    lines: &lr,
                    legend_top: true,
                },
            )?;
        }
        Ok(())
    })
}
