//! The log's writer: every thread that logs appends its lines to a buffer
//! of its own, and one thread (`wsgi-log`) moves the buffers to stdout
//! every [`DRAIN_EVERY`], or as soon as one holds [`WAKE_AT`] bytes; after
//! a round that found nothing it sleeps until the next line (an idle
//! server does not wake 50 times a second). A
//! worker never waits for the terminal, a pipe or a disk, pays no
//! allocation, channel message or wake-up per line, and a busy server
//! makes a write system call per batch rather than per line.
//!
//! Order: each thread's lines keep their order. Across threads, a line
//! from the `fmt` layer (start-up, shutdown, errors: few) opens an
//! *epoch*: every line logged before it is written before it, every line
//! logged after it, after it. Access lines of different threads within
//! one epoch (served at the same time) are written thread by thread.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a line may wait in its thread's buffer.
const DRAIN_EVERY: Duration = Duration::from_millis(20);
/// A buffer this full wakes the writer thread at once.
const WAKE_AT: usize = 32 * 1024;
/// The most one thread's buffer holds: past it (stdout far slower than
/// the server) lines are dropped and counted rather than the thread
/// blocked or memory exhausted.
const LIMIT: usize = 4 * 1024 * 1024;

/// One thread's lines not yet written, and its cached timestamp.
struct ThreadLines {
    lines: Vec<u8>,
    /// Where each epoch's lines start in `lines`, oldest first.
    starts: Vec<(u64, usize)>,
    /// The writer thread was woken for these lines.
    woken: bool,
    /// When, on the monotonic clock, the second `stamp` shows began.
    second_began: Option<Instant>,
    /// `YYYY-MM-DDTHH:MM:SS.`: formatted once a second, not per line.
    stamp: [u8; 20],
}

/// Every thread's buffer, and the writer thread's state.
struct Log {
    threads: Mutex<Vec<Arc<Mutex<ThreadLines>>>>,
    /// A writer thread runs (else a line is written at once, on the
    /// thread that logs it).
    draining: AtomicBool,
    writer: Mutex<Option<thread::Thread>>,
    dropped: AtomicU64,
    colour: AtomicBool,
    /// The current epoch (see the module docs).
    epoch: AtomicU64,
    /// The writer thread found nothing to write and sleeps until a line
    /// is appended.
    asleep: AtomicBool,
}

static LOG: Log = Log {
    threads: Mutex::new(Vec::new()),
    draining: AtomicBool::new(false),
    writer: Mutex::new(None),
    dropped: AtomicU64::new(0),
    colour: AtomicBool::new(false),
    epoch: AtomicU64::new(0),
    asleep: AtomicBool::new(false),
};

thread_local! {
    static MINE: Arc<Mutex<ThreadLines>> = {
        let mine = Arc::new(Mutex::new(ThreadLines::new()));
        lock(&LOG.threads).push(Arc::clone(&mine));
        mine
    };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain buffers: a panic while one was locked leaves nothing broken.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ThreadLines {
    fn new() -> Self {
        ThreadLines {
            lines: Vec::new(),
            starts: Vec::new(),
            woken: false,
            second_began: None,
            stamp: [b'0'; 20],
        }
    }

    /// Appends the time `now` as `tracing_subscriber`'s default format
    /// writes it: `2026-01-31T12:34:56.789012Z`.
    ///
    /// The wall clock is read once a second: the microseconds are those
    /// `now` is past the second's start on the monotonic clock, which the
    /// request's duration was measured with, so a line costs no second
    /// clock reading. The two clocks part by at most what the wall clock
    /// is slewed in a second (0.5 ms at NTP's limit); a step of the wall
    /// clock shows within a second.
    fn timestamp(&mut self, now: Instant) {
        let mut since = self
            .second_began
            .map_or(Duration::MAX, |began| now.saturating_duration_since(began));
        if since.as_secs() != 0 {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            since = Duration::from_nanos(wall.subsec_nanos().into());
            self.second_began = Some(now.checked_sub(since).unwrap_or(now));
            self.stamp = stamp(wall.as_secs());
        }
        self.lines.extend_from_slice(&self.stamp);
        let mut micros = since.subsec_micros();
        let mut digits = [b'0'; 7];
        digits[6] = b'Z';
        for digit in digits[..6].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        self.lines.extend_from_slice(&digits);
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` of `second` since the Unix epoch, in UTC.
fn stamp(second: u64) -> [u8; 20] {
    let time = i64::try_from(second)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut out = [0u8; 20];
    let two = |out: &mut [u8], value: u8| {
        out[0] = b'0' + value / 10;
        out[1] = b'0' + value % 10;
    };
    let year = time.year().clamp(0, 9999) as u16;
    two(&mut out[0..2], (year / 100) as u8);
    two(&mut out[2..4], (year % 100) as u8);
    out[4] = b'-';
    two(&mut out[5..7], time.month() as u8);
    out[7] = b'-';
    two(&mut out[8..10], time.day());
    out[10] = b'T';
    two(&mut out[11..13], time.hour());
    out[13] = b':';
    two(&mut out[14..16], time.minute());
    out[16] = b':';
    two(&mut out[17..19], time.second());
    out[19] = b'.';
    out
}

/// Whether log lines are coloured: only on a terminal, and not when
/// `NO_COLOR` is set to anything but the empty string (no-color.org).
pub(super) fn use_colour(stdout_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Sets whether [`access_line`] colours its prefix (as the `fmt` layer
/// does its own lines).
pub(super) fn set_colour(colour: bool) {
    LOG.colour.store(colour, Ordering::Relaxed);
}

/// Runs `write` on this thread's buffer, as a line of `epoch` (or, when
/// no writer thread runs, on a scratch buffer written to stdout at once).
fn append(epoch: u64, write: impl FnOnce(&mut ThreadLines)) {
    let mut write = Some(write);
    let buffered = MINE.try_with(|mine| {
        let mut mine = lock(mine);
        // Read under the buffer's lock: the writer thread's last pass
        // locks every buffer after `draining` is cleared, so a line
        // appended here is either in that pass or written at once.
        if !LOG.draining.load(Ordering::Acquire) {
            return false;
        }
        if mine.lines.len() >= LIMIT {
            LOG.dropped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if mine.starts.last().is_none_or(|&(last, _)| last != epoch) {
            let start = mine.lines.len();
            mine.starts.push((epoch, start));
        }
        if let Some(write) = write.take() {
            write(&mut mine);
        }
        let full = mine.lines.len() >= WAKE_AT && !mine.woken;
        if full {
            mine.woken = true;
        }
        // Pairs with the writer's `asleep` store and second look in
        // `drain`: either it sees this line or this sees it asleep.
        let asleep = LOG.asleep.load(Ordering::SeqCst) && LOG.asleep.swap(false, Ordering::SeqCst);
        if full || asleep {
            if let Some(writer) = lock(&LOG.writer).as_ref() {
                writer.unpark();
            }
        }
        true
    });
    if buffered != Ok(true) {
        if let Some(write) = write.take() {
            let mut scratch = ThreadLines::new();
            write(&mut scratch);
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(&scratch.lines);
            let _ = stdout.flush();
        }
    }
}

/// Appends an access line: the time (`now`), level and target as the
/// `fmt` layer writes them, then what `render` writes, then a newline.
pub(super) fn access_line(now: Instant, render: &mut dyn FnMut(&mut Vec<u8>)) {
    const PLAIN: &[u8] = b"  INFO wsgi::access: ";
    const COLOURED_AFTER_STAMP: &[u8] =
        b"\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mwsgi::access\x1b[0m\x1b[2m:\x1b[0m ";
    let colour = LOG.colour.load(Ordering::Relaxed);
    append(LOG.epoch.load(Ordering::Relaxed), |mine| {
        if colour {
            mine.lines.extend_from_slice(b"\x1b[2m");
            mine.timestamp(now);
            mine.lines.extend_from_slice(COLOURED_AFTER_STAMP);
        } else {
            mine.timestamp(now);
            mine.lines.extend_from_slice(PLAIN);
        }
        render(&mut mine.lines);
        mine.lines.push(b'\n');
    });
}

/// The `fmt` layer's writer: each event's text, written whole, goes to
/// the thread's buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct ToLog;

impl Write for ToLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // An epoch of its own: after every line logged before it, before
        // every line logged after it.
        let epoch = LOG.epoch.fetch_add(2, Ordering::Relaxed) + 1;
        append(epoch, |mine| mine.lines.extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The writer thread, alive while the server runs. Dropping it writes
/// every buffered line, then reports how many were dropped.
pub(super) struct LogWriter {
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer thread; on failure lines are written at once.
    pub(super) fn start() -> io::Result<Self> {
        LOG.draining.store(true, Ordering::Release);
        let thread = thread::Builder::new()
            .name("wsgi-log".into())
            .spawn(drain)
            .inspect_err(|_| LOG.draining.store(false, Ordering::Release))?;
        *lock(&LOG.writer) = Some(thread.thread().clone());
        Ok(LogWriter {
            thread: Some(thread),
        })
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        LOG.draining.store(false, Ordering::Release);
        lock(&LOG.writer).take();
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        let dropped = LOG.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "log lines were dropped because stdout could not keep up; send the log to a faster sink or lower log_level"
            );
        }
    }
}

/// One thread's lines and the starts of their epochs.
type Taken = (Vec<u8>, Vec<(u64, usize)>);

/// The writer thread: moves every buffer to stdout, epoch by epoch, then
/// sleeps until the next round or a full buffer; a last round once the
/// server stops.
fn drain() {
    // Each thread's lines and epoch starts, taken for one round (kept to
    // be swapped back: no allocation once they have grown).
    let mut taken: Vec<Taken> = Vec::new();
    // (epoch, thread, start, end) of every run of lines in this round.
    let mut runs: Vec<(u64, usize, usize, usize)> = Vec::new();
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout());
    loop {
        let last = !LOG.draining.load(Ordering::Acquire);
        let threads = lock(&LOG.threads).clone();
        let mut wrote = false;
        taken.resize_with(threads.len(), Default::default);
        for (index, (thread, (lines, starts))) in threads.iter().zip(&mut taken).enumerate() {
            {
                let mut mine = lock(thread);
                std::mem::swap(&mut mine.lines, lines);
                std::mem::swap(&mut mine.starts, starts);
                mine.woken = false;
            }
            wrote |= !lines.is_empty();
            for (i, &(epoch, start)) in starts.iter().enumerate() {
                let end = starts.get(i + 1).map_or(lines.len(), |next| next.1);
                runs.push((epoch, index, start, end));
            }
        }
        runs.sort_unstable();
        // Nowhere to report a failed write but the log itself.
        for &(_, index, start, end) in &runs {
            let _ = out.write_all(&taken[index].0[start..end]);
        }
        let _ = out.flush();
        runs.clear();
        for (lines, starts) in &mut taken {
            lines.clear();
            starts.clear();
        }
        drop(threads);
        // Forget the buffers of threads that ended, once written.
        lock(&LOG.threads)
            .retain(|thread| Arc::strong_count(thread) > 1 || !lock(thread).lines.is_empty());
        if last {
            return;
        }
        if wrote {
            thread::park_timeout(DRAIN_EVERY);
        } else {
            // Nothing this round: sleep until a line comes (or the server
            // stops), after a second look for one appended meanwhile.
            LOG.asleep.store(true, Ordering::SeqCst);
            let pending = lock(&LOG.threads)
                .iter()
                .any(|thread| !lock(thread).lines.is_empty());
            if !pending && LOG.draining.load(Ordering::Acquire) {
                thread::park();
            }
            LOG.asleep.store(false, Ordering::SeqCst);
        }
    }
}

/// Whether the log has been installed already in this process: by an
/// earlier [`Server::run`](super::Server::run).
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Records that `Server::run`'s subscriber is the global one.
pub(super) fn mark_installed() {
    let _ = INSTALLED.set(());
}

/// Whether [`mark_installed`] was called.
pub(super) fn installed() -> bool {
    INSTALLED.get().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_the_fmt_layer_format() {
        assert_eq!(&stamp(0), b"1970-01-01T00:00:00.");
        // 2026-12-02T16:07:23Z
        assert_eq!(&stamp(1_796_227_643), b"2026-12-02T16:07:23.");
        // The wall clock's second, then the microseconds since it began
        // by the monotonic clock.
        let mut lines = ThreadLines::new();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let now = Instant::now();
        lines.timestamp(now);
        lines.timestamp(now + Duration::from_millis(50));
        let text = String::from_utf8(lines.lines).unwrap();
        assert_eq!(text.len(), 54, "{text}");
        let (first, second) = text.split_at(27);
        let micros = |stamp: &str| stamp[20..26].parse::<u32>().unwrap();
        assert!(first.ends_with('Z') && second.ends_with('Z'), "{text}");
        let shown = (0..2)
            .find(|&s| first.as_bytes()[..20] == stamp(wall.as_secs() + s))
            .unwrap_or_else(|| panic!("{first} is not the wall clock's second"));
        if shown == 0 {
            assert!(micros(first) >= wall.subsec_micros(), "{first}");
        }
        if micros(first) < 900_000 {
            assert_eq!(first[..20], second[..20], "{text}");
            assert_eq!(micros(second), micros(first) + 50_000, "{text}");
        }
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
