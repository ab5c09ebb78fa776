//! `pipeline`: every step in order, into one folder, and a summary table.
//!
//! By default the product at its best: viewers with taste and the co-watch objective, so the
//! ranking is an item-to-item recommender. `--original` reproduces the original end to end:
//! its watch-log synthesis, byte for byte, and its item objective. Either way the model is
//! measured twice: on held-out watches of the training log, and on a second log of viewers it
//! never saw (made with the next seed), the way a new visitor meets it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cinerec_core::catalog::Movie;
use cinerec_core::Objective;

use crate::evaluate::Evaluation;
use crate::inputs::{describe_skips, read_catalog};
use crate::output::write_atomic;
use crate::train::HyperArgs;
use crate::{demo, evaluate, original, preprocess, registry, train};

/// Flags of `pipeline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for every output.
    #[arg(long)]
    pub out: PathBuf,
    /// Catalog to use instead of the demo catalog.
    #[arg(long)]
    pub movies: Option<PathBuf>,
    /// Seed of the watch log and of training (the new viewers' log uses the next one).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The original's way end to end: viewers without taste, the item objective.
    #[arg(long, conflicts_with = "objective")]
    pub original: bool,
    /// Register the trained model in this registry, evaluated on the new viewers' log; it is
    /// promoted only when the registry has no promoted model yet (otherwise promote it through
    /// the gate with `registry promote`).
    #[arg(long)]
    pub registry: Option<PathBuf>,
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
    let taste = !args.original;
    let log_path = out.join("watch_log.csv");
    let rows = write_log(&catalog.movies, args.seed, taste, &log_path, true)?;
    let new_viewers_path = out.join("watch_log_new_viewers.csv");
    write_log(
        &catalog.movies,
        args.seed.wrapping_add(1),
        taste,
        &new_viewers_path,
        false,
    )?;

    let objective = if args.original {
        Objective::Item
    } else {
        Objective::Next
    };
    let trained = train::train_files(
        &log_path,
        &movies_path,
        out,
        &args.hyper,
        args.seed,
        objective,
    )?;
    let held_out = evaluate::evaluate(&trained.model_path, &log_path, None)?;
    let new_viewers = evaluate::evaluate(&trained.model_path, &new_viewers_path, None)?;
    for (name, evaluation) in [
        ("evaluation.json", &held_out),
        ("evaluation_new_viewers.json", &new_viewers),
    ] {
        let mut text = serde_json::to_string_pretty(evaluation)?;
        text.push('\n');
        write_atomic(&out.join(name), text.as_bytes())?;
    }

    outln!()?;
    outln!("step        output")?;
    outln!(
        "catalog     {} ({} movies{})",
        movies_path.display(),
        catalog.movies.len(),
        describe_skips(&catalog.report)
    )?;
    outln!(
        "watch log   {} ({} rows, seed {}, {})",
        log_path.display(),
        rows,
        args.seed,
        if taste {
            "viewers with taste"
        } else {
            "made the original way"
        }
    )?;
    outln!(
        "model       {} ({} bytes, id {}, objective {})",
        trained.model_path.display(),
        trained.model_bytes,
        trained.model_id,
        match objective {
            Objective::Next => "next",
            Objective::CoWatch => "co-watch",
            Objective::Item => "item",
        }
    )?;
    outln!("metrics     {}", out.join("metrics.json").display())?;
    outln!(
        "evaluation  {} and {}",
        out.join("evaluation.json").display(),
        out.join("evaluation_new_viewers.json").display()
    )?;
    outln!()?;
    outln!(
        "test accuracy {:.4}, top-10 {:.4} ({}); training {:.0} rows/s",
        trained.test_accuracy,
        trained.test_top10,
        match objective {
            Objective::Next => "ranking each viewer's held-out last watch",
            Objective::CoWatch => "predicting another movie of a test viewer",
            Objective::Item => "predicting the watched movie",
        },
        trained.rows_per_second
    )?;
    outln!()?;
    outln!("ranking of held-out last watches   model   co-visitation  popularity  random")?;
    summary_rows("test viewers", &held_out)?;
    summary_rows("new viewers", &new_viewers)?;
    if let Some(root) = &args.registry {
        outln!()?;
        let registered = registry::register(root, &trained.model_path, Some(&new_viewers_path))?;
        registry::print_registered(root, &registered)?;
        let id = &registered.entry.model_id;
        if registry::promote_if_first(root, id)? {
            outln!("promoted {id}: the registry had no promoted model")?;
        } else {
            outln!(
                "not promoted: to serve it, registry promote --registry {} {id}",
                root.display()
            )?;
        }
    }
    Ok(())
}

/// Synthesises a watch log into `path`; with `plots`, also its pictures beside it.
fn write_log(movies: &[Movie], seed: u64, taste: bool, path: &Path, plots: bool) -> Result<usize> {
    let users = if taste {
        preprocess::DEFAULT_TASTE_USERS
    } else {
        original::DEFAULT_USERS
    };
    let log = preprocess::synthesize(movies, users, original::DEFAULT_MAX_SELECT, seed, taste);
    write_atomic(path, cinerec_core::watch_log::write(&log.rows).as_bytes())?;
    if plots {
        let folder = crate::output::parent(path);
        write_atomic(
            &folder.join("watch_log.svg"),
            preprocess::scatter(&log.rows).as_bytes(),
        )?;
        if let Some(heatmap) = &log.heatmap {
            write_atomic(&folder.join("taste.svg"), heatmap.as_bytes())?;
        }
    }
    Ok(log.rows.len())
}

fn summary_rows(who: &str, evaluation: &Evaluation) -> Result<()> {
    let baselines = &evaluation.baselines;
    let row = |measure: &str, model: f64, [co, popularity, random]: [f64; 3]| {
        outln!(
            "{:<34} {model:.4}  {co:.4}         {popularity:.4}      {random:.4}",
            format!("{measure}, {who} ({})", evaluation.users)
        )
    };
    row(
        "HitRate@10",
        evaluation.hit_rate_at_10,
        [
            baselines.co_visitation.hit_rate_at_10,
            baselines.popularity.hit_rate_at_10,
            baselines.random.hit_rate_at_10,
        ],
    )?;
    row(
        "NDCG@10",
        evaluation.ndcg_at_10,
        [
            baselines.co_visitation.ndcg_at_10,
            baselines.popularity.ndcg_at_10,
            baselines.random.ndcg_at_10,
        ],
    )?;
    Ok(())
}
