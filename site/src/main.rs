//! `cinerec-site`: serves the page, its WebAssembly, `model.bin` and the posters, and answers
//! `/batch-predict` with the very ranking the page runs (see `routes` for the URLs).

mod answers;
mod api;
mod cli;
mod coarse_timer;
mod event_cache;
mod experiments;
mod files;
mod headers;
mod loading;
mod log;
mod metrics;
mod registry;
mod report_limit;
mod routes;
mod server;
mod serving;
mod slots;
mod state;
mod write_timeout;

use std::process::ExitCode;

// A panic in a handler is caught and answered 500 (`routes::guarded`); with `panic = "abort"`
// one bad request would end the process and every connection with it.
#[cfg(not(panic = "unwind"))]
compile_error!("cinerec-site must be built with panic = \"unwind\": it catches a handler's panic");

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
