//! `evaluate`: a model's quality on a watch log, beside baselines that say whether the
//! model earns its keep.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cinerec_core::rank;
use cinerec_core::watch_log::WatchRow;
use cinerec_learn::metrics::{
    classification, leave_last_out, popularity_baseline, popularity_order, random_baseline,
    ranking_quality, RankingQuality,
};
use cinerec_learn::split;
use serde::Serialize;

use crate::inputs::{load_model, read_watch_log};

/// Flags of `evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// model.bin to measure.
    #[arg(long)]
    pub model: PathBuf,
    /// Watch log to measure on (the training log gives the test split back).
    #[arg(long)]
    pub watch_log: PathBuf,
}

/// Ranking measures are taken at this cut-off.
const K: usize = 10;

/// The report `evaluate` prints.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    /// Which model was measured.
    pub model_id: String,
    /// Which rows were classified: the training log's test split, or all rows of another log.
    pub rows_measured: &'static str,
    /// Rows classified.
    pub rows: u64,
    /// Fraction of those rows whose top class is right.
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
    /// The same measures for the baselines.
    pub baselines: Baselines,
}

/// Baseline rankers' quality.
#[derive(Debug, Serialize)]
pub struct Baselines {
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
}

impl From<RankingQuality> for Quality {
    fn from(quality: RankingQuality) -> Quality {
        Quality {
            hit_rate_at_10: quality.hit_rate,
            ndcg_at_10: quality.ndcg,
        }
    }
}

/// Measures `model_path` on `watch_log_path`.
pub fn evaluate(model_path: &Path, watch_log_path: &Path) -> Result<Evaluation> {
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

    // The training log gives its test split back from the stored seed; any other log is
    // measured whole.
    let same_log = watch_log.sha256 == metadata.training_data_sha256;
    let measured: Vec<usize> = if same_log {
        split(rows.len(), metadata.config.seed).test
    } else {
        (0..rows.len()).collect()
    };
    let test = classification(
        model.mlp(),
        model.scaler(),
        model.labels(),
        measured.iter().map(|&index| &rows[index]),
    );

    let all_cases = leave_last_out(rows);
    let cases: Vec<_> = all_cases
        .iter()
        .filter(|case| {
            case.history
                .iter()
                .all(|e| model.catalog_entry(e.content_id).is_some())
        })
        .cloned()
        .collect();
    let held_out = last_rows(rows);
    let counted: Vec<_> = rows
        .iter()
        .enumerate()
        .filter(|(index, _)| !held_out.contains(index))
        .map(|(_, row)| *row)
        .collect();
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
    let model_quality = ranking_quality(&cases, K, rankings);
    let popularity = popularity_baseline(&cases, &popularity_order(&counted, candidates), K);
    let random = random_baseline(&cases, candidates, K, metadata.config.seed);

    Ok(Evaluation {
        model_id: model.id().to_string(),
        rows_measured: if same_log {
            "test split of the training log"
        } else {
            "all rows (not the log the model was trained on)"
        },
        rows: test.rows,
        test_accuracy: test.accuracy,
        test_top10: test.top10,
        users: cases.len(),
        users_skipped: all_cases.len() - cases.len(),
        hit_rate_at_10: model_quality.hit_rate,
        ndcg_at_10: model_quality.ndcg,
        baselines: Baselines {
            popularity: popularity.into(),
            random: random.into(),
        },
    })
}

/// Row indices of each user's last row: held out, so not counted as popularity.
fn last_rows(rows: &[WatchRow]) -> HashSet<usize> {
    let mut last = std::collections::HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        last.insert(row.user_id, index);
    }
    last.into_values().collect()
}

/// `evaluate`.
pub fn run(args: &Args) -> Result<()> {
    let evaluation = evaluate(&args.model, &args.watch_log)?;
    outln!("{}", serde_json::to_string_pretty(&evaluation)?)?;
    Ok(())
}
