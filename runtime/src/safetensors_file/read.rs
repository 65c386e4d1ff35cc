//! Reading safetensors: loading a file and parsing its bytes, with every
//! check the format needs (header length and JSON, dtypes, shapes, offsets
//! that tile the data exactly).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::{Checkpoint, CheckpointError, Dtype, FormatError, Tensor, TensorData};

/// The safetensors reference implementation's limit on the header size.
pub const MAX_HEADER_LEN: usize = 100_000_000;

impl Checkpoint {
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
        half: bool,
        shape: Vec<usize>,
        start: u64,
        end: u64,
    }
    let mut entries = Vec::new();
    let mut half_floats = false;
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
        // `F16` is read as F32 (widened below); `half` remembers the file's.
        let mut half = false;
        let dtype = match fields.get("dtype") {
            Some(Value::String(s)) => match s.as_str() {
                "F32" => Dtype::F32,
                "I64" => Dtype::I64,
                "I8" => Dtype::I8,
                "U8" => Dtype::U8,
                "I32" => Dtype::I32,
                "F16" => {
                    half = true;
                    Dtype::F32
                }
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
        half_floats |= half;
        entries.push(Entry {
            name,
            dtype,
            half,
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
            .and_then(|n| n.checked_mul(if e.half { 2 } else { e.dtype.size() as u64 }))
            .ok_or_else(|| FormatError::Overflow {
                name: e.name.clone(),
                shape: e.shape.clone(),
            })?;
        if e.end - e.start != expected && e.half {
            // Worded here: the error's dtype would say F32, the widened type.
            return Err(FormatError::BadEntry {
                name: e.name.clone(),
                reason: format!(
                    "data_offsets [{}, {}] span {} bytes, but F16 with shape {:?} needs {expected}",
                    e.start,
                    e.end,
                    e.end - e.start,
                    e.shape
                ),
            });
        }
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
        let cut = entries
            .iter()
            .find(|e| e.end > found)
            .map_or_else(String::new, |e| e.name.clone());
        return Err(FormatError::Truncated {
            data_start: header_end as u64,
            expected,
            found,
            cut,
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
    ck.half_floats = half_floats;
    for e in entries {
        let raw = &data[e.start as usize..e.end as usize];
        let data = match e.dtype {
            Dtype::F32 if e.half => TensorData::F32(
                raw.chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            ),
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
            Dtype::I8 => TensorData::I8(raw.iter().map(|&b| b as i8).collect()),
            Dtype::U8 => TensorData::U8(raw.to_vec()),
            Dtype::I32 => TensorData::I32(
                raw.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
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
