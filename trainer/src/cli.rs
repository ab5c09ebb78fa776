//! The command line: one subcommand per step, each owning its flags and its `run`.

use std::io::IsTerminal;

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

use crate::{crawl, demo, evaluate, import, pipeline, preprocess, registry, train};

/// cinerec's training pipeline: catalog → watch log → model.bin → evaluation.
#[derive(Debug, Parser)]
#[command(name = "cinerec-trainer", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the built-in demo catalog (58 movies) and its generated posters.
    DemoCatalog(demo::Args),
    /// Fetch TMDB's popular movies into a catalog (needs TMDB_ACCESS_TOKEN or TMDB_API_KEY).
    Crawl(crawl::Args),
    /// Turn a MovieLens release (100k, 1M, 10M, latest, RecBole) into a catalog and a watch log.
    Import(import::Args),
    /// Make a synthetic watch log from a catalog, as the original preprocessor did.
    Preprocess(preprocess::Args),
    /// Train the model on a watch log and write model.bin, metrics.json and training.svg.
    Train(train::Args),
    /// Measure a model on a watch log: accuracy, top-10, HitRate@10, NDCG@10, baselines.
    Evaluate(evaluate::Args),
    /// Run every step in order: catalog, watch log, training, evaluation.
    Pipeline(pipeline::Args),
    /// Keep trained models with what made them and how they did; promote one to serve, roll
    /// back (the server follows with `cinerec-site --registry`).
    Registry(registry::Args),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> Result<()> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version are results: written like any other, so a failing standard output
        // is an error (clap's own printing would ignore it and exit 0).
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            let help = error.render();
            let text = if std::io::stdout().is_terminal() {
                help.ansi().to_string()
            } else {
                help.to_string()
            };
            return crate::console::write_stdout(&text);
        }
        // Usage errors: clap prints them to standard error and exits with 2.
        Err(error) => error.exit(),
    };
    match cli.command {
        Command::DemoCatalog(args) => demo::run(&args),
        Command::Crawl(args) => crawl::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Preprocess(args) => preprocess::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Pipeline(args) => pipeline::run(&args),
        Command::Registry(args) => registry::run(&args),
    }
}
