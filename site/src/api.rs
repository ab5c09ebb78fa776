//! The JSON API: `/batch-predict` (GET and POST; with `arm=control` or `arm=candidate`,
//! ranked by that arm of a running experiment), the original's `/predict`, `/healthz` and
//! `/model`. This module parses requests and maps errors to answers; each answer is made by
//! one snapshot of a model ([`Serving`](crate::serving::Serving)), whose ranking has the
//! page's bits.

use bytes::Bytes;
use cinerec_core::WatchEvent;
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::answers::{json, json_bytes, Problem};
use crate::experiments;
use crate::log::clip;
use crate::serving::AnswerError;
use crate::state::State;

/// `k` when the request names none, as the original API had it.
const DEFAULT_K: usize = 5;
/// The longest history a request may carry: core's, the page's too.
pub use cinerec_core::MAX_HISTORY;

/// `POST /batch-predict`'s body.
#[derive(Debug, Deserialize)]
struct BatchRequest {
    k: Option<u64>,
    #[serde(default)]
    history: Vec<WatchEvent>,
    /// An experiment's arm whose model ranks (`control` or `candidate`; without it, the model
    /// served now).
    arm: Option<String>,
}

/// The original's `POST /predict` body: one event with the movie's features. The ranking
/// reads rating and popularity from the model's catalog, so those two are accepted and not
/// used.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // user_id, rating and popularity are part of the original's body
struct PredictRequest {
    user_id: Option<u64>,
    content_id: u64,
    watch_seconds: f64,
    rating: Option<f64>,
    popularity: Option<f64>,
}

/// `GET /batch-predict?k=N[&user_id=U]`.
pub fn batch_predict_get(state: &State, query: &str) -> Result<Response<Bytes>, Problem> {
    let mut k = None;
    let mut user = None;
    let mut arm = None;
    for (name, value) in query_pairs(query)? {
        let slot = match name.as_str() {
            "k" => &mut k,
            "user_id" => &mut user,
            "arm" => &mut arm,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Problem::bad(format!(
                "{} is given more than once",
                clip(&name)
            )));
        }
    }
    let k = match k {
        None => DEFAULT_K,
        Some(text) => positive(&text)?,
    };
    let history = match user {
        None => Vec::new(),
        Some(text) => {
            // Off unless the operator opts in: anyone could otherwise walk every user's
            // personal ranking.
            let users = state.users.as_ref().ok_or_else(|| {
                Problem::new(
                    StatusCode::FORBIDDEN,
                    "user_id is turned off on this server (it ranks for the watch log's users \
                     only when started with --allow-user-id and --watch-log)",
                )
            })?;
            let id: u64 = text.parse().map_err(|_| {
                Problem::bad(format!("user_id {:?} is not a whole number", clip(&text)))
            })?;
            users.get(&id).cloned().ok_or_else(|| {
                Problem::new(
                    StatusCode::NOT_FOUND,
                    format!("user {id} is not in the watch log"),
                )
            })?
        }
    };
    match experiments::arm_model(state.experiment.as_ref(), arm.as_deref())? {
        Some(arm) => answer(arm.batch_answer(&history, k)),
        None => answer(state.model.load().batch_answer(&history, k)),
    }
}

/// `POST /batch-predict` with `{"k":N,"history":[{"content_id":ID,"watch_seconds":S},...]}`.
pub fn batch_predict_post(state: &State, body: &[u8]) -> Result<Response<Bytes>, Problem> {
    let request: BatchRequest = parse_json(body)?;
    let k = match request.k {
        None => DEFAULT_K,
        Some(0) => return Err(Problem::bad("k must be a positive integer, not 0")),
        // Above the catalog is all of it: a k past usize on a 32-bit target is too.
        Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
    };
    if request.history.len() > MAX_HISTORY {
        return Err(Problem::bad(format!(
            "history has {} events, more than the {MAX_HISTORY} allowed",
            request.history.len()
        )));
    }
    match experiments::arm_model(state.experiment.as_ref(), request.arm.as_deref())? {
        Some(arm) => answer(arm.batch_answer(&request.history, k)),
        None => answer(state.model.load().batch_answer(&request.history, k)),
    }
}

/// `POST /predict`: the top movie after one watch, for the original's clients.
pub fn predict(state: &State, body: &[u8]) -> Result<Response<Bytes>, Problem> {
    let request: PredictRequest = parse_json(body)?;
    let history = [WatchEvent {
        content_id: request.content_id,
        watch_seconds: request.watch_seconds,
    }];
    answer(state.model.load().predict_answer(&history))
}

/// `GET /healthz`.
pub fn healthz(state: &State) -> Response<Bytes> {
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "model_id": state.model.load().id() }),
    )
}

/// `GET /model`: what the model was made from and how well it did.
pub fn model(state: &State) -> Result<Response<Bytes>, Problem> {
    answer(state.model.load().describe())
}

/// A 200 with the answer's JSON, or the problem that stopped it.
fn answer(made: Result<Bytes, AnswerError>) -> Result<Response<Bytes>, Problem> {
    match made {
        Ok(body) => Ok(json_bytes(StatusCode::OK, body)),
        Err(error @ (AnswerError::Rank(_) | AnswerError::NothingLeft)) => {
            Err(Problem::bad(error.to_string()))
        }
        Err(error @ AnswerError::Write(_)) => Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error.to_string(),
        )),
    }
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Problem> {
    // serde's message quotes the offending value, which may be most of the body.
    serde_json::from_slice(body).map_err(|error| {
        Problem::bad(format!(
            "the body is not the expected JSON: {}",
            clip(&error.to_string())
        ))
    })
}

fn positive(text: &str) -> Result<usize, Problem> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(Problem::bad(format!(
            "k {:?} is not a positive integer",
            clip(text)
        ))),
        Ok(k) => Ok(k),
    }
}

/// `name=value` pairs of a query string, `+` and percent-escapes decoded.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, Problem> {
    let decode = |text: &str| {
        percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .map(|decoded| decoded.into_owned())
            .map_err(|_| Problem::bad("the query string is not UTF-8"))
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_k_must_be_a_positive_integer() {
        assert_eq!(
            query_pairs("k=10&user%5Fid=3&x").unwrap(),
            [
                ("k".to_string(), "10".to_string()),
                ("user_id".to_string(), "3".to_string()),
                ("x".to_string(), String::new())
            ]
        );
        assert_eq!(positive("7"), Ok(7));
        for bad in ["0", "-1", "1.5", "abc", "", "99999999999999999999999"] {
            assert_eq!(
                positive(bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert!(query_pairs("k=%ff").is_err());
    }
}
