//! `train`: watch log + catalog → `model.bin`, `metrics.json`, `training.svg`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::WatchLog;
use cinerec_core::{ArtifactError, EpochReport, Model, Objective, Optimizer, TrainConfig};
use cinerec_learn::{
    default_epochs, default_hidden, default_learning_rate, fit, Provenance, EMBEDDING_BYTES,
};
use serde::Serialize;

use crate::inputs::{check_feature_sums, describe_skips, read_catalog, read_watch_log};
use crate::limits::{self, MAX_EPOCHS};
use crate::output::{destination, remove_stale, write_atomic};
use crate::plot::{self, Series};
use crate::progress::Progress;

/// Flags of `train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Watch log CSV.
    #[arg(long)]
    pub watch_log: PathBuf,
    /// Catalog the watch log was made from (titles, posters, features for ranking).
    #[arg(long)]
    pub movies: PathBuf,
    /// Folder for model.bin, metrics.json and training.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the split, the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub hyper: HyperArgs,
}

/// Training hyper-parameters, shared by `train` and `pipeline`.
#[derive(Debug, clap::Args, Clone)]
pub struct HyperArgs {
    /// What the network learns: next (the viewer's next watch from their latest movies,
    /// each a learned embedding), co-watch (from one watch's features, another movie the same
    /// viewer watched) or item (from one watch's features, the watched movie itself, as the
    /// original did) [default: next; pipeline --original: item].
    #[arg(long, value_enum)]
    pub objective: Option<ObjectiveArg>,
    /// Passes over the training split [default: 5 for next, 40 for co-watch, 10 for item].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_EPOCHS)))]
    pub epochs: Option<u32>,
    /// Hidden units; for next, also the width of a movie's embedding [default: 64, and for
    /// next 128 for catalogs of 1,000 to 5,859 movies, 32 above 11,718].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub hidden: Option<u32>,
    /// Rows per mini-batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Update rule.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    pub optimizer: OptimizerArg,
    /// Peak learning rate [default: adam 0.003 for next, 0.01 for co-watch, 0.3 for item;
    /// sgd 0.5, 0.1 and 0.5].
    #[arg(long)]
    pub lr: Option<f32>,
}

/// `--objective` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// The viewer's latest movies → the movie they watch next (learned movie embeddings).
    Next,
    /// One watch's features → another movie the same viewer watched.
    CoWatch,
    /// One watch's features → the watched movie itself (the original's objective).
    Item,
}

impl From<ObjectiveArg> for Objective {
    fn from(arg: ObjectiveArg) -> Objective {
        match arg {
            ObjectiveArg::Next => Objective::Next,
            ObjectiveArg::CoWatch => Objective::CoWatch,
            ObjectiveArg::Item => Objective::Item,
        }
    }
}

/// `--optimizer` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OptimizerArg {
    /// Plain stochastic gradient descent.
    Sgd,
    /// Adam.
    Adam,
}

impl From<OptimizerArg> for Optimizer {
    fn from(arg: OptimizerArg) -> Optimizer {
        match arg {
            OptimizerArg::Sgd => Optimizer::Sgd,
            OptimizerArg::Adam => Optimizer::Adam,
        }
    }
}

/// What a training run produced, for the pipeline's summary.
#[derive(Debug, Serialize)]
pub struct Trained {
    /// The model id (16 hex digits of the payload's SHA-256).
    pub model_id: String,
    /// Where model.bin went.
    pub model_path: PathBuf,
    /// Its size in bytes.
    pub model_bytes: usize,
    /// Test accuracy (fraction).
    pub test_accuracy: f64,
    /// Test top-10 accuracy (fraction).
    pub test_top10: f64,
    /// Training throughput, rows per second over all epochs.
    pub rows_per_second: f64,
}

/// The training configuration the flags describe; `objective` when the flags name none, and
/// a width for a network of `classes` movies when they give none.
pub fn config(hyper: &HyperArgs, seed: u64, objective: Objective, classes: usize) -> TrainConfig {
    let optimizer = hyper.optimizer.into();
    let objective = hyper.objective.map_or(objective, Objective::from);
    let hidden = hyper.hidden.unwrap_or_else(|| {
        let width = default_hidden(objective, classes);
        if let Some(bytes) = oversized_embeddings(objective, classes, width) {
            errln!(
                "train: {classes} movies at the narrowest default width ({width}) make {bytes} \
                 bytes of embeddings, more than the {EMBEDDING_BYTES} the page's download \
                 budget leaves them: the page will be slow to start (--hidden sets the width)"
            );
        }
        width
    });
    TrainConfig {
        objective,
        epochs: hyper.epochs.unwrap_or_else(|| default_epochs(objective)),
        hidden,
        batch_size: hyper.batch_size,
        optimizer,
        learning_rate: hyper
            .lr
            .unwrap_or_else(|| default_learning_rate(optimizer, objective)),
        seed,
    }
}

/// The bytes of a next-watch model's binary16 embeddings at `width` when they exceed what
/// the page's download budget leaves them (`None` for other kinds, or when they fit).
fn oversized_embeddings(objective: Objective, classes: usize, width: u32) -> Option<usize> {
    let bytes = classes.saturating_mul(width as usize).saturating_mul(2);
    (objective == Objective::Next && bytes > EMBEDDING_BYTES).then_some(bytes)
}

/// Trains on `watch_log_path` as the flags say (`objective` when they name none) and writes
/// the three outputs into `out`.
pub fn train_files(
    watch_log_path: &Path,
    movies_path: &Path,
    out: &Path,
    hyper: &HyperArgs,
    seed: u64,
    objective: Objective,
) -> Result<Trained> {
    let watch_log = read_watch_log(watch_log_path)?;
    let catalog = read_catalog(movies_path)?;
    if !catalog.report.skipped.is_empty() {
        errln!(
            "{}{}",
            movies_path.display(),
            describe_skips(&catalog.report)
        );
    }
    check_log_matches_catalog(&watch_log.log, &catalog.movies, watch_log_path, movies_path)?;
    check_feature_sums(watch_log_path, &watch_log.log)?;
    // The movies a next-watch network scores: the catalog's (every logged one is among them,
    // checked above). Its default width follows their number.
    let classes = catalog.movies.len();
    let config = &config(hyper, seed, objective, classes);
    limits::check_training(&watch_log.log.rows, catalog.movies.len(), config)?;
    // Outputs that cannot be written are refused before the training, not after.
    let [model_path, metrics_path, curves_path] =
        ["model.bin", "metrics.json", "training.svg"].map(|name| out.join(name));
    // What the pipeline writes beside them from the same model.
    let evaluations = ["evaluation.json", "evaluation_new_viewers.json"].map(|name| out.join(name));
    for path in [&model_path, &metrics_path, &curves_path]
        .into_iter()
        .chain(&evaluations)
    {
        destination(path)?;
    }

    let progress = Progress::new("train", u64::from(config.epochs));
    let started = Instant::now();
    let rows = &watch_log.log.rows;
    let provenance = Provenance {
        training_data_sha256: watch_log.sha256.clone(),
        catalog_sha256: catalog.sha256.clone(),
    };
    let model = fit(rows, &catalog.movies, config, provenance, &mut |epoch| {
        progress.step(
            u64::from(epoch.epoch),
            &format!(
                "epoch {} train_loss {:.4} val_loss {:.4} val_accuracy {:.4}",
                epoch.epoch, epoch.train_loss, epoch.val_loss, epoch.val_accuracy
            ),
        )
    })
    .with_context(|| format!("training on {}", watch_log_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let metadata = model.metadata();
    let trained_rows = metadata.split_sizes[0] as f64 * f64::from(config.epochs);

    let bytes = cinerec_core::encode(&model);
    // What is reported as written must load: the checks of every reader (the size limit
    // included) on these very bytes, before anything of the previous run is touched.
    if let Err(error) = cinerec_core::decode(&bytes) {
        let hint = match error {
            ArtifactError::TooLarge { .. } => {
                ": fewer hidden units (--hidden) or a smaller catalog make a smaller model"
            }
            _ => "",
        };
        bail!("the trained model would not load, so nothing was written: {error}{hint}");
    }
    // The previous run's figures go before its model is replaced: a run killed part-way
    // leaves fewer files, never a model beside another model's metrics, curves or
    // evaluations (the pipeline's).
    let mut stale = vec![metrics_path.clone(), curves_path.clone()];
    stale.extend(evaluations);
    remove_stale(&stale)?;
    write_atomic(&model_path, &bytes)?;

    let trained = Trained {
        model_id: model.id().to_string(),
        model_path,
        model_bytes: bytes.len(),
        test_accuracy: metadata.test.accuracy,
        test_top10: metadata.test.top10,
        rows_per_second: trained_rows / seconds.max(1e-9),
    };
    let [train, validation, test] = metadata.split_sizes;
    let metrics = serde_json::json!({
        "model_id": trained.model_id,
        "model_bytes": trained.model_bytes,
        "test_accuracy": trained.test_accuracy,
        "test_top10": trained.test_top10,
        "test_rows": metadata.test.rows,
        "rows_per_second": trained.rows_per_second,
        "training_seconds": seconds,
        "rows": rows.len(),
        "split_sizes": { "train": train, "validation": validation, "test": test },
        "classes": model.classes().len(),
        "config": config,
        "training_data_sha256": metadata.training_data_sha256,
        "catalog_sha256": metadata.catalog_sha256,
        "epochs": metadata.epochs,
    });
    let mut text = serde_json::to_string_pretty(&metrics)?;
    text.push('\n');
    write_atomic(&metrics_path, text.as_bytes())?;
    write_atomic(&curves_path, curves(&model).as_bytes())?;

    outln!("epoch  train_loss  val_loss  val_accuracy")?;
    for epoch in &metadata.epochs {
        outln!(
            "{:>5}  {:>10.4}  {:>8.4}  {:>12.4}",
            epoch.epoch,
            epoch.train_loss,
            epoch.val_loss,
            epoch.val_accuracy
        )?;
    }
    Ok(trained)
}

/// `train`.
pub fn run(args: &Args) -> Result<()> {
    let trained = train_files(
        &args.watch_log,
        &args.movies,
        &args.out,
        &args.hyper,
        args.seed,
        Objective::Next,
    )?;
    outln!(
        "model {} ({} bytes) written to {}: test accuracy {:.4}, top-10 {:.4}, {:.0} rows/s",
        trained.model_id,
        trained.model_bytes,
        trained.model_path.display(),
        trained.test_accuracy,
        trained.test_top10,
        trained.rows_per_second
    )?;
    Ok(())
}

/// Every content id of the log must be a catalog movie: the ranking reads its features and
/// the page its title and poster from the catalog.
fn check_log_matches_catalog(
    log: &WatchLog,
    movies: &[Movie],
    log_path: &Path,
    movies_path: &Path,
) -> Result<()> {
    let known: HashSet<u64> = movies.iter().map(|m| m.id).collect();
    if let Some((index, row)) = log
        .rows
        .iter()
        .enumerate()
        .find(|(_, r)| !known.contains(&r.content_id))
    {
        bail!(
            "{}: line {}: content_id {} is not in the catalog {}",
            log_path.display(),
            log.line(index),
            row.content_id,
            movies_path.display()
        );
    }
    Ok(())
}

fn curves(model: &Model) -> String {
    type Measure = fn(&EpochReport) -> f64;
    let epochs = &model.metadata().epochs;
    let chart = |title, y_label, measures: [(&'static str, Measure); 2]| {
        let series = measures.map(|(name, measure)| Series {
            name,
            values: epochs.iter().map(measure).collect(),
        });
        plot::lines(title, "epoch", y_label, &series)
    };
    plot::stack(&[
        chart(
            "training: cross-entropy per epoch",
            "loss",
            [
                ("train_loss", |e| e.train_loss),
                ("val_loss", |e| e.val_loss),
            ],
        ),
        chart(
            "training: accuracy per epoch",
            "accuracy",
            [
                ("train_accuracy", |e| e.train_accuracy),
                ("val_accuracy", |e| e.val_accuracy),
            ],
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_next_watch_catalog_past_the_narrowest_width_is_oversized() {
        // 9,742 movies at the default width (64) fit; 23,438 at the narrowest (32) do not.
        let width = |classes| default_hidden(Objective::Next, classes);
        assert_eq!(
            oversized_embeddings(Objective::Next, 9_742, width(9_742)),
            None
        );
        assert_eq!(
            oversized_embeddings(Objective::Next, 23_437, width(23_437)),
            None
        );
        assert_eq!(
            oversized_embeddings(Objective::Next, 23_438, width(23_438)),
            Some(23_438 * 32 * 2)
        );
        assert_eq!(oversized_embeddings(Objective::CoWatch, 100_000, 64), None);
    }
}
