//! The movie catalog: TMDB's `/movie/popular` entries as the crawler and the demo generator
//! write them.
//!
//! Two shapes are read: the crawler's `{"movies":[...]}` and a raw TMDB page
//! `{"page":..,"results":[...]}`. Both the original's `\uXXXX`-escaped Korean and raw UTF-8
//! are plain JSON, so both read. Entries that cannot be used (no id, a missing or impossible
//! `vote_average` or `popularity`) are skipped and counted in a [`CatalogReport`]; duplicate
//! ids keep their first occurrence, as a crawl over overlapping pages needs.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::parts::CatalogEntry;

/// One movie with TMDB's own field names and types, in TMDB's field order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    /// Adult content flag.
    pub adult: bool,
    /// Backdrop image path such as `/abc.jpg`; TMDB sends `null` for some movies.
    pub backdrop_path: Option<String>,
    /// TMDB genre ids.
    pub genre_ids: Vec<u64>,
    /// TMDB movie id: the content id everywhere in cinerec.
    pub id: u64,
    /// ISO 639-1 code of the original language.
    pub original_language: String,
    /// Title in the original language.
    pub original_title: String,
    /// Synopsis; often `""` with `language=ko-KR`.
    pub overview: String,
    /// TMDB's popularity score (unbounded, heavy-tailed, non-negative).
    pub popularity: f64,
    /// Poster image path such as `/abc.jpg`; can be `null`.
    pub poster_path: Option<String>,
    /// `YYYY-MM-DD`, or `""` when unknown.
    pub release_date: String,
    /// Localised title (falls back to the original title when untranslated).
    pub title: String,
    /// Whether the entry is a video rather than a film.
    pub video: bool,
    /// Mean vote, 0 to 10 (0 when nobody voted).
    pub vote_average: f64,
    /// Number of votes.
    pub vote_count: u64,
}

/// What [`parse`] kept and what it left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogReport {
    /// Entries seen in the input.
    pub entries: usize,
    /// Ids that appeared again after their first occurrence (the later copies were dropped).
    pub duplicates: Vec<u64>,
    /// Entries that were skipped, with the reason.
    pub skipped: Vec<SkippedMovie>,
}

/// One catalog entry that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedMovie {
    /// 1-based position of the entry in the input list.
    pub position: usize,
    /// Its id, when it had a usable one.
    pub id: Option<u64>,
    /// Why it was skipped, e.g. `vote_average 11 is outside 0..=10`.
    pub reason: String,
}

/// A catalog that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The bytes are not JSON.
    #[error("line {line}, column {column}: invalid JSON: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// JSON, but neither `{"movies":[...]}` nor `{"results":[...]}`.
    #[error("expected an object with a \"movies\" or \"results\" list, found {0}")]
    Shape(String),
}

/// Parses a catalog, skipping unusable entries and duplicate ids (see the module docs).
pub fn parse(bytes: &[u8]) -> Result<(Vec<Movie>, CatalogReport), CatalogError> {
    // Editors on Windows save JSON with a byte-order mark, which JSON itself does not allow.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let document: Value = serde_json::from_slice(bytes).map_err(|error| CatalogError::Json {
        line: error.line(),
        column: error.column(),
        message: strip_position(&error.to_string()),
    })?;
    let entries = match &document {
        Value::Object(object) => match object.get("movies").or_else(|| object.get("results")) {
            Some(Value::Array(entries)) => entries,
            Some(other) => {
                return Err(CatalogError::Shape(format!(
                    "a list field holding {}",
                    kind(other)
                )))
            }
            None => return Err(CatalogError::Shape("an object without either".into())),
        },
        Value::Array(entries) => entries,
        other => return Err(CatalogError::Shape(kind(other).into())),
    };

    let mut report = CatalogReport {
        entries: entries.len(),
        ..CatalogReport::default()
    };
    let mut seen = HashSet::new();
    let mut movies = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match movie_from_value(entry) {
            Ok(movie) => {
                if seen.insert(movie.id) {
                    movies.push(movie);
                } else {
                    report.duplicates.push(movie.id);
                }
            }
            Err((id, reason)) => report.skipped.push(SkippedMovie {
                position: index + 1,
                id,
                reason,
            }),
        }
    }
    Ok((movies, report))
}

/// The poster file name a movie gets in a posters folder: `<id>.jpg` for a TMDB poster,
/// `<id>.svg` for a generated one (no `poster_path`, or an SVG path as the demo catalog uses).
pub fn poster_file_name(id: u64, poster_path: Option<&str>) -> String {
    match poster_path {
        Some(path) if !path.ends_with(".svg") => format!("{id}.jpg"),
        _ => format!("{id}.svg"),
    }
}

/// A movie as a model's catalog keeps it (inputs become serving's plain data here, so the
/// serving half never reads the catalog format).
impl From<&Movie> for CatalogEntry {
    fn from(movie: &Movie) -> CatalogEntry {
        CatalogEntry {
            id: movie.id,
            title: movie.title.clone(),
            poster: poster_file_name(movie.id, movie.poster_path.as_deref()),
            vote_average: movie.vote_average,
            popularity: movie.popularity,
        }
    }
}

type SkipReason = (Option<u64>, String);

fn movie_from_value(value: &Value) -> Result<Movie, SkipReason> {
    let Value::Object(object) = value else {
        return Err((None, format!("entry is {}, not an object", kind(value))));
    };
    let id = match object.get("id") {
        None | Some(Value::Null) => return Err((None, "missing id".into())),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(id) if id > 0 => id,
            _ => return Err((None, format!("id {number} is not a positive integer"))),
        },
        Some(other) => return Err((None, format!("id is {}, not a number", kind(other)))),
    };
    let vote_average = number_field(object, "vote_average")
        .and_then(|v| in_range(v, "vote_average", 0.0, 10.0))
        .map_err(|reason| (Some(id), reason))?;
    let popularity = number_field(object, "popularity")
        .and_then(|v| in_range(v, "popularity", 0.0, f64::MAX))
        .map_err(|reason| (Some(id), reason))?;
    let text = |name: &str| match object.get(name) {
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    let title = text("title")
        .or_else(|| text("original_title"))
        .unwrap_or_default();
    Ok(Movie {
        adult: object
            .get("adult")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        backdrop_path: text("backdrop_path"),
        genre_ids: object
            .get("genre_ids")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default(),
        id,
        original_language: text("original_language").unwrap_or_default(),
        original_title: text("original_title").unwrap_or_else(|| title.clone()),
        overview: text("overview").unwrap_or_default(),
        popularity,
        poster_path: text("poster_path"),
        release_date: text("release_date").unwrap_or_default(),
        title,
        video: object
            .get("video")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        vote_average,
        vote_count: object
            .get("vote_count")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

fn number_field(object: &Map<String, Value>, name: &str) -> Result<f64, String> {
    match object.get(name) {
        None | Some(Value::Null) => Err(format!("missing {name}")),
        Some(Value::Number(number)) => number
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{name} {number} is not a finite number")),
        Some(other) => Err(format!("{name} is {}, not a number", kind(other))),
    }
}

fn in_range(value: f64, name: &str, low: f64, high: f64) -> Result<f64, String> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else if high == f64::MAX {
        Err(format!("{name} {value} is negative"))
    } else {
        Err(format!("{name} {value} is outside {low}..={high}"))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// serde_json appends " at line L column C"; the error already carries both as fields.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(bytes: &str) -> Vec<u64> {
        parse(bytes.as_bytes())
            .unwrap()
            .0
            .iter()
            .map(|m| m.id)
            .collect()
    }

    #[test]
    fn reads_the_crawler_shape_and_the_raw_page_shape() {
        let movie = r#"{"id":5,"title":"가","vote_average":7.1,"popularity":12.5}"#;
        assert_eq!(ids(&format!(r#"{{"movies":[{movie}]}}"#)), [5]);
        assert_eq!(
            ids(&format!(
                r#"{{"page":1,"results":[{movie}],"total_pages":40578}}"#
            )),
            [5]
        );
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let text = "\u{feff}{\"movies\":[{\"id\":5,\"vote_average\":7.1,\"popularity\":1}]}";
        assert_eq!(ids(text), [5]);
    }

    #[test]
    fn escaped_and_raw_korean_read_the_same() {
        let raw = r#"{"movies":[{"id":1,"title":"우주전쟁","vote_average":4,"popularity":1}]}"#;
        let escaped = r#"{"movies":[{"id":1,"title":"\uc6b0\uc8fc\uc804\uc7c1","vote_average":4,"popularity":1}]}"#;
        assert_eq!(
            parse(raw.as_bytes()).unwrap().0,
            parse(escaped.as_bytes()).unwrap().0
        );
    }

    #[test]
    fn keeps_the_first_of_duplicate_ids_and_counts_the_rest() {
        let text = r#"{"movies":[
            {"id":1,"title":"first","vote_average":5,"popularity":1},
            {"id":1,"title":"second","vote_average":6,"popularity":2}]}"#;
        let (movies, report) = parse(text.as_bytes()).unwrap();
        assert_eq!(movies.len(), 1);
        assert_eq!(movies[0].title, "first");
        assert_eq!(report.duplicates, [1]);
    }

    #[test]
    fn skips_unusable_entries_with_a_reason() {
        let text = r#"{"movies":[
            {"title":"no id","vote_average":5,"popularity":1},
            {"id":2,"vote_average":11,"popularity":1},
            {"id":3,"vote_average":5,"popularity":-1},
            {"id":4,"vote_average":"7.5","popularity":1},
            {"id":5,"popularity":1},
            {"id":6,"vote_average":0,"popularity":0,"poster_path":null,"release_date":""}]}"#;
        let (movies, report) = parse(text.as_bytes()).unwrap();
        assert_eq!(movies.iter().map(|m| m.id).collect::<Vec<_>>(), [6]);
        let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "missing id",
                "vote_average 11 is outside 0..=10",
                "popularity -1 is negative",
                "vote_average is a string, not a number",
                "missing vote_average",
            ]
        );
        assert_eq!(report.skipped[1].position, 2);
        assert_eq!(report.skipped[1].id, Some(2));
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let error = parse(b"{\"movies\": [\n  {\"id\": 1,,}\n]}").unwrap_err();
        assert!(error.to_string().starts_with("line 2, column "), "{error}");
        let error = parse(b"[1, 2").unwrap_err();
        assert!(matches!(error, CatalogError::Json { .. }), "{error}");
    }

    #[test]
    fn wrong_shapes_say_what_was_found() {
        assert_eq!(
            parse(br#"{"status_code":7}"#).unwrap_err().to_string(),
            "expected an object with a \"movies\" or \"results\" list, found an object without either"
        );
        assert!(parse(b"42")
            .unwrap_err()
            .to_string()
            .ends_with("found a number"));
    }

    #[test]
    fn poster_names_follow_the_poster_path() {
        assert_eq!(poster_file_name(7, Some("/abc.jpg")), "7.jpg");
        assert_eq!(poster_file_name(7, None), "7.svg");
        assert_eq!(poster_file_name(7, Some("/7.svg")), "7.svg");
    }
}
