//! `cinerec-trainer`: the native MLOps pipeline of cinerec (see `cli` for the commands).

mod cli;
mod crawl;
mod credentials;
mod demo;
mod evaluate;
mod inputs;
mod original;
mod output;
mod pipeline;
mod plot;
mod poster;
mod preprocess;
mod progress;
mod taste;
mod tmdb;
mod train;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // A closed stdout (`| head`) is not a failure worth a message.
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
