/*!
`cinerec-registry` is cinerec's model registry: a folder of registered models, each with what
made it and how it did, a pointer to the one promoted to serve, and an append-only history of
every promotion, rollback and refusal. The trainer writes it (`cinerec-trainer registry …`,
`pipeline --registry`) and the server reads it (`cinerec-site --registry`), both through this
one implementation of the layout (`docs/registry.md`):

```text
REGISTRY/
  entries/<model_id>/model.bin     the model
  entries/<model_id>/entry.json    its Entry: provenance, evaluation, model.bin's sha256 and length
  current                          one line: the promoted model_id (replaced by rename)
  history.jsonl                    one Event per line, appended, never rewritten
  lock                             taken by whoever moves the pointer (local folders only)
```

An entry is used only once [`Registry::load`] has checked all of it (JSON, length, sha256,
decoding, id); a failed check is an error naming the file and the problem, so a corrupt or
truncated entry is never served nor promoted. Nothing here decides whether a model is good
enough: the trainer's gate does, and records its figures through [`Registry::promote`] or
[`Registry::refuse`].
*/
#![deny(missing_docs)]

mod files;
mod time;

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cinerec_core::{decode, Model, TrainConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use files::{read_capped, write_atomic, TEMPORARY_PREFIX};

/// The folder of the entries, under the registry's root.
pub const ENTRIES: &str = "entries";
/// The pointer to the promoted entry.
pub const CURRENT: &str = "current";
/// The promotion history.
pub const HISTORY: &str = "history.jsonl";
/// An entry's model.
pub const MODEL_FILE: &str = "model.bin";
/// An entry's record.
pub const ENTRY_FILE: &str = "entry.json";
/// The lock file that serialises pointer moves.
const LOCK: &str = "lock";

/// The largest `entry.json` read: an evaluation is a few kilobytes.
const MAX_ENTRY_JSON: u64 = 16 << 20;
/// The largest `current` read: one id and a newline.
const MAX_CURRENT: u64 = 1024;
/// The largest history read: a line is about 1 KB, so a million promotions.
const MAX_HISTORY: u64 = 1 << 30;
/// The largest model read when the caller names no bound of its own.
pub const MAX_MODEL: u64 = 1 << 30;
/// The largest model `cinerec-site` loads unless told otherwise (its `--max-model-bytes`):
/// `promote` warns about a bigger one, which replicas with that default would refuse.
pub const SERVED_MAX_MODEL: u64 = 256 << 20;

/// A registry rooted at a folder.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// What `entry.json` records about one registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The model's id (core's `Model::id`), also the entry's folder name.
    pub model_id: String,
    /// Hex SHA-256 of `model.bin`'s bytes.
    pub model_sha256: String,
    /// Length of `model.bin` in bytes.
    pub model_bytes: u64,
    /// When it was registered (RFC 3339, UTC).
    pub registered_at: String,
    /// Version of the code that trained it, as the model records it.
    pub code_version: String,
    /// The program that registered it, and its version.
    pub registered_by: String,
    /// Hex SHA-256 of the watch log it was trained on.
    pub training_data_sha256: String,
    /// Hex SHA-256 of the catalog file it was trained with.
    pub catalog_sha256: String,
    /// Its training configuration, seed included.
    pub config: TrainConfig,
    /// The held-out watch log it was measured on, which the promotion gate uses by default.
    pub held_out_log: Option<LogFile>,
    /// Its evaluation on that log beside the baselines (`cinerec-trainer evaluate`'s JSON).
    pub evaluation: Option<serde_json::Value>,
}

/// A watch log named by path and content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogFile {
    /// Where it was when the entry was registered (absolute).
    pub path: PathBuf,
    /// Hex SHA-256 of its bytes then: a changed file is not the log the entry was measured on.
    pub sha256: String,
}

/// A registered model that passed every check.
#[derive(Debug)]
pub struct Checked {
    /// Its record.
    pub entry: Entry,
    /// The decoded model.
    pub model: Model,
    /// `model.bin`'s bytes.
    pub bytes: Vec<u8>,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What happened.
    pub action: Action,
    /// The entry concerned: the one promoted, rolled back to, or refused.
    pub entry: String,
    /// What `current` named before (unchanged by a refusal).
    pub previous: Option<String>,
    /// Why: required for a forced promotion, optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The gate's figures, when a comparison was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<serde_json::Value>,
}

/// What a history line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The pointer moved to an entry that passed the gate (or had nothing to beat).
    Promote,
    /// The pointer moved to an entry by an operator's decision, against or without the gate.
    ForcedPromote,
    /// The pointer moved back to the entry promoted before the current one.
    Rollback,
    /// The gate refused the entry; the pointer did not move.
    Refused,
}

/// Whether [`Registry::register`] added the entry or found it there already.
#[derive(Debug)]
pub struct Registered {
    /// The entry as recorded.
    pub entry: Entry,
    /// False when the same model was registered before (its first record stays).
    pub new: bool,
}

impl Registry {
    /// The registry at `root`, which must be a folder already.
    pub fn open(root: &Path) -> Result<Registry> {
        if !root.is_dir() {
            bail!(
                "{}: no registry there (not a folder; `registry register` creates one)",
                root.display()
            );
        }
        Ok(Registry {
            root: root.to_path_buf(),
        })
    }

    /// The registry at `root`, made if it does not exist yet.
    pub fn create(root: &Path) -> Result<Registry> {
        let entries = root.join(ENTRIES);
        std::fs::create_dir_all(&entries)
            .with_context(|| format!("creating {}", entries.display()))?;
        Registry::open(root)
    }

    /// The registry's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of entry `id`.
    pub fn entry_folder(&self, id: &str) -> PathBuf {
        self.root.join(ENTRIES).join(id)
    }

    /// Registers the model whose bytes are `bytes` (checked by decoding them first). The
    /// model goes in before its `entry.json`, so a folder without one is an interrupted
    /// registration, which [`Registry::load`] refuses.
    pub fn register(
        &self,
        bytes: &[u8],
        held_out_log: Option<LogFile>,
        evaluation: Option<serde_json::Value>,
        registered_by: &str,
    ) -> Result<Registered> {
        let model = decode(bytes).context("the model to register does not decode")?;
        let id = model.id().to_string();
        if self.entry_folder(&id).join(ENTRY_FILE).exists() {
            let checked = self.load(&id, MAX_MODEL)?;
            return Ok(Registered {
                entry: checked.entry,
                new: false,
            });
        }
        let metadata = model.metadata();
        let entry = Entry {
            model_id: id.clone(),
            model_sha256: sha256_hex(bytes),
            model_bytes: bytes.len() as u64,
            registered_at: time::now(),
            code_version: metadata.code_version.clone(),
            registered_by: registered_by.to_string(),
            training_data_sha256: metadata.training_data_sha256.clone(),
            catalog_sha256: metadata.catalog_sha256.clone(),
            config: metadata.config.clone(),
            held_out_log,
            evaluation,
        };
        let folder = self.entry_folder(&id);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        files::write_atomic(&folder.join(MODEL_FILE), bytes)?;
        let mut text = serde_json::to_string_pretty(&entry)?;
        text.push('\n');
        files::write_atomic(&folder.join(ENTRY_FILE), text.as_bytes())?;
        Ok(Registered { entry, new: true })
    }

    /// Entry `id` with its model, after every check: `entry.json` parses and names `id`,
    /// `model.bin` (at most `cap` bytes) has the recorded length and SHA-256, decodes, and
    /// is model `id`.
    pub fn load(&self, id: &str, cap: u64) -> Result<Checked> {
        check_id(id)?;
        let folder = self.entry_folder(id);
        if !folder.is_dir() {
            bail!(
                "{}: no such entry (`registry list` shows what is registered)",
                folder.display()
            );
        }
        let entry = self.read_entry(id)?;
        let model_path = folder.join(MODEL_FILE);
        let bytes = read_capped(&model_path, cap, "the model size limit")?;
        if bytes.len() as u64 != entry.model_bytes {
            bail!(
                "{}: {} bytes, but entry.json records {}: the file is truncated or was replaced",
                model_path.display(),
                bytes.len(),
                entry.model_bytes
            );
        }
        let sha256 = sha256_hex(&bytes);
        if sha256 != entry.model_sha256 {
            bail!(
                "{}: sha256 {sha256}, but entry.json records {}: the file was changed",
                model_path.display(),
                entry.model_sha256
            );
        }
        let model =
            decode(&bytes).with_context(|| format!("{}: does not decode", model_path.display()))?;
        if model.id() != id {
            bail!(
                "{}: holds model {}, not {id}",
                model_path.display(),
                model.id()
            );
        }
        Ok(Checked {
            entry,
            model,
            bytes,
        })
    }

    /// Every entry folder's id and its [`Registry::load`] (default bound), newest first;
    /// entries that fail a check come last, with their error.
    pub fn list(&self) -> Result<Vec<(String, Result<Checked>)>> {
        let folder = self.root.join(ENTRIES);
        let mut ids = Vec::new();
        let listing = match std::fs::read_dir(&folder) {
            Ok(listing) => listing,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("listing {}", folder.display()))
            }
        };
        for item in listing {
            let item = item.with_context(|| format!("listing {}", folder.display()))?;
            ids.push(item.file_name().to_string_lossy().into_owned());
        }
        let mut listed: Vec<(String, Result<Checked>)> = ids
            .into_iter()
            .map(|id| {
                let checked = self.load(&id, MAX_MODEL);
                (id, checked)
            })
            .collect();
        listed.sort_by(|(a_id, a), (b_id, b)| match (a, b) {
            (Ok(a), Ok(b)) => b
                .entry
                .registered_at
                .cmp(&a.entry.registered_at)
                .then_with(|| a_id.cmp(b_id)),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => a_id.cmp(b_id),
        });
        Ok(listed)
    }

    /// The promoted entry's id, or `None` when nothing was ever promoted.
    pub fn current(&self) -> Result<Option<String>> {
        let path = self.root.join(CURRENT);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_capped(&path, MAX_CURRENT, "a pointer's limit")?;
        let text = String::from_utf8_lossy(&bytes);
        let id = text.strip_suffix('\n').unwrap_or(&text);
        check_id(id).with_context(|| format!("{}: the pointer is not valid", path.display()))?;
        Ok(Some(id.to_string()))
    }

    /// Every line of the history, oldest first (none before the first promotion).
    pub fn history(&self) -> Result<Vec<Event>> {
        let path = self.root.join(HISTORY);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let bytes = read_capped(&path, MAX_HISTORY, "the history's limit")?;
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("{}: not UTF-8 text", path.display()))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("{}: line {}", path.display(), index + 1))
            })
            .collect()
    }

    /// Moves the pointer to entry `id` (which must pass every check) and records it, as
    /// `action` with `reason` and the gate's figures. `expected` is what `current` named
    /// when the caller decided: if it moved since, nothing happens and the error says so.
    pub fn promote(
        &self,
        id: &str,
        action: Action,
        expected: Option<&str>,
        reason: Option<String>,
        gate: Option<serde_json::Value>,
    ) -> Result<Event> {
        if action == Action::ForcedPromote && reason.as_deref().is_none_or(str::is_empty) {
            bail!("a forced promotion needs a reason");
        }
        let _lock = self.lock()?;
        let previous = self.current()?;
        if previous.as_deref() != expected {
            bail!(
                "{}: the pointer moved from {} to {} while the promotion was being decided; \
                 run it again",
                self.root.join(CURRENT).display(),
                expected.unwrap_or("nothing"),
                previous.as_deref().unwrap_or("nothing")
            );
        }
        self.load(id, MAX_MODEL)
            .with_context(|| format!("entry {id} cannot be promoted"))?;
        self.move_pointer(Event {
            at: time::now(),
            action,
            entry: id.to_string(),
            previous,
            reason,
            gate,
        })
    }

    /// Records that the gate refused entry `id`; the pointer stays.
    pub fn refuse(
        &self,
        id: &str,
        reason: String,
        gate: Option<serde_json::Value>,
    ) -> Result<Event> {
        let _lock = self.lock()?;
        let event = Event {
            at: time::now(),
            action: Action::Refused,
            entry: id.to_string(),
            previous: self.current()?,
            reason: Some(reason),
            gate,
        };
        self.append(&event)?;
        Ok(event)
    }

    /// Moves the pointer back to the entry promoted before the current one, as the history
    /// tells (promotions stack up, each rollback takes one off), and records it.
    pub fn rollback(&self, reason: Option<String>) -> Result<Event> {
        let _lock = self.lock()?;
        let current = self.current()?;
        let stack = promoted_stack(&self.history()?);
        let history = self.root.join(HISTORY);
        let Some(top) = stack.last() else {
            bail!("{}: nothing was ever promoted", history.display());
        };
        if current.as_deref() != Some(top.as_str()) {
            bail!(
                "{} names {}, but by {} the current entry is {top}: the pointer was moved by \
                 hand; promote the entry meant to serve with --force and a reason",
                self.root.join(CURRENT).display(),
                current.as_deref().unwrap_or("nothing"),
                history.display()
            );
        }
        let Some(target) = stack.len().checked_sub(2).map(|index| &stack[index]) else {
            bail!("nothing to roll back to: {top} is the only entry ever promoted");
        };
        self.load(target, MAX_MODEL)
            .with_context(|| format!("cannot roll back to entry {target}"))?;
        self.move_pointer(Event {
            at: time::now(),
            action: Action::Rollback,
            entry: target.clone(),
            previous: current,
            reason,
            gate: None,
        })
    }

    /// Appends `event`, then renames the new pointer into place: a crash between the two
    /// leaves a history line whose pointer never moved, which `rollback` reports, rather
    /// than a pointer that moved without a record.
    fn move_pointer(&self, event: Event) -> Result<Event> {
        self.append(&event)?;
        files::write_atomic(
            &self.root.join(CURRENT),
            format!("{}\n", event.entry).as_bytes(),
        )?;
        Ok(event)
    }

    fn append(&self, event: &Event) -> Result<()> {
        let line = serde_json::to_string(event)?;
        files::append_line(&self.root.join(HISTORY), &line)
    }

    fn read_entry(&self, id: &str) -> Result<Entry> {
        let path = self.entry_folder(id).join(ENTRY_FILE);
        let bytes = read_capped(&path, MAX_ENTRY_JSON, "an entry's limit")?;
        let entry: Entry = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a valid entry", path.display()))?;
        if entry.model_id != id {
            bail!(
                "{}: model_id is {}, but the entry's folder is {id}",
                path.display(),
                entry.model_id
            );
        }
        Ok(entry)
    }

    /// Holds the registry's lock until dropped: two operators promoting at once take turns.
    fn lock(&self) -> Result<File> {
        let path = self.root.join(LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(file)
    }
}

/// The entries promoted in turn, as the history's pointer moves leave them: a promotion
/// pushes, a rollback pops. The last is the current entry, the one before it a rollback's
/// target.
fn promoted_stack(history: &[Event]) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    for event in history {
        match event.action {
            Action::Promote | Action::ForcedPromote => stack.push(event.entry.clone()),
            Action::Rollback => {
                stack.pop();
            }
            Action::Refused => {}
        }
    }
    stack
}

/// Refuses what is not a model id (16 lowercase hex digits): an id becomes a path.
pub fn check_id(id: &str) -> Result<()> {
    if id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Ok(());
    }
    bail!("{id:?} is not a model id (16 lowercase hex digits)")
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
