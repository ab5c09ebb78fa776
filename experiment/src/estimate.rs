//! The debiased share of an arm, with a confidence interval that includes the privacy noise.

use serde::Serialize;

use crate::normal::quantile;
use crate::response::debias;
use crate::tally::Counts;

/// An arm's estimated true share of periods whose first click landed in the top 3.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The reports behind it.
    pub reports: u64,
    /// The debiased share, clamped to `[0, 1]`.
    pub value: f64,
    /// The interval's lower end, in `[0, 1]`.
    pub low: f64,
    /// The interval's upper end, in `[0, 1]`.
    pub high: f64,
}

/// The estimate from an arm's `counts`, with an interval at `confidence` (e.g. 0.95); `None`
/// before the arm's first report.
///
/// The interval is Wilson's score interval for the share of reported ones, which is a plain
/// binomial share whatever the devices' true outcomes, mapped through the debiasing line: so
/// it holds the randomization's noise as well as the sampling's (about twice as wide as
/// without privacy). Before clamping to `[0, 1]` it is never zero-wide; clamped, it can be,
/// when the reported share lies far outside what honest devices produce (under 1/4 or over
/// 3/4 ones, beyond noise): a sign of made-up reports rather than a precise estimate.
pub fn estimate(counts: Counts, confidence: f64) -> Option<Estimate> {
    let reports = counts.reports();
    if reports == 0 {
        return None;
    }
    let n = reports as f64;
    let share = counts.ones as f64 / n;
    let z = quantile(1.0 - (1.0 - confidence) / 2.0);
    let z2 = z * z;
    let center = (share + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (share * (1.0 - share) / n + z2 / (4.0 * n * n)).sqrt();
    let clamp = |value: f64| value.clamp(0.0, 1.0);
    Some(Estimate {
        reports,
        value: clamp(debias(share)),
        low: clamp(debias(center - half)),
        high: clamp(debias(center + half)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reports_no_estimate() {
        assert_eq!(estimate(Counts::default(), 0.95), None);
    }

    #[test]
    fn the_estimate_undoes_the_randomization() {
        // 400 reports, 40 % ones: the true share is (0.4 - 0.25) / 0.5 = 0.3.
        let found = estimate(
            Counts {
                zeros: 240,
                ones: 160,
            },
            0.95,
        )
        .unwrap();
        assert!((found.value - 0.3).abs() < 1e-12);
        // The reported share's interval is about ±0.048; debiased, twice that.
        assert!(
            (found.high - found.low - 2.0 * 2.0 * 0.048).abs() < 0.005,
            "{found:?}"
        );
        assert!(found.low < 0.3 && 0.3 < found.high);
    }

    #[test]
    fn one_report_gives_a_wide_interval_inside_zero_to_one() {
        let found = estimate(Counts { zeros: 0, ones: 1 }, 0.95).unwrap();
        assert_eq!(found.value, 1.0);
        assert_eq!(found.high, 1.0);
        assert_eq!(found.low, 0.0);
    }
}
