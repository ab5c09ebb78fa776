//! What the server keeps of the reports: per arm, how many said 0 and how many said 1.

use std::fmt;

use serde::Serialize;

use crate::arm::Arm;
use crate::report::Report;

/// The reports each arm needs before the test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Needed {
    /// The control arm's.
    pub control: u64,
    /// The candidate's.
    pub candidate: u64,
}

impl Needed {
    /// `arm`'s.
    pub fn of(&self, arm: Arm) -> u64 {
        match arm {
            Arm::Control => self.control,
            Arm::Candidate => self.candidate,
        }
    }
}

/// The reports of one arm, by reported value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Reports whose bit was 0.
    pub zeros: u64,
    /// Reports whose bit was 1.
    pub ones: u64,
}

impl Counts {
    /// How many reports the arm has.
    pub fn reports(&self) -> u64 {
        self.zeros + self.ones
    }
}

/// The counts of both arms: everything the server learns from the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    control: Counts,
    candidate: Counts,
}

/// A report for an arm that already has the design's number of reports: the test is
/// decided on exactly that many per arm, so later ones are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmFull {
    /// The arm.
    pub arm: Arm,
    /// The reports it has, the design's number.
    pub reports: u64,
}

impl fmt::Display for ArmFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "report: arm \"{}\" already has the {} reports its test needs",
            self.arm.name(),
            self.reports
        )
    }
}

impl std::error::Error for ArmFull {}

impl Tally {
    /// The counts of `arm`.
    pub fn counts(&self, arm: Arm) -> Counts {
        match arm {
            Arm::Control => self.control,
            Arm::Candidate => self.candidate,
        }
    }

    /// Counts `report`, unless its arm already has the reports it `needed` (a design's
    /// [`reports_needed`](crate::Design::reports_needed)).
    pub fn add(&mut self, report: Report, needed: &Needed) -> Result<(), ArmFull> {
        let needed = needed.of(report.arm);
        let counts = match report.arm {
            Arm::Control => &mut self.control,
            Arm::Candidate => &mut self.candidate,
        };
        if counts.reports() >= needed {
            return Err(ArmFull {
                arm: report.arm,
                reports: needed,
            });
        }
        if report.bit {
            counts.ones += 1;
        } else {
            counts.zeros += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Design;

    #[test]
    fn reports_are_counted_per_arm_and_value_up_to_the_horizon() {
        let design = Design::new(0.05, 0.8, 0.5, 0.5).unwrap().reports_needed();
        let needed = design.control;
        let mut tally = Tally::default();
        tally
            .add(
                Report {
                    arm: Arm::Candidate,
                    bit: true,
                },
                &design,
            )
            .unwrap();
        tally
            .add(
                Report {
                    arm: Arm::Control,
                    bit: false,
                },
                &design,
            )
            .unwrap();
        assert_eq!(tally.counts(Arm::Candidate), Counts { zeros: 0, ones: 1 });
        assert_eq!(tally.counts(Arm::Control), Counts { zeros: 1, ones: 0 });
        for _ in 1..needed {
            tally
                .add(
                    Report {
                        arm: Arm::Control,
                        bit: true,
                    },
                    &design,
                )
                .unwrap();
        }
        assert_eq!(tally.counts(Arm::Control).reports(), needed);
        let full = tally
            .add(
                Report {
                    arm: Arm::Control,
                    bit: true,
                },
                &design,
            )
            .unwrap_err();
        assert_eq!(
            full,
            ArmFull {
                arm: Arm::Control,
                reports: needed
            }
        );
        assert_eq!(tally.counts(Arm::Control).reports(), needed);
        assert_eq!(tally.counts(Arm::Candidate).reports(), 1);
    }
}
