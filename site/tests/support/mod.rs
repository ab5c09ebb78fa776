//! The harness of the server's integration tests: the real `cinerec-site` binary on a real
//! port (127.0.0.1:0), a stand-in page folder, models trained for the test, and clients that
//! speak plain HTTP, down to raw bytes on a TCP socket.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::WatchRow;
use cinerec_core::{Objective, Optimizer, TrainConfig};

/// A folder with a stand-in page, two trained models, posters and a watch log.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Site {
        let site = Site {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        let write = |name: &str, bytes: &[u8]| site.write(name, bytes);
        write("static/index.html", b"<!doctype html><html lang=\"ko\"><title>cinerec</title><script type=\"module\" src=\"app.js\"></script></html>\n");
        write(
            "static/app.js",
            "import init from './pkg/cinerec_wasm.js';\n"
                .repeat(40)
                .as_bytes(),
        );
        write(
            "static/sw.js",
            "self.addEventListener('fetch', () => {});\n"
                .repeat(20)
                .as_bytes(),
        );
        write(
            "static/manifest.webmanifest",
            br#"{"name":"cinerec","start_url":"/","display":"standalone"}"#,
        );
        write(
            "static/style.css",
            "body { background: #0E111B; color: #FDC000; }\n"
                .repeat(30)
                .as_bytes(),
        );
        write("static/pkg/cinerec_wasm_bg.wasm", &wasm_like_bytes());
        write(
            "static/pkg/app.0123abcd.js",
            b"export const fingerprinted = true;\n",
        );
        write("static/.env", b"TMDB_API_KEY=not-for-the-web\n");
        write("static/pkg/.hidden", b"hidden\n");
        write("outside/secret.txt", b"outside the site\n");
        std::os::unix::fs::symlink(
            site.path("outside/secret.txt"),
            site.path("static/link-out.txt"),
        )
        .expect("a symbolic link");
        std::fs::create_dir_all(site.path("static/empty-folder")).unwrap();
        for movie in movies() {
            write(
                &format!("posters/{}.svg", movie.id),
                format!(
                    "<svg xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title></svg>",
                    movie.title
                )
                .as_bytes(),
            );
        }
        write("model.bin", &trained_model(1));
        write("other.bin", &trained_model(2));
        write(
            "watch_log.csv",
            cinerec_core::watch_log::write(&rows(3)).as_bytes(),
        );
        site
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The usual flags: model.bin, the page, the posters, the watch log.
    pub fn args(&self) -> Vec<String> {
        [
            "--model",
            "model.bin",
            "--static",
            "static",
            "--posters",
            "posters",
            "--watch-log",
            "watch_log.csv",
            "--addr",
            "127.0.0.1:0",
        ]
        .map(String::from)
        .to_vec()
    }

    /// Starts the server with `args` and waits until it listens.
    pub fn start(&self, args: &[String]) -> Server {
        self.start_with_env(args, &[])
    }

    /// Starts the server with `args` and the environment variables `env`.
    pub fn start_with_env(&self, args: &[String], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cinerec-site"));
        command.args(args).envs(env.iter().copied());
        self.start_command(command)
    }

    /// Starts the server with `args`, allowed at most `files` open file descriptors.
    pub fn start_with_files(&self, args: &[String], files: u32) -> Server {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_cinerec-site"))
            .args(args);
        self.start_command(command)
    }

    fn start_command(&self, mut command: Command) -> Server {
        let mut child = command
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .env_remove("CINEREC_MODEL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("serving on http://") {
                    let rest = &line[at + "serving on http://".len()..];
                    let address = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(address);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(address) => address.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            address,
            log,
        }
    }
}

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends a signal (SIGHUP, SIGTERM) to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to end, at most `limit`; its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits until the log has a line holding every one of `needles`, at most `limit`.
    pub fn wait_for_log(&self, needles: &[&str], limit: Duration) -> bool {
        wait_until(limit, || {
            self.log()
                .lines()
                .any(|line| needles.iter().all(|needle| line.contains(needle)))
        })
    }

    /// The server's threads and resident memory in KiB, from `/proc`.
    pub fn threads_and_rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("Threads:"), field("VmRSS:"))
    }

    /// The value of `cinerec_requests_total` for `route` and `status` (0 when absent).
    pub fn requests_counted(&self, route: &str, status: u16) -> u64 {
        let text = get(&self.url("/metrics")).unwrap().text();
        let name = format!("cinerec_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&name))
            .map_or(0, |count| count.parse().unwrap())
    }

    /// Polls `/healthz` until the model id is `id`, at most `limit`.
    pub fn wait_for_model(&self, id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(answer) = get(&self.url("/healthz")) {
                if answer.json()["model_id"] == id {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer as the tests look at it.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The scores exactly as sent: each JSON number read as an f32 from its own digits.
    pub fn score_bits(&self) -> Vec<u32> {
        #[derive(serde::Deserialize)]
        struct Scores<'a> {
            #[serde(borrow)]
            scores: Vec<&'a serde_json::value::RawValue>,
        }
        let scores: Scores = serde_json::from_slice(&self.body).unwrap();
        scores
            .scores
            .iter()
            .map(|raw| raw.get().parse::<f32>().unwrap().to_bits())
            .collect()
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn send(request: reqwest::blocking::RequestBuilder) -> reqwest::Result<Answer> {
    let response = request.send()?;
    Ok(Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes()?.to_vec(),
    })
}

pub fn get(url: &str) -> reqwest::Result<Answer> {
    send(client().get(url))
}

pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).unwrap()
}

pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Answer {
    send(
        client()
            .post(url)
            .header("content-type", "application/json")
            .body(body.into()),
    )
    .unwrap()
}

/// Sends `bytes` as they are and reads until the server closes (or `limit` passes).
pub fn raw(address: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw answer (0 when there is none).
pub fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Sends one request on a kept-alive connection and reads its answer (headers, then as many
/// bytes as `Content-Length` says): the status and the body; `None` once the server closed.
pub fn exchange(stream: &mut TcpStream, request: &[u8]) -> Option<(u16, Vec<u8>)> {
    stream.write_all(request).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    Some((status_of(&head), body))
}

/// Twelve movies in TMDB's schema.
pub fn movies() -> Vec<Movie> {
    let entries: Vec<String> = (0..12)
        .map(|i| {
            format!(
                r#"{{"id":{},"title":"영화 {i}","poster_path":"/p{i}.svg","vote_average":{},"popularity":{}}}"#,
                1000 + i,
                5.0 + (i % 5) as f64 * 0.8,
                10.0 + (i * 37 % 200) as f64
            )
        })
        .collect();
    let text = format!("[{}]", entries.join(","));
    cinerec_core::catalog::parse(text.as_bytes()).unwrap().0
}

/// A watch log of 80 viewers over [`movies`], seeded.
pub fn rows(seed: u64) -> Vec<WatchRow> {
    let movies = movies();
    let mut rng = cinerec_learn::random::Rng::new(seed);
    let mut rows = Vec::new();
    for user_id in 1..=80 {
        let taste = rng.below(3);
        for _ in 0..rng.inclusive(2, 8) {
            let movie = &movies[(taste * 4 + rng.below(4)) as usize % movies.len()];
            rows.push(WatchRow {
                user_id,
                content_id: movie.id,
                watch_seconds: (600 + rng.below(5000)) as f64,
                rating: movie.vote_average,
                popularity: movie.popularity,
            });
        }
    }
    rows
}

/// A small model trained on [`rows`]`(seed)`: another seed, another model id.
pub fn trained_model(seed: u64) -> Vec<u8> {
    let config = TrainConfig {
        objective: Objective::CoWatch,
        epochs: 3,
        hidden: 16,
        batch_size: 32,
        optimizer: Optimizer::Adam,
        learning_rate: 0.01,
        seed,
    };
    let provenance = cinerec_learn::Provenance {
        training_data_sha256: format!("log {seed}"),
        catalog_sha256: "catalog".into(),
    };
    let model = cinerec_learn::fit(&rows(seed), &movies(), &config, provenance, &mut |_| {})
        .expect("a trainable log");
    cinerec_core::encode(&model)
}

/// Bytes that start like WebAssembly and compress well.
fn wasm_like_bytes() -> Vec<u8> {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend((0..4000u32).map(|i| (i % 7) as u8));
    bytes
}

pub fn model_id(bytes: &[u8]) -> String {
    cinerec_core::decode(bytes).unwrap().id().to_string()
}

pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Replaces `to` with `from` atomically, as a deploy would.
pub fn replace_atomically(site: &Site, from: &Path, to: &str) {
    let temporary = site.path(".incoming.bin");
    std::fs::copy(from, &temporary).unwrap();
    std::fs::rename(temporary, site.path(to)).unwrap();
}
