//! The trainer under hostile input, through the real binary (issue 11): outputs that are not
//! files, standard streams that fail, absurd flags, models that would not load, leftovers of
//! killed runs, and the small ones. The crawler's classes (deadlines, secrets) are in
//! `crawl.rs`, beside its stand-in server. Each test is named after the promise it holds.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::Stdio;

use support::{Run, Workspace};

/// A workspace with a pipeline's outputs in `out/`.
fn trained() -> Workspace {
    let ws = Workspace::new();
    ws.run(&["pipeline", "--out", "out"]).success();
    ws
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
