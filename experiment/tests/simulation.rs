//! Many simulated devices run whole experiments, through the very functions the page and the
//! server call (arm assignment, the metric, randomized response, the wire format, the tally,
//! the decision), to measure the decision's power and its false-winner rate.
//!
//! Each device draws its arm, the position of its first click (in the top 3 with its arm's
//! true probability), its randomized report, and the server counts it; devices keep coming
//! until both arms have the design's reports. Everything is drawn from the workspace's seeded
//! generator, so a run's figures are the same every time.
//!
//! The quick tests (about a second in debug) run a thousand experiments each and allow the
//! binomial noise of that many (three standard errors); the `#[ignore]`d one runs 4,000 per
//! case and prints the README's figures (40 s in debug; the figures do not depend on the
//! build): `cargo test -p cinerec-experiment --test simulation -- --ignored --nocapture`.

use cinerec_experiment::{assign, metric, Arm, Decision, Design, Report, Tally};
use cinerec_learn::random::Rng;

/// The true share of periods whose first click lands in the top 3, per arm.
#[derive(Clone, Copy)]
struct Truth {
    control: f64,
    candidate: f64,
}

/// One experiment from its first device to its decision.
fn experiment(rng: &mut Rng, design: &Design, truth: Truth, candidate_share: f64) -> Decision {
    let mut tally = Tally::default();
    loop {
        let arm = assign(rng.next_f64(), candidate_share);
        let share = match arm {
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
        let _ = tally.add(received, design);
        match design.decide(&tally) {
            Decision::Collecting { .. } => continue,
            decided => return decided,
        }
    }
}

/// The share of `runs` experiments (seeds `seed..seed + runs`) that declared the candidate
/// better, and the share that declared either arm better.
fn rates(seed: u64, runs: u64, truth: Truth, candidate_share: f64) -> (f64, f64) {
    let design = Design::default();
    let (mut candidate, mut any) = (0, 0);
    for run in 0..runs {
        let mut rng = Rng::new(seed + run);
        match experiment(&mut rng, &design, truth, candidate_share) {
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
};
const EQUAL: Truth = Truth {
    control: 0.3,
    candidate: 0.3,
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

/// A 10 % candidate share: control fills first, and its later reports are refused.
#[test]
fn a_small_candidate_share_still_decides_at_the_horizon() {
    let design = Design::default();
    let mut rng = Rng::new(3);
    let decision = experiment(&mut rng, &design, BETTER, 0.1);
    assert!(
        !matches!(decision, Decision::Collecting { .. }),
        "{decision:?}"
    );
}

/// The README's figures.
#[test]
#[ignore = "16,000 experiments, 40 s: see the module docs"]
fn figures_for_the_readme() {
    let runs = 4_000;
    for (name, truth, seed) in [("better", BETTER, 10_000), ("equal", EQUAL, 20_000)] {
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
