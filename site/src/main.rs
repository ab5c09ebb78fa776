//! `cinerec-site`: serves the page, its WebAssembly, `model.bin` and the posters, and answers
//! `/batch-predict` with the very ranking the page runs (see `routes` for the URLs).

mod api;
mod cli;
mod files;
mod headers;
mod log;
mod metrics;
mod routes;
mod server;
mod state;
mod write_timeout;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse();
    match server::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
