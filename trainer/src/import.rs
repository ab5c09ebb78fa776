//! `import`: a MovieLens release (read by `movielens`) → a TMDB-shaped catalog and a watch log
//! with a timestamp column, the held-out ("unseen") viewers optionally in a log of their own.
//!
//! The rules, each counted on standard error (see [`HANDLING`], which `--help` shows):
//! duplicate ratings keep the latest; ratings of movie ids the movies file lacks are skipped;
//! with TMDB ids, movies without one (or sharing another's) are dropped with their ratings.
//! A viewer's events are in time order, ties within a second broken by
//! `sha256("{user_id}:{movielens_id}")`, so the last event is not biased towards high ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::{self, WatchRow};
use sha2::{Digest, Sha256};

use crate::movielens::{self, Dataset, Format, Rating, SourceMovie};
use crate::output::{destination, write_atomic, MAX_INPUT};

/// Flags of `import`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HANDLING)]
pub struct Args {
    /// The dataset: a folder holding a MovieLens release's files, or one of those files
    /// (u.data/u.item, ratings.dat/movies.dat, ratings.csv/movies.csv/links.csv,
    /// NAME.inter/NAME.item); the format is recognised from the file names.
    #[arg(long, value_name = "DIR_OR_FILE")]
    pub from: PathBuf,
    /// The format, when the file names do not tell (ml-10m is read as ml-1m).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Catalog to write: {"movies":[...]} with TMDB's fields, as `crawl` writes.
    #[arg(long, value_name = "FILE")]
    pub out_movies: PathBuf,
    /// Watch log to write: user_id,content_id,watch_seconds,rating,popularity,timestamp.
    #[arg(long, value_name = "FILE")]
    pub out_log: PathBuf,
    /// Write the unseen viewers (sha256 of the decimal user id, as a 256-bit number, is a
    /// multiple of 5) to this log instead of --out-log: the evaluation split of the published
    /// figures.
    #[arg(long, value_name = "FILE")]
    pub unseen_log: Option<PathBuf>,
    /// Watch seconds per star of a rating: watch_seconds = SECONDS × rating, so by default a
    /// 5 is 7,200 s (a whole film) and a 3.5 is 5,040 s; from 0 to 86,400.
    #[arg(long, value_name = "SECONDS", default_value_t = 1440.0, value_parser = seconds_per_star)]
    pub seconds_per_star: f64,
    /// Content ids of the catalog and the log: tmdb (links.csv's tmdbId, so posters can be
    /// fetched; ml-latest only) or movielens (the dataset's movie ids) [default: tmdb when
    /// there is a links.csv, else movielens].
    #[arg(long, value_enum)]
    pub ids: Option<Ids>,
}

/// `--ids` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ids {
    /// TMDB's ids from links.csv.
    Tmdb,
    /// The dataset's own movie ids.
    Movielens,
}

/// What `import --help` says after the flags: the rules for imperfect data.
const HANDLING: &str = "\
What the outputs hold:
  Catalog: every movie of the movies file (also those nobody rated), in its order; title
  without the trailing \" (1995)\"; release_date from u.item's date or the year (1995-01-01),
  \"\" when unknown; MovieLens genres mapped to TMDB genre ids (Film-Noir, IMAX, unknown and
  (no genres listed) have none); vote_average = mean rating × 2, vote_count = ratings,
  popularity = ratings + 0.5; original_language \"\" (MovieLens does not say); no poster.
  Log: viewers by ascending user id, each viewer's events in time order, ties within a
  second broken by sha256(\"{user_id}:{movielens_movie_id}\") in ascending hex; rating and
  popularity are the movie's catalog values (over all viewers, unseen ones included).

How imperfect data is handled (each counted on standard error):
  - The same viewer rating the same movie again: the latest rating is kept (the later line
    when both have the same timestamp).
  - A rating of a movie id the movies file lacks: skipped.
  - With --ids tmdb, a movie without a tmdbId, or whose tmdbId an earlier movie of the file
    already has: dropped with its ratings (use --ids movielens to keep every movie).
  - A malformed line, a movie id given twice, a missing file: an error naming the file, the
    line, the field and the value; nothing is written.
  - Text that is not valid UTF-8 is read as Latin-1 (ML-100k and ML-1M are); standard error
    says which encoding each file was read in.
  - At most 40,000,000 ratings, 1,000,000 movies and 1 GiB per file.";

/// `import`.
pub fn run(args: &Args) -> Result<()> {
    // Outputs that cannot be written are refused before the reading, not after.
    let mut outputs = vec![&args.out_movies, &args.out_log];
    outputs.extend(&args.unseen_log);
    let mut destinations: Vec<PathBuf> = Vec::new();
    for path in outputs {
        let target = destination(path)?;
        if destinations.contains(&target) {
            bail!("{} is given as two outputs", path.display());
        }
        destinations.push(target);
    }

    let source = movielens::locate(&args.from, args.format)?;
    let dataset = movielens::read(&source)?;
    errln!(
        "import: {} from {}: {}",
        source.format,
        crate::output::parent(&source.ratings).display(),
        dataset.notes.join("; ")
    );
    for warning in &dataset.warnings {
        errln!("import: {warning}");
    }
    let ids = match (args.ids, &source.links) {
        (Some(Ids::Tmdb), None) => bail!(
            "--ids tmdb needs links.csv, which {}",
            if source.format == Format::MlLatest {
                format!("{} lacks", crate::output::parent(&source.movies).display())
            } else {
                format!("only ml-latest has, not {}", source.format)
            }
        ),
        (Some(ids), _) => ids,
        (None, Some(_)) => Ids::Tmdb,
        (None, None) => Ids::Movielens,
    };
    let movies_file = source
        .movies
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let imported = convert(dataset, ids, args.seconds_per_star);
    report(&imported.report, ids, &movies_file);
    if imported.movies.is_empty() {
        bail!("no movie is left to write a catalog of");
    }

    let mut document = serde_json::to_string_pretty(&serde_json::json!({
        "movies": imported.movies
    }))?;
    document.push('\n');
    write_atomic(&args.out_movies, document.as_bytes())?;
    drop(document);
    let mut log = imported.log;
    let unseen = args.unseen_log.as_ref().map(|_| log.split_off_unseen());
    write_log(&args.out_log, &log)?;
    let mut written = format!(
        "wrote {} movies to {}; {} rows of {} viewers to {}",
        imported.movies.len(),
        args.out_movies.display(),
        log.watches.len(),
        log.viewers(),
        args.out_log.display()
    );
    if let (Some(path), Some(unseen)) = (&args.unseen_log, unseen) {
        drop(log);
        write_log(path, &unseen)?;
        write!(
            written,
            "; {} rows of {} unseen viewers to {}",
            unseen.watches.len(),
            unseen.viewers(),
            path.display()
        )?;
    }
    outln!("{written}")?;
    Ok(())
}

/// Whether a viewer belongs to the unseen split: `int(sha256(str(user_id)).hexdigest(), 16)
/// % 5 == 0`, the remainder taken over the whole 256-bit number.
pub fn is_unseen(user_id: u64) -> bool {
    let digest = Sha256::digest(user_id.to_string());
    digest.iter().fold(0u32, |remainder, &byte| {
        (remainder * 256 + u32::from(byte)) % 5
    }) == 0
}

/// The rows of a log: the watches, and when each happened.
#[derive(Default)]
struct Log {
    watches: Vec<WatchRow>,
    timestamps: Vec<u64>,
}

impl Log {
    /// Moves the unseen viewers' rows (see [`is_unseen`]) into a log of their own.
    fn split_off_unseen(&mut self) -> Log {
        // Rows come viewer by viewer: one hash per viewer.
        let mut last: Option<(u64, bool)> = None;
        let flags: Vec<bool> = self
            .watches
            .iter()
            .map(|watch| match last {
                Some((user, unseen)) if user == watch.user_id => unseen,
                _ => {
                    let unseen = is_unseen(watch.user_id);
                    last = Some((watch.user_id, unseen));
                    unseen
                }
            })
            .collect();
        let mut unseen = Log::default();
        for (index, _) in flags.iter().enumerate().filter(|(_, &flag)| flag) {
            unseen.watches.push(self.watches[index]);
            unseen.timestamps.push(self.timestamps[index]);
        }
        let mut seen = flags.iter().map(|flag| !flag);
        self.watches.retain(|_| seen.next().unwrap_or(true));
        let mut seen = flags.iter().map(|flag| !flag);
        self.timestamps.retain(|_| seen.next().unwrap_or(true));
        unseen
    }

    /// The number of viewers (rows come viewer by viewer).
    fn viewers(&self) -> usize {
        self.watches.chunk_by(|a, b| a.user_id == b.user_id).count()
    }

    /// Core's text of the rows, and a `timestamp` column after core's five (readers find
    /// columns by name, so the old ones read it unchanged). Core writes a chunk at a time, so
    /// that its text and ours are not both whole in memory.
    fn text(&self) -> String {
        const CHUNK: usize = 1 << 16;
        let mut out = String::with_capacity(self.watches.len() * 52 + 64);
        out.push_str(watch_log::HEADER);
        out.push_str(",timestamp\n");
        for (watches, timestamps) in self
            .watches
            .chunks(CHUNK)
            .zip(self.timestamps.chunks(CHUNK))
        {
            let text = watch_log::write(watches);
            for (line, timestamp) in text.lines().skip(1).zip(timestamps) {
                let _ = writeln!(out, "{line},{timestamp}");
            }
        }
        out
    }
}

/// What [`convert`] made, and what it had to leave out.
struct Imported {
    movies: Vec<Movie>,
    log: Log,
    report: Report,
}

/// The counts `import` prints on standard error.
#[derive(Default)]
struct Report {
    duplicates: u64,
    unknown_ratings: u64,
    /// The distinct movie ids of the skipped ratings.
    unknown_ids: BTreeSet<u64>,
    without_tmdb: Vec<SourceMovie>,
    without_tmdb_ratings: u64,
    shared_tmdb: Vec<SourceMovie>,
    shared_tmdb_ratings: u64,
    /// Genre names with no TMDB genre, and how many movies had each.
    unmapped_genres: BTreeMap<String, u64>,
}

/// What becomes of a movie of the file.
enum Fate {
    /// In the catalog, under this content id.
    Kept(u64),
    /// Dropped: no tmdbId.
    WithoutTmdb,
    /// Dropped: an earlier movie has its tmdbId.
    SharedTmdb,
}

/// The catalog and the log rows of a dataset (see the module docs for the rules).
fn convert(dataset: Dataset, ids: Ids, seconds_per_star: f64) -> Imported {
    let mut report = Report::default();
    let mut fates: HashMap<u64, Fate> = HashMap::new();
    let mut tmdb_owners: HashMap<u64, u64> = HashMap::new();
    for movie in &dataset.movies {
        let fate = match (ids, movie.tmdb_id) {
            (Ids::Movielens, _) => Fate::Kept(movie.id),
            (Ids::Tmdb, None) => {
                report.without_tmdb.push(movie.clone());
                Fate::WithoutTmdb
            }
            (Ids::Tmdb, Some(tmdb_id)) => {
                if tmdb_owners.insert(tmdb_id, movie.id).is_some() {
                    report.shared_tmdb.push(movie.clone());
                    Fate::SharedTmdb
                } else {
                    Fate::Kept(tmdb_id)
                }
            }
        };
        fates.insert(movie.id, fate);
    }
    let content_id = |movie: u64| match fates.get(&movie) {
        Some(Fate::Kept(id)) => Some(*id),
        _ => None,
    };

    let mut ratings = dataset.ratings;
    ratings.retain(|rating| match fates.get(&rating.movie) {
        Some(Fate::Kept(_)) => true,
        Some(Fate::WithoutTmdb) => {
            report.without_tmdb_ratings += 1;
            false
        }
        Some(Fate::SharedTmdb) => {
            report.shared_tmdb_ratings += 1;
            false
        }
        None => {
            report.unknown_ratings += 1;
            report.unknown_ids.insert(rating.movie);
            false
        }
    });
    // The latest of each (viewer, movie): after a stable sort by time, the last of its group;
    // reversed, the first, which `dedup` keeps.
    ratings.sort_by_key(|rating| (rating.user, rating.movie, rating.timestamp));
    ratings.reverse();
    let before = ratings.len();
    ratings.dedup_by_key(|rating| (rating.user, rating.movie));
    report.duplicates = (before - ratings.len()) as u64;
    order_events(&mut ratings);

    // Per movie: the sum of its stars and its number of ratings.
    let mut tallies: HashMap<u64, (f64, u64)> = HashMap::new();
    for rating in &ratings {
        let tally = tallies.entry(rating.movie).or_insert((0.0, 0));
        tally.0 += rating.stars;
        tally.1 += 1;
    }
    let mut features: HashMap<u64, (f64, f64)> = HashMap::new();
    let mut movies = Vec::new();
    for source in &dataset.movies {
        let Some(id) = content_id(source.id) else {
            continue;
        };
        let (sum, count) = tallies.get(&source.id).copied().unwrap_or((0.0, 0));
        let vote_average = if count == 0 {
            0.0
        } else {
            (2.0 * sum / count as f64).min(10.0)
        };
        let popularity = count as f64 + 0.5;
        features.insert(source.id, (vote_average, popularity));
        let mut genre_ids: Vec<u64> = Vec::new();
        for name in &source.genres {
            match movielens::tmdb_genre(name) {
                Some(genre) if !genre_ids.contains(&genre) => genre_ids.push(genre),
                Some(_) => {}
                None => *report.unmapped_genres.entry(name.clone()).or_default() += 1,
            }
        }
        movies.push(Movie {
            adult: false,
            backdrop_path: None,
            genre_ids,
            id,
            original_language: String::new(),
            original_title: source.title.clone(),
            overview: String::new(),
            popularity,
            poster_path: None,
            release_date: source.release_date.clone(),
            title: source.title.clone(),
            video: false,
            vote_average,
            vote_count: count,
        });
    }

    let mut log = Log {
        watches: Vec::with_capacity(ratings.len()),
        timestamps: Vec::with_capacity(ratings.len()),
    };
    for rating in ratings {
        let (Some(content_id), Some(&(vote_average, popularity))) =
            (content_id(rating.movie), features.get(&rating.movie))
        else {
            continue;
        };
        log.watches.push(WatchRow {
            user_id: rating.user,
            content_id,
            watch_seconds: seconds_per_star * rating.stars,
            rating: vote_average,
            popularity,
        });
        log.timestamps.push(rating.timestamp);
    }
    Imported {
        movies,
        log,
        report,
    }
}

/// Viewers by ascending id, each one's events in time order; events in the same second by
/// `sha256("{user}:{movie}")` (ascending hex is ascending bytes). `ratings` holds one rating
/// per (viewer, movie), so no two events tie.
fn order_events(ratings: &mut [Rating]) {
    ratings.sort_unstable_by_key(|rating| (rating.user, rating.timestamp));
    for run in ratings.chunk_by_mut(|a, b| (a.user, a.timestamp) == (b.user, b.timestamp)) {
        if run.len() > 1 {
            run.sort_by_cached_key(|rating| {
                Sha256::digest(format!("{}:{}", rating.user, rating.movie))
            });
        }
    }
}

/// Writes a log, with a note when it is too large for `train` to read.
fn write_log(path: &Path, log: &Log) -> Result<()> {
    let text = log.text();
    write_atomic(path, text.as_bytes())?;
    if text.len() as u64 > MAX_INPUT {
        errln!(
            "import: note: {} is {} bytes, more than the {} GiB train reads: import a smaller \
             release, or split the log",
            path.display(),
            text.len(),
            MAX_INPUT >> 30
        );
    }
    Ok(())
}

/// The counts of [`Report`] on standard error, one rule a line.
fn report(report: &Report, ids: Ids, movies_file: &str) {
    errln!(
        "import: {} duplicate ratings (the same viewer and movie again): the latest of each kept",
        report.duplicates
    );
    errln!(
        "import: {} ratings skipped: their movie id is not in {movies_file}{}",
        report.unknown_ratings,
        examples("movie ids", report.unknown_ids.iter().map(u64::to_string))
    );
    match ids {
        Ids::Movielens => errln!("import: content ids are the MovieLens movie ids"),
        Ids::Tmdb => {
            errln!("import: content ids are TMDB ids from links.csv");
            errln!(
                "import: {} movies without a tmdbId dropped, with their {} ratings{}",
                report.without_tmdb.len(),
                report.without_tmdb_ratings,
                examples("", report.without_tmdb.iter().map(describe))
            );
            errln!(
                "import: {} movies whose tmdbId an earlier movie has dropped, with their {} \
                 ratings{}",
                report.shared_tmdb.len(),
                report.shared_tmdb_ratings,
                examples(
                    "",
                    report.shared_tmdb.iter().map(|movie| format!(
                        "{} (tmdbId {})",
                        describe(movie),
                        movie.tmdb_id.unwrap_or(0)
                    ))
                )
            );
        }
    }
    if !report.unmapped_genres.is_empty() {
        let genres: Vec<String> = report
            .unmapped_genres
            .iter()
            .map(|(name, movies)| format!("{name} ({movies} movies)"))
            .collect();
        errln!(
            "import: genres TMDB has no id for, left out of genre_ids: {}",
            genres.join(", ")
        );
    }
}

/// `: movie ids 7, 9, 12, and 3 more`, or nothing for none.
fn examples(what: &str, items: impl ExactSizeIterator<Item = String>) -> String {
    let count = items.len();
    if count == 0 {
        return String::new();
    }
    let shown: Vec<String> = items.take(5).collect();
    let more = match count - shown.len() {
        0 => String::new(),
        more => format!(", and {more} more"),
    };
    let what = if what.is_empty() {
        String::new()
    } else {
        format!("{what} ")
    };
    format!(" ({what}{}{more})", shown.join(", "))
}

fn describe(movie: &SourceMovie) -> String {
    format!("movieId {} {:?}", movie.id, movie.title)
}

fn seconds_per_star(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && (0.0..=86_400.0).contains(&value) => Ok(value),
        _ => Err("expected a number of seconds from 0 to 86400 (a day per star)".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unseen_split_takes_the_whole_digest_modulo_5() {
        // Python: [u for u in range(1, 30) if int(sha256(str(u).encode()).hexdigest(), 16) % 5 == 0]
        let unseen: Vec<u64> = (1..30).filter(|&user| is_unseen(user)).collect();
        assert_eq!(unseen, EXPECTED_UNSEEN);
    }

    const EXPECTED_UNSEEN: [u64; 4] = [1, 14, 18, 24];

    #[test]
    fn a_log_written_in_chunks_is_core_s_text_with_a_timestamp_on_every_line() {
        let rows = 70_000;
        let log = Log {
            watches: (0..rows)
                .map(|index| WatchRow {
                    user_id: index / 7,
                    content_id: index % 11 + 1,
                    watch_seconds: 720.0 * (index % 10 + 1) as f64,
                    rating: 7.25,
                    popularity: 3.5,
                })
                .collect(),
            timestamps: (0..rows).map(|index| 1_000_000 + index).collect(),
        };
        let core = watch_log::write(&log.watches);
        let expected: String = std::iter::once(format!("{},timestamp\n", watch_log::HEADER))
            .chain(
                core.lines()
                    .skip(1)
                    .zip(&log.timestamps)
                    .map(|(line, timestamp)| format!("{line},{timestamp}\n")),
            )
            .collect();
        assert_eq!(log.text(), expected);
        assert_eq!(
            Log::default().text(),
            format!("{},timestamp\n", watch_log::HEADER)
        );
        assert_eq!(log.viewers(), 10_000);
    }

    #[test]
    fn the_help_states_the_limits_that_apply() {
        let thousands = |number: u64| {
            let digits = number.to_string();
            let mut text = String::new();
            for (index, digit) in digits.chars().enumerate() {
                if index > 0 && (digits.len() - index).is_multiple_of(3) {
                    text.push(',');
                }
                text.push(digit);
            }
            text
        };
        let limits = format!(
            "At most {} ratings, {} movies and {} GiB per file.",
            thousands(crate::limits::MAX_IMPORT_RATINGS),
            thousands(crate::limits::MAX_IMPORT_MOVIES),
            MAX_INPUT >> 30
        );
        assert!(HANDLING.contains(&limits), "{limits}");
    }
}
