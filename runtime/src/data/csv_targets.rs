//! CSV files with float targets (regression, multi-label): `--target`
//! picks one or several columns as targets, every other column is a
//! feature.
//!
//! The format is [`csv`](super::csv)'s (comma-separated, no quoting, gzip
//! detected, blank lines skipped, a byte-order mark ignored). The first
//! line is a header of column names when any of its cells is not a
//! number. A target is named by its header name, or by its column number
//! counted from 1, as every line and column number in the loaders'
//! messages is. Every cell must be a finite number; a target cell that is
//! not is reported with its file, line, column, target and text.

use std::path::Path;

use super::csv::{CsvError, parse_feature};
use super::{DataError, Dataset, Normalization, decompress_all, read_file};

/// A `--target` entry: a header name, or a column number from 1.
pub type TargetColumn = String;

/// Loads a CSV file (raw or gzip) whose `targets` columns are float
/// targets; the other columns are the features, normalized with `norm`.
pub fn load_csv_targets(
    path: &Path,
    targets: &[TargetColumn],
    norm: &Normalization,
) -> Result<Dataset, DataError> {
    parse_csv_targets(
        &read_file(path)?,
        &path.display().to_string(),
        targets,
        norm,
    )
}

/// [`load_csv_targets`] on bytes held in memory; `file` names them in errors.
pub fn parse_csv_targets(
    bytes: &[u8],
    file: &str,
    targets: &[TargetColumn],
    norm: &Normalization,
) -> Result<Dataset, DataError> {
    let err = |error| DataError::Csv {
        file: file.to_string(),
        error,
    };
    let text = decompress_all(bytes, file)?;
    let text = std::str::from_utf8(&text).map_err(|e| {
        let offset = e.valid_up_to();
        let line = 1 + text[..offset].iter().filter(|&&b| b == b'\n').count();
        err(CsvError::NotUtf8 { line, offset })
    })?;
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
    let first: Vec<&str> = first.split(',').map(str::trim).collect();
    let header = first.iter().any(|c| c.parse::<f64>().is_err());
    if header {
        lines.next();
    }
    let columns = first.len();
    let names: Vec<String> = if header {
        first.iter().map(|s| s.to_string()).collect()
    } else {
        (1..=columns).map(|c| c.to_string()).collect()
    };
    let target_index = resolve(targets, &names, header, columns).map_err(err)?;
    let target_names: Vec<String> = target_index.iter().map(|&c| names[c].clone()).collect();

    let mut features = Vec::new();
    let mut values = Vec::new();
    let mut rows = 0;
    let mut first_line = None;
    for (line, text) in lines {
        let cells: Vec<&str> = text.split(',').map(str::trim).collect();
        let first_line = *first_line.get_or_insert(line);
        if cells.len() != columns {
            return Err(err(CsvError::ColumnCount {
                line,
                found: cells.len(),
                expected: columns,
                first_line,
            }));
        }
        for (c, cell) in cells.iter().enumerate() {
            if !target_index.contains(&c) {
                features.push(parse_feature(cell, line, c + 1).map_err(err)?);
            }
        }
        for (&c, name) in target_index.iter().zip(&target_names) {
            let cell = cells[c];
            match cell.parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => {
                    return Err(err(CsvError::BadTarget {
                        line,
                        column: c + 1,
                        name: name.clone(),
                        text: cell.to_string(),
                    }));
                }
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(err(CsvError::NoRows));
    }
    norm.validate().map_err(|error| DataError::Normalization {
        dataset: file.to_string(),
        error,
    })?;
    norm.apply_slice(&mut features);
    let feature_count = columns - target_index.len();
    Dataset::new(features, vec![0; rows], vec![feature_count], 1, None, file)?
        .with_targets(values, target_names)
}

/// The 0-based columns of the targets: a header name, else a column
/// number from 1; each once, and at least one column left for features.
fn resolve(
    targets: &[TargetColumn],
    names: &[String],
    header: bool,
    columns: usize,
) -> Result<Vec<usize>, CsvError> {
    let unknown = |target: &str, problem: String| CsvError::UnknownTarget {
        target: target.to_string(),
        problem,
    };
    if targets.is_empty() {
        return Err(unknown("", "name at least one target column".into()));
    }
    let mut found = Vec::new();
    for target in targets {
        let by_name = names.iter().position(|n| header && n == target);
        let column = match (by_name, target.parse::<usize>()) {
            (Some(c), _) => c,
            (None, Ok(n)) if (1..=columns).contains(&n) => n - 1,
            (None, Ok(n)) => {
                return Err(unknown(
                    target,
                    format!("column {n} is not among the file's columns 1 to {columns}"),
                ));
            }
            (None, Err(_)) if header => {
                return Err(unknown(
                    target,
                    format!(
                        "no column is called `{target}`; the header has {}",
                        names.join(", ")
                    ),
                ));
            }
            (None, Err(_)) => {
                return Err(unknown(
                    target,
                    format!(
                        "the file has no header line to look `{target}` up in; \
                         give a column number from 1 to {columns}"
                    ),
                ));
            }
        };
        if found.contains(&column) {
            return Err(unknown(
                target,
                format!("column {} is named twice", column + 1),
            ));
        }
        found.push(column);
    }
    if found.len() >= columns {
        return Err(unknown(
            &targets.join(","),
            "every column is a target; at least one must be left for the features".into(),
        ));
    }
    Ok(found)
}
