//! The server's cache of each event's softmax output, for the models whose network reads one
//! watch's features (the item and co-watch objectives; a next-watch model ranks a history in
//! one forward pass and has nothing to keep).
//!
//! Core ranks; this only remembers. [`EventCache::add_outputs`] is the sum that
//! `cinerec_core::rank_summing` asks its caller for, made from outputs core's
//! `Mlp::probabilities_of_rows` computed before, so a cached ranking has the bits of
//! `cinerec_core::rank`. It belongs to one [`Serving`](crate::serving::Serving), and so to one
//! model, and goes with it when a new model is loaded.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use cinerec_core::{Mlp, FEATURES};

/// The softmax outputs of the events a model has ranked, kept for the next ranking that has
/// them: a history grows by one event per click, the page offers a few watch times, so most
/// of a visitor's events were seen before, by the same visitor or another.
///
/// An event's output depends only on its standardised feature row, so the row's bits are the
/// key. Its outputs take at most the bytes it was made for, and it keeps at most
/// [`MOST_EVENTS`] (the map's own overhead, some 60 bytes an event, comes on top): when full it
/// is emptied, so a stream of events never seen before costs a little bookkeeping, not memory.
/// The lock is held for look-ups, additions and insertions, never for the forward pass nor to
/// free an emptied map, so requests that miss do not hold up the others.
#[derive(Debug)]
pub struct EventCache {
    limit: usize,
    outputs: Mutex<HashMap<[u32; FEATURES], Box<[f32]>>>,
}

/// The most events an [`EventCache`] keeps, however small each output.
const MOST_EVENTS: usize = 1 << 16;

impl EventCache {
    /// An empty cache for outputs of `classes` values, keeping about `bytes` of them at most.
    pub fn new(classes: usize, bytes: usize) -> EventCache {
        EventCache {
            limit: (bytes / (classes * std::mem::size_of::<f32>()).max(1)).min(MOST_EVENTS),
            outputs: Mutex::new(HashMap::new()),
        }
    }

    /// Events kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u32; FEATURES], Box<[f32]>>> {
        // The map is whole after any panic (entries are inserted complete): keep using it.
        self.outputs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// [`Mlp::add_probabilities`] to the bit, with the outputs kept, the missing ones computed
    /// (outside the lock, in one forward call) and kept. `mlp` must be the model's this cache
    /// was made for.
    pub fn add_outputs(&self, mlp: &Mlp, rows: &[f32], sums: &mut [f32]) {
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
    use cinerec_core::{decode, rank, rank_summing, Model, Ranking, WatchEvent};

    use super::*;

    /// Core's checked-in co-watch model: its network reads one watch's features.
    fn model() -> Model {
        decode(include_bytes!("../../core/tests/data/model.bin")).expect("the test model loads")
    }

    fn cached<'a>(model: &'a Model, cache: &EventCache, history: &[WatchEvent]) -> Ranking<'a> {
        rank_summing(model, history, 10, |rows, sums| {
            cache.add_outputs(model.mlp(), rows, sums)
        })
        .unwrap()
    }

    fn event(content_id: u64, watch_seconds: f64) -> WatchEvent {
        WatchEvent {
            content_id,
            watch_seconds,
        }
    }

    fn bits(ranking: &Ranking) -> Vec<(u64, u32)> {
        ranking
            .recommendations
            .iter()
            .map(|r| (r.content_id, r.score.to_bits()))
            .collect()
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

    #[test]
    fn the_cached_ranking_has_the_bits_of_the_ranking() {
        let model = model();
        let classes = model.classes().len();
        // Room for 7 events: the cache fills, empties and refills along the way; room for
        // none: every ranking computes.
        for bytes in [1 << 20, 7 * classes * 4, 0] {
            let cache = EventCache::new(classes, bytes);
            for history in histories(&model, 7, 300) {
                let plain = rank(&model, &history, 10).unwrap();
                let cached = cached(&model, &cache, &history);
                assert_eq!(bits(&cached), bits(&plain), "{history:?}");
                assert_eq!(cached.ignored, plain.ignored);
                assert!(cache.len() <= bytes / (classes * 4));
            }
            assert_eq!(cache.len() == 0, bytes == 0);
        }
    }

    #[test]
    fn threads_sharing_a_small_cache_get_the_plain_ranking() {
        let model = model();
        let cache = EventCache::new(model.classes().len(), 5 * model.classes().len() * 4);
        std::thread::scope(|scope| {
            for seed in 1..=4 {
                let (model, cache) = (&model, &cache);
                scope.spawn(move || {
                    for history in histories(model, seed, 200) {
                        let cached = cached(model, cache, &history);
                        assert_eq!(bits(&cached), bits(&rank(model, &history, 10).unwrap()));
                    }
                });
            }
        });
    }
}
