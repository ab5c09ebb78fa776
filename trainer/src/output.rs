//! Writing outputs atomically, and never over something that is not a file; reading inputs
//! within bounded memory.
//!
//! Every file the trainer writes goes through [`write_atomic`]: a temporary file in the same
//! folder, written, synced, then renamed over the destination, so a crash never leaves half a
//! model, catalog or log behind. A rename replaces whatever has the name, so the destination
//! is looked at first ([`destination`]):
//!
//! - a regular file, or nothing yet: replaced, or created;
//! - a symbolic link (or a chain of them): followed, and the file at its end is replaced
//!   atomically while the link stays, as `cp` or a shell's `>` would write through it;
//! - anything else, itself or at the end of a link (a folder, a device such as `/dev/null`, a
//!   FIFO, a socket): refused with an error that names it. Renaming over it would destroy it,
//!   and writing into it could not be atomic (a FIFO may block for ever, a block device is a
//!   disk).
//!
//! A run killed while writing leaves its temporary file behind. Temporary files are named
//! `.cinerec-tmp-*` and locked by their writer until the rename; the first write into a folder
//! in a run removes those that are unlocked and more than a minute old (the minute covers the
//! instant between creating one and locking it). Nothing else is ever removed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cinerec_registry::TEMPORARY_PREFIX;

/// Writes `bytes` to `path` through a temporary file and a rename (the registry's
/// [`write_atomic`](cinerec_registry::write_atomic), which locks the temporary file
/// until the rename: another run's sweep leaves it alone); creates the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let destination = destination(path)?;
    let folder = parent(&destination);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("creating folder {}", folder.display()))?;
    remove_stale_temporaries_once(&folder);
    cinerec_registry::write_atomic(&destination, bytes)
}

/// Where writing `path` lands: `path` itself, or the end of its chain of symbolic links.
/// Refuses a destination that a rename must not replace (see the module docs), so callers
/// can check their outputs before long work.
pub fn destination(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let metadata = match std::fs::symlink_metadata(&current) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(current),
            Err(error) => {
                return Err(error).with_context(|| format!("looking at {}", current.display()))
            }
        };
        let kind = metadata.file_type();
        if kind.is_file() {
            return Ok(current);
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(&current)
                .with_context(|| format!("reading the link {}", current.display()))?;
            // A relative target is relative to the link's folder; an absolute one replaces it.
            current = match current.parent() {
                Some(folder) => folder.join(target),
                None => target,
            };
            continue;
        }
        let what = if current == path {
            format!("{} is {}", path.display(), describe(&kind))
        } else {
            format!(
                "{} leads to {}, which is {}",
                path.display(),
                current.display(),
                describe(&kind)
            )
        };
        bail!(
            "{what}, not a regular file: outputs are written to a temporary file and renamed \
             into place, which would replace it; give the path of a file"
        );
    }
    bail!(
        "{}: more than {MAX_LINKS} symbolic links in a row",
        path.display()
    )
}

/// Removes the outputs at `paths` (the files their links lead to), so that a run killed before
/// it writes its own leaves none of an earlier run's beside them. Refuses, before removing
/// anything, what [`destination`] refuses.
pub fn remove_stale(paths: &[PathBuf]) -> Result<()> {
    let destinations = paths
        .iter()
        .map(|path| destination(path))
        .collect::<Result<Vec<_>>>()?;
    for (path, destination) in paths.iter().zip(destinations) {
        match std::fs::remove_file(&destination) {
            Err(error) if error.kind() != ErrorKind::NotFound => {
                return Err(error)
                    .with_context(|| format!("removing the previous {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads a whole input file (or pipe), naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let context = || format!("reading {}", path.display());
    let file = File::open(path).with_context(context)?;
    // A regular file says its size: one allocation. A pipe or device grows the buffer.
    let size = file
        .metadata()
        .map_or(0, |metadata| metadata.len().min(MAX_INPUT));
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .with_context(context)?;
    if bytes.len() as u64 > MAX_INPUT {
        bail!(
            "{}: larger than the {} GiB an input may be",
            path.display(),
            MAX_INPUT >> 30
        );
    }
    Ok(bytes)
}

/// The folder a file lives in (`.` for a bare file name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An unlocked temporary file younger than this may be one whose writer has not locked it yet.
const STALE_AFTER: Duration = Duration::from_secs(60);
/// Without locks, only age tells; no write of ours takes an hour (the bytes are in memory).
const STALE_WITHOUT_LOCKS_AFTER: Duration = Duration::from_secs(3600);
/// Links followed before giving up, as the kernel's `ELOOP` limit.
const MAX_LINKS: usize = 40;
/// The largest input read: a watch log of ten million rows is about 400 MB, and reading
/// `/dev/zero` must end in an error, not in an allocation that aborts.
pub const MAX_INPUT: u64 = 1 << 30;

/// Removes the stale temporary files of `folder` (see the module docs), once per run and
/// folder: a crawl writes hundreds of posters into one.
fn remove_stale_temporaries_once(folder: &Path) {
    static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let mut swept = SWEPT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !swept
        .get_or_insert_with(HashSet::new)
        .insert(folder.to_path_buf())
    {
        return;
    }
    // Best effort: a leftover costs disk space, never correctness.
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(TEMPORARY_PREFIX));
        if ours && is_stale(&entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a temporary file of ours was left by a writer that is gone.
fn is_stale(path: &Path) -> bool {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return false;
    };
    // Ours are plain files; whatever else wears the name is not ours to remove.
    if !metadata.is_file() {
        return false;
    }
    let Some(age) = metadata
        .modified()
        .ok()
        .and_then(|time| time.elapsed().ok())
    else {
        return false;
    };
    if age < STALE_AFTER {
        return false;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => true,
        Err(std::fs::TryLockError::WouldBlock) => false,
        Err(std::fs::TryLockError::Error(_)) => age >= STALE_WITHOUT_LOCKS_AFTER,
    }
}

/// `a folder`, `a character device`, … for an error message.
fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "something else"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn names(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(&dir.path().join("sub")), ["out.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("runs")).unwrap();
        std::fs::write(dir.path().join("runs/model.bin"), b"old").unwrap();
        let link = dir.path().join("model.bin");
        std::os::unix::fs::symlink("runs/model.bin", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read(dir.path().join("runs/model.bin")).unwrap(),
            b"new"
        );

        // A dangling link gets its file.
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("runs/later.json", &dangling).unwrap();
        write_atomic(&dangling, b"{}").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("runs/later.json")).unwrap(),
            b"{}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn folders_links_to_devices_and_link_loops_are_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a-folder");
        std::fs::create_dir(&folder).unwrap();
        let error = format!("{:#}", write_atomic(&folder, b"x").unwrap_err());
        assert!(error.contains("is a folder, not a regular file"), "{error}");
        assert!(folder.is_dir());

        let link = dir.path().join("null.txt");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let error = format!("{:#}", write_atomic(&link, b"x").unwrap_err());
        assert!(
            error.contains("leads to /dev/null, which is a character device"),
            "{error}"
        );

        let looping = dir.path().join("loop");
        std::os::unix::fs::symlink("loop", &looping).unwrap();
        let error = format!("{:#}", write_atomic(&looping, b"x").unwrap_err());
        assert!(error.contains("more than 40 symbolic links"), "{error}");
    }

    /// A leftover temporary file, as a killed run leaves it, `age` old.
    fn leftover(folder: &Path, name: &str, age: Duration) -> File {
        let path = folder.join(name);
        let file = File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        file
    }

    #[test]
    fn stale_temporaries_of_ours_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        drop(leftover(dir.path(), ".cinerec-tmp-killed", hour));
        drop(leftover(dir.path(), ".cinerec-tmp-fresh", Duration::ZERO));
        let held = leftover(dir.path(), ".cinerec-tmp-held", hour);
        held.try_lock().unwrap();
        drop(leftover(dir.path(), ".tmp-not-ours", hour));
        write_atomic(&dir.path().join("out.txt"), b"x").unwrap();
        assert_eq!(
            names(dir.path()),
            [
                ".cinerec-tmp-fresh",
                ".cinerec-tmp-held",
                ".tmp-not-ours",
                "out.txt"
            ]
        );
        drop(held);
    }

    #[test]
    fn stale_outputs_are_removed_and_missing_ones_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = dir.path().join("metrics.json");
        std::fs::write(&metrics, b"{}").unwrap();
        remove_stale(&[metrics.clone(), dir.path().join("training.svg")]).unwrap();
        assert!(!metrics.exists());
    }
}
