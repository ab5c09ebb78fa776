//! `crawl`: TMDB's popular movies into a catalog, resumably.
//!
//! Each fetched page is kept, as received, in a checkpoint folder beside the output
//! (`.<name>.crawl/`), written atomically; a run after a crash fetches only the missing pages.
//! Pages are merged in order, keeping the first copy of a movie that appears on two pages,
//! and the catalog is written atomically with every movie's fields exactly as TMDB sent them.
//! The checkpoint folder goes once the catalog and its posters are complete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use cinerec_core::catalog::{self, poster_file_name};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::credentials::{self, Credential};
use crate::output::{parent, write_atomic};
use crate::poster;
use crate::progress::Progress;
use crate::tmdb::Client;

/// Flags of `crawl`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalog file to write ({"movies":[...]}).
    #[arg(long)]
    pub out: PathBuf,
    /// First page to fetch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub start_page: u32,
    /// Last page to fetch (clamped to TMDB's total_pages and to 500).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub end_page: u32,
    /// TMDB language parameter.
    #[arg(long, default_value = "ko-KR")]
    pub language: String,
    /// TMDB region parameter.
    #[arg(long, default_value = "KR")]
    pub region: String,
    /// Pause between requests, in milliseconds (at most a minute).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(..=MAX_INTERVAL_MS))]
    pub interval_ms: u64,
    /// API base (default: TMDB_BASE_URL, else https://api.themoviedb.org/3; a base ending in
    /// /movie, as the original's .env had, is accepted).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Also download each movie's poster into this folder as <id>.jpg (<id>.svg, generated,
    /// when TMDB has none).
    #[arg(long)]
    pub posters: Option<PathBuf>,
    /// Image base for posters.
    #[arg(long, default_value = "https://image.tmdb.org/t/p")]
    pub image_base_url: String,
    /// Total time allowed for one request, in seconds (connecting gets at most 5).
    #[arg(long, default_value_t = 30.0)]
    pub timeout_secs: f64,
    /// Attempts per request before giving up (transient failures only).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// Base of the exponential backoff between attempts, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub backoff_ms: u64,
}

/// TMDB's API base when neither `--base-url` nor `TMDB_BASE_URL` is given.
pub const DEFAULT_BASE_URL: &str = "https://api.themoviedb.org/3";
/// TMDB serves no page above this one, whatever `total_pages` says.
pub const MAX_PAGE: u32 = 500;
/// The longest pause between requests: a minute already stretches a 500-page crawl over eight
/// hours; more is a slip of the keyboard (a sleep of `u64::MAX` ms would never end).
const MAX_INTERVAL_MS: u64 = 60_000;

/// One page of `/movie/popular`, with each movie kept as its raw JSON text.
#[derive(Deserialize)]
struct Page {
    results: Vec<Box<RawValue>>,
    total_pages: u64,
}

#[derive(Deserialize)]
struct MovieId {
    id: Option<u64>,
}

/// `crawl`.
pub fn run(args: &Args) -> Result<()> {
    let settings = credentials::load(Path::new(".env"))?;
    let credential = settings.credential.clone();
    // Whatever code prints from now on, the secret does not reach the terminal.
    crate::console::hide(&credential);
    crawl(args, settings.credential, settings.base_url).map_err(|error| {
        if crate::console::is_stdout_closed(&error) {
            // Holds no secret, and main must still recognise it.
            return error;
        }
        // Another line of defence, for the message as one string.
        anyhow!(credential.redact(&format!("{error:#}")))
    })
}

fn crawl(args: &Args, credential: Credential, env_base_url: Option<String>) -> Result<()> {
    if args.start_page > args.end_page {
        bail!(
            "--start-page {} is after --end-page {}",
            args.start_page,
            args.end_page
        );
    }
    // Duration::from_secs_f64 panics on what does not fit; an hour is already absurd.
    if !(args.timeout_secs > 0.0 && args.timeout_secs <= 3600.0) {
        bail!(
            "--timeout-secs {:?} must be more than 0 and at most 3600",
            args.timeout_secs
        );
    }
    let base = api_base(
        args.base_url
            .as_deref()
            .or(env_base_url.as_deref())
            .unwrap_or(DEFAULT_BASE_URL),
    );
    let url = format!("{base}/movie/popular");
    for (flag, text) in [
        ("--base-url", &url),
        ("--image-base-url", &args.image_base_url),
    ] {
        match reqwest::Url::parse(text) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => bail!("{flag} {text} is not an http(s) URL"),
        }
    }
    // An output that cannot be written is refused before the first request.
    crate::output::destination(&args.out)?;
    let checkpoint = Checkpoint::open(&args.out, &args.language, &args.region)?;
    let mut client = Client::new(
        credential.clone(),
        Duration::from_secs_f64(args.timeout_secs),
        args.attempts,
        Duration::from_millis(args.backoff_ms),
    )?;
    let interval = Duration::from_millis(args.interval_ms);
    let mut requests_made = 0u32;

    let progress = Progress::new("crawl", u64::from(args.end_page - args.start_page + 1));
    let mut fetch = |client: &mut Client, page: u32| -> Result<Page> {
        if let Some(found) = checkpoint.load(page, &credential) {
            return Ok(found);
        }
        if requests_made > 0 {
            std::thread::sleep(interval);
        }
        requests_made += 1;
        let page_text = page.to_string();
        let query = [
            ("language", args.language.as_str()),
            ("region", args.region.as_str()),
            ("page", page_text.as_str()),
        ];
        let body = client.get_api(
            &url,
            &query,
            &format!("page {page}"),
            &validate_page,
            &mut |message| progress.note(message),
        )?;
        checkpoint.save(page, &body)?;
        serde_json::from_slice(&body).context("a validated page parses")
    };

    let first = fetch(&mut client, args.start_page)?;
    let last = args
        .end_page
        .min(u32::try_from(first.total_pages).unwrap_or(u32::MAX))
        .min(MAX_PAGE);
    if last < args.end_page {
        progress.note(&format!(
            "TMDB reports {} pages and serves at most {MAX_PAGE}: fetching pages {}..={last} instead of ..={}",
            first.total_pages, args.start_page, args.end_page
        ));
    }
    progress.set_total(u64::from(last.saturating_sub(args.start_page) + 1));
    if last < args.start_page {
        bail!(
            "--start-page {} is beyond the last page TMDB serves for this listing ({last})",
            args.start_page
        );
    }

    let mut seen = HashSet::new();
    let mut movies: Vec<String> = Vec::new();
    let mut duplicates = 0usize;
    let mut keep = |page: &Page, movies: &mut Vec<String>| {
        for raw in &page.results {
            let id = serde_json::from_str::<MovieId>(raw.get())
                .ok()
                .and_then(|m| m.id);
            // The same movie can close page N and open page N+1: keep the first copy.
            if id.is_some_and(|id| !seen.insert(id)) {
                duplicates += 1;
            } else {
                movies.push(raw.get().to_string());
            }
        }
    };
    keep(&first, &mut movies);
    progress.step(
        1,
        &format!("pages, {} movies, {} retries", movies.len(), client.retries),
    );
    for page in args.start_page + 1..=last {
        keep(&fetch(&mut client, page)?, &mut movies);
        progress.step(
            u64::from(page - args.start_page + 1),
            &format!("pages, {} movies, {} retries", movies.len(), client.retries),
        );
    }
    progress.finish();

    let mut document = String::from("{\"movies\":[");
    for (index, movie) in movies.iter().enumerate() {
        document.push_str(if index == 0 { "\n" } else { ",\n" });
        document.push_str(movie);
    }
    document.push_str("\n]}\n");
    write_atomic(&args.out, document.as_bytes())?;
    outln!(
        "wrote {} movies from pages {}..={last} to {} ({duplicates} duplicates dropped, {} retries)",
        movies.len(),
        args.start_page,
        args.out.display(),
        client.retries
    )?;

    if let Some(folder) = &args.posters {
        download_posters(
            &mut client,
            document.as_bytes(),
            folder,
            &args.image_base_url,
            interval,
        )?;
    }
    checkpoint.remove();
    Ok(())
}

/// The API base without a trailing `/` or `/movie`: the original's `.env` had
/// `https://api.themoviedb.org/3/movie`, which must not become `/movie/movie`.
pub fn api_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    base.strip_suffix("/movie").unwrap_or(base).to_string()
}

/// A page must be a JSON object with a `results` list and a `total_pages` number.
fn validate_page(body: &[u8], content_type: &str) -> Result<(), String> {
    if let Err(error) = serde_json::from_slice::<Page>(body) {
        let looks_like_html = content_type.contains("html")
            || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
        return Err(if looks_like_html {
            format!(
                "TMDB answered with an HTML page instead of JSON ({}, {} bytes)",
                if content_type.is_empty() {
                    "no content type"
                } else {
                    content_type
                },
                body.len()
            )
        } else {
            format!("the answer is not a TMDB page: {error}")
        });
    }
    Ok(())
}

fn download_posters(
    client: &mut Client,
    catalog_bytes: &[u8],
    folder: &Path,
    image_base: &str,
    interval: Duration,
) -> Result<()> {
    let (movies, _) = catalog::parse(catalog_bytes).context("reading the crawled catalog")?;
    let image_base = image_base.trim_end_matches('/');
    let progress = Progress::new("posters", movies.len() as u64);
    let (mut downloaded, mut generated) = (0usize, 0usize);
    for (index, movie) in movies.iter().enumerate() {
        let path = folder.join(poster_file_name(movie.id, movie.poster_path.as_deref()));
        let exists = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        match &movie.poster_path {
            _ if exists => {}
            None => {
                // The golden angle spreads hues; the id keeps it stable across crawls.
                let hue = movie.id as f64 * 137.507_764;
                write_atomic(&path, poster::svg(movie, hue).as_bytes())?;
                generated += 1;
            }
            Some(poster_path) => {
                if downloaded > 0 {
                    std::thread::sleep(interval);
                }
                let url = format!("{image_base}/w185/{}", poster_path.trim_start_matches('/'));
                let image = client.get_image(
                    &url,
                    &format!("poster of movie {}", movie.id),
                    &mut |message| progress.note(message),
                )?;
                write_atomic(&path, &image)?;
                downloaded += 1;
            }
        }
        progress.step(index as u64 + 1, "posters");
    }
    progress.finish();
    outln!(
        "posters in {}: {downloaded} downloaded, {generated} generated (no poster on TMDB), {} already there",
        folder.display(),
        movies.len() - downloaded - generated
    )?;
    Ok(())
}

/// The checkpoint folder of one output file.
struct Checkpoint {
    folder: PathBuf,
}

impl Checkpoint {
    /// Opens (or starts) the checkpoint of `out`; one made for another listing (language or
    /// region) is discarded, since its pages would not belong to this crawl. The host is not
    /// part of the identity: the same listing through another base URL is the same data.
    fn open(out: &Path, language: &str, region: &str) -> Result<Checkpoint> {
        let name = out
            .file_name()
            .ok_or_else(|| anyhow!("--out {} is not a file name", out.display()))?
            .to_string_lossy();
        let folder = parent(out).join(format!(".{name}.crawl"));
        let request = serde_json::json!({ "listing": "movie/popular", "language": language, "region": region });
        let request_text = format!("{request}\n");
        let request_path = folder.join("request.json");
        match std::fs::read_to_string(&request_path) {
            Ok(existing) if existing == request_text => {}
            Ok(_) => {
                std::fs::remove_dir_all(&folder)
                    .with_context(|| format!("clearing the old checkpoint {}", folder.display()))?;
                write_atomic(&request_path, request_text.as_bytes())?;
            }
            Err(_) => write_atomic(&request_path, request_text.as_bytes())?,
        }
        Ok(Checkpoint { folder })
    }

    fn page_path(&self, page: u32) -> PathBuf {
        self.folder.join(format!("page-{page:03}.json"))
    }

    /// A kept page, if there is one that still reads as a page. One that holds the credential
    /// (kept by a version that did not refuse such pages) is deleted and fetched again, to be
    /// refused like any other.
    fn load(&self, page: u32, credential: &Credential) -> Option<Page> {
        let path = self.page_path(page);
        let body = std::fs::read(&path).ok()?;
        if credential.appears_in(&body) {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        serde_json::from_slice(&body).ok()
    }

    fn save(&self, page: u32, body: &[u8]) -> Result<()> {
        write_atomic(&self.page_path(page), body)
    }

    fn remove(&self) {
        // Only a leftover: failing to remove it loses nothing.
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_old_and_new_give_the_same_endpoint() {
        for base in [
            "https://api.themoviedb.org/3",
            "https://api.themoviedb.org/3/",
            "https://api.themoviedb.org/3/movie",
            "https://api.themoviedb.org/3/movie/",
        ] {
            assert_eq!(api_base(base), "https://api.themoviedb.org/3", "{base}");
        }
    }

    #[test]
    fn pages_are_validated() {
        assert!(validate_page(
            br#"{"page":1,"results":[],"total_pages":1}"#,
            "application/json"
        )
        .is_ok());
        let html =
            validate_page(b"<!DOCTYPE html><html></html>", "text/html; charset=utf-8").unwrap_err();
        assert!(
            html.starts_with("TMDB answered with an HTML page"),
            "{html}"
        );
        let truncated =
            validate_page(br#"{"page":1,"results":[{"id":1"#, "application/json").unwrap_err();
        assert!(
            truncated.starts_with("the answer is not a TMDB page: EOF"),
            "{truncated}"
        );
        let wrong = validate_page(br#"{"status_code":34}"#, "application/json").unwrap_err();
        assert!(wrong.contains("missing field `results`"), "{wrong}");
    }
}
