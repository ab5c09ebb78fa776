//! The end-to-end harness: the real binaries (`cinerec-trainer`, `cinerec-site`), Debian's
//! Chromium driven through chromedriver, and a stand-in server for the one thing the real
//! server refuses to do (serve a corrupt `model.bin`).

#![allow(dead_code)] // not every test uses every part

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// The workspace's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A binary of the workspace, built beside this test (`scripts/test.sh` builds them first).
pub fn binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(Path::parent).unwrap();
    let path = profile.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p {name}; ./scripts/test.sh does)",
        path.display()
    );
    path
}

/// Where screenshots go, for a person to look at.
pub fn screenshots() -> PathBuf {
    let folder = root().join("target/e2e");
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

/// Runs the trainer's pipeline on the demo catalog into `out` (a few epochs: quick).
pub fn pipeline(out: &Path, seed: u64) {
    let seed = seed.to_string();
    trainer(&[
        &"pipeline",
        &"--out",
        &out,
        &"--seed",
        &seed,
        &"--epochs",
        &"8",
    ]);
}

/// Runs `cinerec-trainer ARGS`; fails the test with its standard error unless it succeeds.
pub fn trainer(args: &[&dyn AsRef<OsStr>]) {
    let args: Vec<&OsStr> = args.iter().map(|arg| arg.as_ref()).collect();
    let output = Command::new(binary("cinerec-trainer"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cinerec-trainer {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A running process, killed when dropped.
pub struct Process {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts `command` with its standard error kept in `log` (and each line shown to
    /// `watch` as it comes), its standard output dropped.
    pub fn logged(command: &mut Command, watch: impl Fn(&str) + Send + 'static) -> Process {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                watch(&line);
                let mut log = lines.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Process { child, log }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `cinerec-site` on `address` (port 0 for any) and waits until it listens.
pub fn site(model: &Path, posters: &Path, address: &str) -> (Process, SocketAddr) {
    let mut args: Vec<std::ffi::OsString> = vec!["--model".into(), model.into()];
    args.extend(["--posters".into(), posters.into()]);
    site_with(&args, address)
}

/// Starts `cinerec-site` with `args` (where its model comes from, and any other flag) and the
/// page's folder on `address` (port 0 for any), and waits until it listens: it binds its port
/// only once its model is loaded.
pub fn site_with(args: &[std::ffi::OsString], address: &str) -> (Process, SocketAddr) {
    let mut command = Command::new(binary("cinerec-site"));
    command
        .args(args)
        .arg("--static")
        .arg(root().join("site/static"))
        .args(["--addr", address]);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut process = Process::logged(&mut command, move |line| {
        if let Some(at) = line.find("serving on http://") {
            let rest = &line[at + "serving on http://".len()..];
            let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
        }
    });
    let address = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(address) => address.parse().unwrap(),
        Err(_) => {
            process.stop();
            panic!("the site did not start:\n{}", process.log.lock().unwrap());
        }
    };
    (process, address)
}

/// A stand-in for the site that serves the page's files and posters as they are, and
/// `model.bin` as `corrupt`: the real server refuses to serve a model that does not load.
pub fn corrupt_site(
    address: SocketAddr,
    posters: PathBuf,
    corrupt: Vec<u8>,
) -> std::thread::JoinHandle<()> {
    let listener = TcpListener::bind(address).expect("the port is free again");
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let posters = posters.clone();
            let corrupt = corrupt.clone();
            std::thread::spawn(move || answer_one(stream, &posters, &corrupt));
        }
    })
}

fn answer_one(mut stream: TcpStream, posters: &Path, corrupt: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 2 {
            line.clear();
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let path = path.split('?').next().unwrap_or("/");
        let (status, content_type, body) = if path == "/model.bin" {
            ("200 OK", "application/octet-stream", corrupt.to_vec())
        } else {
            let file = match path.strip_prefix("/posters/") {
                Some(name) => posters.join(name),
                None if path == "/" => root().join("site/static/index.html"),
                None => root()
                    .join("site/static")
                    .join(path.trim_start_matches('/')),
            };
            match std::fs::read(&file) {
                Ok(bytes) => ("200 OK", content_type(&file), bytes),
                Err(_) => ("404 Not Found", "text/plain", b"not found".to_vec()),
            }
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
            return;
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "css" => "text/css",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// chromedriver on a free port, and a headless Chromium session through it.
pub struct Browser {
    pub client: Client,
    _driver: Process,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends chromedriver and the Chromium it started: killing chromedriver alone left its
    /// browser running, one per test (31 after a day's runs, ~200 MB each). chromedriver
    /// leads a process group of its own, which its Chromium processes join.
    fn drop(&mut self) {
        let group = format!("-{}", self._driver.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}

pub async fn browser() -> Browser {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (./scripts/setup.sh installs chromium-driver)");
    let driver = Process {
        child,
        log: Arc::new(Mutex::new(String::new())),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1300", "--lang=ko-KR",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Browser {
        client,
        _driver: driver,
        _profile: profile,
    }
}

/// chromedriver's console log of the page (`goog:loggingPrefs`), drained on each call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}

/// The console messages since the last call, as `LEVEL message` lines.
pub async fn console(client: &Client) -> Vec<String> {
    let entries = client.issue_cmd(BrowserLog).await.unwrap_or(Value::Null);
    entries
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["level"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The cards on the page, in order: content id and score bits.
pub async fn cards(client: &Client) -> Vec<(u64, u32)> {
    let mut cards = Vec::new();
    for card in client
        .find_all(Locator::Css("#recommendations [data-content-id]"))
        .await
        .unwrap()
    {
        let id = card.attr("data-content-id").await.unwrap().unwrap();
        let bits = card
            .attr("data-score-bits")
            .await
            .unwrap()
            .unwrap_or_default();
        cards.push((id.parse().unwrap(), bits.parse().unwrap_or(0)));
    }
    cards
}

/// Clicks the first card and waits (at most 10 s) until the page has re-ranked.
pub async fn click_first_card(client: &Client) {
    let before = cards(client).await;
    client
        .find(Locator::Css("#recommendations [data-content-id]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cards(client).await.first() == before.first() {
        assert!(Instant::now() < deadline, "the click re-ranked nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page shows `count` cards (or the fallback), at most 30 s.
pub async fn wait_for_cards(client: &Client, count: usize) -> Vec<(u64, u32)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = cards(client).await;
        if now.len() == count {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {count} cards (it shows {})",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of an element.
pub async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Saves a screenshot under target/e2e/.
pub async fn shoot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The server's ranking for `history` (as the page stores it), ids and score bits.
pub async fn server_ranking(address: SocketAddr, history: &Value) -> (String, Vec<(u64, u32)>) {
    server_ranking_of(address, json!({ "k": 10, "history": history })).await
}

/// The server's ranking for a `POST /batch-predict` body, ids and score bits.
pub async fn server_ranking_of(address: SocketAddr, body: Value) -> (String, Vec<(u64, u32)>) {
    let answer = reqwest::Client::new()
        .post(format!("http://{address}/batch-predict"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ranking(&answer).unwrap()
}

/// The model id, and the ids and score bits, of a `/batch-predict` answer's body.
pub fn ranking(answer: &str) -> Result<(String, Vec<(u64, u32)>), String> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        recommended_content_id: Vec<u64>,
        #[serde(borrow)]
        scores: Vec<&'a serde_json::value::RawValue>,
        model_id: String,
    }
    let answer: Answer =
        serde_json::from_str(answer).map_err(|e| format!("not a ranking ({e}): {answer}"))?;
    let mut ranking = Vec::new();
    for (id, score) in answer.recommended_content_id.iter().zip(&answer.scores) {
        let score: f32 = score
            .get()
            .parse()
            .map_err(|e| format!("score {} ({e})", score.get()))?;
        ranking.push((*id, score.to_bits()));
    }
    Ok((answer.model_id, ranking))
}

/// The page's stored history, parsed.
pub async fn stored_history(client: &Client) -> Value {
    let text = client
        .execute(
            "return localStorage.getItem('cinerec.history') || '[]';",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

/// Reads a whole file.
pub fn read(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}
