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
//! | `GET /experiment`, `/experiments`, `/experiments/{control,candidate}/model.bin`, `POST /experiments/report` | a private A/B test (see `experiments`) |
//! | `GET /` and `GET /<file>` | the page's files from `--static` |
//!
//! One handler dispatches every request rather than a tree of warp filters, so that every
//! answer, errors and 404s included, passes through one place that adds the security headers,
//! CORS, the metrics and the log line, and every error is JSON that names the problem.
//!
//! In front of warp, [`guarded`] answers what the router cannot take: a request target that
//! is not a path (authority form `GET example.com:80`, asterisk form `OPTIONS *`; warp's path
//! filters assume a leading slash and panicked on them) is a 400, and a panic anywhere in a
//! handler is caught and answered 500; both are logged and counted (routes `unroutable` and
//! `panicked`), as are the parser's own 400, 414 and 431 answers ([`refused_by_parser`],
//! route `unparsed`). Routes are matched on the decoded path ([`files::decode`]), as files
//! are, so `/batch%2Dpredict` is `/batch-predict`; the one exception is an A/B test's report,
//! counted only at its exact path, which a load balancer routes by (`deploy/haproxy/`).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{FutureExt, Stream, StreamExt};
use http::{header, HeaderMap, Method, Request, Response, StatusCode, Uri};
use warp::path::FullPath;
use warp::{Filter, Reply};

use crate::answers::{self, Problem};
use crate::api;
use crate::experiments;
use crate::files::{self, Root};
use crate::headers::{decorate, preflight};
use crate::report_limit::Peer;
use crate::state::State;
use cinerec_experiment::Arm;

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
        .and(warp::ext::optional::<Peer>())
        .and(state)
        .then(handle)
        .recover(|_| async {
            // The body was already taken: cannot happen with this filter, answered anyway.
            Ok::<_, Infallible>(Problem::bad("the request could not be read").response())
        })
        .unify()
}

/// Answers `request` with `routes` (the [`filter`] as a service), unless its target is not a
/// path (a 400), and catches a panic on the way (a 500).
pub async fn guarded<S, B>(state: &State, routes: &S, request: Request<B>) -> warp::reply::Response
where
    S: hyper::service::Service<Request<B>, Response = warp::reply::Response, Error = Infallible>,
{
    let started = Instant::now();
    if !request.uri().path().starts_with('/') {
        let target = request.uri().to_string();
        let mut response = Problem::bad(format!(
            "the request target {:?} is not a path: this server takes origin form \
             (GET /path HTTP/1.1) or absolute form",
            crate::log::clip(&target)
        ))
        .response();
        decorate(
            &mut response,
            request.method(),
            request.headers(),
            &state.cors,
        );
        record(
            state,
            "unroutable",
            request.method(),
            &target,
            &response,
            started,
        );
        return response.into_response();
    }
    // What the log line of a panic needs (cheap: a method and a shared URI).
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let answered = match std::panic::catch_unwind(AssertUnwindSafe(|| routes.call(request))) {
        Ok(answer) => AssertUnwindSafe(answer).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    match answered {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        // The panic hook logged where and why (see `server`).
        Err(_) => panicked(state, &method, &uri, started).into_response(),
    }
}

fn panicked(state: &State, method: &Method, uri: &Uri, started: Instant) -> Response<Bytes> {
    let mut response = Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the server could not answer this request",
    )
    .response();
    decorate(&mut response, method, &HeaderMap::new(), &state.cors);
    record(state, "panicked", method, uri.path(), &response, started);
    response
}

/// Counts and logs a connection hyper ended with an error: its own 400 (a malformed request
/// line or header), 414 (a URI over 64 KiB) or 431 (a head over its buffer) were answered by
/// hyper before any route saw them; other errors (a client gone, a timeout) answered nothing.
pub fn refused_by_parser(state: &State, error: &hyper::Error) {
    let text = error.to_string();
    let status = if text.starts_with("URI too long") {
        414
    } else if error.is_parse_too_large() {
        431
    } else if error.is_parse() && !error.is_parse_version_h2() && !text.starts_with("internal") {
        400
    } else {
        tracing::debug!(error = %text, "connection ended with an error");
        return;
    };
    state.metrics.refused("unparsed", status);
    tracing::info!(status, error = %text, "request refused by the HTTP parser");
}

/// The metrics and the log line of an answer.
fn record(
    state: &State,
    route: &'static str,
    method: &Method,
    path: &str,
    response: &Response<Bytes>,
    started: Instant,
) {
    let elapsed: Duration = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe(route, status, elapsed);
    if route == "/experiments/report" || path == "/experiments/report" {
        // Counted, never logged, and neither is its CORS preflight: a line would keep when a
        // device clicked (README, "The privacy claim").
        return;
    }
    // The path only: a query string or a body may hold what a log must not keep. The log
    // cuts it to `log::MAX_ECHO` bytes.
    tracing::info!(
        method = method.as_str(),
        path,
        status,
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
}

async fn handle<S, B>(
    method: Method,
    path: FullPath,
    query: String,
    headers: HeaderMap,
    body: S,
    peer: Option<Peer>,
    state: Arc<State>,
) -> Response<Bytes>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let started = Instant::now();
    let request = Incoming {
        method: &method,
        path: path.as_str(),
        query: &query,
        headers: &headers,
        peer,
    };
    let (route, answer) = dispatch(request, body, &state).await;
    let mut response = answer.unwrap_or_else(|problem| problem.response());
    decorate(&mut response, &method, &headers, &state.cors);
    record(&state, route, &method, path.as_str(), &response, started);
    response
}

type Answer = Result<Response<Bytes>, Problem>;

/// What [`dispatch`] reads of a request besides its body.
struct Incoming<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    peer: Option<Peer>,
}

/// What a decoded path names: its label in the metrics, the methods it takes (for a 405's
/// message) and its `Allow` (those and OPTIONS, which every route answers as a preflight).
struct Route {
    label: &'static str,
    methods: &'static str,
    allow: &'static str,
}

impl Route {
    const fn new(label: &'static str, methods: &'static str, allow: &'static str) -> Route {
        Route {
            label,
            methods,
            allow,
        }
    }

    fn of(decoded: &str) -> Route {
        const READ: (&str, &str) = ("GET, HEAD", "GET, HEAD, OPTIONS");
        match decoded {
            "batch-predict" => Route::new(
                "/batch-predict",
                "GET, HEAD, POST",
                "GET, HEAD, POST, OPTIONS",
            ),
            "predict" => Route::new("/predict", "POST", "POST, OPTIONS"),
            "healthz" => Route::new("/healthz", READ.0, READ.1),
            "model" => Route::new("/model", READ.0, READ.1),
            "metrics" => Route::new("/metrics", READ.0, READ.1),
            "model.bin" => Route::new("/model.bin", READ.0, READ.1),
            "experiment" => Route::new("/experiment", READ.0, READ.1),
            "experiments" => Route::new("/experiments", READ.0, READ.1),
            "experiments/report" => Route::new("/experiments/report", "POST", "POST, OPTIONS"),
            "experiments/control/model.bin" => {
                Route::new("/experiments/control/model.bin", READ.0, READ.1)
            }
            "experiments/candidate/model.bin" => {
                Route::new("/experiments/candidate/model.bin", READ.0, READ.1)
            }
            _ if decoded.starts_with("posters/") => Route::new("/posters", READ.0, READ.1),
            _ => Route::new("static", READ.0, READ.1),
        }
    }
}

/// The route label (for metrics) and the answer.
async fn dispatch<S, B>(request: Incoming<'_>, body: S, state: &State) -> (&'static str, Answer)
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let Incoming {
        method,
        path,
        query,
        headers,
        peer,
    } = request;
    let not_here = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("{} is not here", crate::log::clip(path)),
        )
    };
    // Decoded a segment at a time, as files are: `None` for anything no file could be.
    let Some(decoded) = files::decode(path) else {
        return ("static", Err(not_here()));
    };
    #[cfg(debug_assertions)]
    if decoded == "__test_panic" && std::env::var_os("CINEREC_TEST_PANIC").is_some() {
        // Debug builds only: how `tests/hostile.rs` checks that a panic is caught.
        panic!("the test panic");
    }
    let route = Route::of(&decoded);
    if *method == Method::OPTIONS {
        return (
            "preflight",
            Ok(preflight(headers, &state.cors, route.allow)),
        );
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    let head = *method == Method::HEAD;
    let post = *method == Method::POST;
    let allowed =
        (read && route.methods.contains("GET")) || (post && route.methods.contains("POST"));
    if !allowed {
        let problem = Problem {
            allow: Some(route.allow),
            ..Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not allowed here; use {}",
                    crate::log::clip(method.as_str()),
                    route.methods
                ),
            )
        };
        return (route.label, Err(problem));
    }
    let answer = match route.label {
        "/batch-predict" if read => api::batch_predict_get(state, query),
        "/batch-predict" => match read_body(body, headers, state).await {
            Ok(bytes) => api::batch_predict_post(state, &bytes),
            Err(problem) => Err(problem),
        },
        "/predict" if post => match read_body(body, headers, state).await {
            Ok(bytes) => api::predict(state, &bytes),
            Err(problem) => Err(problem),
        },
        // Counted at its one spelling only: a load balancer routes reports to the replica
        // that keeps the tally by this exact path (deploy/haproxy/cinerec.cfg).
        "/experiments/report" if path != "/experiments/report" => Err(not_here()),
        "/experiments/report" => match read_body(body, headers, state).await {
            Ok(bytes) => experiments::report(
                state.experiment.as_ref(),
                &state.cors,
                &bytes,
                headers,
                peer,
            ),
            Err(problem) => Err(problem),
        },
        "/experiment" => Ok(experiments::describe(state.experiment.as_ref())),
        "/experiments" => experiments::results(state.experiment.as_ref(), headers),
        "/experiments/control/model.bin" => {
            experiments::arm_model_file(state.experiment.as_ref(), Arm::Control, headers, head)
        }
        "/experiments/candidate/model.bin" => {
            experiments::arm_model_file(state.experiment.as_ref(), Arm::Candidate, headers, head)
        }
        "/healthz" => Ok(api::healthz(state)),
        "/model" => api::model(state),
        "/metrics" => Ok(answers::uncached(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(state.metrics.render()),
        )),
        "/model.bin" => Ok(files::respond(
            state.model.load().file(),
            headers,
            head,
            "no-cache",
        )),
        _ => {
            let (root, file) = match decoded.strip_prefix("posters/") {
                Some(name) => (Root::Posters, name),
                None if decoded.is_empty() => (Root::Static, "index.html"),
                None => (Root::Static, decoded.as_str()),
            };
            match state.files.find(root, file).await {
                Some(found) => Ok(files::respond(
                    &found,
                    headers,
                    head,
                    files::cache_control(file),
                )),
                None => Err(not_here()),
            }
        }
    };
    (route.label, answer)
}

/// The whole body, at most [`MAX_BODY`] bytes, within the request timeout: a slow or endless
/// body is cut off, never buffered without bound; one announced too large is refused unread.
/// The deadline is [`State::timer`]'s: a body that has already arrived never registers it.
async fn read_body<S, B>(mut body: S, headers: &HeaderMap, state: &State) -> Result<Bytes, Problem>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes"),
        )
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
        () = deadline => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        )),
    }
}
