//! Static files: the page's folder and the posters, served safely and cheaply.
//!
//! Safety: a URL path is decoded segment by segment, and a segment that is empty, `.` or
//! `..`, starts with a dot, or holds a slash, a backslash or a NUL after decoding is refused;
//! the file is then canonicalised and must still lie inside its folder (a symbolic link out
//! of it is refused), must be a regular file, and must not be a dotfile once links are
//! followed. Anything refused is a plain 404: no listing, no hint.
//!
//! Cost: each file is read, hashed (its ETag) and compressed (gzip and brotli, for text and
//! WebAssembly) once, and kept while its size, modification time and inode stay the same; a
//! request costs a `stat` and a map look-up. The cache is bounded; past the bound it starts
//! over. The page's folder is read once at start ([`Files::warm`]), so even the first visitor
//! gets the compressed files at once. Reading and compressing block, so callers on the async
//! runtime go through `block_in_place` or a blocking task.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The largest file served (a poster is tens of KB, the wasm package tens more).
const MAX_FILE: u64 = 32 << 20;
/// The most bytes the cache keeps (all variants); past it the cache is emptied.
const MAX_CACHE: usize = 256 << 20;
/// The most files read ahead at start (a folder of the page, not of the posters).
const MAX_WARM: usize = 1000;

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
}

#[derive(Default)]
struct Cache {
    files: HashMap<PathBuf, (Signature, Arc<File>)>,
    bytes: usize,
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
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
        })
    }

    /// The file at the URL path `raw` (percent-encoded, without the leading slash) under
    /// `root`, or `None` for anything that must be a 404.
    pub fn find(&self, root: Root, raw: &str) -> Option<Arc<File>> {
        let root = match root {
            Root::Static => &self.static_root,
            Root::Posters => self.posters_root.as_ref()?,
        };
        let path = resolve(root, raw)?;
        let signature = signature(&path)?;
        if let Some((seen, file)) = self.lock().files.get(&path) {
            if *seen == signature {
                return Some(file.clone());
            }
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
        if let Some((_, old)) = cache.files.insert(path, (signature, file.clone())) {
            cache.bytes = cache.bytes.saturating_sub(old.size());
        }
        Some(file)
    }

    /// Reads, hashes and compresses every file of the page's folder that could be served
    /// (at most [`MAX_WARM`] of them), so that no visitor waits for it.
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
                let url = format!("{prefix}{}", utf8_percent_encode(name, NON_ALPHANUMERIC));
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    folders.push((entry.path(), format!("{url}/")));
                } else if served < MAX_WARM {
                    served += usize::from(self.find(Root::Static, &url).is_some());
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

/// The path a URL names under `root`, if it may be served (see the module docs).
fn resolve(root: &Path, raw: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in raw.split('/') {
        let decoded = percent_decode_str(segment).decode_utf8().ok()?;
        let refused =
            decoded.is_empty() || decoded.starts_with('.') || decoded.contains(['/', '\\', '\0']);
        if refused {
            return None;
        }
        path.push(decoded.as_ref());
    }
    let canonical = path.canonicalize().ok()?;
    let inside = canonical.strip_prefix(root).ok()?;
    let hidden = inside.components().any(|component| match component {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => true,
    });
    (!hidden && canonical.is_file()).then_some(canonical)
}

fn signature(path: &Path) -> Option<Signature> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    (metadata.is_file() && metadata.len() <= MAX_FILE).then(|| Signature {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode: metadata.ino(),
    })
}

fn read(path: &Path) -> Option<File> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() as u64 > MAX_FILE {
        return None;
    }
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

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

fn brotli(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
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
    let (body, encoding) = match (&file.brotli, &file.gzip) {
        (Some(brotli), _) if accepts(accepted, "br") => (brotli.clone(), Some("br")),
        (_, Some(gzip)) if accepts(accepted, "gzip") => (gzip.clone(), Some("gzip")),
        _ => (file.identity.clone(), None),
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

/// Whether an `Accept-Encoding` value accepts `coding` (named or `*`, with a q above 0).
fn accepts(header: &str, coding: &str) -> bool {
    header.split(',').any(|part| {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or("").trim();
        let quality = pieces
            .filter_map(|parameter| parameter.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (name.eq_ignore_ascii_case(coding) || name == "*") && quality > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_reads_names_stars_and_zero_qualities() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("gzip;q=0.5", "gzip"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(accepts("*", "br"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts("identity", "gzip"));
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
        assert!(resolve(&root, "pkg/a%20b.js").is_some());
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
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
    }
}
