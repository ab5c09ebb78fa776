//! The answers every route builds: JSON and other bodies that caches must not keep, and a
//! [`Problem`], the JSON error that names what was wrong. Below the API and the experiment
//! routes, which both answer this way.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;

/// A request that cannot be answered: its status and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 400, 404, 413, …
    pub status: StatusCode,
    /// Says what was wrong, naming the field and value (text from outside cut by
    /// [`clip`](crate::log::clip)).
    pub message: String,
    /// A 405's `Allow`: the methods the resource takes.
    pub allow: Option<&'static str>,
}

impl Problem {
    /// A `status` naming the problem.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Problem {
        Problem {
            status,
            message: message.into(),
            allow: None,
        }
    }

    /// A 400 naming the problem.
    pub fn bad(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, message)
    }

    /// The JSON error answer.
    pub fn response(&self) -> Response<Bytes> {
        let mut response = json(self.status, &serde_json::json!({ "error": self.message }));
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// A JSON answer that caches must not keep (it depends on the model being served).
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Bytes> {
    json_bytes(
        status,
        Bytes::from(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())),
    )
}

pub fn json_bytes(status: StatusCode, body: Bytes) -> Response<Bytes> {
    uncached(status, "application/json", body)
}

/// An answer of `content_type` that caches must not keep.
pub fn uncached(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
