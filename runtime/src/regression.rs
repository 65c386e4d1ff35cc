//! Regression metrics, scikit-learn's definitions with its default
//! `multioutput="uniform_average"`: each is computed per target column,
//! then averaged over the columns.
//!
//! - MAE, `mean_absolute_error`: mean of `|y - ŷ|`;
//! - RMSE, `root_mean_squared_error`: square root of the mean of
//!   `(y - ŷ)²`, per column (so not the root of the pooled MSE when there
//!   are several targets);
//! - R², `r2_score`: `1 - SS_res / SS_tot` with `SS_tot` around the
//!   column's mean; a constant column scores 1 if predicted exactly and 0
//!   otherwise (scikit-learn's `force_finite=True`).
//!
//! Sums are taken in f64.

use serde::{Deserialize, Serialize};

/// MAE, RMSE and R² of predictions against true values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    pub mae: f64,
    pub rmse: f64,
    pub r2: f64,
}

impl RegressionMetrics {
    /// The metrics of `predicted` against `actual`, both `samples ×
    /// width` values in rows. `None` without samples or with lengths that
    /// do not agree.
    pub fn compute(predicted: &[f32], actual: &[f32], width: usize) -> Option<RegressionMetrics> {
        if width == 0
            || predicted.len() != actual.len()
            || actual.is_empty()
            || !actual.len().is_multiple_of(width)
        {
            return None;
        }
        let n = (actual.len() / width) as f64;
        let column = |c: usize| {
            actual
                .iter()
                .zip(predicted)
                .skip(c)
                .step_by(width)
                .map(|(&y, &p)| (y as f64, p as f64))
        };
        let (mut mae, mut rmse, mut r2) = (0.0, 0.0, 0.0);
        for c in 0..width {
            let mean = column(c).map(|(y, _)| y).sum::<f64>() / n;
            let (mut abs, mut res, mut tot) = (0.0, 0.0, 0.0);
            for (y, p) in column(c) {
                abs += (y - p).abs();
                res += (y - p) * (y - p);
                tot += (y - mean) * (y - mean);
            }
            mae += abs / n;
            rmse += (res / n).sqrt();
            r2 += if tot != 0.0 {
                1.0 - res / tot
            } else if res == 0.0 {
                1.0
            } else {
                0.0
            };
        }
        let w = width as f64;
        Some(RegressionMetrics {
            mae: mae / w,
            rmse: rmse / w,
            r2: r2 / w,
        })
    }
}

/// A model's predictions on a regression test set, with the true values
/// and the metrics, for the report and the scatter plot.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionResult {
    pub metrics: RegressionMetrics,
    /// `samples × names.len()` values, in rows.
    pub predicted: Vec<f32>,
    pub actual: Vec<f32>,
    /// The target columns' names.
    pub names: Vec<String>,
}
