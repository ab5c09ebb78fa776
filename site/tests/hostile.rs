//! What an attacker on the public internet sends: request lines the router cannot take,
//! crowds of keep-alive clients, floods of static requests, a model path that is not a model
//! file, endless paths, odd `Accept-Encoding`s, and the flags that must stay safe by default.
//! Each through the real server on a real port.

mod support;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{exchange, get, get_with, raw, status_of, Site};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_request_the_router_cannot_take_is_a_400_logged_and_counted() {
    let site = Site::new();
    let mut server = site.start(&site.args());
    let targets = [
        "GET example.com:80 HTTP/1.1",
        "OPTIONS host:443 HTTP/1.1",
        "GET example.com HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "GET * HTTP/1.1",
        "CONNECT example.com:443 HTTP/1.1",
    ];
    for line in targets {
        let answer = raw(
            server.address,
            format!("{line}\r\nHost: example.com\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        assert_eq!(status_of(&answer), 400, "{line}: {answer:?}");
        assert!(answer.contains("origin form"), "{line}: {answer}");
    }
    // Absolute form names a path: it is routed like the path.
    let absolute = raw(
        server.address,
        b"GET http://example.com/healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&absolute), 200, "{absolute}");
    assert_eq!(
        server.requests_counted("unroutable", 400),
        targets.len() as u64
    );
    assert!(
        server.wait_for_log(&["method=CONNECT", "status=400"], LIMIT),
        "{}",
        server.log()
    );
    assert!(!server.log().contains("panicked"), "{}", server.log());
    assert_eq!(server.child.try_wait().unwrap(), None);
    assert_eq!(get(&server.url("/healthz")).unwrap().status, 200);
}

#[test]
fn a_panic_in_a_handler_is_a_500_logged_and_counted_and_the_server_goes_on() {
    let site = Site::new();
    // Debug builds only: the route that panics, for this test.
    let server = site.start_with_env(&site.args(), &[("CINEREC_TEST_PANIC", "1")]);
    for _ in 0..3 {
        let answer = get(&server.url("/__test_panic")).unwrap();
        assert_eq!(answer.status, 500, "{}", answer.text());
        assert!(
            answer.text().contains("internal error"),
            "{}",
            answer.text()
        );
    }
    assert_eq!(server.requests_counted("panicked", 500), 3);
    assert!(server.wait_for_log(&["panicked", "the test panic"], LIMIT));
    assert_eq!(get(&server.url("/healthz")).unwrap().status, 200);
}

#[test]
fn the_parsers_own_refusals_are_counted_by_status() {
    let site = Site::new();
    let server = site.start(&site.args());
    let bad_header = raw(
        server.address,
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&bad_header), 400, "{bad_header}");
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(70_000));
    let answer = raw(server.address, long_uri.as_bytes(), Duration::from_secs(5));
    assert_eq!(status_of(&answer), 414, "{answer}");
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "h".repeat(600_000)
    );
    let answer = raw(
        server.address,
        huge_header.as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(status_of(&answer), 431, "{answer}");
    assert!(support::wait_until(LIMIT, || server
        .requests_counted("unparsed", 431)
        == 1));
    assert_eq!(server.requests_counted("unparsed", 400), 1);
    assert_eq!(server.requests_counted("unparsed", 414), 1);
}

/// A keep-alive client that sends a tiny request every `every` until told to stop; whether
/// the server closed it.
fn pinger(
    address: std::net::SocketAddr,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<bool> {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(exchange(&mut stream, request).map(|(s, _)| s), Some(200));
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            if exchange(&mut stream, request).is_none() {
                return true;
            }
        }
        // One more request: a connection closed since the last one says so now, however the
        // test's other steps were timed against this thread's pauses.
        exchange(&mut stream, request).is_none()
    })
}

/// Three new visitors in a row, each on a connection of its own, get their answer (8 s is
/// only a guard: a visitor locked out waits for ever).
fn new_visitors_are_served(server: &support::Server) {
    for round in 0..3 {
        let started = Instant::now();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(8))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let answer = client.get(server.url("/healthz")).send();
        assert!(
            answer.as_ref().is_ok_and(|a| a.status() == 200),
            "round {round}: a new visitor was not served ({answer:?} after {:?}): {}",
            started.elapsed(),
            server.log()
        );
    }
}

#[test]
fn idle_keep_alive_clients_are_evicted_so_that_a_new_visitor_is_served() {
    let site = Site::new();
    let mut args = site.args();
    args.extend(["--max-connections", "4"].map(String::from));
    let server = site.start(&args);
    let stop = Arc::new(AtomicBool::new(false));
    // Four clients that each ask for something every 200 ms hold every slot, well within
    // the 10 s header timeout.
    let pingers: Vec<_> = (0..4)
        .map(|_| pinger(server.address, Duration::from_millis(200), stop.clone()))
        .collect();
    new_visitors_are_served(&server);
    stop.store(true, Ordering::Relaxed);
    let closed = pingers
        .into_iter()
        .map(|pinger| pinger.join().unwrap())
        .filter(|&closed| closed)
        .count();
    assert!(
        closed >= 1,
        "no idle keep-alive client was closed to make room"
    );
}

#[test]
fn one_address_at_its_cap_gives_up_its_own_idle_connection_or_is_refused() {
    let site = Site::new();
    let mut args = site.args();
    args.extend(["--max-connections-per-ip", "2"].map(String::from));
    let server = site.start(&args);
    let stop = Arc::new(AtomicBool::new(false));
    // Three keep-alive clients from 127.0.0.1: the third comes in, one of the first two goes.
    let pingers: Vec<_> = (0..3)
        .map(|_| pinger(server.address, Duration::from_millis(200), stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, Ordering::Relaxed);
    let closed = pingers
        .into_iter()
        .map(|pinger| pinger.join().unwrap())
        .filter(|&closed| closed)
        .count();
    assert_eq!(closed, 1, "one of the address's idle connections made room");
    // Two requests whose bodies never finish keep two connections busy: a third from the
    // same address is closed unanswered, at once.
    let busy: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(server.address).unwrap();
            std::io::Write::write_all(
                &mut stream,
                b"POST /batch-predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n",
            )
            .unwrap();
            // The 100 says the handler is reading the body: the connection is busy.
            stream.set_read_timeout(Some(LIMIT)).unwrap();
            let mut continued = [0u8; 25];
            std::io::Read::read_exact(&mut stream, &mut continued).unwrap();
            assert!(continued.starts_with(b"HTTP/1.1 100"));
            stream
        })
        .collect();
    let refused = raw(
        server.address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        LIMIT,
    );
    assert_eq!(refused, "", "refused without an answer");
    drop(busy);
}

#[test]
fn a_new_visitor_is_served_when_keep_alive_clients_take_every_file_descriptor() {
    let site = Site::new();
    // 40 descriptors: fewer than the default --max-connections, so the process runs out of
    // them before the limit is reached.
    let server = site.start_with_files(&site.args(), 40);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let (address, stop) = (server.address, stop.clone());
            std::thread::spawn(move || {
                let Ok(mut stream) = TcpStream::connect(address) else {
                    return;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
                while !stop.load(Ordering::Relaxed) && exchange(&mut stream, request).is_some() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    new_visitors_are_served(&server);
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn static_files_cost_no_thread_per_request() {
    let site = Site::new();
    let server = site.start(&site.args());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let (threads_before, _) = server.threads_and_rss();
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let address = server.address;
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                for j in 0..100 {
                    let path = match (i + j) % 10 {
                        0 => "/no/such/file.js",
                        1 => "/style.css",
                        _ => "/index.html",
                    };
                    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
                    let (status, _) = exchange(&mut stream, request.as_bytes()).unwrap();
                    assert!(status == 200 || status == 404, "{path}: {status}");
                }
            })
        })
        .collect();
    let mut most = threads_before;
    while !clients.iter().all(|client| client.is_finished()) {
        most = most.max(server.threads_and_rss().0);
        std::thread::sleep(Duration::from_millis(5));
    }
    for client in clients {
        client.join().unwrap();
    }
    most = most.max(server.threads_and_rss().0);
    // The workers, the runtime's blocking pool for the few file look-ups that miss the
    // cache, the log writer, the timer: a handful, whatever the number of requests.
    assert!(
        most <= workers + 12,
        "{most} threads during 6,400 static requests on 64 connections (started with {threads_before})"
    );
}

fn run_site(site: &Site, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cinerec-site"))
        .args(args)
        .current_dir(site.dir.path())
        .env_remove("CINEREC_MODEL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?}: still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Makes something at a path.
type Make = dyn Fn(&std::path::Path);

/// A 2 GiB file that takes no disk: only its length is set.
fn sparse(path: &std::path::Path) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
}

#[test]
fn a_model_path_that_is_not_a_model_sized_regular_file_stops_the_start() {
    let site = Site::new();
    sparse(&site.path("big.bin"));
    std::os::unix::fs::symlink("/dev/zero", site.path("zero.bin")).unwrap();
    mkfifo(&site.path("fifo.bin"));
    site.write("small.bin", &site.read("model.bin"));
    for (model, needle) in [
        (
            "big.bin",
            "2147483648 bytes, more than the 268435456 allowed",
        ),
        ("zero.bin", "is not a regular file"),
        ("fifo.bin", "is not a regular file"),
    ] {
        let (code, stderr) = run_site(&site, &["--model", model, "--static", "static"]);
        assert_eq!(code, Some(2), "{model}: {stderr}");
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with("error: ") && line.contains(needle)),
            "{model}: {stderr}"
        );
    }
    let (code, stderr) = run_site(
        &site,
        &[
            "--model",
            "small.bin",
            "--static",
            "static",
            "--max-model-bytes",
            "1000",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("more than the 1000 allowed"), "{stderr}");
}

#[test]
fn a_fifo_an_endless_device_or_a_huge_file_never_blocks_reloads_or_shutdown() {
    let site = Site::new();
    let mut server = site.start(&site.args());
    let swap_in = |make: &Make| {
        let incoming = site.path("incoming.bin");
        let _ = std::fs::remove_file(&incoming);
        make(&incoming);
        std::fs::rename(&incoming, site.path("model.bin")).unwrap();
    };
    let cases: [(&Make, &str); 3] = [
        (&mkfifo, "is not a regular file"),
        (
            &|path| std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
            "is not a regular file",
        ),
        (&sparse, "more than the 268435456 allowed"),
    ];
    for (number, (make, needle)) in cases.into_iter().enumerate() {
        swap_in(make);
        server.signal("HUP");
        assert!(
            support::wait_until(LIMIT, || server.log().matches("model refused").count()
                > number
                && server.log().contains(needle)),
            "case {number}: {}",
            server.log()
        );
    }
    let other = support::model_id(&site.read("other.bin"));
    support::replace_atomically(&site, &site.path("other.bin"), "model.bin");
    server.signal("HUP");
    assert!(
        server.wait_for_model(&other, LIMIT),
        "a good model after the bad ones: {}",
        server.log()
    );
    let (_, rss) = server.threads_and_rss();
    assert!(rss < 500 << 10, "{rss} KiB resident");
    server.signal("TERM");
    assert_eq!(server.wait(LIMIT), Some(0), "{}", server.log());
}

#[test]
fn long_paths_are_cut_in_the_log_and_in_the_answer() {
    let site = Site::new();
    let server = site.start(&site.args());
    let path = format!("/{}", "a".repeat(60_000));
    let answer = get(&server.url(&path)).unwrap();
    assert_eq!(answer.status, 404);
    assert!(answer.body.len() < 1024, "{} bytes", answer.body.len());
    assert!(
        answer.text().contains("(59745 more bytes)"),
        "{}",
        answer.text()
    );
    assert!(server.wait_for_log(&["status=404", "more bytes"], LIMIT));
    let log = server.log();
    let line = log
        .lines()
        .find(|line| line.contains("status=404"))
        .unwrap();
    assert!(line.len() < 1024, "a log line of {} bytes", line.len());
}

#[test]
fn a_zero_quality_refuses_a_coding_however_it_is_written() {
    let site = Site::new();
    let server = site.start(&site.args());
    for (accepted, expected) in [
        ("br;q=0, *", Some("gzip")),
        ("br;Q=0, *", Some("gzip")),
        ("br;q=0.000, *", Some("gzip")),
        ("br ; q=0 , *", Some("gzip")),
        ("BR;q=0,\t*", Some("gzip")),
        ("*;q=0, gzip", Some("gzip")),
        ("*, br;q=0, gzip;q=0", None),
        ("gzip;q=1, br;q=0.5", Some("gzip")),
        ("gzip;q=0.001, br", Some("br")),
        ("*", Some("br")),
        ("identity", None),
        ("br;q=2, gzip", Some("gzip")),
    ] {
        let answer = get_with(&server.url("/app.js"), &[("accept-encoding", accepted)]);
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("content-encoding"),
            expected,
            "Accept-Encoding: {accepted}"
        );
    }
}

#[test]
fn a_preflight_is_answered_with_the_origin_for_star_too() {
    let site = Site::new();
    let mut args = site.args();
    args.extend(["--cors-origin", "*"].map(String::from));
    let server = site.start(&args);
    let client = reqwest::blocking::Client::new();
    let preflight = support::send(
        client
            .request(reqwest::Method::OPTIONS, server.url("/batch-predict"))
            .header("origin", "https://elsewhere.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "content-type"),
    )
    .unwrap();
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET")
    );
}

#[test]
fn user_id_rankings_are_off_unless_the_flag_turns_them_on() {
    let site = Site::new();
    let server = site.start(&site.args());
    let answer = get(&server.url("/batch-predict?k=3&user_id=7")).unwrap();
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert!(
        answer.text().contains("--allow-user-id"),
        "{}",
        answer.text()
    );
    drop(server);
    let mut args = site.args();
    args.push("--allow-user-id".into());
    let server = site.start(&args);
    assert_eq!(
        get(&server.url("/batch-predict?k=3&user_id=7"))
            .unwrap()
            .status,
        200
    );
    let help = Command::new(env!("CARGO_BIN_EXE_cinerec-site"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--allow-user-id"), "{help}");
}

#[test]
fn a_405_and_options_say_which_methods_are_allowed() {
    let site = Site::new();
    let server = site.start(&site.args());
    for (method, path, allowed) in [
        ("POST", "/healthz", "GET, HEAD, OPTIONS"),
        ("GET", "/predict", "POST, OPTIONS"),
        ("DELETE", "/batch-predict", "GET, HEAD, POST, OPTIONS"),
        ("PUT", "/app.js", "GET, HEAD, OPTIONS"),
        ("POST", "/posters/1003.svg", "GET, HEAD, OPTIONS"),
        ("OPTIONS", "/predict", "POST, OPTIONS"),
    ] {
        let answer = raw(
            server.address,
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            Duration::from_secs(5),
        );
        let expected = if method == "OPTIONS" { 204 } else { 405 };
        assert_eq!(status_of(&answer), expected, "{method} {path}: {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains(&format!("\r\nallow: {}\r\n", allowed.to_ascii_lowercase())),
            "{method} {path}: {answer}"
        );
    }
}

#[test]
fn api_routes_are_matched_on_the_decoded_path_like_files() {
    let site = Site::new();
    let server = site.start(&site.args());
    let answer = get(&server.url("/batch%2Dpredict?k=2")).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["k"], 2);
    assert_eq!(get(&server.url("/%68ealthz")).unwrap().status, 200);
    assert_eq!(get(&server.url("/%61pp.js")).unwrap().status, 200);
    // A slash is a separator only when it is one.
    assert_eq!(get(&server.url("/posters%2F1003.svg")).unwrap().status, 404);
}
