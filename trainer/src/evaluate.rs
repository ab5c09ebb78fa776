//! `evaluate`: a model's quality on a watch log, beside baselines that say whether the
//! model earns its keep.
//!
//! Nothing measured was trained on. On the training log (recognised by its checksum), the
//! split is rebuilt from the model's seed: for a co-watch model, the ranking is measured on
//! the held-out last watch of each test viewer, viewers the model never saw; for an item
//! model (whose split, as the original's, is by row), on every viewer's last watch. Any other
//! log is measured whole, every viewer new. The baselines may count every row but the
//! held-out ones, which gives them more than the model had.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cinerec_core::{rank, Model, Objective};
use cinerec_learn::metrics::{
    classification, co_visitation_baseline, leave_last_out, popularity_baseline, popularity_order,
    random_baseline, ranked_test_metrics, ranking_quality, transition_baseline, without_held_out,
    HeldOut, RankingQuality,
};
use cinerec_learn::{pairs, split_viewers};
use serde::Serialize;

use crate::inputs::{load_model, read_watch_log, WatchLogFile};

/// Flags of `evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// model.bin to measure.
    #[arg(long)]
    pub model: PathBuf,
    /// Watch log to measure on (the training log gives the test split back).
    #[arg(long)]
    pub watch_log: PathBuf,
    /// Another log the baselines also learn from, such as the training log when measuring
    /// viewers the model never saw, so they know what the model knew (by default they count
    /// only the measured log, without its held-out watches).
    #[arg(long)]
    pub baseline_log: Option<PathBuf>,
}

/// Ranking measures are taken at this cut-off.
const K: usize = 10;

/// The report `evaluate` prints.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    /// Which model was measured.
    pub model_id: String,
    /// What it was trained to predict: `co-watch` or `item`.
    pub objective: Objective,
    /// Which pairs were classified: the training log's test split, or all of another log.
    pub rows_measured: &'static str,
    /// Whose last watches the ranking was measured on.
    pub users_measured: &'static str,
    /// Pairs classified (rows, for the item objective).
    pub rows: u64,
    /// Fraction of those pairs whose top class is right.
    pub test_accuracy: f64,
    /// Fraction whose class is in the top 10.
    pub test_top10: f64,
    /// Users measured by leave-last-out.
    pub users: usize,
    /// Users left out because their history names a movie the model does not know.
    pub users_skipped: usize,
    /// HitRate@10 of the model's ranking.
    pub hit_rate_at_10: f64,
    /// NDCG@10 of the model's ranking.
    pub ndcg_at_10: f64,
    /// Standard error of `hit_rate_at_10` over the users.
    pub hit_rate_at_10_se: f64,
    /// Standard error of `ndcg_at_10` over the users.
    pub ndcg_at_10_se: f64,
    /// The same measures for the baselines.
    pub baselines: Baselines,
}

/// Baseline rankers' quality.
#[derive(Debug, Serialize)]
pub struct Baselines {
    /// Movies watched by the viewers of the history, most often first.
    pub co_visitation: Quality,
    /// The movies watched most often right after the history's last one.
    pub transition: Quality,
    /// Most watched first.
    pub popularity: Quality,
    /// A seeded random order.
    pub random: Quality,
}

/// HitRate@10 and NDCG@10.
#[derive(Debug, Serialize)]
pub struct Quality {
    /// Fraction of users whose held-out watch is in the top 10.
    pub hit_rate_at_10: f64,
    /// Normalised discounted cumulative gain at 10.
    pub ndcg_at_10: f64,
    /// Standard error of `hit_rate_at_10`.
    pub hit_rate_at_10_se: f64,
    /// Standard error of `ndcg_at_10`.
    pub ndcg_at_10_se: f64,
}

impl From<RankingQuality> for Quality {
    fn from(quality: RankingQuality) -> Quality {
        Quality {
            hit_rate_at_10: quality.hit_rate,
            ndcg_at_10: quality.ndcg,
            hit_rate_at_10_se: quality.hit_rate_se,
            ndcg_at_10_se: quality.ndcg_se,
        }
    }
}

/// The viewers, in user-id order, whose last watch `model` is measured on in `watch_log`
/// (see the module docs): on the log it was trained on, for a co-watch model, only the test
/// viewers its seed set aside.
pub fn held_out_cases(model: &Model, watch_log: &WatchLogFile) -> Vec<HeldOut> {
    let rows = &watch_log.log.rows;
    let metadata = model.metadata();
    let same_log = watch_log.sha256 == metadata.training_data_sha256;
    let test_viewers = (same_log && metadata.config.objective == Objective::CoWatch)
        .then(|| split_viewers(rows, metadata.config.seed).test);
    leave_last_out(rows)
        .into_iter()
        .filter(|case| {
            test_viewers
                .as_ref()
                .is_none_or(|viewers| viewers.binary_search(&case.user_id).is_ok())
        })
        .collect()
}

/// Measures `model_path` on `watch_log_path`.
pub fn evaluate(
    model_path: &Path,
    watch_log_path: &Path,
    baseline_log: Option<&Path>,
) -> Result<Evaluation> {
    let model = load_model(model_path)?;
    let watch_log = read_watch_log(watch_log_path)?;
    let rows = &watch_log.log.rows;
    if rows.is_empty() {
        bail!(
            "{}: the watch log has no rows: there is nothing to measure",
            watch_log_path.display()
        );
    }
    let metadata = model.metadata();
    let (objective, seed) = (metadata.config.objective, metadata.config.seed);

    // See the module docs for what is measured on which log.
    let same_log = watch_log.sha256 == metadata.training_data_sha256;
    let parts = pairs(rows, objective, seed);
    let measured: Vec<_> = if same_log {
        parts.test
    } else {
        [parts.train, parts.validation, parts.test].concat()
    };
    let all_cases = held_out_cases(&model, &watch_log);
    let cases: Vec<_> = all_cases
        .iter()
        .filter(|case| {
            case.history
                .iter()
                .all(|e| model.catalog_entry(e.content_id).is_some())
        })
        .cloned()
        .collect();
    let mut counted = without_held_out(rows, &cases);
    if let Some(path) = baseline_log {
        let other = read_watch_log(path)?;
        if other.sha256 == watch_log.sha256 {
            bail!(
                "--baseline-log {} is the measured log itself: its held-out watches would \
                 teach the baselines the answers",
                path.display()
            );
        }
        let measured: std::collections::HashSet<u64> = rows.iter().map(|r| r.user_id).collect();
        if let Some(shared) = other
            .log
            .rows
            .iter()
            .find(|r| measured.contains(&r.user_id))
        {
            bail!(
                "--baseline-log {}: user {} is also in {}; the baselines would take two \
                 viewers for one (give a log of other viewers)",
                path.display(),
                shared.user_id,
                watch_log_path.display()
            );
        }
        counted.extend(other.log.rows);
    }
    let candidates = model.classes();
    let rankings = cases
        .iter()
        .map(|case| {
            let ranking = rank(&model, &case.history, K)
                .with_context(|| format!("ranking for user {}", case.user_id))?;
            Ok(ranking
                .recommendations
                .iter()
                .map(|r| r.content_id)
                .collect())
        })
        .collect::<Result<Vec<Vec<u64>>>>()?;
    let test = match objective {
        // A network of recent movies has no one-watch classification: its test figures are
        // those of the ranking.
        Objective::Next => ranked_test_metrics(
            cases
                .iter()
                .zip(&rankings)
                .map(|(case, ids)| (case.target, &ids[..])),
        ),
        Objective::Item | Objective::CoWatch => classification(
            model.mlp(),
            model.scaler(),
            model.labels(),
            measured.iter().map(|pair| (&rows[pair.row], pair.target)),
        ),
    };
    let model_quality = ranking_quality(&cases, K, rankings);
    let co_visitation = co_visitation_baseline(&cases, &counted, candidates, K);
    let transition = transition_baseline(&cases, &counted, candidates, K);
    let popularity = popularity_baseline(&cases, &popularity_order(&counted, candidates), K);
    let random = random_baseline(&cases, candidates, K, seed);

    Ok(Evaluation {
        model_id: model.id().to_string(),
        objective,
        rows_measured: if same_log {
            "test split of the training log"
        } else {
            "all rows (not the log the model was trained on)"
        },
        users_measured: match (same_log, objective) {
            (true, Objective::CoWatch) => "test viewers of the training log, never trained on",
            (true, Objective::Next) => {
                "every viewer of the training log: the last watch, which training held out"
            }
            (true, Objective::Item) => {
                "every viewer of the training log (the item split is by row)"
            }
            (false, _) => "every viewer of another log",
        },
        rows: test.rows,
        test_accuracy: test.accuracy,
        test_top10: test.top10,
        users: cases.len(),
        users_skipped: all_cases.len() - cases.len(),
        hit_rate_at_10: model_quality.hit_rate,
        ndcg_at_10: model_quality.ndcg,
        hit_rate_at_10_se: model_quality.hit_rate_se,
        ndcg_at_10_se: model_quality.ndcg_se,
        baselines: Baselines {
            co_visitation: co_visitation.into(),
            transition: transition.into(),
            popularity: popularity.into(),
            random: random.into(),
        },
    })
}

/// `evaluate`.
pub fn run(args: &Args) -> Result<()> {
    let evaluation = evaluate(&args.model, &args.watch_log, args.baseline_log.as_deref())?;
    outln!("{}", serde_json::to_string_pretty(&evaluation)?)?;
    Ok(())
}
