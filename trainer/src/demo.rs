//! The built-in demo catalog: 58 movies in TMDB's schema with generated posters, the default
//! that works with no TMDB key and no network. Deterministic: always the same bytes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cinerec_core::catalog::Movie;
use cinerec_learn::random::Rng;

use crate::output::write_atomic;
use crate::poster;

/// Flags of `demo-catalog`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to write movies.json and posters/ into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Number of movies in the demo catalog.
pub const MOVIES: usize = 58;

const ADJECTIVES: [(&str, &str); 10] = [
    ("고요한", "Silent"),
    ("마지막", "Last"),
    ("붉은", "Crimson"),
    ("잃어버린", "Lost"),
    ("푸른", "Blue"),
    ("한밤의", "Midnight"),
    ("끝없는", "Endless"),
    ("비밀의", "Secret"),
    ("차가운", "Cold"),
    ("황금빛", "Golden"),
];

const NOUNS: [(&str, &str); 10] = [
    ("항구", "Harbor"),
    ("정원", "Garden"),
    ("여름", "Summer"),
    ("기억", "Memory"),
    ("도시", "City"),
    ("별", "Star"),
    ("바다", "Sea"),
    ("열차", "Train"),
    ("약속", "Promise"),
    ("겨울", "Winter"),
];

/// TMDB's movie genre ids.
const GENRES: [u64; 19] = [
    28, 12, 16, 35, 80, 99, 18, 10751, 14, 36, 27, 10402, 9648, 10749, 878, 10770, 53, 10752, 37,
];

/// The demo movies, most popular first, as a TMDB popular listing orders them.
pub fn movies() -> Vec<Movie> {
    let mut rng = Rng::new(58);
    let mut movies: Vec<Movie> = (0..MOVIES)
        .map(|i| {
            // Distinct (adjective, noun) pairs: for a fixed adjective, 3q mod 10 differs for q < 6.
            let (adjective, noun) = (ADJECTIVES[i % 10], NOUNS[(i / 10 * 3 + i) % 10]);
            let id = 100_000 + i as u64 * 20_011 + rng.below(20_000);
            // Unreleased movies on a popular page have no votes yet.
            let unreleased = i % 29 == 28;
            let vote_average = if unreleased {
                0.0
            } else {
                round3((6.8 + 0.8 * rng.normal()).clamp(4.0, 8.9))
            };
            let vote_count = if unreleased {
                0
            } else {
                (800.0 * (1.2 * rng.normal()).exp()).max(1.0) as u64
            };
            let popularity = round3(300.0 * (0.9 * rng.normal()).exp() + 20.0);
            let korean = i % 7 == 3;
            let year = 2020 + rng.below(7);
            let genre_count = 1 + rng.below(3) as usize;
            let mut genre_ids: Vec<u64> = (0..genre_count)
                .map(|_| GENRES[rng.below(GENRES.len() as u64) as usize])
                .collect();
            genre_ids.dedup();
            let title = format!("{} {}", adjective.0, noun.0);
            Movie {
                adult: false,
                backdrop_path: None,
                genre_ids,
                id,
                original_language: if korean { "ko" } else { "en" }.into(),
                original_title: if korean {
                    title.clone()
                } else {
                    format!("The {} {}", adjective.1, noun.1)
                },
                // ko-KR listings often have no Korean overview: keep some empty, as TMDB does.
                overview: if i % 5 == 4 {
                    String::new()
                } else {
                    format!("{} {}을(를) 둘러싼 이야기.", adjective.0, noun.0)
                },
                popularity,
                poster_path: Some(format!("/{id}.svg")),
                release_date: if unreleased {
                    String::new()
                } else {
                    format!("{year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28))
                },
                title,
                video: false,
                vote_average,
                vote_count,
            }
        })
        .collect();
    movies.sort_by(|a, b| b.popularity.total_cmp(&a.popularity).then(a.id.cmp(&b.id)));
    movies
}

/// Writes `movies.json` and `posters/<id>.svg` into `folder`.
pub fn write(folder: &Path) -> Result<Vec<Movie>> {
    let movies = movies();
    for (index, movie) in movies.iter().enumerate() {
        let name = cinerec_core::catalog::poster_file_name(movie.id, movie.poster_path.as_deref());
        // The golden angle spreads hues so neighbours never look alike.
        let hue = index as f64 * 137.507_764;
        write_atomic(
            &folder.join("posters").join(name),
            poster::svg(movie, hue).as_bytes(),
        )?;
    }
    let document = serde_json::json!({ "movies": movies });
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    write_atomic(&folder.join("movies.json"), text.as_bytes())?;
    Ok(movies)
}

/// `demo-catalog`.
pub fn run(args: &Args) -> Result<()> {
    let movies = write(&args.out)?;
    outln!(
        "wrote {} movies to {} and their posters to {}",
        movies.len(),
        args.out.join("movies.json").display(),
        args.out.join("posters").display()
    )?;
    Ok(())
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_eight_distinct_movies_that_parse_back() {
        let movies = movies();
        assert_eq!(movies.len(), MOVIES);
        let text = serde_json::to_vec(&serde_json::json!({ "movies": movies })).unwrap();
        let (parsed, report) = cinerec_core::catalog::parse(&text).unwrap();
        assert_eq!(parsed, movies);
        assert!(report.skipped.is_empty() && report.duplicates.is_empty());
        let mut titles: Vec<&str> = movies.iter().map(|m| m.title.as_str()).collect();
        titles.sort();
        titles.dedup();
        assert_eq!(titles.len(), MOVIES);
    }

    #[test]
    fn ratings_and_popularity_spread_like_a_tmdb_popular_page() {
        let movies = movies();
        let rated: Vec<f64> = movies
            .iter()
            .map(|m| m.vote_average)
            .filter(|v| *v > 0.0)
            .collect();
        let mean = rated.iter().sum::<f64>() / rated.len() as f64;
        assert!((6.0..7.5).contains(&mean), "mean rating {mean}");
        assert!(movies
            .iter()
            .any(|m| m.vote_average == 0.0 && m.vote_count == 0));
        let popularity: Vec<f64> = movies.iter().map(|m| m.popularity).collect();
        let (max, min) = (popularity[0], popularity[MOVIES - 1]);
        assert!(max / min > 5.0, "heavy tail: {max} vs {min}");
        assert!(
            popularity.windows(2).all(|w| w[0] >= w[1]),
            "most popular first"
        );
        let pairs: std::collections::HashSet<(u64, u64)> = movies
            .iter()
            .map(|m| (m.vote_average.to_bits(), m.popularity.to_bits()))
            .collect();
        assert_eq!(pairs.len(), MOVIES, "features tell every movie apart");
    }
}
