//! The server under slow, half-finished and impatient clients; its start and its stop.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{get, Site};

/// Only a guard: each wait below ends on the event it waits for.
const LIMIT: Duration = Duration::from_secs(30);

fn quick_timeouts(site: &Site) -> Vec<String> {
    let mut args = site.args();
    args.extend(["--request-timeout", "1"].map(String::from));
    args
}

#[test]
fn a_client_that_sends_half_a_request_is_cut_off() {
    let site = Site::new();
    let server = site.start(&quick_timeouts(&site));
    let started = Instant::now();
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "cut off after {waited:?}");
    assert!(
        rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn many_trickling_clients_do_not_starve_the_others() {
    let site = Site::new();
    let server = site.start(&quick_timeouts(&site));
    // Fifty clients that trickle their headers a byte at a time.
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
            stream
        })
        .collect();
    let trickle = std::thread::spawn(move || {
        for _ in 0..20 {
            for stream in &mut slow {
                let _ = stream.write_all(b"s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(get(&server.url("/healthz")).unwrap().status, 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    trickle.join().unwrap();
}

#[test]
fn a_body_that_never_finishes_is_answered_408() {
    let site = Site::new();
    let server = site.start(&quick_timeouts(&site));
    let answer = support::raw(
        server.address,
        b"POST /batch-predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"k\":",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
}

#[test]
fn sigterm_and_ctrl_c_let_a_request_in_flight_finish_then_stop() {
    for signal in ["TERM", "INT"] {
        let site = Site::new();
        let mut args = site.args();
        args.extend(["--request-timeout", "20"].map(String::from));
        let mut server = site.start(&args);
        let body = br#"{"k":3,"history":[]}"#;
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // `Expect: 100-continue`: the server says `100 Continue` when the handler starts
        // reading the body, so the request is in flight when the signal is sent.
        write!(
            stream,
            "POST /batch-predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        let continued = read_until(&mut stream, b"\r\n\r\n");
        assert!(
            continued.starts_with("HTTP/1.1 100"),
            "{signal}: {continued}"
        );
        stream.write_all(&body[..5]).unwrap();
        server.signal(signal);
        // The server has taken the signal: it logs it, then stops listening.
        assert!(
            server.wait_for_log(&["stopping: finishing requests in flight"], LIMIT),
            "{signal}: {}",
            server.log()
        );
        assert!(
            support::wait_until(LIMIT, || TcpStream::connect(server.address).is_err()),
            "{signal}: still listening"
        );
        assert_eq!(server.child.try_wait().unwrap(), None, "{signal}: it waits");
        stream.write_all(&body[5..]).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{signal}: {answer}");
        assert_eq!(server.wait(LIMIT), Some(0), "{signal}: {}", server.log());
    }
}

/// Reads from `stream` until `end` has arrived (or the stream ends); what was read.
fn read_until(stream: &mut TcpStream, end: &[u8]) -> String {
    let mut read = Vec::new();
    let mut byte = [0u8; 1];
    while !read.ends_with(end) {
        match stream.read(&mut byte) {
            Ok(1) => read.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&read).into_owned()
}

#[test]
fn the_default_timeout_cuts_off_a_half_request_after_10_seconds() {
    let site = Site::new();
    let server = site.start(&site.args());
    let started = Instant::now();
    let mut stream = TcpStream::connect(server.address).unwrap();
    // Only a guard against a server that never cuts it off.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let mut rest = Vec::new();
    let ended = stream.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        ended.is_ok()
            || ended
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "not cut off: {ended:?} after {waited:?}"
    );
    // A timer never fires early, whatever the load: the default is the documented 10 s.
    assert!(
        waited >= Duration::from_millis(9_900),
        "cut off after {waited:?}"
    );
}

#[test]
fn a_full_house_of_silent_clients_frees_up_within_the_timeout() {
    let site = Site::new();
    let mut args = quick_timeouts(&site);
    args.extend(["--max-connections", "4"].map(String::from));
    let server = site.start(&args);
    // Four clients that connect and say nothing take every slot.
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(get(&server.url("/healthz")).unwrap().status, 200);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    drop(silent);
}

#[test]
fn a_client_that_stops_reading_its_answer_is_cut_off_and_frees_its_slot() {
    let site = Site::new();
    // Larger than what the kernel's socket buffers on both ends can hold.
    let mut draws = 0x9E37_79B9_7F4A_7C15u64;
    let big: Vec<u8> = (0..24 << 20)
        .map(|_| {
            draws ^= draws << 13;
            draws ^= draws >> 7;
            draws ^= draws << 17;
            draws as u8
        })
        .collect();
    site.write("static/big.bin", &big);
    let mut args = quick_timeouts(&site);
    args.extend(["--max-connections", "2"].map(String::from));
    let server = site.start(&args);
    let stuck: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream
                .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(get(&server.url("/healthz")).unwrap().status, 200);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    drop(stuck);
}

#[test]
fn a_sighup_right_after_start_does_not_kill_the_server() {
    let site = Site::new();
    let mut server = site.start(&site.args());
    server.signal("HUP");
    assert!(
        server.wait_for_log(&["model reloaded", "SIGHUP"], LIMIT),
        "{}",
        server.log()
    );
    assert_eq!(server.child.try_wait().unwrap(), None, "{}", server.log());
    assert_eq!(get(&server.url("/healthz")).unwrap().status, 200);
}

#[test]
fn a_body_announced_too_large_is_refused_unread() {
    let site = Site::new();
    let server = site.start(&site.args());
    let started = Instant::now();
    let answer = support::raw(
        server.address,
        b"POST /batch-predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 65536 bytes"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn each_request_is_one_log_line_without_query_or_body() {
    let site = Site::new();
    let mut args = site.args();
    args.push("--allow-user-id".into());
    let server = site.start(&args);
    get(&server.url("/batch-predict?k=3&user_id=7")).unwrap();
    support::post(
        &server.url("/batch-predict"),
        r#"{"k":2,"history":[{"content_id":4242,"watch_seconds":1}]}"#,
    );
    assert!(support::wait_until(Duration::from_secs(5), || server
        .log()
        .matches("path=/batch-predict")
        .count()
        == 2));
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("path=/batch-predict"))
        .collect();
    assert!(
        lines[0].contains("method=GET")
            && lines[0].contains("status=200")
            && lines[0].contains("latency_us="),
        "{log}"
    );
    assert!(lines[1].contains("method=POST"), "{log}");
    assert!(!log.contains("user_id=7") && !log.contains("4242"), "{log}");
}

#[test]
fn bad_starts_are_one_error_line_and_exit_2() {
    let site = Site::new();
    site.write("html.bin", b"<!doctype html><p>not found</p>");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cinerec-site"))
            .args(args)
            .current_dir(site.dir.path())
            .env_remove("CINEREC_MODEL")
            .output()
            .unwrap()
    };
    for (args, needle) in [
        (
            vec!["--model", "missing.bin", "--static", "static"],
            "reading missing.bin",
        ),
        (
            vec!["--model", "html.bin", "--static", "static"],
            "looks like an HTML or XML page",
        ),
        (
            vec!["--model", "model.bin", "--static", "nowhere"],
            "--static nowhere",
        ),
        (
            vec![
                "--model",
                "model.bin",
                "--static",
                "static",
                "--cors-origin",
                "example.com",
            ],
            "is not an origin",
        ),
        (
            vec![
                "--model",
                "model.bin",
                "--static",
                "static",
                "--watch-log",
                "model.bin",
                "--allow-user-id",
            ],
            "reading model.bin",
        ),
    ] {
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("error: ") && l.contains(needle)),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"));
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run(&[
        "--model",
        "model.bin",
        "--static",
        "static",
        "--addr",
        &address,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("listening on {address}")));
}
