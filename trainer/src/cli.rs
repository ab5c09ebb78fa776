//! Command-line flags and the dispatch to one function per subcommand.

use std::path::PathBuf;

use anyhow::Result;
use cinerec_core::train::Optimizer;
use clap::{Args, Parser, Subcommand, ValueEnum};

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
    DemoCatalog(DemoCatalogArgs),
    /// Fetch TMDB's popular movies into a catalog (needs TMDB_ACCESS_TOKEN or TMDB_API_KEY).
    Crawl(CrawlArgs),
    /// Make a synthetic watch log from a catalog, as the original preprocessor did.
    Preprocess(PreprocessArgs),
    /// Train the model on a watch log and write model.bin, metrics.json and training.svg.
    Train(TrainArgs),
    /// Measure a model on a watch log: accuracy, top-10, HitRate@10, NDCG@10, baselines.
    Evaluate(EvaluateArgs),
    /// Run every step in order: catalog, watch log, training, evaluation.
    Pipeline(PipelineArgs),
}

/// Flags of `demo-catalog`.
#[derive(Debug, Args)]
pub struct DemoCatalogArgs {
    /// Folder to write movies.json and posters/ into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Flags of `crawl`.
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Catalog file to write ({"movies":[...]}).
    #[arg(long)]
    pub out: PathBuf,
    /// First page to fetch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub start_page: u32,
    /// Last page to fetch (clamped to TMDB's total_pages and to 500).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub end_page: u32,
    /// TMDB language parameter.
    #[arg(long, default_value = "ko-KR")]
    pub language: String,
    /// TMDB region parameter.
    #[arg(long, default_value = "KR")]
    pub region: String,
    /// Pause between requests, in milliseconds.
    #[arg(long, default_value_t = 400)]
    pub interval_ms: u64,
    /// API base (default: TMDB_BASE_URL, else https://api.themoviedb.org/3; a base ending in
    /// /movie, as the original's .env had, is accepted).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Also download each movie's poster into this folder as <id>.jpg (<id>.svg, generated,
    /// when TMDB has none).
    #[arg(long)]
    pub posters: Option<PathBuf>,
    /// Image base for posters.
    #[arg(long, default_value = "https://image.tmdb.org/t/p")]
    pub image_base_url: String,
    /// Total time allowed for one request, in seconds (connecting gets at most 5).
    #[arg(long, default_value_t = 30.0)]
    pub timeout_secs: f64,
    /// Attempts per request before giving up (transient failures only).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// Base of the exponential backoff between attempts, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub backoff_ms: u64,
}

/// Flags of `preprocess`.
#[derive(Debug, Args)]
pub struct PreprocessArgs {
    /// Catalog to read ({"movies":[...]} or a raw TMDB page).
    #[arg(long)]
    pub movies: PathBuf,
    /// Watch log CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of users (ids 1..=users).
    #[arg(long, default_value_t = crate::preprocess::DEFAULT_USERS)]
    pub users: u64,
    /// Each user watches between 0 and this many movies.
    #[arg(long, default_value_t = crate::preprocess::DEFAULT_MAX_SELECT)]
    pub max_select: u64,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also draw rating against watch_seconds into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Flags of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
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
#[derive(Debug, Args, Clone)]
pub struct HyperArgs {
    /// Passes over the training split.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Hidden units.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub hidden: u32,
    /// Rows per mini-batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Update rule.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    pub optimizer: OptimizerArg,
    /// Learning rate (default: 0.01 for adam, 0.1 for sgd).
    #[arg(long)]
    pub lr: Option<f32>,
}

/// `--optimizer` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
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

/// Flags of `evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// model.bin to measure.
    #[arg(long)]
    pub model: PathBuf,
    /// Watch log to measure on (the training log gives the test split back).
    #[arg(long)]
    pub watch_log: PathBuf,
}

/// Flags of `pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
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

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> Result<()> {
    match Cli::parse().command {
        Command::DemoCatalog(args) => crate::demo::run(&args),
        Command::Crawl(args) => crate::crawl::run(&args),
        Command::Preprocess(args) => crate::preprocess::run(&args),
        Command::Train(args) => crate::train::run(&args),
        Command::Evaluate(args) => crate::evaluate::run(&args),
        Command::Pipeline(args) => crate::pipeline::run(&args),
    }
}
