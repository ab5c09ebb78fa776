//! What the trainer prints: results on standard output, diagnostics on standard error, never
//! a panic and never a secret.
//!
//! `println!` and `eprintln!` panic when a write fails (`> /dev/full`, a reader that went
//! away, `2> /dev/full`), so the trainer never uses them (`main.rs` denies them). Instead:
//!
//! - [`outln!`] writes a result line to standard output and returns the failure. A reader that
//!   went away (`| head`) is [`StdoutClosed`], which `main` turns into a quiet exit 0, as
//!   ripgrep does; any other failure is an error that names standard output.
//! - [`errln!`] writes a diagnostic line (progress, notes, the final `error:` line) to standard
//!   error and ignores failures: there is nowhere left to report them, and a run must not fail
//!   because its commentary could not be shown.
//!
//! Both pass every line through [`Credential::redact`] for each credential registered with
//! [`hide`]: whatever code path builds a message, the secret does not reach the terminal.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::Mutex;

use anyhow::{anyhow, Result};

use crate::credentials::Credential;

/// Writes one line to standard output; `Err` when it could not be written (see the module docs).
macro_rules! outln {
    () => {
        $crate::console::out(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::console::out(format_args!($($arg)*))
    };
}

/// Writes one line to standard error, ignoring failures (see the module docs).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::err(format_args!($($arg)*))
    };
}

/// Standard output was closed by its reader: not a failure of the run.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Credentials scrubbed from every line; a crawl registers its own before its first request.
static HIDDEN: Mutex<Vec<Credential>> = Mutex::new(Vec::new());

/// From now on, every line printed is scrubbed of `credential` in any encoding.
pub fn hide(credential: &Credential) {
    let mut hidden = HIDDEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !hidden.contains(credential) {
        hidden.push(credential.clone());
    }
}

/// `text` scrubbed of every hidden credential, for what reaches the terminal another way
/// (the progress bar).
pub fn scrub(text: &str) -> String {
    let hidden = HIDDEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    hidden.iter().fold(text.to_string(), |text, credential| {
        credential.redact(&text)
    })
}

/// The line for `arguments`, scrubbed, with its newline.
fn line(arguments: fmt::Arguments) -> String {
    let mut text = scrub(&arguments.to_string());
    text.push('\n');
    text
}

/// The body of [`outln!`].
pub fn out(arguments: fmt::Arguments) -> Result<()> {
    write_stdout(&line(arguments))
}

/// Writes `text` as it is to standard output (clap's help, which brings its own newlines).
pub fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| match error.kind() {
            ErrorKind::BrokenPipe => anyhow!(StdoutClosed),
            _ => anyhow!(error).context("writing to standard output"),
        })
}

/// The body of [`errln!`].
pub fn err(arguments: fmt::Arguments) {
    let mut stderr = std::io::stderr().lock();
    // Ignored on purpose: see the module docs.
    let _ = stderr.write_all(line(arguments).as_bytes());
}

/// Whether `error` (or any of its causes) is a closed standard output.
pub fn is_stdout_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<StdoutClosed>())
}
