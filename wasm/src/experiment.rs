//! The page's side of a private A/B test (the rules are `cinerec-experiment`'s): `app.js`
//! fetches the experiment, keeps the draws in the browser and sends the report; which arm a
//! draw joins, which period a time falls in and what the report's body says are computed
//! here, by the crate the server reads the reports with.

use cinerec_experiment::{assign, metric, Arm, Report};
#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

/// The arm of a device whose kept draw is `draw` when the candidate takes `candidate_share`
/// of the devices, as its place in `GET /experiment`'s `arms` (0 control, 1 candidate): a
/// number, which keeps string glue out of the page's download.
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = experimentArm))]
pub fn experiment_arm(draw: f64, candidate_share: f64) -> usize {
    assign(draw, candidate_share).index()
}

/// The reporting period of a time in milliseconds since the epoch (`Date.now()`).
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = experimentPeriod))]
pub fn experiment_period(unix_millis: f64) -> f64 {
    metric::period(unix_millis) as f64
}

/// The report body of a device in arm number `arm` (see [`experiment_arm`]) whose first
/// click of the period was on the card at `position` (0 for the first), randomized with a
/// fresh uniform `draw`; empty for a number that is not an arm (an empty string, not an
/// `Option`: less glue in the page's download).
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = experimentReport))]
pub fn experiment_report(arm: usize, position: usize, draw: f64) -> String {
    Arm::ALL.get(arm).map_or_else(String::new, |&arm| {
        Report::new(arm, metric::outcome(position), draw).to_json()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_translates_the_crates_rules() {
        assert_eq!(experiment_arm(0.0, 0.1), Arm::Candidate.index());
        assert_eq!(experiment_arm(0.5, 0.1), Arm::Control.index());
        assert_eq!(experiment_period(7.0 * 86_400_000.0), 1.0);
        // A click on the third card with a draw that keeps the truth, on the fourth with one
        // that flips it: both report 1.
        let kept = experiment_report(1, 2, 0.1);
        assert_eq!(kept, r#"{"arm":"candidate","bit":1}"#);
        assert_eq!(experiment_report(1, 3, 0.9), kept);
        assert_eq!(experiment_report(2, 0, 0.1), "");
    }
}
