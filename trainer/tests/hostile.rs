//! The trainer under hostile input, through the real binary (issue 11): outputs that are not
//! files, standard streams that fail, absurd flags, models that would not load, leftovers of
//! killed runs, and the small ones. The crawler's classes (deadlines, secrets) are in
//! `crawl.rs`, beside its stand-in server. Each test is named after the promise it holds.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::{fixture, Run, Workspace};

const HEADER: &str = "user_id,content_id,watch_seconds,rating,popularity\n";

/// A workspace with a pipeline's outputs in `out/`.
fn trained() -> Workspace {
    let ws = Workspace::new();
    ws.run(&["pipeline", "--out", "out"]).success();
    ws
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn file_type(path: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path).unwrap().file_type()
}

/// Runs a shell tool (`mkfifo`, `mknod`); false when the machine does not allow it.
fn tool(name: &str, args: &[&str]) -> bool {
    Command::new(name)
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(unix)]
#[test]
fn outputs_that_are_links_are_written_through_and_other_non_files_are_refused_and_kept() {
    use std::os::unix::fs::{symlink, FileTypeExt};
    let ws = Workspace::new();
    ws.run(&["demo-catalog", "--out", "demo"]).success();
    let preprocess = |out: &str, extra: &[&str]| {
        let mut args = vec!["preprocess", "--movies", "demo/movies.json", "--out", out];
        args.extend_from_slice(extra);
        ws.run(&args)
    };

    // A link is written through, atomically, and stays a link.
    ws.write("runs/log.csv", "the previous log");
    symlink("runs/log.csv", ws.join("log.csv")).unwrap();
    preprocess("log.csv", &[]).success();
    assert!(is_link(&ws.join("log.csv")), "the link was replaced");
    assert!(String::from_utf8(ws.read("runs/log.csv"))
        .unwrap()
        .starts_with(HEADER));

    // A folder is refused (and kept), whichever flag names it.
    preprocess("demo", &[]).fails_with("demo is a folder, not a regular file");
    preprocess("other.csv", &["--plot", "demo"]).fails_with("demo is a folder");
    assert!(file_type(&ws.join("demo")).is_dir());

    // A FIFO is refused without blocking on it, and stays a FIFO.
    if tool("mkfifo", &[ws.join("fifo").to_str().unwrap()]) {
        preprocess("fifo", &[]).fails_with("fifo is a FIFO (named pipe), not a regular file");
        assert!(file_type(&ws.join("fifo")).is_fifo());
    } else {
        eprintln!("skipping the FIFO case: mkfifo is not available here");
    }

    // A device node (the issue's case; as root, `--out /dev/null` would have destroyed it), by
    // itself and at the end of a link, for every command that writes.
    let device = ws.join("device");
    if !tool("mknod", &[device.to_str().unwrap(), "c", "1", "3"]) {
        eprintln!("skipping the device-node cases: mknod is not allowed here");
        return;
    }
    preprocess("device", &[]).fails_with("device is a character device, not a regular file");
    std::fs::create_dir_all(ws.join("catalog")).unwrap();
    symlink("../device", ws.join("catalog/movies.json")).unwrap();
    ws.run(&["demo-catalog", "--out", "catalog"])
        .fails_with("leads to catalog/../device, which is a character device");
    std::fs::create_dir_all(ws.join("model")).unwrap();
    symlink("../device", ws.join("model/metrics.json")).unwrap();
    let started = Instant::now();
    ws.run(&[
        "train",
        "--watch-log",
        "log.csv",
        "--movies",
        "demo/movies.json",
        "--out",
        "model",
        "--epochs",
        "100000",
    ])
    .fails_with("which is a character device");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused before training, not after 100000 epochs"
    );
    std::fs::create_dir_all(ws.join("pipeline")).unwrap();
    symlink("../device", ws.join("pipeline/evaluation.json")).unwrap();
    ws.run(&["pipeline", "--out", "pipeline"])
        .fails_with("which is a character device");
    let crawl = Run::from_output(
        ws.command()
            .env("TMDB_API_KEY", "test-key-5f3a9c71")
            .args([
                "crawl",
                "--out",
                "device",
                "--base-url",
                "http://127.0.0.1:9",
            ])
            .output()
            .unwrap(),
    );
    let crawl = crawl.fails_with("device is a character device");
    assert!(
        !crawl.stderr.contains("page 1"),
        "refused before any request"
    );
    assert!(
        file_type(&device).is_char_device(),
        "the device was replaced"
    );
    for link in [
        "catalog/movies.json",
        "model/metrics.json",
        "pipeline/evaluation.json",
    ] {
        assert!(is_link(&ws.join(link)), "{link} was replaced");
    }
}

#[test]
fn a_full_or_closed_standard_output_is_an_error_or_a_quiet_stop_never_a_panic() {
    let ws = trained();
    let evaluate = [
        "evaluate",
        "--model",
        "out/model.bin",
        "--watch-log",
        "out/watch_log.csv",
    ];

    // A reader that went away before the first line: a quiet stop with exit 0.
    let mut child = ws
        .command()
        .args(["pipeline", "--out", "again"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("error:"),
        "{stderr}"
    );

    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipping the /dev/full cases: this machine has no /dev/full");
        return;
    }
    let full = || File::options().write(true).open(full).unwrap();
    // A full disk behind `>`: the results were not delivered, so it is an error that says so.
    Run::from_output(ws.command().args(evaluate).stdout(full()).output().unwrap())
        .fails_with("error: writing to standard output: No space left on device");
    Run::from_output(ws.command().arg("--help").stdout(full()).output().unwrap())
        .fails_with("writing to standard output");
    // A full standard error: the error line cannot be shown, but the exit code still says it.
    let status = ws
        .command()
        .args([
            "evaluate",
            "--model",
            "missing.bin",
            "--watch-log",
            "out/watch_log.csv",
        ])
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    // Progress lines that cannot be shown do not fail the work they describe.
    let output = ws.command().args(evaluate).stderr(full()).output().unwrap();
    assert!(output.status.success(), "{}", output.status);
    assert!(String::from_utf8_lossy(&output.stdout).contains("hit_rate_at_10"));
}

/// The trainer under a 4 GiB address-space limit, as the issue ran it: an allocation beyond
/// it fails (and Rust aborts) instead of slowly swapping the machine to a halt. A build that
/// would work for hours instead of refusing is stopped after two minutes (exit 124).
fn limited(ws: &Workspace, args: &[&str]) -> Run {
    let output = Command::new("sh")
        .current_dir(ws.path())
        .arg("-c")
        .arg("ulimit -v 4194304 && exec timeout 120 \"$0\" \"$@\"")
        .arg(support::binary())
        .args(args)
        .env_remove("TMDB_API_KEY")
        .env_remove("TMDB_ACCESS_TOKEN")
        .output()
        .unwrap();
    Run::from_output(output)
}

#[test]
fn absurd_but_well_formed_flags_are_refused_up_front_naming_the_limit() {
    let ws = Workspace::new();
    let page = fixture("popular_page1.json");
    let page = page.to_str().unwrap();
    ws.run(&["preprocess", "--movies", page, "--out", "log.csv"])
        .success();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--watch-log",
            "log.csv",
            "--movies",
            page,
            "--out",
            "m",
        ];
        args.extend_from_slice(extra);
        limited(&ws, &args)
    };

    train(&["--epochs", "4294967295"]).fails_with("4294967295 is not in 1..=100000");
    limited(&ws, &["pipeline", "--out", "p", "--epochs", "4294967295"])
        .fails_with("is not in 1..=100000");
    train(&["--hidden", "4294967295"]).fails_with("is not in 1..=4096");
    train(&["--lr", "1e39"]).fails_with("learning rate inf must be a positive number");
    // A batch larger than the data is only the whole data.
    train(&["--batch-size", "4294967295", "--epochs", "2"]).success();
    limited(
        &ws,
        &[
            "preprocess",
            "--movies",
            page,
            "--out",
            "big.csv",
            "--users",
            "100000000",
        ],
    )
    .fails_with("above the 10000000 a watch log may have");
    limited(
        &ws,
        &[
            "preprocess",
            "--movies",
            page,
            "--out",
            "big.csv",
            "--max-select",
            "18446744073709551615",
        ],
    )
    .fails_with("allows up to more than 2^64 rows");
    assert!(!ws.join("big.csv").exists());
    limited(
        &ws,
        &[
            "crawl",
            "--out",
            "movies.json",
            "--interval-ms",
            "18446744073709551615",
        ],
    )
    .fails_with("is not in 0..=60000");

    // On a log with many rows and classes, batches as large as the data would not fit.
    let movies: Vec<String> = (1..=20_000)
        .map(|id| format!(r#"{{"id":{id},"title":"m{id}","vote_average":5,"popularity":1}}"#))
        .collect();
    ws.write("many.json", format!("[{}]", movies.join(",")));
    let rows: String = (0..200_000u64)
        .map(|i| format!("{},{},3600,5,1\n", i / 10, 1 + i % 20_000))
        .collect();
    ws.write("many.csv", format!("{HEADER}{rows}"));
    let many = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--watch-log",
            "many.csv",
            "--movies",
            "many.json",
            "--out",
            "many",
        ];
        args.extend_from_slice(extra);
        limited(&ws, &args)
    };
    many(&["--batch-size", "4294967295"])
        .fails_with("above the 4 GiB it may use: use --batch-size");
    // Days of single-row steps, more than the optimiser counts.
    many(&["--batch-size", "1", "--epochs", "100000"])
        .fails_with("optimiser steps, above the 2147483647 training counts");
    assert!(!ws.join("many").exists());
}

#[test]
fn a_model_that_would_not_load_is_not_written_and_the_previous_one_stays() {
    let ws = trained();
    let (model, metrics) = (ws.read("out/model.bin"), ws.read("out/metrics.json"));
    let train = |movies: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--watch-log",
            "out/watch_log.csv",
            "--movies",
            movies,
            "--out",
            "out",
        ];
        args.extend_from_slice(extra);
        ws.run(&args)
    };
    let unchanged = || {
        assert!(ws.read("out/model.bin") == model, "model.bin was replaced");
        assert_eq!(
            ws.read("out/metrics.json"),
            metrics,
            "metrics.json was replaced"
        );
    };

    train("out/movies.json", &["--lr", "1e30"]).fails_with("training diverged");
    unchanged();

    // The model carries the whole catalog: 66,000 long titles make it larger than any
    // reader accepts.
    let mut catalog = ws.read_json("out/movies.json");
    let long_title = "x".repeat(1000);
    let entries = catalog["movies"].as_array_mut().unwrap();
    for id in 0..66_000u64 {
        entries.push(serde_json::json!({
            "id": 10_000_000 + id, "title": long_title, "vote_average": 5, "popularity": 1
        }));
    }
    ws.write("huge.json", serde_json::to_vec(&catalog).unwrap());
    train("huge.json", &["--epochs", "1"]).fails_with(
        "the trained model would not load, so nothing was written: the header declares a",
    );
    unchanged();

    // Huge but valid popularity: whatever `train` reports as written loads.
    let mut catalog = ws.read_json("out/movies.json");
    for movie in catalog["movies"].as_array_mut().unwrap() {
        movie["popularity"] = serde_json::json!(1e300);
    }
    ws.write("popular.json", serde_json::to_vec(&catalog).unwrap());
    ws.run(&[
        "preprocess",
        "--movies",
        "popular.json",
        "--out",
        "popular.csv",
    ])
    .success();
    let run = ws.run(&[
        "train",
        "--watch-log",
        "popular.csv",
        "--movies",
        "popular.json",
        "--out",
        "popular",
    ]);
    if run.status.success() {
        ws.run(&[
            "evaluate",
            "--model",
            "popular/model.bin",
            "--watch-log",
            "popular.csv",
        ])
        .success();
    } else {
        run.fails_with("popular.csv");
        assert!(!ws.join("popular/model.bin").exists());
    }
}

/// The model id `model.bin` carries in its header (the first 8 bytes of the payload's
/// SHA-256, after magic, version and length), as `metrics.json` and `evaluation.json` name it.
fn model_id(model: &[u8]) -> String {
    model[20..28].iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_killed_run_leaves_no_model_beside_another_models_figures_and_no_lasting_temporaries() {
    let ws = trained();
    let before = ws.read("out/model.bin");

    // A train killed the moment its model.bin is in place: every figure left beside it is
    // its own, or gone.
    let mut child = ws
        .command()
        .args([
            "train",
            "--watch-log",
            "out/watch_log.csv",
            "--movies",
            "out/movies.json",
            "--out",
            "out",
            "--seed",
            "7",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let model = loop {
        if let Ok(model) = std::fs::read(ws.join("out/model.bin")) {
            if model != before {
                child.kill().unwrap();
                break model;
            }
        }
        assert!(Instant::now() < deadline, "train never replaced model.bin");
        if child.try_wait().unwrap().is_some() {
            panic!("train ended without replacing model.bin");
        }
        // Far shorter than writing a file takes: the kill lands between two outputs.
        std::thread::sleep(Duration::from_micros(100));
    };
    child.wait().unwrap();
    for figures in ["out/metrics.json", "out/evaluation.json"] {
        if ws.join(figures).exists() {
            assert_eq!(
                ws.read_json(figures)["model_id"],
                model_id(&model).as_str(),
                "{figures} is another model's"
            );
        }
    }

    // Temporary files that killed runs left an hour ago, where outputs go: the next run that
    // writes there removes ours, and only ours.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for name in [
        "out/.cinerec-tmp-Ab12Cd",
        "out/posters/.cinerec-tmp-Ef34Gh",
        "out/.tmp-not-ours",
    ] {
        ws.write(name, vec![0u8; 1 << 20]);
        File::options()
            .write(true)
            .open(ws.join(name))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    ws.run(&["pipeline", "--out", "out"]).success();
    assert!(!ws.join("out/.cinerec-tmp-Ab12Cd").exists());
    assert!(!ws.join("out/posters/.cinerec-tmp-Ef34Gh").exists());
    assert!(ws.join("out/.tmp-not-ours").exists(), "not ours: kept");
    let model = ws.read("out/model.bin");
    assert_eq!(
        ws.read_json("out/metrics.json")["model_id"],
        model_id(&model).as_str()
    );
}

#[test]
fn small_ones_bom_bad_utf8_real_lines_header_only_logs_and_overflowing_means() {
    let ws = Workspace::new();
    let page = std::fs::read(fixture("popular_page1.json")).unwrap();
    let ids: Vec<u64> = serde_json::from_slice::<serde_json::Value>(&page).unwrap()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|movie| movie["id"].as_u64().unwrap())
        .collect();

    // A catalog with a UTF-8 byte-order mark reads like one without.
    ws.write("bom.json", [b"\xEF\xBB\xBF".as_slice(), &page].concat());
    ws.run(&["preprocess", "--movies", "bom.json", "--out", "log.csv"])
        .success();
    let train = |log: &str| {
        ws.run(&[
            "train",
            "--watch-log",
            log,
            "--movies",
            "bom.json",
            "--out",
            "m",
        ])
    };
    train("log.csv").success();

    // A bad UTF-8 byte is reported by line and field.
    let row = |id: u64| format!("1,{id},3600,7.5,100.0\n");
    ws.write(
        "utf8.csv",
        [
            HEADER.as_bytes(),
            row(ids[0]).as_bytes(),
            row(ids[1]).as_bytes(),
            b"1,\xFF,3600,7.5,100.0\n",
        ]
        .concat(),
    );
    train("utf8.csv").fails_with("utf8.csv: line 4: field");
    train("utf8.csv").fails_with("is not valid UTF-8 text");

    // An unknown content id is reported on its line of the file, blank lines counted.
    ws.write(
        "unknown.csv",
        format!(
            "{HEADER}{}{}\n\n{}{}\n{}",
            row(ids[0]),
            row(ids[1]),
            row(ids[2]),
            row(ids[3]),
            row(999_999_999)
        ),
    );
    train("unknown.csv")
        .fails_with("unknown.csv: line 9: content_id 999999999 is not in the catalog");

    // A header-only log has nothing to evaluate on, as it has nothing to train on.
    ws.write("header.csv", HEADER);
    ws.run(&[
        "evaluate",
        "--model",
        "m/model.bin",
        "--watch-log",
        "header.csv",
    ])
    .fails_with("header.csv: the watch log has no rows");

    // Values whose sum overflows: the file, the field and the line of the largest are named.
    let rows: String = (0..40)
        .map(|i| format!("{i},{},3600,7.5,1e308\n", ids[i % 3]))
        .collect();
    ws.write("overflow.csv", format!("{HEADER}{rows}"));
    train("overflow.csv").fails_with("overflow.csv: field popularity: the values add up past");
}
