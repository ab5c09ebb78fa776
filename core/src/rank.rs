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

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::mlp::Mlp;
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
    ranking(model, None, history, k)
}

/// [`rank`], to the bit, taking each event's softmax output from `cache` when an earlier
/// ranking computed it (see [`EventCache`]).
pub fn rank_cached<'a>(
    model: &'a Model,
    cache: &EventCache,
    history: &[WatchEvent],
    k: usize,
) -> Result<Ranking<'a>, RankError> {
    ranking(model, Some(cache), history, k)
}

fn ranking<'a>(
    model: &'a Model,
    cache: Option<&EventCache>,
    history: &[WatchEvent],
    k: usize,
) -> Result<Ranking<'a>, RankError> {
    let (scores, ignored) = scores(model, cache, history)?;
    let mut watched = vec![false; scores.len()];
    for event in history {
        if let Some(class) = model.labels().index_of(event.content_id) {
            watched[class] = true;
        }
    }
    let ranked = best(model.classes(), &scores, &watched, k);
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

/// Up to this many recommendations are kept in order as the scores go by; more are sorted.
const FEW: usize = 64;

/// The `k` best unwatched `(content id, score)` pairs, best first: by score, then by content
/// id. Content ids are distinct, so the order is total and there is one answer, the first `k`
/// of all of them sorted. For a few (the page asks for 10), each score is compared with the
/// worst kept and most go no further: sorting 9,742 movies to show 10 took most of a large
/// catalog's ranking in the page.
fn best(classes: &[u64], scores: &[f32], watched: &[bool], k: usize) -> Vec<(u64, f32)> {
    let order = |(a_id, a_score): &(u64, f32), (b_id, b_score): &(u64, f32)| {
        b_score.total_cmp(a_score).then(a_id.cmp(b_id))
    };
    let before = |a: &(u64, f32), b: &(u64, f32)| order(a, b).is_lt();
    let unwatched = classes
        .iter()
        .zip(scores)
        .zip(watched)
        .filter(|(_, &watched)| !watched)
        .map(|((&content_id, &score), _)| (content_id, score));
    if k > FEW {
        let mut ranked: Vec<(u64, f32)> = unwatched.collect();
        ranked.sort_unstable_by(order);
        ranked.truncate(k);
        return ranked;
    }
    let mut kept: Vec<(u64, f32)> = Vec::with_capacity(k + 1);
    for candidate in unwatched {
        if kept.len() == k && !kept.last().is_some_and(|worst| before(&candidate, worst)) {
            continue;
        }
        let at = kept.partition_point(|kept| before(kept, &candidate));
        kept.insert(at, candidate);
        kept.truncate(k);
    }
    kept
}

/// The scores of every class in class order for the history's known events, and the content
/// ids that were not known.
fn scores(
    model: &Model,
    cache: Option<&EventCache>,
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
        Input::Features => mean_of_event_outputs(model, cache, &known),
        Input::Recent { weights } => next_watch(model, weights, &known),
    };
    Ok((scores, ignored))
}

/// A network of one watch's features: the mean softmax output over the events (the average
/// viewer's, the standardised zero row, for none).
fn mean_of_event_outputs(
    model: &Model,
    cache: Option<&EventCache>,
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
    match cache.filter(|cache| cache.model_id == model.id()) {
        Some(cache) => cache.add_probabilities(model.mlp(), &rows, &mut sums),
        None => model.mlp().add_probabilities(&rows, &mut sums),
    }
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
    let mlp = model.mlp();
    let mut input = vec![0.0f32; mlp.inputs()];
    let mut total = 0.0f32;
    let latest_first = known
        .iter()
        .rev()
        .filter_map(|(movie, _)| model.embedding(model.labels().index_of(movie.id)?));
    for (&weight, embedding) in weights.iter().zip(latest_first) {
        for (value, &e) in input.iter_mut().zip(embedding) {
            *value += weight * e;
        }
        total += weight;
    }
    if total > 0.0 {
        input.iter_mut().for_each(|value| *value /= total);
    }
    let mut probabilities = vec![0.0f32; mlp.classes()];
    mlp.probabilities(&input, &mut probabilities);
    probabilities
}

/// The softmax outputs of the events a model has ranked, kept for the next ranking that has
/// them: a history grows by one event per click, the page offers three watch times, so most
/// of a visitor's events were seen before, by the same visitor or another.
///
/// An event's output depends only on its standardised feature row, so the row's bits are the
/// key and a kept output has the bits [`rank`] would compute. The cache is for one model
/// (another model's rankings do not use it). Its outputs take at most the bytes it was made
/// for, and it keeps at most 65,536 events (the map's own overhead, some 60 bytes an event,
/// comes on top): when full it is emptied, so a stream of events never seen before costs a
/// little bookkeeping, not memory. The lock is held for look-ups, additions and insertions,
/// never for the forward pass nor to free an emptied map, so requests that miss do not hold
/// up the others.
#[derive(Debug)]
pub struct EventCache {
    model_id: String,
    limit: usize,
    outputs: Mutex<HashMap<[u32; FEATURES], Box<[f32]>>>,
}

/// The most events an [`EventCache`] keeps, however small each output.
const MOST_EVENTS: usize = 1 << 16;

impl EventCache {
    /// An empty cache for `model`'s events, keeping about `bytes` of outputs at most.
    pub fn new(model: &Model, bytes: usize) -> EventCache {
        let classes = model.classes().len();
        EventCache {
            model_id: model.id().to_string(),
            limit: (bytes / (classes * std::mem::size_of::<f32>()).max(1)).min(MOST_EVENTS),
            outputs: Mutex::new(HashMap::new()),
        }
    }

    /// Events kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u32; FEATURES], Box<[f32]>>> {
        // The map is whole after any panic (entries are inserted complete): keep using it.
        self.outputs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// [`Mlp::add_probabilities`] with the outputs kept, the missing ones computed (outside
    /// the lock, in one forward call) and kept.
    fn add_probabilities(&self, mlp: &Mlp, rows: &[f32], sums: &mut [f32]) {
        let key = |row: &[f32]| -> [u32; FEATURES] { std::array::from_fn(|i| row[i].to_bits()) };
        let add = |sums: &mut [f32], output: &[f32]| {
            sums.iter_mut().zip(output).for_each(|(sum, p)| *sum += p);
        };
        let classes = sums.len();
        // Every output kept, the common case: one look-up each, under one lock.
        let missing: Vec<usize> = {
            let outputs = self.lock();
            let found: Vec<Option<&[f32]>> = rows
                .chunks_exact(FEATURES)
                .map(|row| outputs.get(&key(row)).map(|output| &**output))
                .collect();
            if found.iter().all(Option::is_some) {
                found
                    .into_iter()
                    .flatten()
                    .for_each(|output| add(sums, output));
                return;
            }
            (0..found.len()).filter(|&i| found[i].is_none()).collect()
        };
        if missing.len() > self.limit {
            return mlp.add_probabilities(rows, sums);
        }
        let row = |i: usize| &rows[i * FEATURES..(i + 1) * FEATURES];
        let gathered: Vec<f32> = missing.iter().flat_map(|&i| row(i)).copied().collect();
        let mut computed = vec![0.0f32; missing.len() * classes];
        mlp.probabilities_of_rows(&gathered, &mut computed);

        let mut outputs = self.lock();
        let mut fresh = missing
            .iter()
            .zip(computed.chunks_exact(classes))
            .peekable();
        let found: Option<Vec<&[f32]>> = (0..rows.len() / FEATURES)
            .map(|i| match fresh.next_if(|(&m, _)| m == i) {
                Some((_, output)) => Some(output),
                None => outputs.get(&key(row(i))).map(|output| &**output),
            })
            .collect();
        match found {
            Some(found) => found.into_iter().for_each(|output| add(sums, output)),
            // Another ranking emptied the cache since the look-up: compute them all.
            None => {
                drop(outputs);
                return mlp.add_probabilities(rows, sums);
            }
        }
        // Keep the new outputs; a full cache is emptied first, and freed after the lock.
        let stale = if outputs.len() + missing.len() > self.limit {
            std::mem::take(&mut *outputs)
        } else {
            HashMap::new()
        };
        for (&i, output) in missing.iter().zip(computed.chunks_exact(classes)) {
            outputs.entry(key(row(i))).or_insert_with(|| output.into());
        }
        drop(outputs);
        drop(stale);
    }
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
            let (scores, _) = scores(&model, None, &history).unwrap();
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
        let scores = |history: &[WatchEvent]| scores(&model, None, history).unwrap().0;
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
        let (got, ignored) = scores(&model, None, &history).unwrap();
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

    /// Random histories over the model's movies (and an unknown id now and then), the watch
    /// times drawn from a few values so that events repeat.
    fn histories(model: &Model, seed: u64, count: usize) -> Vec<Vec<WatchEvent>> {
        let mut state = seed | 1;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let classes = model.classes();
        (0..count)
            .map(|_| {
                (0..next(30))
                    .map(|_| {
                        let content_id = match next(20) {
                            0 => 99,
                            _ => classes[next(classes.len() as u64) as usize],
                        };
                        event(content_id, [900.0, 3600.0, 7200.0, 1.5][next(4) as usize])
                    })
                    .collect()
            })
            .collect()
    }

    fn bits(ranking: &Ranking) -> Vec<(u64, u32)> {
        ranking
            .recommendations
            .iter()
            .map(|r| (r.content_id, r.score.to_bits()))
            .collect()
    }

    #[test]
    fn the_cached_ranking_has_the_bits_of_the_ranking() {
        let model = demo_model();
        let classes = model.classes().len();
        // Room for 7 events: the cache fills, empties and refills along the way; room for
        // none: every ranking computes.
        for bytes in [1 << 20, 7 * classes * 4, 0] {
            let cache = EventCache::new(&model, bytes);
            for history in histories(&model, 7, 300) {
                let plain = rank(&model, &history, 10).unwrap();
                let cached = rank_cached(&model, &cache, &history, 10).unwrap();
                assert_eq!(bits(&cached), bits(&plain), "{history:?}");
                assert_eq!(cached.ignored, plain.ignored);
                assert!(cache.len() <= bytes / (classes * 4));
            }
            assert_eq!(cache.is_empty(), bytes == 0);
        }
    }

    #[test]
    fn a_cache_for_another_model_is_not_used() {
        let model = demo_model();
        let mut parts = model.clone().into_parts();
        let mut mlp = parts.mlp.parts().clone();
        mlp.b2
            .iter_mut()
            .enumerate()
            .for_each(|(j, b)| *b += j as f32);
        parts.mlp = crate::mlp::Mlp::from_parts(mlp).unwrap();
        let other = Model::new(parts).unwrap();
        let cache = EventCache::new(&other, 1 << 20);
        for history in histories(&other, 3, 20) {
            rank_cached(&other, &cache, &history, 5).unwrap();
        }
        let used = cache.len();
        for history in histories(&model, 5, 50) {
            let cached = rank_cached(&model, &cache, &history, 10).unwrap();
            assert_eq!(bits(&cached), bits(&rank(&model, &history, 10).unwrap()));
        }
        assert_eq!(cache.len(), used, "the other model's cache took no events");
    }

    #[test]
    fn threads_sharing_a_small_cache_get_the_plain_ranking() {
        let model = demo_model();
        let cache = EventCache::new(&model, 5 * model.classes().len() * 4);
        std::thread::scope(|scope| {
            for seed in 1..=4 {
                let (model, cache) = (&model, &cache);
                scope.spawn(move || {
                    for history in histories(model, seed, 200) {
                        let cached = rank_cached(model, cache, &history, 10).unwrap();
                        assert_eq!(bits(&cached), bits(&rank(model, &history, 10).unwrap()));
                    }
                });
            }
        });
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
