//! What can be wrong with a safetensors file or its contents: the format
//! errors of its bytes, and the errors of reading tensors out of it (a
//! missing name, a wrong shape or dtype).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::Dtype;
use crate::data::Shape;

/// What is wrong with the bytes of a safetensors file. Offsets are byte
/// offsets in the file.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error(
        "truncated: the file is {len} bytes, too short for the 8-byte header length that \
         starts a safetensors file"
    )]
    TooShort { len: usize },
    #[error(
        "header length {header_len} (bytes 0..8) is larger than the {limit}-byte limit; \
         not a safetensors file?"
    )]
    HeaderTooLarge { header_len: u64, limit: usize },
    #[error(
        "truncated: the header (bytes 8..{}) runs past the end of the file ({file_len} bytes)",
        8u64.saturating_add(*header_len)
    )]
    HeaderPastEnd { header_len: u64, file_len: usize },
    #[error("header is not UTF-8 (byte offset {offset})")]
    HeaderNotUtf8 { offset: usize },
    #[error("header (bytes 8..{end}) is not JSON: {source}")]
    HeaderNotJson {
        end: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("header is JSON but not an object mapping tensor names to entries")]
    HeaderNotObject,
    #[error("header entry for tensor {name:?}: {reason}")]
    BadEntry { name: String, reason: String },
    #[error("header \"__metadata__\": {reason}")]
    BadMetadata { reason: String },
    #[error(
        "tensor {name:?} has dtype {dtype}, which nnspec does not support (only F32, I64, and F16 read as F32)"
    )]
    UnsupportedDtype { name: String, dtype: String },
    #[error("tensor {name:?}: shape {shape:?} has more elements than fit in memory")]
    Overflow { name: String, shape: Vec<usize> },
    #[error(
        "tensor {name:?}: data_offsets [{start}, {end}] span {} bytes, but {dtype} with shape \
         {} needs {expected}",
        end.saturating_sub(*start), Shape(shape)
    )]
    SizeMismatch {
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        start: u64,
        end: u64,
        expected: u64,
    },
    #[error(
        "tensor {name:?}: bad data_offsets [{start}, {end}]: the tensors must tile the data \
         section without gaps or overlaps, so this one should start at {expected_start}"
    )]
    BadOffsets {
        name: String,
        start: u64,
        end: u64,
        expected_start: u64,
    },
    #[error(
        "truncated: the header describes {expected} bytes of tensor data after byte \
         {data_start}, but the file holds {found} (the file should be {} bytes); \
         tensor {cut:?} is the first cut short",
        data_start + expected
    )]
    Truncated {
        data_start: u64,
        expected: u64,
        found: u64,
        /// The first tensor (in file order) whose data runs past the end.
        cut: String,
    },
    #[error(
        "{} trailing byte(s) after the tensor data, which ends at byte offset {}",
        found - expected, data_start + expected
    )]
    Trailing {
        data_start: u64,
        expected: u64,
        found: u64,
    },
}

/// Everything that can go wrong with a checkpoint. `file` is the path the
/// checkpoint was loaded from (or `"<memory>"`).
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("checkpoint {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("checkpoint {}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("checkpoint {file}: {error}")]
    Format {
        file: String,
        #[source]
        error: FormatError,
    },
    #[error("checkpoint {file}: no tensor {name:?} (the file has {count} tensors)")]
    Missing {
        file: String,
        name: String,
        count: usize,
    },
    #[error(
        "checkpoint {file}: tensor {name:?} has shape {}, the model expects {}",
        Shape(found),
        Shape(expected)
    )]
    ShapeMismatch {
        file: String,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("checkpoint {file}: tensor {name:?} has dtype {found}, the model expects {expected}")]
    DtypeMismatch {
        file: String,
        name: String,
        found: Dtype,
        expected: Dtype,
    },
    #[error("checkpoint {file}: {}", describe_names(missing, unexpected))]
    Names {
        file: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },
    #[error(
        "checkpoint {file}: tensor {name:?}: shape {} needs {} elements but {len} were given",
        Shape(shape), shape.iter().product::<usize>()
    )]
    InvalidTensor {
        file: String,
        name: String,
        shape: Vec<usize>,
        len: usize,
    },
}

fn describe_names(missing: &[String], unexpected: &[String]) -> String {
    let list = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "{} tensor(s) the model needs are missing: {}",
            missing.len(),
            list(missing)
        ));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "{} tensor(s) in the file are unknown to the model: {}",
            unexpected.len(),
            list(unexpected)
        ));
    }
    parts.join("; ")
}

/// The result of comparing a checkpoint's names with the model's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameCheck {
    /// Names the model expects that the checkpoint lacks, in the model's order.
    pub missing: Vec<String>,
    /// Names in the checkpoint the model does not know, in the file's order.
    pub unexpected: Vec<String>,
}

impl NameCheck {
    /// True when both lists are empty.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}
