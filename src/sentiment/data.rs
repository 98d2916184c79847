//! Labelled CSV files (`text,label[,source]`) for training and evaluation.

use std::path::Path;

use crate::model::SentimentLabel;

#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPost {
    pub text: String,
    pub label: SentimentLabel,
    /// The `source` column, or `unknown` when the file has none.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv {
        path: std::path::PathBuf,
        source: csv::Error,
    },
    #[error("{path}: the header has no `{column}` column")]
    MissingColumn {
        path: std::path::PathBuf,
        column: &'static str,
    },
    #[error("{path} line {line}: {message}")]
    Row {
        path: std::path::PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: no rows")]
    Empty { path: std::path::PathBuf },
}

/// Read a labelled CSV. Any bad row is an error naming its line: training on silently skipped rows
/// would make results irreproducible.
pub fn read_labelled(path: &Path) -> Result<Vec<LabelledPost>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr = csv::Reader::from_reader(std::io::BufReader::new(file));
    let csv_err = |source| DataError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &'static str| headers.iter().position(|h| h.trim() == name);
    let text_col = col("text").ok_or(DataError::MissingColumn {
        path: path.to_path_buf(),
        column: "text",
    })?;
    let label_col = col("label").ok_or(DataError::MissingColumn {
        path: path.to_path_buf(),
        column: "label",
    })?;
    let source_col = col("source");
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let row_err = |message: String| DataError::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text = rec
            .get(text_col)
            .ok_or_else(|| row_err("missing `text` field".into()))?;
        let label: SentimentLabel = rec
            .get(label_col)
            .ok_or_else(|| row_err("missing `label` field".into()))?
            .parse()
            .map_err(row_err)?;
        let source = source_col
            .and_then(|c| rec.get(c))
            .unwrap_or("unknown")
            .to_string();
        out.push(LabelledPost {
            text: text.to_string(),
            label,
            source,
        });
    }
    if out.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// FNV-1a of a file's bytes, recorded in the model so a run can be traced to its data.
pub fn file_fingerprint(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(format!("fnv1a64:{h:016x}"))
}
