//! Compressed sparse rows: the record type the linear SVM trains on.
//!
//! linfa's estimators take dense `ndarray`s; a TF-IDF matrix of the training corpus is 36k × 2^20 and
//! almost all zeros, so it is stored row by row as (column, value) pairs and implements
//! [`linfa::dataset::Records`] to travel inside a [`linfa::Dataset`]-style `DatasetBase`.

use linfa::dataset::Records;
use ndarray::ArrayView2;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseRows {
    /// Row `i` is `indices[indptr[i]..indptr[i + 1]]` with the matching `values`.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
    pub ncols: usize,
}

impl SparseRows {
    pub fn new(ncols: usize) -> Self {
        SparseRows {
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
            ncols,
        }
    }

    /// Append one row; `indices` must be below `ncols`.
    pub fn push_row(&mut self, row: impl IntoIterator<Item = (u32, f32)>) {
        for (i, v) in row {
            debug_assert!((i as usize) < self.ncols);
            self.indices.push(i);
            self.values.push(v);
        }
        self.indptr.push(self.indices.len());
    }

    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// The rows listed in `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> SparseRows {
        let mut out = SparseRows::new(self.ncols);
        for &r in rows {
            let (idx, val) = self.row(r);
            out.push_row(idx.iter().copied().zip(val.iter().copied()));
        }
        out
    }

    /// Non-zero entries of a dense matrix (used to compare with dense-input solvers).
    pub fn from_dense(x: ArrayView2<'_, f64>) -> SparseRows {
        let mut out = SparseRows::new(x.ncols());
        for row in x.rows() {
            out.push_row(
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(i, v)| (i as u32, *v as f32)),
            );
        }
        out
    }
}

impl Records for SparseRows {
    type Elem = f32;

    fn nsamples(&self) -> usize {
        self.nrows()
    }

    fn nfeatures(&self) -> usize {
        self.ncols
    }
}
