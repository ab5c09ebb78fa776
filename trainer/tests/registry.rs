//! The registry end to end with the real trainer: two models trained on a small log written
//! here, registered, promoted through the gate, refused, forced, rolled back; the history
//! holds all of it; damaged entries are refused with messages that name the file.

mod support;

use support::Workspace;

/// Movies of the small catalog.
const MOVIES: u64 = 12;

/// A catalog of [`MOVIES`] movies, ids 1 to 12 (plus `offset`).
fn catalog(offset: u64) -> String {
    let movies: Vec<serde_json::Value> = (1..=MOVIES)
        .map(|i| {
            let id = i + offset;
            serde_json::json!({
                "id": id,
                "title": format!("Movie {id}"),
                "poster_path": format!("/{id}.svg"),
                "popularity": 10.0 + i as f64,
                "vote_average": 5.0 + (i % 5) as f64,
            })
        })
        .collect();
    serde_json::json!({ "movies": movies }).to_string()
}

/// Viewers `first..first + count`, each watching five movies in a row of the catalog's cycle
/// (1, 2, 3, … 12, 1, …) from a start that depends on the viewer: the next movie is always
/// the one after the last, which a trained next-watch model learns and an untrained one
/// cannot know.
fn watch_log(first: u64, count: u64, offset: u64) -> String {
    let mut text = String::from("user_id,content_id,watch_seconds,rating,popularity\n");
    for user in first..first + count {
        for step in 0..5 {
            let i = (user * 5 + step) % MOVIES + 1;
            text.push_str(&format!(
                "{user},{},3600,{},{}\n",
                i + offset,
                5 + i % 5,
                10 + i
            ));
        }
    }
    text
}

/// Trains a next-watch model into `out` and returns its id.
fn train(ws: &Workspace, out: &str, movies: &str, log: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--watch-log",
        log,
        "--movies",
        movies,
        "--out",
        out,
        "--objective",
        "next",
        "--hidden",
        "16",
    ];
    args.extend_from_slice(extra);
    ws.run(&args).success();
    ws.read_json(&format!("{out}/metrics.json"))["model_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn register(ws: &Workspace, out: &str, log: &str) {
    let model = format!("{out}/model.bin");
    ws.run(&[
        "registry",
        "register",
        "--registry",
        "reg",
        "--model",
        &model,
        "--watch-log",
        log,
    ])
    .success();
}

fn assert_contains(text: &str, needle: impl AsRef<str>) {
    let needle = needle.as_ref();
    assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
}

fn promote(ws: &Workspace, id: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["registry", "promote", "--registry", "reg", id];
    args.extend_from_slice(extra);
    ws.run(&args)
}

fn current(ws: &Workspace) -> String {
    String::from_utf8(ws.read("reg/current")).unwrap()
}

fn history(ws: &Workspace) -> Vec<serde_json::Value> {
    String::from_utf8(ws.read("reg/history.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Two models on the small log: a trained one and one whose single epoch at a tiny learning
/// rate leaves it near its random start.
fn two_models(ws: &Workspace) -> (String, String) {
    ws.write("movies.json", catalog(0));
    ws.write("train.csv", watch_log(1, 300, 0));
    ws.write("held_out.csv", watch_log(1001, 200, 0));
    let good = train(ws, "good", "movies.json", "train.csv", &["--epochs", "30"]);
    let bad = train(
        ws,
        "bad",
        "movies.json",
        "train.csv",
        &["--epochs", "1", "--lr", "0.00001"],
    );
    assert_ne!(good, bad);
    register(ws, "good", "held_out.csv");
    register(ws, "bad", "held_out.csv");
    (good, bad)
}

#[test]
fn the_gate_promotes_the_better_refuses_the_worse_and_the_history_keeps_everything() {
    let ws = Workspace::new();
    let (good, bad) = two_models(&ws);

    let list = ws.run(&["registry", "list", "--registry", "reg"]).success();
    assert_contains(&list.stdout, "nothing promoted yet");
    let rows: Vec<&str> = list
        .stdout
        .lines()
        .filter(|l| l.contains("held_out.csv"))
        .collect();
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    assert!(rows[0].contains(&bad), "newest first:\n{}", list.stdout);

    // Nothing serves: the worse one goes in without a comparison. Then the better one passes
    // the gate.
    promote(&ws, &bad, &[]).success();
    let promoted = promote(&ws, &good, &[]).success();
    assert_contains(&promoted.stdout, format!("promoted {good} (was {bad})"));
    assert_eq!(current(&ws), format!("{good}\n"));

    // The worse one is refused with the numbers, and the refusal is recorded.
    let refused = promote(&ws, &bad, &[]).fails_with("worse than the serving model beyond noise");
    assert_contains(&refused.stderr, "on 200 held-out viewers");
    assert_contains(&refused.stderr, "threshold -1.645 ×");
    assert_contains(&refused.stderr, "--force --reason");
    assert_eq!(current(&ws), format!("{good}\n"), "a refusal moves nothing");

    // Forced, with a reason; then rolled back.
    promote(
        &ws,
        &bad,
        &["--force", "--reason", "cheaper model for the load test"],
    )
    .success();
    assert_eq!(current(&ws), format!("{bad}\n"));
    let rolled = ws
        .run(&["registry", "rollback", "--registry", "reg"])
        .success();
    assert_contains(&rolled.stdout, format!("{good} serves again (was {bad})"));
    assert_eq!(current(&ws), format!("{good}\n"));

    let history = history(&ws);
    let actions: Vec<(&str, &str)> = history
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["entry"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("promote", &*bad),
            ("promote", &*good),
            ("refused", &*bad),
            ("forced-promote", &*bad),
            ("rollback", &*good),
        ]
    );
    let gate = &history[1]["gate"];
    assert_eq!(gate["passed"], true);
    assert_eq!(gate["viewers"], 200);
    assert!(gate["candidate_ndcg_at_10"].as_f64() > gate["serving_ndcg_at_10"].as_f64());
    let refusal = &history[2]["gate"];
    assert_eq!(refusal["passed"], false);
    let (mean, se) = (
        refusal["mean_difference"].as_f64().unwrap(),
        refusal["standard_error"].as_f64().unwrap(),
    );
    assert!(
        mean < -1.645 * se,
        "the recorded figures justify the refusal: {refusal}"
    );
    assert_eq!(history[3]["reason"], "cheaper model for the load test");
    assert_eq!(
        history[3]["gate"]["passed"], false,
        "the gate's verdict is kept"
    );

    let list = ws.run(&["registry", "list", "--registry", "reg"]).success();
    let serving: Vec<&str> = list.stdout.lines().filter(|l| l.starts_with('*')).collect();
    assert!(serving[0].contains(&good), "{}", list.stdout);
    let show = ws
        .run(&["registry", "show", "--registry", "reg", &good])
        .success();
    assert_contains(&show.stdout, "serving (promoted)");
    assert_contains(&show.stdout, "\"seed\": 0");
    assert!(
        show.stdout.contains("\"co_visitation\""),
        "the evaluation's baselines: {}",
        show.stdout
    );
}

#[test]
fn a_truncated_or_corrupt_entry_is_refused_naming_the_file_and_never_promoted() {
    let ws = Workspace::new();
    let (good, bad) = two_models(&ws);
    promote(&ws, &good, &[]).success();

    let model = ws.join(&format!("reg/entries/{bad}/model.bin"));
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 10]).unwrap();
    let needle = format!(
        "entries/{bad}/model.bin: {} bytes, but entry.json records {}: the file is truncated",
        bytes.len() - 10,
        bytes.len()
    );
    ws.run(&["registry", "show", "--registry", "reg", &bad])
        .fails_with(&needle);
    promote(&ws, &bad, &["--force", "--reason", "try"]).fails_with(&needle);
    assert_eq!(current(&ws), format!("{good}\n"));

    let entry = ws.join(&format!("reg/entries/{good}/entry.json"));
    let text = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(&entry, &text[..text.len() / 2]).unwrap();
    ws.run(&["registry", "show", "--registry", "reg", &good])
        .fails_with(&format!("entries/{good}/entry.json: not a valid entry"));
    let list = ws.run(&["registry", "list", "--registry", "reg"]).success();
    let refused = list
        .stdout
        .lines()
        .filter(|l| l.contains("refused:"))
        .count();
    assert_eq!(refused, 2, "{}", list.stdout);
    assert_eq!(
        history(&ws).len(),
        1,
        "nothing but the first promotion happened"
    );
}

#[test]
fn a_candidate_of_another_catalog_is_refused_saying_why() {
    let ws = Workspace::new();
    let (good, _) = two_models(&ws);
    promote(&ws, &good, &[]).success();
    ws.write("other.json", catalog(100));
    ws.write("other.csv", watch_log(1, 300, 100));
    ws.write("other_held_out.csv", watch_log(1001, 200, 100));
    let other = train(&ws, "other", "other.json", "other.csv", &["--epochs", "2"]);
    register(&ws, "other", "other_held_out.csv");
    promote(&ws, &other, &[]).fails_with("12 movies, the serving model");
    let history = history(&ws);
    assert_eq!(history[1]["action"], "refused");
    assert!(
        history[1]["reason"]
            .as_str()
            .unwrap()
            .contains("0 of them both"),
        "{}",
        history[1]
    );
}

#[test]
fn pipeline_registers_what_it_trains_and_promotes_only_into_an_empty_registry() {
    let ws = Workspace::new();
    let first = ws
        .run(&[
            "pipeline",
            "--out",
            "a",
            "--registry",
            "reg",
            "--epochs",
            "1",
        ])
        .success();
    assert_contains(&first.stdout, "the registry had no promoted model");
    let second = ws
        .run(&[
            "pipeline",
            "--out",
            "b",
            "--registry",
            "reg",
            "--epochs",
            "2",
        ])
        .success();
    assert!(
        second
            .stdout
            .contains("not promoted: to serve it, registry promote"),
        "{}",
        second.stdout
    );
    let a = ws.read_json("a/metrics.json")["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(current(&ws), format!("{a}\n"));
    let b = ws.read_json("b/metrics.json")["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let entry = ws.read_json(&format!("reg/entries/{b}/entry.json"));
    assert!(
        entry["held_out_log"]["path"]
            .as_str()
            .unwrap()
            .ends_with("b/watch_log_new_viewers.csv"),
        "{entry}"
    );
    assert_eq!(entry["config"]["epochs"], 2);
    assert_eq!(
        entry["evaluation"],
        ws.read_json("b/evaluation_new_viewers.json"),
        "the entry records the pipeline's evaluation on new viewers"
    );
}

#[test]
fn every_registry_subcommand_has_help() {
    let ws = Workspace::new();
    for command in ["register", "list", "show", "promote", "rollback"] {
        let run = ws.run(&["registry", command, "--help"]).success();
        assert_contains(&run.stdout, "--registry <REGISTRY>");
    }
}
