//! One loaded model as the server serves it: the checked model, its file as the page
//! downloads it, and what is made once per model (each catalog entry as JSON, the answers for
//! an empty history, each event's output). A reload builds a new [`Serving`] and swaps it in
//! whole, so everything here belongs to one model and goes with it.
//!
//! The answers are core's ranking written as JSON: `rank_summing` with the model's
//! [`EventCache`], which has the bits of the page's `rank`.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use bytes::Bytes;
use cinerec_core::{
    decode, rank_summing, CatalogEntry, Metadata, Model, RankError, Ranking, WatchEvent,
    FORMAT_VERSION,
};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::event_cache::EventCache;
use crate::files;

/// A decoded model with the bytes it came from and the answers made once for it.
pub struct Serving {
    model: Model,
    /// `model.bin` as read, compressed once per model like the page's files; its ETag is
    /// the model id.
    file: files::File,
    /// Each catalog entry as JSON, in catalog order: written once per model, since every
    /// answer would otherwise escape the same titles again.
    movies: Vec<Box<RawValue>>,
    /// The longest of [`Serving::movies`], to size an answer's buffer.
    movie_json_size: usize,
    /// The answers for the empty history (a new visitor, `GET /batch-predict?k=N` without a
    /// user), by `k - 1` up to [`MEMO_K`]: a pure function of the model and `k`, so each is
    /// ranked once, when first asked for.
    empty_history: Vec<OnceLock<Bytes>>,
    /// Each event's softmax output once ranked (only a model that reads one watch's features
    /// has any), for the rankings that have it again.
    events: EventCache,
}

/// The outputs [`Serving::events`] may keep: 16 MiB (for the demo's 58 classes, the cache's
/// cap of 65,536 events comes first: 15 MiB of outputs and about 4 MiB of map).
const EVENT_CACHE_BYTES: usize = 16 << 20;

/// The largest `k` whose empty-history answer is kept (the page asks for 10, the original
/// API's default was 5); larger ones are ranked on every request.
pub const MEMO_K: usize = 100;

/// Why an answer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The history cannot be ranked (a bad watch time): the client's to fix.
    #[error(transparent)]
    Rank(#[from] RankError),
    /// The model has no movie left to recommend after the history.
    #[error("the model has no other movie to recommend")]
    NothingLeft,
    /// The answer could not be written as JSON: the server's fault.
    #[error("the answer could not be written: {0}")]
    Write(#[from] serde_json::Error),
}

/// One recommended movie, as `/batch-predict` lists it: core's `Recommendation` to the byte,
/// with the movie's JSON made once per model instead of per answer.
#[derive(Serialize)]
struct Item<'a> {
    content_id: u64,
    score: f32,
    movie: &'a RawValue,
}

/// `/batch-predict`'s answer; `recommended_content_id` is the original API's field, and
/// `recommendations` with `ignored` is core's `Ranking` as JSON.
#[derive(Serialize)]
struct BatchAnswer<'a> {
    recommended_content_id: Vec<u64>,
    scores: Vec<f32>,
    model_id: &'a str,
    k: usize,
    ignored: &'a [u64],
    recommendations: Vec<Item<'a>>,
}

impl Serving {
    /// Decodes and checks `bytes` (`source` names them in errors) and makes what is made once
    /// per model.
    pub fn new(bytes: Vec<u8>, source: &str) -> Result<Serving> {
        let model = decode(&bytes).with_context(|| format!("loading model {source}"))?;
        let file = files::File::new(
            Bytes::from(bytes),
            "application/octet-stream",
            model.id().to_string(),
            // Its weights are floats, but the catalog's titles are text: a sixth smaller or so.
            true,
        );
        let movies: Vec<Box<RawValue>> = model
            .catalog()
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<_, _>>()
            .with_context(|| format!("writing the catalog of {source} as JSON"))?;
        Ok(Serving {
            events: EventCache::new(model.classes().len(), EVENT_CACHE_BYTES),
            movie_json_size: movies.iter().map(|m| m.get().len()).max().unwrap_or(0),
            model,
            file,
            movies,
            empty_history: (0..MEMO_K).map(|_| OnceLock::new()).collect(),
        })
    }

    /// `model.bin`, as served.
    pub fn file(&self) -> &files::File {
        &self.file
    }

    /// The model's id.
    pub fn id(&self) -> &str {
        self.model.id()
    }

    /// Core's ranking of `history`, with this model's event cache.
    pub fn rank(&self, history: &[WatchEvent], k: usize) -> Result<Ranking<'_>, RankError> {
        rank_summing(&self.model, history, k, |rows, sums| {
            self.events.add_outputs(self.model.mlp(), rows, sums)
        })
    }

    /// The body of `/batch-predict`'s answer for `history` and `k`; an empty history's is
    /// made once per model and `k` up to [`MEMO_K`].
    pub fn batch_answer(&self, history: &[WatchEvent], k: usize) -> Result<Bytes, AnswerError> {
        match k.checked_sub(1).and_then(|i| self.empty_history.get(i)) {
            Some(slot) if history.is_empty() => {
                if let Some(body) = slot.get() {
                    return Ok(body.clone());
                }
                // Two requests may both rank it the first time: the same bytes, so either may
                // stay.
                let body = self.ranked(history, k)?;
                Ok(slot.get_or_init(|| body).clone())
            }
            _ => self.ranked(history, k),
        }
    }

    fn ranked(&self, history: &[WatchEvent], k: usize) -> Result<Bytes, AnswerError> {
        let ranking = self.rank(history, k)?;
        let recommendations = &ranking.recommendations;
        let answer = BatchAnswer {
            recommended_content_id: recommendations.iter().map(|r| r.content_id).collect(),
            scores: recommendations.iter().map(|r| r.score).collect(),
            model_id: self.id(),
            k,
            ignored: &ranking.ignored,
            recommendations: recommendations
                .iter()
                .map(|r| Item {
                    content_id: r.content_id,
                    score: r.score,
                    movie: self.movie_json(r.movie),
                })
                .collect(),
        };
        // Sized for the answer up front: growing the buffer cost more than writing it.
        let mut body =
            Vec::with_capacity(256 + recommendations.len() * (64 + self.movie_json_size));
        serde_json::to_writer(&mut body, &answer)?;
        Ok(Bytes::from(body))
    }

    /// The original's `/predict` answer: the top movie after `history`.
    pub fn predict_answer(&self, history: &[WatchEvent]) -> Result<Bytes, AnswerError> {
        let ranking = self.rank(history, 1)?;
        let top = ranking
            .recommendations
            .first()
            .ok_or(AnswerError::NothingLeft)?;
        // A struct, not `json!`: a `Value` holds the f32 score as an f64 and would print it
        // with f64 digits, unlike `/batch-predict`'s scores for the same bits.
        #[derive(Serialize)]
        struct Predicted<'a> {
            content_id: u64,
            score: f32,
            title: &'a str,
            model_id: &'a str,
            ignored: &'a [u64],
        }
        Ok(Bytes::from(serde_json::to_vec(&Predicted {
            content_id: top.content_id,
            score: top.score,
            title: &top.movie.title,
            model_id: self.id(),
            ignored: &ranking.ignored,
        })?))
    }

    /// `/model`'s answer: what the model was made from and how well it did.
    pub fn describe(&self) -> Result<Bytes, AnswerError> {
        #[derive(Serialize)]
        struct Info<'a> {
            model_id: &'a str,
            format_version: u32,
            classes: usize,
            catalog: usize,
            metadata: &'a Metadata,
        }
        Ok(Bytes::from(serde_json::to_vec(&Info {
            model_id: self.id(),
            format_version: FORMAT_VERSION,
            classes: self.model.classes().len(),
            catalog: self.model.catalog().len(),
            metadata: self.model.metadata(),
        })?))
    }

    /// The JSON of a movie that the ranking returned, found by its place in the catalog (the
    /// ranking hands out references into it), not searched for again.
    fn movie_json(&self, movie: &CatalogEntry) -> &RawValue {
        let catalog = self.model.catalog();
        let offset = (movie as *const CatalogEntry as usize)
            .wrapping_sub(catalog.as_ptr() as usize)
            / std::mem::size_of::<CatalogEntry>();
        match catalog.get(offset) {
            Some(entry) if std::ptr::eq(entry, movie) => &self.movies[offset],
            // Not one of this model's entries, which `rank` never returns.
            _ => RawValue::NULL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_movie_is_found_by_its_place_and_a_stranger_is_null() {
        let bytes = include_bytes!("../../core/tests/data/model.bin").to_vec();
        let serving = Serving::new(bytes, "the test model").unwrap();
        for (entry, json) in serving.model.catalog().iter().zip(&serving.movies) {
            assert_eq!(serving.movie_json(entry).get(), json.get());
        }
        let stranger = serving.model.catalog()[0].clone();
        assert_eq!(serving.movie_json(&stranger).get(), "null");
    }

    #[test]
    fn the_empty_history_answer_is_made_once_and_is_the_ranked_one() {
        let bytes = include_bytes!("../../core/tests/data/model.bin").to_vec();
        let serving = Serving::new(bytes, "the test model").unwrap();
        let first = serving.batch_answer(&[], 10).unwrap();
        assert_eq!(first, serving.ranked(&[], 10).unwrap());
        // Kept: the same allocation comes back.
        assert_eq!(
            serving.batch_answer(&[], 10).unwrap().as_ptr(),
            first.as_ptr()
        );
        assert!(serving.empty_history[9].get().is_some());
        // Above MEMO_K: ranked every time, never kept.
        serving.batch_answer(&[], MEMO_K + 1).unwrap();
        assert!(
            serving
                .empty_history
                .iter()
                .filter(|s| s.get().is_some())
                .count()
                == 1
        );
    }
}
