//! Static files: the page's folder and the posters, served safely and cheaply.
//!
//! Safety: a URL path is decoded segment by segment, and a segment that is empty, `.` or
//! `..`, starts with a dot, or holds a slash, a backslash or a NUL after decoding is refused;
//! the file is then canonicalised and must still lie inside its folder (a symbolic link out
//! of it is refused), must be a regular file, and must not be a dotfile once links are
//! followed. Anything refused is a plain 404: no listing, no hint.
//!
//! Cost: each file is read, hashed (its ETag) and compressed (gzip and brotli, for text and
//! WebAssembly) once, and kept, by its decoded path, while its size, modification time and
//! inode stay the same. A request for a kept file is a map look-up on the async worker: no
//! system call and no thread. Once a second at most ([`REVALIDATE`]) one request for it
//! checks the file again (`stat`), so a replaced file is served within about a second. Files
//! not kept (first requests, 404s) are looked up on tokio's blocking pool, at most
//! [`LOOKUPS`] at a time, so a flood of 404s costs a few threads, never one per request. The
//! cache is bounded; past the bound it starts over. The page's folder is read once at start
//! ([`Files::warm`]), so even the first visitor gets the compressed files at once.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// The largest file served (a poster is tens of KB, the wasm package tens more).
const MAX_FILE: u64 = 32 << 20;
/// The most bytes the cache keeps (all variants); past it the cache is emptied.
const MAX_CACHE: usize = 64 << 20;
/// The most files read ahead at start (a folder of the page, not of the posters).
const MAX_WARM: usize = 1000;
/// How long a kept file is served without looking at the file again.
pub const REVALIDATE: Duration = Duration::from_secs(1);
/// The most file-system look-ups (files not kept yet, 404s) running at once, each on a
/// thread of the blocking pool.
pub const LOOKUPS: usize = 4;

/// Which folder a request reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The page's folder.
    Static,
    /// The posters.
    Posters,
}

/// The two folders and the cache of their files.
pub struct Files {
    static_root: PathBuf,
    posters_root: Option<PathBuf>,
    cache: Mutex<Cache>,
    lookups: Semaphore,
    /// Held while a file is read and compressed.
    reading: Mutex<()>,
}

#[derive(Default)]
struct Cache {
    /// By decoded path under the page's folder, and under the posters'.
    page: HashMap<String, Kept>,
    posters: HashMap<String, Kept>,
    bytes: usize,
}

impl Cache {
    fn of(&mut self, root: Root) -> &mut HashMap<String, Kept> {
        match root {
            Root::Static => &mut self.page,
            Root::Posters => &mut self.posters,
        }
    }
}

/// A file kept, with what it was when last checked.
struct Kept {
    file: Arc<File>,
    signature: Signature,
    checked: Instant,
}

/// One file, ready to send.
pub struct File {
    /// Its `Content-Type`.
    content_type: &'static str,
    /// The bytes as stored.
    identity: Bytes,
    /// Gzip and brotli versions, when compressing pays.
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
    /// What the ETags are made of: it changes whenever the bytes do.
    hash: String,
}

impl File {
    /// `bytes` ready to send as `content_type`, compressed now when `compress` is asked and
    /// it pays; `hash` must change whenever the bytes do (it makes the ETags).
    pub fn new(bytes: Bytes, content_type: &'static str, hash: String, compress: bool) -> File {
        let compressible = compress && bytes.len() > 256;
        let smaller =
            |compressed: Vec<u8>| (compressed.len() < bytes.len()).then(|| Bytes::from(compressed));
        let (gzip, brotli) = if compressible {
            (
                gzip(&bytes).and_then(smaller),
                brotli(&bytes).and_then(smaller),
            )
        } else {
            (None, None)
        };
        File {
            content_type,
            identity: bytes,
            gzip,
            brotli,
            hash,
        }
    }

    /// The bytes kept for this file, all encodings counted.
    fn size(&self) -> usize {
        self.identity.len()
            + self.gzip.as_ref().map_or(0, Bytes::len)
            + self.brotli.as_ref().map_or(0, Bytes::len)
    }
}

/// What identifies one version of a file without reading it: a write changes its length or
/// time, an atomic rename over it its inode. Both the static files and the model's reloader
/// watch files by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    regular: bool,
}

impl Signature {
    /// The signature of what `path` names now (following links); `None` when it cannot be
    /// read.
    pub fn of(path: &Path) -> Option<Signature> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        Some(Signature {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode: metadata.ino(),
            regular: metadata.is_file(),
        })
    }
}

impl Files {
    /// Serves `static_root` and, when given, `posters_root`; both must be folders.
    pub fn new(static_root: &Path, posters_root: Option<&Path>) -> Result<Files> {
        let folder = |path: &Path, flag: &str| -> Result<PathBuf> {
            let canonical = path
                .canonicalize()
                .with_context(|| format!("{flag} {}", path.display()))?;
            if !canonical.is_dir() {
                bail!("{flag} {} is not a folder", path.display());
            }
            Ok(canonical)
        };
        Ok(Files {
            static_root: folder(static_root, "--static")?,
            posters_root: posters_root
                .map(|path| folder(path, "--posters"))
                .transpose()?,
            cache: Mutex::new(Cache::default()),
            lookups: Semaphore::new(LOOKUPS),
            reading: Mutex::new(()),
        })
    }

    /// The file at `name` (a path [`decode`]d from the URL, without the leading slash) under
    /// `root`, or `None` for anything that must be a 404. A kept file costs a look-up; the
    /// file system is asked on the blocking pool (see the module docs).
    pub async fn find(self: &Arc<Self>, root: Root, name: &str) -> Option<Arc<File>> {
        if root == Root::Posters && self.posters_root.is_none() {
            return None;
        }
        {
            let mut cache = self.lock();
            if let Some(kept) = cache.of(root).get_mut(name) {
                let now = Instant::now();
                if now.duration_since(kept.checked) < REVALIDATE {
                    return Some(kept.file.clone());
                }
                // This request checks it again; the others serve it meanwhile.
                kept.checked = now;
            }
        }
        let _permit = self.lookups.acquire().await.ok()?;
        let files = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || files.look_up(root, &name))
            .await
            .ok()?
    }

    /// [`Files::find`] on the file system: blocks.
    fn look_up(&self, root: Root, name: &str) -> Option<Arc<File>> {
        let folder = match root {
            Root::Static => &self.static_root,
            Root::Posters => self.posters_root.as_ref()?,
        };
        let Some((path, signature)) = resolve(folder, name).and_then(|path| {
            let signature = signature(&path)?;
            Some((path, signature))
        }) else {
            self.lock().of(root).remove(name);
            return None;
        };
        if let Some(file) = self.kept_as(root, name, &signature) {
            return Some(file);
        }
        // One file read and compressed at a time (compressing takes memory): requests that
        // miss the same file meanwhile find it kept once they get their turn.
        let _reading = self
            .reading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(file) = self.kept_as(root, name, &signature) {
            return Some(file);
        }
        let file = Arc::new(read(&path)?);
        if self::signature(&path).as_ref() != Some(&signature) {
            // Changed while being read: serve what was read, but do not keep it.
            return Some(file);
        }
        let mut cache = self.lock();
        let size = file.size();
        if cache.bytes + size > MAX_CACHE {
            *cache = Cache::default();
        }
        cache.bytes += size;
        let kept = Kept {
            file: file.clone(),
            signature,
            checked: Instant::now(),
        };
        if let Some(old) = cache.of(root).insert(name.to_owned(), kept) {
            cache.bytes = cache.bytes.saturating_sub(old.file.size());
        }
        Some(file)
    }

    /// The kept file at `name` if it is still `signature`, marked checked now.
    fn kept_as(&self, root: Root, name: &str, signature: &Signature) -> Option<Arc<File>> {
        let mut cache = self.lock();
        let kept = cache.of(root).get_mut(name)?;
        (kept.signature == *signature).then(|| {
            kept.checked = Instant::now();
            kept.file.clone()
        })
    }

    /// Reads, hashes and compresses every file of the page's folder that could be served
    /// (at most [`MAX_WARM`] of them), so that no visitor waits for it. Blocks.
    pub fn warm(&self) {
        let mut folders = vec![(self.static_root.clone(), String::new())];
        let mut served = 0;
        while let Some((folder, prefix)) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str().filter(|name| !name.starts_with('.')) else {
                    continue;
                };
                let name = format!("{prefix}{name}");
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    folders.push((entry.path(), format!("{name}/")));
                } else if served < MAX_WARM {
                    served += usize::from(self.look_up(Root::Static, &name).is_some());
                }
            }
        }
        tracing::debug!(files = served, "the page's folder is ready");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A URL path (with its leading slash) decoded segment by segment and joined again with `/`,
/// without the leading slash (`""` for `/`); `None` when a segment is empty, is not UTF-8,
/// starts with a dot (`.`, `..`, dotfiles) or holds a slash, a backslash or a NUL once
/// decoded. Every route is matched on it, files and API alike.
pub fn decode(raw: &str) -> Option<String> {
    let rest = raw.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(String::new());
    }
    let mut decoded = String::with_capacity(rest.len());
    for segment in rest.split('/') {
        let segment = percent_decode_str(segment).decode_utf8().ok()?;
        let refused =
            segment.is_empty() || segment.starts_with('.') || segment.contains(['/', '\\', '\0']);
        if refused {
            return None;
        }
        if !decoded.is_empty() {
            decoded.push('/');
        }
        decoded.push_str(&segment);
    }
    Some(decoded)
}

/// The file a [`decode`]d path names under `root`, if it may be served (see the module docs).
fn resolve(root: &Path, name: &str) -> Option<PathBuf> {
    let odd = |segment: &str| {
        segment.is_empty() || segment.starts_with('.') || segment.contains(['\\', '\0'])
    };
    if name.split('/').any(odd) {
        return None;
    }
    let path = root.join(name);
    let canonical = path.canonicalize().ok()?;
    let inside = canonical.strip_prefix(root).ok()?;
    let hidden = inside.components().any(|component| match component {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => true,
    });
    (!hidden && canonical.is_file()).then_some(canonical)
}

/// A static file's signature, if it is one that may be served.
fn signature(path: &Path) -> Option<Signature> {
    Signature::of(path).filter(|signature| signature.regular && signature.len <= MAX_FILE)
}

fn read(path: &Path) -> Option<File> {
    // Checked again on the open file: it may have been replaced by a FIFO since the `stat`.
    let bytes = read_capped(path, MAX_FILE, "the static files' limit").ok()?;
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let hash = Sha256::digest(&bytes)[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let content_type = content_type(&extension);
    Some(File::new(
        Bytes::from(bytes),
        content_type,
        hash,
        is_compressible(content_type),
    ))
}

/// Reads a regular file of at most `cap` bytes, refusing a FIFO, a device or a folder
/// without waiting on it (the registry's reader: one implementation for its files and ours).
pub use cinerec_registry::read_capped;

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

fn brotli(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    // A window no larger than the file (at most brotli's 4 MiB): the encoder's tables grow
    // with it, and a 4 MiB window for a 40 KB script cost tens of MB per compression.
    let bits = usize::BITS - bytes.len().max(1).leading_zeros();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: bits.clamp(10, 22) as i32,
        size_hint: bytes.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).ok()?;
    Some(out)
}

/// The `Content-Type` of a file extension.
pub fn content_type(extension: &str) -> &'static str {
    match extension {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "bin" => "application/octet-stream",
        _ => "application/octet-stream",
    }
}

fn is_compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || matches!(
            content_type,
            "application/json" | "application/manifest+json" | "application/wasm" | "image/svg+xml"
        )
}

/// How long caches may keep a file: files whose name carries a content hash
/// (`name.0123abcd.ext`) never change; everything else is revalidated (cheaply, by ETag),
/// so a new page or model is seen on the next visit.
pub fn cache_control(path: &str) -> &'static str {
    let fingerprinted = path.rsplit('/').next().is_some_and(|name| {
        name.split('.')
            .skip(1)
            .any(|part| part.len() >= 8 && part.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// The answer for `file`: the best encoding the client accepts, or 304 when its copy is
/// current; no body for HEAD.
pub fn respond(
    file: &File,
    request: &HeaderMap,
    head: bool,
    cache_control: &'static str,
) -> Response<Bytes> {
    let accepted = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    // The coding the client weighs highest, brotli first among equals (the smallest); the
    // bytes as stored when it accepts nothing we have.
    let offered = [("br", &file.brotli), ("gzip", &file.gzip)];
    let identity = quality(accepted, "identity");
    let best = offered
        .into_iter()
        .filter_map(|(coding, bytes)| Some((coding, bytes.as_ref()?, quality(accepted, coding))))
        .filter(|&(_, _, q)| q > 0)
        .fold(
            None,
            |best: Option<(&str, &Bytes, u16)>, candidate| match best {
                Some(best) if best.2 >= candidate.2 => Some(best),
                _ => Some(candidate),
            },
        )
        .filter(|&(_, _, q)| q >= identity);
    let (body, encoding) = match best {
        Some((coding, bytes, _)) => (bytes.clone(), Some(coding)),
        None => (file.identity.clone(), None),
    };
    let etag = match encoding {
        Some(coding) => format!("\"{}-{coding}\"", file.hash),
        None => format!("\"{}\"", file.hash),
    };
    let mut response = entity(body, &etag, request, head, file.content_type, cache_control);
    if let Some(coding) = encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    if file.gzip.is_some() || file.brotli.is_some() {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    response
}

/// A 200 with `body`, or a 304 when `If-None-Match` names `etag`.
fn entity(
    body: Bytes,
    etag: &str,
    request: &HeaderMap,
    head: bool,
    content_type: &'static str,
    cache_control: &'static str,
) -> Response<Bytes> {
    let current = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let length = body.len();
    let mut response = Response::new(if current || head { Bytes::new() } else { body });
    if current {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if head && !current {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// The weight an `Accept-Encoding` value gives `coding`, in thousandths (RFC 9110, 12.5.3):
/// names and the `q` parameter are case-insensitive, whitespace around `;` and `,` is
/// allowed, `q=0` (`0.0`, `0.000`) means "not acceptable", `*` weighs every coding the value
/// does not name, and `identity` is acceptable unless refused by name or by `*;q=0`. An
/// element whose weight is not a valid qvalue (`q=2`, `q=0.5x`) is ignored. `experiments`
/// reads an `Accept` value with it too: there `*/*` is no `*`, so a type counts only when named.
pub fn quality(header: &str, coding: &str) -> u16 {
    let (mut named, mut star) = (None::<u16>, None::<u16>);
    for element in header.split(',') {
        let mut parts = element.split(';');
        let name = parts.next().unwrap_or("").trim();
        let weight = parts.try_fold(1000, |weight, parameter| match parameter.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("q") => qvalue(value.trim()),
            _ => Some(weight),
        });
        let Some(weight) = weight else {
            continue;
        };
        let slot = if name.eq_ignore_ascii_case(coding) {
            &mut named
        } else if name == "*" {
            &mut star
        } else {
            continue;
        };
        *slot = Some(slot.map_or(weight, |seen| seen.max(weight)));
    }
    match (named, star) {
        (Some(weight), _) => weight,
        (None, Some(weight)) if coding != "identity" || weight == 0 => weight,
        (None, _) if coding == "identity" => 1000,
        (None, _) => 0,
    }
}

/// A qvalue in thousandths: `0`, `0.` to `0.999`, `1`, `1.` to `1.000`.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit());
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" if digits => Some(thousandths),
        "1" if digits && thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_reads_names_stars_and_zero_qualities() {
        assert_eq!(quality("gzip, deflate, br", "br"), 1000);
        assert_eq!(quality("gzip;q=0.5", "gzip"), 500);
        assert_eq!(quality("br;q=0, gzip", "br"), 0);
        assert_eq!(quality("*", "br"), 1000);
        assert_eq!(quality("", "gzip"), 0);
        assert_eq!(quality("identity", "gzip"), 0);
        for zero in [
            "br;q=0, *",
            "br;Q=0, *",
            "br;q=0.000,*",
            "br ; q=0 , *",
            "BR;q=0.,*",
        ] {
            assert_eq!(quality(zero, "br"), 0, "{zero}");
            assert_eq!(quality(zero, "gzip"), 1000, "{zero}");
        }
        assert_eq!(quality("*;q=0.25, br;q=0.5", "gzip"), 250);
        assert_eq!(
            quality("br;q=2, br;q=0.5x, gzip", "br"),
            0,
            "invalid weights"
        );
        assert_eq!(quality("gzip", "identity"), 1000);
        assert_eq!(quality("*;q=0", "identity"), 0);
        assert_eq!(quality("*;q=0, identity;q=0.1", "identity"), 100);
        assert_eq!(quality("*;q=0.3", "identity"), 1000);
        assert_eq!(quality("identity;q=0", "identity"), 0);
        for (text, thousandths) in [
            ("0", 0),
            ("0.", 0),
            ("0.5", 500),
            ("0.125", 125),
            ("1", 1000),
            ("1.000", 1000),
        ] {
            assert_eq!(qvalue(text), Some(thousandths), "{text}");
        }
        for bad in ["", "2", "1.5", "0.1234", "-0", "0.-1", ".5", "0,5", "1.001"] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_fingerprinted_names_are_immutable() {
        assert_eq!(
            cache_control("pkg/app.0123abcd.js"),
            "public, max-age=31536000, immutable"
        );
        for path in [
            "index.html",
            "sw.js",
            "pkg/cinerec_wasm_bg.wasm",
            "model.bin",
            "a.b/c.js",
        ] {
            assert_eq!(cache_control(path), "no-cache", "{path}");
        }
    }

    #[test]
    fn paths_are_decoded_a_segment_at_a_time_and_kept_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/a b.js"), "x").unwrap();
        std::fs::write(root.join(".env"), "SECRET").unwrap();
        std::os::unix::fs::symlink(root.join(".env"), root.join("innocent.txt")).unwrap();
        let found = |raw: &str| decode(&format!("/{raw}")).and_then(|name| resolve(&root, &name));
        assert!(found("pkg/a%20b.js").is_some());
        assert_eq!(decode("/"), Some(String::new()));
        assert_eq!(decode("/batch%2Dpredict").as_deref(), Some("batch-predict"));
        assert_eq!(decode("no-slash"), None);
        assert_eq!(
            resolve(&root, "/etc/passwd"),
            None,
            "a name is never absolute"
        );
        for bad in [
            "pkg/../.env",
            ".env",
            "%2eenv",
            "pkg%2fa%20b.js",
            "pkg/..%2f.env",
            "pkg\\a b.js",
            "pkg//a b.js",
            "pkg/",
            "",
            "%00",
            "innocent.txt",
            "/etc/passwd",
            "pkg/%ff",
        ] {
            assert_eq!(found(bad), None, "{bad}");
        }
    }
}
