//! A stand-in TMDB server for the crawler tests: real HTTP/1.1 on 127.0.0.1 (port 0),
//! serving pages in TMDB's schema, and whatever misbehaviour a test asks for.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Path without the query, e.g. `/3/movie/popular`.
    pub path: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Decoded query parameters.
    pub query: HashMap<String, String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// How many requests for the same path and page came before, plus one.
    pub attempt: usize,
}

impl Request {
    pub fn page(&self) -> u32 {
        self.query
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }
}

/// What the server does with a request.
pub enum Reply {
    /// A status, extra headers and a body.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Waits, then replies.
    Delay(Duration, Box<Reply>),
    /// Sends the head of a `Full` reply at once, then its body one byte per interval.
    Trickle(Duration, Box<Reply>),
    /// Never answers (until the server stops).
    Hang,
    /// Closes the connection without a word.
    Close,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply::Full {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json;charset=utf-8".into(),
            )],
            body: body.into().into_bytes(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Full {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Full {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running stand-in; stops when dropped.
pub struct Server {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (requests, stop) = (requests.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, stop, handler) =
                        (requests.clone(), stop.clone(), handler.clone());
                    thread::spawn(move || serve(stream, &requests, &stop, &*handler));
                }
            });
        }
        Server {
            port,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT/3`, the API base to pass as `--base-url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/3", self.port)
    }

    /// `http://127.0.0.1:PORT/t/p`, the image base.
    pub fn image_base_url(&self) -> String {
        format!("http://127.0.0.1:{}/t/p", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Pages requested, in order.
    pub fn pages_requested(&self) -> Vec<u32> {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/movie/popular"))
            .map(Request::page)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

fn serve(
    mut stream: TcpStream,
    requests: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
    handler: &Handler,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() || first.is_empty() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    let target = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query_text) = target.split_once('?').unwrap_or((&target, ""));
    let query: HashMap<String, String> = query_text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    let request = {
        let mut seen = requests.lock().unwrap();
        let page = query.get("page").cloned();
        let attempt = 1 + seen
            .iter()
            .filter(|r| r.path == path && r.query.get("page") == page.as_ref())
            .count();
        let request = Request {
            path: path.to_string(),
            target: target.clone(),
            query,
            authorization,
            attempt,
        };
        seen.push(request.clone());
        request
    };
    let mut reply = handler(&request);
    loop {
        match reply {
            Reply::Delay(wait, next) => {
                thread::sleep(wait);
                reply = *next;
            }
            Reply::Hang => {
                while !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Reply::Close => return,
            Reply::Trickle(every, full) => {
                let Reply::Full {
                    status,
                    headers,
                    body,
                } = *full
                else {
                    panic!("Trickle wraps a Full reply");
                };
                let _ = stream.write_all(head(status, &headers, body.len()).as_bytes());
                for byte in body {
                    if stop.load(Ordering::SeqCst) || stream.write_all(&[byte]).is_err() {
                        return;
                    }
                    thread::sleep(every);
                }
                return;
            }
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let _ = stream.write_all(head(status, &headers, body.len()).as_bytes());
                let _ = stream.write_all(&body);
                return;
            }
        }
    }
}

fn head(status: u16, headers: &[(String, String)], length: usize) -> String {
    let mut head =
        format!("HTTP/1.1 {status} X\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Page `n` of a popular listing in TMDB's schema, 20 movies, with the real API's oddities:
/// movie 3 has null poster and backdrop paths, every fifth an empty overview and release
/// date, one title left in English, votes of 0; and the last movie of page `n` opens page
/// `n + 1` again, as TMDB's shifting popularity does.
pub fn page(n: u32, total_pages: u64) -> String {
    let movies: Vec<String> = (0..20)
        .map(|i| {
            if n > 1 && i == 0 {
                movie(n - 1, 19)
            } else {
                movie(n, i)
            }
        })
        .collect();
    format!(
        "{{\"page\":{n},\"results\":[{}],\"total_pages\":{total_pages},\"total_results\":{}}}",
        movies.join(","),
        total_pages * 20
    )
}

/// The id of movie `i` of page `n`.
pub fn movie_id(n: u32, i: u32) -> u64 {
    u64::from(n) * 1000 + u64::from(i) + 7
}

fn movie(n: u32, i: u32) -> String {
    let id = movie_id(n, i);
    let null_paths = i == 3;
    let sparse = i % 5 == 4;
    let no_votes = i == 11;
    let popularity =
        20_000.0 / (f64::from(n) + 1.0) - f64::from(i) * 0.5 + (id * 37 % 1000) as f64 / 1e6;
    format!(
        r#"{{"adult":false,"backdrop_path":{backdrop},"genre_ids":[28,{genre}],"id":{id},"original_language":"en","original_title":"Movie {id}","overview":"{overview}","popularity":{popularity:.3},"poster_path":{poster},"release_date":"{date}","title":"{title}","video":false,"vote_average":{vote},"vote_count":{votes}}}"#,
        backdrop = if null_paths {
            "null".into()
        } else {
            format!("\"/b{id}.jpg\"")
        },
        genre = 12 + i,
        overview = if sparse {
            String::new()
        } else {
            format!("영화 {id}의 줄거리.")
        },
        poster = if null_paths {
            "null".into()
        } else {
            format!("\"/p{id}.jpg\"")
        },
        date = if sparse {
            String::new()
        } else {
            format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i)
        },
        title = if i == 7 {
            format!("Movie {id}")
        } else {
            format!("영화 {id}")
        },
        vote = if no_votes {
            "0".to_string()
        } else {
            format!("{}.{}", 5 + (id % 4), id % 10)
        },
        votes = if no_votes { 0 } else { 100 + id % 900 },
    )
}
