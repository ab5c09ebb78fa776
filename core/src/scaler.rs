//! Feature rows and their standardisation.
//!
//! A feature row is `[rating, popularity, watch_seconds]` (the original's order). The scaler
//! centres and scales each feature with the training split's mean and *population* standard
//! deviation, as scikit-learn's `StandardScaler` does. The arithmetic is `f64` and only the
//! result is rounded to `f32`, so the trainer, the server and the browser get the same bits.
//! Standardised values saturate at ±10,000 deviations: a watch of a billion seconds says
//! nothing more than one far outside the training range, and must not overflow the network
//! into infinities and NaN scores.

use serde::{Deserialize, Serialize};

/// Number of features per row.
pub const FEATURES: usize = 3;

/// The largest standardised value, in deviations from the training mean.
const LIMIT: f64 = 1e4;

/// Per-feature mean and scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Mean of each feature over the training split.
    pub mean: [f64; FEATURES],
    /// Population standard deviation of each feature (1 where it was 0).
    pub scale: [f64; FEATURES],
}

impl Scaler {
    /// Fits on raw rows; an empty input gives the identity scaler.
    pub fn fit(rows: &[[f64; FEATURES]]) -> Scaler {
        let n = rows.len().max(1) as f64;
        let mut mean = [0.0; FEATURES];
        for row in rows {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut scale = [0.0; FEATURES];
        for row in rows {
            for ((s, x), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (x - m) * (x - m);
            }
        }
        for s in &mut scale {
            *s = (*s / n).sqrt();
            // A constant feature carries no information; scikit-learn also divides by 1 here.
            if *s == 0.0 || !s.is_finite() {
                *s = 1.0;
            }
        }
        Scaler { mean, scale }
    }

    /// Standardises one raw row, saturating at ±10,000 deviations (see the module docs).
    pub fn transform(&self, row: [f64; FEATURES]) -> [f32; FEATURES] {
        let mut out = [0.0f32; FEATURES];
        for i in 0..FEATURES {
            out[i] = ((row[i] - self.mean[i]) / self.scale[i]).clamp(-LIMIT, LIMIT) as f32;
        }
        out
    }

    /// Whether every mean and scale is finite and every scale positive.
    pub(crate) fn is_valid(&self) -> bool {
        self.mean.iter().all(|m| m.is_finite())
            && self.scale.iter().all(|s| s.is_finite() && *s > 0.0)
    }
}

/// The raw feature row of a watch event: the movie's rating and popularity, the time watched.
pub fn feature_row(rating: f64, popularity: f64, watch_seconds: f64) -> [f64; FEATURES] {
    [rating, popularity, watch_seconds]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_population_deviation() {
        let scaler = Scaler::fit(&[[1.0, 0.0, 5.0], [3.0, 0.0, 5.0]]);
        assert_eq!(scaler.mean, [2.0, 0.0, 5.0]);
        // population deviation of {1, 3} is 1 (the sample deviation would be 1.414...)
        assert_eq!(scaler.scale, [1.0, 1.0, 1.0]);
        assert_eq!(scaler.transform([3.0, 0.0, 5.0]), [1.0, 0.0, 0.0]);
    }

    #[test]
    fn extreme_values_saturate_instead_of_overflowing() {
        let scaler = Scaler::fit(&[[1.0, 0.0, 0.0], [3.0, 2.0, 7200.0]]);
        let row = scaler.transform([f64::MAX, -f64::MAX, 1e12]);
        assert_eq!(row, [1e4, -1e4, 1e4]);
        assert_eq!(
            scaler.transform([3.0, 0.0, 0.0])[0],
            1.0,
            "ordinary values are untouched"
        );
    }

    #[test]
    fn constant_features_scale_by_one() {
        let scaler = Scaler::fit(&[[7.0, 2.0, 0.0], [7.0, 4.0, 0.0]]);
        assert_eq!(scaler.scale[0], 1.0);
        assert!(scaler.is_valid());
    }
}
