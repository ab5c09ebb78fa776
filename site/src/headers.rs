//! What every answer gets on its way out: the security headers, and CORS for the origins
//! `--cors-origin` allows (the page's own origin always may call the API).

use anyhow::{bail, Result};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

/// The page may run its own scripts, its service worker and WebAssembly, load its own
/// styles, images and data, and nothing else; no one may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
     manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// Which other origins may call the API (the page's own origin always may).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cors {
    /// `*` was given: every origin may GET, as the original API allowed.
    any_get: bool,
    /// Origins that may GET and POST.
    origins: Vec<String>,
}

impl Cors {
    /// From `--cors-origin` values: `*`, or origins like `https://example.com`.
    pub fn new(values: &[String]) -> Result<Cors> {
        let mut cors = Cors::default();
        for value in values {
            let value = value.trim().trim_end_matches('/');
            if value == "*" {
                cors.any_get = true;
                continue;
            }
            let Some((scheme, host)) = value.split_once("://") else {
                bail!("--cors-origin {value:?} is not an origin like https://example.com or *");
            };
            if !matches!(scheme, "http" | "https")
                || host.is_empty()
                || host.contains(['/', '?', '#', ' '])
            {
                bail!("--cors-origin {value:?} is not an origin like https://example.com or *");
            }
            cors.origins.push(value.to_ascii_lowercase());
        }
        Ok(cors)
    }

    /// Whether any other origin may call the API.
    fn is_configured(&self) -> bool {
        self.any_get || !self.origins.is_empty()
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin` by `method`. A preflight
    /// (OPTIONS) carries it whenever the origin may use some method: a browser refuses the
    /// request it announces otherwise, whatever `Access-Control-Allow-Methods` says.
    fn allow(&self, origin: &str, method: &Method) -> Option<HeaderValue> {
        if self
            .origins
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        {
            return HeaderValue::from_str(origin).ok();
        }
        let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        (self.any_get && read).then(|| HeaderValue::from_static("*"))
    }

    /// Whether `origin` may POST (`--cors-origin` named it; `*` only reads).
    pub fn may_post(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }

    /// The methods a preflight from `origin` may use.
    fn methods(&self, origin: &str) -> Option<&'static str> {
        if self
            .origins
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        {
            Some("GET, POST")
        } else {
            self.any_get.then_some("GET")
        }
    }
}

/// Security headers on every answer, and CORS for allowed origins.
pub fn decorate(response: &mut Response<Bytes>, method: &Method, request: &HeaderMap, cors: &Cors) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if cors.is_configured() {
        // Whether the answer carries Access-Control-Allow-Origin depends on the request's
        // Origin: a shared cache must not hand one origin's answer to another.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if let Some(origin) = request.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if let Some(allowed) = cors.allow(origin, method) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        }
    }
}

/// The answer to OPTIONS (a CORS preflight): the methods the resource takes (`allow`), and
/// which methods and headers another origin may use.
pub fn preflight(request: &HeaderMap, cors: &Cors, allow: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    let origin = request.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let Some(methods) = origin.and_then(|origin| cors.methods(origin)) {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_checked_and_star_only_reads() {
        assert!(Cors::new(&["example.com".into()]).is_err());
        assert!(Cors::new(&["ftp://example.com".into()]).is_err());
        assert!(Cors::new(&["https://a.example/path".into()]).is_err());
        let cors = Cors::new(&["https://A.example/".into(), "*".into()]).unwrap();
        assert_eq!(
            cors.allow("https://a.example", &Method::POST).unwrap(),
            "https://a.example"
        );
        assert_eq!(cors.allow("https://b.example", &Method::GET).unwrap(), "*");
        assert_eq!(cors.allow("https://b.example", &Method::POST), None);
        assert_eq!(
            cors.allow("https://b.example", &Method::OPTIONS).unwrap(),
            "*",
            "a preflight from any origin gets *, with GET as its only method"
        );
        let own = Cors::new(&[]).unwrap();
        assert_eq!(own.allow("https://b.example", &Method::GET), None);
    }
}
