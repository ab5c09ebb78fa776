//! Randomized response: how one device's outcome is hidden in its report, and how the server
//! undoes the noise in aggregate.
//!
//! The device reports its true bit with probability [`P_TRUTH`] = 3/4 and the opposite bit
//! otherwise. Whatever the truth, each report value is at most 3 times as likely under one
//! truth as under the other (3/4 against 1/4): that is ε-local differential privacy with
//! ε = ln 3 ≈ 1.10 for one report, and a device sends at most one per period. Whoever sees a
//! report (the server, anyone on the path) and already thought the outcome was 50/50 can
//! be at most 75 % sure of it afterwards.
//!
//! Over many reports, the share of ones `q` is `P_TRUTH·π + (1 − P_TRUTH)·(1 − π)` for a
//! true share `π`, so `π = (q − 1/4) / (1/2)`: [`debias`]. The price is variance: a report
//! carries a quarter of the information a true bit would (the factor `(2·P_TRUTH − 1)² =
//! 1/4`), so an experiment needs about four times the reports.

/// The probability that a report carries the device's true bit.
pub const P_TRUTH: f64 = 0.75;

/// The privacy loss of one report: `ln(P_TRUTH / (1 − P_TRUTH))` = ln 3.
pub const EPSILON: f64 = 1.098_612_288_668_109_8;

/// The reported bit for a true outcome `truth` and a fresh uniform `draw` in `[0, 1)`, never
/// reused: the truth when `draw < P_TRUTH`, its opposite otherwise.
pub fn randomize(truth: bool, draw: f64) -> bool {
    if draw < P_TRUTH {
        truth
    } else {
        !truth
    }
}

/// The true share of ones behind a share `reported` of reported ones (unbiased; it may fall
/// outside `[0, 1]` by chance).
pub fn debias(reported: f64) -> f64 {
    (reported - (1.0 - P_TRUTH)) / (2.0 * P_TRUTH - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_is_the_log_of_the_odds_of_the_truth() {
        assert_eq!(EPSILON, (P_TRUTH / (1.0 - P_TRUTH)).ln());
        assert_eq!(EPSILON, 3.0f64.ln());
    }

    #[test]
    fn the_truth_below_p_its_opposite_above() {
        assert!(randomize(true, 0.0));
        assert!(randomize(true, 0.7499));
        assert!(!randomize(true, 0.75));
        assert!(!randomize(false, 0.2));
        assert!(randomize(false, 0.9));
    }

    #[test]
    fn debiasing_inverts_the_expected_share() {
        for truth in [0.0, 0.3, 0.5, 1.0] {
            let expected = P_TRUTH * truth + (1.0 - P_TRUTH) * (1.0 - truth);
            assert!((debias(expected) - truth).abs() < 1e-12, "{truth}");
        }
    }
}
