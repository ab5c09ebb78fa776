//! A private A/B test on the real server: the plan the page reads, the candidate's model and
//! ranking, reports counted up to the design's horizon and decided, and every kind of abuse
//! the report route refuses (malformed, oversized, unknown arm, a full arm, one network's
//! thousand reports).

mod support;

use std::time::Duration;

use support::*;

/// The usual flags with an experiment of `other.bin` against `model.bin`; `--experiment-effect
/// 1` with a quarter of the devices in the candidate's arm makes the test need 32 reports
/// from control and 11 from the candidate (41.9 in all, split as the devices are).
fn experiment_args(site: &Site, per_network: u32) -> Vec<String> {
    let mut args = site.args();
    args.extend(
        [
            "--experiment-model",
            "other.bin",
            "--experiment-name",
            "trial-7",
            "--experiment-share",
            "0.25",
            "--experiment-effect",
            "1",
            "--experiment-reports-per-network",
            &per_network.to_string(),
        ]
        .map(String::from),
    );
    args
}

fn report(server: &Server, arm: &str, bit: u8) -> Answer {
    post(
        &server.url("/experiments/report"),
        format!(r#"{{"arm":"{arm}","bit":{bit}}}"#),
    )
}

fn counted(server: &Server) -> (u64, u64) {
    let results = get(&server.url("/experiments")).unwrap().json();
    let reports = |index: usize| results["arms"][index]["reports"].as_u64().unwrap();
    (reports(0), reports(1))
}

#[test]
fn an_experiment_serves_its_plan_and_candidate_and_counts_reports_to_a_decision() {
    let site = Site::new();
    let server = site.start(&experiment_args(&site, 0));

    let plan = get(&server.url("/experiment")).unwrap().json();
    assert_eq!(plan["name"], "trial-7");
    assert_eq!(plan["arms"][0]["name"], "control");
    assert_eq!(plan["arms"][0]["share"], 0.75);
    assert_eq!(plan["arms"][0]["model"], "experiments/control/model.bin");
    assert_eq!(plan["arms"][1]["name"], "candidate");
    assert_eq!(plan["arms"][1]["share"], 0.25);
    assert_eq!(plan["report"], "experiments/report");
    let candidate = plan["arms"][1]["model"].as_str().unwrap();
    let model = get_with(
        &server.url(&format!("/{candidate}")),
        &[("accept-encoding", "identity")],
    );
    assert_eq!(model.status, 200);
    assert_eq!(model.body, site.read("other.bin"), "the candidate's bytes");
    let control_bytes = get(&server.url("/experiments/control/model.bin")).unwrap();
    assert_eq!(
        control_bytes.body,
        site.read("model.bin"),
        "the control's bytes"
    );

    // /batch-predict ranks with the arm's model.
    let by_arm = |arm: &str| {
        get(&server.url(&format!("/batch-predict?k=5&arm={arm}")))
            .unwrap()
            .json()
    };
    let (control, candidate) = (by_arm("control"), by_arm("candidate"));
    let served = get(&server.url("/batch-predict?k=5")).unwrap().json();
    assert_eq!(control, served);
    assert_ne!(candidate["model_id"], served["model_id"]);
    let posted = post(
        &server.url("/batch-predict"),
        r#"{"k":5,"history":[],"arm":"candidate"}"#,
    )
    .json();
    assert_eq!(posted, candidate);

    // A new model served mid-experiment changes the API's answers without `arm`, not the
    // control arm: its counts stay one model's.
    let original = served["model_id"].as_str().unwrap().to_string();
    let newer = model_id(&site.read("other.bin"));
    replace_atomically(&site, &site.path("other.bin"), "model.bin");
    assert!(server.wait_for_model(&newer, Duration::from_secs(10)));
    assert_eq!(by_arm("control"), control);
    assert_eq!(
        get(&server.url("/experiments/control/model.bin"))
            .unwrap()
            .body,
        control_bytes.body
    );
    let arms = get(&server.url("/experiments")).unwrap().json()["arms"].clone();
    assert_eq!(arms[0]["model_id"], original.as_str());
    assert_eq!(arms[1]["model_id"], newer.as_str());
    let unknown = get(&server.url("/batch-predict?k=5&arm=treatment")).unwrap();
    assert_eq!(unknown.status, 400);
    assert!(unknown.json()["error"]
        .as_str()
        .unwrap()
        .contains("\"treatment\""));

    // Nothing decided before both arms have their reports (32 and 11); control's all 0, the
    // candidate's all 1: the candidate wins.
    let results = get(&server.url("/experiments")).unwrap().json();
    assert_eq!(
        results["design"]["reports_needed"],
        serde_json::json!({"control": 32, "candidate": 11})
    );
    assert_eq!(results["decision"]["state"], "collecting");
    assert_eq!(results["arms"][1]["estimate"], serde_json::Value::Null);
    for _ in 0..32 {
        assert_eq!(report(&server, "control", 0).status, 204);
    }
    assert_eq!(
        get(&server.url("/experiments")).unwrap().json()["decision"]["state"],
        "collecting"
    );
    for _ in 0..11 {
        assert_eq!(report(&server, "candidate", 1).status, 204);
    }
    let full = report(&server, "candidate", 1);
    assert_eq!(full.status, 409);
    assert!(full.json()["error"]
        .as_str()
        .unwrap()
        .contains("11 reports"));
    let results = get(&server.url("/experiments")).unwrap().json();
    assert_eq!(
        results["decision"]["state"], "candidate_better",
        "{results}"
    );
    assert_eq!(results["arms"][0]["estimate"]["value"], 0.0);
    assert_eq!(results["arms"][1]["estimate"]["value"], 1.0);
    assert_eq!(counted(&server), (32, 11));
    let page = get_with(&server.url("/experiments"), &[("accept", "text/html,*/*")]);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text().contains("The candidate is better"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("<svg"));
    let refused = get_with(&server.url("/experiments"), &[("accept", "text/html;q=0")]);
    assert_eq!(refused.header("content-type"), Some("application/json"));

    // Reports are counted in /metrics, and the log keeps no line of them (its time would say
    // when a device clicked).
    assert_eq!(server.requests_counted("/experiments/report", 204), 43);
    assert_eq!(server.requests_counted("/experiments/report", 409), 1);
    no_report_logged_before(&server, &["path=/experiments", "status=200"]);
}

/// Asserts the log has no line of a report (nor of its preflight) once the line with
/// `later` is written (the log is written in order, in batches).
fn no_report_logged_before(server: &Server, later: &[&str]) {
    assert!(server.wait_for_log(later, Duration::from_secs(5)));
    assert!(
        !server.log().contains("/experiments/report"),
        "{}",
        server.log()
    );
}

#[test]
fn bad_reports_are_refused_and_not_counted() {
    let site = Site::new();
    let server = site.start(&experiment_args(&site, 0));
    let refused = |body: &str| {
        let answer = post(&server.url("/experiments/report"), body.to_string());
        (
            answer.status,
            answer.json()["error"].as_str().unwrap().to_string(),
        )
    };
    let (status, error) = refused(r#"{"arm":"treatment","bit":1}"#);
    assert_eq!(status, 400);
    assert!(error.contains("arm \"treatment\" is not an arm"), "{error}");
    let (status, error) = refused(r#"{"arm":"control","bit":7}"#);
    assert_eq!(
        (status, error.as_str()),
        (400, "report: bit 7 is not 0 or 1")
    );
    let (status, error) = refused(r#"{"arm":"control","bit":1,"visitor":"x"}"#);
    assert_eq!(status, 400);
    assert!(error.contains("unknown field `visitor`"), "{error}");
    let (status, error) = refused("not json");
    assert_eq!(status, 400);
    assert!(error.contains("line 1 column"), "{error}");
    let (status, error) = refused(&format!(
        r#"{{"arm":"control","bit":1,"pad":"{}"}}"#,
        "x".repeat(100)
    ));
    assert_eq!(status, 413);
    assert!(error.contains("more than the 64"), "{error}");
    let (status, _) = refused(&"x".repeat(70 << 10));
    assert_eq!(status, 413);
    assert_eq!(get(&server.url("/experiments/report")).unwrap().status, 405);
    // Another spelling of the route is not it (a load balancer routes reports by the path).
    let report = r#"{"arm":"control","bit":1}"#;
    for path in ["/experiments/%72eport", "/%65xperiments/report"] {
        let answer = post(&server.url(path), report);
        assert_eq!(answer.status, 404, "{path}");
    }
    assert_eq!(counted(&server), (0, 0));
}

#[test]
fn one_network_gets_its_reports_for_the_day_and_then_429() {
    let site = Site::new();
    let server = site.start(&experiment_args(&site, 5));
    let mut statuses = std::collections::BTreeMap::new();
    let mut retry_after = None;
    for n in 0..1000 {
        let answer = report(&server, if n % 2 == 0 { "control" } else { "candidate" }, 1);
        *statuses.entry(answer.status).or_insert(0) += 1;
        if answer.status == 429 {
            retry_after = answer.header("retry-after").map(String::from);
        }
    }
    assert_eq!(statuses, [(204, 5), (429, 995)].into_iter().collect());
    assert_eq!(retry_after.as_deref(), Some("3600"));
    assert_eq!(counted(&server), (3, 2));
}

/// A report sent with an `X-Forwarded-For` field, as a proxy would forward it.
fn report_forwarded_for(server: &Server, forwarded_for: &str) -> u16 {
    send(
        client()
            .post(server.url("/experiments/report"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", forwarded_for)
            .body(r#"{"arm":"control","bit":1}"#),
    )
    .unwrap()
    .status
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_network_gets_its_own_reports() {
    let site = Site::new();
    // This test's client is the proxy: it connects from 127.0.0.1.
    let mut args = experiment_args(&site, 1);
    args.extend(["--trusted-proxy", "192.0.2.1,127.0.0.1"].map(String::from));
    let behind = site.start(&args);
    let statuses: Vec<u16> = [
        "203.0.113.1",
        "203.0.113.1",
        "203.0.113.2",
        "::ffff:203.0.113.2",
        // What a client wrote itself comes first; the proxy's entry is the last.
        "203.0.113.1, 203.0.113.3",
    ]
    .into_iter()
    .map(|forwarded| report_forwarded_for(&behind, forwarded))
    .collect();
    assert_eq!(statuses, [204, 429, 204, 429, 204]);
    assert_eq!(counted(&behind), (3, 0));

    // Trusting every address is allowed, and warned about.
    let mut everyone = experiment_args(&site, 1);
    everyone.extend(["--trusted-proxy", "0.0.0.0/0"].map(String::from));
    let open = site.start(&everyone);
    assert!(
        open.wait_for_log(
            &["--trusted-proxy names every address"],
            Duration::from_secs(5)
        ),
        "{}",
        open.log()
    );
    drop(open);

    // Without --trusted-proxy the field is anyone's to write, and ignored: one network.
    let direct = site.start(&experiment_args(&site, 1));
    let statuses: Vec<u16> = ["203.0.113.1", "203.0.113.2"]
        .into_iter()
        .map(|forwarded| report_forwarded_for(&direct, forwarded))
        .collect();
    assert_eq!(statuses, [204, 429]);
    // The forwarded addresses are in no log line.
    for server in [&behind, &direct] {
        assert!(!server.log().contains("203.0.113"), "{}", server.log());
    }
}

#[test]
fn a_report_another_site_could_forge_is_refused_before_it_counts() {
    let site = Site::new();
    let server = site.start(&experiment_args(&site, 1));
    let send_with = |headers: &[(&str, &str)]| {
        let mut request = client()
            .post(server.url("/experiments/report"))
            .body(r#"{"arm":"candidate","bit":1}"#);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).unwrap()
    };
    // What any page may send another origin without a CORS preflight: refused.
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let answer = send_with(&[("content-type", kind)]);
        assert_eq!(answer.status, 415, "{kind}");
    }
    assert_eq!(send_with(&[]).status, 415, "no content type");
    // The JSON type from another origin (a client that is no browser could send it anyway).
    let foreign = send_with(&[
        ("content-type", "application/json"),
        ("origin", "https://evil.example"),
    ]);
    assert_eq!(foreign.status, 403);
    assert!(foreign.json()["error"]
        .as_str()
        .unwrap()
        .contains("evil.example"));
    // None of them spent this network's one report: the page's own is counted.
    let own_origin = format!("http://{}", server.address);
    let own = send_with(&[
        ("content-type", "application/json; charset=utf-8"),
        ("origin", own_origin.as_str()),
    ]);
    assert_eq!(own.status, 204);
    assert_eq!(counted(&server), (0, 1));
    // A preflight of the report, as a page on a --cors-origin sends before each one, is no
    // more logged than the report (its line would say when a device clicked).
    let preflight = send(
        client()
            .request(reqwest::Method::OPTIONS, server.url("/experiments/report"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST"),
    )
    .unwrap();
    assert_eq!(preflight.status, 204);
    assert_eq!(get(&server.url("/model")).unwrap().status, 200);
    no_report_logged_before(&server, &["path=/model", "status=200"]);
}

#[test]
fn without_an_experiment_its_routes_say_none_runs() {
    let site = Site::new();
    let server = site.start(&site.args());
    let plan = get(&server.url("/experiment")).unwrap();
    assert_eq!((plan.status, plan.text().as_str()), (200, "null"));
    for answer in [
        get(&server.url("/experiments")).unwrap(),
        get(&server.url("/experiments/candidate/model.bin")).unwrap(),
        get(&server.url("/batch-predict?arm=candidate")).unwrap(),
        report(&server, "control", 1),
    ] {
        assert_eq!(answer.status, 404);
        assert_eq!(
            answer.json()["error"],
            "no experiment is running on this server"
        );
    }
}

#[test]
fn bad_experiment_flags_are_one_error_line_and_exit_2() {
    let site = Site::new();
    for (extra, needle) in [
        (vec!["--experiment-model", "other.bin"], "--experiment-name"),
        (
            vec![
                "--experiment-model",
                "other.bin",
                "--experiment-name",
                "a b",
            ],
            "--experiment-name \"a b\" must be",
        ),
        (
            vec![
                "--experiment-model",
                "other.bin",
                "--experiment-name",
                "x",
                "--experiment-share",
                "1",
            ],
            "--experiment-share 1 is not a share",
        ),
        (
            vec![
                "--experiment-model",
                "other.bin",
                "--experiment-name",
                "x",
                "--experiment-power",
                "0.3",
            ],
            "power 0.3 is not in [0.5, 1)",
        ),
        (
            vec![
                "--experiment-model",
                "missing.bin",
                "--experiment-name",
                "x",
            ],
            "--experiment-model",
        ),
    ] {
        let mut args = vec!["--model", "model.bin", "--static", "static"];
        args.extend(extra);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cinerec-site"))
            .args(&args)
            .current_dir(site.dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
