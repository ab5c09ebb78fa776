//! The watch log: one CSV row per watch event,
//! `user_id,content_id,watch_seconds,rating,popularity`, as the original preprocessor wrote it.
//!
//! [`parse`] reads it strictly and names the line, field and value of the first bad row;
//! [`write`] produces the same text the original did (floats unrounded, Python-style).

use std::fmt::Write as _;

/// The header line, in the original's column order.
pub const HEADER: &str = "user_id,content_id,watch_seconds,rating,popularity";

const COLUMNS: [&str; 5] = [
    "user_id",
    "content_id",
    "watch_seconds",
    "rating",
    "popularity",
];

/// One watch event of the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchRow {
    /// Who watched.
    pub user_id: u64,
    /// What was watched (a TMDB movie id).
    pub content_id: u64,
    /// How long, in seconds (non-negative).
    pub watch_seconds: f64,
    /// The movie's `vote_average` when the log was made, 0 to 10.
    pub rating: f64,
    /// The movie's `popularity` when the log was made, non-negative.
    pub popularity: f64,
}

/// A watch log that could not be read; `Display` gives `line N: ...`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchLogError {
    /// The file has no header line.
    #[error("the file is empty (expected the header {HEADER})")]
    Empty,
    /// A required column is missing from the header.
    #[error("line 1: header lacks the column {column} (expected {HEADER})")]
    MissingColumn {
        /// The missing column.
        column: &'static str,
    },
    /// A row has the wrong number of fields.
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// 1-based line number.
        line: usize,
        /// Number of header columns.
        expected: usize,
        /// Number of fields on the line.
        found: usize,
    },
    /// A field holds something that is not a valid value for it.
    #[error("line {line}: {field} '{value}' {problem}")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// Column name.
        field: &'static str,
        /// The text as found.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Parses a watch log. Columns are found by header name, so extra columns are ignored;
/// blank lines, a UTF-8 byte-order mark and CRLF line ends are accepted.
pub fn parse(text: &str) -> Result<Vec<WatchRow>, WatchLogError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            None => return Err(WatchLogError::Empty),
            Some((_, line)) if line.trim().is_empty() => continue,
            Some((_, line)) => break line,
        }
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut positions = [0usize; 5];
    for (slot, column) in positions.iter_mut().zip(COLUMNS) {
        *slot = names
            .iter()
            .position(|name| *name == column)
            .ok_or(WatchLogError::MissingColumn { column })?;
    }

    let mut rows = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(WatchLogError::FieldCount {
                line: line_number,
                expected: names.len(),
                found: fields.len(),
            });
        }
        let field = |column: usize| (COLUMNS[column], fields[positions[column]], line_number);
        rows.push(WatchRow {
            user_id: integer(field(0))?,
            content_id: integer(field(1))?,
            watch_seconds: number(field(2), 0.0, f64::MAX)?,
            rating: number(field(3), 0.0, 10.0)?,
            popularity: number(field(4), 0.0, f64::MAX)?,
        });
    }
    Ok(rows)
}

/// Writes rows under [`HEADER`], one per line, with a final newline.
pub fn write(rows: &[WatchRow]) -> String {
    let mut out = String::with_capacity(HEADER.len() + 1 + rows.len() * 40);
    out.push_str(HEADER);
    out.push('\n');
    for row in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            row.user_id,
            row.content_id,
            python_float(row.watch_seconds, true),
            python_float(row.rating, false),
            python_float(row.popularity, false)
        );
    }
    out
}

/// Shortest round-trip text, as Python's `str(float)` gives it (`7.0`, not `7`); whole
/// numbers are written without a fraction when `whole` says the column holds integers.
fn python_float(value: f64, whole: bool) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        if whole {
            format!("{}", value as i64)
        } else {
            format!("{value:.1}")
        }
    } else {
        format!("{value}")
    }
}

fn integer((field, text, line): (&'static str, &str, usize)) -> Result<u64, WatchLogError> {
    text.parse::<u64>().map_err(|_| WatchLogError::BadValue {
        line,
        field,
        value: text.to_string(),
        problem: "is not a non-negative whole number",
    })
}

fn number(
    (field, text, line): (&'static str, &str, usize),
    low: f64,
    high: f64,
) -> Result<f64, WatchLogError> {
    let bad = |problem| WatchLogError::BadValue {
        line,
        field,
        value: text.to_string(),
        problem,
    };
    let value: f64 = text.parse().map_err(|_| bad("is not a number"))?;
    if !value.is_finite() {
        return Err(bad("is not finite"));
    }
    if value < low {
        return Err(bad("is negative"));
    }
    if value > high {
        return Err(bad("is above 10"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_error(text: &str, expected: &str) {
        assert_eq!(parse(text).unwrap_err().to_string(), expected);
    }

    #[test]
    fn round_trips_the_original_format() {
        let text = "user_id,content_id,watch_seconds,rating,popularity\n\
                    1,541671,4750,7.46,192.9581\n\
                    2,803796,0,8.0,187.3919\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].content_id, 541671);
        assert_eq!(rows[1].rating, 8.0);
        assert_eq!(write(&rows), text);
    }

    #[test]
    fn accepts_crlf_bom_blank_lines_and_reordered_columns() {
        let text = "\u{feff}rating,user_id,content_id,popularity,watch_seconds,extra\r\n\r\n7.5,3,9,1.5,60,x\r\n";
        let rows = parse(text).unwrap();
        assert_eq!(
            rows,
            [WatchRow {
                user_id: 3,
                content_id: 9,
                watch_seconds: 60.0,
                rating: 7.5,
                popularity: 1.5
            }]
        );
    }

    #[test]
    fn bad_rows_name_line_field_and_value() {
        let header = "user_id,content_id,watch_seconds,rating,popularity\n";
        let ok = "1,2,3,4,5\n";
        check_error(
            &format!("{header}{ok}{ok}{ok}{ok}1,2,abc,4,5\n"),
            "line 6: watch_seconds 'abc' is not a number",
        );
        check_error(
            &format!("{header}1,2,3,4\n"),
            "line 2: expected 5 fields, found 4",
        );
        check_error(
            &format!("{header}-1,2,3,4,5\n"),
            "line 2: user_id '-1' is not a non-negative whole number",
        );
        check_error(
            &format!("{header}1,2,3,11,5\n"),
            "line 2: rating '11' is above 10",
        );
        check_error(
            &format!("{header}1,2,-3,4,5\n"),
            "line 2: watch_seconds '-3' is negative",
        );
        check_error(
            &format!("{header}1,2,NaN,4,5\n"),
            "line 2: watch_seconds 'NaN' is not finite",
        );
        check_error(
            &format!("{header}1,2,3,4,inf\n"),
            "line 2: popularity 'inf' is not finite",
        );
    }

    #[test]
    fn empty_file_and_bad_header_are_refused() {
        check_error("", &WatchLogError::Empty.to_string());
        check_error(
            "user_id,content_id,rating,popularity\n",
            "line 1: header lacks the column watch_seconds (expected user_id,content_id,watch_seconds,rating,popularity)",
        );
    }

    #[test]
    fn header_only_is_an_empty_log_not_an_error() {
        assert_eq!(parse(HEADER), Ok(vec![]));
    }
}
