//! Tolerant CSV reading shared by the loaders: ragged rows, bad UTF-8 and unparsable cells are
//! skipped or read as missing, never fatal.

use std::path::Path;

use crate::error::AnalysisError;

/// A CSV file read into memory: headers and the records that parsed.
#[derive(Debug, Clone)]
pub struct Table {
    /// The first row.
    pub headers: Vec<String>,
    /// Every later row that parsed (possibly shorter or longer than the headers).
    pub rows: Vec<csv::StringRecord>,
    /// Rows that could not be parsed at all (bad UTF-8, bad quoting) and were skipped.
    pub skipped: usize,
}

impl Table {
    /// Index of the first header equal to one of `names` (ASCII case-insensitive).
    pub fn col(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| {
            self.headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(n))
        })
    }
}

/// Reads `path` as CSV with a header row. Fails only when the file cannot be opened or has no
/// header row.
pub fn read_table(path: &Path) -> Result<Table, AnalysisError> {
    read_table_with(path, true)
}

/// Reads `path` as CSV; with `has_headers = false` every row is data and `headers` is empty.
pub fn read_table_with(path: &Path, has_headers: bool) -> Result<Table, AnalysisError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(has_headers)
        .from_path(path)
        .map_err(|source| AnalysisError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
    let headers = if has_headers {
        rdr.headers()
            .map_err(|source| AnalysisError::Csv {
                path: path.to_path_buf(),
                source,
            })?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_string())
            .collect()
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    let mut skipped = 0;
    for rec in rdr.records() {
        match rec {
            Ok(r) => rows.push(r),
            Err(_) => skipped += 1,
        }
    }
    Ok(Table {
        headers,
        rows,
        skipped,
    })
}

/// Parses a numeric cell; empty, `NaN`, `null` and anything unparsable are `NaN`.
pub fn num(cell: Option<&str>) -> f64 {
    cell.map(str::trim)
        .and_then(|c| c.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}
