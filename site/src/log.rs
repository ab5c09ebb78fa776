//! Where the log lines go: stderr, in batches.
//!
//! The server logs a line per request. Written one `write(2)` per line, that cost about a
//! third of a `GET /batch-predict` (7 µs of 20, measured), and a writer thread woken per line
//! cost context switches instead. Here each line is appended to one shared buffer (a short
//! lock, no system call, no wake-up); a thread writes the buffer out every
//! [`FLUSH_EVERY`], or at once when it passes [`FLUSH_AT`]. A line therefore reaches stderr
//! within a fraction of a second, and what is still buffered is written when the [`Flush`]
//! guard is dropped (on return from `run`, errors included). Past [`BLOCK_AT`] (stderr stuck,
//! say) a request writes its own line and waits: memory stays bounded and no line is lost.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How often buffered lines are written out.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A buffer this large is written out without waiting for the tick.
const FLUSH_AT: usize = 64 << 10;
/// A buffer this large makes the logging request write it out itself.
const BLOCK_AT: usize = 4 << 20;

/// The shared buffer of lines not yet written, and the writer thread's alarm clock.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves bytes, still worth writing.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Makes the writers `tracing_subscriber` formats each line into.
#[derive(Clone)]
pub struct Batched<W> {
    shared: Arc<Shared>,
    out: Arc<Mutex<W>>,
}

/// Writes out what is left, and stops the writer thread, when dropped.
pub struct Flush<W: Write> {
    shared: Arc<Shared>,
    out: Arc<Mutex<W>>,
    thread: Option<JoinHandle<()>>,
}

/// Batched lines to `out` (stderr in the server), and the guard that flushes them at the end.
pub fn batched<W: Write + Send + 'static>(out: W) -> (Batched<W>, Flush<W>) {
    let shared = Arc::new(Shared::default());
    let out = Arc::new(Mutex::new(out));
    let thread = {
        let (shared, out) = (shared.clone(), out.clone());
        std::thread::Builder::new()
            .name("cinerec-log".into())
            .spawn(move || write_out(&shared, &out))
            .ok()
    };
    let writers = Batched {
        shared: shared.clone(),
        out: out.clone(),
    };
    (
        writers,
        Flush {
            shared,
            out,
            thread,
        },
    )
}

/// The writer thread: every tick, or at once when woken, takes the buffered lines and writes
/// them; a quiet server costs it ten wake-ups a second.
fn write_out<W: Write>(shared: &Shared, out: &Mutex<W>) {
    loop {
        let mut state = shared.lock();
        if state.lines.len() < FLUSH_AT && !state.stopping {
            state = shared
                .wake
                .wait_timeout(state, FLUSH_EVERY)
                .map_or_else(|poisoned| poisoned.into_inner().0, |(state, _)| state);
        }
        let lines = std::mem::take(&mut state.lines);
        let stopping = state.stopping;
        drop(state);
        if !lines.is_empty() {
            write_all(out, &lines);
        }
        if stopping {
            return;
        }
    }
}

fn write_all<W: Write>(out: &Mutex<W>, bytes: &[u8]) {
    let mut out = out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Nowhere to report a failure to write the log: the lines are dropped.
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

impl<W: Write> Drop for Flush<W> {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Whatever the thread did not take (or all of it, if it could not be started).
        let lines = std::mem::take(&mut self.shared.lock().lines);
        if !lines.is_empty() {
            write_all(&self.out, &lines);
        }
    }
}

/// One line being formatted; appended to the buffer as `tracing_subscriber` writes it.
pub struct Line<'a, W> {
    writers: &'a Batched<W>,
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for Batched<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Line<'a, W> {
        Line { writers: self }
    }
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let shared = &self.writers.shared;
        let mut state = shared.lock();
        if state.stopping || state.lines.len() >= BLOCK_AT {
            // No writer thread to hand it to, or it cannot keep up: write it here.
            let mut lines = std::mem::take(&mut state.lines);
            drop(state);
            lines.extend_from_slice(bytes);
            write_all(&self.writers.out, &lines);
            return Ok(bytes.len());
        }
        state.lines.extend_from_slice(bytes);
        if state.lines.len() >= FLUSH_AT {
            shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(writers: &Batched<Sink>, text: &str) {
        writers.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn lines_are_written_within_a_tick_in_order_and_the_rest_at_the_end() {
        let sink = Sink::default();
        let (writers, flush) = batched(sink.clone());
        line(&writers, "one\n");
        line(&writers, "two\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().as_slice() != b"one\ntwo\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "not written within 5 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        line(&writers, "three\n");
        drop(flush);
        assert_eq!(sink.0.lock().unwrap().as_slice(), b"one\ntwo\nthree\n");
        line(&writers, "after the end\n");
        assert!(sink.0.lock().unwrap().ends_with(b"after the end\n"));
    }
}
