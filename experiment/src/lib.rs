/*!
`cinerec-experiment` is the one definition of a private A/B test of two cinerec models: a
*control* arm (the serving model) and a *candidate* arm (a model on trial), run without
tracking anyone. The visitor's device picks its arm, ranks with that arm's model, measures
the outcome, and sends at most one report per period that reveals little about the visitor;
the server only counts reports.

The story, in the order the data flows:

- [`assign`]: a device's arm from a random draw the device keeps to itself;
- [`metric`]: what is measured on the device ([`metric::outcome`]: did the first card the
  visitor clicked in a period sit in the top [`metric::TOP`] recommendations) and the period
  ([`metric::PERIOD_DAYS`]) that bounds a device to one report;
- [`response`]: randomized response, the local differential privacy of one report
  ([`response::EPSILON`] = ln 3);
- [`Report`]: the wire format, the arm and the randomized bit and nothing else;
- [`Tally`]: what the server keeps, counts per arm and reported value;
- [`estimate`]: the debiased share per arm with a confidence interval that includes the
  privacy noise;
- [`Design`] and [`Decision`]: a fixed-horizon two-proportion test with a stated α, power and
  smallest effect worth finding, and the number of reports each arm needs (split as the
  devices are, so both arms fill at the same pace).

Like `cinerec-core`, the crate does no I/O, reads no clock and draws no random numbers: the
callers pass the draws (the page from `crypto.getRandomValues`, the simulation test from a
seeded generator) and the time, so it builds for `wasm32-unknown-unknown` and its tests are
reproducible.

```
use cinerec_experiment::{assign, metric, Arm, Design, Report, Tally};
let design = Design::default();
let arm = assign(0.05, 0.1); // this device's kept draw, and the candidate's share
assert_eq!(arm, Arm::Candidate);
let report = Report::new(arm, metric::outcome(1), 0.42); // first click on the second card
let mut tally = Tally::default();
let report = Report::parse(report.to_json().as_bytes()).unwrap();
tally.add(report, &design.reports_needed()).unwrap();
assert_eq!(tally.counts(Arm::Candidate).reports(), 1);
```
*/
#![deny(missing_docs)]

mod arm;
mod decision;
mod estimate;
pub mod metric;
mod normal;
mod report;
pub mod response;
mod tally;

pub use arm::{assign, Arm};
pub use decision::{Decision, Design, DesignError};
pub use estimate::{estimate, Estimate};
pub use report::{Report, ReportError, MAX_REPORT_BYTES};
pub use tally::{ArmFull, Counts, Needed, Tally};
