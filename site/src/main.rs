//! `cinerec-site`: serves the page, its WebAssembly, `model.bin` and the posters, and answers
//! `/batch-predict` with the very ranking the page runs (see `routes` for the URLs).

mod api;
mod cli;
mod coarse_timer;
mod files;
mod headers;
mod log;
mod metrics;
mod routes;
mod server;
mod state;
mod write_timeout;

use std::process::ExitCode;

// glibc's malloc serialised the two workers: memory a request allocates on one thread and frees
// on the other goes back to the owning arena under that arena's lock once the per-thread cache
// is full, and under load a quarter of the server's context switches were waits for it (perf,
// `POST /batch-predict`). mimalloc frees across threads without a lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
