//! The URLs, and what every answer gets on its way out.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /batch-predict?k=N[&user_id=U]` | the k best movies for the empty history, or user U's |
//! | `POST /batch-predict` | the k best for `{"k":N,"history":[...]}` |
//! | `POST /predict` | the original's one-event body → the top movie |
//! | `GET /healthz`, `/model`, `/metrics` | health, the model's metadata, Prometheus text |
//! | `GET /model.bin` | the bytes of the model being served |
//! | `GET /posters/<file>` | a poster from `--posters` |
//! | `GET /` and `GET /<file>` | the page's files from `--static` |
//!
//! One handler dispatches every request rather than a tree of warp filters, so that every
//! answer, errors and 404s included, passes through one place that adds the security headers,
//! CORS, the metrics and the log line, and every error is JSON that names the problem.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use warp::path::FullPath;
use warp::Filter;

use crate::api::{self, Problem};
use crate::files::{self, Root};
use crate::headers::{decorate, preflight};
use crate::state::State;

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 << 10;

/// The filter that answers every request.
pub fn filter(
    state: Arc<State>,
) -> impl Filter<Extract = (Response<Bytes>,), Error = Infallible> + Clone + Send + Sync + 'static {
    let state = warp::any().map(move || state.clone());
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(state)
        .then(handle)
        .recover(|_| async {
            // The body was already taken: cannot happen with this filter, answered anyway.
            Ok::<_, Infallible>(Problem::bad("the request could not be read").response())
        })
        .unify()
}

async fn handle<S, B>(
    method: Method,
    path: FullPath,
    query: String,
    headers: HeaderMap,
    body: S,
    state: Arc<State>,
) -> Response<Bytes>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let started = Instant::now();
    let (route, answer) = dispatch(&method, path.as_str(), &query, &headers, body, &state).await;
    let mut response = answer.unwrap_or_else(|problem| problem.response());
    decorate(&mut response, &method, &headers, &state.cors);
    let elapsed = started.elapsed();
    let status = response.status();
    state.metrics.observe(route, status.as_u16(), elapsed);
    // The path only: a query string or a body may hold what a log must not keep.
    tracing::info!(
        method = method.as_str(),
        path = path.as_str(),
        status = status.as_u16(),
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    response
}

type Answer = Result<Response<Bytes>, Problem>;

/// The route label (for metrics) and the answer.
async fn dispatch<S, B>(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: S,
    state: &State,
) -> (&'static str, Answer)
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let read = *method == Method::GET || *method == Method::HEAD;
    let head = *method == Method::HEAD;
    if *method == Method::OPTIONS {
        return ("preflight", Ok(preflight(headers, &state.cors)));
    }
    match path {
        "/batch-predict" => {
            let answer = if read {
                api::batch_predict_get(state, query)
            } else if *method == Method::POST {
                match read_body(body, headers, state).await {
                    Ok(bytes) => api::batch_predict_post(state, &bytes),
                    Err(problem) => Err(problem),
                }
            } else {
                Err(not_allowed(method, "GET, HEAD, POST"))
            };
            ("/batch-predict", answer)
        }
        "/predict" => {
            let answer = if *method == Method::POST {
                match read_body(body, headers, state).await {
                    Ok(bytes) => api::predict(state, &bytes),
                    Err(problem) => Err(problem),
                }
            } else {
                Err(not_allowed(method, "POST"))
            };
            ("/predict", answer)
        }
        "/healthz" | "/model" | "/metrics" | "/model.bin" => {
            let route = match path {
                "/healthz" => "/healthz",
                "/model" => "/model",
                "/metrics" => "/metrics",
                _ => "/model.bin",
            };
            if !read {
                return (route, Err(not_allowed(method, "GET, HEAD")));
            }
            let answer = match route {
                "/healthz" => api::healthz(state),
                "/model" => api::model(state),
                "/metrics" => text(state.metrics.render()),
                _ => files::respond(&state.model.load().file, headers, head, "no-cache"),
            };
            (route, Ok(answer))
        }
        _ => {
            let (route, root, file) = match path.strip_prefix("/posters/") {
                Some(name) => ("/posters", Root::Posters, name),
                None if path == "/" => ("static", Root::Static, "index.html"),
                None => (
                    "static",
                    Root::Static,
                    path.strip_prefix('/').unwrap_or(path),
                ),
            };
            if !read {
                return (route, Err(not_allowed(method, "GET, HEAD")));
            }
            // A file not read yet is read and compressed here: let the runtime move its
            // other connections to another thread meanwhile.
            let found = tokio::task::block_in_place(|| state.files.find(root, file));
            let answer = match found {
                Some(found) => Ok(files::respond(
                    &found,
                    headers,
                    head,
                    files::cache_control(file),
                )),
                None => Err(Problem {
                    status: StatusCode::NOT_FOUND,
                    message: format!("{path} is not here"),
                }),
            };
            (route, answer)
        }
    }
}

fn not_allowed(method: &Method, allowed: &'static str) -> Problem {
    Problem {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{method} is not allowed here; use {allowed}"),
    }
}

fn text(body: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The whole body, at most [`MAX_BODY`] bytes, within the request timeout: a slow or endless
/// body is cut off, never buffered without bound; one announced too large is refused unread.
/// The deadline is [`State::timer`]'s: a body that has already arrived never registers it.
async fn read_body<S, B>(mut body: S, headers: &HeaderMap, state: &State) -> Result<Bytes, Problem>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let too_large = || Problem {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("the body is larger than {MAX_BODY} bytes"),
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(too_large());
    }
    let collect = async {
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let mut chunk =
                chunk.map_err(|_| Problem::bad("the request body could not be read"))?;
            if bytes.len() + chunk.remaining() > MAX_BODY {
                return Err(too_large());
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                bytes.extend_from_slice(part);
                let len = part.len();
                chunk.advance(len);
            }
        }
        Ok(bytes.freeze())
    };
    let timeout = state.request_timeout;
    let deadline = state.timer.sleep(timeout);
    tokio::select! {
        biased;
        read = collect => read,
        () = deadline => Err(Problem {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        }),
    }
}
