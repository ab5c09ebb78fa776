//! What the network learns from: pairs of (the features of one watch → a content id), made
//! for each objective, and split so that what is measured was never trained on.
//!
//! - [`Objective::Item`], the original's: each row's features → its own content id; the rows
//!   are split 64:16:20 as the original's two `train_test_split` calls did.
//! - [`Objective::CoWatch`]: each watch's features → every other movie the same viewer
//!   watched. Viewers, not rows, are split 64:16:20, so the test viewers' watches (and their
//!   held-out last ones, which `evaluate` ranks for) were never seen in training. A watch is
//!   paired with at most [`MAX_PARTNERS`] others of its viewer (a seeded choice), so the pairs
//!   grow with the log, not with the square of one viewer's history.

use std::collections::BTreeMap;

use cinerec_core::watch_log::WatchRow;
use cinerec_core::Objective;

use crate::random::Rng;
use crate::split::split;

/// The most pairs one watch takes part in as the source.
pub const MAX_PARTNERS: usize = 40;

/// Features of `rows[row]` should predict `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// Index of the watch whose features are the input.
    pub row: usize,
    /// The content id to predict.
    pub target: u64,
}

/// The pairs of each part, and the rows the scaler is fitted on (the training part's).
#[derive(Debug, Clone, PartialEq)]
pub struct Pairs {
    /// Training pairs.
    pub train: Vec<Pair>,
    /// Validation pairs (loss and accuracy per epoch).
    pub validation: Vec<Pair>,
    /// Test pairs (the model's test metrics).
    pub test: Vec<Pair>,
    /// Rows whose features the scaler is fitted on.
    pub scaler_rows: Vec<usize>,
}

/// The viewers of each part of a viewer split, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewers {
    /// 64 % of the viewers.
    pub train: Vec<u64>,
    /// 16 % of the viewers.
    pub validation: Vec<u64>,
    /// 20 % of the viewers: never trained on.
    pub test: Vec<u64>,
}

/// Splits the log's distinct viewers 64:16:20 with the seed (see [`split`]).
pub fn split_viewers(rows: &[WatchRow], seed: u64) -> Viewers {
    let mut viewers: Vec<u64> = rows.iter().map(|row| row.user_id).collect();
    viewers.sort_unstable();
    viewers.dedup();
    let parts = split(viewers.len(), seed);
    let pick = |indices: Vec<usize>| {
        let mut ids: Vec<u64> = indices.into_iter().map(|i| viewers[i]).collect();
        ids.sort_unstable();
        ids
    };
    Viewers {
        train: pick(parts.train),
        validation: pick(parts.validation),
        test: pick(parts.test),
    }
}

/// The pairs of `objective` for `rows` (see the module docs).
pub fn pairs(rows: &[WatchRow], objective: Objective, seed: u64) -> Pairs {
    // Each row paired with its own movie: the item and next objectives.
    let own = |indices: &[usize]| {
        indices
            .iter()
            .map(|&row| Pair {
                row,
                target: rows[row].content_id,
            })
            .collect()
    };
    match objective {
        Objective::Next => {
            // By time within each viewer: earlier watches train, the one before the last
            // validates, the last tests; the input is the watches before (see `next`).
            let [train, validation, test] = crate::next::split(&crate::next::viewers(rows));
            Pairs {
                train: own(&train),
                validation: own(&validation),
                test: own(&test),
                scaler_rows: train,
            }
        }
        Objective::Item => {
            let parts = split(rows.len(), seed);
            Pairs {
                train: own(&parts.train),
                validation: own(&parts.validation),
                test: own(&parts.test),
                scaler_rows: parts.train,
            }
        }
        Objective::CoWatch => {
            let viewers = split_viewers(rows, seed);
            let mut by_viewer: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for (index, row) in rows.iter().enumerate() {
                by_viewer.entry(row.user_id).or_default().push(index);
            }
            let mut rng = Rng::new(seed ^ 0xC0_4A7C);
            let mut part = |ids: &[u64]| {
                let mut pairs = Vec::new();
                for id in ids {
                    co_watched(rows, &by_viewer[id], &mut rng, &mut pairs);
                }
                pairs
            };
            Pairs {
                train: part(&viewers.train),
                validation: part(&viewers.validation),
                test: part(&viewers.test),
                scaler_rows: viewers
                    .train
                    .iter()
                    .flat_map(|id| by_viewer[id].iter().copied())
                    .collect(),
            }
        }
    }
}

/// How many pairs [`pairs`] makes for `rows`, counted without making them: what a caller
/// checks before committing memory to a log it did not write.
pub fn pair_count(rows: &[WatchRow], objective: Objective) -> u64 {
    match objective {
        Objective::Item | Objective::Next => rows.len() as u64,
        Objective::CoWatch => {
            let mut watches: BTreeMap<u64, u64> = BTreeMap::new();
            let mut same_movie: BTreeMap<(u64, u64), u64> = BTreeMap::new();
            for row in rows {
                *watches.entry(row.user_id).or_default() += 1;
                *same_movie.entry((row.user_id, row.content_id)).or_default() += 1;
            }
            rows.iter()
                .map(|row| {
                    let partners =
                        watches[&row.user_id] - same_movie[&(row.user_id, row.content_id)];
                    partners.min(MAX_PARTNERS as u64)
                })
                .sum()
        }
    }
}

/// Every watch of one viewer paired with the other movies they watched.
fn co_watched(rows: &[WatchRow], watches: &[usize], rng: &mut Rng, out: &mut Vec<Pair>) {
    let mut partners: Vec<usize> = Vec::with_capacity(watches.len());
    for &source in watches {
        partners.clear();
        partners.extend(
            watches
                .iter()
                .copied()
                .filter(|&other| rows[other].content_id != rows[source].content_id),
        );
        if partners.len() > MAX_PARTNERS {
            rng.shuffle(&mut partners);
            partners.truncate(MAX_PARTNERS);
            partners.sort_unstable();
        }
        out.extend(partners.iter().map(|&other| Pair {
            row: source,
            target: rows[other].content_id,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user_id: u64, content_id: u64) -> WatchRow {
        WatchRow {
            user_id,
            content_id,
            watch_seconds: 60.0,
            rating: 7.0,
            popularity: 1.0,
        }
    }

    #[test]
    fn item_pairs_are_each_row_and_its_own_movie_split_64_16_20() {
        let rows: Vec<WatchRow> = (0..100).map(|i| row(i % 7, 1000 + i)).collect();
        let pairs = pairs(&rows, Objective::Item, 3);
        assert_eq!(
            (pairs.train.len(), pairs.validation.len(), pairs.test.len()),
            (64, 16, 20)
        );
        assert!(pairs
            .train
            .iter()
            .all(|pair| pair.target == rows[pair.row].content_id));
        assert_eq!(
            pairs.scaler_rows,
            pairs.train.iter().map(|p| p.row).collect::<Vec<_>>()
        );
    }

    #[test]
    fn co_watch_pairs_link_other_movies_of_the_same_viewer_and_never_cross_the_split() {
        // Viewer v watches movies 10v, 10v+1, 10v+1 again and 10v+2.
        let rows: Vec<WatchRow> = (1..=50)
            .flat_map(|v| [0, 1, 1, 2].map(|m| row(v, 10 * v + m)))
            .collect();
        let pairs = pairs(&rows, Objective::CoWatch, 5);
        let viewers = split_viewers(&rows, 5);
        assert_eq!(
            (
                viewers.train.len(),
                viewers.validation.len(),
                viewers.test.len()
            ),
            (32, 8, 10)
        );
        for (part, ids) in [
            (&pairs.train, &viewers.train),
            (&pairs.validation, &viewers.validation),
            (&pairs.test, &viewers.test),
        ] {
            for pair in part {
                let source = rows[pair.row];
                assert!(ids.contains(&source.user_id), "a pair stays in its part");
                assert_eq!(pair.target / 10, source.user_id, "the same viewer's movie");
                assert_ne!(pair.target, source.content_id, "another movie");
            }
            // Each viewer: movie 0 → 1, 1, 2; each 1 → 0, 2; 2 → 0, 1, 1: 10 pairs.
            assert_eq!(part.len(), ids.len() * 10);
        }
        assert_eq!(pair_count(&rows, Objective::CoWatch), 500);
        assert_eq!(pair_count(&rows, Objective::Item), 200);
        assert!(pairs
            .scaler_rows
            .iter()
            .all(|&r| viewers.train.contains(&rows[r].user_id)));
    }

    #[test]
    fn a_long_history_pairs_each_watch_with_a_bounded_number_of_others() {
        let rows: Vec<WatchRow> = (0..500).map(|i| row(1 + i % 5, i)).collect();
        let pairs = pairs(&rows, Objective::CoWatch, 1);
        let total = pairs.train.len() + pairs.validation.len() + pairs.test.len();
        assert_eq!(total, 500 * MAX_PARTNERS);
        assert_eq!(pair_count(&rows, Objective::CoWatch), total as u64);
        assert_eq!(pairs, super::pairs(&rows, Objective::CoWatch, 1), "seeded");
    }
}
