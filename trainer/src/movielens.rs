//! Reading the MovieLens releases people have into one shape: ML-100k (`u.data`, `u.item`),
//! ML-1M and ML-10M (`ratings.dat`, `movies.dat`), ML-latest (`ratings.csv`, `movies.csv`,
//! `links.csv`) and RecBole's atomic files (`NAME.inter`, `NAME.item`).
//!
//! [`locate`] finds the files and the format from the names present; [`read`] parses them
//! strictly: the first malformed value is an error naming file, line, field and value. Text
//! is decoded as UTF-8, or as Latin-1 when a file is not valid UTF-8 (ML-100k and ML-1M are
//! Latin-1), and the [`Dataset`] says which. What the ratings mean (duplicates, unknown
//! movies, ids) is `import`'s business, not this module's.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use crate::limits::{MAX_IMPORT_MOVIES, MAX_IMPORT_RATINGS};
use crate::output;

/// The MovieLens layouts `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// ML-100k: `u.data` and `u.item`.
    #[value(name = "ml-100k")]
    Ml100k,
    /// ML-1M or ML-10M: `ratings.dat` and `movies.dat`.
    #[value(name = "ml-1m", alias = "ml-10m")]
    Ml1m,
    /// ML-latest or ML-latest-small (also ML-20M, ML-25M, ML-32M): `ratings.csv`, `movies.csv`
    /// and `links.csv`.
    #[value(name = "ml-latest")]
    MlLatest,
    /// RecBole's atomic files: `NAME.inter` and `NAME.item`.
    #[value(name = "recbole")]
    Recbole,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Ml100k => "ml-100k",
            Format::Ml1m => "ml-1m",
            Format::MlLatest => "ml-latest",
            Format::Recbole => "recbole",
        })
    }
}

/// Where a dataset's files are.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Its layout.
    pub format: Format,
    /// The ratings file.
    pub ratings: PathBuf,
    /// The movies file.
    pub movies: PathBuf,
    /// ML-latest's `links.csv`, when the folder has one.
    pub links: Option<PathBuf>,
}

/// One movie as the dataset describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMovie {
    /// The dataset's own (MovieLens) id.
    pub id: u64,
    /// TMDB's id, from `links.csv`.
    pub tmdb_id: Option<u64>,
    /// The title without its trailing ` (1995)`.
    pub title: String,
    /// `YYYY-MM-DD`, `YYYY-01-01` when only the year is known, `""` when nothing is.
    pub release_date: String,
    /// MovieLens genre names, in the file's order.
    pub genres: Vec<String>,
}

/// One rating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// Who rated.
    pub user: u64,
    /// The dataset's movie id.
    pub movie: u64,
    /// Stars, 0 to 5 (halves in ML-10M and ML-latest).
    pub stars: f64,
    /// Unix seconds.
    pub timestamp: u64,
}

/// A dataset read whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The movies, in file order; ids are unique.
    pub movies: Vec<SourceMovie>,
    /// The ratings, in file order.
    pub ratings: Vec<Rating>,
    /// One line per file read: its name, what it held and its encoding.
    pub notes: Vec<String>,
    /// What was read leniently, for standard error.
    pub warnings: Vec<String>,
}

/// Finds the dataset at `from` (a folder, or one of its files), in `format` or in the format
/// its file names show.
pub fn locate(from: &Path, format: Option<Format>) -> Result<Source> {
    let metadata =
        std::fs::metadata(from).map_err(|error| anyhow!("--from {}: {error}", from.display()))?;
    let (folder, named) = if metadata.is_dir() {
        (from.to_path_buf(), None)
    } else {
        let name = from
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        (output::parent(from), Some(name.to_string()))
    };
    let format = match format {
        Some(format) => format,
        None => match named.as_deref() {
            Some(name) => format_of_file(name).ok_or_else(|| {
                anyhow!(
                    "--from {}: not a MovieLens file name ({EXPECTED}); or give the folder, \
                     or the format with --format",
                    from.display()
                )
            })?,
            None => format_of_folder(&folder)?,
        },
    };
    let beside = |name: &str| folder.join(name);
    let (ratings, movies, links) = match format {
        Format::Ml100k => (beside("u.data"), beside("u.item"), None),
        Format::Ml1m => (beside("ratings.dat"), beside("movies.dat"), None),
        Format::MlLatest => {
            let links = beside("links.csv");
            (
                beside("ratings.csv"),
                beside("movies.csv"),
                links.exists().then_some(links),
            )
        }
        Format::Recbole => {
            let stem = match named.as_deref().and_then(recbole_stem) {
                Some(stem) => stem.to_string(),
                None => recbole_stem_in(&folder)?,
            };
            (
                beside(&format!("{stem}.inter")),
                beside(&format!("{stem}.item")),
                None,
            )
        }
    };
    for path in [&ratings, &movies] {
        if !path.exists() {
            bail!(
                "{} is missing: {format} needs {} and {} in {}",
                path.display(),
                file_name(&ratings),
                file_name(&movies),
                folder.display()
            );
        }
    }
    Ok(Source {
        format,
        ratings,
        movies,
        links,
    })
}

/// Reads the files of `source`.
pub fn read(source: &Source) -> Result<Dataset> {
    let mut notes = Vec::new();
    let mut text = |path: &Path| -> Result<String> {
        let (text, encoding) = read_text(path)?;
        notes.push(format!("{} ({encoding})", file_name(path)));
        Ok(text)
    };
    let ratings_text = text(&source.ratings)?;
    let movies_text = text(&source.movies)?;
    let links_text = match &source.links {
        Some(path) => Some(text(path)?),
        None => None,
    };
    let (ratings_path, movies_path) = (source.ratings.as_path(), source.movies.as_path());
    let mut warnings = Vec::new();
    let (mut movies, ratings) = match source.format {
        Format::Ml100k => (
            movies_100k(movies_path, &movies_text)?,
            ratings_delimited(ratings_path, &ratings_text, "\t", NAMES_100K)?,
        ),
        Format::Ml1m => (
            movies_1m(movies_path, &movies_text)?,
            ratings_delimited(ratings_path, &ratings_text, "::", NAMES_1M)?,
        ),
        Format::MlLatest => (
            movies_latest(movies_path, &movies_text)?,
            ratings_latest(ratings_path, &ratings_text)?,
        ),
        Format::Recbole => (
            movies_recbole(movies_path, &movies_text, &mut warnings)?,
            ratings_recbole(ratings_path, &ratings_text)?,
        ),
    };
    if let (Some(path), Some(text)) = (&source.links, &links_text) {
        add_links(path, text, &mut movies)?;
    }
    // Each file's note gets what it held.
    let counts = [
        format!("{} ratings", ratings.len()),
        format!("{} movies", movies.len()),
        format!(
            "a tmdbId for {} of them",
            movies
                .iter()
                .filter(|movie| movie.tmdb_id.is_some())
                .count()
        ),
    ];
    let notes = notes
        .into_iter()
        .zip(counts)
        .map(|(note, count)| format!("{note}: {count}"))
        .collect();
    Ok(Dataset {
        movies,
        ratings,
        notes,
        warnings,
    })
}

/// The TMDB genre id of a MovieLens genre name (TMDB's own names are accepted too); `None`
/// for the names TMDB has no genre for (`Film-Noir`, `IMAX`, `(no genres listed)`, `unknown`).
pub fn tmdb_genre(name: &str) -> Option<u64> {
    let id = match name {
        "Action" => 28,
        "Adventure" => 12,
        "Animation" => 16,
        "Comedy" => 35,
        "Crime" => 80,
        "Documentary" => 99,
        "Drama" => 18,
        "Children's" | "Children" | "Family" => 10751,
        "Fantasy" => 14,
        "History" => 36,
        "Horror" => 27,
        "Musical" | "Music" => 10402,
        "Mystery" => 9648,
        "Romance" => 10749,
        "Sci-Fi" | "Science Fiction" => 878,
        "Thriller" => 53,
        "War" => 10752,
        "Western" => 37,
        _ => return None,
    };
    Some(id)
}

const EXPECTED: &str = "expected u.data + u.item (ml-100k), ratings.dat + movies.dat \
                        (ml-1m, ml-10m), ratings.csv + movies.csv + links.csv (ml-latest) or \
                        NAME.inter + NAME.item (recbole)";

/// u.item's 19 genre flags, in their order.
const GENRES_100K: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The names each format's documentation gives the four rating fields.
const NAMES_100K: [&str; 4] = ["user id", "item id", "rating", "timestamp"];
const NAMES_1M: [&str; 4] = ["UserID", "MovieID", "Rating", "Timestamp"];
const NAMES_LATEST: [&str; 4] = ["userId", "movieId", "rating", "timestamp"];
const NAMES_RECBOLE: [&str; 4] = ["user_id", "item_id", "rating", "timestamp"];

fn format_of_file(name: &str) -> Option<Format> {
    match name {
        "u.data" | "u.item" => Some(Format::Ml100k),
        "ratings.dat" | "movies.dat" => Some(Format::Ml1m),
        "ratings.csv" | "movies.csv" | "links.csv" => Some(Format::MlLatest),
        _ => recbole_stem(name).map(|_| Format::Recbole),
    }
}

fn format_of_folder(folder: &Path) -> Result<Format> {
    let mut found: Vec<(Format, String)> = [
        (Format::Ml100k, "u.data"),
        (Format::Ml1m, "ratings.dat"),
        (Format::MlLatest, "ratings.csv"),
    ]
    .into_iter()
    .filter(|(_, name)| folder.join(name).exists())
    .map(|(format, name)| (format, name.to_string()))
    .collect();
    if let Some(name) = inter_files(folder)?.into_iter().next() {
        found.push((Format::Recbole, name));
    }
    match found.as_slice() {
        [(format, _)] => Ok(*format),
        [] => bail!(
            "{}: no MovieLens files found ({EXPECTED})",
            folder.display()
        ),
        several => bail!(
            "{} holds files of several formats ({}): choose one with --format",
            folder.display(),
            several
                .iter()
                .map(|(_, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `NAME` of `NAME.inter` or `NAME.item`.
fn recbole_stem(name: &str) -> Option<&str> {
    name.strip_suffix(".inter")
        .or_else(|| name.strip_suffix(".item"))
        .filter(|stem| !stem.is_empty())
}

fn recbole_stem_in(folder: &Path) -> Result<String> {
    let inter = inter_files(folder)?;
    match inter.as_slice() {
        [name] => Ok(recbole_stem(name).unwrap_or_default().to_string()),
        [] => bail!("{}: no NAME.inter file found", folder.display()),
        several => bail!(
            "{} holds several .inter files ({}): give one with --from",
            folder.display(),
            several.join(", ")
        ),
    }
}

/// The `*.inter` file names of a folder, sorted.
fn inter_files(folder: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(folder)
        .map_err(|error| anyhow!("listing {}: {error}", folder.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|name| name.ends_with(".inter") && recbole_stem(name).is_some())
        .collect();
    names.sort();
    Ok(names)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// How a file's bytes became text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Utf8,
    Latin1,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Latin1 => "Latin-1, not valid UTF-8",
        })
    }
}

/// A file as text: UTF-8 (a byte-order mark dropped), else Latin-1, where every byte is the
/// character of the same number.
fn read_text(path: &Path) -> Result<(String, Encoding)> {
    let bytes = output::read(path)?;
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    Ok(match String::from_utf8(bytes) {
        Ok(text) => (text, Encoding::Utf8),
        Err(error) => (
            error
                .into_bytes()
                .iter()
                .map(|&byte| char::from(byte))
                .collect(),
            Encoding::Latin1,
        ),
    })
}

/// A line of a file, for error messages.
#[derive(Clone, Copy)]
struct Place<'a> {
    path: &'a Path,
    line: u64,
}

impl Place<'_> {
    fn error(&self, message: impl fmt::Display) -> anyhow::Error {
        anyhow!("{}: line {}: {message}", self.path.display(), self.line)
    }

    fn bad(&self, field: &str, value: &str, problem: &str) -> anyhow::Error {
        self.error(format_args!("{field} '{value}' {problem}"))
    }

    /// A positive whole number (ids: TMDB and the catalog have no id 0).
    fn id(&self, field: &str, text: &str) -> Result<u64> {
        match text.trim().parse::<u64>() {
            Ok(id) if id > 0 => Ok(id),
            _ => Err(self.bad(field, text, "is not a positive whole number")),
        }
    }

    fn stars(&self, field: &str, text: &str) -> Result<f64> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| self.bad(field, text, "is not a number"))?;
        if !(0.0..=5.0).contains(&value) {
            return Err(self.bad(field, text, "is not a rating from 0 to 5"));
        }
        Ok(value)
    }

    /// Unix seconds; RecBole writes them as floats (`881250949.0`).
    fn timestamp(&self, field: &str, text: &str) -> Result<u64> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(seconds);
        }
        match text.parse::<f64>() {
            Ok(value) if value.fract() == 0.0 && (0.0..9.0e15).contains(&value) => Ok(value as u64),
            _ => Err(self.bad(field, text, "is not a non-negative whole number of seconds")),
        }
    }

    /// Exactly `expected` fields separated by `separator`.
    fn fields<'t>(&self, line: &'t str, separator: &str, expected: usize) -> Result<Vec<&'t str>> {
        let fields: Vec<&str> = line.split(separator).collect();
        if fields.len() != expected {
            return Err(self.error(format_args!(
                "expected {expected} fields separated by '{}', found {}",
                separator.escape_default(),
                fields.len()
            )));
        }
        Ok(fields)
    }
}

/// The non-blank lines of `text` with their 1-based numbers, line ends (`\n`, `\r\n`) removed.
fn lines<'t>(path: &'t Path, text: &'t str) -> impl Iterator<Item = (Place<'t>, &'t str)> {
    text.split('\n')
        .enumerate()
        .map(move |(index, line)| {
            let place = Place {
                path,
                line: index as u64 + 1,
            };
            (place, line.strip_suffix('\r').unwrap_or(line))
        })
        .filter(|(_, line)| !line.trim().is_empty())
}

/// An upper bound on the rows of `text`, to allocate the ratings once.
fn line_count(text: &str) -> usize {
    (text.bytes().filter(|&byte| byte == b'\n').count() + 1).min(MAX_IMPORT_RATINGS as usize)
}

/// Adds a rating, within [`MAX_IMPORT_RATINGS`].
fn push_rating(
    ratings: &mut Vec<Rating>,
    place: Place,
    names: [&str; 4],
    values: [&str; 4],
) -> Result<()> {
    if ratings.len() as u64 >= MAX_IMPORT_RATINGS {
        return Err(place.error(format_args!(
            "more than the {MAX_IMPORT_RATINGS} ratings an import may have"
        )));
    }
    ratings.push(Rating {
        user: place.id(names[0], values[0])?,
        movie: place.id(names[1], values[1])?,
        stars: place.stars(names[2], values[2])?,
        timestamp: place.timestamp(names[3], values[3])?,
    });
    Ok(())
}

/// The movies read so far, refusing an id seen before and more than [`MAX_IMPORT_MOVIES`].
#[derive(Default)]
struct Movies {
    list: Vec<SourceMovie>,
    lines: HashMap<u64, u64>,
}

impl Movies {
    /// Adds a movie: the release date is `date`, else the first of January of the title's year.
    fn add(
        &mut self,
        place: Place,
        field: &str,
        id: &str,
        title: &str,
        date: String,
        genres: Vec<String>,
    ) -> Result<()> {
        let id = place.id(field, id)?;
        if let Some(first) = self.lines.insert(id, place.line) {
            return Err(place.error(format_args!(
                "{field} {id} appears again (first on line {first})"
            )));
        }
        if self.list.len() as u64 >= MAX_IMPORT_MOVIES {
            return Err(place.error(format_args!(
                "more than the {MAX_IMPORT_MOVIES} movies an import may have"
            )));
        }
        let (title, year) = split_title(title);
        let release_date = if date.is_empty() {
            year.map(|year| format!("{year}-01-01")).unwrap_or_default()
        } else {
            date
        };
        self.list.push(SourceMovie {
            id,
            tmdb_id: None,
            title,
            release_date,
            genres,
        });
        Ok(())
    }

    /// A movie of ML-1M, ML-10M or ML-latest: the date from the title, genres split at `|`.
    fn add_with_pipes(
        &mut self,
        place: Place,
        field: &str,
        id: &str,
        title: &str,
        genres: &str,
    ) -> Result<()> {
        let genres = genres
            .split('|')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        self.add(place, field, id, title, String::new(), genres)
    }
}

/// `Toy Story (1995)` → (`Toy Story`, 1995); `Babylon 5 (1994-1998)` → (`Babylon 5`, 1994);
/// a title without a year is kept whole.
fn split_title(text: &str) -> (String, Option<&str>) {
    let text = text.trim();
    let year = text
        .strip_suffix(')')
        .and_then(|rest| rest.rfind('(').map(|open| (open, &rest[open + 1..])))
        .filter(|(open, inside)| {
            *open > 0
                && inside.len() >= 4
                && inside.is_char_boundary(4)
                && inside[..4].bytes().all(|byte| byte.is_ascii_digit())
                && inside[4..]
                    .chars()
                    .all(|c| c == '-' || c == '–' || c.is_ascii_digit())
        });
    match year {
        Some((open, inside)) => (text[..open].trim_end().to_string(), Some(&inside[..4])),
        None => (text.to_string(), None),
    }
}

/// `01-Jan-1995` → `1995-01-01`.
fn date_100k(place: Place, text: &str) -> Result<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.trim().split('-').collect();
    if let [day, month, year] = parts.as_slice() {
        let month = MONTHS
            .iter()
            .position(|name| name.eq_ignore_ascii_case(month));
        let digits = |text: &str, width: usize| {
            text.len() == width && text.bytes().all(|byte| byte.is_ascii_digit())
        };
        if let (Some(month), true, true) = (month, digits(day, 2), digits(year, 4)) {
            return Ok(format!("{year}-{:02}-{day}", month + 1));
        }
    }
    Err(place.bad("release date", text, "is not a date like 01-Jan-1995"))
}

fn movies_100k(path: &Path, text: &str) -> Result<Vec<SourceMovie>> {
    let mut movies = Movies::default();
    for (place, line) in lines(path, text) {
        let fields = place.fields(line, "|", 5 + GENRES_100K.len())?;
        let date = match fields[2].trim() {
            "" => String::new(),
            date => date_100k(place, date)?,
        };
        let mut genres = Vec::new();
        for (flag, name) in fields[5..].iter().zip(GENRES_100K) {
            match flag.trim() {
                "0" => {}
                "1" => genres.push(name.to_string()),
                _ => return Err(place.bad(&format!("genre flag {name}"), flag, "is not 0 or 1")),
            }
        }
        movies.add(place, "movie id", fields[0], fields[1], date, genres)?;
    }
    Ok(movies.list)
}

fn movies_1m(path: &Path, text: &str) -> Result<Vec<SourceMovie>> {
    let mut movies = Movies::default();
    for (place, line) in lines(path, text) {
        // The title sits between the first and the last separator, whatever it holds.
        let (Some((id, rest)), Some((_, genres))) = (line.split_once("::"), line.rsplit_once("::"))
        else {
            return Err(place.error("expected MovieID::Title::Genres"));
        };
        let Some((title, _)) = rest.rsplit_once("::") else {
            return Err(place.error("expected MovieID::Title::Genres"));
        };
        movies.add_with_pipes(place, "MovieID", id, title, genres)?;
    }
    Ok(movies.list)
}

fn ratings_delimited(
    path: &Path,
    text: &str,
    separator: &str,
    names: [&str; 4],
) -> Result<Vec<Rating>> {
    let mut ratings = Vec::with_capacity(line_count(text));
    for (place, line) in lines(path, text) {
        let fields = place.fields(line, separator, 4)?;
        push_rating(
            &mut ratings,
            place,
            names,
            [fields[0], fields[1], fields[2], fields[3]],
        )?;
    }
    Ok(ratings)
}

/// Calls `row` with the values of `columns` (found by header name) of every record of an
/// RFC 4180 CSV file.
fn each_csv_row<const N: usize>(
    path: &Path,
    text: &str,
    columns: [&str; N],
    mut row: impl FnMut(Place, [&str; N]) -> Result<()>,
) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let mut lines = LineCounter::new(text);
    let csv_error = |error: csv::Error, lines: &mut LineCounter| {
        let line = lines.line_at(
            error
                .position()
                .map_or(text.len() as u64, csv::Position::byte),
        );
        let place = Place { path, line };
        match error.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => place.error(format_args!("expected {expected_len} fields, found {len}")),
            _ => place.error(error),
        }
    };
    let headers = reader
        .headers()
        .map_err(|error| csv_error(error, &mut LineCounter::new(text)))?
        .clone();
    let mut indexes = [0; N];
    for (index, column) in indexes.iter_mut().zip(columns) {
        *index = headers
            .iter()
            .position(|name| name.trim() == column)
            .ok_or_else(|| {
                anyhow!(
                    "{}: line 1: header lacks the column {column} (expected {})",
                    path.display(),
                    columns.join(",")
                )
            })?;
    }
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|error| csv_error(error, &mut lines))?
    {
        let line = lines.line_at(record.position().map_or(0, csv::Position::byte));
        row(
            Place { path, line },
            indexes.map(|index| record.get(index).unwrap_or("")),
        )?;
    }
    Ok(())
}

/// Lines from byte offsets, counted as they increase: a CSV reader's own count skips blank
/// lines, and a record's position is where the reader started, before the blank lines.
struct LineCounter<'t> {
    text: &'t [u8],
    offset: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> LineCounter<'t> {
        LineCounter {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        if target > self.offset {
            self.line += self.text[self.offset..target]
                .iter()
                .filter(|&&byte| byte == b'\n')
                .count() as u64;
            self.offset = target;
        }
        self.line
    }
}

fn movies_latest(path: &Path, text: &str) -> Result<Vec<SourceMovie>> {
    let mut movies = Movies::default();
    each_csv_row(
        path,
        text,
        ["movieId", "title", "genres"],
        |place, [id, title, genres]| movies.add_with_pipes(place, "movieId", id, title, genres),
    )?;
    Ok(movies.list)
}

fn ratings_latest(path: &Path, text: &str) -> Result<Vec<Rating>> {
    let mut ratings = Vec::with_capacity(line_count(text));
    each_csv_row(path, text, NAMES_LATEST, |place, values| {
        push_rating(&mut ratings, place, NAMES_LATEST, values)
    })?;
    Ok(ratings)
}

/// Gives each movie the `tmdbId` of `links.csv` (empty: none).
fn add_links(path: &Path, text: &str, movies: &mut [SourceMovie]) -> Result<()> {
    let positions: HashMap<u64, usize> = movies
        .iter()
        .enumerate()
        .map(|(index, movie)| (movie.id, index))
        .collect();
    let mut lines = HashMap::new();
    each_csv_row(path, text, ["movieId", "tmdbId"], |place, [id, tmdb_id]| {
        let id = place.id("movieId", id)?;
        if let Some(first) = lines.insert(id, place.line) {
            return Err(place.error(format_args!(
                "movieId {id} appears again (first on line {first})"
            )));
        }
        let tmdb_id = match tmdb_id.trim() {
            "" => None,
            text => Some(place.id("tmdbId", text)?),
        };
        // A link for a movie movies.csv lacks changes nothing.
        if let Some(&index) = positions.get(&id) {
            movies[index].tmdb_id = tmdb_id;
        }
        Ok(())
    })
}

/// A RecBole atomic file: its header's columns by name (the part before the colon), and its
/// rows split at tabs.
struct Atomic<'t> {
    path: &'t Path,
    columns: Vec<&'t str>,
    rows: Vec<(Place<'t>, Vec<&'t str>)>,
}

impl<'t> Atomic<'t> {
    fn parse(path: &'t Path, text: &'t str) -> Result<Atomic<'t>> {
        let mut lines = lines(path, text);
        let Some((_, header)) = lines.next() else {
            bail!(
                "{}: the file is empty (expected a header line)",
                path.display()
            );
        };
        let columns: Vec<&str> = header
            .split('\t')
            .map(|column| column.split(':').next().unwrap_or("").trim())
            .collect();
        let rows = lines
            .map(|(place, line)| Ok((place, place.fields(line, "\t", columns.len())?)))
            .collect::<Result<_>>()?;
        Ok(Atomic {
            path,
            columns,
            rows,
        })
    }

    /// The position of the first of `names` the header has.
    fn column(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|name| self.columns.iter().position(|column| column == name))
    }

    fn required(&self, name: &str) -> Result<usize> {
        self.column(&[name]).ok_or_else(|| {
            anyhow!(
                "{}: line 1: header lacks the column {name} (found {})",
                self.path.display(),
                self.columns.join(", ")
            )
        })
    }
}

/// RecBole's `release_year` is a token: ML-100k's copy has `unkonwn` for one movie, whose date
/// is then unknown, as u.item has it; `warnings` gets the count.
fn movies_recbole(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<Vec<SourceMovie>> {
    let file = Atomic::parse(path, text)?;
    let id = file.required("item_id")?;
    let title = file.column(&["movie_title", "title"]);
    let year = file.column(&["release_year", "year"]);
    let genres = file.column(&["class", "genre", "genres"]);
    let mut movies = Movies::default();
    let mut not_years = Vec::new();
    for (place, fields) in &file.rows {
        let get = |column: Option<usize>| column.map_or("", |column| fields[column].trim());
        let date = match get(year) {
            "" => String::new(),
            year if year.len() == 4 && year.bytes().all(|byte| byte.is_ascii_digit()) => {
                format!("{year}-01-01")
            }
            other => {
                not_years.push(format!("'{other}' on line {}", place.line));
                String::new()
            }
        };
        let genres = get(genres).split_whitespace().map(str::to_string).collect();
        movies.add(*place, "item_id", fields[id], get(title), date, genres)?;
    }
    if !not_years.is_empty() {
        let count = not_years.len();
        not_years.truncate(5);
        warnings.push(format!(
            "{}: {count} release_year values are not years ({}): their release_date comes from the title's year, if any",
            file_name(path),
            not_years.join(", ")
        ));
    }
    Ok(movies.list)
}

fn ratings_recbole(path: &Path, text: &str) -> Result<Vec<Rating>> {
    let file = Atomic::parse(path, text)?;
    let mut columns = [0; 4];
    for (column, name) in columns.iter_mut().zip(NAMES_RECBOLE) {
        *column = file.required(name)?;
    }
    let mut ratings = Vec::with_capacity(line_count(text));
    for (place, fields) in &file.rows {
        let values = columns.map(|column| fields[column]);
        push_rating(&mut ratings, *place, NAMES_RECBOLE, values)?;
    }
    Ok(ratings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_lose_their_trailing_year_only() {
        let check = |text: &str, title: &str, year: Option<&str>| {
            assert_eq!(split_title(text), (title.to_string(), year), "{text}");
        };
        check("Toy Story (1995)", "Toy Story", Some("1995"));
        check("Seven (Se7en) (1995) ", "Seven (Se7en)", Some("1995"));
        check("Babylon 5 (1994-1998)", "Babylon 5", Some("1994"));
        check("Babylon 5", "Babylon 5", None);
        check("(1995)", "(1995)", None);
        check("Nikita (La Femme Nikita)", "Nikita (La Femme Nikita)", None);
        check("Café (19é5)", "Café (19é5)", None);
    }

    #[test]
    fn dates_of_u_item_become_iso_dates() {
        let place = Place {
            path: Path::new("u.item"),
            line: 3,
        };
        assert_eq!(date_100k(place, "01-Jan-1995").unwrap(), "1995-01-01");
        assert_eq!(date_100k(place, "24-Dec-1997").unwrap(), "1997-12-24");
        assert_eq!(
            date_100k(place, "1995").unwrap_err().to_string(),
            "u.item: line 3: release date '1995' is not a date like 01-Jan-1995"
        );
    }

    #[test]
    fn timestamps_may_be_whole_floats() {
        let place = Place {
            path: Path::new("a.inter"),
            line: 2,
        };
        assert_eq!(
            place.timestamp("timestamp", "881250949.0").unwrap(),
            881250949
        );
        assert!(place.timestamp("timestamp", "881250949.5").is_err());
        assert!(place.timestamp("timestamp", "-1").is_err());
        assert!(place.timestamp("timestamp", "NaN").is_err());
    }

    #[test]
    fn latin_1_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"Caf\xe9").unwrap();
        assert_eq!(
            read_text(&path).unwrap(),
            ("Café".to_string(), Encoding::Latin1)
        );
        std::fs::write(&path, "\u{feff}Café").unwrap();
        assert_eq!(
            read_text(&path).unwrap(),
            ("Café".to_string(), Encoding::Utf8)
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn no_reader_panics_on_any_text(
                text in "[0-9a-z:|,\t\n\r\"()é. _-]{0,300}",
                header in prop::sample::select(vec![
                    "",
                    "movieId,title,genres\n",
                    "userId,movieId,rating,timestamp\n",
                    "movieId,imdbId,tmdbId\n",
                    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n",
                    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n",
                ]),
            ) {
                let text = format!("{header}{text}");
                let path = Path::new("x");
                let _ = movies_100k(path, &text);
                let _ = movies_1m(path, &text);
                let _ = movies_latest(path, &text);
                let _ = movies_recbole(path, &text, &mut Vec::new());
                let _ = ratings_delimited(path, &text, "\t", NAMES_100K);
                let _ = ratings_delimited(path, &text, "::", NAMES_1M);
                let _ = ratings_latest(path, &text);
                let _ = ratings_recbole(path, &text);
                let mut movies = movies_latest(path, "movieId,title,genres\n1,a,b\n").unwrap();
                let _ = add_links(path, &text, &mut movies);
                let _ = split_title(&text);
            }
        }
    }
}
