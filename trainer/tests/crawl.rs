//! The crawler against a stand-in TMDB server on 127.0.0.1: the real binary, real HTTP.

mod support;

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use support::tmdb::{movie_id, page, Reply, Request, Server};
use support::{Run, Workspace};

const KEY: &str = "test-key-5f3a9c71";
const TOKEN: &str = "eyJ0b2tlbi1mb3ItdGVzdHMifQ.c2VjcmV0";

/// A server that answers every popular page with `page(n, total_pages)` and every poster
/// with a small JPEG.
fn healthy(total_pages: u64) -> Server {
    Server::start(move |request| {
        if request.path.starts_with("/t/p/w185/") {
            return jpeg();
        }
        Reply::json(200, page(request.page(), total_pages))
    })
}

fn jpeg() -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "image/jpeg".into())],
        body: b"\xFF\xD8\xFF\xE0fake-jpeg-for-tests\xFF\xD9".to_vec(),
    }
}

/// `crawl` against `server` with the API key and quick retry settings, plus `extra` flags.
fn crawl_command(ws: &Workspace, server: &Server, extra: &[&str]) -> std::process::Command {
    let base = server.base_url();
    let mut args = vec![
        "crawl",
        "--out",
        "movies.json",
        "--base-url",
        &base,
        "--interval-ms",
        "0",
        "--backoff-ms",
        "20",
    ];
    args.extend_from_slice(extra);
    let mut command = ws.command();
    command.env("TMDB_API_KEY", KEY).args(&args);
    command
}

/// Runs [`crawl_command`] and checks that the secret went nowhere.
fn crawl(ws: &Workspace, server: &Server, extra: &[&str]) -> Run {
    let output = crawl_command(ws, server, extra).output().unwrap();
    let run = Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secret(ws, &run);
    run
}

/// The key appears nowhere: not in what the crawler printed, nor in any file it left.
fn assert_no_secret(ws: &Workspace, run: &Run) {
    for secret in [KEY, TOKEN] {
        assert_no_trace_of(secret, ws, run);
    }
}

/// `secret` appears in none of its forms (see [`forms`]) in what the crawler printed or in
/// any file it left.
fn assert_no_trace_of(secret: &str, ws: &Workspace, run: &Run) {
    let files: Vec<(String, String)> = walk(ws.path())
        .into_iter()
        .map(|path| {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            (path.display().to_string(), text)
        })
        .collect();
    for form in forms(secret) {
        assert!(
            !run.stdout.contains(&form),
            "stdout holds the secret as {form:?}:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(&form),
            "stderr holds the secret as {form:?}:\n{}",
            run.stderr
        );
        for (path, text) in &files {
            assert!(!text.contains(&form), "{path} holds the secret as {form:?}");
        }
    }
}

/// The forms a secret takes on its way through a request and back: as it is, form-encoded
/// (as a query string carries it), percent-encoded in either case, JSON-escaped.
fn forms(secret: &str) -> Vec<String> {
    let mut form = String::new();
    let (mut upper, mut lower) = (String::new(), String::new());
    for &byte in secret.as_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                form.push(char::from(byte))
            }
            b' ' => form.push('+'),
            _ => write!(form, "%{byte:02X}").unwrap(),
        }
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            upper.push(char::from(byte));
            lower.push(char::from(byte));
        } else {
            write!(upper, "%{byte:02X}").unwrap();
            write!(lower, "%{byte:02x}").unwrap();
        }
    }
    let json = serde_json::to_string(secret).unwrap();
    let mut forms = vec![
        secret.to_string(),
        form,
        upper,
        lower,
        json[1..json.len() - 1].to_string(),
    ];
    forms.sort();
    forms.dedup();
    forms
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn movies(ws: &Workspace) -> Vec<serde_json::Value> {
    ws.read_json("movies.json")["movies"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn crawls_pages_keeps_tmdb_fields_as_received_and_drops_cross_page_duplicates() {
    let ws = Workspace::new();
    let server = healthy(40_578);
    let run = crawl(&ws, &server, &["--end-page", "3"]).success();
    assert!(
        run.stdout.contains("wrote 58 movies from pages 1..=3"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 duplicates dropped"),
        "{}",
        run.stdout
    );
    assert_eq!(server.pages_requested(), [1, 2, 3]);

    let request = &server.requests()[0];
    assert_eq!(request.path, "/3/movie/popular");
    assert_eq!(request.query["language"], "ko-KR");
    assert_eq!(request.query["region"], "KR");
    assert_eq!(request.query["api_key"], KEY);
    assert_eq!(request.authorization, None);

    let movies = movies(&ws);
    let served: serde_json::Value = serde_json::from_str(&page(1, 40_578)).unwrap();
    assert_eq!(
        movies[0], served["results"][0],
        "fields exactly as received"
    );
    assert_eq!(movies[3]["poster_path"], serde_json::Value::Null);
    assert_eq!(movies[4]["release_date"], "");
    assert_eq!(movies[4]["overview"], "");
    let ids: Vec<u64> = movies.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.iter().filter(|&&id| id == movie_id(1, 19)).count(), 1);
    assert!(
        !ws.join(".movies.json.crawl").exists(),
        "checkpoints go after success"
    );
}

#[test]
fn the_access_token_goes_in_a_bearer_header_not_the_url() {
    let ws = Workspace::new();
    let server = healthy(1);
    let output = crawl_command(&ws, &server, &[])
        .env("TMDB_ACCESS_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(output.status.success());
    let request = &server.requests()[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(!request.query.contains_key("api_key"));
}

#[test]
fn an_old_dotenv_with_a_movie_base_url_keeps_working() {
    let ws = Workspace::new();
    let server = healthy(1);
    ws.write(
        ".env",
        format!(
            "TMDB_BASE_URL={}/movie\nTMDB_API_KEY={KEY}\n",
            server.base_url()
        ),
    );
    let run = Run::from_output(
        ws.command()
            .args(["crawl", "--out", "movies.json", "--end-page", "1"])
            .output()
            .unwrap(),
    )
    .success();
    assert!(!run.stderr.contains(KEY) && !run.stdout.contains(KEY));
    assert_eq!(server.requests()[0].path, "/3/movie/popular");
    assert_eq!(movies(&ws).len(), 20);
}

#[test]
fn no_credentials_says_how_to_get_one_and_that_the_demo_works_without() {
    let ws = Workspace::new();
    ws.run(&["crawl", "--out", "movies.json"])
        .fails_with("no TMDB credentials: set TMDB_ACCESS_TOKEN")
        .stderr
        .contains("demo-catalog")
        .then_some(())
        .expect("mentions demo-catalog");
}

#[test]
fn the_page_range_is_clamped_to_total_pages_and_to_500() {
    let ws = Workspace::new();
    let server = healthy(4);
    let run = crawl(&ws, &server, &["--end-page", "9"]).success();
    assert_eq!(server.pages_requested(), [1, 2, 3, 4]);
    assert!(
        run.stderr.contains("TMDB reports 4 pages"),
        "{}",
        run.stderr
    );

    let ws = Workspace::new();
    let server = Server::start(|request| {
        if request.page() > 500 {
            Reply::json(
                400,
                r#"{"success":false,"status_code":22,"status_message":"Invalid page: Pages start at 1 and max at 500. They are expected to be an integer."}"#,
            )
        } else {
            Reply::json(200, page(request.page(), 40_578))
        }
    });
    let run = crawl(&ws, &server, &["--start-page", "499", "--end-page", "600"]).success();
    assert_eq!(server.pages_requested(), [499, 500]);
    assert!(
        run.stderr
            .contains("serves at most 500: fetching pages 499..=500"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_429_is_retried_with_and_without_retry_after() {
    for retry_after in [None, Some("1")] {
        let ws = Workspace::new();
        let server = Server::start(move |request| {
            if request.attempt == 1 && request.page() == 2 {
                let reply = Reply::json(
                    429,
                    r#"{"success":false,"status_code":25,"status_message":"Your request count (41) is over the allowed limit of 40."}"#,
                );
                match retry_after {
                    Some(seconds) => reply.with_header("Retry-After", seconds),
                    None => reply,
                }
            } else {
                Reply::json(200, page(request.page(), 3))
            }
        });
        let started = Instant::now();
        let run = crawl(&ws, &server, &["--end-page", "3"]).success();
        assert_eq!(server.pages_requested(), [1, 2, 2, 3]);
        assert!(
            run.stderr.contains("page 2: too many requests (HTTP 429"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.contains("1 retries"), "{}", run.stdout);
        if retry_after.is_some() {
            assert!(run.stderr.contains("retrying in 1.0 s"), "{}", run.stderr);
            assert!(
                started.elapsed() >= Duration::from_millis(950),
                "Retry-After was honoured"
            );
        }
    }
}

#[test]
fn a_503_twice_then_success_is_retried() {
    let ws = Workspace::new();
    let server = Server::start(|request| {
        if request.attempt <= 2 {
            Reply::json(
                503,
                r#"{"success":false,"status_code":46,"status_message":"Service temporarily unavailable."}"#,
            )
        } else {
            Reply::json(200, page(request.page(), 1))
        }
    });
    let run = crawl(&ws, &server, &[]).success();
    assert_eq!(server.pages_requested(), [1, 1, 1]);
    assert_eq!(
        run.stderr.matches("TMDB is unavailable (HTTP 503").count(),
        2,
        "{}",
        run.stderr
    );
    assert_eq!(movies(&ws).len(), 20);
}

#[test]
fn a_response_slower_than_the_timeout_is_retried_then_given_up_on() {
    let ws = Workspace::new();
    let server = Server::start(|request| {
        let reply = Reply::json(200, page(request.page(), 1));
        if request.attempt == 1 {
            Reply::Delay(Duration::from_secs(3), Box::new(reply))
        } else {
            reply
        }
    });
    let run = crawl(&ws, &server, &["--timeout-secs", "0.5"]).success();
    assert!(
        run.stderr.contains("no complete answer within 0.5 s"),
        "{}",
        run.stderr
    );
    assert_eq!(server.pages_requested(), [1, 1]);

    let ws = Workspace::new();
    let server = Server::start(|_| Reply::Hang);
    let run = crawl(&ws, &server, &["--timeout-secs", "0.3", "--attempts", "2"]);
    run.fails_with("page 1: gave up after 2 attempts; the last: no complete answer within 0.3 s");
    assert!(!ws.join("movies.json").exists());
}

#[test]
fn a_dropped_connection_is_retried() {
    let ws = Workspace::new();
    let server = Server::start(|request| {
        if request.attempt == 1 {
            Reply::Close
        } else {
            Reply::json(200, page(request.page(), 1))
        }
    });
    crawl(&ws, &server, &[]).success();
    assert_eq!(server.pages_requested(), [1, 1]);
}

#[test]
fn a_401_stops_at_once_and_says_the_credentials_were_rejected() {
    let ws = Workspace::new();
    let server = Server::start(|_| {
        Reply::json(
            401,
            r#"{"status_code":7,"status_message":"Invalid API key: You must be granted a valid key.","success":false}"#,
        )
    });
    crawl(&ws, &server, &["--end-page", "3"]).fails_with(
        "page 1: TMDB rejected the credentials (HTTP 401): Invalid API key: You must be granted a valid key. (TMDB status_code 7)",
    );
    assert_eq!(server.pages_requested(), [1], "no retry");
    assert!(!ws.join("movies.json").exists());
}

#[test]
fn malformed_json_and_html_pages_are_retried_then_reported() {
    let ws = Workspace::new();
    let server = Server::start(|request| {
        let whole = page(request.page(), 1);
        Reply::json(200, &whole[..whole.len() / 2])
    });
    crawl(&ws, &server, &["--attempts", "3"])
        .fails_with("page 1: gave up after 3 attempts; the last: the answer is not a TMDB page: EOF while parsing");
    assert_eq!(server.pages_requested(), [1, 1, 1]);
    assert!(!ws.join("movies.json").exists());

    let ws = Workspace::new();
    let server = Server::start(|_| Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
        body: b"<!DOCTYPE html><html><body>Service maintenance</body></html>".to_vec(),
    });
    crawl(&ws, &server, &["--attempts", "2"]).fails_with(
        "TMDB answered with an HTML page instead of JSON (text/html; charset=utf-8, 60 bytes)",
    );
}

#[test]
fn a_killed_crawl_resumes_from_its_checkpoints_and_gives_the_same_file() {
    // The reference: an uninterrupted crawl.
    let reference = Workspace::new();
    let server = healthy(5);
    crawl(&reference, &server, &["--end-page", "5"]).success();
    drop(server);

    // A crawl that hangs on page 3 and is killed there.
    let ws = Workspace::new();
    let hanging = Server::start(|request| {
        if request.page() == 3 {
            Reply::Hang
        } else {
            Reply::json(200, page(request.page(), 5))
        }
    });
    let mut child = crawl_command(&ws, &hanging, &["--end-page", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ws.join(".movies.json.crawl/page-002.json").exists() {
        assert!(Instant::now() < deadline, "the crawl never got to page 2");
        std::thread::sleep(Duration::from_millis(20));
    }
    while hanging.pages_requested().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the crawl never asked for page 3"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!ws.join("movies.json").exists(), "no half catalog");
    drop(hanging);

    let server = healthy(5);
    crawl(&ws, &server, &["--end-page", "5"]).success();
    assert_eq!(
        server.pages_requested(),
        [3, 4, 5],
        "only the missing pages"
    );
    assert_eq!(ws.read("movies.json"), reference.read("movies.json"));
}

#[test]
fn posters_give_one_image_per_movie_and_the_pipeline_trains_on_the_crawl() {
    let ws = Workspace::new();
    let server = Server::start(|request| {
        if request.path.starts_with("/t/p/w185/") {
            // The first answer for one poster is an error page: retried like any other.
            if request.path.ends_with("/p1009.jpg") && request.attempt == 1 {
                return Reply::Full {
                    status: 200,
                    headers: vec![("Content-Type".into(), "text/html".into())],
                    body: b"<html>oops</html>".to_vec(),
                };
            }
            return jpeg();
        }
        Reply::json(200, page(request.page(), 2))
    });
    let image_base = server.image_base_url();
    let run = crawl(
        &ws,
        &server,
        &[
            "--end-page",
            "2",
            "--posters",
            "posters",
            "--image-base-url",
            &image_base,
        ],
    )
    .success();
    assert!(
        run.stderr
            .contains("poster of movie 1009: the answer is text/html, not an image"),
        "{}",
        run.stderr
    );
    let movies = movies(&ws);
    assert_eq!(movies.len(), 39);
    let mut names: Vec<String> = std::fs::read_dir(ws.join("posters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 39, "one poster per movie");
    assert!(
        names.contains(&format!("{}.svg", movie_id(1, 3))),
        "null poster_path → generated"
    );
    assert!(names.contains(&format!("{}.jpg", movie_id(1, 0))));
    let poster_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/t/p/"))
        .collect();
    assert!(
        poster_requests
            .iter()
            .all(|r| !r.target.contains("api_key") && r.authorization.is_none()),
        "image requests carry no credential"
    );

    let run = ws
        .run(&["pipeline", "--movies", "movies.json", "--out", "out"])
        .success();
    assert!(run.stdout.contains("model.bin"), "{}", run.stdout);
    let metrics = ws.read_json("out/metrics.json");
    assert!(metrics["classes"].as_u64().unwrap() > 10);
}

#[test]
fn impossible_flags_are_refused_before_any_request() {
    let ws = Workspace::new();
    let server = healthy(3);
    crawl(&ws, &server, &["--timeout-secs", "1e300"])
        .fails_with("--timeout-secs 1e300 must be more than 0 and at most 3600");
    crawl(&ws, &server, &["--timeout-secs", "NaN"]).fails_with("must be more than 0");
    crawl(&ws, &server, &["--start-page", "5", "--end-page", "2"])
        .fails_with("--start-page 5 is after --end-page 2");
    crawl(&ws, &server, &["--image-base-url", "ftp://images.example"])
        .fails_with("--image-base-url ftp://images.example is not an http(s) URL");
    let output = crawl_command(&ws, &server, &[])
        .env("TMDB_ACCESS_TOKEN", format!("{TOKEN}\nX-Injected: 1"))
        .output()
        .unwrap();
    let run = Run::from_output(output);
    assert_no_secret(&ws, &run);
    run.fails_with("page 1: the request could not be built");
    assert!(server.requests().is_empty());
}

#[test]
fn the_timeout_is_a_deadline_for_the_whole_request_body_included() {
    let ws = Workspace::new();
    // Headers at once, then the page one byte every half second: about an hour and a half.
    let server = Server::start(|request| {
        Reply::Trickle(
            Duration::from_millis(500),
            Box::new(Reply::json(200, page(request.page(), 1))),
        )
    });
    let started = Instant::now();
    let mut child = crawl_command(&ws, &server, &["--timeout-secs", "2", "--attempts", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("the crawl is still running after 30 s with --timeout-secs 2");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = Run::from_output(child.wait_with_output().unwrap());
    run.fails_with("page 1: gave up after 1 attempts; the last: no complete answer within 2.0 s");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert!(!ws.join("movies.json").exists());
}

/// An API key with characters that URLs, forms and JSON each write their own way.
const ODD_KEY: &str = "odd key+/&é=\"5f3a%20?";

/// A 503 whose body echoes the request as the server received it, URL-encoded key and all.
fn echoing_503(request: &Request) -> Reply {
    let body = serde_json::json!({
        "status_code": 46,
        "status_message": format!("unavailable for GET {} ({:?})", request.target, request.query),
    });
    Reply::json(503, body.to_string())
}

#[test]
fn the_key_reaches_no_message_no_file_and_no_other_origin_in_any_encoding() {
    let odd_crawl = |ws: &Workspace, server: &Server, extra: &[&str]| {
        let output = crawl_command(ws, server, extra)
            .env("TMDB_API_KEY", ODD_KEY)
            .output()
            .unwrap();
        let run = Run::from_output(output);
        assert_no_trace_of(ODD_KEY, ws, &run);
        run
    };

    // A 503 echoing the request: redacted in the retry line as in the final error.
    let ws = Workspace::new();
    let server = Server::start(|request| {
        if request.attempt == 1 {
            echoing_503(request)
        } else {
            Reply::json(200, page(request.page(), 1))
        }
    });
    let run = odd_crawl(&ws, &server, &[]).success();
    assert!(run.stderr.contains("api_key=***"), "{}", run.stderr);
    assert_eq!(
        server.requests()[0].query["api_key"],
        ODD_KEY,
        "the key was sent"
    );
    let ws = Workspace::new();
    let server = Server::start(echoing_503);
    odd_crawl(&ws, &server, &["--attempts", "2"]).fails_with("TMDB is unavailable (HTTP 503");

    // A page whose fields echo the key: refused, and nothing of it kept (nor its checkpoint).
    let ws = Workspace::new();
    let server = Server::start(|request| {
        let mut value: serde_json::Value = serde_json::from_str(&page(request.page(), 1)).unwrap();
        value["results"][2]["overview"] =
            serde_json::json!(format!("key: {}", request.query["api_key"]));
        Reply::json(200, value.to_string())
    });
    odd_crawl(&ws, &server, &[]).fails_with("page 1: the answer holds the credential");
    assert!(!ws.join("movies.json").exists());

    // A page an older version checkpointed with the key in it: fetched again, not copied.
    let ws = Workspace::new();
    let failing = Server::start(|request| match request.page() {
        1 => Reply::json(200, page(1, 2)),
        _ => Reply::json(
            401,
            r#"{"status_code":7,"status_message":"Invalid API key"}"#,
        ),
    });
    odd_crawl(&ws, &failing, &["--end-page", "2"]).fails_with("page 2: TMDB rejected");
    let mut kept: serde_json::Value = serde_json::from_str(&page(1, 2)).unwrap();
    kept["results"][0]["overview"] = serde_json::json!(ODD_KEY);
    ws.write(".movies.json.crawl/page-001.json", kept.to_string());
    let server = healthy(2);
    odd_crawl(&ws, &server, &["--end-page", "2"]).success();
    assert_eq!(server.pages_requested(), [1, 2]);

    // A redirect to another origin, key and all: not followed; within the origin: followed.
    let elsewhere = healthy(1);
    let ws = Workspace::new();
    let port = elsewhere.port;
    let server = Server::start(move |request| Reply::Full {
        status: 302,
        headers: vec![(
            "Location".into(),
            format!("http://127.0.0.1:{port}{}", request.target),
        )],
        body: Vec::new(),
    });
    odd_crawl(&ws, &server, &[]).fails_with(&format!(
        "page 1: TMDB redirected the request to another origin (http://127.0.0.1:{port})"
    ));
    assert!(
        elsewhere.requests().is_empty(),
        "the other origin was asked"
    );
    let ws = Workspace::new();
    let server = Server::start(|request| {
        if request.path == "/3/movie/popular" {
            let moved = request.target.replacen("/popular", "/popular-moved", 1);
            Reply::Full {
                status: 301,
                headers: vec![("Location".into(), moved)],
                body: Vec::new(),
            }
        } else {
            Reply::json(200, page(request.page(), 1))
        }
    });
    odd_crawl(&ws, &server, &[]).success();
    assert_eq!(movies(&ws).len(), 20);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Real crawls with random keys against a server that echoes the request in a 503, then
    /// the decoded key in a 429's message: nothing printed and no file holds the key in any
    /// form.
    #[test]
    fn no_crawl_prints_or_keeps_a_random_key(
        key in "[a-zA-Z0-9 +/&=%?#~\"é가-]{12,24}",
    ) {
        let key = key.trim().to_string();
        prop_assume!(key.chars().count() >= 12);
        let ws = Workspace::new();
        let server = Server::start(|request| match request.attempt {
            1 => echoing_503(request),
            2 => Reply::json(
                429,
                serde_json::json!({
                    "status_code": 25,
                    "status_message": format!("over the limit for {}", request.query["api_key"]),
                })
                .to_string(),
            ),
            _ => Reply::json(200, page(request.page(), 1)),
        });
        let output = crawl_command(&ws, &server, &[])
            .env("TMDB_API_KEY", &key)
            .output()
            .unwrap();
        let run = Run::from_output(output);
        assert_no_trace_of(&key, &ws, &run);
        let run = run.success();
        prop_assert_eq!(run.stderr.matches("retrying").count(), 2);
        prop_assert_eq!(&server.requests()[0].query["api_key"], &key);
    }
}
