//! The integration-test harness: runs the real `cinerec-trainer` binary in a fresh
//! temporary folder and hands back what it printed.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod tmdb;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder to run the trainer in; removed when dropped.
pub struct Workspace {
    dir: tempfile::TempDir,
}

/// What a run printed, and how it ended.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Run {
        Run::from(output)
    }

    fn from(output: Output) -> Run {
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the run succeeded.
    pub fn success(self) -> Run {
        assert!(
            self.status.success(),
            "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts a failure with exit code 2, one error line that contains `needle`, no panic.
    pub fn fails_with(self, needle: &str) -> Run {
        assert_eq!(
            self.status.code(),
            Some(2),
            "expected exit 2\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        let error_lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(
            error_lines.len(),
            1,
            "one error line expected:\n{}",
            self.stderr
        );
        assert!(
            error_lines[0].contains(needle),
            "error line lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The trainer, in this folder, with no TMDB credentials from the caller's environment.
    /// `CINEREC_TRAINER_BIN` runs another build instead, to check that a regression test
    /// fails on the build before its fix.
    pub fn command(&self) -> Command {
        let mut command = Command::new(binary());
        command
            .current_dir(self.path())
            .env_remove("TMDB_API_KEY")
            .env_remove("TMDB_ACCESS_TOKEN")
            .env_remove("TMDB_BASE_URL");
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .args(args)
                .output()
                .expect("the trainer runs"),
        )
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    pub fn read_json(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&self.read(name)).unwrap()
    }
}

/// The trainer binary under test (see [`Workspace::command`]).
pub fn binary() -> PathBuf {
    std::env::var_os("CINEREC_TRAINER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cinerec-trainer")))
}

/// The checked-in fixture page (see tests/data/README.md).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}
