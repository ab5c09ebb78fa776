//! Many simulated devices run whole experiments, through the very functions the page and the
//! server call (arm assignment, the metric, randomized response, the wire format, the tally,
//! the decision), to measure the decision's power and its false-winner rate.
//!
//! Each device draws its arm, the position of its first click (in the top 3 with its arm's
//! true probability, which may drift over the experiment's weeks), its randomized report, and
//! the server counts it; devices keep coming until both arms have the design's reports.
//! Everything is drawn from the workspace's seeded generator, so a run's figures are the same
//! every time.
//!
//! The quick tests (about a second in debug) run a thousand experiments each (300 with a
//! drift) and allow the binomial noise of that many (three standard errors); the `#[ignore]`d
//! one runs 4,000 per case and prints the README's figures (43 s in debug; the figures do not
//! depend on the build):
//! `cargo test -p cinerec-experiment --test simulation -- --ignored --nocapture`.

use cinerec_experiment::{assign, metric, Arm, Decision, Design, Report, Tally};
use cinerec_learn::random::Rng;

/// The true share of periods whose first click lands in the top 3, per arm, at the start;
/// both rise by `drift` every [`DRIFT_DEVICES`] devices (a season, a catalog growing better),
/// the same in both arms.
#[derive(Clone, Copy)]
struct Truth {
    control: f64,
    candidate: f64,
    drift: f64,
}

/// The time scale of a drift, in devices reporting: about the default design's 8,721
/// reports with a 10 % candidate share.
const DRIFT_DEVICES: f64 = 10_000.0;

/// One experiment from its first device to its decision, with its tally and the number of
/// devices that reported. Panics past ten times the devices the design expects: no
/// experiment should wait that long for its arms to fill.
fn experiment(rng: &mut Rng, design: &Design, truth: Truth) -> (Decision, Tally, u64) {
    let needed = design.reports_needed();
    let expected = (needed.control + needed.candidate) as f64;
    let mut tally = Tally::default();
    for device in 0..10 * expected as u64 {
        let arm = assign(rng.next_f64(), design.candidate_share());
        let drift = truth.drift * device as f64 / DRIFT_DEVICES;
        let share = drift
            + match arm {
                Arm::Control => truth.control,
                Arm::Candidate => truth.candidate,
            };
        // The first click's position: one of the first three cards with the arm's
        // probability, one of the other seven otherwise.
        let position = if rng.next_f64() < share {
            rng.below(3)
        } else {
            3 + rng.below(7)
        } as usize;
        let report = Report::new(arm, metric::outcome(position), rng.next_f64());
        let received =
            Report::parse(report.to_json().as_bytes()).expect("a device's report parses");
        // A report for an arm that has its reports is refused, as the server refuses it.
        let _ = tally.add(received, &needed);
        match design.decide(&tally) {
            Decision::Collecting { .. } => continue,
            decided => return (decided, tally, device + 1),
        }
    }
    panic!(
        "no decision after {} devices: {tally:?}",
        10 * expected as u64
    );
}

/// The share of `runs` experiments (seeds `seed..seed + runs`) that declared the candidate
/// better, and the share that declared either arm better.
fn rates(seed: u64, runs: u64, truth: Truth, candidate_share: f64) -> (f64, f64) {
    let design = Design::new(0.05, 0.8, 0.1, candidate_share).unwrap();
    let (mut candidate, mut any) = (0, 0);
    for run in 0..runs {
        let mut rng = Rng::new(seed + run);
        match experiment(&mut rng, &design, truth).0 {
            Decision::CandidateBetter { .. } => {
                candidate += 1;
                any += 1;
            }
            Decision::ControlBetter { .. } => any += 1,
            _ => {}
        }
    }
    (candidate as f64 / runs as f64, any as f64 / runs as f64)
}

/// Three binomial standard errors of a rate `p` measured over `runs`.
fn noise(p: f64, runs: u64) -> f64 {
    3.0 * (p * (1.0 - p) / runs as f64).sqrt()
}

const BETTER: Truth = Truth {
    control: 0.3,
    candidate: 0.4,
    drift: 0.0,
};
const EQUAL: Truth = Truth {
    control: 0.3,
    candidate: 0.3,
    drift: 0.0,
};
/// Equal arms whose metric rises by ten points, the smallest effect, over about the
/// experiment's length.
const EQUAL_DRIFTING: Truth = Truth {
    drift: 0.1,
    ..EQUAL
};

#[test]
fn a_candidate_better_by_the_smallest_effect_is_found_at_the_stated_power() {
    let runs = 1_000;
    let (found, _) = rates(1_000, runs, BETTER, 0.5);
    assert!(
        found >= 0.8 - noise(0.8, runs),
        "found in {found} of the runs"
    );
}

#[test]
fn equal_arms_give_a_winner_at_most_at_alpha() {
    let runs = 1_000;
    let (_, any) = rates(2_000, runs, EQUAL, 0.5);
    assert!(
        any <= 0.05 + noise(0.05, runs),
        "a winner in {any} of the runs"
    );
}

/// A 10 % candidate share: each arm gets its share of the reports, both fill at the same
/// pace, and the test runs on exactly the design's counts.
#[test]
fn a_small_candidate_share_decides_on_its_counts_at_the_horizon() {
    let design = Design::new(0.05, 0.8, 0.1, 0.1).unwrap();
    let needed = design.reports_needed();
    let mut rng = Rng::new(3);
    let (decision, tally, devices) = experiment(&mut rng, &design, BETTER);
    assert!(
        !matches!(decision, Decision::Collecting { .. }),
        "{decision:?} after {devices} devices"
    );
    for arm in Arm::ALL {
        assert_eq!(tally.counts(arm).reports(), needed.of(arm), "{arm:?}");
    }
    // Neither arm waited long for the other: the devices are about the design's total.
    let expected = (needed.control + needed.candidate) as f64;
    assert!((devices as f64) < 1.1 * expected, "{devices} devices");
}

/// A metric that drifts the same way in both arms is no difference between them: a small
/// candidate share fills both arms over the same weeks, so the drift does not pass for one.
/// (With as many reports per arm, control's would come from the first days only, and the
/// drift would name the candidate better in most runs.)
#[test]
fn a_drift_shared_by_both_arms_gives_a_winner_at_most_at_alpha() {
    let runs = 300;
    let (_, any) = rates(3_000, runs, EQUAL_DRIFTING, 0.1);
    assert!(
        any <= 0.05 + noise(0.05, runs),
        "a winner in {any} of the runs"
    );
}

/// The README's figures.
#[test]
#[ignore = "24,000 experiments, 43 s: see the module docs"]
fn figures_for_the_readme() {
    let runs = 4_000;
    for (name, truth, seed) in [
        ("better", BETTER, 10_000),
        ("equal", EQUAL, 20_000),
        ("equal, drifting by 0.1", EQUAL_DRIFTING, 30_000),
    ] {
        for share in [0.5, 0.1] {
            let (candidate, any) = rates(seed, runs, truth, share);
            println!(
                "{name} (control {}, candidate {}), candidate share {share}: candidate declared better in {candidate:.4}, any winner in {any:.4} of {runs} runs (± {:.4} at 3 standard errors)",
                truth.control,
                truth.candidate,
                noise(candidate.max(any).clamp(0.01, 0.99), runs),
            );
        }
    }
}
