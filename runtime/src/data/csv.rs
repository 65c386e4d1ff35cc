//! Numeric CSV files: features, then an integer class label in the last
//! column.
//!
//! The format of scikit-learn's bundled data sets (`digits.csv.gz`,
//! `iris.csv`, ...): comma-separated, one sample per line, no quoting.
//! Cells may be surrounded by spaces; `\r\n` line ends are accepted; blank
//! lines are skipped; a leading UTF-8 byte-order mark (Excel writes one) is
//! ignored. Gzip compression is detected by its magic bytes.
//!
//! The first line may be a header, recognized as:
//!
//! - a scikit-learn header `rows,features,name0,name1,...` (e.g.
//!   `150,4,setosa,versicolor,virginica`): two integers then at least one
//!   non-numeric class name. The row and feature counts are checked and the
//!   names become the data set's class names (labels must be below their
//!   number);
//! - a header of column names: every cell non-numeric (e.g.
//!   `x1,x2,label`). It is skipped.
//!
//! Anything else on the first line is data. Feature cells are `f32`
//! numbers; NaN and infinities (written or from overflow, e.g. `1e39`) are
//! rejected. Labels are non-negative integers up to [`MAX_LABEL`]; a whole
//! number written as a float (`3.0`) is accepted, `2.5` and `-1` are not.
//! Line and column numbers in errors start at 1.

use std::path::Path;

use thiserror::Error;

use super::{DataError, Dataset, MAX_LABEL, Normalization, decompress_all, read_file};

/// What is wrong with a CSV file. Lines and columns count from 1.
#[derive(Debug, Error)]
pub enum CsvError {
    #[error("file is empty")]
    Empty,
    #[error("file has a header but no data rows")]
    NoRows,
    #[error("line {line}: not UTF-8 text (byte offset {offset})")]
    NotUtf8 { line: usize, offset: usize },
    #[error("line {line}: {found} column(s); need at least one feature and a label (2 columns)")]
    TooFewColumns { line: usize, found: usize },
    #[error("line {line}: {found} columns, expected {expected} (as on line {first_line})")]
    ColumnCount {
        line: usize,
        found: usize,
        expected: usize,
        first_line: usize,
    },
    #[error(
        "line {line}: {found} columns; the model takes {width} features per row (a further \
         last column, a label, is ignored)"
    )]
    Width {
        line: usize,
        found: usize,
        width: usize,
    },
    #[error("line {line}, column {column}: {text:?} is not a number")]
    NotANumber {
        line: usize,
        column: usize,
        text: String,
    },
    #[error("line {line}, column {column}: {text:?} is not a finite f32 value")]
    NotFinite {
        line: usize,
        column: usize,
        text: String,
    },
    #[error("line {line}, column {column} (label): {text:?} {problem}")]
    BadLabel {
        line: usize,
        column: usize,
        text: String,
        problem: LabelProblem,
    },
    #[error(
        "line {line}, column {column}: label {label} is not below the {classes} class names \
         of the header"
    )]
    LabelBeyondNames {
        line: usize,
        column: usize,
        label: u32,
        classes: usize,
    },
    #[error(
        "line {line}, column {column} (target `{name}`): {text:?} is not a number; \
         a regression target must be numeric (use it without --target if it is a class label)"
    )]
    BadTarget {
        line: usize,
        column: usize,
        name: String,
        text: String,
    },
    #[error("--target {target}: {problem}")]
    UnknownTarget { target: String, problem: String },
    #[error("line 1: the header declares {declared} rows but the file has {found}")]
    HeaderRows { declared: usize, found: usize },
    #[error(
        "line 1: the header declares {declared} features but line {line} has {found} \
         (plus the label)"
    )]
    HeaderFeatures {
        declared: usize,
        line: usize,
        found: usize,
    },
}

/// Why a label cell was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelProblem {
    NotANumber,
    Negative,
    NotAnInteger,
    TooLarge,
}

impl std::fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelProblem::NotANumber => write!(f, "is not a number"),
            LabelProblem::Negative => write!(f, "is negative; labels are class indices 0, 1, ..."),
            LabelProblem::NotAnInteger => {
                write!(f, "is not an integer; labels are class indices 0, 1, ...")
            }
            LabelProblem::TooLarge => write!(
                f,
                "is larger than {MAX_LABEL}, the largest label accepted (is the label really \
                 the last column?)"
            ),
        }
    }
}

/// Loads a CSV file (raw or gzip), normalizing the features with `norm`.
/// The sample shape is `[features]`.
pub fn load_csv(path: &Path, norm: &Normalization) -> Result<Dataset, DataError> {
    parse_csv(&read_file(path)?, &path.display().to_string(), norm)
}

/// Parses CSV data (raw or gzip) held in memory; `file` names it in errors.
pub fn parse_csv(bytes: &[u8], file: &str, norm: &Normalization) -> Result<Dataset, DataError> {
    let text = decompress_all(bytes, file)?;
    let err = |error| DataError::Csv {
        file: file.to_string(),
        error,
    };
    norm.validate().map_err(|error| DataError::Normalization {
        dataset: file.to_string(),
        error,
    })?;
    let text = match std::str::from_utf8(&text) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let line = 1 + text[..offset].iter().filter(|&&b| b == b'\n').count();
            return Err(err(CsvError::NotUtf8 { line, offset }));
        }
    };
    // Excel and Notepad start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let Some(&(_, first)) = lines.peek() else {
        return Err(err(CsvError::Empty));
    };

    // Header detection.
    let cells: Vec<&str> = first.split(',').map(str::trim).collect();
    let is_number = |s: &str| s.parse::<f64>().is_ok();
    let mut declared: Option<(usize, usize)> = None;
    let mut class_names: Option<Vec<String>> = None;
    if cells.len() >= 3
        && let (Ok(rows), Ok(features)) = (cells[0].parse::<usize>(), cells[1].parse::<usize>())
        && cells[2..].iter().all(|c| !c.is_empty() && !is_number(c))
    {
        declared = Some((rows, features));
        class_names = Some(cells[2..].iter().map(|s| s.to_string()).collect());
        lines.next();
    } else if cells.iter().all(|c| !c.is_empty() && !is_number(c)) {
        lines.next();
    }

    let mut features: Vec<f32> = Vec::new();
    let mut labels: Vec<u32> = Vec::new();
    let mut width: Option<(usize, usize)> = None; // (columns, line)
    let mut cells: Vec<&str> = Vec::new();
    for (line, text) in lines {
        cells.clear();
        cells.extend(text.split(',').map(str::trim));
        let columns = cells.len();
        match width {
            None => {
                if columns < 2 {
                    return Err(err(CsvError::TooFewColumns {
                        line,
                        found: columns,
                    }));
                }
                if let Some((_, declared_features)) = declared
                    && declared_features != columns - 1
                {
                    return Err(err(CsvError::HeaderFeatures {
                        declared: declared_features,
                        line,
                        found: columns - 1,
                    }));
                }
                width = Some((columns, line));
            }
            Some((expected, first_line)) if columns != expected => {
                return Err(err(CsvError::ColumnCount {
                    line,
                    found: columns,
                    expected,
                    first_line,
                }));
            }
            Some(_) => {}
        }
        for (c, cell) in cells[..columns - 1].iter().enumerate() {
            features.push(parse_feature(cell, line, c + 1).map_err(err)?);
        }
        let label = parse_label(cells[columns - 1], line, columns).map_err(err)?;
        if let Some(names) = &class_names
            && label as usize >= names.len()
        {
            return Err(err(CsvError::LabelBeyondNames {
                line,
                column: columns,
                label,
                classes: names.len(),
            }));
        }
        labels.push(label);
    }
    let Some((columns, _)) = width else {
        return Err(err(CsvError::NoRows));
    };
    if let Some((rows, _)) = declared
        && rows != labels.len()
    {
        return Err(err(CsvError::HeaderRows {
            declared: rows,
            found: labels.len(),
        }));
    }
    norm.apply_slice(&mut features);
    let classes = match &class_names {
        Some(names) => names.len(),
        None => labels.iter().max().map_or(0, |&m| m as usize + 1),
    };
    Ok(Dataset {
        features,
        labels,
        sample_shape: vec![columns - 1],
        classes,
        class_names,
        source: file.to_string(),
        labels_source: None,
        targets: None,
    })
}

pub(super) fn parse_feature(cell: &str, line: usize, column: usize) -> Result<f32, CsvError> {
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(CsvError::NotFinite {
            line,
            column,
            text: cell.to_string(),
        }),
        Err(_) => Err(CsvError::NotANumber {
            line,
            column,
            text: cell.to_string(),
        }),
    }
}

fn parse_label(cell: &str, line: usize, column: usize) -> Result<u32, CsvError> {
    let bad = |problem| CsvError::BadLabel {
        line,
        column,
        text: cell.to_string(),
        problem,
    };
    if let Ok(v) = cell.parse::<u64>() {
        return if v <= MAX_LABEL as u64 {
            Ok(v as u32)
        } else {
            Err(bad(LabelProblem::TooLarge))
        };
    }
    let v: f64 = cell.parse().map_err(|_| bad(LabelProblem::NotANumber))?;
    if v.is_nan() {
        Err(bad(LabelProblem::NotANumber))
    } else if v < 0.0 {
        Err(bad(LabelProblem::Negative))
    } else if !v.is_finite() || v.fract() != 0.0 {
        Err(bad(LabelProblem::NotAnInteger))
    } else if v > MAX_LABEL as f64 {
        Err(bad(LabelProblem::TooLarge))
    } else {
        Ok(v as u32)
    }
}

/// Features without labels, for inference: rows of `width` numbers, or of
/// `width + 1` with the last (a label, as in a training file) ignored. A
/// first line whose cells are all non-numeric (column names, or
/// scikit-learn's `rows,features,names...`) is a header and skipped.
/// Returns the features, row after row, and the number of rows.
pub fn parse_features(
    bytes: &[u8],
    file: &str,
    width: usize,
) -> Result<(Vec<f32>, usize), DataError> {
    let text = decompress_all(bytes, file)?;
    let err = |error| DataError::Csv {
        file: file.to_string(),
        error,
    };
    let text = match std::str::from_utf8(&text) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let line = 1 + text[..offset].iter().filter(|&&b| b == b'\n').count();
            return Err(err(CsvError::NotUtf8 { line, offset }));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let Some(&(_, first)) = lines.peek() else {
        return Err(err(CsvError::Empty));
    };
    let cells: Vec<&str> = first.split(',').map(str::trim).collect();
    let header = cells.len() >= 3
        && cells[0].parse::<usize>().is_ok()
        && cells[1].parse::<usize>().is_ok()
        && cells[2..].iter().all(|c| c.parse::<f64>().is_err());
    if header || cells.iter().all(|c| c.parse::<f64>().is_err()) {
        lines.next();
    }
    let mut features = Vec::new();
    let mut rows = 0;
    for (line, text) in lines {
        let cells: Vec<&str> = text.split(',').map(str::trim).collect();
        if cells.len() != width && cells.len() != width + 1 {
            return Err(err(CsvError::Width {
                line,
                found: cells.len(),
                width,
            }));
        }
        for (c, cell) in cells[..width].iter().enumerate() {
            features.push(parse_feature(cell, line, c + 1).map_err(err)?);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(err(CsvError::NoRows));
    }
    Ok((features, rows))
}
