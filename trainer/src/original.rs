//! The original's watch-log synthesis, as its preprocessor did it.
//!
//! Each movie is repeated `int(2^vote_average)` times; users `1..=users` each pick
//! `randint(0, max_select)` entries with replacement; `watch_seconds` is
//! base + Normal(0, 0.1·base), clipped to [0, 7200] and truncated, with
//! base = 7200·(1.1^(r−5) − 1.1^−5)/(1.1^5 − 1.1^−5). Unlike the original (which never
//! seeded numpy), every draw comes from one seeded generator. The taste synthesis (`taste`)
//! reuses the pick weight and the watch time.

use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::WatchRow;
use cinerec_learn::random::Rng;

/// Users in a watch log, as the original made them (ids 1..=100).
pub const DEFAULT_USERS: u64 = 100;
/// The most movies one user picks, as the original did.
pub const DEFAULT_MAX_SELECT: u64 = 20;
/// The longest a watch can be, in seconds.
pub const MAX_WATCH_SECONDS: f64 = 7200.0;

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
            rows.push(watch(user_id, movie, 1.0, &mut rng));
        }
    }
    rows
}

/// One watch of `movie`: the base watch time for its rating, scaled by `liking` (1 the
/// original's way), plus Normal(0, 0.1·base), clipped to [0, 7200] and truncated.
pub(crate) fn watch(user_id: u64, movie: &Movie, liking: f64, rng: &mut Rng) -> WatchRow {
    let base = base_watch_seconds(movie.vote_average) * liking;
    let noisy = base + rng.normal() * 0.1 * base;
    WatchRow {
        user_id,
        content_id: movie.id,
        watch_seconds: noisy.clamp(0.0, MAX_WATCH_SECONDS).trunc(),
        rating: movie.vote_average,
        popularity: movie.popularity,
    }
}

/// `int(pow(2, vote_average))`: how many times a movie enters the pick list.
pub(crate) fn copies(vote_average: f64) -> usize {
    2f64.powf(vote_average) as usize
}

/// The expected watch time for a rating: 0 s at 0, 7200 s at 10, convex in between.
fn base_watch_seconds(rating: f64) -> f64 {
    let low = 1.1f64.powi(-5);
    MAX_WATCH_SECONDS * (1.1f64.powf(rating - 5.0) - low) / (1.1f64.powi(5) - low)
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
