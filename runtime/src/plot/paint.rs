//! Drawing primitives of the plots: the embedded font, the colours, text
//! laid out glyph by glyph, and rendering to a PNG file atomically.

use std::path::Path;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{DEJAVU_SANS, FONT, PlotError};
use crate::atomic_write::{commit_temp, temp_sibling};

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
pub(super) const TRAIN: RGBColor = RGBColor(0, 114, 178);
pub(super) const VALIDATION: RGBColor = RGBColor(213, 94, 0);
pub(super) const GRID: RGBColor = RGBColor(228, 228, 228);
pub(super) const AXIS: RGBColor = RGBColor(120, 120, 120);
pub(super) const TEXT: RGBColor = RGBColor(35, 35, 35);
pub(super) const MUTED: RGBColor = RGBColor(110, 110, 110);

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub(super) type Res = Result<(), String>;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum H {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum V {
    Top,
    /// The middle of a capital letter.
    Middle,
}

/// Text drawn glyph by glyph with ab_glyph, blended onto the area.
pub(super) struct Painter<'a, 'b> {
    pub(super) area: &'a Area<'b>,
    pub(super) font: &'static FontRef<'static>,
}

impl Painter<'_, '_> {
    /// Advance width of `s` at pixel size `size`.
    pub(super) fn width(&self, s: &str, size: f32) -> f32 {
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
    pub(super) fn text(
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
pub(super) fn render(
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
