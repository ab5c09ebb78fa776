//! The registry's three ways of touching a file: replace it whole, append one line to it,
//! read it within a bound. Each is durable or bounded on its own, so the layout's promises
//! (a reader sees an old file or a new one, never half of one) hold on any POSIX file system.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// How every temporary file of cinerec's starts (the trainer's sweep removes nothing else).
pub const TEMPORARY_PREFIX: &str = ".cinerec-tmp-";

/// Replaces `path` with `bytes`: a temporary file in the same folder, written, synced,
/// renamed over `path`, then the folder synced so the rename itself survives a crash. The
/// temporary file is locked until the rename (where the file system has locks), so a sweep
/// of leftovers can tell it from one whose writer is gone. Every file cinerec writes goes
/// through here (the trainer checks its destinations first: `trainer/src/output.rs`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(folder)
        .with_context(|| format!("creating a temporary file in {}", folder.display()))?;
    let _ = file.as_file().try_lock();
    // tempfile makes 0600 files; the server may run as another user and must read them.
    use std::os::unix::fs::PermissionsExt;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    sync_folder(folder)
}

/// Appends `line` and a newline to `path` in one `write` on a file opened with `O_APPEND`,
/// then syncs it: concurrent appenders never interleave within a line, and nothing before
/// the end of the file is ever rewritten.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    debug_assert!(!line.contains('\n'));
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .with_context(|| format!("opening {} to append", path.display()))?;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("appending to {}", path.display()))?;
    if created {
        sync_folder(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// The bytes of the regular file at `path`, at most `cap` of them; refused before anything
/// is read when it is something else (a FIFO, which would block, a device such as
/// `/dev/zero`, which never ends, a folder) or larger than `cap` (`limit` says how to raise
/// it, a flag say). The file is opened once, without blocking (`O_NONBLOCK`: opening a FIFO
/// would wait for a writer), checked with `fstat` on what was opened, and read through a
/// `cap + 1` limit, so a file that grows meanwhile is refused too, never read without bound.
/// The server reads its own files with it too.
pub fn read_capped(path: &Path, cap: u64, limit: &str) -> Result<Vec<u8>> {
    let name = path.display();
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("reading {name}"))?;
    let metadata = file.metadata().with_context(|| format!("reading {name}"))?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_dir() {
            "a folder"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        bail!("reading {name}: it is not a regular file ({what})");
    }
    let too_large = |length: u64| {
        anyhow::anyhow!(
            "reading {name}: it is {length} bytes, more than the {cap} allowed ({limit})"
        )
    };
    if metadata.len() > cap {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn sync_folder(folder: &Path) -> Result<()> {
    File::open(folder)
        .and_then(|handle| handle.sync_all())
        .with_context(|| format!("syncing folder {}", folder.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("current");
        write_atomic(&path, b"one\n").unwrap();
        write_atomic(&path, b"two\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 1);
    }

    #[test]
    fn append_line_keeps_what_was_there() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("history.jsonl");
        append_line(&path, "{\"a\":1}").unwrap();
        append_line(&path, "{\"a\":2}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
    }

    #[test]
    fn read_capped_refuses_a_folder_and_a_file_over_the_cap() {
        let folder = tempfile::tempdir().unwrap();
        let error = read_capped(folder.path(), 10, "the cap").unwrap_err();
        assert!(format!("{error:#}").contains("a folder"), "{error:#}");
        let path = folder.path().join("big");
        std::fs::write(&path, [0u8; 11]).unwrap();
        let error = read_capped(&path, 10, "the cap").unwrap_err();
        assert!(
            format!("{error:#}").contains("11 bytes, more than the 10 allowed (the cap)"),
            "{error:#}"
        );
        assert_eq!(read_capped(&path, 11, "the cap").unwrap().len(), 11);
    }
}
