//! Progress reporting: a live bar on a terminal, plain lines otherwise (logs, CI, pipes).
//! Both go through `console`'s scrubbing, and neither can fail the run (see `console`).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress reporter for `total` steps.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
}

impl Progress {
    /// Starts reporting; `label` prefixes the plain lines.
    pub fn new(label: &str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Progress {
            bar,
            label: label.to_string(),
        }
    }

    /// One step done; `message` says what it was.
    pub fn step(&self, position: u64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(position);
                bar.set_message(crate::console::scrub(message));
            }
            None => errln!("{}: {position} {message}", self.label),
        }
    }

    /// Changes the number of steps (a crawl learns its page count from the first page).
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// A note that should not disturb the bar.
    pub fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(crate::console::scrub(message)),
            None => errln!("{}: {message}", self.label),
        }
    }

    /// Done: the bar is cleared.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
