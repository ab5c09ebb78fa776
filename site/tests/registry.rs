//! `--registry`: the real server on a real port follows a real registry's pointer (written
//! through `cinerec-registry`, as the trainer writes it), says which entry it serves, and
//! refuses a pointer to a damaged entry while the previous model keeps serving.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use cinerec_registry::{Action, Registry};
use support::{get, Server, Site};

/// The site's usual flags with `--registry reg` instead of `--model`.
fn registry_args(site: &Site, extra: &[&str]) -> Vec<String> {
    let mut args = site.args();
    let at = args.iter().position(|arg| arg == "--model").unwrap();
    args.splice(at..at + 2, ["--registry".to_string(), "reg".to_string()]);
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}

fn metrics(server: &Server) -> String {
    get(&server.url("/metrics")).unwrap().text()
}

/// Asserts that `/metrics` has each of `lines` as a whole line.
fn metrics_have(server: &Server, lines: &[String]) {
    let text = metrics(server);
    for line in lines {
        assert!(
            text.contains(&format!("{line}\n")),
            "{line} missing from:\n{text}"
        );
    }
}

fn register(registry: &Registry, site: &Site, file: &str) -> String {
    registry
        .register(&site.read(file), None, None, "site test")
        .unwrap()
        .entry
        .model_id
}

/// A registry `reg` of `model.bin` (promoted) and `other.bin`, and their ids.
fn two_entries(site: &Site) -> (Registry, String, String) {
    let registry = Registry::create(&site.path("reg")).unwrap();
    let first = register(&registry, site, "model.bin");
    let second = register(&registry, site, "other.bin");
    registry
        .promote(&first, Action::Promote, None, None, None)
        .unwrap();
    (registry, first, second)
}

#[test]
fn the_server_follows_the_pointer_and_refuses_a_damaged_entry() {
    let site = Site::new();
    let (registry, first, second) = two_entries(&site);
    let server = site.start(&registry_args(&site, &["--watch-interval", "0.1"]));

    assert_eq!(
        get(&server.url("/model")).unwrap().json()["registry_entry"],
        first.as_str()
    );
    let entry = |name: &str, id: &str| format!("cinerec_registry_{name}{{entry=\"{id}\"}} 1");
    metrics_have(
        &server,
        &[
            entry("entry_info", &first),
            entry("promoted_info", &first),
            "cinerec_registry_serving_promoted 1".into(),
        ],
    );

    // A promotion: the server swaps to the new entry.
    registry
        .promote(&second, Action::Promote, Some(&first), None, None)
        .unwrap();
    assert!(
        server.wait_for_model(&second, Duration::from_secs(10)),
        "{}",
        server.log()
    );
    assert_eq!(
        get(&server.url("/model")).unwrap().json()["registry_entry"],
        second.as_str()
    );
    assert_eq!(
        get(&server.url("/model.bin")).unwrap().body,
        site.read("other.bin")
    );
    metrics_have(
        &server,
        &[
            entry("entry_info", &second),
            "cinerec_registry_serving_promoted 1".into(),
            "cinerec_model_reloads_total 1".into(),
        ],
    );

    // The pointer moved by hand to an entry whose model was truncated since: refused,
    // logged, counted; the previous model stays and the gauge says it is not the promoted one.
    let model = site.path(&format!("reg/entries/{first}/model.bin"));
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    site.write("reg/.pointer", format!("{first}\n").as_bytes());
    std::fs::rename(site.path("reg/.pointer"), site.path("reg/current")).unwrap();
    assert!(
        support::wait_until(Duration::from_secs(10), || metrics(&server)
            .contains("cinerec_model_reload_failures_total 1\n")),
        "{}",
        metrics(&server)
    );
    metrics_have(
        &server,
        &[
            entry("promoted_info", &first),
            entry("entry_info", &second),
            "cinerec_registry_serving_promoted 0".into(),
        ],
    );
    assert!(server.wait_for_model(&second, Duration::from_secs(1)));
    assert!(
        server.wait_for_log(
            &["entry refused", "model.bin", "the file is truncated"],
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );

    // Repaired (the model copied back whole): served when next tried, with no signal and no
    // move of the pointer (a refused entry is tried again after 1 s, 2 s, 4 s, ...).
    std::fs::write(&model, &bytes).unwrap();
    assert!(
        server.wait_for_model(&first, Duration::from_secs(15)),
        "{}",
        server.log()
    );
    assert!(server.wait_for_log(
        &["reason=a retry", "registry entry served"],
        Duration::from_secs(5)
    ));
    metrics_have(&server, &["cinerec_registry_serving_promoted 1".into()]);
}

#[test]
fn without_a_promoted_model_the_server_does_not_start_and_says_why() {
    let site = Site::new();
    let registry = Registry::create(&site.path("reg")).unwrap();
    register(&registry, &site, "model.bin");
    let output = Command::new(env!("CARGO_BIN_EXE_cinerec-site"))
        .args(registry_args(&site, &[]))
        .current_dir(site.path(""))
        .env_remove("CINEREC_MODEL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("reg/current: no model promoted yet")
            && stderr.contains("cinerec-trainer registry promote --registry reg ID"),
        "{stderr}"
    );
}

#[test]
fn an_experiments_candidate_can_be_a_registry_entry_checked_as_a_promotion_is() {
    let site = Site::new();
    let (_registry, serving, candidate) = two_entries(&site);
    let experiment = [
        "--experiment-entry",
        candidate.as_str(),
        "--experiment-name",
        "t",
    ];
    let server = site.start(&registry_args(&site, &experiment));
    assert_eq!(
        get(&server.url("/experiments/candidate/model.bin"))
            .unwrap()
            .body,
        site.read("other.bin")
    );
    let results = get(&server.url("/experiments")).unwrap().json();
    assert_eq!(results["arms"][0]["model_id"], serving.as_str());
    assert_eq!(results["arms"][1]["model_id"], candidate.as_str());
    drop(server);

    // A damaged entry, an unknown one, or no registry: the server does not start, and says why.
    let model = site.path(&format!("reg/entries/{candidate}/model.bin"));
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let mut without_registry = site.args();
    without_registry.extend(experiment.map(String::from));
    for (args, needles) in [
        (
            registry_args(&site, &experiment),
            vec![
                format!("--experiment-entry {candidate}"),
                "the file is truncated".to_string(),
            ],
        ),
        (
            registry_args(
                &site,
                &["--experiment-entry", "nope", "--experiment-name", "t"],
            ),
            vec!["--experiment-entry \"nope\" is not a registry entry's id".to_string()],
        ),
        (without_registry, vec!["--registry".to_string()]),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_cinerec-site"))
            .args(&args)
            .current_dir(site.path(""))
            .env_remove("CINEREC_MODEL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for needle in needles {
            assert!(stderr.contains(&needle), "{needle} not in {stderr}");
        }
    }
}
