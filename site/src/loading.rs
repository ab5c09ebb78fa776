//! Reading a model to serve, from a file or a registry entry, on the blocking pool and within
//! a deadline: a slow or endless source (a network mount that stops answering) fails the load
//! instead of holding the reloader, the start, or shutdown. Used by the server's start, the
//! model file's reloader, the registry follower and an experiment's candidate.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cinerec_registry::{Registry, MODEL_FILE};

use crate::files::read_capped;
use crate::serving::Serving;

/// How long reading a model may take before the reload (or the start) gives up on it: a
/// regular file on a disk that does not answer (a network mount) cannot hold the reloader.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// [`load_model`] on the blocking pool, given up after [`LOAD_TIMEOUT`] (the thread then
/// finishes on its own; nothing waits for it).
pub async fn load_model_within(path: &Path, cap: u64) -> Result<Serving> {
    let file = path.to_path_buf();
    within_load_timeout(&path.display().to_string(), move || load_model(&file, cap)).await
}

/// `load` on the blocking pool, given up after [`LOAD_TIMEOUT`] (the thread then finishes on
/// its own; nothing waits for it); `what` names what it reads in the error.
pub async fn within_load_timeout<T: Send + 'static>(
    what: &str,
    load: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let loading = tokio::task::spawn_blocking(load);
    match tokio::time::timeout(LOAD_TIMEOUT, loading).await {
        Ok(loaded) => loaded.context("the loading task failed")?,
        Err(_) => bail!("reading {what} took more than {} s", LOAD_TIMEOUT.as_secs()),
    }
}

/// Reads and checks a model file of at most `cap` bytes (see [`read_capped`]). Blocks.
pub fn load_model(path: &Path, cap: u64) -> Result<Serving> {
    let bytes = read_capped(path, cap, "--max-model-bytes")?;
    Serving::new(bytes, &path.display().to_string())
}

/// Entry `id`, checked and made ready to serve.
pub async fn load_entry(registry: &Registry, id: &str, cap: u64) -> Result<Serving> {
    let (registry, id) = (registry.clone(), id.to_string());
    let what = registry.entry_folder(&id).display().to_string();
    within_load_timeout(&what, move || {
        let checked = registry.load(&id, cap)?;
        let source = registry.entry_folder(&id).join(MODEL_FILE);
        Ok(Serving::new(checked.bytes, &source.display().to_string())?.with_registry_entry(&id))
    })
    .await
}
