//! PNG plots of a training run: loss and accuracy curves, a confusion
//! matrix heatmap, and a regression's predicted-against-true scatter.
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

//!
//! This file holds the public entry points' constants and errors; `paint`
//! the font, colours, text layout and atomic PNG rendering both plots use;
//! `curves` and `confusion` draw one plot each.

mod confusion;
mod curves;
mod paint;
mod scatter;

use std::path::PathBuf;

use thiserror::Error;

pub use confusion::plot_confusion;
pub use curves::plot_curves;
pub use scatter::plot_scatter;

/// DejaVu Sans, the plots' font.
pub const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The font family name DejaVu Sans is registered under with plotters.
pub const FONT: &str = "sans-serif";

/// Size in pixels of [`plot_curves`]' image.
pub const CURVES_SIZE: (u32, u32) = (1200, 520);

/// Size in pixels of [`plot_scatter`]'s image.
pub const SCATTER_SIZE: (u32, u32) = (760, 720);

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
