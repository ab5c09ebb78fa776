//! When something happened, as RFC 3339 UTC text with microseconds: readable in a table and
//! in `history.jsonl`, and sorting as text sorts it in time.

use std::time::{SystemTime, UNIX_EPOCH};

/// The time now, as `2026-12-06T16:19:49.123456Z`.
pub fn now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format(since.as_secs(), since.subsec_micros())
}

/// `seconds` after the Unix epoch (and `micros`), as RFC 3339 UTC.
fn format(seconds: u64, micros: u32) -> String {
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format(0, 0), "1970-01-01T00:00:00.000000Z");
        // `date -u -d @951782400`: the leap day of a century year divisible by 400.
        assert_eq!(format(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        // `date -u -d @1796574589`.
        assert_eq!(format(1_796_574_589, 0), "2026-12-06T16:29:49.000000Z");
    }
}
