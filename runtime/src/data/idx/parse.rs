//! Parsing one IDX file, raw or gzip-compressed: the magic number, the
//! dimensions, then exactly the elements they describe, each problem
//! reported as an [`IdxError`] with its byte offset.

use std::io::{self, Read};

use super::{DataError, IMAGES_MAGIC, IdxError, LABELS_MAGIC};
use crate::data::is_gzip;

/// Which kind of IDX file is being read: images or labels.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Images => IMAGES_MAGIC,
            Kind::Labels => LABELS_MAGIC,
        }
    }
    fn what(self) -> &'static str {
        match self {
            Kind::Images => "images",
            Kind::Labels => "labels",
        }
    }
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return None,
    })
}

/// Reads until `buf` is full or the stream ends; the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) fn parse(
    bytes: &[u8],
    file: &str,
    kind: Kind,
) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    if is_gzip(bytes) {
        parse_stream(flate2::read::MultiGzDecoder::new(bytes), file, kind, None)
    } else {
        parse_stream(bytes, file, kind, Some(bytes.len()))
    }
}

/// Parses one IDX stream. `known_len` is the stream's length when known
/// (raw files), so an absurd header fails before allocating.
fn parse_stream(
    mut r: impl Read,
    file: &str,
    kind: Kind,
    known_len: Option<usize>,
) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    let idx_err = |error| DataError::Idx {
        file: file.to_string(),
        error,
    };
    let gz_err = |decompressed: usize| {
        move |source| DataError::Gzip {
            file: file.to_string(),
            decompressed: decompressed as u64,
            source,
        }
    };
    let what = kind.what();
    let expected = kind.magic();
    let expected_dims = (expected & 0xff) as u8;
    let header_len = 4 + 4 * expected_dims as usize;

    let mut magic = [0u8; 4];
    let got = read_full(&mut r, &mut magic).map_err(gz_err(0))?;
    if got == 0 {
        return Err(idx_err(IdxError::Empty { what }));
    }
    if got < 4 {
        return Err(idx_err(IdxError::ShortHeader {
            what,
            found: got,
            needed: header_len,
        }));
    }
    let found = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(idx_err(IdxError::BadMagic {
            found,
            expected,
            what,
        }));
    }
    if magic[2] != 0x08 {
        return Err(idx_err(match type_name(magic[2]) {
            Some(type_name) => IdxError::UnsupportedType {
                found,
                type_name,
                expected,
                what,
            },
            None => IdxError::BadMagic {
                found,
                expected,
                what,
            },
        }));
    }
    if magic[3] != expected_dims {
        let hint = match (kind, magic[3]) {
            (Kind::Images, 1) => ": is this a labels file?",
            (Kind::Labels, 3) => ": is this an images file?",
            _ => "",
        };
        return Err(idx_err(IdxError::WrongDims {
            found,
            dims: magic[3],
            expected,
            expected_dims,
            what,
            hint,
        }));
    }

    let mut dim_bytes = [0u8; 12];
    let dim_bytes = &mut dim_bytes[..4 * expected_dims as usize];
    let got = read_full(&mut r, dim_bytes).map_err(gz_err(4))?;
    if got < dim_bytes.len() {
        return Err(idx_err(IdxError::ShortHeader {
            what,
            found: 4 + got,
            needed: header_len,
        }));
    }
    let dims: Vec<u32> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(index) = dims.iter().position(|&d| d == 0) {
        return Err(idx_err(IdxError::ZeroDim {
            index,
            offset: 4 + 4 * index,
            what,
        }));
    }
    let data_len = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d as usize))
        .filter(|&n| n <= isize::MAX as usize - header_len)
        .ok_or_else(|| idx_err(IdxError::TooLarge { dims: dims.clone() }))?;

    if let Some(total) = known_len {
        let available = total - header_len;
        if available < data_len {
            return Err(idx_err(IdxError::Truncated {
                dims,
                header: header_len,
                expected: data_len,
                found: available,
            }));
        }
    }
    // Reserve at most 64 MiB up front (the 47 MB of Fashion-MNIST's
    // training images fit): a gzip stream's header may claim far more than
    // the stream holds; beyond that the buffer grows as data arrive.
    let mut data = Vec::with_capacity(data_len.min(64 << 20));
    if let Err(e) = (&mut r).take(data_len as u64).read_to_end(&mut data) {
        return Err(gz_err(header_len + data.len())(e));
    }
    if data.len() < data_len {
        return Err(idx_err(IdxError::Truncated {
            dims,
            header: header_len,
            expected: data_len,
            found: data.len(),
        }));
    }
    let mut probe = [0u8; 1];
    let extra = read_full(&mut r, &mut probe).map_err(gz_err(header_len + data_len))?;
    if extra > 0 {
        let end = header_len + data_len;
        let rest = io::copy(&mut r, &mut io::sink()).map_err(gz_err(end + 1))?;
        return Err(idx_err(IdxError::Trailing {
            dims,
            end,
            extra: 1 + rest,
        }));
    }
    Ok((dims, data))
}
