//! `pipeline`: every step in order, into one folder, and a summary table.

use anyhow::Result;

use std::path::PathBuf;

use crate::inputs::{describe_skips, read_catalog};
use crate::output::write_atomic;
use crate::train::HyperArgs;
use crate::{demo, evaluate, preprocess, train};

/// Flags of `pipeline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for every output.
    #[arg(long)]
    pub out: PathBuf,
    /// Catalog to use instead of the demo catalog.
    #[arg(long)]
    pub movies: Option<PathBuf>,
    /// Seed of the watch log and of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub hyper: HyperArgs,
}

/// `pipeline`.
pub fn run(args: &Args) -> Result<()> {
    let out = &args.out;
    let movies_path = match &args.movies {
        Some(path) => path.clone(),
        None => {
            demo::write(out)?;
            out.join("movies.json")
        }
    };
    let catalog = read_catalog(&movies_path)?;
    let rows = preprocess::generate(
        &catalog.movies,
        preprocess::DEFAULT_USERS,
        preprocess::DEFAULT_MAX_SELECT,
        args.seed,
    );
    let log_path = out.join("watch_log.csv");
    write_atomic(&log_path, cinerec_core::watch_log::write(&rows).as_bytes())?;
    write_atomic(
        &out.join("watch_log.svg"),
        preprocess::scatter(&rows).as_bytes(),
    )?;

    let config = train::config(&args.hyper, args.seed);
    let trained = train::train_files(&log_path, &movies_path, out, &config)?;
    let evaluation = evaluate::evaluate(&trained.model_path, &log_path)?;
    let mut text = serde_json::to_string_pretty(&evaluation)?;
    text.push('\n');
    write_atomic(&out.join("evaluation.json"), text.as_bytes())?;

    outln!()?;
    outln!("step        output")?;
    outln!(
        "catalog     {} ({} movies{})",
        movies_path.display(),
        catalog.movies.len(),
        describe_skips(&catalog.report)
    )?;
    outln!(
        "watch log   {} ({} rows, seed {})",
        log_path.display(),
        rows.len(),
        args.seed
    )?;
    outln!(
        "model       {} ({} bytes, id {})",
        trained.model_path.display(),
        trained.model_bytes,
        trained.model_id
    )?;
    outln!("metrics     {}", out.join("metrics.json").display())?;
    outln!("evaluation  {}", out.join("evaluation.json").display())?;
    outln!()?;
    outln!("measure           model   popularity  random")?;
    outln!("test accuracy     {:.4}", trained.test_accuracy)?;
    outln!("test top-10       {:.4}", trained.test_top10)?;
    outln!(
        "HitRate@10        {:.4}  {:.4}      {:.4}",
        evaluation.hit_rate_at_10,
        evaluation.baselines.popularity.hit_rate_at_10,
        evaluation.baselines.random.hit_rate_at_10
    )?;
    outln!(
        "NDCG@10           {:.4}  {:.4}      {:.4}",
        evaluation.ndcg_at_10,
        evaluation.baselines.popularity.ndcg_at_10,
        evaluation.baselines.random.ndcg_at_10
    )?;
    outln!(
        "({} users, leave-last-out; training {:.0} rows/s)",
        evaluation.users,
        trained.rows_per_second
    )?;
    Ok(())
}
