//! [`Recommender`], the class JavaScript uses: built from the bytes of `model.bin`, it ranks a
//! history with core's `rank` and hands back what the page shows.

use std::rc::Rc;

use cinerec_core::{decode, rank, CatalogEntry, Model, WatchEvent};
use wasm_bindgen::prelude::*;

use crate::history;

/// A decoded model, ready to rank.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Recommender {
    model: Rc<Model>,
}

/// A ranking, best first, in the shapes JavaScript reads.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The model that ranked: titles, posters and ratings are read from its catalog only
    /// when JavaScript asks for them (copying them on every ranking cost more than ranking).
    model: Rc<Model>,
    ids: Vec<u64>,
    scores: Vec<f32>,
    ignored: Vec<f64>,
}

impl Recommender {
    /// Decodes `model.bin`; the error is core's message.
    pub fn from_bytes(bytes: &[u8]) -> Result<Recommender, String> {
        decode(bytes)
            .map(|model| Recommender {
                model: Rc::new(model),
            })
            .map_err(|error| format!("model.bin: {error}"))
    }

    /// The `k` best movies for `history`.
    pub fn rank(&self, history: &[WatchEvent], k: usize) -> Result<Ranked, String> {
        let ranking = rank(&self.model, history, k).map_err(|error| error.to_string())?;
        let recommendations = &ranking.recommendations;
        Ok(Ranked {
            model: Rc::clone(&self.model),
            ids: recommendations.iter().map(|r| r.content_id).collect(),
            scores: recommendations.iter().map(|r| r.score).collect(),
            ignored: ranking.ignored.iter().map(|&id| id as f64).collect(),
        })
    }
}

/// Events from JavaScript's parallel arrays of content ids and watch times.
fn events(content_ids: &[f64], watch_seconds: &[f64]) -> Result<Vec<WatchEvent>, String> {
    if content_ids.len() != watch_seconds.len() {
        return Err(format!(
            "{} content ids but {} watch times",
            content_ids.len(),
            watch_seconds.len()
        ));
    }
    content_ids
        .iter()
        .zip(watch_seconds)
        .enumerate()
        .map(|(index, (&id, &seconds))| {
            if history::event(id, 0.0).is_none() {
                return Err(format!(
                    "history[{index}]: content_id {id} is not a whole number"
                ));
            }
            // The watch time goes to core as it is: core names a bad one.
            Ok(WatchEvent {
                content_id: id as u64,
                watch_seconds: seconds,
            })
        })
        .collect()
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl Recommender {
    /// `new Recommender(bytes)`: decodes `model.bin` (a `Uint8Array`); throws with core's
    /// message when the bytes are not a usable model.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(constructor))]
    pub fn new(bytes: &[u8]) -> Result<Recommender, JsError> {
        Recommender::from_bytes(bytes).map_err(|message| JsError::new(&message))
    }

    /// `recommend(contentIds, watchSeconds, k)`: the `k` best movies after the history given
    /// as two parallel arrays; throws when an id is not a whole number or a watch time is
    /// negative or not finite.
    pub fn recommend(
        &self,
        content_ids: &[f64],
        watch_seconds: &[f64],
        k: usize,
    ) -> Result<Ranked, JsError> {
        events(content_ids, watch_seconds)
            .and_then(|history| self.rank(&history, k))
            .map_err(|message| JsError::new(&message))
    }

    /// The model's id (16 hex digits).
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter = modelId))]
    pub fn model_id(&self) -> String {
        self.model.id().to_string()
    }

    /// How many movies the model can recommend.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter = classCount))]
    pub fn class_count(&self) -> usize {
        self.model.classes().len()
    }

    /// Every movie of the catalog's ids, ascending.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter = catalogIds))]
    pub fn catalog_ids(&self) -> Vec<f64> {
        self.model.catalog().iter().map(|e| e.id as f64).collect()
    }

    /// The catalog's titles, in the order of `catalogIds`.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter = catalogTitles))]
    pub fn catalog_titles(&self) -> Vec<String> {
        self.model
            .catalog()
            .iter()
            .map(|e| e.title.clone())
            .collect()
    }

    /// The catalog's poster file names, in the order of `catalogIds`.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter = catalogPosters))]
    pub fn catalog_posters(&self) -> Vec<String> {
        self.model
            .catalog()
            .iter()
            .map(|e| e.poster.clone())
            .collect()
    }
}

impl Ranked {
    /// Each recommended movie's catalog entry, best first.
    fn movies(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.ids.iter().map(|&id| {
            self.model
                .catalog_entry(id)
                .expect("the model ranks only movies of its catalog")
        })
    }
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl Ranked {
    /// Content ids, best first.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter))]
    pub fn ids(&self) -> Vec<f64> {
        self.ids.iter().map(|&id| id as f64).collect()
    }

    /// Scores (mean softmax probability), best first.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter))]
    pub fn scores(&self) -> Vec<f32> {
        self.scores.clone()
    }

    /// The scores' IEEE bits, to compare with another ranking exactly.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter = scoreBits))]
    pub fn score_bits(&self) -> Vec<u32> {
        self.scores.iter().map(|score| score.to_bits()).collect()
    }

    /// Titles, best first.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter))]
    pub fn titles(&self) -> Vec<String> {
        self.movies().map(|movie| movie.title.clone()).collect()
    }

    /// Poster file names (served under `/posters/`), best first.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter))]
    pub fn posters(&self) -> Vec<String> {
        self.movies().map(|movie| movie.poster.clone()).collect()
    }

    /// Ratings (TMDB's `vote_average`), best first.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter))]
    pub fn ratings(&self) -> Vec<f64> {
        self.movies().map(|movie| movie.vote_average).collect()
    }

    /// Content ids of the history that the model does not know (left out of the ranking).
    #[cfg_attr(target_family = "wasm", wasm_bindgen(getter))]
    pub fn ignored(&self) -> Vec<f64> {
        self.ignored.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &[u8] = include_bytes!("../../core/tests/data/model.bin");

    #[test]
    fn it_ranks_what_core_ranks() {
        let recommender = Recommender::from_bytes(MODEL).unwrap();
        let model = decode(MODEL).unwrap();
        let first = model.classes()[3];
        let history = [WatchEvent {
            content_id: first,
            watch_seconds: 1800.0,
        }];
        let ranked = recommender.rank(&history, 10).unwrap();
        let core = rank(&model, &history, 10).unwrap();
        assert_eq!(
            ranked.ids(),
            core.recommendations
                .iter()
                .map(|r| r.content_id as f64)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            ranked.score_bits(),
            core.recommendations
                .iter()
                .map(|r| r.score.to_bits())
                .collect::<Vec<_>>()
        );
        let movies = core.recommendations.iter().map(|r| r.movie);
        assert_eq!(
            (ranked.titles(), ranked.posters(), ranked.ratings()),
            (
                movies.clone().map(|m| m.title.clone()).collect(),
                movies.clone().map(|m| m.poster.clone()).collect(),
                movies.map(|m| m.vote_average).collect()
            )
        );
        assert_eq!(recommender.class_count(), model.classes().len());
        assert_eq!(recommender.catalog_ids().len(), model.catalog().len());
    }

    #[test]
    fn javascript_arrays_become_events_or_a_named_error() {
        assert_eq!(
            events(&[5.0, 6.0], &[1.0, 2.0]).unwrap()[1],
            WatchEvent {
                content_id: 6,
                watch_seconds: 2.0
            }
        );
        assert_eq!(
            events(&[5.0], &[]).unwrap_err(),
            "1 content ids but 0 watch times"
        );
        assert_eq!(
            events(&[5.5], &[1.0]).unwrap_err(),
            "history[0]: content_id 5.5 is not a whole number"
        );
        let recommender = Recommender::from_bytes(MODEL).unwrap();
        let bad_time = events(&[5.0], &[-1.0]).and_then(|h| recommender.rank(&h, 3));
        assert_eq!(
            bad_time.unwrap_err(),
            "history[0]: watch_seconds -1 is not a finite, non-negative number"
        );
    }

    #[test]
    fn bad_bytes_say_what_is_wrong() {
        let html = Recommender::from_bytes(b"<!doctype html><title>404</title>")
            .err()
            .unwrap();
        assert!(html.starts_with("model.bin: not a cinerec model"), "{html}");
        assert!(html.contains("HTML"), "{html}");
        let truncated = Recommender::from_bytes(&MODEL[..MODEL.len() / 2])
            .err()
            .unwrap();
        assert!(truncated.contains("truncated"), "{truncated}");
    }
}
