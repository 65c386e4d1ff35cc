//! MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST...).
//!
//! An IDX file is a 4-byte magic number (two zero bytes, an element-type
//! code, the number of dimensions), one big-endian u32 per dimension, then
//! the elements in row-major order. MNIST's images are `0x00000803`
//! (unsigned bytes, 3 dimensions: count, rows, columns), its labels
//! `0x00000801` (unsigned bytes, 1 dimension: count). Files may be raw or
//! gzip-compressed; which one is decided by the gzip magic bytes, not by the
//! file name. The file must hold exactly the bytes its header describes:
//! missing bytes (truncation) and extra bytes (trailing data) are errors.
//!
//! # Classes
//!
//! The files do not say how many classes there are. Without class names the
//! number of classes is the largest label plus one (over both splits for
//! [`load_dir`]); labels are bytes, so at most 256 classes. A corrupt label
//! (say 200 in an MNIST file) is therefore not caught here but by
//! [`Dataset::check_classes`] against the model's number of outputs, which
//! names the sample. With class names (e.g. [`FASHION_MNIST_CLASSES`]) the
//! number of classes is the number of names, and a label at or above it is
//! an error naming the file, the sample and its byte offset.
//!
//! This file holds the public loaders, the errors and the class count;
//! `parse` reads and validates one file's header and elements.

mod parse;

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{DataError, Dataset, Normalization, Split, read_file};
use parse::{Kind, parse};

/// Magic number of unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The standard file names (each also looked for with `.gz` appended).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Fashion-MNIST's class names, in label order (from Zalando's README).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// [`FASHION_MNIST_CLASSES`] as owned strings, for the loaders' `class_names`.
pub fn fashion_mnist_class_names() -> Vec<String> {
    FASHION_MNIST_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What is wrong with an IDX file. Byte offsets are in the decompressed
/// stream (for raw files, in the file).
#[derive(Debug, Error)]
pub enum IdxError {
    #[error("file is empty (expected an IDX {what} file)")]
    Empty { what: &'static str },
    #[error(
        "header truncated: the file ends after {found} bytes, but its {what} header needs {needed}"
    )]
    ShortHeader {
        what: &'static str,
        found: usize,
        needed: usize,
    },
    #[error(
        "not an IDX file: magic number 0x{found:08x} at byte 0 (an IDX file starts with two \
         zero bytes; expected 0x{expected:08x} for {what})"
    )]
    BadMagic {
        found: u32,
        expected: u32,
        what: &'static str,
    },
    #[error(
        "magic number 0x{found:08x} at byte 0 declares {type_name} elements; only unsigned \
         bytes (0x08, magic 0x{expected:08x} for {what}) are supported"
    )]
    UnsupportedType {
        found: u32,
        type_name: &'static str,
        expected: u32,
        what: &'static str,
    },
    #[error(
        "magic number 0x{found:08x} at byte 0 declares {dims} dimension(s); {what} have \
         {expected_dims} (magic 0x{expected:08x}){hint}"
    )]
    WrongDims {
        found: u32,
        dims: u8,
        expected: u32,
        expected_dims: u8,
        what: &'static str,
        hint: &'static str,
    },
    #[error("dimension {index} (bytes {offset}..{}) is 0: the file holds no {what}", offset + 4)]
    ZeroDim {
        index: usize,
        offset: usize,
        what: &'static str,
    },
    #[error("dimensions {dims:?} describe more data than fits in memory")]
    TooLarge { dims: Vec<u32> },
    #[error(
        "truncated: dimensions {dims:?} need {expected} data bytes after the {header}-byte \
         header (the file should be {} bytes), but the data ends after {found} bytes, at byte \
         offset {}",
        header + expected, header + found
    )]
    Truncated {
        dims: Vec<u32>,
        header: usize,
        expected: usize,
        found: usize,
    },
    #[error(
        "{extra} trailing byte(s) after the data, which ends at byte offset {end} \
         (dimensions {dims:?})"
    )]
    Trailing {
        dims: Vec<u32>,
        end: usize,
        extra: u64,
    },
    #[error(
        "sample {index} (byte offset {offset}) has label {label}, but there are {classes} \
         class names (labels 0..{classes})"
    )]
    LabelOutOfRange {
        index: usize,
        offset: usize,
        label: u8,
        classes: usize,
    },
}

/// The images of an IDX images file.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count × rows × cols` pixels, row-major.
    pub pixels: Vec<u8>,
}

/// Parses an IDX images file (`0x00000803`), raw or gzip-compressed, held
/// in memory; `file` names it in errors.
pub fn parse_images(bytes: &[u8], file: &str) -> Result<IdxImages, DataError> {
    let (dims, pixels) = parse(bytes, file, Kind::Images)?;
    Ok(IdxImages {
        count: dims[0] as usize,
        rows: dims[1] as usize,
        cols: dims[2] as usize,
        pixels,
    })
}

/// Parses an IDX labels file (`0x00000801`), raw or gzip-compressed, held
/// in memory; `file` names it in errors.
pub fn parse_labels(bytes: &[u8], file: &str) -> Result<Vec<u8>, DataError> {
    Ok(parse(bytes, file, Kind::Labels)?.1)
}

/// A data set from in-memory images and labels files (see [`load_pair`]).
pub fn dataset_from_bytes(
    images: &[u8],
    images_name: &str,
    labels: &[u8],
    labels_name: &str,
    norm: &Normalization,
    class_names: Option<Vec<String>>,
) -> Result<Dataset, DataError> {
    let parsed = Parsed {
        images: parse_images(images, images_name)?,
        images_name: images_name.to_string(),
        labels: parse_labels(labels, labels_name)?,
        labels_name: labels_name.to_string(),
    };
    let classes = classes_for(&[&parsed], class_names.as_deref())?;
    parsed.into_dataset(norm, classes, class_names)
}

/// Loads an images file and its labels file (raw or gzip) into a data set
/// with sample shape `[1, rows, cols]` (PyTorch's channels-first layout),
/// normalizing the pixels with `norm` (usually
/// [`Normalization::U8_PIXELS`]).
///
/// Without `class_names` the number of classes is the largest label plus
/// one; with them it is their number, and larger labels are errors.
pub fn load_pair(
    images: &Path,
    labels: &Path,
    norm: &Normalization,
    class_names: Option<Vec<String>>,
) -> Result<Dataset, DataError> {
    let parsed = Parsed::load(images, labels)?;
    let classes = classes_for(&[&parsed], class_names.as_deref())?;
    parsed.into_dataset(norm, classes, class_names)
}

/// The four standard files of a directory, in the order [`TRAIN_IMAGES`],
/// [`TRAIN_LABELS`], [`TEST_IMAGES`], [`TEST_LABELS`], each raw or with
/// `.gz` appended. A directory holding both forms of one file is an error
/// naming both (which one is current cannot be known).
pub fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut looked_for = Vec::new();
    for name in [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS] {
        let candidates = [name.to_string(), format!("{name}.gz")];
        looked_for.extend(candidates.iter().cloned());
        let present: Vec<PathBuf> = candidates
            .iter()
            .map(|c| dir.join(c))
            .filter(|p| p.is_file())
            .collect();
        match present.as_slice() {
            [path] => found.push(path.clone()),
            [] => missing.push(name.to_string()),
            [raw, gz, ..] => {
                return Err(DataError::BothForms {
                    raw: raw.clone(),
                    gz: gz.clone(),
                });
            }
        }
    }
    if !missing.is_empty() {
        return Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            missing,
            looked_for,
        });
    }
    Ok(found)
}

/// Opens a directory holding the four standard MNIST files (see
/// [`dir_files`]).
///
/// Both splits get the same number of classes: the number of
/// `class_names`, or else the largest label of either split plus one.
/// The two halves are decoded on two threads.
pub fn load_dir(
    dir: &Path,
    norm: &Normalization,
    class_names: Option<Vec<String>>,
) -> Result<Split, DataError> {
    let found = dir_files(dir)?;
    let (train, test) = std::thread::scope(|s| {
        let train = s.spawn(|| Parsed::load(&found[0], &found[1]));
        let test = Parsed::load(&found[2], &found[3]);
        let train = train
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (train, test)
    });
    let (train, test) = (train?, test?);
    let classes = classes_for(&[&train, &test], class_names.as_deref())?;
    Ok(Split {
        train: train.into_dataset(norm, classes, class_names.clone())?,
        test: test.into_dataset(norm, classes, class_names)?,
    })
}

struct Parsed {
    images: IdxImages,
    images_name: String,
    labels: Vec<u8>,
    labels_name: String,
}

impl Parsed {
    fn load(images: &Path, labels: &Path) -> Result<Parsed, DataError> {
        let images_name = images.display().to_string();
        let labels_name = labels.display().to_string();
        Ok(Parsed {
            images: parse_images(&read_file(images)?, &images_name)?,
            images_name,
            labels: parse_labels(&read_file(labels)?, &labels_name)?,
            labels_name,
        })
    }

    fn into_dataset(
        self,
        norm: &Normalization,
        classes: usize,
        class_names: Option<Vec<String>>,
    ) -> Result<Dataset, DataError> {
        if self.images.count != self.labels.len() {
            return Err(DataError::CountMismatch {
                images: self.images_name,
                image_count: self.images.count,
                labels: self.labels_name,
                label_count: self.labels.len(),
            });
        }
        norm.validate().map_err(|error| DataError::Normalization {
            dataset: self.images_name.clone(),
            error,
        })?;
        let table = norm.u8_table();
        let features: Vec<f32> = self
            .images
            .pixels
            .iter()
            .map(|&p| table[p as usize])
            .collect();
        Ok(Dataset {
            features,
            labels: self.labels.iter().map(|&l| l as u32).collect(),
            sample_shape: vec![1, self.images.rows, self.images.cols],
            classes,
            class_names,
            source: self.images_name,
            labels_source: Some(self.labels_name),
            targets: None,
        })
    }
}

/// The number of classes: the names' count (checking every label against
/// it) or the largest label plus one.
fn classes_for(parts: &[&Parsed], names: Option<&[String]>) -> Result<usize, DataError> {
    match names {
        Some(names) => {
            let classes = names.len();
            for part in parts {
                if let Some(index) = part.labels.iter().position(|&l| l as usize >= classes) {
                    return Err(DataError::Idx {
                        file: part.labels_name.clone(),
                        error: IdxError::LabelOutOfRange {
                            index,
                            offset: 8 + index,
                            label: part.labels[index],
                            classes,
                        },
                    });
                }
            }
            Ok(classes)
        }
        None => Ok(parts
            .iter()
            .flat_map(|p| p.labels.iter())
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0)),
    }
}
