//! Running the server: load everything, listen, serve connections with timeouts and a limit,
//! reload the model, and stop gracefully.
//!
//! warp's own `serve` sets no header-read timeout, so connections are served here with hyper
//! directly: a client has `--request-timeout` to send its headers (hyper closes the connection
//! otherwise; an idle keep-alive connection too) and as long again for its body (see `routes`),
//! so a client that sends half a request, or trickles it, is cut off; a client that stops
//! reading its answer is cut off after as long without progress (`write_timeout`). Each
//! connection is a task, not a thread, so many slow clients cost memory, not service;
//! `--max-connections` bounds them ([`Slots`]: when all are taken, the connection idle the
//! longest is closed to make room; a newcomer waits only while every connection is in the
//! middle of a request, and since every slow client is cut off within the timeout, that
//! frees up within it too). SIGTERM or Ctrl-C stops accepting, lets requests in flight finish
//! for `--shutdown-grace`, then exits; a blocking task still running then (a model read from
//! a disk that does not answer) does not hold the exit.
//!
//! Every request goes through [`routes::guarded`] (a target that is not a path is a 400, a
//! panic a 500), and a connection hyper ends with a parse error of its own is counted by
//! [`routes::refused_by_parser`]. A panic is logged on one line by the hook installed here;
//! catching it needs `panic = "unwind"`, which `main.rs` checks at compile time.
//!
//! hyper's timer is [`CoarseTimer`], not tokio's: the header-read timeout starts a sleep for
//! every request, and a coarse one costs a short push onto a list and no wake-up of a parked
//! worker.
//!
//! The signal handlers are installed before the server says it is listening: until then,
//! SIGHUP or SIGTERM would still have their default action and kill the process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use cinerec_registry::Registry;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::cli::{Args, Source};
use crate::coarse_timer::CoarseTimer;
use crate::experiments::Experiment;
use crate::files::Files;
use crate::headers::Cors;
use crate::metrics::Metrics;
use crate::report_limit::Peer;
use crate::slots::Slots;
use crate::state::{self, State};
use crate::write_timeout::WriteTimeout;
use crate::{loading, registry, routes};

/// Threads for blocking work (file look-ups, model loads): a handful is plenty, and the bound
/// keeps a flood of them from costing a thread each.
const BLOCKING_THREADS: usize = 8;

/// Loads everything, then serves until SIGTERM or Ctrl-C.
pub fn run(args: Args) -> Result<()> {
    // One line per request, written out in batches (see `log`); the guard writes what is
    // left when `run` returns.
    let (log, _flush_on_return) = crate::log::batched(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(log)
        .event_format(crate::log::LineFormat)
        .init();
    install_panic_hook();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("starting the runtime")?;
    let served = runtime.block_on(async {
        let state = prepare(&args).await?;
        serve(args, state).await
    });
    // Nothing blocking may hold the exit (a reload stuck on a file that never answers).
    runtime.shutdown_timeout(Duration::from_millis(500));
    served
}

/// Loads the model, the watch log and the folders.
async fn prepare(args: &Args) -> Result<Arc<State>> {
    let (loaded, promoted) = match args.source() {
        Source::Model(path) => (
            loading::load_model_within(path, args.max_model_bytes).await?,
            None,
        ),
        Source::Registry(root) => {
            let (loaded, promoted) =
                registry::load_promoted(&Registry::open(root)?, args.max_model_bytes).await?;
            (loaded, Some(promoted))
        }
    };
    let metrics = Metrics::new(loaded.id());
    if let Some(promoted) = promoted {
        metrics.registry_promoted(&promoted);
    }
    let users = match (&args.watch_log, args.allow_user_id) {
        (Some(path), true) => Some(state::load_users(path)?),
        (Some(_), false) => {
            tracing::warn!("--watch-log is not used without --allow-user-id");
            None
        }
        (None, _) => None,
    };
    let loaded = Arc::new(loaded);
    let experiment = Experiment::from_args(args, &loaded).await?;
    Ok(Arc::new(State {
        metrics,
        model: ArcSwap::new(loaded),
        users,
        files: Arc::new(Files::new(&args.static_dir, args.posters.as_deref())?),
        cors: Cors::new(&args.cors_origins)?,
        request_timeout: args.request_timeout(),
        timer: CoarseTimer::new().context("starting the timer thread")?,
        experiment,
    }))
}

/// Panics are logged as one line (the message cut like any text in the log), not the
/// default hook's several lines on stderr.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()))
            .unwrap_or_default();
        tracing::error!(panic = message, %location, "panicked");
    }));
}

async fn serve(args: Args, state: Arc<State>) -> Result<()> {
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    let mut stop = std::pin::pin!(stop_signal(
        signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        signal(SignalKind::interrupt()).context("listening for SIGINT")?,
    ));
    let interval = Duration::from_secs_f64(args.watch_interval);
    match args.source() {
        Source::Model(path) => tokio::spawn(watch(
            state.clone(),
            path.to_path_buf(),
            args.max_model_bytes,
            hangup,
            interval,
        )),
        Source::Registry(root) => tokio::spawn(registry::follow(
            state.clone(),
            Registry::open(root)?,
            args.max_model_bytes,
            hangup,
            interval,
        )),
    };
    tokio::task::spawn_blocking({
        let files = state.files.clone();
        move || files.warm()
    });
    tracing::info!(
        model_id = %state.model.load().id(),
        "serving on http://{address}"
    );

    let routes = TowerToHyperService::new(warp::service(routes::filter(state.clone())));
    let mut connections = http1::Builder::new();
    connections
        .timer(state.timer.clone())
        .header_read_timeout(args.request_timeout())
        .keep_alive(true);
    let slots = Slots::new(
        args.max_connections as usize,
        args.max_connections_per_ip as usize,
    );
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors before the limit (a low `ulimit -n`): close the
                    // connection idle the longest, as a full house would. Otherwise wait a
                    // little instead of spinning.
                    let out_of_files =
                        matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    let evicted = out_of_files && slots.evict_idle();
                    if !evicted {
                        tracing::warn!(%error, "accepting a connection failed");
                    }
                    let pause = if evicted { 5 } else { 100 };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let ticket = tokio::select! {
            ticket = slots.admit(peer.ip()) => ticket,
            () = &mut stop => break,
        };
        let Some(ticket) = ticket else {
            // Its address holds --max-connections-per-ip, all busy: closed unanswered.
            tracing::debug!(peer = %peer.ip(), "connection refused: its address is at its cap");
            continue;
        };
        let ticket = Arc::new(ticket);
        let service = hyper::service::service_fn({
            let (state, routes, ticket) = (state.clone(), routes.clone(), ticket.clone());
            move |mut request: http::Request<hyper::body::Incoming>| {
                // For the experiment reports' rate limit only (see `experiments`).
                request.extensions_mut().insert(Peer(peer.ip()));
                let busy = ticket.busy();
                let (state, routes) = (state.clone(), routes.clone());
                async move {
                    let response = routes::guarded(&state, &routes, request).await;
                    drop(busy);
                    Ok::<_, std::convert::Infallible>(response)
                }
            }
        });
        let connection = connections.serve_connection(
            TokioIo::new(WriteTimeout::new(stream, args.request_timeout())),
            service,
        );
        let open = state.metrics.connection_opened();
        let state = state.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Told to close (to make room, or to stop): the request in progress, if any, is
            // answered first.
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = ticket.closing() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            // A client that goes away, sends garbage or stops reading ends only its own
            // connection.
            if let Err(error) = ended {
                routes::refused_by_parser(&state, &error);
            }
            drop(open);
            drop(ticket);
        });
    }
    drop(listener);
    slots.close_all();
    let grace = Duration::from_secs_f64(args.shutdown_grace);
    tracing::info!("stopping: finishing requests in flight (at most {grace:?})");
    if tokio::time::timeout(grace, slots.all_closed())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {grace:?} were cut off");
    }
    Ok(())
}

async fn watch(
    state: Arc<State>,
    path: std::path::PathBuf,
    cap: u64,
    hangup: Signal,
    interval: Duration,
) {
    if let Err(error) = state::watch_model(state, path, cap, hangup, interval).await {
        tracing::error!(error = %format!("{error:#}"), "the model will not be reloaded");
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT), whose handlers the caller installed.
async fn stop_signal(mut terminate: Signal, mut interrupt: Signal) {
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("Ctrl-C"),
        _ = terminate.recv() => tracing::info!("SIGTERM"),
    }
}
