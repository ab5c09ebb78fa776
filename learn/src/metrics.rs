//! Quality measures: accuracy and top-k on classified pairs, and HitRate@k and NDCG@k of a
//! ranking on each viewer's held-out last watch, beside three baselines: random, popularity
//! (most watched first) and co-visitation (the classic item-to-item recommender: movies
//! watched by the viewers of what you watched).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use cinerec_core::watch_log::WatchRow;
use cinerec_core::{feature_row, LabelEncoder, Mlp, Scaler, TestMetrics, WatchEvent};

use crate::random::Rng;

/// Accuracy and top-10 of the serving forward pass on (watch, content id to predict) pairs:
/// the watch's own rating, popularity and watch time go in. A content id that is not a class
/// counts as a miss.
///
/// The pairs are measured on two threads, half each (a test split of a million-row log is
/// 200,000 forward passes; this runs after training, when the machine is otherwise idle).
/// The hits are whole numbers added up, so the figures are the same on any machine.
pub fn classification<'a>(
    mlp: &Mlp,
    scaler: &Scaler,
    labels: &LabelEncoder,
    pairs: impl IntoIterator<Item = (&'a WatchRow, u64)>,
) -> TestMetrics {
    let pairs: Vec<(&WatchRow, u64)> = pairs.into_iter().collect();
    let (first, second) = pairs.split_at(pairs.len() / 2);
    let ([top1, top10], [other1, other10]) = std::thread::scope(|scope| {
        let other = scope.spawn(|| hits(mlp, scaler, labels, second));
        let mine = hits(mlp, scaler, labels, first);
        (mine, other.join().expect("the measuring thread finished"))
    });
    let share = |hits: usize| hits as f64 / pairs.len().max(1) as f64;
    TestMetrics {
        accuracy: share(top1 + other1),
        top10: share(top10 + other10),
        rows: pairs.len() as u64,
    }
}

/// How many of `pairs` have their content id first, and among the first ten.
fn hits(
    mlp: &Mlp,
    scaler: &Scaler,
    labels: &LabelEncoder,
    pairs: &[(&WatchRow, u64)],
) -> [usize; 2] {
    let (mut top1, mut top10) = (0usize, 0usize);
    // One buffer for every pair: a test split can be millions of pairs over thousands of
    // classes, far too many probabilities to keep.
    let mut probabilities = vec![0.0; labels.len()];
    for &(row, content_id) in pairs {
        let Some(target) = labels.index_of(content_id) else {
            continue; // not a class: a miss
        };
        let features = scaler.transform(feature_row(row.rating, row.popularity, row.watch_seconds));
        mlp.probabilities(&features, &mut probabilities);
        let ahead = rank_of(&probabilities, target);
        top1 += usize::from(ahead < 1);
        top10 += usize::from(ahead < 10);
    }
    [top1, top10]
}

/// How many classes rank ahead of `target`: more probable, or as probable with a lower class
/// index, as the ranking breaks ties (classes are in ascending content-id order).
fn rank_of(probabilities: &[f32], target: usize) -> usize {
    let p = probabilities[target];
    probabilities
        .iter()
        .enumerate()
        .filter(|&(j, &q)| q > p || (q == p && j < target))
        .count()
}

/// One user's case for leave-last-out: everything they watched before, and what came last.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// The user.
    pub user_id: u64,
    /// Their watches in log order, without the last one.
    pub history: Vec<WatchEvent>,
    /// The content id of their last watch.
    pub target: u64,
    /// The index of that last watch in the log.
    pub row: usize,
}

/// One case per user, in user-id order. A user whose last watch repeats an earlier one is
/// left out: a ranking never recommends what was already watched, so no ranker could hit it.
pub fn leave_last_out(rows: &[WatchRow]) -> Vec<HeldOut> {
    let mut by_user: BTreeMap<u64, Vec<(usize, &WatchRow)>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        by_user.entry(row.user_id).or_default().push((index, row));
    }
    by_user
        .into_iter()
        .filter_map(|(user_id, watches)| {
            let (&(index, last), earlier) = watches.split_last()?;
            let earlier: Vec<&WatchRow> = earlier.iter().map(|(_, row)| *row).collect();
            if earlier.iter().any(|row| row.content_id == last.content_id) {
                return None;
            }
            Some(HeldOut {
                user_id,
                history: earlier
                    .iter()
                    .map(|row| WatchEvent {
                        content_id: row.content_id,
                        watch_seconds: row.watch_seconds,
                    })
                    .collect(),
                target: last.content_id,
                row: index,
            })
        })
        .collect()
}

/// The rows a baseline may learn from when `cases` are measured: every row but their
/// held-out last watches.
pub fn without_held_out(rows: &[WatchRow], cases: &[HeldOut]) -> Vec<WatchRow> {
    let held_out: HashSet<usize> = cases.iter().map(|case| case.row).collect();
    rows.iter()
        .enumerate()
        .filter(|(index, _)| !held_out.contains(index))
        .map(|(_, row)| *row)
        .collect()
}

/// Test figures read off rankings (content ids, best first): the share of targets ranked
/// first, and ranked in the top 10. What a next-watch model reports, in training and in
/// `evaluate`, since it has no one-watch classification.
pub fn ranked_test_metrics<'a>(
    targets_and_rankings: impl IntoIterator<Item = (u64, &'a [u64])>,
) -> TestMetrics {
    let (mut first, mut top10, mut rows) = (0usize, 0usize, 0usize);
    for (target, ranked) in targets_and_rankings {
        first += usize::from(ranked.first() == Some(&target));
        top10 += usize::from(ranked.iter().take(10).any(|&id| id == target));
        rows += 1;
    }
    let n = rows.max(1) as f64;
    TestMetrics {
        accuracy: first as f64 / n,
        top10: top10 as f64 / n,
        rows: rows as u64,
    }
}

/// HitRate@k and NDCG@k of one ranker over a set of cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingQuality {
    /// Cases (users) measured.
    pub users: usize,
    /// Fraction of users whose held-out watch is in the top k.
    pub hit_rate: f64,
    /// Mean of `1 / log2(position + 1)` for a hit at 1-based `position`, 0 for a miss.
    pub ndcg: f64,
    /// Standard error of `hit_rate` (the deviation over users, over the square root of their
    /// number): differences of a few of these are noise.
    pub hit_rate_se: f64,
    /// Standard error of `ndcg`.
    pub ndcg_se: f64,
}

/// One case's score: whether the held-out watch is in the top k, and its NDCG gain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseScore {
    /// 1 for a hit in the top k, 0 for a miss.
    pub hit: f64,
    /// `1 / log2(position + 1)` for a hit at 1-based `position`, 0 for a miss.
    pub gain: f64,
}

/// Scores each case's ranking (content ids best first; only the first `k` count): what
/// [`ranking_quality`] averages, and what a paired comparison of two rankers on the same
/// cases subtracts.
pub fn case_scores(
    cases: &[HeldOut],
    k: usize,
    rankings: impl IntoIterator<Item = Vec<u64>>,
) -> Vec<CaseScore> {
    cases
        .iter()
        .zip(rankings)
        .map(|(case, ranked)| {
            let position = ranked.iter().take(k).position(|&id| id == case.target);
            CaseScore {
                hit: if position.is_some() { 1.0 } else { 0.0 },
                gain: position.map_or(0.0, |p| 1.0 / ((p + 2) as f64).log2()),
            }
        })
        .collect()
}

/// Measures a ranker: `rankings` gives, for each case in order, content ids best first (at
/// least `k` of them where possible; only the first `k` count).
pub fn ranking_quality(
    cases: &[HeldOut],
    k: usize,
    rankings: impl IntoIterator<Item = Vec<u64>>,
) -> RankingQuality {
    let scores = case_scores(cases, k, rankings);
    let hits: Vec<f64> = scores.iter().map(|score| score.hit).collect();
    let gains: Vec<f64> = scores.iter().map(|score| score.gain).collect();
    let (hit_rate, hit_rate_se) = mean_and_standard_error(&hits);
    let (ndcg, ndcg_se) = mean_and_standard_error(&gains);
    RankingQuality {
        users: cases.len(),
        hit_rate,
        ndcg,
        hit_rate_se,
        ndcg_se,
    }
}

/// The mean of `values` and its standard error (0 and 0 for none; error 0 for one).
pub fn mean_and_standard_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (variance / n).sqrt())
}

/// Candidates ordered by how often they were watched in `rows` (most first, ties by id).
pub fn popularity_order(rows: &[WatchRow], candidates: &[u64]) -> Vec<u64> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for row in rows {
        *counts.entry(row.content_id).or_default() += 1;
    }
    let mut order = candidates.to_vec();
    order.sort_by_key(|id| (std::cmp::Reverse(counts.get(id).copied().unwrap_or(0)), *id));
    order
}

/// The popularity baseline: the most watched candidates the user has not watched.
pub fn popularity_baseline(cases: &[HeldOut], order: &[u64], k: usize) -> RankingQuality {
    let rankings = cases
        .iter()
        .map(|case| unwatched(order.iter().copied(), case, k));
    ranking_quality(cases, k, rankings)
}

/// The random baseline: a fresh seeded shuffle of the candidates for each user.
pub fn random_baseline(
    cases: &[HeldOut],
    candidates: &[u64],
    k: usize,
    seed: u64,
) -> RankingQuality {
    let mut rng = Rng::new(seed);
    let mut order = candidates.to_vec();
    let rankings = cases.iter().map(|case| {
        rng.shuffle(&mut order);
        unwatched(order.iter().copied(), case, k)
    });
    ranking_quality(cases, k, rankings)
}

/// The co-visitation baseline: a candidate's score is, summed over the distinct movies of the
/// history, the number of viewers in `counted` who watched both; ties go to the more watched
/// movie, then the lower id. What a history shares with no one falls back to popularity.
pub fn co_visitation_baseline(
    cases: &[HeldOut],
    counted: &[WatchRow],
    candidates: &[u64],
    k: usize,
) -> RankingQuality {
    let mut viewers_of: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut movies_of: HashMap<u64, Vec<u64>> = HashMap::new();
    for row in counted {
        viewers_of
            .entry(row.content_id)
            .or_default()
            .push(row.user_id);
        movies_of
            .entry(row.user_id)
            .or_default()
            .push(row.content_id);
    }
    for list in viewers_of.values_mut().chain(movies_of.values_mut()) {
        list.sort_unstable();
        list.dedup();
    }
    let popularity: HashMap<u64, usize> = viewers_of
        .iter()
        .map(|(movie, viewers)| (*movie, viewers.len()))
        .collect();
    let rankings = cases.iter().map(|case| {
        let mut history: Vec<u64> = case.history.iter().map(|e| e.content_id).collect();
        history.sort_unstable();
        history.dedup();
        let mut together: HashMap<u64, usize> = HashMap::new();
        for movie in &history {
            for viewer in viewers_of.get(movie).into_iter().flatten() {
                for other in &movies_of[viewer] {
                    *together.entry(*other).or_default() += 1;
                }
            }
        }
        unwatched(by_count(candidates, &together, &popularity), case, k)
    });
    ranking_quality(cases, k, rankings)
}

/// The first-order transition baseline: a candidate's score is how often, in `counted`, a
/// viewer watched it right after the history's last movie (rows of a viewer in log order);
/// ties and a last movie never followed go to popularity, then the lower id.
pub fn transition_baseline(
    cases: &[HeldOut],
    counted: &[WatchRow],
    candidates: &[u64],
    k: usize,
) -> RankingQuality {
    let mut last_of: HashMap<u64, u64> = HashMap::new();
    let mut after: HashMap<u64, HashMap<u64, usize>> = HashMap::new();
    let mut popularity: HashMap<u64, usize> = HashMap::new();
    for row in counted {
        if let Some(previous) = last_of.insert(row.user_id, row.content_id) {
            *after
                .entry(previous)
                .or_default()
                .entry(row.content_id)
                .or_default() += 1;
        }
        *popularity.entry(row.content_id).or_default() += 1;
    }
    let nothing = HashMap::new();
    let rankings = cases.iter().map(|case| {
        let next = case
            .history
            .last()
            .and_then(|e| after.get(&e.content_id))
            .unwrap_or(&nothing);
        unwatched(by_count(candidates, next, &popularity), case, k)
    });
    ranking_quality(cases, k, rankings)
}

/// The candidates by `count`, most first; ties by `popularity`, then the lower id.
fn by_count(
    candidates: &[u64],
    count: &HashMap<u64, usize>,
    popularity: &HashMap<u64, usize>,
) -> impl Iterator<Item = u64> {
    let of = |map: &HashMap<u64, usize>, id: &u64| map.get(id).copied().unwrap_or(0);
    let mut order = candidates.to_vec();
    order.sort_by_key(|id| {
        (
            std::cmp::Reverse(of(count, id)),
            std::cmp::Reverse(of(popularity, id)),
            *id,
        )
    });
    order.into_iter()
}

fn unwatched(order: impl Iterator<Item = u64>, case: &HeldOut, k: usize) -> Vec<u64> {
    let watched: HashSet<u64> = case.history.iter().map(|e| e.content_id).collect();
    order.filter(|id| !watched.contains(id)).take(k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user_id: u64, content_id: u64) -> WatchRow {
        WatchRow {
            user_id,
            content_id,
            watch_seconds: 10.0,
            rating: 5.0,
            popularity: 1.0,
        }
    }

    #[test]
    fn both_halves_of_the_pairs_are_measured_and_unknown_ids_miss() {
        // Three classes; the hidden layer passes the watch time through and the output layer
        // makes class 0 the likeliest after a long watch, class 2 after none.
        let mlp = Mlp::from_parts(cinerec_core::MlpParts {
            inputs: 3,
            hidden: 1,
            classes: 3,
            w1: vec![0.0, 0.0, 1.0],
            b1: vec![0.0],
            w2: vec![1.0, 0.0, -1.0],
            b2: vec![0.0, 0.5, 1.0],
        })
        .unwrap();
        let scaler = Scaler {
            mean: [0.0; 3],
            scale: [1.0; 3],
        };
        let labels = LabelEncoder::fit([10, 20, 30]);
        let watched = |seconds: f64| WatchRow {
            watch_seconds: seconds,
            ..row(1, 10)
        };
        let (long, short) = (watched(5.0), watched(0.0));
        // Five pairs (an odd count): right, right, wrong, unknown id, right.
        let pairs = [
            (&long, 10),
            (&short, 30),
            (&long, 30),
            (&long, 99),
            (&short, 30),
        ];
        let metrics = classification(&mlp, &scaler, &labels, pairs);
        assert_eq!(metrics.rows, 5);
        assert_eq!(metrics.accuracy, 3.0 / 5.0);
        assert_eq!(metrics.top10, 4.0 / 5.0);
    }

    #[test]
    fn ties_rank_the_lower_index_first() {
        assert_eq!(rank_of(&[0.5, 0.3, 0.2], 0), 0);
        assert_eq!(
            rank_of(&[0.4, 0.4, 0.2], 1),
            1,
            "class 0 ties and comes first"
        );
        assert_eq!(rank_of(&[0.4, 0.4, 0.2], 0), 0);
        assert_eq!(rank_of(&[0.4, 0.4, 0.2], 2), 2);
    }

    #[test]
    fn leave_last_out_holds_out_each_users_last_new_watch() {
        let rows = [
            row(2, 7),
            row(1, 5),
            row(2, 8),
            row(1, 6),
            row(3, 9),
            row(3, 9),
        ];
        let cases = leave_last_out(&rows);
        assert_eq!(cases.len(), 2, "user 3 repeats their last watch: left out");
        assert_eq!(cases[0].user_id, 1);
        assert_eq!(cases[0].target, 6);
        assert_eq!(cases[0].history.len(), 1);
        assert_eq!(cases[1].target, 8);
    }

    #[test]
    fn ndcg_rewards_early_hits() {
        let cases = leave_last_out(&[row(1, 1), row(1, 2), row(2, 1), row(2, 3)]);
        // user 1 holds out 2 (a hit at position 1), user 2 holds out 3 (position 2).
        let quality = ranking_quality(&cases, 2, [vec![2, 3], vec![2, 3]]);
        assert_eq!(quality.users, 2);
        assert_eq!(quality.hit_rate, 1.0);
        let expected = (1.0 + 1.0 / 3f64.log2()) / 2.0;
        assert!((quality.ndcg - expected).abs() < 1e-12);
    }

    #[test]
    fn popularity_baseline_skips_what_was_watched() {
        let rows = [row(1, 1), row(1, 2), row(2, 1), row(2, 1), row(3, 2)];
        let order = popularity_order(&rows, &[1, 2, 3]);
        assert_eq!(order, [1, 2, 3]);
        let cases = leave_last_out(&[row(9, 1), row(9, 2)]);
        // user 9 watched 1, so popularity recommends 2 first: a hit at position 1.
        assert_eq!(popularity_baseline(&cases, &order, 1).hit_rate, 1.0);
    }

    #[test]
    fn co_visitation_recommends_what_the_viewers_of_the_history_watched() {
        // Viewers 1 and 2 watched 10 with 20; viewer 3 watched 10 with 30; 40 is the most
        // watched movie but nobody watched it with 10.
        let counted = [
            row(1, 10),
            row(1, 20),
            row(2, 10),
            row(2, 20),
            row(3, 10),
            row(3, 30),
            row(4, 40),
            row(5, 40),
            row(6, 40),
            row(7, 40),
        ];
        let case = |target| HeldOut {
            user_id: 9,
            history: vec![WatchEvent {
                content_id: 10,
                watch_seconds: 1.0,
            }],
            target,
            row: 0,
        };
        let candidates = [10, 20, 30, 40];
        let first = |target| co_visitation_baseline(&[case(target)], &counted, &candidates, 1);
        assert_eq!(first(20).hit_rate, 1.0, "20 was watched with 10 twice");
        assert_eq!(first(40).hit_rate, 0.0);
        let top3 = co_visitation_baseline(&[case(40)], &counted, &candidates, 3);
        assert_eq!(top3.hit_rate, 1.0, "then 30, then the most watched");
        assert!(
            (top3.ndcg - 1.0 / 4f64.log2()).abs() < 1e-12,
            "at position 3"
        );
    }

    #[test]
    fn baselines_count_every_row_but_the_held_out_ones() {
        let rows = [row(1, 5), row(1, 6), row(2, 6), row(2, 7)];
        let cases = leave_last_out(&rows);
        assert_eq!(without_held_out(&rows, &cases), [rows[0], rows[2]]);
    }

    #[test]
    fn random_baseline_is_seeded() {
        let rows: Vec<WatchRow> = (0..50)
            .flat_map(|u| [row(u, u % 7), row(u, 10 + u % 5)])
            .collect();
        let cases = leave_last_out(&rows);
        let candidates: Vec<u64> = (0..20).collect();
        assert_eq!(
            random_baseline(&cases, &candidates, 5, 1),
            random_baseline(&cases, &candidates, 5, 1)
        );
    }
}
