//! Bad input through the real binary: a clear one-line error, exit code 2, never a panic.

mod support;

use support::{fixture, Workspace};

const HEADER: &str = "user_id,content_id,watch_seconds,rating,popularity\n";

fn trained() -> Workspace {
    let ws = Workspace::new();
    ws.run(&["pipeline", "--out", "out", "--original"])
        .success();
    ws
}

fn evaluate(ws: &Workspace, model: &str) -> support::Run {
    ws.run(&[
        "evaluate",
        "--model",
        model,
        "--watch-log",
        "out/watch_log.csv",
    ])
}

#[test]
fn broken_model_files_are_refused_with_the_reason() {
    let ws = trained();
    let good = ws.read("out/model.bin");

    ws.write("truncated.bin", &good[..good.len() / 2]);
    evaluate(&ws, "truncated.bin").fails_with("truncated");

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    ws.write("flipped.bin", &flipped);
    evaluate(&ws, "flipped.bin").fails_with("checksum mismatch");

    let mut version = good.clone();
    version[8] = 9;
    ws.write("version.bin", &version);
    evaluate(&ws, "version.bin").fails_with("format version 9 is not supported");

    let mut longer = good.clone();
    longer.extend_from_slice(b"junk");
    ws.write("longer.bin", &longer);
    evaluate(&ws, "longer.bin").fails_with("4 unexpected bytes after");

    ws.write("empty.bin", b"");
    evaluate(&ws, "empty.bin").fails_with("shorter than the 52-byte header");

    let run = evaluate(&ws, "flipped.bin");
    assert!(
        run.stderr.contains("flipped.bin"),
        "the file is named: {}",
        run.stderr
    );
}

#[test]
fn a_bad_csv_row_names_the_line_and_the_field() {
    let ws = Workspace::new();
    let page = fixture("popular_page1.json");
    let page = page.to_str().unwrap();
    ws.write(
        "log.csv",
        format!("{HEADER}1,2,3,4,5\n1,2,3,4,5\n1,2,3,4,5\n1,2,3,4,5\n1,2,abc,4,5\n"),
    );
    let run = ws
        .run(&[
            "train",
            "--watch-log",
            "log.csv",
            "--movies",
            page,
            "--out",
            "m",
        ])
        .fails_with("log.csv: line 6: watch_seconds 'abc' is not a number");
    assert!(!ws.join("m/model.bin").exists());
    drop(run);
}

#[test]
fn an_empty_log_and_a_single_class_are_refused_with_a_reason() {
    let ws = Workspace::new();
    let page = fixture("popular_page1.json");
    let page = page.to_str().unwrap();
    let first_id = {
        let text = std::fs::read_to_string(fixture("popular_page1.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["results"][0]["id"].as_u64().unwrap()
    };
    ws.write("empty.csv", HEADER);
    ws.run(&[
        "train",
        "--watch-log",
        "empty.csv",
        "--movies",
        page,
        "--out",
        "m",
    ])
    .fails_with("the watch log has no rows");
    let rows: String = (1..=30)
        .map(|u| format!("{u},{first_id},3600,7.5,100.0\n"))
        .collect();
    ws.write("single.csv", format!("{HEADER}{rows}"));
    ws.run(&[
        "train",
        "--watch-log",
        "single.csv",
        "--movies",
        page,
        "--out",
        "m",
    ])
    .fails_with(&format!("single content id ({first_id})"));
    ws.write("nothing.csv", "");
    ws.run(&[
        "train",
        "--watch-log",
        "nothing.csv",
        "--movies",
        page,
        "--out",
        "m",
    ])
    .fails_with("nothing.csv: the file is empty");
}

#[test]
fn a_log_that_names_movies_missing_from_the_catalog_is_refused() {
    let ws = Workspace::new();
    let page = fixture("popular_page1.json");
    ws.write("log.csv", format!("{HEADER}1,999999999,3600,7.5,100.0\n"));
    ws.run(&[
        "train",
        "--watch-log",
        "log.csv",
        "--movies",
        page.to_str().unwrap(),
        "--out",
        "m",
    ])
    .fails_with("content_id 999999999 is not in the catalog");
}

#[test]
fn catalogs_are_read_in_both_shapes_and_bad_entries_are_counted() {
    let ws = Workspace::new();
    ws.write(
        "page.json",
        r#"{"page":1,"total_pages":40578,"results":[
            {"id":11,"title":"가","vote_average":7.0,"popularity":10.0,"poster_path":null,"release_date":""},
            {"id":11,"title":"가 again","vote_average":7.0,"popularity":10.0},
            {"id":12,"title":"\ub098","vote_average":6.0,"popularity":20.5},
            {"title":"no id","vote_average":6.0,"popularity":1.0},
            {"id":13,"vote_average":12,"popularity":1.0}]}"#,
    );
    let run = ws
        .run(&[
            "preprocess",
            "--movies",
            "page.json",
            "--out",
            "log.csv",
            "--seed",
            "1",
        ])
        .success();
    assert!(run.stdout.contains("from 2 movies"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "skipped 2 (movie #4: missing id, movie #5: vote_average 12 is outside 0..=10)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("dropped 1 duplicate ids"),
        "{}",
        run.stdout
    );
    let log = String::from_utf8(ws.read("log.csv")).unwrap();
    assert!(log.starts_with(HEADER));
    assert!(log
        .lines()
        .skip(1)
        .all(|l| l.contains(",11,") || l.contains(",12,")));

    ws.write("broken.json", "{\"movies\": [\n{\"id\": 1,}\n]}");
    ws.run(&["preprocess", "--movies", "broken.json", "--out", "log2.csv"])
        .fails_with("broken.json: line 2, column");
    ws.write("none.json", r#"{"movies":[{"title":"x"}]}"#);
    ws.run(&["preprocess", "--movies", "none.json", "--out", "log2.csv"])
        .fails_with("no usable movie among 1 entries; skipped 1 (movie #1: missing id)");
    ws.run(&[
        "preprocess",
        "--movies",
        "missing.json",
        "--out",
        "log2.csv",
    ])
    .fails_with("reading missing.json");
}
