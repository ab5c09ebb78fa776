//! When an experiment is decided, and what it decided: a fixed-horizon two-proportion test.
//!
//! The design fixes, before the first report, the false-winner rate α (two-sided), the power,
//! and the smallest true difference in the metric worth finding; from them and the
//! candidate's share of devices it computes the reports each arm needs
//! ([`Design::reports_needed`]). Each arm counts exactly that many (the tally refuses more),
//! and the test runs once both arms have them. Until then the decision is
//! [`Decision::Collecting`]: looking at `/experiments` early shows estimates but never a
//! winner, so peeking cannot inflate α.
//!
//! The reports are split between the arms in proportion to their shares of devices, so both
//! arms fill at the same pace and their reports come from the same weeks. (Equal numbers per
//! arm with a 10 % candidate would fill control nine times faster: its reports would come
//! from the experiment's first days and the candidate's from all of it, and anything that
//! changes over those weeks, a season, the catalog, would pass for a difference between the
//! models. `tests/simulation.rs` measures that with a drifting metric.)
//!
//! The test is the pooled two-proportion z-test on the shares of reported ones. Randomized
//! response maps a true share linearly onto a reported one, so equal true shares give equal
//! reported shares, and a difference `δ` in truth is `(2·P_TRUTH − 1)·δ = δ/2` in reports.
//! The number of reports uses the largest variance a share can have (1/4), so the power holds
//! whatever the arms' baseline.

use std::fmt;

use serde::Serialize;

use crate::arm::Arm;
use crate::normal::quantile;
use crate::response::P_TRUTH;
use crate::tally::{Needed, Tally};

/// What a test asks for: `alpha`, `power`, and `min_effect`, the smallest true difference
/// between the arms' shares (in share points: 0.1 is 30 % against 40 %) it must find, with
/// `candidate_share` of the devices in the candidate's arm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Design {
    alpha: f64,
    power: f64,
    min_effect: f64,
    candidate_share: f64,
    reports_needed: Needed,
}

/// A design value out of its range; `Display` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignError(String);

impl fmt::Display for DesignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DesignError {}

/// What a test has decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Decision {
    /// At least one arm has fewer reports than the design needs.
    Collecting {
        /// What each arm needs.
        reports_needed: Needed,
    },
    /// The candidate's share is higher, at level α.
    CandidateBetter {
        /// The test statistic (candidate minus control).
        z: f64,
    },
    /// The control's share is higher, at level α.
    ControlBetter {
        /// The test statistic (candidate minus control).
        z: f64,
    },
    /// The test found no difference: any true one is most likely below the smallest effect.
    NoDifference {
        /// The test statistic (candidate minus control).
        z: f64,
    },
}

impl Default for Design {
    /// α = 0.05, power 0.8, smallest effect 0.1, half the devices in each arm: 1,570 reports
    /// per arm.
    fn default() -> Design {
        Design::new(0.05, 0.8, 0.1, 0.5).expect("the default design is valid")
    }
}

/// The most reports a design may ask for in all: beyond it, the effect is too small (or α
/// too strict) for any real experiment.
const MAX_REPORTS: f64 = 1e9;

impl Design {
    /// A design; each value must be in its range (α in (0, 0.5], power in [0.5, 1), the
    /// effect in (0, 1], the candidate's share in (0, 1)), and the reports they need at most
    /// a billion.
    pub fn new(
        alpha: f64,
        power: f64,
        min_effect: f64,
        candidate_share: f64,
    ) -> Result<Design, DesignError> {
        let check = |name: &str, value: f64, ok: bool, range: &str| {
            if ok {
                Ok(())
            } else {
                Err(DesignError(format!("{name} {value} is not in {range}")))
            }
        };
        check("alpha", alpha, alpha > 0.0 && alpha <= 0.5, "(0, 0.5]")?;
        check("power", power, (0.5..1.0).contains(&power), "[0.5, 1)")?;
        check(
            "minimum effect",
            min_effect,
            min_effect > 0.0 && min_effect <= 1.0,
            "(0, 1]",
        )?;
        check(
            "candidate share",
            candidate_share,
            candidate_share > 0.0 && candidate_share < 1.0,
            "(0, 1)",
        )?;
        let z = quantile(1.0 - alpha / 2.0) + quantile(power);
        let reported_effect = (2.0 * P_TRUTH - 1.0) * min_effect;
        // With s the candidate's share and N reports in all, s·N of them the candidate's, the
        // difference's variance is at most 1/4 · (1/((1−s)·N) + 1/(s·N)) = 1/(4·s·(1−s)·N);
        // it must be (reported difference / z)². (At s = 1/2: N/2 = z² / (2·difference²) per
        // arm, the textbook formula.)
        let total = z * z
            / (4.0 * candidate_share * (1.0 - candidate_share) * reported_effect * reported_effect);
        // NaN too: an α so small its quantile is not finite.
        if total.is_nan() || total > MAX_REPORTS {
            return Err(DesignError(format!(
                "alpha {alpha:?}, power {power:?}, minimum effect {min_effect:?} and candidate \
                 share {candidate_share:?} need more than {MAX_REPORTS:e} reports"
            )));
        }
        let reports_needed = Needed {
            control: (total * (1.0 - candidate_share)).ceil() as u64,
            candidate: (total * candidate_share).ceil() as u64,
        };
        Ok(Design {
            alpha,
            power,
            min_effect,
            candidate_share,
            reports_needed,
        })
    }

    /// The false-winner rate.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The smallest true difference the test is built to find.
    pub fn min_effect(&self) -> f64 {
        self.min_effect
    }

    /// The candidate's share of devices the design assumes.
    pub fn candidate_share(&self) -> f64 {
        self.candidate_share
    }

    /// The reports each arm needs before the test runs.
    pub fn reports_needed(&self) -> Needed {
        self.reports_needed
    }

    /// The decision on `tally`.
    pub fn decide(&self, tally: &Tally) -> Decision {
        let needed = self.reports_needed;
        if Arm::ALL
            .into_iter()
            .any(|arm| tally.counts(arm).reports() < needed.of(arm))
        {
            return Decision::Collecting {
                reports_needed: needed,
            };
        }
        let (control, candidate) = (tally.counts(Arm::Control), tally.counts(Arm::Candidate));
        let (n_control, n_candidate) = (control.reports() as f64, candidate.reports() as f64);
        let pooled = (control.ones + candidate.ones) as f64 / (n_control + n_candidate);
        let spread = (pooled * (1.0 - pooled) * (1.0 / n_control + 1.0 / n_candidate)).sqrt();
        let difference = candidate.ones as f64 / n_candidate - control.ones as f64 / n_control;
        // Every report the same bit in both arms: no evidence of any difference.
        let z = if spread > 0.0 {
            difference / spread
        } else {
            0.0
        };
        let critical = quantile(1.0 - self.alpha / 2.0);
        if z > critical {
            Decision::CandidateBetter { z }
        } else if z < -critical {
            Decision::ControlBetter { z }
        } else {
            Decision::NoDifference { z }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counts, Report};

    #[test]
    fn the_default_design_needs_1570_reports_per_arm() {
        // (1.95996 + 0.84162)² · 0.5 / 0.05² = 1569.77.
        let both = Needed {
            control: 1570,
            candidate: 1570,
        };
        assert_eq!(Design::default().reports_needed(), both);
        // Half the effect, four times the reports.
        let half = Design::new(0.05, 0.8, 0.05, 0.5).unwrap().reports_needed();
        assert!(
            (4 * 1570 - 4..=4 * 1570).contains(&half.candidate),
            "{half:?}"
        );
    }

    #[test]
    fn reports_are_split_as_the_devices_are() {
        // A tenth of the devices: N = 7.849 / (4 · 0.09 · 0.0025) = 8721.1 in all.
        let needed = Design::new(0.05, 0.8, 0.1, 0.1).unwrap().reports_needed();
        assert_eq!(
            needed,
            Needed {
                control: 7849,
                candidate: 873
            }
        );
        // The variance the test will see is the one the power needs.
        let variance = 0.25 * (1.0 / needed.control as f64 + 1.0 / needed.candidate as f64);
        let z = quantile(0.975) + quantile(0.8);
        assert!(variance <= (0.05 / z).powi(2), "{variance}");
    }

    #[test]
    fn values_out_of_range_are_refused_by_name() {
        let error = |a, p, e, s| Design::new(a, p, e, s).unwrap_err().to_string();
        assert_eq!(error(0.0, 0.8, 0.1, 0.5), "alpha 0 is not in (0, 0.5]");
        assert_eq!(error(0.05, 1.0, 0.1, 0.5), "power 1 is not in [0.5, 1)");
        assert_eq!(
            error(0.05, 0.8, f64::NAN, 0.5),
            "minimum effect NaN is not in (0, 1]"
        );
        assert_eq!(
            error(0.05, 0.8, 0.1, 1.0),
            "candidate share 1 is not in (0, 1)"
        );
        // So strict or so small that no experiment could run it (α of 1e-300 made the
        // quantile infinite, and the arms would have needed no report at all).
        for (alpha, effect) in [(1e-300, 0.1), (0.05, 1e-6)] {
            let message = error(alpha, 0.8, effect, 0.5);
            assert!(message.contains("need more than 1e9 reports"), "{message}");
        }
    }

    fn tally(design: &Design, control: Counts, candidate: Counts) -> Tally {
        let mut tally = Tally::default();
        for (arm, counts) in [(Arm::Control, control), (Arm::Candidate, candidate)] {
            for (bit, times) in [(false, counts.zeros), (true, counts.ones)] {
                for _ in 0..times {
                    tally
                        .add(Report { arm, bit }, &design.reports_needed())
                        .unwrap();
                }
            }
        }
        tally
    }

    #[test]
    fn no_winner_before_both_arms_have_their_reports() {
        let design = Design::new(0.05, 0.8, 0.5, 0.5).unwrap();
        let needed = design.reports_needed();
        let n = needed.control;
        let lopsided = tally(
            &design,
            Counts { zeros: 0, ones: n },
            Counts {
                zeros: n - 1,
                ones: 0,
            },
        );
        assert_eq!(
            design.decide(&lopsided),
            Decision::Collecting {
                reports_needed: needed
            }
        );
    }

    #[test]
    fn the_test_names_the_better_arm_or_none() {
        let design = Design::new(0.05, 0.8, 0.2, 0.5).unwrap();
        let n = design.reports_needed().control; // 393
        let split = |ones: u64| Counts {
            zeros: n - ones,
            ones,
        };
        let decide =
            |control, candidate| design.decide(&tally(&design, split(control), split(candidate)));
        assert!(matches!(decide(160, 200), Decision::CandidateBetter { z } if z > 1.96));
        assert!(matches!(decide(200, 160), Decision::ControlBetter { z } if z < -1.96));
        assert!(matches!(decide(180, 185), Decision::NoDifference { .. }));
        assert_eq!(decide(0, 0), Decision::NoDifference { z: 0.0 });
    }
}
