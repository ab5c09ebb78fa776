//! The bounds the trainer puts on its work, checked before the work starts: an absurd but
//! well-formed flag (`--users 100000000`, `--batch-size 4294967295` on a big log) is refused
//! with the limit named, instead of aborting when an allocation fails (Rust cannot recover
//! from that) or running for ever.
//!
//! A flag whose bound is a constant carries it in its clap range, so `--help` and clap's error
//! name it: `--epochs`, `--hidden`, `--start-page`, `--attempts`, `--interval-ms`. What also
//! depends on the data is checked here. `--timeout-secs` is checked by `crawl`, `--backoff-ms`
//! and `Retry-After` are capped by `tmdb`, `--end-page` is clamped to TMDB's last page, and
//! every input file is read up to `output::read`'s limit.

use std::collections::HashSet;

use anyhow::{bail, Result};
use cinerec_core::watch_log::WatchRow;
use cinerec_core::{TrainConfig, FEATURES};
use cinerec_learn::pair_count;

/// The most rows `preprocess` may be asked for: about 1.5 GB at worst while it works (rows,
/// their CSV text, the plot), and a log `train` can still read whole.
pub const MAX_LOG_ROWS: u64 = 10_000_000;

/// The most ratings `import` reads: ML-32M and ML-latest (about 34 million) fit. An import
/// takes about 100 bytes a rating at its peak (the ratings, the rows and the log's text), so
/// this keeps it under 4 GiB.
pub const MAX_IMPORT_RATINGS: u64 = 40_000_000;

/// The most movies `import` reads (ML-latest has under 100,000): every one is an entry of the
/// catalog and, once watched, a class of the model.
pub const MAX_IMPORT_MOVIES: u64 = 1_000_000;

/// The most passes over the data: every epoch is a line of `model.bin`'s metadata and a point
/// of `training.svg`, and the original trained for 10.
pub const MAX_EPOCHS: u32 = 100_000;

/// The memory training's arrays may take (an estimate with a margin, see [`check_training`]).
const TRAINING_MEMORY: u64 = 4 << 30;

/// Refuses a synthetic log that could have more than [`MAX_LOG_ROWS`] rows.
pub fn check_log_size(users: u64, max_select: u64) -> Result<()> {
    match users.checked_mul(max_select) {
        Some(rows) if rows <= MAX_LOG_ROWS => Ok(()),
        rows => bail!(
            "--users {users} with --max-select {max_select} allows up to {} rows, above the \
             {MAX_LOG_ROWS} a watch log may have: lower --users or --max-select",
            rows.map_or_else(|| "more than 2^64".to_string(), |rows| rows.to_string())
        ),
    }
}

/// The most optimiser steps a run may take: Adam's bias correction counts them in an `i32`.
const MAX_STEPS: u64 = i32::MAX as u64;

/// Refuses a training run whose arrays would not fit in [`TRAINING_MEMORY`], or whose
/// optimiser steps would not fit in [`MAX_STEPS`].
///
/// Batch-sized arrays (inputs, hidden activations and their gradient, class probabilities)
/// grow with `--batch-size` up to the number of rows, since no batch is larger than the data;
/// weight-sized ones (the output layer, its gradient, Adam's two moments, the serving copy and
/// the encoded model) with `--hidden` × classes. The estimate is doubled for the kernels'
/// scratch and the allocator's slack.
///
/// The next-watch network scores every catalog movie (`catalog_movies`), not only the logged
/// ones, and has a `hidden × hidden` layer and a window of inputs per example.
pub fn check_training(
    rows: &[WatchRow],
    catalog_movies: usize,
    config: &TrainConfig,
) -> Result<()> {
    let next = config.objective == cinerec_core::Objective::Next;
    let logged = rows
        .iter()
        .map(|row| row.content_id)
        .collect::<HashSet<_>>()
        .len() as u64;
    let classes = if next {
        logged.max(catalog_movies as u64)
    } else {
        logged
    };
    let hidden = u64::from(config.hidden);
    let features = FEATURES as u64;
    // The examples (a row each, or up to a few dozen pairs per row for co-watch) bound the
    // batches and the steps, and take memory of their own: a pair (16 bytes), its features
    // (12) and its target (8).
    let examples = pair_count(rows, config.objective).max(1);
    let batch = u64::from(config.batch_size).min(examples);
    let per_batch_row = 4 * (features + 2 * hidden + classes);
    let square = if next { hidden * hidden } else { 0 };
    let weights = 4 * 6 * ((features + 1) * hidden + square + (hidden + 1) * classes);
    let window = if next {
        4 * cinerec_learn::WINDOW as u64
    } else {
        0
    };
    let example_bytes = examples * (16 + 4 * features + 8 + window);
    let steps = u64::from(config.epochs).saturating_mul(examples.div_ceil(batch));
    if steps > MAX_STEPS {
        bail!(
            "--epochs {} over {examples} training examples in batches of {batch} is up to \
             {steps} optimiser steps, above the {MAX_STEPS} training counts: use fewer \
             --epochs or a larger --batch-size",
            config.epochs
        );
    }
    let need = |batch: u64| 2 * (batch * per_batch_row + weights + example_bytes);
    if need(batch) <= TRAINING_MEMORY {
        return Ok(());
    }
    let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
    let largest_batch =
        (TRAINING_MEMORY / 2).saturating_sub(weights + example_bytes) / per_batch_row;
    let advice = if largest_batch >= 1 {
        format!("use --batch-size {largest_batch} or less")
    } else if 2 * example_bytes > TRAINING_MEMORY {
        format!("the log makes {examples} training examples: train on a smaller log")
    } else {
        "use a smaller --hidden".to_string()
    };
    bail!(
        "training {classes} classes with --hidden {hidden} in batches of {batch} rows would \
         need about {:.1} GiB, above the {:.0} GiB it may use: {advice}",
        gib(need(batch)),
        gib(TRAINING_MEMORY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_training_of(rows: &[WatchRow], config: &TrainConfig) -> Result<()> {
        check_training(rows, 0, config)
    }
    use cinerec_core::{Objective, Optimizer};

    fn rows(count: u64, classes: u64) -> Vec<WatchRow> {
        (0..count)
            .map(|i| WatchRow {
                user_id: i,
                content_id: i % classes,
                watch_seconds: 60.0,
                rating: 5.0,
                popularity: 1.0,
            })
            .collect()
    }

    fn config(batch_size: u32, hidden: u32) -> TrainConfig {
        TrainConfig {
            objective: Objective::Item,
            epochs: 1,
            hidden,
            batch_size,
            optimizer: Optimizer::Adam,
            learning_rate: 0.3,
            seed: 0,
        }
    }

    #[test]
    fn a_huge_batch_is_clamped_to_the_data_before_it_is_measured() {
        assert!(check_training_of(&rows(1000, 50), &config(u32::MAX, 4096)).is_ok());
    }

    #[test]
    fn batches_too_large_for_memory_are_refused_with_the_largest_that_fits() {
        let message = check_training_of(&rows(200_000, 20_000), &config(u32::MAX, 64))
            .unwrap_err()
            .to_string();
        assert!(message.contains("above the 4 GiB it may use"), "{message}");
        let largest: u64 = message
            .rsplit("--batch-size ")
            .next()
            .and_then(|rest| rest.split(' ').next())
            .and_then(|number| number.parse().ok())
            .unwrap();
        assert!(check_training_of(&rows(200_000, 20_000), &config(largest as u32, 64)).is_ok());
        assert!(
            check_training_of(&rows(200_000, 20_000), &config(largest as u32 + 1, 64)).is_err()
        );
    }

    #[test]
    fn more_steps_than_the_optimiser_counts_are_refused() {
        let rows = rows(30_000, 50);
        assert!(check_training_of(
            &rows,
            &TrainConfig {
                epochs: 71_582,
                ..config(1, 64)
            }
        )
        .is_ok());
        let message = check_training_of(
            &rows,
            &TrainConfig {
                epochs: 71_583,
                ..config(1, 64)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("above the 2147483647 training counts"),
            "{message}"
        );
    }

    #[test]
    fn log_sizes_are_bounded_without_overflow() {
        assert!(check_log_size(100, 20).is_ok());
        assert!(check_log_size(0, u64::MAX).is_ok());
        let message = check_log_size(u64::MAX, 2).unwrap_err().to_string();
        assert!(message.contains("more than 2^64"), "{message}");
        let message = check_log_size(100_000_000, 20).unwrap_err().to_string();
        assert!(
            message.contains("allows up to 2000000000 rows, above the 10000000"),
            "{message}"
        );
    }

    #[test]
    fn a_next_watch_model_is_sized_by_its_catalog_not_its_log() {
        let mut next = config(64, 128);
        next.objective = cinerec_core::Objective::Next;
        let small_log = rows(1000, 50);
        assert!(check_training(&small_log, 1000, &next).is_ok());
        let message = check_training(&small_log, 20_000_000, &next)
            .unwrap_err()
            .to_string();
        assert!(message.contains("GiB"), "{message}");
    }
}
