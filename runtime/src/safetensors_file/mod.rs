//! The safetensors file format: named tensors, read and written, with
//! PyTorch `state_dict` names (`fc1.weight`, `bn1.running_mean`, ...).
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
//!
//! # Parts
//!
//! This file holds the in-memory tensors and their checked access; `read`
//! parses and validates files, `write` lays them out, `error` says what can
//! be wrong. What a model's checkpoint contains (its `state_dict` and
//! optimizer state) is [`crate::checkpoint`]'s business, not this module's.
//!
//! [`write_atomically`]: crate::atomic_write::write_atomically

mod error;
mod read;
mod write;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

pub use error::{CheckpointError, FormatError, NameCheck};
pub use read::MAX_HEADER_LEN;

/// The element types a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    F32,
    I64,
    /// int8 checkpoints (`dslc quantize`): weights, biases, zero points.
    I8,
    U8,
    I32,
}

impl Dtype {
    /// The safetensors name (`"F32"`, `"I64"`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::I64 => "I64",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::I32 => "I32",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::I64 => 8,
            Dtype::I8 | Dtype::U8 => 1,
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
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
}

impl TensorData {
    pub fn dtype(&self) -> Dtype {
        match self {
            TensorData::F32(_) => Dtype::F32,
            TensorData::I64(_) => Dtype::I64,
            TensorData::I8(_) => Dtype::I8,
            TensorData::U8(_) => Dtype::U8,
            TensorData::I32(_) => Dtype::I32,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I32(v) => v.len(),
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
            _ => unreachable!("dtype checked"),
        }
    }

    /// The data of `i64` tensor `name`, checking that it exists, has shape
    /// `expected` and dtype I64.
    pub fn i64(&self, name: &str, expected: &[usize]) -> Result<&[i64], CheckpointError> {
        match &self.typed(name, expected, Dtype::I64)?.data {
            TensorData::I64(v) => Ok(v),
            _ => unreachable!("dtype checked"),
        }
    }

    /// The data of `i8` tensor `name`, checked as [`Checkpoint::f32`] does.
    pub fn i8(&self, name: &str, expected: &[usize]) -> Result<&[i8], CheckpointError> {
        match &self.typed(name, expected, Dtype::I8)?.data {
            TensorData::I8(v) => Ok(v),
            _ => unreachable!("dtype checked"),
        }
    }

    /// The data of `u8` tensor `name`, checked as [`Checkpoint::f32`] does.
    pub fn u8(&self, name: &str, expected: &[usize]) -> Result<&[u8], CheckpointError> {
        match &self.typed(name, expected, Dtype::U8)?.data {
            TensorData::U8(v) => Ok(v),
            _ => unreachable!("dtype checked"),
        }
    }

    /// The data of `i32` tensor `name`, checked as [`Checkpoint::f32`] does.
    pub fn i32(&self, name: &str, expected: &[usize]) -> Result<&[i32], CheckpointError> {
        match &self.typed(name, expected, Dtype::I32)?.data {
            TensorData::I32(v) => Ok(v),
            _ => unreachable!("dtype checked"),
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
}
