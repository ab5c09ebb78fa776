//! Viewers with taste (`preprocess --taste`): the original's synthesis, plus preferences.
//!
//! The original's viewers all draw from one rating-weighted pool, so nothing in a viewer's
//! history says anything about their next watch. Here each viewer is drawn, from the seed, a
//! favourite genre (a TMDB `genre_ids` value, weighted by how many movies of the catalog carry
//! it) and, three times in ten, a favourite original language. A movie's affinity for a
//! viewer is 30 when it has the favourite genre (1 otherwise), times 4 when it is in the
//! favourite language; each pick is drawn with weight `int(2^vote_average) × affinity` (the
//! original's weight times the taste), and a liked movie is watched longer: the original's
//! base watch time is scaled from 0.6× (no affinity) to 1.4× (both preferences) along the
//! logarithm of the affinity, before the same noise, clipping and truncation. Pick counts
//! follow the original.
//!
//! Why these numbers: with them, on the demo catalog, the best any ranker could do (one that
//! knew each viewer's taste) is about 2.4× popularity's HitRate@10, and a ranker that only
//! knows which movies go together (and whether a watch was long) about 2× — room for a model
//! to show what it learned. Two favourite genres or a weaker factor left so little room above
//! popularity that no ranker, co-visitation included, could clearly beat it.

use std::collections::BTreeMap;

use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::WatchRow;
use cinerec_learn::random::Rng;

use crate::original::{copies, watch};

/// How much the favourite genre multiplies a movie's affinity.
const GENRE_FACTOR: f64 = 30.0;
/// How much the favourite language multiplies it.
const LANGUAGE_FACTOR: f64 = 4.0;
/// The most a viewer can like a movie: the favourite genre in the favourite language.
const MAX_AFFINITY: f64 = GENRE_FACTOR * LANGUAGE_FACTOR;
/// Share of viewers with a favourite language.
const LANGUAGE_SHARE: f64 = 0.3;

/// One viewer's preferences.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    /// Who.
    pub user_id: u64,
    /// Favourite TMDB genre id (none when the catalog has no genres).
    pub genre: Option<u64>,
    /// Favourite original language, if any.
    pub language: Option<String>,
}

impl Viewer {
    /// How much this viewer likes `movie`: 1 for no preference, up to [`MAX_AFFINITY`].
    fn affinity(&self, movie: &Movie) -> f64 {
        let genre = self
            .genre
            .is_some_and(|genre| movie.genre_ids.contains(&genre));
        let language = self
            .language
            .as_deref()
            .is_some_and(|language| language == movie.original_language);
        (if genre { GENRE_FACTOR } else { 1.0 }) * if language { LANGUAGE_FACTOR } else { 1.0 }
    }

    /// Whether `movie` has this viewer's favourite genre.
    #[cfg(test)]
    fn likes_genre_of(&self, movie: &Movie) -> bool {
        self.genre
            .is_some_and(|genre| movie.genre_ids.contains(&genre))
    }
}

/// A watch log with taste, and the viewers who made it (see the module docs).
pub fn generate(
    movies: &[Movie],
    users: u64,
    max_select: u64,
    seed: u64,
) -> (Vec<WatchRow>, Vec<Viewer>) {
    let mut rng = Rng::new(seed);
    let genres = weighted_values(
        movies
            .iter()
            .flat_map(|movie| movie.genre_ids.iter().copied()),
    );
    let languages = weighted_values(
        movies
            .iter()
            .map(|movie| movie.original_language.clone())
            .filter(|language| !language.is_empty()),
    );
    let mut rows = Vec::new();
    let mut viewers = Vec::new();
    let mut weights = Vec::with_capacity(movies.len());
    for user_id in 1..=users {
        let viewer = Viewer {
            user_id,
            genre: draw_distinct(&genres, 1, &mut rng).pop(),
            language: (rng.next_f64() < LANGUAGE_SHARE)
                .then(|| draw_distinct(&languages, 1, &mut rng).pop())
                .flatten(),
        };
        weights.clear();
        let mut total = 0.0;
        for movie in movies {
            total += copies(movie.vote_average) as f64 * viewer.affinity(movie);
            weights.push(total);
        }
        let picks = rng.inclusive(0, max_select);
        for _ in 0..picks {
            let Some(movie) = pick(movies, &weights, total, &mut rng) else {
                break;
            };
            let liking = viewer.affinity(movie).ln() / MAX_AFFINITY.ln();
            rows.push(watch(user_id, movie, 0.6 + 0.8 * liking, &mut rng));
        }
        viewers.push(viewer);
    }
    (rows, viewers)
}

/// Distinct values with how often each occurs, in ascending order (so the draw is stable).
fn weighted_values<T: Ord>(values: impl Iterator<Item = T>) -> Vec<(T, u64)> {
    let mut counts = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_insert(0u64) += 1;
    }
    counts.into_iter().collect()
}

/// Up to `n` distinct values, each drawn with probability proportional to its count.
fn draw_distinct<T: Clone>(weighted: &[(T, u64)], n: usize, rng: &mut Rng) -> Vec<T> {
    let mut left: Vec<&(T, u64)> = weighted.iter().collect();
    let mut chosen = Vec::with_capacity(n);
    while chosen.len() < n && !left.is_empty() {
        let total: u64 = left.iter().map(|(_, count)| count).sum();
        let mut point = rng.below(total);
        let index = left
            .iter()
            .position(|(_, count)| {
                if point < *count {
                    true
                } else {
                    point -= count;
                    false
                }
            })
            .expect("the point falls inside the total");
        chosen.push(left.remove(index).0.clone());
    }
    chosen
}

/// A movie drawn with probability proportional to its weight (`cumulative` ends at `total`).
fn pick<'a>(
    movies: &'a [Movie],
    cumulative: &[f64],
    total: f64,
    rng: &mut Rng,
) -> Option<&'a Movie> {
    if total <= 0.0 {
        return None;
    }
    let point = rng.next_f64() * total;
    let index = cumulative.partition_point(|&edge| edge <= point);
    movies.get(index.min(movies.len().saturating_sub(1)))
}

/// TMDB's movie genre names, for the heat map.
pub fn genre_name(id: u64) -> String {
    let name = match id {
        28 => "Action",
        12 => "Adventure",
        16 => "Animation",
        35 => "Comedy",
        80 => "Crime",
        99 => "Documentary",
        18 => "Drama",
        10751 => "Family",
        14 => "Fantasy",
        36 => "History",
        27 => "Horror",
        10402 => "Music",
        9648 => "Mystery",
        10749 => "Romance",
        878 => "Science Fiction",
        10770 => "TV Movie",
        53 => "Thriller",
        10752 => "War",
        37 => "Western",
        other => return format!("genre {other}"),
    };
    name.to_string()
}

/// For each viewer (sorted by favourite genre), the share of their watches in each genre
/// of the catalog: the structure the taste put into the log, as the heat map shows it.
pub fn genre_shares(
    movies: &[Movie],
    rows: &[WatchRow],
    viewers: &[Viewer],
) -> (Vec<u64>, Vec<(u64, Vec<f64>)>) {
    let genres: Vec<u64> = weighted_values(movies.iter().flat_map(|m| m.genre_ids.iter().copied()))
        .into_iter()
        .map(|(genre, _)| genre)
        .collect();
    let genres_of: BTreeMap<u64, &Vec<u64>> = movies
        .iter()
        .map(|movie| (movie.id, &movie.genre_ids))
        .collect();
    let mut by_viewer: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    let mut watches: BTreeMap<u64, usize> = BTreeMap::new();
    for row in rows {
        let shares = by_viewer
            .entry(row.user_id)
            .or_insert_with(|| vec![0.0; genres.len()]);
        *watches.entry(row.user_id).or_default() += 1;
        for genre in genres_of
            .get(&row.content_id)
            .into_iter()
            .flat_map(|g| g.iter())
        {
            if let Ok(column) = genres.binary_search(genre) {
                shares[column] += 1.0;
            }
        }
    }
    let mut ordered: Vec<&Viewer> = viewers
        .iter()
        .filter(|viewer| by_viewer.contains_key(&viewer.user_id))
        .collect();
    ordered.sort_by_key(|viewer| (viewer.genre, viewer.user_id));
    let table = ordered
        .into_iter()
        .map(|viewer| {
            let n = watches[&viewer.user_id] as f64;
            let shares = by_viewer[&viewer.user_id].iter().map(|s| s / n).collect();
            (viewer.user_id, shares)
        })
        .collect();
    (genres, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie(id: u64, genres: &[u64], language: &str, vote_average: f64) -> Movie {
        let text = format!(
            r#"[{{"id":{id},"genre_ids":{genres:?},"original_language":"{language}","vote_average":{vote_average},"popularity":10.5}}]"#
        );
        cinerec_core::catalog::parse(text.as_bytes())
            .unwrap()
            .0
            .remove(0)
    }

    fn catalog() -> Vec<Movie> {
        (0..12)
            .map(|i| {
                let genre = [28, 35, 18, 27][i % 4];
                movie(
                    100 + i as u64,
                    &[genre],
                    if i % 3 == 0 { "ko" } else { "en" },
                    7.0,
                )
            })
            .collect()
    }

    #[test]
    fn viewers_watch_mostly_their_favourite_genres() {
        let movies = catalog();
        let (rows, viewers) = generate(&movies, 200, 20, 4);
        assert_eq!(viewers.len(), 200);
        let genre_of: BTreeMap<u64, u64> = movies.iter().map(|m| (m.id, m.genre_ids[0])).collect();
        let favourite = rows
            .iter()
            .filter(|row| {
                viewers[row.user_id as usize - 1].genre == Some(genre_of[&row.content_id])
            })
            .count() as f64
            / rows.len() as f64;
        // One of four equally rated genres would get a quarter of the picks without taste;
        // affinity 30 against 1 (and a language bonus now and then) gives about 0.9.
        assert!((0.85..0.95).contains(&favourite), "share {favourite}");
    }

    #[test]
    fn liked_movies_are_watched_longer_and_the_counts_follow_the_original() {
        let movies = catalog();
        let (rows, viewers) = generate(&movies, 300, 20, 9);
        let mean = |liked: bool| {
            let seconds: Vec<f64> = rows
                .iter()
                .filter(|row| {
                    let movie = movies.iter().find(|m| m.id == row.content_id).unwrap();
                    viewers[row.user_id as usize - 1].likes_genre_of(movie) == liked
                })
                .map(|row| row.watch_seconds)
                .collect();
            seconds.iter().sum::<f64>() / seconds.len() as f64
        };
        assert!(
            mean(true) > 1.3 * mean(false),
            "{} vs {}",
            mean(true),
            mean(false)
        );
        // randint(0, 20) picks per viewer: about 10 on average.
        let per_viewer = rows.len() as f64 / 300.0;
        assert!(
            (8.5..11.5).contains(&per_viewer),
            "{per_viewer} picks per viewer"
        );
        assert!(rows
            .iter()
            .all(|r| (0.0..=7200.0).contains(&r.watch_seconds)));
        assert!(rows.iter().all(|r| r.watch_seconds.fract() == 0.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_viewers_and_rows() {
        let movies = catalog();
        assert_eq!(generate(&movies, 50, 20, 3), generate(&movies, 50, 20, 3));
        assert_ne!(
            generate(&movies, 50, 20, 3).0,
            generate(&movies, 50, 20, 4).0
        );
    }

    #[test]
    fn a_catalog_without_genres_or_languages_still_makes_a_log() {
        let movies: Vec<Movie> = (0..5).map(|i| movie(i + 1, &[], "", 6.0)).collect();
        let (rows, viewers) = generate(&movies, 30, 20, 1);
        assert!(!rows.is_empty());
        assert!(viewers
            .iter()
            .all(|v| v.genre.is_none() && v.language.is_none()));
    }

    #[test]
    fn shares_are_fractions_of_each_viewers_watches() {
        let movies = catalog();
        let (rows, viewers) = generate(&movies, 40, 20, 2);
        let (genres, table) = genre_shares(&movies, &rows, &viewers);
        assert_eq!(genres, [18, 27, 28, 35]);
        for (_, shares) in &table {
            // One genre per movie: the shares of a viewer sum to one.
            assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
