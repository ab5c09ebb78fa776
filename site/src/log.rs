//! How log lines are written ([`LineFormat`]) and where they go: stderr, in batches.
//!
//! The server logs a line per request. Written one `write(2)` per line, that cost about a
//! third of a `GET /batch-predict` (7 µs of 20, measured), and a writer thread woken per line
//! cost context switches instead. Here each line is appended to one shared buffer (a short
//! lock, no system call, no wake-up); a thread writes the buffer out every
//! [`FLUSH_EVERY`], or at once when it passes [`FLUSH_AT`]. A line therefore reaches stderr
//! within a fraction of a second, and what is still buffered is written when the [`Flush`]
//! guard is dropped (on return from `run`, errors included). Past [`BLOCK_AT`] (stderr stuck,
//! say) a request writes its own line and waits: memory stays bounded and no line is lost.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The most bytes of one piece of text from outside (a path, a method, a value) that a log
/// line or an error answer repeats; the rest is replaced by `…(N more bytes)`. A 60 KB path
/// would otherwise be written whole, once per request.
pub const MAX_ECHO: usize = 256;

/// `text` cut to [`MAX_ECHO`] bytes (at a character boundary), saying how much was cut.
pub fn clip(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_ECHO {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_ECHO;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}…({} more bytes)",
        &text[..end],
        text.len() - end
    ))
}

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

/// One line per event, as `tracing_subscriber`'s default format writes it without targets
/// and spans (`2026-12-05T19:17:20.123456Z  INFO request method=POST path=/ status=200`),
/// but field by field: with the default format, the request line cost about a tenth of a
/// small request's server time (measured by turning it off), and this one costs less. Text
/// from outside (a path) is escaped when anything in it would not print as itself (see
/// [`write_text`]), so a line is always one line and says what came in.
pub struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        SystemTime.format_time(&mut writer)?;
        writer.write_str(match *event.metadata().level() {
            Level::ERROR => " ERROR ",
            Level::WARN => "  WARN ",
            Level::INFO => "  INFO ",
            Level::DEBUG => " DEBUG ",
            Level::TRACE => " TRACE ",
        })?;
        let mut fields = Fields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes an event's fields: the message as it is, the others as ` name=value`.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            let first = std::mem::take(&mut self.first);
            self.result = write_field(self.writer, first, field, value);
        }
    }
}

/// Text from outside, written so that a line stays one line and reads as what it is: cut to
/// [`MAX_ECHO`] bytes ([`clip`]), and if anything in it would not print as itself (a control
/// character, a line separator, a bidirectional override, a backslash that could pass for an
/// escape), written escaped, as Rust's `escape_debug` does.
fn write_text(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    let text = &*clip(text);
    let plain = |c: char| {
        c.is_ascii_graphic() || c == ' ' || (!c.is_ascii() && c.escape_debug().len() == 1)
    };
    if text.chars().all(|c| plain(c) && c != '\\') {
        writer.write_str(text)
    } else {
        write!(writer, "{}", text.escape_debug())
    }
}

fn write_field(
    writer: &mut Writer<'_>,
    first: bool,
    field: &Field,
    value: impl FnOnce(&mut Writer<'_>) -> fmt::Result,
) -> fmt::Result {
    if !first {
        writer.write_char(' ')?;
    }
    if field.name() != "message" {
        writer.write_str(field.name())?;
        writer.write_char('=')?;
    }
    value(writer)
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |writer| write_text(writer, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |writer| {
            writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |writer| {
            writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Messages and `%value` fields arrive here as format arguments: escaped like any text.
        self.field(field, |writer| {
            let mut text = String::new();
            write!(text, "{value:?}")?;
            write_text(writer, &text)
        });
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

    #[test]
    fn clipping_keeps_short_text_and_cuts_long_text_at_a_character() {
        assert_eq!(clip("/short"), "/short");
        let exact = "a".repeat(MAX_ECHO);
        assert_eq!(clip(&exact), exact);
        let long = format!("{}한국어", "a".repeat(MAX_ECHO - 1));
        assert_eq!(
            clip(&long),
            format!("{}…(9 more bytes)", "a".repeat(MAX_ECHO - 1))
        );
    }

    #[test]
    fn a_line_is_one_line_with_its_fields_and_escaped_text() {
        let sink = Sink::default();
        let writer = {
            let sink = sink.clone();
            move || sink.clone()
        };
        let subscriber = tracing_subscriber::fmt()
            .event_format(LineFormat)
            .with_writer(writer)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let path = "/a\nFAKE  INFO forged";
            tracing::info!(
                method = "GET",
                path,
                status = 404u16,
                latency_us = 12u64,
                "request"
            );
            tracing::warn!(error = %"bad\r\nthing", "reload failed");
            // A line separator, a right-to-left override, and a backslash that would make
            // `\n` look like an escaped newline.
            tracing::info!(path = "/x\u{2028}y\u{202e}z", "request");
            tracing::info!(path = "/a\\nb/한국어", "request");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        // 2026-12-05T19:17:20.123456Z, then the level.
        assert!(
            lines[0].as_bytes()[..4].iter().all(u8::is_ascii_digit),
            "{text}"
        );
        assert!(
            lines[0].ends_with(
                "Z  INFO request method=GET path=/a\\nFAKE  INFO forged status=404 latency_us=12"
            ),
            "{text}"
        );
        assert!(
            lines[1].ends_with("Z  WARN reload failed error=bad\\r\\nthing"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("Z  INFO request path=/x\\u{2028}y\\u{202e}z"),
            "{text}"
        );
        assert!(
            lines[3].ends_with("Z  INFO request path=/a\\\\nb/한국어"),
            "{text}"
        );
    }
}
