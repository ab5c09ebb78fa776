//! The TMDB HTTP client: credentials, timeouts, TMDB's error bodies, and retries with
//! exponential backoff and full jitter that honour `Retry-After`.
//!
//! The credential goes to the API's origin and nowhere else: API requests follow a redirect
//! only within that origin (a redirect elsewhere would carry `api_key=` in its URL), and
//! image requests, which follow redirects freely, never carry it. Every message this module
//! produces is free of it: reqwest's errors are taken without their URL, URLs are never part
//! of a message, and every message is redacted on its way out (as `console` and the caller
//! also do, as further lines of defence). An answer that holds the credential is refused
//! rather than stored: see [`Client::get_api`].
//!
//! `timeout` is a deadline for the whole request, answer body included: a server that
//! trickles its answer byte by byte cannot keep a request going for longer.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Result};
use cinerec_learn::random::Rng;
use reqwest::blocking::{Client as Http, Response};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::redirect::{Attempt, Policy};
use serde::Deserialize;

use crate::credentials::Credential;

/// The longest `Retry-After` we wait for; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest backoff between attempts when the server gives no `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Connecting never gets more than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies larger than this are refused (a page is ~15 KB, a w185 poster ~20 KB).
const MAX_BODY: u64 = 32 << 20;
/// Redirects followed in a row, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

/// How one attempt failed.
pub enum Failure {
    /// Worth another attempt (429, 5xx, timeouts, dropped connections, garbled bodies).
    Transient {
        /// What happened, for the user.
        message: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (rejected credentials, a bad request).
    Fatal(String),
}

fn transient(message: impl Into<String>) -> Failure {
    Failure::Transient {
        message: message.into(),
        retry_after: None,
    }
}

/// Checks a 200 answer's body, given its content type; `Err` says what is wrong with it.
pub type Validate = dyn Fn(&[u8], &str) -> Result<(), String>;

/// A client with retries. `retries` counts the attempts beyond the first, over its life.
pub struct Client {
    /// For the API: redirects stay within the origin (see the module docs).
    api: Http,
    /// For images, which carry no credential.
    images: Http,
    credential: Credential,
    attempts: u32,
    backoff: Duration,
    timeout: Duration,
    jitter: Rng,
    /// Retries made so far.
    pub retries: u64,
}

/// TMDB's error body: `{"status_code":7,"status_message":"…","success":false}`, or the
/// validation shape `{"errors":["…"]}`.
#[derive(Debug, Default, Deserialize)]
struct TmdbError {
    status_code: Option<i64>,
    status_message: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

impl Client {
    /// A client whose requests each get `timeout` in all, tried up to `attempts` times.
    pub fn new(
        credential: Credential,
        timeout: Duration,
        attempts: u32,
        backoff: Duration,
    ) -> Result<Client> {
        let http = |redirects: Policy| {
            Http::builder()
                .connect_timeout(CONNECT_TIMEOUT.min(timeout))
                .timeout(timeout)
                .redirect(redirects)
                .user_agent(concat!("cinerec-trainer/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| anyhow!("setting up the HTTP client: {}", e.without_url()))
        };
        let api = http(Policy::custom(same_origin_only))?;
        let images = http(Policy::limited(MAX_REDIRECTS))?;
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Ok(Client {
            api,
            images,
            credential,
            attempts: attempts.max(1),
            backoff,
            timeout,
            jitter: Rng::new(seed),
            retries: 0,
        })
    }

    /// GETs a TMDB API URL with the credential; `validate` checks a 200 body (a failure is
    /// transient: proxies hand out garbled or HTML pages that a retry may not get).
    ///
    /// An answer that holds the credential, in any form, is refused and not retried. TMDB
    /// never echoes it; a server that does is not TMDB (a misconfigured `--base-url`, a proxy
    /// reflecting the request), so its data is not what the catalog promises, and keeping it,
    /// even redacted, would store the secret or a doctored page on disk.
    pub fn get_api(
        &mut self,
        url: &str,
        query: &[(&str, &str)],
        what: &str,
        validate: &Validate,
        on_retry: &mut dyn FnMut(&str),
    ) -> Result<Vec<u8>> {
        let credential = self.credential.clone();
        let timeout = self.timeout;
        let http = self.api.clone();
        self.with_retries(what, on_retry, |credential_check| {
            let deadline = Instant::now() + timeout;
            let mut request = http
                .get(url)
                .query(query)
                .header("accept", "application/json")
                .timeout(timeout);
            request = match &credential {
                Credential::Bearer(token) => request.bearer_auth(token),
                Credential::ApiKey(key) => request.query(&[("api_key", key)]),
            };
            let response = request
                .send()
                .map_err(|e| describe_send_error(&e, timeout))?;
            let (content_type, body) = read_ok(response, deadline, timeout)?;
            credential_check(&body)?;
            validate(&body, &content_type).map_err(transient)?;
            Ok(body)
        })
    }

    /// GETs an image, without the credential (image hosts need none, and must not see it).
    pub fn get_image(
        &mut self,
        url: &str,
        what: &str,
        on_retry: &mut dyn FnMut(&str),
    ) -> Result<Vec<u8>> {
        let timeout = self.timeout;
        let http = self.images.clone();
        self.with_retries(what, on_retry, |credential_check| {
            let deadline = Instant::now() + timeout;
            let response = http
                .get(url)
                .timeout(timeout)
                .send()
                .map_err(|e| describe_send_error(&e, timeout))?;
            let (content_type, body) = read_ok(response, deadline, timeout)?;
            // An image host cannot know the key, but one that is the API's own server can.
            credential_check(&body)?;
            if !content_type.starts_with("image/") {
                return Err(transient(format!(
                    "the answer is {}, not an image",
                    if content_type.is_empty() {
                        "untyped"
                    } else {
                        &content_type
                    }
                )));
            }
            if body.is_empty() {
                return Err(transient("the image is empty"));
            }
            Ok(body)
        })
    }

    /// Runs `attempt` until it succeeds, fails for good or runs out of attempts. `attempt`
    /// gets the check that refuses a body holding the credential. Every message, the retry
    /// lines and the final error, is redacted here, where the credential is at hand: the text
    /// of an answer (a 503 echoing the request) can hold it.
    fn with_retries(
        &mut self,
        what: &str,
        on_retry: &mut dyn FnMut(&str),
        mut attempt: impl FnMut(&dyn Fn(&[u8]) -> Result<(), Failure>) -> Result<Vec<u8>, Failure>,
    ) -> Result<Vec<u8>> {
        let credential = self.credential.clone();
        let credential_check = |body: &[u8]| {
            if credential.appears_in(body) {
                return Err(Failure::Fatal(
                    "the answer holds the credential, which TMDB never sends back: refusing \
                     to keep it (is --base-url or TMDB_BASE_URL really TMDB?)"
                        .into(),
                ));
            }
            Ok(())
        };
        let redact = |text: String| credential.redact(&text);
        for number in 1..=self.attempts {
            match attempt(&credential_check) {
                Ok(body) => return Ok(body),
                Err(Failure::Fatal(message)) => {
                    return Err(anyhow!(redact(format!("{what}: {message}"))))
                }
                Err(Failure::Transient {
                    message,
                    retry_after,
                }) => {
                    if number == self.attempts {
                        return Err(anyhow!(redact(format!(
                            "{what}: gave up after {} attempts; the last: {message}",
                            self.attempts
                        ))));
                    }
                    let delay = match retry_after {
                        Some(wait) => wait.min(MAX_RETRY_AFTER),
                        None => self.full_jitter(number),
                    };
                    self.retries += 1;
                    on_retry(&redact(format!(
                        "{what}: {message}; retrying in {:.1} s (attempt {} of {})",
                        delay.as_secs_f64(),
                        number + 1,
                        self.attempts
                    )));
                    std::thread::sleep(delay);
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// A uniform delay in `[0, min(MAX_BACKOFF, backoff · 2^(attempt − 1))]`.
    fn full_jitter(&mut self, attempt: u32) -> Duration {
        let ceiling = self
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(MAX_BACKOFF);
        ceiling.mul_f64(self.jitter.next_f64())
    }
}

/// The redirect policy of API requests: follow within the origin of the first URL only.
fn same_origin_only(attempt: Attempt) -> reqwest::redirect::Action {
    let first = attempt.previous().first().map(|url| url.origin());
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(format!("more than {MAX_REDIRECTS} redirects in a row"));
    }
    if first.as_ref() == Some(&attempt.url().origin()) {
        return attempt.follow();
    }
    // The origin only: the rest of the URL may carry the key.
    let origin = attempt.url().origin().ascii_serialization();
    attempt.error(format!(
        "TMDB redirected the request to another origin ({origin}); not followed, since the \
         request carries the credential"
    ))
}

fn describe_send_error(error: &reqwest::Error, timeout: Duration) -> Failure {
    if error.is_redirect() {
        // The policy's own reason, without reqwest's text (which names the URL).
        let reason = causes(error);
        return Failure::Fatal(reason.strip_prefix(": ").unwrap_or(&reason).to_string());
    }
    if error.is_builder() {
        // A request that cannot even be built (a credential with a line break, say) will not
        // get better by retrying.
        return Failure::Fatal(format!("the request could not be built{}", causes(error)));
    }
    if error.is_timeout() {
        return timed_out(timeout);
    }
    let what = if error.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    transient(format!("{what}{}", causes(error)))
}

/// `": cause: deeper cause"`: reqwest's own text names the URL (with the key), so only the
/// causes are kept.
fn causes(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn timed_out(timeout: Duration) -> Failure {
    transient(format!(
        "no complete answer within {:.1} s (--timeout-secs)",
        timeout.as_secs_f64()
    ))
}

/// The body of a 200 answer with its content type, or the failure its status means; the
/// whole body must arrive before `deadline`.
fn read_ok(
    response: Response,
    deadline: Instant,
    timeout: Duration,
) -> Result<(String, Vec<u8>), Failure> {
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // The request's own timeout ends a stalled read at the deadline; checking between reads
    // as well keeps the deadline whatever reqwest does with a body that keeps trickling.
    let mut body = Vec::new();
    let mut reader = response.take(MAX_BODY + 1);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        if Instant::now() >= deadline {
            return Err(timed_out(timeout));
        }
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => body.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => return Err(timed_out(timeout)),
            Err(error) => {
                return Err(transient(format!(
                    "the connection dropped while reading the answer ({})",
                    error.kind()
                )))
            }
        }
    }
    if body.len() as u64 > MAX_BODY {
        return Err(Failure::Fatal(format!(
            "the answer is larger than {MAX_BODY} bytes"
        )));
    }
    if status.is_success() {
        return Ok((content_type, body));
    }
    Err(classify(status.as_u16(), &headers, &body))
}

/// Whether a body read failed because the request's deadline passed.
fn is_timeout(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::TimedOut
        || error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}

/// What a non-200 answer means, from its HTTP status and TMDB's `status_code`.
fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Failure {
    let tmdb: TmdbError = serde_json::from_slice(body).unwrap_or_default();
    let detail = match (&tmdb.status_message, tmdb.status_code) {
        (Some(message), Some(code)) => format!("{message} (TMDB status_code {code})"),
        (Some(message), None) => message.clone(),
        _ if !tmdb.errors.is_empty() => tmdb.errors.join("; "),
        _ => "no details in the answer".to_string(),
    };
    let credentials_rejected = status == 401 || matches!(tmdb.status_code, Some(3 | 7 | 10));
    if credentials_rejected {
        return Failure::Fatal(format!(
            "TMDB rejected the credentials (HTTP {status}): {detail}; check TMDB_ACCESS_TOKEN or TMDB_API_KEY"
        ));
    }
    let busy = status == 429 || tmdb.status_code == Some(25);
    let unavailable = (500..=599).contains(&status)
        || matches!(tmdb.status_code, Some(9 | 11 | 15 | 24 | 43 | 46));
    if busy || unavailable {
        let what = if busy {
            "too many requests"
        } else {
            "TMDB is unavailable"
        };
        return Failure::Transient {
            message: format!("{what} (HTTP {status}: {detail})"),
            retry_after: retry_after(headers),
        };
    }
    Failure::Fatal(format!(
        "TMDB refused the request (HTTP {status}: {detail})"
    ))
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn message(failure: Failure) -> (bool, String, Option<Duration>) {
        match failure {
            Failure::Transient {
                message,
                retry_after,
            } => (true, message, retry_after),
            Failure::Fatal(message) => (false, message, None),
        }
    }

    #[test]
    fn tmdb_error_bodies_are_classified() {
        let none = HeaderMap::new();
        let (retry, text, _) = message(classify(
            401,
            &none,
            br#"{"status_message":"Invalid API key: You must be granted a valid key.","success":false,"status_code":7}"#,
        ));
        assert!(!retry);
        assert!(
            text.contains("rejected the credentials (HTTP 401): Invalid API key"),
            "{text}"
        );
        assert!(text.contains("status_code 7"));

        let (retry, text, _) = message(classify(
            503,
            &none,
            br#"{"status_code":46,"status_message":"Service unavailable"}"#,
        ));
        assert!(retry && text.contains("unavailable"), "{text}");
        let (retry, _, _) = message(classify(504, &none, b"<html>gateway</html>"));
        assert!(retry);
        let (retry, text, _) = message(classify(
            422,
            &none,
            br#"{"errors":["page must be less than or equal to 500"]}"#,
        ));
        assert!(
            !retry && text.contains("page must be less than or equal to 500"),
            "{text}"
        );
        let (retry, _, _) = message(classify(
            400,
            &none,
            br#"{"status_code":22,"status_message":"Invalid page"}"#,
        ));
        assert!(!retry);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let (retry, text, wait) = message(classify(429, &headers, br#"{"status_code":25}"#));
        assert!(retry && text.starts_with("too many requests"));
        assert_eq!(wait, Some(Duration::from_secs(3)));

        let later = SystemTime::now() + Duration::from_secs(120);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );

        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date means now"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let mut client = Client::new(
            Credential::ApiKey("k".into()),
            Duration::from_secs(1),
            5,
            Duration::from_millis(100),
        )
        .unwrap();
        for attempt in 1..=12 {
            let ceiling = Duration::from_millis(100 * (1 << (attempt - 1))).min(MAX_BACKOFF);
            for _ in 0..50 {
                assert!(client.full_jitter(attempt) <= ceiling);
            }
        }
    }
}
