//! PNG images as model inputs (for inference), one image per sample.
//!
//! Any PNG the `png` crate decodes is read: gray, gray with alpha, RGB,
//! RGBA or palette, 1 to 16 bits per channel, converted to 8 bits. The
//! image becomes the model's input shape:
//!
//! - `[1, H, W]`, `[H, W]` or `[N]` (with `N = H × W`): one gray channel.
//!   Colour images are converted as Pillow's `Image.convert("L")` does
//!   (ITU-R 601-2 luma, `(19595 R + 38470 G + 7471 B + 32768) >> 16`), so
//!   they match what a Python pipeline gets;
//! - `[3, H, W]`: RGB, channels first (PyTorch's layout); a gray image is
//!   repeated in the three channels.
//!
//! Alpha is dropped. The image's height and width must be the model's:
//! nothing is resized (a resize would change the inputs silently). Pixel
//! values are kept as stored (0 to 255); the caller scales them.
//!
//! A directory is read as its `.png` files (extension in any case), sorted
//! by file name; other files and subdirectories are ignored, and a
//! directory without PNG files is an error.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{DataError, Shape, read_file};

/// What is wrong with a PNG input.
#[derive(Debug, Error)]
pub enum PngError {
    #[error("not a readable PNG image: {0}")]
    Decode(String),
    #[error(
        "the image is {width}x{height} ({kind}), but the model's input {} takes {wanted}",
        Shape(input)
    )]
    Size {
        width: u32,
        height: u32,
        kind: &'static str,
        input: Vec<usize>,
        wanted: String,
    },
    #[error(
        "the model's input {} is not an image shape (PNG inputs need [1, H, W], [3, H, W], [H, W] or [H × W])",
        Shape(.0)
    )]
    NotImageInput(Vec<usize>),
    #[error("holds no .png files (files are read by their .png extension)")]
    EmptyDir,
}

/// Images read for a model input.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    /// The files, in sample order.
    pub files: Vec<PathBuf>,
    /// `files.len() × product(input shape)` pixel values (0..=255).
    pub pixels: Vec<u8>,
}

/// The channels wanted, the image height and width when the input shape
/// fixes them (`None` for a flat input of `N` values), and the values per
/// image.
type Layout = (usize, Option<(usize, usize)>, usize);

fn layout(input: &[usize]) -> Result<Layout, PngError> {
    let not_image = || PngError::NotImageInput(input.to_vec());
    match *input {
        [c @ (1 | 3), h, w] => Ok((c, Some((h, w)), c * h * w)),
        [h, w] => Ok((1, Some((h, w)), h * w)),
        [n] if n > 0 => Ok((1, None, n)),
        _ => Err(not_image()),
    }
}

/// Decodes one PNG held in memory into the layout of `input` (see the
/// module documentation); `file` names it in errors.
pub fn decode(bytes: &[u8], file: &str, input: &[usize]) -> Result<Vec<u8>, DataError> {
    decode_inner(bytes, input).map_err(|error| DataError::Png {
        file: file.to_string(),
        error,
    })
}

fn decode_inner(bytes: &[u8], input: &[usize]) -> Result<Vec<u8>, PngError> {
    use ::png::{ColorType, Transformations};
    let (channels, size, len) = layout(input)?;
    let decode_err = |e: ::png::DecodingError| PngError::Decode(e.to_string());
    let mut decoder = ::png::Decoder::new(bytes);
    decoder.set_transformations(Transformations::normalize_to_color8());
    // The size is checked from the header, before any pixel buffer is
    // allocated: a huge declared image costs nothing.
    let info = decoder.read_header_info().map_err(decode_err)?;
    let (width, height) = (info.width, info.height);
    let colour = info.color_type;
    let kind = match colour {
        ColorType::Grayscale | ColorType::GrayscaleAlpha => "gray",
        _ => "colour",
    };
    let fits = match size {
        Some((h, w)) => h == height as usize && w == width as usize,
        None => (width as usize).checked_mul(height as usize) == Some(len),
    };
    if !fits {
        let wanted = match size {
            Some((h, w)) => format!(
                "{w}x{h} images ({})",
                if channels == 3 { "RGB" } else { "gray" }
            ),
            None => format!("{len} values (a gray image of {len} pixels)"),
        };
        return Err(PngError::Size {
            width,
            height,
            kind,
            input: input.to_vec(),
            wanted,
        });
    }
    let mut reader = decoder.read_info().map_err(decode_err)?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(decode_err)?;
    let data = buf.get(..frame.buffer_size()).unwrap_or(&buf);
    let step = match frame.color_type {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        // normalize_to_color8 expands palettes; anything else is a bug
        // in the decoder, reported rather than trusted.
        ColorType::Indexed => return Err(PngError::Decode("palette was not expanded".into())),
    };
    let line = frame.line_size;
    let (w, h) = (width as usize, height as usize);
    if line < w * step || data.len() < line * h {
        return Err(PngError::Decode(
            "the decoder returned fewer pixels than the header declares".into(),
        ));
    }
    let pixel = |y: usize, x: usize| -> [u8; 3] {
        let p = &data[y * line + x * step..];
        if step >= 3 {
            [p[0], p[1], p[2]]
        } else {
            [p[0]; 3]
        }
    };
    let mut out = vec![0u8; len];
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = pixel(y, x);
            if channels == 3 {
                for (c, v) in [r, g, b].into_iter().enumerate() {
                    out[c * h * w + y * w + x] = v;
                }
            } else {
                out[y * w + x] = if step >= 3 { luma(r, g, b) } else { r };
            }
        }
    }
    Ok(out)
}

/// Pillow's RGB to L conversion (ITU-R 601-2 luma, rounded).
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000) >> 16) as u8
}

/// Reads a PNG file, or every `.png` file of a directory (sorted by name),
/// into the layout of `input`.
pub fn load(path: &Path, input: &[usize]) -> Result<Images, DataError> {
    let png_err = |file: &Path, error| DataError::Png {
        file: file.display().to_string(),
        error,
    };
    let files = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let p = entry.path();
            let is_png = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
            if is_png && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(png_err(path, PngError::EmptyDir));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut pixels = Vec::new();
    for file in &files {
        pixels.extend(decode(
            &read_file(file)?,
            &file.display().to_string(),
            input,
        )?);
    }
    Ok(Images { files, pixels })
}
