//! The ranking: the one function the page (through WebAssembly) and the site server call.
//!
//! How a history becomes scores depends on what the model's network reads
//! ([`crate::Input`]). Features: each event becomes a feature row from the catalog's rating
//! and popularity and the event's watch time, and a movie's score is the mean of the softmax
//! outputs over the events; an empty history ranks for the average viewer (the standardised
//! zero row). Recent movies (the next-watch model): the latest events' embeddings, weighted
//! by recency, are averaged into one input and a movie's score is its softmax output; an empty
//! history is the zero input. Either way movies already watched are left out and ties break
//! by ascending content id.
//!
//! Events naming a movie the model's catalog does not have (a visitor's history outlives a
//! model; a client sends a stale id) are left out and reported in [`Ranking::ignored`], so
//! the page and the server treat them the same way; a history of only such events ranks as
//! the empty one.

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::parts::{CatalogEntry, Input};
use crate::scaler::{feature_row, FEATURES};

/// The longest history the page keeps and the server accepts in one request: one limit for
/// both, so a history the page saved can always be sent.
pub const MAX_HISTORY: usize = 1000;

/// One thing a visitor watched.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// TMDB movie id; must be in the model's catalog.
    pub content_id: u64,
    /// Seconds watched; finite and not negative.
    pub watch_seconds: f64,
}

/// One ranked movie, with what the page shows of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recommendation<'a> {
    /// TMDB movie id.
    pub content_id: u64,
    /// Mean softmax probability over the history (0 to 1).
    pub score: f32,
    /// The movie's catalog entry: title, poster, rating.
    pub movie: &'a CatalogEntry,
}

/// The answer of [`rank`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking<'a> {
    /// The best movies, best first.
    pub recommendations: Vec<Recommendation<'a>>,
    /// Content ids of the history that the model's catalog does not have, in history order;
    /// they took no part in the ranking.
    pub ignored: Vec<u64>,
}

/// A history the ranking cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RankError {
    /// The watch time is negative, NaN or infinite.
    #[error("history[{index}]: watch_seconds {value} is not a finite, non-negative number")]
    BadWatchSeconds {
        /// Position in the history.
        index: usize,
        /// The value as given.
        value: f64,
    },
}

/// The `k` best movies for `history`, best first (fewer when fewer are left unwatched).
pub fn rank<'a>(
    model: &'a Model,
    history: &[WatchEvent],
    k: usize,
) -> Result<Ranking<'a>, RankError> {
    rank_summing(model, history, k, |rows, sums| {
        model.mlp().add_probabilities(rows, sums)
    })
}

/// [`rank`], with the sum of the events' softmax outputs made by the caller: for a model of
/// [`Input::Features`] with at least one known event, `add_outputs(rows, sums)` is called once
/// with the events' standardised feature rows ([`FEATURES`] values each, in history order)
/// and must add to `sums` what [`Mlp::add_probabilities`](crate::Mlp::add_probabilities)
/// would, to the bit (a server may keep each row's
/// [`Mlp::probabilities_of_rows`](crate::Mlp::probabilities_of_rows) output for the next
/// request that has it). Any other ranking never calls it.
pub fn rank_summing<'a>(
    model: &'a Model,
    history: &[WatchEvent],
    k: usize,
    add_outputs: impl FnOnce(&[f32], &mut [f32]),
) -> Result<Ranking<'a>, RankError> {
    let (scores, ignored) = scores(model, add_outputs, history)?;
    let mut watched = vec![false; scores.len()];
    for event in history {
        if let Some(class) = model.labels().index_of(event.content_id) {
            watched[class] = true;
        }
    }
    let mut ranked: Vec<(u64, f32)> = model
        .classes()
        .iter()
        .zip(&scores)
        .zip(&watched)
        .filter(|(_, &watched)| !watched)
        .map(|((&content_id, &score), _)| (content_id, score))
        .collect();
    // Content ids are distinct, so the order is total and an unstable sort gives one answer.
    // (Selecting the k best before sorting saved 0.3 µs natively and cost 2.3 KB of the
    // page's gzipped wasm, too much of its budget.)
    ranked.sort_unstable_by(|(a_id, a_score), (b_id, b_score)| {
        b_score.total_cmp(a_score).then(a_id.cmp(b_id))
    });
    ranked.truncate(k);
    let recommendations = ranked
        .into_iter()
        .map(|(content_id, score)| Recommendation {
            content_id,
            score,
            movie: model
                .catalog_entry(content_id)
                .expect("Model::new checked that every class has a catalog entry"),
        })
        .collect();
    Ok(Ranking {
        recommendations,
        ignored,
    })
}

/// The scores of every class in class order for the history's known events, and the content
/// ids that were not known.
fn scores(
    model: &Model,
    add_outputs: impl FnOnce(&[f32], &mut [f32]),
    history: &[WatchEvent],
) -> Result<(Vec<f32>, Vec<u64>), RankError> {
    let mut known = Vec::with_capacity(history.len());
    let mut ignored = Vec::new();
    for (index, event) in history.iter().enumerate() {
        if !(event.watch_seconds.is_finite() && event.watch_seconds >= 0.0) {
            return Err(RankError::BadWatchSeconds {
                index,
                value: event.watch_seconds,
            });
        }
        match model.catalog_entry(event.content_id) {
            Some(movie) => known.push((movie, event.watch_seconds)),
            None => ignored.push(event.content_id),
        }
    }
    let scores = match model.input() {
        Input::Features => mean_of_event_outputs(model, add_outputs, &known),
        Input::Recent { weights } => next_watch(model, weights, &known),
    };
    Ok((scores, ignored))
}

/// A network of one watch's features: the mean softmax output over the events (the average
/// viewer's, the standardised zero row, for none).
fn mean_of_event_outputs(
    model: &Model,
    add_outputs: impl FnOnce(&[f32], &mut [f32]),
    known: &[(&CatalogEntry, f64)],
) -> Vec<f32> {
    let classes = model.classes().len();
    let mut rows = Vec::with_capacity(known.len() * FEATURES);
    for (movie, watch_seconds) in known {
        rows.extend(model.scaler().transform(feature_row(
            movie.vote_average,
            movie.popularity,
            *watch_seconds,
        )));
    }
    if rows.is_empty() {
        let mut probabilities = vec![0.0f32; classes];
        model
            .mlp()
            .probabilities(&[0.0; FEATURES], &mut probabilities);
        return probabilities;
    }
    let mut sums = vec![0.0f32; classes];
    add_outputs(&rows, &mut sums);
    let count = (rows.len() / FEATURES) as f32;
    // A mean below f32's smallest normal would be subnormal, which costs Intel cores a
    // microcode assist per operation: it is 0, as in wasm (a compare, not a CPU mode).
    let smallest = count * f32::MIN_POSITIVE;
    sums.iter_mut()
        .for_each(|s| *s = if *s < smallest { 0.0 } else { *s / count });
    sums
}

/// A network of recent movies: the softmax output for the weighted mean of the embeddings of
/// the latest events (latest first, as many as there are weights). The embedding of a movie is
/// its column of the output layer. A movie that training never saw has none (its column is
/// zero) and takes no place in the window, as in training, where every input was a trained
/// movie. No event, or none with an embedding, gives the zero input: the ranking of a first
/// visit.
fn next_watch(model: &Model, weights: &[f32], known: &[(&CatalogEntry, f64)]) -> Vec<f32> {
    let mlp = model.mlp().parts();
    let (width, classes) = (mlp.hidden as usize, mlp.classes as usize);
    let mut input = vec![0.0f32; width];
    let mut total = 0.0f32;
    let has_embedding = |class: &usize| mlp.w2.chunks_exact(classes).any(|row| row[*class] != 0.0);
    let latest_first = known
        .iter()
        .rev()
        .filter_map(|(movie, _)| model.labels().index_of(movie.id))
        .filter(has_embedding);
    for (&weight, class) in weights.iter().zip(latest_first) {
        for (value, row) in input.iter_mut().zip(mlp.w2.chunks_exact(classes)) {
            *value += weight * row[class];
        }
        total += weight;
    }
    if total > 0.0 {
        input.iter_mut().for_each(|value| *value /= total);
    }
    let mut probabilities = vec![0.0f32; classes];
    model.mlp().probabilities(&input, &mut probabilities);
    probabilities
}

#[cfg(test)]
mod tests {

    /// The checked-in next-watch demo model (see `core/tests/data/README.md`).
    fn next_model() -> Model {
        crate::decode(include_bytes!("../tests/data/model_next.bin")).expect("the model loads")
    }

    fn seen(id: u64) -> WatchEvent {
        WatchEvent {
            content_id: id,
            watch_seconds: 3600.0,
        }
    }

    #[test]
    fn no_score_is_subnormal_even_for_very_long_watches() {
        let model = crate::model::tests::demo_model();
        let c = model.classes();
        for hours in [0.0, 10.0, 40.0, 83.0, 1e6] {
            let history: Vec<WatchEvent> = (0..20)
                .map(|i| WatchEvent {
                    content_id: c[(i * 7) % c.len()],
                    watch_seconds: 3600.0 * hours * (1.0 + i as f64 / 20.0),
                })
                .collect();
            let (scores, _) = plain_scores(&model, &history).unwrap();
            assert!(
                scores.iter().all(|s| !s.is_subnormal()),
                "{hours} h: {scores:?}"
            );
        }
    }

    #[test]
    fn a_next_watch_history_of_only_unknown_movies_ranks_as_the_empty_one() {
        let model = next_model();
        let unknown = model.catalog().last().unwrap().id + 1;
        let empty = rank(&model, &[], 10).unwrap();
        let only_unknown = rank(&model, &[seen(unknown), seen(unknown + 7)], 10).unwrap();
        assert_eq!(bits(&only_unknown), bits(&empty));
        assert_eq!(only_unknown.ignored, [unknown, unknown + 7]);
    }

    #[test]
    fn a_next_watch_ranking_weighs_the_latest_watches_and_reads_only_its_window() {
        let model = next_model();
        let Input::Recent { weights } = model.input() else {
            panic!("the next-watch demo model reads recent movies");
        };
        let c = model.classes();
        let (a, b) = (seen(c[0]), seen(c[1]));
        // Order matters: the latest watch has its own weight.
        let ab = rank(&model, &[a, b], 5).unwrap();
        let ba = rank(&model, &[b, a], 5).unwrap();
        assert_ne!(bits(&ab), bits(&ba));
        // Events older than the window take no part (only the watched filter sees them).
        let window: Vec<WatchEvent> = (0..weights.len()).map(|i| seen(c[2 + i % 20])).collect();
        let mut longer = vec![seen(c[30])];
        longer.extend(&window);
        let scores = |history: &[WatchEvent]| plain_scores(&model, history).unwrap().0;
        assert_eq!(scores(&longer), scores(&window));
    }

    use super::*;
    use crate::model::tests::demo_model;

    fn event(content_id: u64, watch_seconds: f64) -> WatchEvent {
        WatchEvent {
            content_id,
            watch_seconds,
        }
    }

    fn ids(ranking: &Ranking) -> Vec<u64> {
        ranking
            .recommendations
            .iter()
            .map(|r| r.content_id)
            .collect()
    }

    #[test]
    fn empty_history_ranks_every_class_for_the_average_viewer() {
        let model = demo_model();
        let classes = model.classes().len();
        let ranking = rank(&model, &[], 100).unwrap();
        assert!(ranking.ignored.is_empty());
        let ranked = &ranking.recommendations;
        assert_eq!(ranked.len(), classes);
        let mut zero_row = vec![0.0; classes];
        model.mlp().probabilities(&[0.0; 3], &mut zero_row);
        for r in ranked {
            let class = model.labels().index_of(r.content_id).unwrap();
            assert_eq!(r.score, zero_row[class]);
            assert_eq!(
                r.movie.id, r.content_id,
                "the entry shown is the movie ranked"
            );
        }
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn score_is_the_mean_of_the_events_softmax_outputs() {
        let model = demo_model();
        let [a, b] = [model.classes()[0], model.classes()[5]];
        let history = [event(a, 100.0), event(b, 5000.0)];
        let (got, ignored) = plain_scores(&model, &history).unwrap();
        assert!(ignored.is_empty());
        let classes = model.classes().len();
        let mut expected = vec![0.0f32; classes];
        for e in &history {
            let movie = model.catalog_entry(e.content_id).unwrap();
            let row =
                model
                    .scaler()
                    .transform([movie.vote_average, movie.popularity, e.watch_seconds]);
            let mut p = vec![0.0; classes];
            model.mlp().probabilities(&row, &mut p);
            expected.iter_mut().zip(&p).for_each(|(x, p)| *x += p);
        }
        expected.iter_mut().for_each(|x| *x /= 2.0);
        assert_eq!(got, expected);
    }

    #[test]
    fn watched_movies_are_left_out_and_k_caps_the_list() {
        let model = demo_model();
        let watched = model.classes()[7];
        let ranked = ids(&rank(&model, &[event(watched, 60.0)], 100).unwrap());
        assert_eq!(ranked.len(), model.classes().len() - 1);
        assert!(!ranked.contains(&watched));
        assert_eq!(rank(&model, &[], 1).unwrap().recommendations.len(), 1);
        assert!(rank(&model, &[], 0).unwrap().recommendations.is_empty());
    }

    #[test]
    fn ties_break_by_ascending_content_id() {
        let mut parts = demo_model().into_parts();
        // All-zero output weights and biases: every class gets the same score.
        let mut mlp = parts.mlp.parts().clone();
        mlp.w2.iter_mut().for_each(|w| *w = 0.0);
        mlp.b2.iter_mut().for_each(|b| *b = 0.0);
        parts.mlp = crate::mlp::Mlp::from_parts(mlp).unwrap();
        let model = Model::new(parts).unwrap();
        assert_eq!(ids(&rank(&model, &[], 3).unwrap()), model.classes()[..3]);
    }

    #[test]
    fn unknown_ids_are_ignored_and_listed() {
        let model = demo_model();
        let known = model.classes()[2];
        let alone = rank(&model, &[event(known, 1.0)], 5).unwrap();
        let mixed = rank(
            &model,
            &[event(99, 5.0), event(known, 1.0), event(77, 2.0)],
            5,
        )
        .unwrap();
        assert_eq!(mixed.ignored, [99, 77]);
        assert_eq!(mixed.recommendations, alone.recommendations);
        let only_unknown = rank(&model, &[event(99, 5.0)], 5).unwrap();
        assert_eq!(only_unknown.ignored, [99]);
        assert_eq!(
            only_unknown.recommendations,
            rank(&model, &[], 5).unwrap().recommendations
        );
    }

    fn plain_scores(
        model: &Model,
        history: &[WatchEvent],
    ) -> Result<(Vec<f32>, Vec<u64>), RankError> {
        scores(
            model,
            |rows, sums| model.mlp().add_probabilities(rows, sums),
            history,
        )
    }

    #[test]
    fn the_callers_sum_is_asked_for_once_with_the_known_events_rows_and_used() {
        let model = demo_model();
        let c = model.classes();
        let history = [event(c[0], 900.0), event(99, 5.0), event(c[3], 7200.0)];
        let mut asked = Vec::new();
        let ranking = rank_summing(&model, &history, 5, |rows, sums| {
            asked.push(rows.to_vec());
            model.mlp().add_probabilities(rows, sums);
        })
        .unwrap();
        assert_eq!(bits(&ranking), bits(&rank(&model, &history, 5).unwrap()));
        let row = |id: u64, seconds: f64| {
            let movie = model.catalog_entry(id).unwrap();
            model
                .scaler()
                .transform(feature_row(movie.vote_average, movie.popularity, seconds))
        };
        let expected: Vec<f32> = [row(c[0], 900.0), row(c[3], 7200.0)].concat();
        assert_eq!(asked, [expected]);
        // What the caller adds is what ranks: twice the sums give the same order, doubled scores.
        let doubled = rank_summing(&model, &history, 5, |rows, sums| {
            model.mlp().add_probabilities(rows, sums);
            model.mlp().add_probabilities(rows, sums);
        })
        .unwrap();
        for (d, r) in doubled.recommendations.iter().zip(&ranking.recommendations) {
            assert_eq!(d.content_id, r.content_id);
            assert_eq!(d.score, 2.0 * r.score);
        }
        // Not asked for an empty history, nor by a next-watch model.
        let never = |_: &[f32], _: &mut [f32]| panic!("not a features ranking");
        rank_summing(&model, &[], 5, never).unwrap();
        rank_summing(&model, &[event(99, 5.0)], 5, never).unwrap();
        let next = next_model();
        rank_summing(&next, &[seen(next.classes()[0])], 5, never).unwrap();
    }

    fn bits(ranking: &Ranking) -> Vec<(u64, u32)> {
        ranking
            .recommendations
            .iter()
            .map(|r| (r.content_id, r.score.to_bits()))
            .collect()
    }

    #[test]
    fn bad_watch_times_are_named() {
        let model = demo_model();
        let known = model.classes()[0];
        assert_eq!(
            rank(&model, &[event(known, 1.0), event(99, -2.0)], 5)
                .unwrap_err()
                .to_string(),
            "history[1]: watch_seconds -2 is not a finite, non-negative number"
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                rank(&model, &[event(known, bad)], 5),
                Err(RankError::BadWatchSeconds { index: 0, .. })
            ));
        }
    }
}
