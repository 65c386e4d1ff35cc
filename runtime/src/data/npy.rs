//! NumPy `.npy` arrays and `.npz` archives of them.
//!
//! An `.npy` file is the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), a
//! header length (2 bytes in version 1, 4 after), a header that is a Python
//! dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape':
//! (100, 64), }`, then the elements. The header is read here by a small
//! parser of exactly that dict (string, bool and int-tuple values) rather
//! than a general Python-literal parser: a structured or object dtype is an
//! error anyway, and a hand-written parser can check every size with
//! checked arithmetic (a header declaring `(2**40, 2**40)` is an error, not
//! an overflow). Fortran-order arrays are reordered to C order.
//!
//! Supported elements: `float32`, `float64`, and signed and unsigned
//! integers of 1, 2, 4 and 8 bytes, in either byte order. What a loader
//! accepts for features (`float32`, `float64`, `uint8`) and labels (any
//! integer type) is checked by [`super::npz::features`] and
//! [`super::npz::labels`], whose errors name the dtype found.
//!
//! `.npz` archives of such arrays are read by [`super::npz`].

use std::path::Path;

use thiserror::Error;

use super::{DataError, MAX_LABEL, Shape, read_file};

/// What is wrong with an `.npy` file or an `.npz` archive.
#[derive(Debug, Error)]
pub enum NpyError {
    #[error("not a NumPy .npy file (it does not start with \\x93NUMPY)")]
    NotNpy,
    #[error("the file ends inside its header ({found} bytes; the header needs {needed})")]
    ShortHeader { found: usize, needed: usize },
    #[error(".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)")]
    Version { major: u8, minor: u8 },
    #[error("malformed header at character {at}: {what}")]
    Header { at: usize, what: String },
    #[error("header lacks the key '{0}'")]
    MissingKey(&'static str),
    #[error("dtype {descr:?} is not supported: {why}")]
    UnsupportedDtype { descr: String, why: &'static str },
    #[error("shape {} describes more data than fits in memory", Shape(shape))]
    TooLarge { shape: Vec<usize> },
    #[error(
        "the data are {found} bytes, but shape {} of {dtype} needs {expected}{}",
        Shape(shape),
        if found < expected { " (truncated file?)" } else { " (trailing bytes)" }
    )]
    DataLength {
        shape: Vec<usize>,
        dtype: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{what} are {dtype}; {wanted}")]
    WrongDtype {
        what: &'static str,
        dtype: &'static str,
        wanted: &'static str,
    },
    #[error("{what} have shape {}: {why}", Shape(shape))]
    WrongShape {
        what: &'static str,
        shape: Vec<usize>,
        why: String,
    },
    #[error("{what}: element {index} is {value}, not a finite f32 value")]
    NotFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error(
        "{what}: element {index} is {value}, beyond ±2^24, where f32 (and so a token id) \
         is not exact"
    )]
    NotExact {
        what: &'static str,
        index: usize,
        value: i128,
    },
    #[error("labels: element {index} is {value}; labels are class indices 0..={MAX_LABEL}")]
    BadLabel { index: usize, value: i128 },
    #[error("not a readable .npz (zip) archive: {0}")]
    Zip(String),
    #[error("archive member {member}: {error}")]
    Member {
        member: String,
        #[source]
        error: Box<NpyError>,
    },
    #[error("the archive holds arrays [{}]; {wanted}", found.join(", "))]
    MissingArrays { found: Vec<String>, wanted: String },
}

/// An element type this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    Int { signed: bool, bytes: usize },
}

impl Dtype {
    /// NumPy's name for the type (`float32`, `uint8`...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::Int { signed, bytes } => match (signed, bytes) {
                (true, 1) => "int8",
                (true, 2) => "int16",
                (true, 4) => "int32",
                (true, _) => "int64",
                (false, 1) => "uint8",
                (false, 2) => "uint16",
                (false, 4) => "uint32",
                (false, _) => "uint64",
            },
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::Int { bytes, .. } => bytes,
        }
    }
}

/// The elements of an array, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Every integer type, widened (u64 fits i128).
    Int(Vec<i128>),
}

/// One array of an `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub values: Values,
}

/// The parsed header: where the data start, the dtype and its byte order,
/// the shape and the order.
pub(crate) struct Header {
    data_start: usize,
    pub(crate) dtype: Dtype,
    big_endian: bool,
    shape: Vec<usize>,
    fortran: bool,
}

/// Reads an `.npy` file.
pub fn load_npy(path: &Path) -> Result<NpyArray, DataError> {
    parse_npy(&read_file(path)?, &path.display().to_string())
}

/// Parses an `.npy` file held in memory; `file` names it in errors.
pub fn parse_npy(bytes: &[u8], file: &str) -> Result<NpyArray, DataError> {
    parse(bytes).map_err(|error| npy_error(file, error))
}

pub(crate) fn npy_error(file: &str, error: NpyError) -> DataError {
    DataError::Npy {
        file: file.to_string(),
        error,
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<NpyArray, NpyError> {
    let h = header(bytes)?;
    let count = h
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n.checked_mul(h.dtype.size()).is_some())
        .ok_or_else(|| NpyError::TooLarge {
            shape: h.shape.clone(),
        })?;
    let data = &bytes[h.data_start..];
    let expected = count * h.dtype.size();
    if data.len() != expected {
        return Err(NpyError::DataLength {
            shape: h.shape,
            dtype: h.dtype.name(),
            expected,
            found: data.len(),
        });
    }
    let be = h.big_endian;
    macro_rules! decode {
        ($t:ty, $n:literal) => {
            data.chunks_exact($n).map(|c| {
                let a: [u8; $n] = c.try_into().expect("chunks_exact");
                if be {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            })
        };
    }
    let values = match h.dtype {
        Dtype::F32 => Values::F32(decode!(f32, 4).collect()),
        Dtype::F64 => Values::F64(decode!(f64, 8).collect()),
        Dtype::Int { signed, bytes } => Values::Int(match (signed, bytes) {
            (true, 1) => data.iter().map(|&b| i128::from(b as i8)).collect(),
            (false, 1) => data.iter().map(|&b| i128::from(b)).collect(),
            (true, 2) => decode!(i16, 2).map(i128::from).collect(),
            (false, 2) => decode!(u16, 2).map(i128::from).collect(),
            (true, 4) => decode!(i32, 4).map(i128::from).collect(),
            (false, 4) => decode!(u32, 4).map(i128::from).collect(),
            (true, _) => decode!(i64, 8).map(i128::from).collect(),
            (false, _) => decode!(u64, 8).map(i128::from).collect(),
        }),
    };
    let values = if h.fortran && h.shape.len() > 1 {
        match values {
            Values::F32(v) => Values::F32(to_c_order(&v, &h.shape)),
            Values::F64(v) => Values::F64(to_c_order(&v, &h.shape)),
            Values::Int(v) => Values::Int(to_c_order(&v, &h.shape)),
        }
    } else {
        values
    };
    Ok(NpyArray {
        dtype: h.dtype,
        shape: h.shape,
        values,
    })
}

/// Reorders the elements of a Fortran-order (first axis fastest) array to
/// C order (last axis fastest).
fn to_c_order<T: Copy + Default>(f: &[T], shape: &[usize]) -> Vec<T> {
    let mut out = vec![T::default(); f.len()];
    // C strides; walk the input in its own order, carrying the C offset.
    let mut strides = vec![1usize; shape.len()];
    for ax in (0..shape.len().saturating_sub(1)).rev() {
        strides[ax] = strides[ax + 1] * shape[ax + 1];
    }
    let mut index = vec![0usize; shape.len()];
    let mut offset = 0usize;
    for &v in f {
        out[offset] = v;
        for ax in 0..shape.len() {
            index[ax] += 1;
            offset += strides[ax];
            if index[ax] < shape[ax] {
                break;
            }
            offset -= strides[ax] * shape[ax];
            index[ax] = 0;
        }
    }
    out
}

/// Reads the header, checking the magic, version and length.
pub(crate) fn header(bytes: &[u8]) -> Result<Header, NpyError> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(
            if bytes.len() < 6 && b"\x93NUMPY".starts_with(bytes) && !bytes.is_empty() {
                NpyError::ShortHeader {
                    found: bytes.len(),
                    needed: 10,
                }
            } else {
                NpyError::NotNpy
            },
        );
    }
    let short = |needed| NpyError::ShortHeader {
        found: bytes.len(),
        needed,
    };
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err(short(10)),
    };
    let (len_bytes, utf8) = match major {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        _ => return Err(NpyError::Version { major, minor }),
    };
    let start = 8 + len_bytes;
    let len_field = bytes.get(8..start).ok_or_else(|| short(start))?;
    let len = len_field
        .iter()
        .rev()
        .fold(0usize, |a, &b| (a << 8) | usize::from(b));
    let end = start.checked_add(len).ok_or_else(|| short(usize::MAX))?;
    let text = bytes.get(start..end).ok_or_else(|| short(end))?;
    let text = match std::str::from_utf8(text) {
        Ok(t) if utf8 || t.is_ascii() => t,
        _ => {
            return Err(NpyError::Header {
                at: 0,
                what: "the header is not ASCII text".into(),
            });
        }
    };
    let dict = Parser { text, at: 0 }.dict()?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    // Duplicate keys: the last wins, as in a Python dict literal.
    for (key, value) in dict {
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            (k @ ("descr" | "fortran_order" | "shape"), _) => {
                return Err(NpyError::Header {
                    at: 0,
                    what: format!("the value of '{k}' has the wrong type"),
                });
            }
            _ => {}
        }
    }
    let descr = descr.ok_or(NpyError::MissingKey("descr"))?;
    let fortran = fortran.ok_or(NpyError::MissingKey("fortran_order"))?;
    let shape = shape.ok_or(NpyError::MissingKey("shape"))?;
    let (dtype, big_endian) = dtype(&descr)?;
    Ok(Header {
        data_start: end,
        dtype,
        big_endian,
        shape,
        fortran,
    })
}

/// The dtype and byte order of a type string such as `<f4`.
fn dtype(descr: &str) -> Result<(Dtype, bool), NpyError> {
    let unsupported = |why| NpyError::UnsupportedDtype {
        descr: descr.to_string(),
        why,
    };
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = order == '>' || (order == '=' && cfg!(target_endian = "big"));
    let dtype = match code {
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "i1" | "u1" | "i2" | "u2" | "i4" | "u4" | "i8" | "u8" => Dtype::Int {
            signed: code.starts_with('i'),
            bytes: usize::from(code.as_bytes()[1] - b'0'),
        },
        "f2" => {
            return Err(unsupported(
                "float16 is not read; convert with .astype('float32')",
            ));
        }
        "b1" => {
            return Err(unsupported(
                "booleans are not read; convert with .astype('uint8')",
            ));
        }
        _ => {
            return Err(unsupported(
                "only float32, float64 and integer arrays are read",
            ));
        }
    };
    Ok((dtype, big_endian))
}

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// A parser of the header's dict literal.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, what: impl Into<String>) -> Result<T, NpyError> {
        Err(NpyError::Header {
            at: self.at,
            what: what.into(),
        })
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.at..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn dict(mut self) -> Result<Vec<(String, Value)>, NpyError> {
        if !self.eat('{') {
            return self.fail("expected '{' (a dict)");
        }
        let mut entries = Vec::new();
        while !self.eat('}') {
            let key = match self.value()? {
                Value::Str(s) => s,
                _ => return self.fail("expected a string key"),
            };
            if !self.eat(':') {
                return self.fail("expected ':'");
            }
            entries.push((key, self.value()?));
            if !self.eat(',') && self.peek() != Some('}') {
                return self.fail("expected ',' or '}'");
            }
        }
        if self.peek().is_some() {
            return self.fail("text after the dict");
        }
        Ok(entries)
    }

    fn value(&mut self) -> Result<Value, NpyError> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.at += 1;
                let rest = &self.text[self.at..];
                let Some(end) = rest.find(q) else {
                    return self.fail("unterminated string");
                };
                self.at += end + 1;
                Ok(Value::Str(rest[..end].to_string()))
            }
            Some('(') => {
                self.at += 1;
                let mut dims = Vec::new();
                while !self.eat(')') {
                    let rest = &self.text[self.at..];
                    let digits =
                        rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    let Ok(d) = rest[..digits].parse::<usize>() else {
                        return self.fail("expected a dimension (a non-negative integer)");
                    };
                    self.at += digits;
                    // Python 2 wrote longs as `10L`.
                    let _ = self.eat('L');
                    dims.push(d);
                    if !self.eat(',') && self.peek() != Some(')') {
                        return self.fail("expected ',' or ')' in the shape");
                    }
                }
                Ok(Value::Tuple(dims))
            }
            // A list is a structured dtype's field list.
            Some('[') => Err(NpyError::UnsupportedDtype {
                descr: "[...]".into(),
                why: "structured arrays (records) are not read; save plain numeric arrays",
            }),
            _ => {
                let rest = &self.text[self.at..];
                for (word, b) in [("True", true), ("False", false)] {
                    if rest.starts_with(word) {
                        self.at += word.len();
                        return Ok(Value::Bool(b));
                    }
                }
                self.fail("expected a string, True, False or a tuple")
            }
        }
    }
}
