//! Running the server: load everything, listen, serve connections with timeouts and a limit,
//! reload the model, and stop gracefully.
//!
//! warp's own `serve` sets no header-read timeout, so connections are served here with hyper
//! directly: a client has `--request-timeout` to send its headers (hyper closes the connection
//! otherwise; an idle keep-alive connection too) and as long again for its body (see `routes`),
//! so a client that sends half a request, or trickles it, is cut off; a client that stops
//! reading its answer is cut off after as long without progress (`write_timeout`). Each
//! connection is a task, not a thread, so many slow clients cost memory, not service;
//! `--max-connections` bounds them (further ones wait to be accepted), and since every slow
//! client is cut off within the timeout, a full house frees up within it too. SIGTERM or
//! Ctrl-C stops accepting, lets requests in flight finish for `--shutdown-grace`, then exits.
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
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Semaphore;

use crate::cli::Args;
use crate::coarse_timer::CoarseTimer;
use crate::files::Files;
use crate::headers::Cors;
use crate::metrics::Metrics;
use crate::routes;
use crate::state::{self, State};
use crate::write_timeout::WriteTimeout;

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
    let loaded = state::load_model(&args.model)?;
    let users = args
        .watch_log
        .as_deref()
        .map(state::load_users)
        .transpose()?;
    let state = Arc::new(State {
        metrics: Metrics::new(loaded.model.id()),
        model: ArcSwap::from_pointee(loaded),
        users,
        files: Files::new(&args.static_dir, args.posters.as_deref())?,
        cors: Cors::new(&args.cors_origins)?,
        request_timeout: args.request_timeout(),
        timer: CoarseTimer::new().context("starting the timer thread")?,
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(serve(args, state))
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
    tokio::spawn(watch(
        state.clone(),
        args.model.clone(),
        hangup,
        Duration::from_secs_f64(args.watch_interval),
    ));
    tokio::task::spawn_blocking({
        let state = state.clone();
        move || state.files.warm()
    });
    tracing::info!(
        model_id = %state.model.load().model.id(),
        "serving on http://{address}"
    );

    let service = warp::service(routes::filter(state.clone()));
    let mut connections = http1::Builder::new();
    connections
        .timer(state.timer.clone())
        .header_read_timeout(args.request_timeout())
        .keep_alive(true);
    let limit = Arc::new(Semaphore::new(args.max_connections as usize));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit.context("the connection limit closed")?,
            () = &mut stop => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection = connections.serve_connection(
            TokioIo::new(WriteTimeout::new(stream, args.request_timeout())),
            TowerToHyperService::new(service.clone()),
        );
        let connection = graceful.watch(connection);
        let open = state.metrics.connection_opened();
        tokio::spawn(async move {
            // A client that goes away, sends garbage or stops reading ends only its own
            // connection.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(open);
            drop(permit);
        });
    }
    drop(listener);
    let grace = Duration::from_secs_f64(args.shutdown_grace);
    tracing::info!("stopping: finishing requests in flight (at most {grace:?})");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {grace:?} were cut off");
    }
    Ok(())
}

async fn watch(state: Arc<State>, path: std::path::PathBuf, hangup: Signal, interval: Duration) {
    if let Err(error) = state::watch_model(state, path, hangup, interval).await {
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
