//! Scaling out, as an operator runs it: three `cinerec-site` replicas sharing one model
//! registry, behind a real HAProxy with the repository's own configuration
//! (`deploy/haproxy/cinerec.cfg`), all on loopback ports. Under a steady, bounded load of
//! keep-alive `POST /batch-predict` requests, one replica is killed (SIGKILL) and restarted,
//! and a new model is promoted. The client must see no failed request, every answer must come
//! whole from one of the two models (its ranking equal, to the score bits, to what that model
//! gives for that history), and every replica must serve the new model within
//! [`CONVERGE_WITHIN`]. The figures are printed (`--show-output`) for the README. The replicas
//! also run a private A/B test: its reports, sent through HAProxy, land in one tally and are
//! limited by the client's forwarded address.
//!
//! Needs HAProxy and the two binaries built beside this test: `./scripts/test.sh` provides
//! them and runs this test with `--ignored`.

mod support;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// A ranking: content ids and score bits, in order.
type Ranking = Vec<(u64, u32)>;
/// For each model id, its ranking of each of the test's histories.
type Expected = HashMap<String, Vec<Ranking>>;

const REPLICAS: usize = 3;
/// Client threads, each with one keep-alive connection to HAProxy, pausing [`PAUSE`] between
/// requests: a few hundred requests a second, bounded, loopback only.
const LOAD_THREADS: usize = 4;
const PAUSE: Duration = Duration::from_millis(2);
/// No thread sends more than this, whatever the timing.
const MAX_REQUESTS_PER_THREAD: usize = 20_000;
/// The replicas run an A/B test allowing this many reports a day per network.
const REPORTS_PER_NETWORK: usize = 5;
/// Every replica serves the promoted model this soon after the promotion returns. Each replica
/// looks at the registry every second (`--watch-interval 1`, the default) and loads a model of
/// this size in milliseconds: ten seconds leaves room for a loaded machine.
const CONVERGE_WITHIN: Duration = Duration::from_secs(10);
/// How long the load goes on after the fleet converged, so answers after the swap are seen.
const LOAD_AFTER: Duration = Duration::from_secs(3);

#[test]
#[ignore = "needs HAProxy and the built binaries: ./scripts/test.sh runs it"]
fn replicas_behind_haproxy_lose_no_request_to_a_killed_replica_and_follow_a_promotion() {
    let data = tempfile::tempdir().unwrap();
    let (first, second) = (data.path().join("first"), data.path().join("second"));
    pipeline(&first, 0);
    pipeline(&second, 1);
    let (model_a, model_b) = (first.join("model.bin"), second.join("model.bin"));

    // What each model answers for each history, from a site serving that model alone.
    let (id_a, expected_a, histories) = reference(&model_a, None);
    let (id_b, expected_b, _) = reference(&model_b, Some(&histories));
    assert_ne!(id_a, id_b, "two different models");
    let expected: Expected = [(id_a.clone(), expected_a), (id_b.clone(), expected_b)].into();
    let bodies: Vec<String> = histories
        .iter()
        .map(|history| json!({ "k": 10, "history": history }).to_string())
        .collect();

    let registry = Registry::new(&data.path().join("registry"), &model_a, &id_a);
    // Registered now, promoted under load.
    registry.register(&model_b);
    let addresses: Vec<SocketAddr> = (0..REPLICAS).map(|_| free_address()).collect();
    let mut replicas: Vec<Process> = addresses
        .iter()
        .map(|address| registry.replica(*address, &model_b))
        .collect();
    let haproxy = HaProxy::start(&addresses);
    haproxy.wait_until_all_up();

    // The load, stopped when this test ends, whichever way.
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let started = Instant::now();
    let clients: Vec<_> = (0..LOAD_THREADS)
        .map(|thread| {
            let (stop, bodies, expected) = (stop.0.clone(), bodies.clone(), expected.clone());
            let front = haproxy.front;
            std::thread::spawn(move || load(thread, front, started, &bodies, &expected, &stop))
        })
        .collect();

    // One replica killed, and restarted on its port a second later.
    std::thread::sleep(Duration::from_secs(3));
    replicas[1].stop();
    let killed_at = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let restart = Instant::now();
    replicas[1] = registry.replica(addresses[1], &model_b);
    let restarted_at = started.elapsed();
    let restart_took = restart.elapsed();
    haproxy.wait_until_all_up();
    let back_in_rotation_at = started.elapsed();

    // A promotion, and every replica serving it.
    std::thread::sleep(Duration::from_secs(1));
    let promote = Instant::now();
    registry.promote(&id_b);
    let promoted_at = started.elapsed();
    let promote_took = promote.elapsed();
    let mut converged = [None; REPLICAS];
    while converged.iter().any(Option::is_none) && promote.elapsed() < CONVERGE_WITHIN {
        for (replica, address) in addresses.iter().enumerate() {
            if converged[replica].is_none() && serving(*address) == (id_b.clone(), id_b.clone()) {
                converged[replica] = Some(promote.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(LOAD_AFTER);
    stop.0.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for client in clients {
        let (answers, failed) = client.join().unwrap();
        seen.extend(answers);
        failures.extend(failed);
    }
    let elapsed = started.elapsed();
    let retries = haproxy.counter("haproxy_backend_retry_warnings_total");
    let redispatches = haproxy.counter("haproxy_backend_redispatch_warnings_total");

    let by = |model: &str| seen.iter().filter(|s| s.model == model).count();
    let by_replica = |name: &str| seen.iter().filter(|s| s.replica == name).count();
    println!(
        "replicas: {} requests in {:.1} s from {LOAD_THREADS} keep-alive clients, {} failed; \
         {} answered by model A, {} by model B; by replica r1 {} r2 {} r3 {}; \
         HAProxy retried {retries} and redispatched {redispatches}",
        seen.len() + failures.len(),
        elapsed.as_secs_f64(),
        failures.len(),
        by(&id_a),
        by(&id_b),
        by_replica("r1"),
        by_replica("r2"),
        by_replica("r3"),
    );
    println!(
        "replicas: r2 killed at {:.2} s, restarted at {:.2} s (listening {:.2} s after its \
         start), back in HAProxy's rotation at {:.2} s; promoted at {:.2} s (the command took \
         {:.2} s); each replica on the new model after {} (from the command's start)",
        killed_at.as_secs_f64(),
        restarted_at.as_secs_f64(),
        restart_took.as_secs_f64(),
        back_in_rotation_at.as_secs_f64(),
        promoted_at.as_secs_f64(),
        promote_took.as_secs_f64(),
        converged
            .iter()
            .map(|c| c.map_or("never".into(), |c| format!("{:.2} s", c.as_secs_f64())))
            .collect::<Vec<_>>()
            .join(", "),
    );

    assert!(
        failures.is_empty(),
        "{} requests failed (HAProxy's log:\n{}\n), the first: {:#?}",
        failures.len(),
        haproxy.process.log.lock().unwrap(),
        &failures[..failures.len().min(10)]
    );
    for (replica, converged) in converged.iter().enumerate() {
        assert!(
            converged.is_some(),
            "replica r{} still serves {:?} {CONVERGE_WITHIN:?} after the promotion",
            replica + 1,
            serving(addresses[replica])
        );
    }
    assert!(by(&id_a) > 0 && by(&id_b) > 0, "the load saw both models");
    let after_restart = seen
        .iter()
        .filter(|s| s.replica == "r2" && s.at > restarted_at)
        .count();
    assert!(
        after_restart > 0,
        "the restarted replica took requests again"
    );
    // A private A/B test across the fleet: every report lands in one tally (r1's), and the
    // limit per network counts the address HAProxy forwarded, not what a client wrote.
    let mut reports = Vec::new();
    for n in 0..REPORTS_PER_NETWORK + 2 {
        let body = r#"{"arm":"control","bit":1}"#;
        let answer = Connection::open(haproxy.front)
            .and_then(|mut connection| {
                connection.send(&format!(
                    "POST /experiments/report HTTP/1.1\r\nHost: {}\r\n\
                     Content-Type: application/json\r\nX-Forwarded-For: 203.0.113.{n}\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    haproxy.front,
                    body.len()
                ))
            })
            .unwrap();
        reports.push((answer.status, answer.header("x-cinerec-replica")));
    }
    let r1 = Some("r1".to_string());
    let expected_reports: Vec<_> = (0..REPORTS_PER_NETWORK + 2)
        .map(|n| (if n < REPORTS_PER_NETWORK { 204 } else { 429 }, r1.clone()))
        .collect();
    assert_eq!(reports, expected_reports);
    let results: Value = serde_json::from_str(&get(haproxy.front, "/experiments")).unwrap();
    assert_eq!(results["arms"][0]["reports"], REPORTS_PER_NETWORK);

    // The names the alerts and the dashboard read are the ones the programs expose.
    let exposed = format!(
        "{}{}",
        get(addresses[0], "/metrics"),
        get(haproxy.admin, "/metrics")
    );
    for file in [
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/cinerec.json",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for name in metric_names(&text) {
            assert!(
                exposed.contains(&name),
                "{file} reads {name}, which neither cinerec-site nor HAProxy exposes"
            );
        }
    }
    drop(replicas);
}

/// Tells the client threads to stop when dropped (also when the test fails half-way).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One answer the client saw.
#[derive(Debug)]
struct Seen {
    at: Duration,
    replica: String,
    model: String,
}

/// One client thread: requests through one keep-alive connection (a new one only when
/// HAProxy closes it), each checked against the ranking of the model it names.
fn load(
    thread: usize,
    front: SocketAddr,
    started: Instant,
    bodies: &[String],
    expected: &Expected,
    stop: &AtomicBool,
) -> (Vec<Seen>, Vec<String>) {
    let (mut seen, mut failures) = (Vec::new(), Vec::new());
    let mut connection: Option<Connection> = None;
    for request in 0..MAX_REQUESTS_PER_THREAD {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let which = (thread + request) % bodies.len();
        let at = started.elapsed();
        let answer = match connection.as_mut() {
            Some(open) => open.post("/batch-predict", &bodies[which]),
            None => Connection::open(front).and_then(|mut open| {
                let answer = open.post("/batch-predict", &bodies[which]);
                connection = Some(open);
                answer
            }),
        };
        match answer.and_then(|answer| check(answer, which, expected)) {
            Ok((seen_one, keep)) => {
                seen.push(Seen { at, ..seen_one });
                if !keep {
                    connection = None;
                }
            }
            Err(error) => {
                failures.push(format!("{:.3} s: {error}", at.as_secs_f64()));
                connection = None;
            }
        }
        std::thread::sleep(PAUSE);
    }
    (seen, failures)
}

/// An answer is a success when it is a 200 whose ranking is, to the bit, its model's ranking
/// of that history. Also says whether the connection stays open.
fn check(answer: Answer, which: usize, expected: &Expected) -> Result<(Seen, bool), String> {
    if answer.status != 200 {
        return Err(format!("status {}: {}", answer.status, answer.body));
    }
    let (model, ranking) = ranking(&answer.body)?;
    let Some(rankings) = expected.get(&model) else {
        return Err(format!("model {model} is neither of the two"));
    };
    if rankings[which] != ranking {
        return Err(format!(
            "history {which}: {ranking:?} is not model {model}'s {:?}",
            rankings[which]
        ));
    }
    let replica = answer
        .header("x-cinerec-replica")
        .ok_or("no X-Cinerec-Replica header")?;
    let keep = answer.header("connection") != Some("close".into());
    Ok((
        Seen {
            at: Duration::ZERO,
            replica,
            model,
        },
        keep,
    ))
}

/// A plain HTTP/1.1 keep-alive connection: every failure is seen, none retried behind the
/// test's back.
struct Connection {
    reader: BufReader<TcpStream>,
    host: SocketAddr,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

impl Connection {
    fn open(host: SocketAddr) -> Result<Connection, String> {
        let stream = TcpStream::connect(host).map_err(|e| format!("connecting: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .map_err(|e| e.to_string())?;
        Ok(Connection {
            reader: BufReader::new(stream),
            host,
        })
    }

    fn post(&mut self, path: &str, body: &str) -> Result<Answer, String> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.send(&request)
    }

    fn get(&mut self, path: &str) -> Result<Answer, String> {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.host
        ))
    }

    fn send(&mut self, request: &str) -> Result<Answer, String> {
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| format!("sending: {e}"))?;
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the status line: {e}"))?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader
                .read_line(&mut line)
                .map_err(|e| format!("reading the headers: {e}"))?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("header {header:?}"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let body = if header("transfer-encoding").is_some_and(|v| v == "chunked") {
            // HAProxy's own /metrics.
            let mut body = Vec::new();
            loop {
                line.clear();
                self.reader
                    .read_line(&mut line)
                    .map_err(|e| format!("reading a chunk's size: {e}"))?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|e| format!("chunk size {line:?}: {e}"))?;
                let mut chunk = vec![0; size + 2];
                self.reader
                    .read_exact(&mut chunk)
                    .map_err(|e| format!("reading a chunk: {e}"))?;
                body.extend_from_slice(&chunk[..size]);
                if size == 0 {
                    break body;
                }
            }
        } else if status == 204 || status == 304 {
            // No body, and so no Content-Length (a report's 204).
            Vec::new()
        } else {
            let length: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .ok_or("no Content-Length")?;
            let mut body = vec![0; length];
            self.reader
                .read_exact(&mut body)
                .map_err(|e| format!("reading the body: {e}"))?;
            body
        };
        let body = String::from_utf8(body).map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// `GET path` on its own connection; panics unless 200.
fn get(address: SocketAddr, path: &str) -> String {
    let answer = Connection::open(address)
        .and_then(|mut c| c.get(path))
        .unwrap_or_else(|e| panic!("GET {path} from {address}: {e}"));
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.body
}

/// The model id a replica serves now, and its registry entry (`/model`).
fn serving(address: SocketAddr) -> (String, String) {
    let model: Value = serde_json::from_str(&get(address, "/model")).unwrap();
    let field = |name: &str| model[name].as_str().unwrap_or("(none)").to_string();
    (field("model_id"), field("registry_entry"))
}

/// A model's id and its rankings of the test's histories, from a site serving it alone. The
/// histories are made from the first model's own top titles unless given.
fn reference(model: &Path, histories: Option<&[Value]>) -> (String, Vec<Ranking>, Vec<Value>) {
    let args: Vec<OsString> = vec!["--model".into(), model.into()];
    let (_site, address) = site_with(&args, "127.0.0.1:0");
    let mut connection = Connection::open(address).unwrap();
    let mut rank = |history: &Value| {
        let body = json!({ "k": 10, "history": history }).to_string();
        let answer = connection.post("/batch-predict", &body).unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        ranking(&answer.body).unwrap()
    };
    let histories = match histories {
        Some(histories) => histories.to_vec(),
        None => {
            let (_, top) = rank(&json!([]));
            let event = |i: usize, seconds: u32| json!({ "content_id": top[i].0, "watch_seconds": seconds });
            vec![
                json!([]),
                json!([event(0, 5400)]),
                json!([event(0, 5400), event(1, 600), event(2, 5400)]),
                json!([event(3, 600), event(4, 600)]),
            ]
        }
    };
    let mut id = String::new();
    let rankings = histories
        .iter()
        .map(|history| {
            let (model_id, ranking) = rank(history);
            id = model_id;
            ranking
        })
        .collect();
    (id, rankings, histories)
}

/// A loopback address with a port free now (the replica binds it a moment later).
fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The model registry the replicas share (`docs/registry.md`), written by the real trainer.
struct Registry {
    root: PathBuf,
}

impl Registry {
    /// A registry holding `first`, promoted.
    fn new(root: &Path, first: &Path, id: &str) -> Registry {
        let registry = Registry {
            root: root.to_path_buf(),
        };
        registry.register(first);
        registry.run(&["promote", id]);
        registry
    }

    fn register(&self, model: &Path) {
        trainer(&[
            &"registry",
            &"register",
            &"--model",
            &model,
            &"--registry",
            &self.root,
        ]);
    }

    /// `cinerec-trainer registry ARGS --registry ROOT`.
    fn run(&self, args: &[&str]) {
        let mut all: Vec<&dyn AsRef<OsStr>> = vec![&"registry"];
        all.extend(args.iter().map(|arg| arg as &dyn AsRef<OsStr>));
        all.extend([&"--registry" as &dyn AsRef<OsStr>, &self.root]);
        trainer(&all);
    }

    /// A replica on `address`, following the registry, and running an A/B test of
    /// `candidate` behind HAProxy (which it trusts to say who reports).
    fn replica(&self, address: SocketAddr, candidate: &Path) -> Process {
        let mut args: Vec<OsString> = vec!["--registry".into(), self.root.clone().into()];
        args.extend(["--experiment-model".into(), candidate.into()]);
        args.extend(
            ["--experiment-name", "fleet", "--trusted-proxy", "127.0.0.1"].map(OsString::from),
        );
        args.extend([
            "--experiment-reports-per-network".into(),
            REPORTS_PER_NETWORK.to_string().into(),
        ]);
        site_with(&args, &address.to_string()).0
    }

    /// Promotes the registered entry `id` (forced: this test is about the fleet following a
    /// promotion, not about the gate, which `trainer/tests/registry.rs` holds).
    fn promote(&self, id: &str) {
        self.run(&["promote", id, "--force", "--reason", "the replicas test"]);
    }
}

/// HAProxy with `deploy/haproxy/cinerec.cfg`, its addresses set through the environment.
struct HaProxy {
    process: Process,
    front: SocketAddr,
    admin: SocketAddr,
}

impl HaProxy {
    fn start(replicas: &[SocketAddr]) -> HaProxy {
        let (front, admin) = (free_address(), free_address());
        let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .into_iter()
            .find(|path| Path::new(path).is_file())
            .expect("HAProxy is installed (./scripts/setup.sh test installs Debian's haproxy)");
        let mut command = Command::new(binary);
        command
            .arg("-db") // in the foreground, a child of the test
            .arg("-f")
            .arg(root().join("deploy/haproxy/cinerec.cfg"))
            .env("CINEREC_LB_ADDR", front.to_string())
            .env("CINEREC_LB_ADMIN_ADDR", admin.to_string());
        for (i, replica) in replicas.iter().enumerate() {
            command.env(format!("CINEREC_REPLICA_{}", i + 1), replica.to_string());
        }
        let process = Process::logged(&mut command, |_| {});
        HaProxy {
            process,
            front,
            admin,
        }
    }

    /// Waits until HAProxy's health checks have put every replica in rotation, at most 20 s.
    fn wait_until_all_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let metrics = Connection::open(self.admin)
                .and_then(|mut c| c.get("/metrics"))
                .map(|a| a.body)
                .unwrap_or_default();
            let up = |server: &str| {
                metrics.contains(&format!(
                    "haproxy_server_status{{proxy=\"replicas\",server=\"{server}\",state=\"UP\"}} 1"
                ))
            };
            if (1..=REPLICAS).all(|n| up(&format!("r{n}"))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy never saw every replica up:\n{}",
                self.process.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of one of the backend's counters.
    fn counter(&self, name: &str) -> u64 {
        let metrics = get(self.admin, "/metrics");
        let prefix = format!("{name}{{proxy=\"replicas\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("HAProxy has no {name}"))
    }
}

/// The metric names a Prometheus file or a dashboard reads: `cinerec_…` and `haproxy_…`.
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for prefix in ["cinerec_", "haproxy_"] {
        for (at, _) in text.match_indices(prefix) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Every query of the dashboard is PromQL that Prometheus parses: promtool checks them as
/// recording rules (Grafana's `$__rate_interval` read as 5m). Grafana itself is not packaged
/// by Debian, so the panels' layout goes unchecked.
#[test]
#[ignore = "needs promtool: ./scripts/test.sh runs it"]
fn the_dashboard_queries_are_promql() {
    let file = root().join("deploy/grafana/cinerec.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut rules = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            rules.push(json!({
                "record": format!("panel_{}_{}", panel["id"], target["refId"].as_str().unwrap()),
                "expr": expr.replace("$__rate_interval", "5m"),
            }));
        }
    }
    assert!(rules.len() >= 10, "the dashboard has its queries");
    // JSON is YAML: promtool reads it as a rule file.
    let rules_file = tempfile::NamedTempFile::new().unwrap();
    let groups = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    std::fs::write(rules_file.path(), groups.to_string()).unwrap();
    let checked = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(rules_file.path())
        .output()
        .expect("promtool runs (./scripts/setup.sh test installs Debian's prometheus)");
    assert!(
        checked.status.success(),
        "a query of {} is not PromQL:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
