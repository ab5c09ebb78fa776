//! Every route, every bad request, the static files' safety and caching, CORS and the
//! security headers, through the real server on a real port.

mod support;

use std::io::Read;
use std::time::Duration;

use support::{get, get_with, post, raw, Site};

const SECURITY: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'",
    ),
];

fn assert_secure(answer: &support::Answer, what: &str) {
    for (name, value) in SECURITY {
        let header = answer
            .header(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"));
        assert!(header.starts_with(value), "{what}: {name}: {header}");
    }
}

#[test]
fn the_page_its_files_the_model_and_the_posters_are_served_with_their_types() {
    let site = Site::new();
    let server = site.start(&site.args());
    for (path, content_type, file) in [
        ("/", "text/html; charset=utf-8", "static/index.html"),
        ("/app.js", "text/javascript; charset=utf-8", "static/app.js"),
        ("/sw.js", "text/javascript; charset=utf-8", "static/sw.js"),
        ("/style.css", "text/css; charset=utf-8", "static/style.css"),
        (
            "/manifest.webmanifest",
            "application/manifest+json",
            "static/manifest.webmanifest",
        ),
        (
            "/pkg/cinerec_wasm_bg.wasm",
            "application/wasm",
            "static/pkg/cinerec_wasm_bg.wasm",
        ),
        ("/model.bin", "application/octet-stream", "model.bin"),
        ("/posters/1003.svg", "image/svg+xml", "posters/1003.svg"),
    ] {
        let answer = get(&server.url(path)).unwrap();
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("content-type"), Some(content_type), "{path}");
        assert_eq!(answer.body, site.read(file), "{path}: the bytes as stored");
        assert_secure(&answer, path);
    }
}

#[test]
fn caching_revalidates_the_page_and_the_model_and_keeps_fingerprinted_files() {
    let site = Site::new();
    let server = site.start(&site.args());
    for path in ["/", "/sw.js", "/model.bin", "/pkg/cinerec_wasm_bg.wasm"] {
        let answer = get(&server.url(path)).unwrap();
        assert_eq!(answer.header("cache-control"), Some("no-cache"), "{path}");
        let etag = answer.header("etag").expect("an ETag").to_string();
        let again = get_with(&server.url(path), &[("if-none-match", &etag)]);
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        let other = get_with(
            &server.url(path),
            &[("if-none-match", "\"something-else\"")],
        );
        assert_eq!(other.status, 200, "{path}");
    }
    let fingerprinted = get(&server.url("/pkg/app.0123abcd.js")).unwrap();
    assert_eq!(
        fingerprinted.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let model = get(&server.url("/model.bin")).unwrap();
    assert_eq!(
        model.header("etag").unwrap(),
        format!("\"{}\"", support::model_id(&site.read("model.bin")))
    );
}

#[test]
fn text_and_wasm_are_compressed_when_the_client_accepts_it() {
    let site = Site::new();
    let server = site.start(&site.args());
    for path in [
        "/app.js",
        "/pkg/cinerec_wasm_bg.wasm",
        "/style.css",
        "/model.bin",
    ] {
        let plain = get_with(&server.url(path), &[("accept-encoding", "identity")]);
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        assert_eq!(plain.header("vary"), Some("Accept-Encoding"), "{path}");

        let gzip = get_with(&server.url(path), &[("accept-encoding", "gzip")]);
        assert_eq!(gzip.header("content-encoding"), Some("gzip"), "{path}");
        assert!(gzip.body.len() < plain.body.len());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip.body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain.body, "{path}: gzip");

        let brotli = get_with(&server.url(path), &[("accept-encoding", "gzip, br")]);
        assert_eq!(brotli.header("content-encoding"), Some("br"), "{path}");
        let mut decoded = Vec::new();
        brotli::Decompressor::new(&brotli.body[..], 4096)
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain.body, "{path}: brotli");
        assert_ne!(
            brotli.header("etag"),
            plain.header("etag"),
            "one ETag per encoding"
        );

        let refused = get_with(
            &server.url(path),
            &[("accept-encoding", "br;q=0, gzip;q=0")],
        );
        assert_eq!(
            refused.header("content-encoding"),
            None,
            "{path}: q=0 refuses"
        );
    }
}

#[test]
fn nothing_outside_the_folders_no_dotfile_and_no_listing_is_ever_served() {
    let site = Site::new();
    let server = site.start(&site.args());
    // Sent as raw bytes: an HTTP client would tidy the paths up before sending them.
    for path in [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/pkg/%2e%2e/%2e%2e/outside/secret.txt",
        "/pkg/..%2f..%2foutside%2fsecret.txt",
        "/..\\outside\\secret.txt",
        "/pkg\\..\\.env",
        "/.env",
        "/%2eenv",
        "/pkg/.hidden",
        "/link-out.txt",
        "/empty-folder",
        "/empty-folder/",
        "/pkg/",
        "//etc/passwd",
        "/%00",
        "/posters/../model.bin",
        "/posters/%2e%2e%2fmodel.bin",
        "/pkg/%ff%fe",
    ] {
        let answer = raw(
            server.address,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        let status = answer.lines().next().unwrap_or("");
        assert!(
            status.starts_with("HTTP/1.1 404") || status.starts_with("HTTP/1.1 400"),
            "{path}: {status}"
        );
        assert!(!answer.contains("outside the site") && !answer.contains("not-for-the-web"));
        assert!(answer
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"));
    }
}

#[test]
fn batch_predict_answers_the_original_shape_and_more() {
    let site = Site::new();
    let mut args = site.args();
    args.push("--allow-user-id".into());
    let server = site.start(&args);
    let model = cinerec_core::decode(&site.read("model.bin")).unwrap();

    let default = get(&server.url("/batch-predict")).unwrap().json();
    assert_eq!(default["k"], 5, "the original's default k");
    assert_eq!(
        default["recommended_content_id"].as_array().unwrap().len(),
        5
    );
    assert_eq!(default["model_id"], model.id());
    let empty = cinerec_core::rank(&model, &[], 10).unwrap();
    let ten = get(&server.url("/batch-predict?k=10")).unwrap();
    let ids: Vec<u64> = empty.recommendations.iter().map(|r| r.content_id).collect();
    assert_eq!(ten.json()["recommended_content_id"], serde_json::json!(ids));
    // recommendations is core's Ranking as JSON, to the byte: titles, posters and all.
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        recommendations: &'a serde_json::value::RawValue,
    }
    let raw: Raw = serde_json::from_slice(&ten.body).unwrap();
    assert_eq!(
        raw.recommendations.get(),
        serde_json::to_string(&empty.recommendations).unwrap()
    );
    assert_eq!(
        ten.json()["recommendations"][0]["movie"]["title"],
        empty.recommendations[0].movie.title
    );

    let all = get(&server.url("/batch-predict?k=1000")).unwrap().json();
    assert_eq!(all["k"], 1000);
    assert_eq!(
        all["recommended_content_id"].as_array().unwrap().len(),
        model.classes().len(),
        "k above the catalog returns what there is"
    );

    // user_id takes that user's events from the watch log.
    let log = cinerec_core::watch_log::parse(&site.read("watch_log.csv")).unwrap();
    let history: Vec<cinerec_core::WatchEvent> = log
        .rows
        .iter()
        .filter(|row| row.user_id == 7)
        .map(|row| cinerec_core::WatchEvent {
            content_id: row.content_id,
            watch_seconds: row.watch_seconds,
        })
        .collect();
    let expected = cinerec_core::rank(&model, &history, 10).unwrap();
    let user = get(&server.url("/batch-predict?k=10&user_id=7")).unwrap();
    let ids: Vec<u64> = expected
        .recommendations
        .iter()
        .map(|r| r.content_id)
        .collect();
    assert_eq!(
        user.json()["recommended_content_id"],
        serde_json::json!(ids)
    );
    let bits: Vec<u32> = expected
        .recommendations
        .iter()
        .map(|r| r.score.to_bits())
        .collect();
    assert_eq!(user.score_bits(), bits);

    let posted = post(
        &server.url("/batch-predict"),
        r#"{"k":3,"history":[{"content_id":1002,"watch_seconds":4000},{"content_id":424242,"watch_seconds":10}]}"#,
    );
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert_eq!(posted.json()["ignored"], serde_json::json!([424242]));
    assert_eq!(
        posted.json()["recommended_content_id"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(!posted.json()["recommended_content_id"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(1002)));

    let predicted = post(
        &server.url("/predict"),
        r#"{"user_id":1,"content_id":1002,"watch_seconds":3600,"rating":7.0,"popularity":120.5}"#,
    );
    assert_eq!(predicted.status, 200, "{}", predicted.text());
    let top = cinerec_core::rank(
        &model,
        &[cinerec_core::WatchEvent {
            content_id: 1002,
            watch_seconds: 3600.0,
        }],
        1,
    )
    .unwrap();
    assert_eq!(
        predicted.json()["content_id"],
        top.recommendations[0].content_id
    );
    // The score printed as an f32, as /batch-predict prints it: the same digits for the same bits.
    let score = serde_json::to_string(&top.recommendations[0].score).unwrap();
    assert!(
        predicted.text().contains(&format!("\"score\":{score},")),
        "{} should hold the score {score}",
        predicted.text()
    );
}

#[test]
fn bad_requests_get_json_errors_that_name_the_problem() {
    let site = Site::new();
    let mut args = site.args();
    args.push("--allow-user-id".into());
    let server = site.start(&args);
    let check = |answer: support::Answer, status: u16, needle: &str| {
        assert_eq!(answer.status, status, "{}", answer.text());
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let message = answer.json()["error"].as_str().unwrap().to_string();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert_secure(&answer, needle);
    };
    let url = |path: &str| server.url(path);
    for k in ["0", "-1", "abc", "1.5", "", "99999999999999999999999"] {
        check(
            get(&url(&format!("/batch-predict?k={k}"))).unwrap(),
            400,
            "is not a positive integer",
        );
    }
    check(
        get(&url("/batch-predict?k=2&k=3")).unwrap(),
        400,
        "k is given more than once",
    );
    check(
        get(&url("/batch-predict?user_id=123456")).unwrap(),
        404,
        "user 123456 is not in the watch log",
    );
    check(
        get(&url("/batch-predict?user_id=x")).unwrap(),
        400,
        "user_id \"x\" is not a whole number",
    );
    check(
        post(&url("/batch-predict"), "{\"k\": 3,"),
        400,
        "the body is not the expected JSON",
    );
    check(
        post(&url("/batch-predict"), r#"{"k":"3"}"#),
        400,
        "invalid type: string",
    );
    check(
        post(&url("/batch-predict"), r#"{"k":0}"#),
        400,
        "k must be a positive integer",
    );
    check(
        post(
            &url("/batch-predict"),
            r#"{"history":[{"content_id":1001}]}"#,
        ),
        400,
        "missing field `watch_seconds`",
    );
    check(
        post(
            &url("/batch-predict"),
            r#"{"history":[{"content_id":1001,"watch_seconds":-5}]}"#,
        ),
        400,
        "history[0]: watch_seconds -5 is not a finite, non-negative number",
    );
    let long: Vec<String> = (0..1001)
        .map(|_| r#"{"content_id":1,"watch_seconds":1}"#.to_string())
        .collect();
    check(
        post(
            &url("/batch-predict"),
            format!(r#"{{"history":[{}]}}"#, long.join(",")),
        ),
        400,
        "history has 1001 events, more than the 1000 allowed",
    );
    let huge = format!(r#"{{"k":1,"pad":"{}"}}"#, "x".repeat(70_000));
    check(
        post(&url("/batch-predict"), huge),
        413,
        "larger than 65536 bytes",
    );
    check(
        post(&url("/predict"), "[]"),
        400,
        "the body is not the expected JSON",
    );
    check(
        get(&url("/predict")).unwrap(),
        405,
        "GET is not allowed here; use POST",
    );
    check(post(&url("/healthz"), "{}"), 405, "is not allowed here");
    check(post(&url("/app.js"), "{}"), 405, "is not allowed here");
    check(
        get(&url("/no/such/page")).unwrap(),
        404,
        "/no/such/page is not here",
    );
}

#[test]
fn health_model_and_metrics_describe_what_is_served() {
    let site = Site::new();
    let server = site.start(&site.args());
    let id = support::model_id(&site.read("model.bin"));
    let health = get(&server.url("/healthz")).unwrap().json();
    assert_eq!(health, serde_json::json!({"status": "ok", "model_id": id}));
    let model = get(&server.url("/model")).unwrap().json();
    assert_eq!(model["model_id"], id);
    assert_eq!(model["metadata"]["config"]["objective"], "co-watch");
    assert_eq!(model["classes"], 12);
    get(&server.url("/batch-predict?k=0")).unwrap();
    let metrics = get(&server.url("/metrics")).unwrap();
    let text = metrics.text();
    assert!(
        text.contains(r#"cinerec_requests_total{route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"cinerec_requests_total{route="/batch-predict",status="400"} 1"#));
    assert!(text.contains(r#"cinerec_request_duration_seconds_bucket{route="/model",le="+Inf"} 1"#));
    assert!(text.contains(&format!(r#"cinerec_model_info{{model_id="{id}"}} 1"#)));
    assert!(text.contains("cinerec_model_reloads_total 0"));
    assert!(text.contains("cinerec_connections_open "), "{text}");
}

#[test]
fn cors_is_same_origin_unless_origins_are_named() {
    let site = Site::new();
    let own = site.start(&site.args());
    let foreign = [("origin", "https://elsewhere.example")];
    let answer = get_with(&own.url("/batch-predict"), &foreign);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), None);
    drop(own);

    let mut args = site.args();
    args.extend(["--cors-origin", "https://app.example", "--cors-origin", "*"].map(String::from));
    let server = site.start(&args);
    let without_origin = get(&server.url("/batch-predict")).unwrap();
    assert!(
        without_origin
            .header("vary")
            .is_some_and(|v| v.contains("Origin")),
        "the answer depends on Origin, so caches must know"
    );
    let named = [("origin", "https://app.example")];
    assert_eq!(
        get_with(&server.url("/batch-predict"), &named).header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        get_with(&server.url("/batch-predict"), &foreign).header("access-control-allow-origin"),
        Some("*"),
        "* lets every origin GET, as the original did"
    );
    let client = reqwest::blocking::Client::new();
    let preflight = |origin: &str| {
        support::send(
            client
                .request(reqwest::Method::OPTIONS, server.url("/batch-predict"))
                .header("origin", origin)
                .header("access-control-request-method", "POST"),
        )
        .unwrap()
    };
    let named_preflight = preflight("https://app.example");
    assert_eq!(named_preflight.status, 204);
    assert_eq!(
        named_preflight.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        preflight("https://elsewhere.example").header("access-control-allow-methods"),
        Some("GET")
    );
    let posted = support::send(
        client
            .post(server.url("/batch-predict"))
            .header("origin", "https://elsewhere.example")
            .body("{}"),
    )
    .unwrap();
    assert_eq!(
        posted.header("access-control-allow-origin"),
        None,
        "* is for GET only"
    );
}
