//! Reading the trainer's inputs (catalogs, watch logs, models), every error naming the file.

use std::path::Path;

use anyhow::{bail, Context, Result};
use cinerec_core::catalog::{self, CatalogReport, Movie};
use cinerec_core::watch_log::{self, WatchLog, WatchRow};
use cinerec_core::Model;
use sha2::{Digest, Sha256};

use crate::output::read;

/// A catalog file, parsed.
pub struct CatalogFile {
    /// The usable movies, in file order.
    pub movies: Vec<Movie>,
    /// What was skipped and why.
    pub report: CatalogReport,
    /// Hex SHA-256 of the file's bytes, as the model records it.
    pub sha256: String,
}

/// A watch-log file, parsed.
pub struct WatchLogFile {
    /// The rows and their lines.
    pub log: WatchLog,
    /// Hex SHA-256 of the file's bytes, as the model records it.
    pub sha256: String,
}

/// Reads and parses a catalog file, refusing one with no usable movie.
pub fn read_catalog(path: &Path) -> Result<CatalogFile> {
    let bytes = read(path)?;
    let (movies, report) =
        catalog::parse(&bytes).with_context(|| format!("reading {}", path.display()))?;
    if movies.is_empty() {
        bail!(
            "{}: no usable movie among {} entries{}",
            path.display(),
            report.entries,
            describe_skips(&report)
        );
    }
    Ok(CatalogFile {
        movies,
        report,
        sha256: sha256_hex(&bytes),
    })
}

/// Reads and parses a watch log.
pub fn read_watch_log(path: &Path) -> Result<WatchLogFile> {
    let bytes = read(path)?;
    // The digest on a second thread while this one parses: a million-row log takes a tenth
    // of a second of each.
    let (log, sha256) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| sha256_hex(&bytes));
        let log = watch_log::parse(&bytes);
        (log, digest.join().expect("hashing does not panic"))
    });
    let log = log.with_context(|| format!("reading {}", path.display()))?;
    Ok(WatchLogFile { log, sha256 })
}

/// Refuses a log whose values of one feature add up past the largest `f64`: the scaler's mean
/// over the training split would not be finite. Every feature is non-negative, so a sum over
/// the whole log below half the largest `f64` bounds every split's, in any order of additions.
pub fn check_feature_sums(path: &Path, log: &WatchLog) -> Result<()> {
    type Field = fn(&WatchRow) -> f64;
    let fields: [(&str, Field); 3] = [
        ("rating", |row| row.rating),
        ("popularity", |row| row.popularity),
        ("watch_seconds", |row| row.watch_seconds),
    ];
    for (name, field) in fields {
        let sum: f64 = log.rows.iter().map(field).sum();
        if sum < f64::MAX / 2.0 {
            continue;
        }
        let (index, largest) = log
            .rows
            .iter()
            .map(field)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::NAN));
        bail!(
            "{}: field {name}: the values add up past the largest floating-point number (the \
             largest value is {largest:e}, on line {}), so their mean, which standardises the \
             feature, cannot be computed",
            path.display(),
            log.line(index)
        );
    }
    Ok(())
}

/// Reads and checks a `model.bin`.
pub fn load_model(path: &Path) -> Result<Model> {
    let bytes = read(path)?;
    cinerec_core::decode(&bytes).with_context(|| format!("loading model {}", path.display()))
}

/// `; skipped N (movie #3: missing id, ...)`, or nothing when nothing was skipped.
pub fn describe_skips(report: &CatalogReport) -> String {
    let mut text = String::new();
    if !report.skipped.is_empty() {
        let reasons: Vec<String> = report
            .skipped
            .iter()
            .take(5)
            .map(|s| format!("movie #{}: {}", s.position, s.reason))
            .collect();
        let more = report.skipped.len().saturating_sub(5);
        text.push_str(&format!(
            "; skipped {} ({}{})",
            report.skipped.len(),
            reasons.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if !report.duplicates.is_empty() {
        text.push_str(&format!(
            "; dropped {} duplicate ids",
            report.duplicates.len()
        ));
    }
    text
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
