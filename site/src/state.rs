//! What the server holds: the model being served (swapped whole when the file changes), the
//! users of the optional watch log, the static files, the metrics.
//!
//! Every request takes one snapshot of the model (an `Arc`), so an answer never mixes two
//! models however a reload interleaves with it, and `/model.bin` always serves the bytes of
//! the model that `/batch-predict` ranks with: the page and the API agree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use arc_swap::ArcSwap;
use bytes::Bytes;
use cinerec_core::{decode, EventCache, Model, WatchEvent};
use serde_json::value::RawValue;
use tokio::signal::unix::Signal;

use crate::coarse_timer::CoarseTimer;
use crate::files::{self, read_capped, Files};
use crate::headers::Cors;
use crate::metrics::Metrics;

/// A decoded model with the bytes it came from.
pub struct Loaded {
    /// The checked model.
    pub model: Model,
    /// `model.bin` as read, compressed once per model like the page's files; its ETag is
    /// the model id.
    pub file: files::File,
    /// Each catalog entry as JSON, in catalog order: written once per model, since every
    /// answer would otherwise escape the same titles again.
    movies: Vec<Box<RawValue>>,
    /// The answers for the empty history (a new visitor, `GET /batch-predict?k=N` without a
    /// user), by `k - 1` up to [`MEMO_K`]: a pure function of the model and `k`, so each is
    /// ranked once, when first asked for, and goes with its model when a new one is loaded.
    empty_history: Vec<OnceLock<Bytes>>,
    /// Each event's softmax output once ranked, for the rankings that have it again (the page
    /// sends a visitor's whole history on every click, with one of three watch times); goes
    /// with its model too.
    pub events: EventCache,
}

/// The outputs [`Loaded::events`] may keep: 16 MiB (for the demo's 58 classes, the cache's
/// cap of 65,536 events comes first: 15 MiB of outputs and about 4 MiB of map).
const EVENT_CACHE_BYTES: usize = 16 << 20;

/// The largest `k` whose empty-history answer is kept (the page asks for 10, the original
/// API's default was 5); larger ones are ranked on every request.
pub const MEMO_K: usize = 100;

impl Loaded {
    /// The JSON of a movie the model ranked (`null` for one it does not have, which `rank`
    /// never returns).
    pub fn movie(&self, content_id: u64) -> &RawValue {
        self.model
            .catalog()
            .binary_search_by_key(&content_id, |entry| entry.id)
            .map_or(RawValue::NULL, |index| &self.movies[index])
    }

    /// The answer for the empty history and `k`, made by `make` the first time it is asked
    /// for; `None` when `k` is above [`MEMO_K`].
    pub fn empty_history_answer<E>(
        &self,
        k: u64,
        make: impl FnOnce() -> Result<Bytes, E>,
    ) -> Option<Result<Bytes, E>> {
        let slot = self
            .empty_history
            .get(usize::try_from(k).ok()?.checked_sub(1)?)?;
        if let Some(body) = slot.get() {
            return Some(Ok(body.clone()));
        }
        // Two requests may both rank it the first time: the same bytes, so either may stay.
        Some(make().map(|body| slot.get_or_init(|| body).clone()))
    }

    /// The longest movie JSON, to size an answer's buffer.
    pub fn movie_json_size(&self) -> usize {
        self.movies
            .iter()
            .map(|movie| movie.get().len())
            .max()
            .unwrap_or(0)
    }
}

/// Everything a request may need.
pub struct State {
    /// The model being served.
    pub model: ArcSwap<Loaded>,
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
}

/// How long reading a model may take before the reload (or the start) gives up on it: a
/// regular file on a disk that does not answer (a network mount) cannot hold the reloader.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest watch log read (`--watch-log`).
pub const MAX_WATCH_LOG: u64 = 1 << 30;

/// [`load_model`] on the blocking pool, given up after [`LOAD_TIMEOUT`] (the thread then
/// finishes on its own; nothing waits for it).
pub async fn load_model_within(path: &Path, cap: u64) -> Result<Loaded> {
    let file = path.to_path_buf();
    let loading = tokio::task::spawn_blocking(move || load_model(&file, cap));
    match tokio::time::timeout(LOAD_TIMEOUT, loading).await {
        Ok(loaded) => loaded.context("the loading task failed")?,
        Err(_) => bail!(
            "reading {} took more than {} s",
            path.display(),
            LOAD_TIMEOUT.as_secs()
        ),
    }
}

/// Reads and checks a model file of at most `cap` bytes (see [`read_capped`]). Blocks.
pub fn load_model(path: &Path, cap: u64) -> Result<Loaded> {
    let bytes = read_capped(path, cap, "--max-model-bytes")?;
    let model = decode(&bytes).with_context(|| format!("loading model {}", path.display()))?;
    let file = files::File::new(
        Bytes::from(bytes),
        "application/octet-stream",
        model.id().to_string(),
        // Its weights are floats, but the catalog's titles are text: a sixth smaller or so.
        true,
    );
    let movies = model
        .catalog()
        .iter()
        .map(serde_json::value::to_raw_value)
        .collect::<Result<_, _>>()
        .with_context(|| format!("writing the catalog of {} as JSON", path.display()))?;
    Ok(Loaded {
        events: EventCache::new(&model, EVENT_CACHE_BYTES),
        model,
        file,
        movies,
        empty_history: (0..MEMO_K).map(|_| OnceLock::new()).collect(),
    })
}

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

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn signature(path: &Path) -> Option<Signature> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some(Signature {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode: metadata.ino(),
    })
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
    mut hangup: Signal,
    interval: Duration,
) -> Result<()> {
    let mut seen = signature(&path);
    let mut ticks = tokio::time::interval(interval);
    loop {
        let forced = tokio::select! {
            _ = hangup.recv() => true,
            _ = ticks.tick() => false,
        };
        let now = signature(&path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        let reason = if forced { "SIGHUP" } else { "the file changed" };
        match load_model_within(&path, cap).await {
            Ok(loaded) => {
                let old = state.model.load().model.id().to_string();
                let new = loaded.model.id().to_string();
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
