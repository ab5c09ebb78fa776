//! What the server holds: the model being served (swapped whole when the file changes), the
//! users of the optional watch log, the static files, the metrics.
//!
//! Every request takes one snapshot of the model (an `Arc`), so an answer never mixes two
//! models however a reload interleaves with it, and `/model.bin` always serves the bytes of
//! the model that `/batch-predict` ranks with: the page and the API agree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use cinerec_core::WatchEvent;
use tokio::signal::unix::Signal;

use crate::coarse_timer::CoarseTimer;
use crate::experiments::Experiment;
use crate::files::{read_capped, Files, Signature};
use crate::headers::Cors;
use crate::loading::load_model_within;
use crate::metrics::Metrics;
use crate::serving::Serving;

/// Everything a request may need.
pub struct State {
    /// The model being served.
    pub model: ArcSwap<Serving>,
    /// Watch events by user, in log order: only with `--allow-user-id` (and a watch log).
    pub users: Option<HashMap<u64, Vec<WatchEvent>>>,
    /// The page's folder and the posters.
    pub files: Arc<Files>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Which other origins may call the API.
    pub cors: Cors,
    /// How long a client has to send its request body.
    pub request_timeout: Duration,
    /// The clock for request deadlines (cheap to start and drop per request).
    pub timer: CoarseTimer,
    /// The running A/B test of a candidate model, if any (see `experiments`).
    pub experiment: Option<Experiment>,
}

/// The largest watch log read (`--watch-log`).
pub const MAX_WATCH_LOG: u64 = 1 << 30;

/// Reads a watch log into each user's events, in log order.
pub fn load_users(path: &Path) -> Result<HashMap<u64, Vec<WatchEvent>>> {
    let bytes = read_capped(path, MAX_WATCH_LOG, "the watch log's limit")?;
    let log = cinerec_core::watch_log::parse(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut users: HashMap<u64, Vec<WatchEvent>> = HashMap::new();
    for row in log.rows {
        users.entry(row.user_id).or_default().push(WatchEvent {
            content_id: row.content_id,
            watch_seconds: row.watch_seconds,
        });
    }
    Ok(users)
}

/// Reloads the model on SIGHUP and whenever its file changes (checked every `interval`,
/// which also catches an atomic rename over it). A file that does not load is refused and
/// logged; the model already served stays. Nothing here waits on the file without bound
/// (see [`read_capped`] and [`load_model_within`]), so a FIFO, a device or a stuck disk at
/// the model's path never stops later reloads, nor the process on SIGTERM.
pub async fn watch_model(
    state: Arc<State>,
    path: PathBuf,
    cap: u64,
    hangup: Signal,
    interval: Duration,
) -> Result<()> {
    let mut watched = Watched::new(path.clone(), hangup, interval);
    loop {
        let reason = watched.next().await;
        match load_model_within(&path, cap).await {
            Ok(loaded) => {
                let old = state.model.load().id().to_string();
                let new = loaded.id().to_string();
                state.model.store(Arc::new(loaded));
                state.metrics.reloaded(&new);
                tracing::info!(%reason, from = %old, to = %new, "model reloaded");
            }
            Err(error) => {
                state.metrics.reload_failed();
                tracing::warn!(%reason, error = %format!("{error:#}"), "model refused; still serving the previous one");
            }
        }
    }
}

/// A file looked at every `interval`, and SIGHUP: what a reloader waits on.
pub struct Watched {
    path: PathBuf,
    seen: Option<Signature>,
    ticks: tokio::time::Interval,
    hangup: Signal,
    /// When to look again whether or not the file changed (see [`Watched::retry_after`]).
    retry_at: Option<tokio::time::Instant>,
}

impl Watched {
    /// Watches `path` as it is now.
    pub fn new(path: PathBuf, hangup: Signal, interval: Duration) -> Watched {
        Watched {
            seen: Signature::of(&path),
            path,
            ticks: tokio::time::interval(interval),
            hangup,
            retry_at: None,
        }
    }

    /// Makes [`Watched::next`] return once `delay` has passed (at its next tick) even if the
    /// file has not changed: for a load that failed for a reason that may pass (a network
    /// mount that did not answer).
    pub fn retry_after(&mut self, delay: Duration) {
        self.retry_at = Some(tokio::time::Instant::now() + delay);
    }

    /// Waits for SIGHUP, a change of the file (which a rename over it is) or a retry that is
    /// due; says which.
    pub async fn next(&mut self) -> &'static str {
        loop {
            let forced = tokio::select! {
                _ = self.hangup.recv() => true,
                _ = self.ticks.tick() => false,
            };
            let now = Signature::of(&self.path);
            let due = self
                .retry_at
                .is_some_and(|at| tokio::time::Instant::now() >= at);
            if !forced && !due && now == self.seen {
                continue;
            }
            self.seen = now;
            self.retry_at = None;
            return if forced {
                "SIGHUP"
            } else if due {
                "a retry"
            } else {
                "the file changed"
            };
        }
    }
}
