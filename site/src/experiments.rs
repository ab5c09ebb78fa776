//! A private A/B test of two models (the rules are `cinerec-experiment`'s; the README's
//! "Private A/B tests" says what it promises): the candidate model beside the serving one,
//! the experiment's description for the page, the reports' counts, and the results.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /experiment` | the running experiment for the page (name, arms with share and model URL), or `null` |
//! | `GET /experiments/control/model.bin`, `…/candidate/model.bin` | each arm's model bytes |
//! | `POST /experiments/report` | counts one report (`{"arm":…,"bit":0|1}`): 204, or why not |
//! | `GET /experiments` | per arm the estimate, its interval and reports, and the decision: JSON, or HTML for a browser |
//! | `/batch-predict` with `arm=control` or `arm=candidate` | the ranking of that arm's model (see `api`) |
//!
//! What the server keeps of a report is one more count for its arm and value: never its
//! address, its headers or its time (a report is counted in `/metrics` by status, and neither
//! it nor its preflight has a line in the request log, whose time would say when a device
//! clicked). To bound abuse, a report is refused when it is not the wire format (400, 413),
//! names no arm of this experiment (400), comes for an arm that has its reports (409), or
//! comes from a network past its reports for the day (429; `report_limit`). A report another
//! site's page could make a visitor's browser send is refused before it counts against
//! anything: one not sent as `application/json` (415; a foreign page cannot send that type
//! without a CORS preflight, which only `--cors-origin` origins pass), or one whose `Origin`
//! is neither this server's nor a `--cors-origin` (403).
//!
//! Several replicas each keep their own counts: the load balancer sends every report and every
//! `/experiments` to one of them (`deploy/haproxy/cinerec.cfg`), so there is one tally.
//!
//! Both arms' models are fixed when the experiment starts: the candidate's, loaded once, and
//! the control's, the model served then. A model changing under a running experiment would
//! mix two models in one arm's counts, so a later reload or promotion changes what the API
//! serves without `arm`, never the control arm. The counts live in memory: a restart starts
//! the experiment's counts again (they are not written to disk).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use cinerec_experiment::{
    estimate, metric, response, Arm, Decision, Design, Estimate, Report, ReportError, Tally,
};
use cinerec_registry::Registry;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde::Serialize;

use crate::answers::{json, uncached, Problem};
use crate::cli::{Args, Network};
use crate::files;
use crate::headers::Cors;
use crate::loading::{load_entry, load_model_within};
use crate::log::clip;
use crate::report_limit::{reporter, Limiter, Peer};
use crate::serving::Serving;

/// A running experiment.
pub struct Experiment {
    name: String,
    /// The test, and the candidate's share of devices with it.
    design: Design,
    control: Arc<Serving>,
    candidate: Arc<Serving>,
    tally: Mutex<Tally>,
    limiter: Mutex<Limiter>,
    /// `--trusted-proxy`: peers whose `X-Forwarded-For` names the reporter's network.
    trusted_proxies: Vec<Network>,
}

/// The paths of the arms' models, relative to the page.
const CONTROL_MODEL: &str = "experiments/control/model.bin";
const CANDIDATE_MODEL: &str = "experiments/candidate/model.bin";

impl Experiment {
    /// The experiment `--experiment-model` (or `-entry`) and its flags describe, with
    /// `serving` as its control, or `None` without one.
    pub async fn from_args(args: &Args, serving: &Arc<Serving>) -> Result<Option<Experiment>> {
        if args.experiment_model.is_none() && args.experiment_entry.is_none() {
            return Ok(None);
        }
        let name = args.experiment_name.clone().unwrap_or_default();
        check_name(&name)?;
        if !(args.experiment_share > 0.0 && args.experiment_share < 1.0) {
            bail!(
                "--experiment-share {} is not a share between 0 and 1 (both excluded)",
                args.experiment_share
            );
        }
        let design = Design::new(
            args.experiment_alpha,
            args.experiment_power,
            args.experiment_effect,
            args.experiment_share,
        )
        .context("the experiment's design (--experiment-alpha, -power, -effect, -share)")?;
        let candidate = match (
            &args.experiment_model,
            &args.experiment_entry,
            &args.registry,
        ) {
            (Some(path), _, _) => load_model_within(path, args.max_model_bytes)
                .await
                .context("--experiment-model")?,
            (None, Some(id), Some(root)) => {
                if cinerec_registry::check_id(id).is_err() {
                    bail!(
                        "--experiment-entry {:?} is not a registry entry's id (a model id: 16 \
                         lowercase hexadecimal digits, as `cinerec-trainer registry list` shows)",
                        clip(id)
                    );
                }
                let registry = Registry::open(root).context("--registry")?;
                load_entry(&registry, id, args.max_model_bytes)
                    .await
                    .with_context(|| format!("--experiment-entry {}", clip(id)))?
            }
            _ => bail!("--experiment-entry needs --registry"),
        };
        if args.trusted_proxies.iter().any(Network::is_everything) {
            tracing::warn!(
                "--trusted-proxy names every address (/0): any client can choose the address \
                 its reports count against, so the limit per network holds no one"
            );
        }
        Ok(Some(Experiment {
            name,
            design,
            control: serving.clone(),
            candidate: Arc::new(candidate),
            tally: Mutex::new(Tally::default()),
            limiter: Mutex::new(Limiter::new(
                args.experiment_reports_per_network,
                Instant::now(),
            )),
            trusted_proxies: args.trusted_proxies.clone(),
        }))
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        // Counts are plain numbers: a panic elsewhere cannot leave them half-written.
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn model(&self, arm: Arm) -> &Serving {
        match arm {
            Arm::Control => &self.control,
            Arm::Candidate => &self.candidate,
        }
    }

    /// The candidate takes the design's share, control the rest.
    fn share(&self, arm: Arm) -> f64 {
        let candidate = self.design.candidate_share();
        match arm {
            Arm::Control => 1.0 - candidate,
            Arm::Candidate => candidate,
        }
    }
}

/// A name the page keeps and the results show: 1 to 64 letters, digits, `.`, `_` or `-`.
fn check_name(name: &str) -> Result<()> {
    let fits = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !fits {
        bail!(
            "--experiment-name {:?} must be 1 to 64 letters, digits, '.', '_' or '-' \
             (required with --experiment-model)",
            clip(name)
        );
    }
    Ok(())
}

fn running(experiment: Option<&Experiment>) -> Result<&Experiment, Problem> {
    experiment.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no experiment is running on this server",
        )
    })
}

/// The model `/batch-predict` ranks with for `arm` (`None` without one: the model served
/// now, which the caller holds).
pub fn arm_model<'a>(
    experiment: Option<&'a Experiment>,
    arm: Option<&str>,
) -> Result<Option<&'a Serving>, Problem> {
    let Some(name) = arm else {
        return Ok(None);
    };
    let experiment = running(experiment)?;
    match Arm::from_name(name) {
        Some(arm) => Ok(Some(experiment.model(arm))),
        None => Err(Problem::bad(format!(
            "arm {:?} is not an arm of experiment {} (control, candidate)",
            clip(name),
            experiment.name
        ))),
    }
}

#[derive(Serialize)]
struct ArmPlan {
    name: &'static str,
    share: f64,
    model: &'static str,
}

#[derive(Serialize)]
struct Plan<'a> {
    name: &'a str,
    arms: [ArmPlan; 2],
    report: &'static str,
    period_days: u32,
    epsilon: f64,
}

/// `GET /experiment`: what the page needs to join an arm, or `null`.
pub fn describe(experiment: Option<&Experiment>) -> Response<Bytes> {
    let Some(experiment) = experiment else {
        return json(StatusCode::OK, &());
    };
    let arm = |arm: Arm, model| ArmPlan {
        name: arm.name(),
        share: experiment.share(arm),
        model,
    };
    json(
        StatusCode::OK,
        &Plan {
            name: &experiment.name,
            arms: [
                arm(Arm::Control, CONTROL_MODEL),
                arm(Arm::Candidate, CANDIDATE_MODEL),
            ],
            report: "experiments/report",
            period_days: metric::PERIOD_DAYS,
            epsilon: response::EPSILON,
        },
    )
}

/// `GET /experiments/ARM/model.bin`.
pub fn arm_model_file(
    experiment: Option<&Experiment>,
    arm: Arm,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response<Bytes>, Problem> {
    let experiment = running(experiment)?;
    Ok(files::respond(
        experiment.model(arm).file(),
        headers,
        head,
        "no-cache",
    ))
}

/// `POST /experiments/report`: counts one report, or says why it is refused.
pub fn report(
    experiment: Option<&Experiment>,
    cors: &Cors,
    body: &[u8],
    headers: &HeaderMap,
    peer: Option<Peer>,
) -> Result<Response<Bytes>, Problem> {
    let experiment = running(experiment)?;
    refuse_forged(headers, cors)?;
    // Every other attempt counts against its network, malformed ones included.
    let source = reporter(peer, headers, &experiment.trusted_proxies);
    let admitted = experiment
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(source, Instant::now());
    if !admitted {
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many reports from this network today (a device sends one per {} days)",
                metric::PERIOD_DAYS
            ),
        )
        .response();
        problem
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
        return Ok(problem);
    }
    let report = Report::parse(body).map_err(|error| match error {
        ReportError::TooLong { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
        }
        _ => Problem::bad(clip(&error.to_string())),
    })?;
    experiment
        .tally()
        .add(report, &experiment.design.reports_needed())
        .map_err(|full| Problem::new(StatusCode::CONFLICT, full.to_string()))?;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Serialize)]
struct ArmResult<'a> {
    name: &'static str,
    share: f64,
    model_id: &'a str,
    reports: u64,
    estimate: Option<Estimate>,
}

#[derive(Serialize)]
struct Results<'a> {
    name: &'a str,
    metric: String,
    epsilon: f64,
    period_days: u32,
    design: Design,
    arms: Vec<ArmResult<'a>>,
    decision: Decision,
}

/// `GET /experiments`: JSON, or a small HTML page when the client prefers it (a browser).
pub fn results(
    experiment: Option<&Experiment>,
    headers: &HeaderMap,
) -> Result<Response<Bytes>, Problem> {
    let experiment = running(experiment)?;
    let tally = experiment.tally().clone();
    let confidence = 1.0 - experiment.design.alpha();
    let results = Results {
        name: &experiment.name,
        metric: format!(
            "share of {}-day periods whose first click landed in the top {} recommendations",
            metric::PERIOD_DAYS,
            metric::TOP
        ),
        epsilon: response::EPSILON,
        period_days: metric::PERIOD_DAYS,
        design: experiment.design,
        arms: Arm::ALL
            .into_iter()
            .map(|arm| ArmResult {
                name: arm.name(),
                share: experiment.share(arm),
                model_id: experiment.model(arm).id(),
                reports: tally.counts(arm).reports(),
                estimate: estimate(tally.counts(arm), confidence),
            })
            .collect(),
        decision: experiment.design.decide(&tally),
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        // Named with a weight above 0 (`text/html;q=0` refuses it), as browsers ask.
        .is_some_and(|accept| files::quality(accept, "text/html") > 0);
    if !wants_html {
        return Ok(json(StatusCode::OK, &results));
    }
    Ok(uncached(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from(html(&results)),
    ))
}

/// The results as a page: a table, a chart of the intervals, the decision in words. (The
/// site's policy allows no inline style, so the chart is drawn with SVG attributes.)
fn html(results: &Results) -> String {
    let percent = |value: f64| format!("{:.1} %", value * 100.0);
    let mut rows = String::new();
    let mut bars = String::new();
    for (index, arm) in results.arms.iter().enumerate() {
        let (value, interval) = match &arm.estimate {
            Some(e) => (
                percent(e.value),
                format!("{} – {}", percent(e.low), percent(e.high)),
            ),
            None => ("–".into(), "–".into()),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{value}</td><td>{interval}</td></tr>\n",
            arm.name,
            percent(arm.share),
            escape(arm.model_id),
            arm.reports
        ));
        if let Some(e) = &arm.estimate {
            // 0 to 100 % across 400 px, one row of 30 px per arm.
            let (y, x) = (20 + 30 * index, |v: f64| 80.0 + 400.0 * v);
            bars.push_str(&format!(
                "<text x=\"0\" y=\"{}\">{}</text><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#FDC000\" stroke-width=\"6\"/><circle cx=\"{:.1}\" cy=\"{y}\" r=\"5\" fill=\"#0E111B\"/>\n",
                y + 4,
                arm.name,
                x(e.low),
                x(e.high),
                x(e.value)
            ));
        }
    }
    let decision = match results.decision {
        Decision::Collecting { reports_needed } => format!(
            "Collecting: the test runs once control has {} reports and the candidate {} (no winner is named before, so looking early changes nothing).",
            reports_needed.control, reports_needed.candidate
        ),
        Decision::CandidateBetter { z } => format!("The candidate is better (z = {z:.2})."),
        Decision::ControlBetter { z } => format!("The control is better (z = {z:.2})."),
        Decision::NoDifference { z } => format!(
            "No difference found (z = {z:.2}): a true difference is most likely below {}.",
            percent(results.design.min_effect())
        ),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Experiment {name} · cinerec</title></head>\n<body>\n<h1>Experiment {name}</h1>\n<p>Metric: {metric}. Each device reports at most once per {days} days, with randomized response (ε = ln 3 ≈ {epsilon:.2}); the estimates undo that noise and the intervals ({confidence} %) include it.</p>\n<table>\n<tr><th>arm</th><th>share</th><th>model</th><th>reports</th><th>estimate</th><th>interval</th></tr>\n{rows}</table>\n<svg width=\"500\" height=\"80\" role=\"img\" aria-label=\"estimates and intervals\"><line x1=\"80\" x2=\"480\" y1=\"75\" y2=\"75\" stroke=\"#888\"/><text x=\"80\" y=\"72\">0 %</text><text x=\"450\" y=\"72\">100 %</text>\n{bars}</svg>\n<p><strong>{decision}</strong></p>\n</body></html>\n",
        name = escape(results.name),
        metric = results.metric,
        days = results.period_days,
        epsilon = results.epsilon,
        confidence = 100.0 * (1.0 - results.design.alpha()),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Refuses a report that another site's page could have made a visitor's browser send (see
/// the module docs): it would spend that visitor's network's reports on the other site's
/// choice of arm and bit.
fn refuse_forged(headers: &HeaderMap, cors: &Cors) -> Result<(), Problem> {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let json = text(header::CONTENT_TYPE).is_some_and(|kind| {
        let essence = kind.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
    });
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a report is sent as Content-Type: application/json",
        ));
    }
    if let Some(origin) = text(header::ORIGIN) {
        let own = origin
            .split_once("://")
            .zip(text(header::HOST))
            .is_some_and(|((_, authority), host)| authority.eq_ignore_ascii_case(host));
        if !own && !cors.may_post(origin) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "a report comes from this server's own page or a --cors-origin, not {:?}",
                    clip(origin)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(check_name("next-watch.2026-12").is_ok());
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            let message = check_name(bad).unwrap_err().to_string();
            assert!(message.contains("--experiment-name"), "{message}");
        }
    }
}
