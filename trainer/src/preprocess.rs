//! `preprocess`: a synthetic watch log from a catalog, made the original way (`original`), or
//! with viewers who have taste (`taste`), and its pictures.

use std::path::PathBuf;

use anyhow::Result;
use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::{self, WatchRow};

use crate::inputs::{describe_skips, read_catalog};
use crate::limits;
use crate::original::{self, DEFAULT_MAX_SELECT, DEFAULT_USERS};
use crate::output::write_atomic;
use crate::{plot, taste};

/// Viewers in a log with taste: learning which movies go together, and measuring it on the
/// fifth of them held out, needs more than the original's hundred (20 test viewers would
/// make every measure a coin toss).
pub const DEFAULT_TASTE_USERS: u64 = 1000;

/// Flags of `preprocess`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog to read ({"movies":[...]} or a raw TMDB page).
    #[arg(long)]
    pub movies: PathBuf,
    /// Watch log CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of users (ids 1..=users) [default: 100, the original's; 1000 with --taste].
    #[arg(long)]
    pub users: Option<u64>,
    /// Each user watches between 0 and this many movies.
    #[arg(long, default_value_t = DEFAULT_MAX_SELECT)]
    pub max_select: u64,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Give viewers taste: a favourite genre and language that steer what they pick and
    /// how long they watch (without it, the original's algorithm, byte for byte).
    #[arg(long)]
    pub taste: bool,
    /// Also draw rating against watch_seconds into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// With --taste, also draw the viewer × genre heat map into this SVG file.
    #[arg(long, requires = "taste")]
    pub heatmap: Option<PathBuf>,
}

/// A synthetic watch log, and the heat map of its taste when it has some.
pub struct Synthesized {
    /// The rows, viewer by viewer.
    pub rows: Vec<WatchRow>,
    /// The viewer × genre heat map (SVG), for a log with taste.
    pub heatmap: Option<String>,
}

/// A log from `movies`, the original way or with taste.
pub fn synthesize(
    movies: &[Movie],
    users: u64,
    max_select: u64,
    seed: u64,
    with_taste: bool,
) -> Synthesized {
    if !with_taste {
        return Synthesized {
            rows: original::generate(movies, users, max_select, seed),
            heatmap: None,
        };
    }
    let (rows, viewers) = taste::generate(movies, users, max_select, seed);
    let (genres, shares) = taste::genre_shares(movies, &rows, &viewers);
    let names: Vec<String> = genres
        .iter()
        .map(|&genre| taste::genre_name(genre))
        .collect();
    // A row thinner than a pixel or two blurs into its neighbours: draw every n-th viewer.
    let every = shares.len().div_ceil(200).max(1);
    let drawn: Vec<(u64, Vec<f64>)> = shares.iter().step_by(every).cloned().collect();
    let row_label = if every == 1 {
        format!("{} viewers, by favourite genre", shares.len())
    } else {
        format!(
            "every {every}th of {} viewers, by favourite genre",
            shares.len()
        )
    };
    let heatmap = plot::heatmap(
        "share of each viewer's watches by genre",
        &row_label,
        &names,
        &drawn,
    );
    Synthesized {
        rows,
        heatmap: Some(heatmap),
    }
}

/// `preprocess`.
pub fn run(args: &Args) -> Result<()> {
    let users = args.users.unwrap_or(if args.taste {
        DEFAULT_TASTE_USERS
    } else {
        DEFAULT_USERS
    });
    limits::check_log_size(users, args.max_select)?;
    let catalog = read_catalog(&args.movies)?;
    let (movies, report) = (&catalog.movies, &catalog.report);
    let log = synthesize(movies, users, args.max_select, args.seed, args.taste);
    let rows = &log.rows;
    write_atomic(&args.out, watch_log::write(rows).as_bytes())?;
    if let Some(plot_path) = &args.plot {
        write_atomic(plot_path, scatter(rows).as_bytes())?;
    }
    if let (Some(path), Some(heatmap)) = (&args.heatmap, &log.heatmap) {
        write_atomic(path, heatmap.as_bytes())?;
    }
    outln!(
        "wrote {} rows for {} users from {} movies to {}{}",
        rows.len(),
        users,
        movies.len(),
        args.out.display(),
        describe_skips(report)
    )?;
    Ok(())
}

/// Rating against watch_seconds, one dot per row.
pub fn scatter(rows: &[WatchRow]) -> String {
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.rating, r.watch_seconds)).collect();
    plot::scatter(
        "rating vs watch_seconds",
        "rating",
        "watch_seconds",
        &points,
    )
}
