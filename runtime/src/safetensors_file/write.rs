//! Writing safetensors: the header and the data in file order, to any
//! writer, to bytes, or to a file atomically.

use std::io::{self, Write};
use std::path::Path;

use super::{Checkpoint, CheckpointError, Tensor, TensorData};
use crate::atomic_write::write_atomically;

impl Checkpoint {
    /// The order tensors take in a file: wider dtypes first (8-byte, then
    /// 4-byte, then 1-byte), insertion order within each, so every tensor
    /// starts at a multiple of its element size.
    fn file_order(&self) -> impl Iterator<Item = &(String, Tensor)> {
        [8, 4, 2, 1].into_iter().flat_map(move |size| {
            self.tensors
                .iter()
                .filter(move |(_, t)| t.dtype().size() == size)
        })
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
                TensorData::I8(v) => buf.extend(v.iter().map(|&x| x as u8)),
                TensorData::U8(v) => buf.extend_from_slice(v),
                TensorData::I32(v) => buf.extend(v.iter().flat_map(|x| x.to_le_bytes())),
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
}
