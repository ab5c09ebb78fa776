//! `preprocess`: a synthetic watch log from a catalog, made the original way.
//!
//! Each movie is repeated `int(2^vote_average)` times; users `1..=users` each pick
//! `randint(0, max_select)` entries with replacement; `watch_seconds` is
//! base + Normal(0, 0.1·base), clipped to [0, 7200] and truncated, with
//! base = 7200·(1.1^(r−5) − 1.1^−5)/(1.1^5 − 1.1^−5). Unlike the original (which never
//! seeded numpy), every draw comes from one seeded generator.

use std::path::PathBuf;

use anyhow::Result;
use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::{self, WatchRow};
use cinerec_learn::random::Rng;

use crate::inputs::{describe_skips, read_catalog};
use crate::limits;
use crate::output::write_atomic;
use crate::plot;

/// Users in a watch log, as the original made them (ids 1..=100).
pub const DEFAULT_USERS: u64 = 100;
/// The most movies one user picks, as the original did.
pub const DEFAULT_MAX_SELECT: u64 = 20;

/// The longest a watch can be, in seconds.
pub const MAX_WATCH_SECONDS: f64 = 7200.0;

/// Flags of `preprocess`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog to read ({"movies":[...]} or a raw TMDB page).
    #[arg(long)]
    pub movies: PathBuf,
    /// Watch log CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of users (ids 1..=users).
    #[arg(long, default_value_t = DEFAULT_USERS)]
    pub users: u64,
    /// Each user watches between 0 and this many movies.
    #[arg(long, default_value_t = DEFAULT_MAX_SELECT)]
    pub max_select: u64,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also draw rating against watch_seconds into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// The watch log of the module docs.
pub fn generate(movies: &[Movie], users: u64, max_select: u64, seed: u64) -> Vec<WatchRow> {
    let augmented: Vec<&Movie> = movies
        .iter()
        .flat_map(|movie| std::iter::repeat_n(movie, copies(movie.vote_average)))
        .collect();
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    if augmented.is_empty() {
        return rows;
    }
    for user_id in 1..=users {
        let picks = rng.inclusive(0, max_select);
        for _ in 0..picks {
            let movie = augmented[rng.below(augmented.len() as u64) as usize];
            let base = base_watch_seconds(movie.vote_average);
            let noisy = base + rng.normal() * 0.1 * base;
            rows.push(WatchRow {
                user_id,
                content_id: movie.id,
                watch_seconds: noisy.clamp(0.0, MAX_WATCH_SECONDS).trunc(),
                rating: movie.vote_average,
                popularity: movie.popularity,
            });
        }
    }
    rows
}

/// `int(pow(2, vote_average))`: how many times a movie enters the pick list.
fn copies(vote_average: f64) -> usize {
    2f64.powf(vote_average) as usize
}

/// The expected watch time for a rating: 0 s at 0, 7200 s at 10, convex in between.
fn base_watch_seconds(rating: f64) -> f64 {
    let low = 1.1f64.powi(-5);
    MAX_WATCH_SECONDS * (1.1f64.powf(rating - 5.0) - low) / (1.1f64.powi(5) - low)
}

/// `preprocess`.
pub fn run(args: &Args) -> Result<()> {
    limits::check_log_size(args.users, args.max_select)?;
    let catalog = read_catalog(&args.movies)?;
    let (movies, report) = (&catalog.movies, &catalog.report);
    let rows = generate(movies, args.users, args.max_select, args.seed);
    write_atomic(&args.out, watch_log::write(&rows).as_bytes())?;
    if let Some(plot_path) = &args.plot {
        write_atomic(plot_path, scatter(&rows).as_bytes())?;
    }
    outln!(
        "wrote {} rows for {} users from {} movies to {}{}",
        rows.len(),
        args.users,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn movie(id: u64, vote_average: f64) -> Movie {
        let text = format!(r#"[{{"id":{id},"vote_average":{vote_average},"popularity":10.5}}]"#);
        cinerec_core::catalog::parse(text.as_bytes())
            .unwrap()
            .0
            .remove(0)
    }

    #[test]
    fn base_watch_time_runs_from_zero_to_two_hours() {
        assert!(base_watch_seconds(0.0).abs() < 1e-9);
        assert!((base_watch_seconds(10.0) - 7200.0).abs() < 1e-9);
        assert!(base_watch_seconds(7.0) > base_watch_seconds(6.0));
    }

    #[test]
    fn copies_follow_the_originals_int_pow() {
        assert_eq!(copies(0.0), 1);
        assert_eq!(copies(7.5), 181);
        assert_eq!(copies(10.0), 1024);
    }

    #[test]
    fn rows_follow_the_recipe_and_the_seed() {
        let movies = [movie(1, 8.0), movie(2, 4.0)];
        let rows = generate(&movies, 100, 20, 7);
        assert_eq!(rows, generate(&movies, 100, 20, 7));
        assert_ne!(rows, generate(&movies, 100, 20, 8));
        assert!(rows.iter().all(|r| (1..=100).contains(&r.user_id)));
        assert!(rows.iter().all(|r| r.watch_seconds.fract() == 0.0));
        assert!(rows
            .iter()
            .all(|r| (0.0..=7200.0).contains(&r.watch_seconds)));
        // 256 copies against 16: the better-rated movie dominates.
        let share = rows.iter().filter(|r| r.content_id == 1).count() as f64 / rows.len() as f64;
        assert!((0.9..0.98).contains(&share), "share {share}");
        // about 10 picks per user on average
        assert!((700..1300).contains(&rows.len()), "{} rows", rows.len());
    }
}
