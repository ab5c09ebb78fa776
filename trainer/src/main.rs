//! `cinerec-trainer`: the native MLOps pipeline of cinerec (see `cli` for the commands).

// `println!` and `eprintln!` panic when the stream fails (`> /dev/full`, `| head`): print
// through `console`'s `outln!` and `errln!` instead.
#![deny(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod console;

mod cli;
mod crawl;
mod credentials;
mod demo;
mod evaluate;
mod gate;
mod import;
mod inputs;
mod limits;
mod movielens;
mod original;
mod output;
mod pipeline;
mod plot;
mod poster;
mod preprocess;
mod progress;
mod registry;
mod taste;
mod tmdb;
mod train;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) has all it wanted: not a failure worth a word.
        Err(error) if console::is_stdout_closed(&error) => ExitCode::SUCCESS,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
