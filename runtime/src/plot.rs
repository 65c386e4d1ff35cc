//! PNG plots of a training run: loss and accuracy curves, and a confusion
//! matrix heatmap.
//!
//! Shapes are drawn with plotters' bitmap backend. Text uses the embedded
//! DejaVu Sans (`runtime/assets/DejaVuSans.ttf`, Bitstream Vera licence,
//! see `runtime/assets/ATTRIBUTION.md`), so no system font is needed; it is
//! registered with plotters as [`FONT`], but laid out here with ab_glyph
//! directly because plotters 0.3.7 ignores each glyph's left side bearing
//! and so spaces letters unevenly ("Tr ouser").
//!
//! Files are always PNG whatever the extension of the path, and are written
//! to a temporary file in the same directory, synced and renamed, so a
//! killed run never leaves a torn image.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use thiserror::Error;

use crate::atomic_write::{commit_temp, temp_sibling};
use crate::metrics::{ConfusionMatrix, EpochRecord};

/// DejaVu Sans, the plots' font.
pub const DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The font family name DejaVu Sans is registered under with plotters.
pub const FONT: &str = "sans-serif";

/// Size in pixels of [`plot_curves`]' image.
pub const CURVES_SIZE: (u32, u32) = (1200, 520);

/// Size in pixels of [`plot_confusion`]'s image.
pub const CONFUSION_SIZE: (u32, u32) = (860, 800);

/// Why a plot could not be written.
#[derive(Debug, Error)]
pub enum PlotError {
    #[error("plot {}: nothing to plot ({what})", path.display())]
    Empty { path: PathBuf, what: &'static str },
    #[error("plot {}: {names} class names for {classes} classes", path.display())]
    ClassNames {
        path: PathBuf,
        names: usize,
        classes: usize,
    },
    #[error("plot {}: the embedded font could not be loaded", path.display())]
    Font { path: PathBuf },
    #[error("plot {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    #[error("plot {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The parsed font, registered with plotters on first use.
fn font() -> Option<&'static FontRef<'static>> {
    static FONT_REF: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT_REF
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).ok()?;
            FontRef::try_from_slice(DEJAVU_SANS).ok()
        })
        .as_ref()
}

// A colour-blind-safe pair (Okabe-Ito blue and vermilion) and greys.
const TRAIN: RGBColor = RGBColor(0, 114, 178);
const TEST: RGBColor = RGBColor(213, 94, 0);
const GRID: RGBColor = RGBColor(228, 228, 228);
const AXIS: RGBColor = RGBColor(120, 120, 120);
const TEXT: RGBColor = RGBColor(35, 35, 35);
const MUTED: RGBColor = RGBColor(110, 110, 110);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Res = Result<(), String>;

#[derive(Clone, Copy, PartialEq)]
enum H {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy, PartialEq)]
enum V {
    Top,
    /// The middle of a capital letter.
    Middle,
}

/// Text drawn glyph by glyph with ab_glyph, blended onto the area.
struct Painter<'a, 'b> {
    area: &'a Area<'b>,
    font: &'static FontRef<'static>,
}

impl Painter<'_, '_> {
    /// Advance width of `s` at pixel size `size`.
    fn width(&self, s: &str, size: f32) -> f32 {
        let sf = self.font.as_scaled(PxScale::from(size));
        let mut w = 0.0;
        let mut prev = None;
        for c in s.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                w += sf.kern(p, id);
            }
            w += sf.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// Draws `s` with its anchor (`h`, `v`) at `(x, y)`; `upward` rotates
    /// it 90° counter-clockwise (reading bottom to top, as a y-axis title).
    #[allow(clippy::too_many_arguments)]
    fn text(
        &self,
        s: &str,
        (x, y): (i32, i32),
        size: f32,
        color: RGBColor,
        h: H,
        v: V,
        upward: bool,
    ) -> Res {
        let scale = PxScale::from(size);
        let sf = self.font.as_scaled(scale);
        let ascent = sf.ascent();
        // Cap height from the outline of "H", for vertical centring.
        let cap = self
            .font
            .outline_glyph(sf.scaled_glyph('H'))
            .map_or(ascent * 0.75, |o| o.px_bounds().height());
        let w = self.width(s, size);
        let ox = match h {
            H::Left => 0.0,
            H::Center => -w / 2.0,
            H::Right => -w,
        };
        let oy = match v {
            V::Top => 0.0,
            V::Middle => -(ascent - cap / 2.0),
        };
        let (ox, oy) = (ox.round(), oy.round());
        let mut pen = 0.0;
        let mut prev = None;
        let mut result = Ok(());
        for c in s.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                pen += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(pen + ox, ascent + oy));
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    if coverage <= 0.0 || result.is_err() {
                        return;
                    }
                    let (lx, ly) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                    let p = if upward {
                        (x + ly, y - lx)
                    } else {
                        (x + lx, y + ly)
                    };
                    result = self
                        .area
                        .draw_pixel(p, &color.mix(coverage.min(1.0) as f64))
                        .map_err(|e| e.to_string());
                });
            }
            pen += sf.h_advance(id);
            prev = Some(id);
        }
        result
    }
}

/// Draws onto a temporary PNG next to `path`, then renames it into place.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Painter) -> Res,
) -> Result<(), PlotError> {
    let Some(font) = font() else {
        return Err(PlotError::Font {
            path: path.to_path_buf(),
        });
    };
    let tmp = temp_sibling(path, ".png");
    let result = {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        let painter = Painter { area: &root, font };
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&painter))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
        // `root` drops here; a failed drawing may still be written to `tmp`.
    };
    if let Err(message) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(PlotError::Draw {
            path: path.to_path_buf(),
            message,
        });
    }
    commit_temp(&tmp, path).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A "nice" tick step for `span`: 1, 2, 2.5 or 5 times a power of ten,
/// giving at most about `max_ticks` ticks.
fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let raw = span.max(1e-12) / max_ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// The multiples of [`nice_step`] within [lo, hi].
fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let step = nice_step(hi - lo, max_ticks);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn format_number(y: f64) -> String {
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

/// Loss and accuracy per epoch, train and test, side by side
/// ([`CURVES_SIZE`] pixels), with the last epoch's values in the
/// subtitles. Non-finite values (a diverged loss) are left out of the
/// lines; without test values there is no test line.
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
            name: "test",
            color: TEST,
            points: series(|r| r.test_loss, 1.0),
        },
    ];
    let acc = [
        Line {
            name: "train",
            color: TRAIN,
            points: series(|r| Some(r.train_accuracy), 100.0),
        },
        Line {
            name: "test",
            color: TEST,
            points: series(|r| r.test_accuracy, 100.0),
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
    let describe = |train: f64, test: Option<f64>, f: &dyn Fn(f64) -> String| match test {
        Some(t) => format!("epoch {}: train {}, test {}", last.epoch, f(train), f(t)),
        None => format!("epoch {}: train {}", last.epoch, f(train)),
    };
    let loss_fmt = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            format!("{v}")
        }
    };
    let pct = |v: f64| format!("{:.2}%", 100.0 * v);

    let (w, h) = (CURVES_SIZE.0 as i32, CURVES_SIZE.1 as i32);
    render(path, CURVES_SIZE, |p| {
        draw_panel(
            p,
            &Panel {
                frame: (0, 0, w / 2, h),
                title: "Loss",
                subtitle: describe(last.train_loss, last.test_loss, &loss_fmt),
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
                frame: (w / 2, 0, w, h),
                title: "Accuracy",
                subtitle: describe(last.train_accuracy, last.test_accuracy, &pct),
                y_title: "accuracy",
                x_range,
                y_range: (acc_bottom, 100.0),
                y_ticks: acc_ticks,
                y_format: &|v| format!("{}%", format_number(v)),
                lines: &acc,
                legend_top: false,
            },
        )
    })
}

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
