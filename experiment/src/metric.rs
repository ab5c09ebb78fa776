//! What an experiment measures on the device, and the period that bounds a device to one
//! report.
//!
//! **The metric: did the visitor's first click of the period land in the top 3?** A click on
//! a card is what the page has for "I watched this": the visitor says a recommendation was
//! right for them. Whether the first such click in a period landed on one of the first
//! [`TOP`] cards is a question a product person asks of any recommender ("is what we put
//! first what people pick?"), it is one bit per device and period (the smallest thing to
//! protect with randomized response, so the least noise for a given ε), and with ten cards
//! shown a ranking no better than chance scores 0.3. It is measured on a device's first click
//! only, so a visitor who clicks a lot weighs no more than one who clicks once.
//!
//! What it leaves out: a visit with no click gives no report, so the metric is "among
//! periods with a click"; an arm that made people click less would not show here.

/// How many of the first cards count as the top.
pub const TOP: usize = 3;

/// A device sends at most one report per period of this many days.
pub const PERIOD_DAYS: u32 = 7;

/// The outcome of a period whose first click landed on the card at `position` (0 for the
/// first card): `true` when it was one of the first [`TOP`].
pub fn outcome(position: usize) -> bool {
    position < TOP
}

/// The period a time falls in, from milliseconds since the Unix epoch (JavaScript's
/// `Date.now()`): periods are counted from the epoch, so every device agrees on where one
/// ends, and the report carries no time at all.
pub fn period(unix_millis: f64) -> i64 {
    const MILLIS_PER_PERIOD: f64 = PERIOD_DAYS as f64 * 86_400_000.0;
    (unix_millis / MILLIS_PER_PERIOD).floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_three_cards_are_the_top() {
        assert!(outcome(0));
        assert!(outcome(2));
        assert!(!outcome(3));
        assert!(!outcome(9));
    }

    #[test]
    fn a_period_is_seven_days_from_the_epoch() {
        let day = 86_400_000.0;
        assert_eq!(period(0.0), 0);
        assert_eq!(period(7.0 * day - 1.0), 0);
        assert_eq!(period(7.0 * day), 1);
        // 2026-12-06 is day 20_793 since the epoch.
        assert_eq!(period(20_793.0 * day), 20_793 / 7);
    }
}
