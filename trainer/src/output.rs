//! Writing outputs atomically: a temporary file in the same folder, then a rename, so a
//! crash never leaves half a model, catalog or log behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file and a rename; creates the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = parent(path);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("creating folder {}", folder.display()))?;
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(&folder)
        .with_context(|| format!("creating a temporary file in {}", folder.display()))?;
    // tempfile creates 0600 files; outputs are ordinary files others may read (the server).
    set_readable(file.as_file())?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    Ok(())
}

#[cfg(unix)]
fn set_readable(file: &std::fs::File) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .context("setting permissions of a temporary file")
}

#[cfg(not(unix))]
fn set_readable(_file: &std::fs::File) -> Result<()> {
    Ok(())
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The folder a file lives in (`.` for a bare file name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.txt"]);
    }
}
