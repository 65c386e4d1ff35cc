//! Checkpoints: named tensors in the safetensors format, with PyTorch
//! `state_dict` names (`fc1.weight`, `bn1.running_mean`, ...).
//!
//! A file written here loads in Python with
//! `safetensors.torch.load_file(path)` and from there with
//! `model.load_state_dict(...)`; a file saved by PyTorch with
//! `safetensors.torch.save_file(model.state_dict(), path)` loads here.
//! Tensors are `f32` or `i64` (BatchNorm's `num_batches_tracked` is an
//! `i64` scalar in PyTorch); other dtypes are rejected with an error naming
//! the tensor.
//!
//! # Order
//!
//! A [`Checkpoint`] keeps its tensors in insertion order (give them in
//! `state_dict` order). A file stores them in that order too, except that
//! 8-byte `i64` tensors come before 4-byte `f32` ones so that every tensor
//! starts at an offset that is a multiple of its element size (the
//! reference writer aligns the same way); [`Checkpoint::load`] returns the
//! file's order. So a checkpoint of `f32` tensors only round-trips its
//! order exactly.
//!
//! # Safety of writes
//!
//! [`Checkpoint::save`] writes to a temporary file in the same directory,
//! syncs it, then renames it over the destination (see
//! [`write_atomically`]): a killed or failing run leaves the old file
//! intact, never a torn one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use thiserror::Error;

use crate::data::Shape;

/// The element types a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    F32,
    I64,
}

impl Dtype {
    /// The safetensors name (`"F32"`, `"I64"`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::I64 => "I64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::I64 => 8,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor's elements.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl TensorData {
    pub fn dtype(&self) -> Dtype {
        match self {
            TensorData::F32(_) => Dtype::F32,
            TensorData::I64(_) => Dtype::I64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named tensor: its shape (`[]` for a scalar) and row-major data.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    pub fn dtype(&self) -> Dtype {
        self.data.dtype()
    }

    /// Number of elements: the product of the shape (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

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
    #[error("tensor {name:?} has dtype {dtype}, which nnspec does not support (only F32 and I64)")]
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
         {data_start}, but the file holds {found} (the file should be {} bytes)",
        data_start + expected
    )]
    Truncated {
        data_start: u64,
        expected: u64,
        found: u64,
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

/// Named tensors plus string metadata; see the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    origin: String,
    tensors: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
    metadata: BTreeMap<String, String>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint::new()
    }
}

/// The safetensors reference implementation's limit on the header size.
pub const MAX_HEADER_LEN: usize = 100_000_000;

impl Checkpoint {
    /// An empty checkpoint (named `"<memory>"` in messages until saved or
    /// loaded).
    pub fn new() -> Checkpoint {
        Checkpoint {
            origin: "<memory>".to_string(),
            tensors: Vec::new(),
            index: HashMap::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// Where the checkpoint came from, as used in messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Adds a tensor, or replaces the one with that name (keeping its
    /// position). Fails when the data length is not the shape's product.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        tensor: Tensor,
    ) -> Result<(), CheckpointError> {
        let name = name.into();
        if Some(tensor.data.len())
            != tensor
                .shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
        {
            return Err(CheckpointError::InvalidTensor {
                file: self.origin.clone(),
                name,
                len: tensor.data.len(),
                shape: tensor.shape,
            });
        }
        match self.index.get(&name) {
            Some(&i) => self.tensors[i].1 = tensor,
            None => {
                self.index.insert(name.clone(), self.tensors.len());
                self.tensors.push((name, tensor));
            }
        }
        Ok(())
    }

    /// Adds an `f32` tensor (copying `data`).
    pub fn insert_f32(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        data: &[f32],
    ) -> Result<(), CheckpointError> {
        self.insert(
            name,
            Tensor {
                shape: shape.to_vec(),
                data: TensorData::F32(data.to_vec()),
            },
        )
    }

    /// Adds an `i64` tensor (copying `data`).
    pub fn insert_i64(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        data: &[i64],
    ) -> Result<(), CheckpointError> {
        self.insert(
            name,
            Tensor {
                shape: shape.to_vec(),
                data: TensorData::I64(data.to_vec()),
            },
        )
    }

    /// Sets a metadata entry (safetensors `__metadata__`, strings only).
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| &self.tensors[i].1)
    }

    /// Tensor names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }

    /// Names and tensors in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(n, t)| (n.as_str(), t))
    }

    fn typed(
        &self,
        name: &str,
        expected: &[usize],
        dtype: Dtype,
    ) -> Result<&Tensor, CheckpointError> {
        let t = self.get(name).ok_or_else(|| CheckpointError::Missing {
            file: self.origin.clone(),
            name: name.to_string(),
            count: self.len(),
        })?;
        if t.shape != expected {
            return Err(CheckpointError::ShapeMismatch {
                file: self.origin.clone(),
                name: name.to_string(),
                found: t.shape.clone(),
                expected: expected.to_vec(),
            });
        }
        if t.dtype() != dtype {
            return Err(CheckpointError::DtypeMismatch {
                file: self.origin.clone(),
                name: name.to_string(),
                found: t.dtype(),
                expected: dtype,
            });
        }
        Ok(t)
    }

    /// The data of `f32` tensor `name`, checking that it exists, has shape
    /// `expected` and dtype F32.
    pub fn f32(&self, name: &str, expected: &[usize]) -> Result<&[f32], CheckpointError> {
        match &self.typed(name, expected, Dtype::F32)?.data {
            TensorData::F32(v) => Ok(v),
            TensorData::I64(_) => unreachable!("dtype checked"),
        }
    }

    /// The data of `i64` tensor `name`, checking that it exists, has shape
    /// `expected` and dtype I64.
    pub fn i64(&self, name: &str, expected: &[usize]) -> Result<&[i64], CheckpointError> {
        match &self.typed(name, expected, Dtype::I64)?.data {
            TensorData::I64(v) => Ok(v),
            TensorData::F32(_) => unreachable!("dtype checked"),
        }
    }

    /// Compares the checkpoint's names with the names the model expects.
    pub fn check_names<'a>(&self, expected: impl IntoIterator<Item = &'a str>) -> NameCheck {
        let expected: Vec<&str> = expected.into_iter().collect();
        let known: HashSet<&str> = expected.iter().copied().collect();
        NameCheck {
            missing: expected
                .iter()
                .filter(|n| !self.index.contains_key(**n))
                .map(|n| n.to_string())
                .collect(),
            unexpected: self
                .names()
                .filter(|n| !known.contains(n))
                .map(str::to_string)
                .collect(),
        }
    }

    /// Like [`check_names`](Self::check_names), but an error (listing both
    /// kinds of names) unless the names agree exactly, as PyTorch's
    /// `load_state_dict(strict=True)`.
    pub fn require_names<'a>(
        &self,
        expected: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), CheckpointError> {
        let check = self.check_names(expected);
        if check.is_exact() {
            Ok(())
        } else {
            Err(CheckpointError::Names {
                file: self.origin.clone(),
                missing: check.missing,
                unexpected: check.unexpected,
            })
        }
    }

    /// The order tensors take in a file: 8-byte dtypes first, then 4-byte,
    /// insertion order within each.
    fn file_order(&self) -> impl Iterator<Item = &(String, Tensor)> {
        let wide = self.tensors.iter().filter(|(_, t)| t.dtype().size() == 8);
        let narrow = self.tensors.iter().filter(|(_, t)| t.dtype().size() != 8);
        wide.chain(narrow)
    }

    /// The safetensors header (JSON padded with spaces to a multiple of 8).
    fn header(&self) -> Vec<u8> {
        let json = |s: &str| serde_json::to_string(s).expect("strings serialize");
        let mut h = String::from("{");
        let mut first = true;
        if !self.metadata.is_empty() {
            h.push_str("\"__metadata__\":{");
            for (i, (k, v)) in self.metadata.iter().enumerate() {
                if i > 0 {
                    h.push(',');
                }
                h.push_str(&format!("{}:{}", json(k), json(v)));
            }
            h.push('}');
            first = false;
        }
        let mut offset = 0usize;
        for (name, t) in self.file_order() {
            if !first {
                h.push(',');
            }
            first = false;
            let bytes = t.numel() * t.dtype().size();
            let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
            h.push_str(&format!(
                "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                json(name),
                t.dtype(),
                shape.join(","),
                offset,
                offset + bytes
            ));
            offset += bytes;
        }
        h.push('}');
        let mut h = h.into_bytes();
        h.resize(h.len().next_multiple_of(8), b' ');
        h
    }

    /// Writes the safetensors bytes to `w`.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        let header = self.header();
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut buf = Vec::new();
        for (_, t) in self.file_order() {
            buf.clear();
            match &t.data {
                TensorData::F32(v) => buf.extend(v.iter().flat_map(|x| x.to_le_bytes())),
                TensorData::I64(v) => buf.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            }
            w.write_all(&buf)?;
        }
        Ok(())
    }

    /// The safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }

    /// Saves to `path` atomically (temporary file, fsync, rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        write_atomically(path, |w| self.write_to(w)).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Loads a safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
        let path = path.as_ref();
        let io_err = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(io_err)?;
        if !meta.is_file() {
            return Err(CheckpointError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let bytes = fs::read(path).map_err(io_err)?;
        Checkpoint::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses safetensors bytes held in memory; `origin` names them in
    /// errors and later messages.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Checkpoint, CheckpointError> {
        let mut ck = parse(bytes).map_err(|error| CheckpointError::Format {
            file: origin.to_string(),
            error,
        })?;
        ck.origin = origin.to_string();
        Ok(ck)
    }
}

/// Parses the safetensors format (see
/// <https://github.com/huggingface/safetensors#format>).
fn parse(bytes: &[u8]) -> Result<Checkpoint, FormatError> {
    let Some(len_bytes) = bytes.first_chunk::<8>() else {
        return Err(FormatError::TooShort { len: bytes.len() });
    };
    let header_len = u64::from_le_bytes(*len_bytes);
    if header_len > MAX_HEADER_LEN as u64 {
        return Err(FormatError::HeaderTooLarge {
            header_len,
            limit: MAX_HEADER_LEN,
        });
    }
    let header_end = 8 + header_len as usize;
    let Some(header) = bytes.get(8..header_end) else {
        return Err(FormatError::HeaderPastEnd {
            header_len,
            file_len: bytes.len(),
        });
    };
    let header = std::str::from_utf8(header).map_err(|e| FormatError::HeaderNotUtf8 {
        offset: 8 + e.valid_up_to(),
    })?;
    let value: Value =
        serde_json::from_str(header).map_err(|source| FormatError::HeaderNotJson {
            end: header_end,
            source,
        })?;
    let Value::Object(map) = value else {
        return Err(FormatError::HeaderNotObject);
    };

    let mut metadata = BTreeMap::new();
    struct Entry {
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        start: u64,
        end: u64,
    }
    let mut entries = Vec::new();
    for (name, entry) in map {
        if name == "__metadata__" {
            // `null` is how the reference implementation spells "none".
            if entry.is_null() {
                continue;
            }
            let Value::Object(m) = entry else {
                return Err(FormatError::BadMetadata {
                    reason: "not an object".to_string(),
                });
            };
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        metadata.insert(k, s);
                    }
                    other => {
                        return Err(FormatError::BadMetadata {
                            reason: format!("value of {k:?} is {other}, not a string"),
                        });
                    }
                }
            }
            continue;
        }
        let bad = |reason: &str| FormatError::BadEntry {
            name: name.clone(),
            reason: reason.to_string(),
        };
        let Value::Object(fields) = entry else {
            return Err(bad("not an object with dtype, shape and data_offsets"));
        };
        let dtype = match fields.get("dtype") {
            Some(Value::String(s)) => match s.as_str() {
                "F32" => Dtype::F32,
                "I64" => Dtype::I64,
                other => {
                    return Err(FormatError::UnsupportedDtype {
                        name,
                        dtype: other.to_string(),
                    });
                }
            },
            _ => return Err(bad("\"dtype\" is missing or not a string")),
        };
        let shape = match fields.get("shape") {
            Some(Value::Array(dims)) => dims
                .iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| bad("\"shape\" is not a list of non-negative integers"))?,
            _ => return Err(bad("\"shape\" is missing or not a list")),
        };
        let (start, end) = match fields.get("data_offsets") {
            Some(Value::Array(o)) if o.len() == 2 => match (o[0].as_u64(), o[1].as_u64()) {
                (Some(s), Some(e)) => (s, e),
                _ => return Err(bad("\"data_offsets\" are not non-negative integers")),
            },
            _ => {
                return Err(bad(
                    "\"data_offsets\" is missing or not a pair [begin, end]",
                ));
            }
        };
        entries.push(Entry {
            name,
            dtype,
            shape,
            start,
            end,
        });
    }
    entries.sort_by_key(|e| (e.start, e.end));

    // The tensors must tile the data section exactly.
    let mut at = 0u64;
    for e in &entries {
        if e.start != at || e.end < e.start {
            return Err(FormatError::BadOffsets {
                name: e.name.clone(),
                start: e.start,
                end: e.end,
                expected_start: at,
            });
        }
        let expected = e
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .and_then(|n| n.checked_mul(e.dtype.size() as u64))
            .ok_or_else(|| FormatError::Overflow {
                name: e.name.clone(),
                shape: e.shape.clone(),
            })?;
        if e.end - e.start != expected {
            return Err(FormatError::SizeMismatch {
                name: e.name.clone(),
                dtype: e.dtype,
                shape: e.shape.clone(),
                start: e.start,
                end: e.end,
                expected,
            });
        }
        at = e.end;
    }
    let data = &bytes[header_end..];
    let (expected, found) = (at, data.len() as u64);
    if found < expected {
        return Err(FormatError::Truncated {
            data_start: header_end as u64,
            expected,
            found,
        });
    }
    if found > expected {
        return Err(FormatError::Trailing {
            data_start: header_end as u64,
            expected,
            found,
        });
    }

    let mut ck = Checkpoint::new();
    ck.metadata = metadata;
    for e in entries {
        let raw = &data[e.start as usize..e.end as usize];
        let data = match e.dtype {
            Dtype::F32 => TensorData::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::I64 => TensorData::I64(
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
        };
        ck.index.insert(e.name.clone(), ck.tensors.len());
        ck.tensors.push((
            e.name,
            Tensor {
                shape: e.shape,
                data,
            },
        ));
    }
    Ok(ck)
}

/// A temporary sibling of `path` for [`write_atomically`]: same directory,
/// hidden, unique per process and call, ending in `.tmp{ext}` (plotters
/// picks the image format from the extension, so plots keep `.png`).
pub(crate) fn temp_sibling(path: &Path, ext: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp{ext}", std::process::id()))
}

/// Syncs the finished temporary file `tmp` and renames it to `path`, then
/// syncs the directory (best effort) so the rename itself is durable.
/// Removes `tmp` on failure.
pub(crate) fn commit_temp(tmp: &Path, path: &Path) -> io::Result<()> {
    let result = File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(tmp);
        return result;
    }
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Directories cannot be opened for syncing everywhere (Windows).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes a file so that readers see either the old contents or the
/// complete new ones, never a torn file: `write` fills a temporary file in
/// the same directory, which is then flushed, fsynced and renamed over
/// `path`. If `write` (or anything else) fails, the temporary file is
/// removed and `path` is untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_sibling(path, "");
    // Never touch a file this call did not create.
    let file = File::create_new(&tmp)?;
    let result = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    commit_temp(&tmp, path)
}
