//! The promotion gate: a candidate and the model now serving, ranked for the same held-out
//! viewers, and a paired test on their per-viewer NDCG@10.
//!
//! Each viewer's last watch is held out (as `evaluate` does; on a log one of the models was
//! trained on, only the viewers `evaluate` would measure it on count). Both models rank the
//! rest of the history; the difference of their NDCG@10 gains is taken viewer by viewer. The
//! candidate is refused when the mean difference is below zero by more than
//! [`Z`] standard errors of that difference (a one-sided test at 5 %): worse beyond noise.
//! A candidate that is as good, better, or worse within noise passes.
//!
//! Models with different catalogs are compared on the movies both know: only viewers whose
//! history and held-out movie both models know count, and each ranking keeps only movies both
//! can recommend. When no viewer is left, the gate refuses and says why.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use cinerec_core::{rank, Model, Objective};
use cinerec_learn::metrics::{case_scores, mean_and_standard_error, CaseScore, HeldOut};
use serde::Serialize;

use crate::evaluate::held_out_cases;
use crate::inputs::WatchLogFile;

/// Standard errors below zero a mean paired difference must reach for a refusal.
pub const Z: f64 = 1.645;

/// Ranking measures are taken at this cut-off, as `evaluate` does.
const K: usize = 10;

/// The figures of one comparison, recorded in the history.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The held-out watch log both were measured on.
    pub watch_log: String,
    /// Its SHA-256.
    pub watch_log_sha256: String,
    /// The candidate's id.
    pub candidate: String,
    /// The serving model's id.
    pub serving: String,
    /// Viewers measured (both models measured on each).
    pub viewers: usize,
    /// Movies both models know (their catalogs' intersection).
    pub shared_movies: usize,
    /// Movies the candidate knows.
    pub candidate_movies: usize,
    /// Movies the serving model knows.
    pub serving_movies: usize,
    /// The candidate's NDCG@10 on those viewers.
    pub candidate_ndcg_at_10: f64,
    /// The serving model's NDCG@10 on those viewers.
    pub serving_ndcg_at_10: f64,
    /// The candidate's HitRate@10 on those viewers.
    pub candidate_hit_rate_at_10: f64,
    /// The serving model's HitRate@10 on those viewers.
    pub serving_hit_rate_at_10: f64,
    /// Mean of candidate − serving NDCG@10 gains, viewer by viewer.
    pub mean_difference: f64,
    /// Standard error of that mean.
    pub standard_error: f64,
    /// The refusal threshold: `-Z × standard_error`.
    pub threshold: f64,
    /// Whether the candidate passed (`mean_difference >= threshold`).
    pub passed: bool,
}

impl Comparison {
    /// One sentence with the numbers, for the refusal message and the operator.
    pub fn describe(&self) -> String {
        format!(
            "on {} held-out viewers of {} ({} movies both know): NDCG@10 {:.4} (candidate {}) \
             vs {:.4} (serving {}), mean paired difference {:+.4}, standard error {:.4}, \
             threshold -{Z} × {:.4} = {:+.4}",
            self.viewers,
            self.watch_log,
            self.shared_movies,
            self.candidate_ndcg_at_10,
            self.candidate,
            self.serving_ndcg_at_10,
            self.serving,
            self.mean_difference,
            self.standard_error,
            self.standard_error,
            self.threshold
        )
    }
}

/// Compares `candidate` with `serving` on the watch log at `log_path` (already read).
pub fn compare(
    candidate: &Model,
    serving: &Model,
    log_path: &Path,
    log: &WatchLogFile,
) -> Result<Comparison> {
    for model in [candidate, serving] {
        let metadata = model.metadata();
        if metadata.config.objective == Objective::Item
            && log.sha256 == metadata.training_data_sha256
        {
            bail!(
                "{} is the log item model {} was trained on, split by row: its last watches \
                 may have been trained on, so it cannot judge the model; give --watch-log a \
                 log of other viewers",
                log_path.display(),
                model.id()
            );
        }
    }
    let known = |model: &Model| -> HashSet<u64> { model.catalog().iter().map(|e| e.id).collect() };
    let shared_catalog: HashSet<u64> = known(candidate)
        .intersection(&known(serving))
        .copied()
        .collect();
    let candidate_classes: HashSet<u64> = candidate.classes().iter().copied().collect();
    let shared_classes: HashSet<u64> = serving
        .classes()
        .iter()
        .copied()
        .filter(|id| candidate_classes.contains(id))
        .collect();
    let serving_viewers: HashSet<u64> = held_out_cases(serving, log)
        .iter()
        .map(|case| case.user_id)
        .collect();
    let cases: Vec<HeldOut> = held_out_cases(candidate, log)
        .into_iter()
        .filter(|case| {
            serving_viewers.contains(&case.user_id)
                && shared_classes.contains(&case.target)
                && case
                    .history
                    .iter()
                    .all(|event| shared_catalog.contains(&event.content_id))
        })
        .collect();
    if cases.is_empty() {
        bail!(
            "no viewer of {} can judge the two models: the candidate {} knows {} movies, the \
             serving model {} knows {}, {} of them both; no held-out viewer's history and \
             last watch are all among those (other catalogs, or a log of other movies)",
            log_path.display(),
            candidate.id(),
            candidate.catalog().len(),
            serving.id(),
            serving.catalog().len(),
            shared_catalog.len()
        );
    }
    let candidate_scores = scores(candidate, &cases, &shared_classes)?;
    let serving_scores = scores(serving, &cases, &shared_classes)?;
    let differences: Vec<f64> = candidate_scores
        .iter()
        .zip(&serving_scores)
        .map(|(c, s)| c.gain - s.gain)
        .collect();
    let test = paired_test(&differences);
    let mean = |scores: &[CaseScore], of: fn(&CaseScore) -> f64| {
        mean_and_standard_error(&scores.iter().map(of).collect::<Vec<_>>()).0
    };
    Ok(Comparison {
        watch_log: log_path.display().to_string(),
        watch_log_sha256: log.sha256.clone(),
        candidate: candidate.id().to_string(),
        serving: serving.id().to_string(),
        viewers: cases.len(),
        shared_movies: shared_catalog.len(),
        candidate_movies: candidate.catalog().len(),
        serving_movies: serving.catalog().len(),
        candidate_ndcg_at_10: mean(&candidate_scores, |s| s.gain),
        serving_ndcg_at_10: mean(&serving_scores, |s| s.gain),
        candidate_hit_rate_at_10: mean(&candidate_scores, |s| s.hit),
        serving_hit_rate_at_10: mean(&serving_scores, |s| s.hit),
        mean_difference: test.mean,
        standard_error: test.standard_error,
        threshold: test.threshold,
        passed: test.passed,
    })
}

/// The paired test's figures on candidate − serving differences.
#[derive(Debug, PartialEq)]
struct PairedTest {
    mean: f64,
    standard_error: f64,
    threshold: f64,
    passed: bool,
}

/// Refuses (`passed: false`) when the mean difference is below `-Z` standard errors.
fn paired_test(differences: &[f64]) -> PairedTest {
    let (mean, standard_error) = mean_and_standard_error(differences);
    let threshold = -Z * standard_error;
    PairedTest {
        mean,
        standard_error,
        threshold,
        passed: mean >= threshold,
    }
}

/// `model`'s per-viewer scores, its rankings kept to the movies in `allowed` (so a movie the
/// other model cannot recommend takes no place in the top 10).
fn scores(model: &Model, cases: &[HeldOut], allowed: &HashSet<u64>) -> Result<Vec<CaseScore>> {
    let everything = model.classes().len();
    let rankings = cases
        .iter()
        .map(|case| {
            let ranking = rank(model, &case.history, everything).with_context(|| {
                format!(
                    "ranking for user {} with model {}",
                    case.user_id,
                    model.id()
                )
            })?;
            Ok(ranking
                .recommendations
                .iter()
                .map(|r| r.content_id)
                .filter(|id| allowed.contains(id))
                .take(K)
                .collect())
        })
        .collect::<Result<Vec<Vec<u64>>>>()?;
    Ok(case_scores(cases, K, rankings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worse_beyond_noise_is_refused_and_within_noise_passes() {
        assert!(paired_test(&[0.0, 0.0, 0.0]).passed, "as good");
        assert!(paired_test(&[0.5, -0.1, 0.2]).passed, "better");
        let same_loss = paired_test(&[-1.0, -1.0, -1.0]);
        assert_eq!((same_loss.standard_error, same_loss.passed), (0.0, false));
        // Mean -0.04, standard error 0.06: the threshold is -0.0987, so noise.
        let noisy = paired_test(&[-0.1, 0.1, -0.1, 0.1, -0.2]);
        assert!((noisy.standard_error - 0.06).abs() < 1e-12, "{noisy:?}");
        assert!(noisy.passed, "{noisy:?}");
        // The same spread around a mean of -0.2: beyond noise.
        let worse = paired_test(&[-0.26, -0.06, -0.26, -0.06, -0.36]);
        assert!(!worse.passed, "{worse:?}");
    }
}
