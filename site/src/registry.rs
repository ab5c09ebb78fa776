//! `--registry`: serve the entry a model registry promotes, and follow its pointer.
//!
//! The registry's `current` is looked at every `--watch-interval` and on SIGHUP, as
//! `--model`'s file is. When it names another entry, that entry is loaded through
//! `cinerec-registry`'s checks (its record, length, SHA-256, decoding, id) and swapped in
//! whole, as any reload is. A pointer to an entry that fails a check is refused, logged and
//! counted in `cinerec_model_reload_failures_total`; the model already served stays, and
//! `cinerec_registry_serving_promoted` turns 0 until the pointer names a good entry again, or
//! the entry loads when tried again (after 1 s, then twice as long each time, up to 5
//! minutes: a registry on a network mount may fail for a moment).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use cinerec_registry::{Registry, CURRENT};
use tokio::signal::unix::Signal;

use crate::loading::{load_entry, within_load_timeout};
use crate::serving::Serving;
use crate::state::{State, Watched};

/// The entry `registry` promotes, loaded; an error when nothing is promoted.
pub async fn load_promoted(registry: &Registry, cap: u64) -> Result<(Serving, String)> {
    let Some(id) = read_pointer(registry).await? else {
        bail!(
            "{}: no model promoted yet (promote one with `cinerec-trainer registry promote \
             --registry {} ID`)",
            registry.root().join(CURRENT).display(),
            registry.root().display()
        );
    };
    Ok((load_entry(registry, &id, cap).await?, id))
}

/// The first wait before a refused entry is tried again, doubled after each refusal up to
/// [`RETRY_LAST`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_LAST: Duration = Duration::from_secs(300);

/// Follows the registry's pointer until the process ends (see the module docs).
pub async fn follow(
    state: Arc<State>,
    registry: Registry,
    cap: u64,
    hangup: Signal,
    interval: Duration,
) {
    let pointer = registry.root().join(CURRENT);
    let mut watched = Watched::new(pointer.clone(), hangup, interval);
    // After a refused entry, look again at growing intervals: a registry on a network mount
    // may fail for a moment, and the pointer will not move to say it is readable again.
    let mut backoff = RETRY_FIRST;
    loop {
        let reason = watched.next().await;
        let promoted = match read_pointer(&registry).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                state.metrics.reload_failed();
                tracing::warn!(%reason, pointer = %pointer.display(), "the pointer is gone; still serving the previous model");
                continue;
            }
            Err(error) => {
                state.metrics.reload_failed();
                tracing::warn!(%reason, error = %format!("{error:#}"), "pointer refused; still serving the previous model");
                continue;
            }
        };
        state.metrics.registry_promoted(&promoted);
        let old = state.model.load().id().to_string();
        if promoted == old {
            continue;
        }
        match load_entry(&registry, &promoted, cap).await {
            Ok(loaded) => {
                state.model.store(Arc::new(loaded));
                state.metrics.reloaded(&promoted);
                backoff = RETRY_FIRST;
                tracing::info!(%reason, from = %old, to = %promoted, "registry entry served");
            }
            Err(error) => {
                state.metrics.reload_failed();
                tracing::warn!(%reason, entry = %promoted, error = %format!("{error:#}"), retry_in_s = backoff.as_secs(), "entry refused; still serving the previous one");
                watched.retry_after(backoff);
                backoff = (backoff * 2).min(RETRY_LAST);
            }
        }
    }
}

/// `current`, read off the async threads and within the load timeout.
async fn read_pointer(registry: &Registry) -> Result<Option<String>> {
    let registry = registry.clone();
    let what = registry.root().join(CURRENT).display().to_string();
    within_load_timeout(&what, move || registry.current()).await
}
