//! A private A/B test of two models, in Chromium against the real `cinerec-site`: the page
//! joins the candidate's arm (its kept draw forced through localStorage before the first
//! visit), ranks with the candidate's model exactly as the server's
//! `/batch-predict?arm=candidate` does, reports its first click once, and `/experiments`
//! counts that one report; a second click in the same period and a click with reporting
//! turned off send nothing. The server's log and its files hold nothing that identifies the
//! browser. When the experiment ends, the next visit ranks with the serving model.

mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{json, Value};
use support::*;

async fn results(address: SocketAddr) -> Value {
    let body = reqwest::get(format!("http://{address}/experiments"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// The reports counted per arm, control then candidate.
async fn reports(address: SocketAddr) -> (u64, u64) {
    let results = results(address).await;
    let count = |index: usize| results["arms"][index]["reports"].as_u64().unwrap();
    (count(0), count(1))
}

async fn wait_for_reports(address: SocketAddr, expected: (u64, u64)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reports(address).await != expected {
        assert!(
            Instant::now() < deadline,
            "the server never counted {expected:?}: it has {:?}",
            reports(address).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every file under `folder`: its path and bytes.
fn files(folder: &Path) -> BTreeSet<(String, Vec<u8>)> {
    let mut found = BTreeSet::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.insert((path.display().to_string(), read(&path)));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, chromedriver and the built site: ./scripts/test.sh runs it"]
async fn the_page_ranks_with_its_arm_and_reports_once_without_identifying_itself() {
    let data = tempfile::tempdir().unwrap();
    let (serving, candidate) = (data.path().join("serving"), data.path().join("candidate"));
    pipeline(&serving, 0);
    pipeline(&candidate, 1);
    let before = files(data.path());
    let candidate_model = candidate.join("model.bin");
    let flags: Vec<OsString> = vec![
        "--model".into(),
        serving.join("model.bin").into(),
        "--posters".into(),
        serving.join("posters").into(),
        "--experiment-model".into(),
        candidate_model.into(),
        "--experiment-name".into(),
        "e2e-trial".into(),
        "--experiment-share".into(),
        "0.5".into(),
    ];
    let (mut server, address) = site_with(&flags, "127.0.0.1:0");
    let browser = browser().await;
    let client = &browser.client;

    // 1. Before the first visit, the kept draw is forced to 0: below any share, the candidate.
    client
        .goto(&format!("http://{address}/healthz"))
        .await
        .unwrap();
    client
        .execute(
            "localStorage.setItem('cinerec.experiment', JSON.stringify({name: 'e2e-trial', draw: 0}));",
            vec![],
        )
        .await
        .unwrap();
    client.goto(&format!("http://{address}/")).await.unwrap();
    let shown = wait_for_cards(client, 10).await;
    let arm = client
        .execute(
            "return document.documentElement.dataset.experimentArm;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(arm, json!("candidate"));

    // 2. The page ranks with the candidate's model: the server's ranking for that arm, to the
    // score bit, and not the serving model's.
    let (candidate_id, expected) = server_ranking_of(
        address,
        json!({ "k": 10, "history": [], "arm": "candidate" }),
    )
    .await;
    assert_eq!(
        shown, expected,
        "ids and score bits of the candidate's ranking"
    );
    let (serving_id, control) = server_ranking(address, &json!([])).await;
    assert_ne!(candidate_id, serving_id);
    assert_ne!(
        shown, control,
        "the page does not rank with the serving model"
    );
    assert!(text(client, "#info").await.contains(&candidate_id));
    assert_eq!(reports(address).await, (0, 0));
    shoot(client, "experiment-1-candidate-arm").await;

    // 3. The first click sends one report, for the candidate's arm.
    click_first_card(client).await;
    wait_for_reports(address, (0, 1)).await;

    // 4. A second click in the same period sends nothing.
    click_first_card(client).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(reports(address).await, (0, 1), "one report per period");

    // 5. With reporting turned off in the page (and the period's report forgotten, as in a
    // new period), a click sends nothing.
    client
        .find(Locator::Css("#experiment-reporting"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let off = client
        .execute(
            "localStorage.removeItem('cinerec.experiment.reported');\
             return localStorage.getItem('cinerec.experiment.reporting');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(off, json!("false"), "the switch is remembered");
    click_first_card(client).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        reports(address).await,
        (0, 1),
        "no report with reporting off"
    );
    shoot(client, "experiment-2-reporting-off").await;
    let user_agent = client
        .execute("return navigator.userAgent;", vec![])
        .await
        .unwrap();
    let user_agent = user_agent.as_str().unwrap().to_string();
    let errors: Vec<String> = console(client)
        .await
        .into_iter()
        // The browser's own favicon request for the JSON page of step 1 is not the page's.
        .filter(|line| line.starts_with("SEVERE") && !line.contains("/favicon.ico"))
        .collect();
    assert!(errors.is_empty(), "script errors: {errors:?}");

    // 6. The report is counted in /metrics and has no line in the log, which holds nothing of
    // the browser (no address, no user agent); the server wrote no file.
    let metrics = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"route="/experiments/report",status="204"} 1"#),
        "{metrics}"
    );
    server.stop();
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.contains("path=/experiments"),
        "the log has the other requests:\n{log}"
    );
    assert!(
        !log.contains("/experiments/report"),
        "a report's line:\n{log}"
    );
    for line in log.lines().filter(|line| !line.contains("serving on")) {
        assert!(!line.contains("127.0.0.1"), "an address in the log: {line}");
    }
    for identifier in [user_agent.as_str(), "HeadlessChrome", "Mozilla"] {
        assert!(
            !log.contains(identifier),
            "{identifier:?} in the log:\n{log}"
        );
    }

    // 7. The experiment ends (the server restarts without it): the next visit ranks with the
    // serving model, as the server does for the stored history, and forgets the draw.
    let (mut server, _) = site(
        &serving.join("model.bin"),
        &serving.join("posters"),
        &address.to_string(),
    );
    client.refresh().await.unwrap();
    let history = stored_history(client).await;
    let (_, expected) = server_ranking(address, &history).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while cards(client).await != expected {
        assert!(
            Instant::now() < deadline,
            "the page never ranked with the serving model"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = client
        .execute(
            "return [document.documentElement.dataset.experimentArm ?? null, localStorage.getItem('cinerec.experiment'), document.getElementById('experiment-reporting')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        left,
        json!([null, null, null]),
        "no arm, no draw, no switch"
    );
    server.stop();
    assert_eq!(
        files(data.path()),
        before,
        "the server wrote or changed no file"
    );
}
