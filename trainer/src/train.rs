//! `train`: watch log + catalog → `model.bin`, `metrics.json`, `training.svg`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cinerec_core::artifact::{self, sha256_hex, CatalogEntry, Metadata, Model, FORMAT_VERSION};
use cinerec_core::catalog::{poster_file_name, Movie};
use cinerec_core::train::{fit, TrainConfig};
use cinerec_core::watch_log::{self, WatchRow};
use serde::Serialize;

use crate::cli::{HyperArgs, TrainArgs};
use crate::output::{read, write_atomic};
use crate::plot::{self, Series};
use crate::preprocess::{describe_skips, read_catalog};
use crate::progress::Progress;

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

/// Reads and parses a watch log, naming the file in every error.
pub fn read_watch_log(path: &Path) -> Result<(Vec<WatchRow>, Vec<u8>)> {
    let bytes = read(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| anyhow::anyhow!("reading {}: not UTF-8 text ({e})", path.display()))?;
    let rows = watch_log::parse(text).with_context(|| format!("reading {}", path.display()))?;
    Ok((rows, bytes))
}

/// The training configuration the flags describe.
pub fn config(hyper: &HyperArgs, seed: u64) -> TrainConfig {
    let optimizer = hyper.optimizer.into();
    TrainConfig {
        epochs: hyper.epochs,
        hidden: hyper.hidden,
        batch_size: hyper.batch_size,
        optimizer,
        learning_rate: hyper
            .lr
            .unwrap_or_else(|| cinerec_core::train::Optimizer::default_learning_rate(optimizer)),
        seed,
    }
}

/// Trains on `watch_log_path` and writes the three outputs into `out`.
pub fn train_files(
    watch_log_path: &Path,
    movies_path: &Path,
    out: &Path,
    config: &TrainConfig,
) -> Result<Trained> {
    let (rows, log_bytes) = read_watch_log(watch_log_path)?;
    let (movies, report, catalog_bytes) = read_catalog(movies_path)?;
    if !report.skipped.is_empty() {
        eprintln!("{}{}", movies_path.display(), describe_skips(&report));
    }
    check_log_matches_catalog(&rows, &movies, watch_log_path, movies_path)?;

    let progress = Progress::new("train", u64::from(config.epochs));
    let started = Instant::now();
    let fitted = fit(&rows, config, &mut |epoch| {
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
    let trained_rows = fitted.split_sizes[0] as f64 * f64::from(config.epochs);

    let mut catalog: Vec<CatalogEntry> = movies.iter().map(catalog_entry).collect();
    catalog.sort_by_key(|entry| entry.id);
    let model = Model {
        metadata: Metadata {
            format_version: FORMAT_VERSION,
            code_version: format!("cinerec-core {}", env!("CARGO_PKG_VERSION")),
            config: config.clone(),
            training_data_sha256: sha256_hex(&log_bytes),
            catalog_sha256: sha256_hex(&catalog_bytes),
            rows: rows.len() as u64,
            split_sizes: fitted.split_sizes.map(|n| n as u64),
            test: fitted.test.clone(),
            epochs: fitted.epochs.clone(),
        },
        scaler: fitted.scaler,
        labels: fitted.labels,
        mlp: fitted.mlp,
        catalog,
    };
    model
        .validate()
        .context("the trained model does not check out")?;
    let bytes = artifact::encode(&model);
    let model_path = out.join("model.bin");
    write_atomic(&model_path, &bytes)?;

    let trained = Trained {
        model_id: model.id(),
        model_path,
        model_bytes: bytes.len(),
        test_accuracy: fitted.test.accuracy,
        test_top10: fitted.test.top10,
        rows_per_second: trained_rows / seconds.max(1e-9),
    };
    let metrics = serde_json::json!({
        "model_id": trained.model_id,
        "model_bytes": trained.model_bytes,
        "test_accuracy": trained.test_accuracy,
        "test_top10": trained.test_top10,
        "test_rows": fitted.test.rows,
        "rows_per_second": trained.rows_per_second,
        "training_seconds": seconds,
        "rows": rows.len(),
        "split_sizes": { "train": fitted.split_sizes[0], "validation": fitted.split_sizes[1], "test": fitted.split_sizes[2] },
        "classes": model.labels.len(),
        "config": config,
        "training_data_sha256": model.metadata.training_data_sha256,
        "catalog_sha256": model.metadata.catalog_sha256,
        "epochs": fitted.epochs,
    });
    let mut text = serde_json::to_string_pretty(&metrics)?;
    text.push('\n');
    write_atomic(&out.join("metrics.json"), text.as_bytes())?;
    write_atomic(&out.join("training.svg"), curves(&model).as_bytes())?;

    println!("epoch  train_loss  val_loss  val_accuracy");
    for epoch in &fitted.epochs {
        println!(
            "{:>5}  {:>10.4}  {:>8.4}  {:>12.4}",
            epoch.epoch, epoch.train_loss, epoch.val_loss, epoch.val_accuracy
        );
    }
    Ok(trained)
}

/// `train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let trained = train_files(
        &args.watch_log,
        &args.movies,
        &args.out,
        &config(&args.hyper, args.seed),
    )?;
    println!(
        "model {} ({} bytes) written to {}: test accuracy {:.4}, top-10 {:.4}, {:.0} rows/s",
        trained.model_id,
        trained.model_bytes,
        trained.model_path.display(),
        trained.test_accuracy,
        trained.test_top10,
        trained.rows_per_second
    );
    Ok(())
}

fn catalog_entry(movie: &Movie) -> CatalogEntry {
    CatalogEntry {
        id: movie.id,
        title: movie.title.clone(),
        poster: poster_file_name(movie.id, movie.poster_path.as_deref()),
        vote_average: movie.vote_average,
        popularity: movie.popularity,
    }
}

/// Every content id of the log must be a catalog movie: the ranking reads its features and
/// the page its title and poster from the catalog.
fn check_log_matches_catalog(
    rows: &[WatchRow],
    movies: &[Movie],
    log_path: &Path,
    movies_path: &Path,
) -> Result<()> {
    let known: HashSet<u64> = movies.iter().map(|m| m.id).collect();
    if let Some((index, row)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| !known.contains(&r.content_id))
    {
        bail!(
            "{}: data row {}: content_id {} is not in the catalog {}",
            log_path.display(),
            index + 1,
            row.content_id,
            movies_path.display()
        );
    }
    Ok(())
}

fn curves(model: &Model) -> String {
    type Measure = fn(&cinerec_core::train::EpochReport) -> f64;
    let measures: [(&str, Measure); 4] = [
        ("train_loss", |e| e.train_loss),
        ("val_loss", |e| e.val_loss),
        ("train_accuracy", |e| e.train_accuracy),
        ("val_accuracy", |e| e.val_accuracy),
    ];
    let series = measures.map(|(name, measure)| Series {
        name,
        values: model.metadata.epochs.iter().map(measure).collect(),
    });
    plot::lines(
        "training: loss and accuracy per epoch",
        "epoch",
        "value",
        &series,
    )
}
