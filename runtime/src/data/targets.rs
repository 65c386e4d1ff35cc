//! Float targets: the values a regression (or multi-label) model learns,
//! several per sample, kept beside a data set's features.

use super::{DataError, Dataset};

/// `len() × names.len()` float targets, one row per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetValues {
    pub values: Vec<f32>,
    /// One name per target column (the CSV header's, or the column number).
    pub names: Vec<String>,
}

impl TargetValues {
    /// Targets per sample.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// The targets of the samples `indices`, in that order.
    pub(super) fn subset(&self, indices: &[usize]) -> TargetValues {
        let w = self.width();
        let mut values = Vec::with_capacity(indices.len() * w);
        for &i in indices {
            values.extend_from_slice(&self.values[i * w..(i + 1) * w]);
        }
        TargetValues {
            values,
            names: self.names.clone(),
        }
    }
}

impl Dataset {
    /// This data set with float targets: `targets` holds `names.len()`
    /// finite values per sample. Its labels become 0 (one class): the
    /// targets, not classes, are what a model learns from it.
    pub fn with_targets(
        mut self,
        targets: Vec<f32>,
        names: Vec<String>,
    ) -> Result<Dataset, DataError> {
        let inconsistent = |reason: String| DataError::Inconsistent {
            dataset: self.source.clone(),
            reason,
        };
        if names.is_empty() {
            return Err(inconsistent("no target columns".into()));
        }
        if self.len().checked_mul(names.len()) != Some(targets.len()) {
            return Err(inconsistent(format!(
                "{} target values are not {} samples of {} targets",
                targets.len(),
                self.len(),
                names.len()
            )));
        }
        if let Some(bad) = targets.iter().position(|v| !v.is_finite()) {
            return Err(inconsistent(format!(
                "sample {} has a target that is not finite ({})",
                bad / names.len(),
                targets[bad]
            )));
        }
        self.labels.fill(0);
        self.classes = 1;
        self.class_names = None;
        self.targets = Some(TargetValues {
            values: targets,
            names,
        });
        Ok(self)
    }

    /// Float targets per sample (0 without targets).
    pub fn target_width(&self) -> usize {
        self.targets.as_ref().map_or(0, TargetValues::width)
    }

    /// The float targets of sample `index`; empty without targets.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn target(&self, index: usize) -> &[f32] {
        match &self.targets {
            Some(t) => &t.values[index * t.width()..(index + 1) * t.width()],
            None => &[],
        }
    }

    /// Copies the targets of samples `indices` (in that order) into `out`
    /// (`indices.len() × target_width()` values); allocates nothing.
    ///
    /// # Panics
    /// If an index is out of range or `out` has another length.
    pub fn gather_targets(&self, indices: &[usize], out: &mut [f32]) {
        let w = self.target_width();
        assert_eq!(
            out.len(),
            indices.len() * w,
            "gather_targets: output length"
        );
        if w == 0 {
            return;
        }
        for (&i, row) in indices.iter().zip(out.chunks_exact_mut(w)) {
            row.copy_from_slice(self.target(i));
        }
    }
}
