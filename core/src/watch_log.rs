//! The watch log: one CSV row per watch event,
//! `user_id,content_id,watch_seconds,rating,popularity`, as the original preprocessor wrote it.
//!
//! [`parse`] reads any RFC 4180 CSV through the `csv` crate: quoted fields, extra columns in
//! any order, a UTF-8 byte-order mark, CRLF line ends and blank lines are all accepted; the
//! columns are found by header name (a column named twice is refused at the header), and
//! whitespace around names and values is ignored. It is strict about values and names the
//! line, field and value of the first bad one. [`write()`] produces the same text the original did (header,
//! unquoted numbers, integers for ids and watch seconds, other floats unrounded, Python-style).

use serde::Serialize;

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

/// A parsed log: its rows, and the line of the file each row started on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchLog {
    /// The rows, in file order.
    pub rows: Vec<WatchRow>,
    lines: Vec<u64>,
}

impl WatchLog {
    /// The 1-based line of the file on which row `index` starts.
    pub fn line(&self, index: usize) -> u64 {
        self.lines[index]
    }
}

/// A watch log that could not be read; `Display` gives `line N: ...`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchLogError {
    /// The file has no header line.
    #[error("the file is empty (expected the header {HEADER})")]
    Empty,
    /// A required column is missing from the header.
    #[error("line {line}: header lacks the column {column} (expected {HEADER})")]
    MissingColumn {
        /// 1-based line of the header.
        line: u64,
        /// The missing column.
        column: &'static str,
    },
    /// A row has the wrong number of fields.
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// 1-based line number.
        line: u64,
        /// Number of header columns.
        expected: u64,
        /// Number of fields on the line.
        found: u64,
    },
    /// A field holds something that is not a valid value for it.
    #[error("line {line}: {field} '{value}' {problem}")]
    BadValue {
        /// 1-based line number.
        line: u64,
        /// Column name.
        field: &'static str,
        /// The text as found.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A field is not UTF-8 text.
    #[error("line {line}: field {field} is not valid UTF-8 text")]
    NotUtf8 {
        /// 1-based line number.
        line: u64,
        /// 1-based position of the field on the line.
        field: u64,
    },
    /// Anything else the CSV reader reports (it names the line).
    #[error("line {line}: {message}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// The reader's description.
        message: String,
    },
}

/// One row as the original wrote it.
#[derive(Serialize)]
struct OriginalRow {
    user_id: u64,
    content_id: u64,
    watch_seconds: String,
    rating: String,
    popularity: String,
}

/// Parses a watch log (see the module docs). A header with no rows is an empty log.
pub fn parse(bytes: &[u8]) -> Result<WatchLog, WatchLogError> {
    // Fields are trimmed of whitespace as they are read, as the reader's own trimming did
    // (`str::trim`: Unicode's, a spreadsheet's no-break space too), which copied every record.
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|error| reader_error(error, &mut LineCounter::new(bytes)))?
        .clone();
    let names: Vec<&str> = headers.iter().map(str::trim).collect();
    if names.iter().all(|name| name.is_empty()) {
        return Err(WatchLogError::Empty);
    }
    let header_line = LineCounter::new(bytes).line_at(headers.position());
    if let Some(column) = COLUMNS.into_iter().find(|column| !names.contains(column)) {
        return Err(WatchLogError::MissingColumn {
            line: header_line,
            column,
        });
    }

    // Each column's place, found once: looking fields up by name on every row (serde's
    // struct from a record) cost more than the numbers' parsing on a million-row log.
    let mut at = [0; COLUMNS.len()];
    for (place, column) in at.iter_mut().zip(COLUMNS) {
        let mut found = names
            .iter()
            .enumerate()
            .filter(|(_, name)| **name == column);
        // Present: checked above.
        *place = found.next().map_or(0, |(index, _)| index);
        if found.next().is_some() {
            return Err(WatchLogError::Csv {
                line: header_line,
                message: format!("duplicate field `{column}`"),
            });
        }
    }
    let [user_id, content_id, watch_seconds, rating, popularity] = at;

    let mut log = WatchLog::default();
    let mut lines = LineCounter::new(bytes);
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|error| reader_error(error, &mut lines))?
    {
        let line = lines.line_at(record.position());
        // Every record has the header's fields (the reader refuses one that has not).
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        log.rows.push(WatchRow {
            user_id: integer("user_id", field(user_id), line)?,
            content_id: integer("content_id", field(content_id), line)?,
            watch_seconds: number("watch_seconds", field(watch_seconds), line, f64::MAX)?,
            rating: number("rating", field(rating), line, 10.0)?,
            popularity: number("popularity", field(popularity), line, f64::MAX)?,
        });
        log.lines.push(line);
    }
    Ok(log)
}

/// Writes rows under [`HEADER`], one per line, with a final newline.
pub fn write(rows: &[WatchRow]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(HEADER.len() + 1 + rows.len() * 40));
    for row in rows {
        writer
            .serialize(OriginalRow {
                user_id: row.user_id,
                content_id: row.content_id,
                watch_seconds: python_float(row.watch_seconds, true),
                rating: python_float(row.rating, false),
                popularity: python_float(row.popularity, false),
            })
            .expect("writing numbers to memory cannot fail");
    }
    if rows.is_empty() {
        return format!("{HEADER}\n");
    }
    let bytes = writer.into_inner().expect("flushing to memory cannot fail");
    String::from_utf8(bytes).expect("numbers are ASCII")
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

/// Lines from byte offsets: the reader's own line count skips blank lines, ours must not.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of a position; positions come in increasing order.
    fn line_at(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return self.line;
        };
        let mut target = (position.byte() as usize).min(self.bytes.len());
        // A record's position is where the reader started, before the blank lines it skipped.
        while matches!(self.bytes.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        if target < self.offset {
            *self = LineCounter::new(self.bytes);
        }
        let newlines = self.bytes[self.offset..target]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        self.line += newlines as u64;
        self.offset = target;
        self.line
    }
}

fn reader_error(error: csv::Error, lines: &mut LineCounter) -> WatchLogError {
    let line = lines.line_at(error.position());
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => WatchLogError::FieldCount {
            line,
            expected: *expected_len,
            found: *len,
        },
        csv::ErrorKind::Utf8 { err, .. } => WatchLogError::NotUtf8 {
            line,
            field: err.field() as u64 + 1,
        },
        _ => WatchLogError::Csv {
            line,
            message: error.to_string(),
        },
    }
}

fn integer(field: &'static str, text: &str, line: u64) -> Result<u64, WatchLogError> {
    text.parse::<u64>().map_err(|_| WatchLogError::BadValue {
        line,
        field,
        value: text.to_string(),
        problem: "is not a non-negative whole number",
    })
}

fn number(field: &'static str, text: &str, line: u64, high: f64) -> Result<f64, WatchLogError> {
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
    if value < 0.0 {
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

    fn rows(text: &str) -> Vec<WatchRow> {
        parse(text.as_bytes()).unwrap().rows
    }

    fn check_error(text: &str, expected: &str) {
        assert_eq!(parse(text.as_bytes()).unwrap_err().to_string(), expected);
    }

    #[test]
    fn round_trips_the_original_format() {
        let text = "user_id,content_id,watch_seconds,rating,popularity\n\
                    1,541671,4750,7.46,192.9581\n\
                    2,803796,0,8.0,187.3919\n";
        let parsed = rows(text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].content_id, 541671);
        assert_eq!(parsed[1].rating, 8.0);
        assert_eq!(write(&parsed), text);
        assert_eq!(write(&[]), format!("{HEADER}\n"));
    }

    #[test]
    fn quoting_spaces_extra_columns_a_bom_crlf_and_blank_lines_read_the_same_rows() {
        let plain = "user_id,content_id,watch_seconds,rating,popularity\n\
                     3,9,60,7.5,1.5\n\
                     4,10,0,8.0,2.25\n";
        let quoted = "\"user_id\",\"content_id\",watch_seconds,rating,popularity\n\
                      \"3\",\"9\",\"60\",7.5,1.5\n\
                      4,10,0,\"8.0\",2.25\n";
        let extra = "title,rating,user_id,content_id,popularity,watch_seconds,note\n\
                     \"Crimson Harbor, Part 2\",7.5,3,9,1.5,60,\"said \"\"hi\"\", then left\"\n\
                     \"A \"\"quoted\"\" title\",8.0,4,10,2.25,0,\n";
        let windows = "\u{feff}user_id,content_id,watch_seconds,rating,popularity\r\n\r\n\
                       3,9,60,7.5,1.5\r\n\r\n4,10,0,8.0,2.25\r\n";
        let spaced = " user_id , content_id,watch_seconds,\trating,popularity\u{a0}\n\
                      3 ,9,60, 7.5,1.5\u{3000}\n\
                      \t4,\" 10\",0,8.0\u{b} ,2.25\n";
        let expected = rows(plain);
        assert_eq!(expected.len(), 2);
        for text in [quoted, extra, windows, spaced] {
            assert_eq!(rows(text), expected, "{text}");
        }
    }

    #[test]
    fn a_column_named_twice_is_refused_at_the_header() {
        let text = "user_id,content_id,watch_seconds,rating,popularity,rating\n1,2,3,4,5,6\n";
        assert_eq!(
            parse(text.as_bytes()).unwrap_err(),
            WatchLogError::Csv {
                line: 1,
                message: "duplicate field `rating`".into()
            }
        );
    }

    #[test]
    fn each_row_knows_its_line_even_after_a_multi_line_field() {
        let text = "user_id,content_id,watch_seconds,rating,popularity,note\n\
                    1,2,3,4,5,\"two\nlines\"\n\n\
                    1,2,3,4,5,x\n";
        let log = parse(text.as_bytes()).unwrap();
        assert_eq!((log.line(0), log.line(1)), (2, 5));
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
        check_error(
            &format!("{header}{ok}\n\n1,\"2\",\"x y\",4,5\n"),
            "line 5: watch_seconds 'x y' is not a number",
        );
    }

    #[test]
    fn bad_utf8_is_reported_by_line_and_field() {
        let mut bytes = b"user_id,content_id,watch_seconds,rating,popularity\n1,2,3,4,5\n".to_vec();
        bytes.extend_from_slice(b"1,2,3,4,5\n1,2,\xff\xfe,4,5\n");
        assert_eq!(
            parse(&bytes).unwrap_err().to_string(),
            "line 4: field 3 is not valid UTF-8 text"
        );
    }

    #[test]
    fn empty_file_and_bad_header_are_refused() {
        check_error("", &WatchLogError::Empty.to_string());
        check_error("\n\n", &WatchLogError::Empty.to_string());
        check_error(
            "user_id,content_id,rating,popularity\n",
            "line 1: header lacks the column watch_seconds (expected user_id,content_id,watch_seconds,rating,popularity)",
        );
    }

    #[test]
    fn header_only_is_an_empty_log_not_an_error() {
        assert_eq!(parse(HEADER.as_bytes()), Ok(WatchLog::default()));
    }
}
