//! NumPy `.npz` archives: a zip file (stored, or deflated by
//! `np.savez_compressed`) of `.npy` members named `<array>.npy`.
//! [`load_npz`] builds a labelled data set from the arrays `x` and `y`, or
//! Keras' `x_train`, `y_train`, `x_test` and `y_test`; [`npz_features`]
//! picks the inputs for inference. [`features`] and [`labels`] say which
//! dtypes a data set takes.

use std::io::{Cursor, Read};
use std::path::Path;

use super::npy::{Dtype, NpyArray, NpyError, Values, npy_error, parse};
use super::{DataError, Dataset, MAX_LABEL, read_file};

/// The elements of `array` as features: `float32`, `float64` (converted,
/// each must be finite as f32) or `uint8`. The flag says the values are
/// bytes (to be scaled like image pixels, max 255).
pub fn features(array: &NpyArray, what: &'static str) -> Result<(Vec<f32>, bool), NpyError> {
    let not_finite = |index: usize, value: f64| NpyError::NotFinite { what, index, value };
    match (&array.values, array.dtype) {
        (Values::F32(v), _) => match v.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(not_finite(i, f64::from(v[i]))),
            None => Ok((v.clone(), false)),
        },
        (Values::F64(v), _) => {
            let out: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            match out.iter().position(|x| !x.is_finite()) {
                Some(i) => Err(not_finite(i, v[i])),
                None => Ok((out, false)),
            }
        }
        (
            Values::Int(v),
            Dtype::Int {
                signed: false,
                bytes: 1,
            },
        ) => Ok((v.iter().map(|&x| x as f32).collect(), true)),
        (_, dtype) => Err(NpyError::WrongDtype {
            what,
            dtype: dtype.name(),
            wanted: "features must be float32, float64 or uint8 (convert with .astype('float32'))",
        }),
    }
}

/// The elements of `array` as token ids, for a model whose input is i64:
/// any integer type (each exact as f32, within ±2^24), or floats (whole
/// numbers, as a CSV's `3.0`; `tokens::check_tokens` refuses others). The
/// flag is false: token ids are never scaled.
pub fn token_features(array: &NpyArray, what: &'static str) -> Result<(Vec<f32>, bool), NpyError> {
    match &array.values {
        Values::Int(v) => match v.iter().position(|&x| x.unsigned_abs() > 1 << 24) {
            Some(index) => Err(NpyError::NotExact {
                what,
                index,
                value: v[index],
            }),
            None => Ok((v.iter().map(|&x| x as f32).collect(), false)),
        },
        Values::F32(_) | Values::F64(_) => features(array, what).map(|(v, _)| (v, false)),
    }
}

/// The elements of `array` as class labels: any integer type, each in
/// `0..=MAX_LABEL`.
pub fn labels(array: &NpyArray) -> Result<Vec<u32>, NpyError> {
    let Values::Int(v) = &array.values else {
        return Err(NpyError::WrongDtype {
            what: "labels",
            dtype: array.dtype.name(),
            wanted: "labels must be integers (class indices; convert with .astype('int64'))",
        });
    };
    v.iter()
        .enumerate()
        .map(|(index, &value)| match u32::try_from(value) {
            Ok(l) if l <= MAX_LABEL => Ok(l),
            _ => Err(NpyError::BadLabel { index, value }),
        })
        .collect()
}

/// A data set read from an `.npz` archive, before any scaling.
#[derive(Clone, Debug)]
pub struct NpzData {
    /// From `x`/`y`, or `x_train`/`y_train`.
    pub train: Dataset,
    /// From `x_test`/`y_test`, when the archive has them.
    pub test: Option<Dataset>,
    /// The features were `uint8` (pixels, max 255).
    pub bytes: bool,
}

/// The arrays of an `.npz` archive, by name (member name without `.npy`),
/// in archive order.
pub fn parse_npz(bytes: &[u8], file: &str) -> Result<Vec<(String, NpyArray)>, DataError> {
    npz_arrays(bytes).map_err(|error| npy_error(file, error))
}

fn npz_arrays(bytes: &[u8]) -> Result<Vec<(String, NpyArray)>, NpyError> {
    let zip_err = |e: zip::result::ZipError| NpyError::Zip(e.to_string());
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_err)?;
    let mut arrays = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_err)?;
        let name = member.name().map_err(zip_err)?.to_string();
        let Some(array) = name.strip_suffix(".npy") else {
            continue;
        };
        let mut data = Vec::new();
        let member_err = |error| NpyError::Member {
            member: name.clone(),
            error: Box::new(error),
        };
        member
            .read_to_end(&mut data)
            .map_err(|e| member_err(NpyError::Zip(e.to_string())))?;
        arrays.push((array.to_string(), parse(&data).map_err(member_err)?));
    }
    Ok(arrays)
}

/// Loads an `.npz` archive as a labelled data set: arrays `x` and `y`,
/// or `x_train`, `y_train`, `x_test` and `y_test` (as Keras'
/// `mnist.npz`). The first axis counts samples; the rest is a sample's
/// shape. The number of classes is the largest label (of both parts) plus
/// one.
pub fn load_npz(path: &Path) -> Result<NpzData, DataError> {
    load_npz_reading(path, features)
}

/// [`load_npz`] for a model whose input is token ids: features of any
/// integer type ([`token_features`]).
pub fn load_npz_tokens(path: &Path) -> Result<NpzData, DataError> {
    load_npz_reading(path, token_features)
}

/// How an archive's features array becomes f32 features.
type ReadFeatures = fn(&NpyArray, &'static str) -> Result<(Vec<f32>, bool), NpyError>;

fn load_npz_reading(path: &Path, read: ReadFeatures) -> Result<NpzData, DataError> {
    let file = path.display().to_string();
    let arrays = parse_npz(&read_file(path)?, &file)?;
    npz_dataset(arrays, &file, read).map_err(|error| npy_error(&file, error))
}

fn npz_dataset(
    arrays: Vec<(String, NpyArray)>,
    file: &str,
    read: ReadFeatures,
) -> Result<NpzData, NpyError> {
    let get = |name: &str| arrays.iter().rev().find(|(n, _)| n == name).map(|(_, a)| a);
    let names: Vec<String> = arrays.iter().map(|(n, _)| n.clone()).collect();
    let missing = || NpyError::MissingArrays {
        found: names.clone(),
        wanted:
            "a data set needs arrays `x` and `y`, or `x_train`, `y_train`, `x_test` and `y_test`"
                .into(),
    };
    type Part<'a> = (&'a NpyArray, &'a NpyArray, &'static str, &'static str);
    let parts: Vec<Part> = if let (Some(x), Some(y)) = (get("x"), get("y")) {
        vec![(x, y, "x", "y")]
    } else if let (Some(x), Some(y), Some(xt), Some(yt)) =
        (get("x_train"), get("y_train"), get("x_test"), get("y_test"))
    {
        vec![(x, y, "x_train", "y_train"), (xt, yt, "x_test", "y_test")]
    } else {
        return Err(missing());
    };
    let mut loaded = Vec::new();
    for (x, y, xn, yn) in parts {
        let member = |error| NpyError::Member {
            member: format!("{xn}/{yn}"),
            error: Box::new(error),
        };
        let (features, bytes) = read(x, "features").map_err(member)?;
        let labels = labels(y).map_err(member)?;
        let Some((&n, sample_shape)) = x.shape.split_first() else {
            return Err(member(NpyError::WrongShape {
                what: "features",
                shape: x.shape.clone(),
                why: "a scalar; the first axis must count samples".into(),
            }));
        };
        let y_ok = matches!(y.shape.as_slice(), [m] | [m, 1] if *m == n);
        if !y_ok {
            return Err(member(NpyError::WrongShape {
                what: "labels",
                shape: y.shape.clone(),
                why: format!("expected [{n}] (one label per sample of {xn})"),
            }));
        }
        let sample_shape = if sample_shape.is_empty() {
            vec![1]
        } else {
            sample_shape.to_vec()
        };
        loaded.push((features, labels, sample_shape, bytes, xn));
    }
    let classes = loaded
        .iter()
        .flat_map(|l| l.1.iter())
        .max()
        .map_or(0, |&m| m as usize + 1);
    let bytes = loaded.iter().all(|l| l.3);
    let mut sets = Vec::new();
    for (features, labels, shape, _, name) in loaded {
        let source = if name == "x" {
            file.to_string()
        } else {
            format!("{file} ({})", name.trim_start_matches("x_"))
        };
        let ds = Dataset::new(features, labels, shape, classes, None, source).map_err(|e| {
            NpyError::WrongShape {
                what: "features",
                shape: vec![],
                why: e.to_string(),
            }
        })?;
        sets.push(ds);
    }
    let mut sets = sets.into_iter();
    let train = sets.next().ok_or_else(missing)?;
    Ok(NpzData {
        train,
        test: sets.next(),
        bytes,
    })
}

/// The features array for inference in an `.npz` archive: `x`, else
/// `x_test`, else the only array.
pub fn npz_features(arrays: Vec<(String, NpyArray)>) -> Result<NpyArray, NpyError> {
    let names: Vec<String> = arrays.iter().map(|(n, _)| n.clone()).collect();
    let pick = ["x", "x_test"]
        .iter()
        .find_map(|want| arrays.iter().rposition(|(n, _)| n == want));
    let index = match (pick, arrays.len()) {
        (Some(i), _) => i,
        (None, 1) => 0,
        _ => {
            return Err(NpyError::MissingArrays {
                found: names,
                wanted: "inputs are read from the array `x`, or `x_test`, or the only array".into(),
            });
        }
    };
    Ok(arrays.into_iter().nth(index).expect("index in range").1)
}

/// Whether an `.npz` data set's features are `uint8` (scaled like image
/// pixels by default). Reads only the archive's directory and the
/// features' header.
pub fn npz_features_are_bytes(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(mut archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return false;
    };
    for name in ["x.npy", "x_train.npy"] {
        if let Ok(member) = archive.by_name(name) {
            let mut head = Vec::new();
            // A version 1 header is at most 10 + 65535 bytes.
            if member.take(70_000).read_to_end(&mut head).is_err() {
                return false;
            }
            return header_prefix(&head).is_some_and(|d| {
                d == Dtype::Int {
                    signed: false,
                    bytes: 1,
                }
            });
        }
    }
    false
}

/// The dtype from the start of an `.npy` file (the header only).
fn header_prefix(bytes: &[u8]) -> Option<Dtype> {
    super::npy::header(bytes).ok().map(|h| h.dtype)
}
