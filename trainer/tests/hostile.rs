//! The trainer under hostile input, through the real binary (issue 11): outputs that are not
//! files, standard streams that fail, absurd flags, models that would not load, leftovers of
//! killed runs, and the small ones. The crawler's classes (deadlines, secrets) are in
//! `crawl.rs`, beside its stand-in server. Each test is named after the promise it holds.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Run, Workspace};

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
    assert!(tool("mkfifo", &[ws.join("fifo").to_str().unwrap()]));
    preprocess("fifo", &[]).fails_with("fifo is a FIFO (named pipe), not a regular file");
    assert!(file_type(&ws.join("fifo")).is_fifo());

    // A device node (the case; as root, `--out /dev/null` would have destroyed it), by
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
