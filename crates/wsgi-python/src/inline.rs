//! Running a synchronous application's call on the event loop's thread.
//!
//! Handing a call to the thread pool costs two thread wake-ups per
//! request (the pool thread, then the event loop again for the answer);
//! for a small request that is most of the server's time. So a call may
//! run *inline*, on the event loop's thread, when that is safe:
//!
//! - the request has no body still to arrive (a read of `wsgi.input`
//!   could otherwise wait on the socket the loop itself drives);
//! - no other loop runs a call inline (so two loops do not queue for the
//!   GIL behind each other);
//! - the application has shown that it does not block: its last
//!   [`FIRST_STREAK`] calls on the pool each returned within [`FAST`]
//!   and did not block by the rules below. An application that blocks
//!   keeps running on the pool, where the GIL is released while it waits.
//!
//! Whether a call *blocked* (on the pool or inline):
//!
//! - a call back within [`GRAIN`] did not: it held the loop no longer than
//!   a short computation would;
//! - a call that ran for [`LONG`] did, whatever it did (the loop's other
//!   connections waited that long);
//! - in between, it did if the thread slept during it: on Linux its
//!   voluntary context switches are counted before and after the call, so
//!   a call that waited on a database, a file or `time.sleep` is told
//!   apart from one the kernel merely preempted (where the count is not
//!   to be had, taking [`FAST`] or longer counts as sleeping);
//! - inline, while pool jobs run, only [`LONG`] counts: a short sleep may
//!   have been a wait for the GIL those jobs held (say, the queue left
//!   from before calls ran inline), not the call blocking.
//!
//! Counting costs a system call (`getrusage`) each time, so inline calls
//! avoid it while *unwatched* (the steady state). An unwatched call is
//! timed by the clock alone; its count before is the thread's count when
//! last read, read again only if the event loop has parked (slept) since
//! (tokio counts its parks; a count that is not fresh is at most lower than
//! the true one). A call back within [`GRAIN`] costs no system call, one
//! that takes longer costs one (the count after): if the count has not
//! moved, the call did not sleep. If it has, the call may have slept or the
//! thread may have slept before it, outside a park: that call cannot be
//! judged, passes, and starts *watching*, where each inline call reads the
//! count before (and after, if it takes [`GRAIN`] or longer) and is judged
//! exactly. A streak of watched calls that did not block stops watching;
//! the streak needed starts at [`FIRST_STREAK`] and is multiplied by
//! [`BACKOFF`] each time watching stops, so an endpoint that sleeps only
//! now and then (each sleep of an unwatched loop passes) stalls its loop a
//! bounded, shrinking number of times before the loop watches for good.
//! Calls on the pool are always watched (they are few: only until calls
//! run inline).
//!
//! An inline call that blocks (an endpoint that waits in an otherwise fast
//! application; or one that runs for [`LONG`], while the loop's other
//! connections wait) sends the calls back to the pool; each time this
//! happens, the streak of fast calls needed to run inline again is
//! multiplied by [`BACKOFF`], so an application that blocks now and then
//! stalls its loop a bounded, shrinking number of times.
//! `Options::inline = false` (`--inline=false`) keeps every call on the
//! pool.

use std::cell::Cell;
use std::ffi::c_long;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A call on the pool returning within this time, without blocking, is
/// fast (it counts towards the streak that turns inline calls on).
pub(crate) const FAST: Duration = Duration::from_millis(1);

/// A call returning within this time does not block, slept or not.
pub(crate) const GRAIN: Duration = Duration::from_micros(20);

/// A call running this long blocks, slept or not.
pub(crate) const LONG: Duration = Duration::from_millis(50);

/// Fast calls on the pool in a row before calls run inline (at first);
/// also the first streak of watched calls that stops watching.
pub(crate) const FIRST_STREAK: u32 = 64;

/// How much longer a streak becomes each time it had to be made again.
pub(crate) const BACKOFF: u32 = 4;

thread_local! {
    /// This thread's event-loop parks and voluntary context switches when
    /// the switches were last read on it.
    static LAST_READ: Cell<Option<(u64, c_long)>> = const { Cell::new(None) };
}

/// Whether and when an application's calls run inline.
#[derive(Debug)]
pub(crate) struct Inline {
    allowed: bool,
    on: AtomicBool,
    /// Set while a call runs inline: one at a time per process.
    running: AtomicBool,
    streak: AtomicU32,
    needed: AtomicU32,
    /// Whether inline calls read the switches before each call.
    watching: AtomicBool,
    /// Watched inline calls in a row that did not block.
    quiet: AtomicU32,
    /// The streak of `quiet` calls that stops watching.
    quiet_needed: AtomicU32,
}

/// The thread's voluntary context switches before a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// Not to be had (not Linux, or `getrusage` failed).
    Unknown,
    /// Read just before the call (`exact`), or earlier on this thread and
    /// possibly lower than just before it.
    Count { switches: c_long, exact: bool },
}

/// What became of one call, by the rules of the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Back within [`GRAIN`].
    Calm,
    /// Took [`GRAIN`] or longer, without blocking.
    Ran,
    Blocked,
    /// Took between [`GRAIN`] and [`LONG`]; the switches moved since a
    /// count that was not exact.
    Unjudged,
}

/// One call being timed: when it started, and the thread's voluntary
/// context switches then.
#[derive(Debug)]
pub(crate) struct Timing {
    started: Instant,
    before: Before,
    /// The event loop's parks so far, when known (they do not change
    /// during the call: it runs on the loop's thread, or on the pool's).
    parks: Option<u64>,
}

impl Timing {
    /// Starts timing a call; `exact` reads the switches now, otherwise
    /// the thread's last count serves if the loop has not parked since.
    fn start(exact: bool, parks: Option<u64>) -> Self {
        let before = match (exact, parks, LAST_READ.get()) {
            (false, Some(now), Some((then, switches))) if now == then => Before::Count {
                switches,
                exact: false,
            },
            _ => read_switches(parks).map_or(Before::Unknown, |switches| Before::Count {
                switches,
                exact: true,
            }),
        };
        Timing {
            before,
            parks,
            started: Instant::now(),
        }
    }

    /// The verdict on the call (on this same thread), `took` after it
    /// started; the switches are read again only when that can change it.
    fn verdict(&self, took: Duration) -> Verdict {
        if took < GRAIN {
            return Verdict::Calm;
        }
        if took >= LONG {
            return Verdict::Blocked;
        }
        match (self.before, read_switches(self.parks)) {
            (Before::Count { switches, .. }, Some(after)) if after == switches => Verdict::Ran,
            (Before::Count { exact: true, .. }, Some(_)) => Verdict::Blocked,
            (Before::Count { exact: false, .. }, _) => Verdict::Unjudged,
            (_, _) if took >= FAST => Verdict::Blocked,
            (_, _) => Verdict::Ran,
        }
    }

    /// Whether the call was fast: it did not block, and took under [`FAST`].
    fn fast(&self) -> bool {
        let took = self.started.elapsed();
        took < FAST && matches!(self.verdict(took), Verdict::Calm | Verdict::Ran)
    }
}

/// The calling thread's voluntary context switches, remembered as its last
/// count (with the loop's `parks`, when known).
fn read_switches(parks: Option<u64>) -> Option<c_long> {
    let switches = voluntary_switches()?;
    if let Some(parks) = parks {
        LAST_READ.set(Some((parks, switches)));
    }
    Some(switches)
}

/// The calling thread's voluntary context switches so far.
#[cfg(target_os = "linux")]
fn voluntary_switches() -> Option<c_long> {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_THREAD)
        .ok()
        .map(|usage| usage.voluntary_context_switches())
}

#[cfg(not(target_os = "linux"))]
fn voluntary_switches() -> Option<c_long> {
    None
}

/// How often the event loop running on this thread has parked: known for
/// a current-thread runtime (one worker, this thread), which is what
/// serves inline calls.
fn loop_parks() -> Option<u64> {
    #[cfg(target_has_atomic = "64")]
    {
        let metrics = tokio::runtime::Handle::try_current().ok()?.metrics();
        (metrics.num_workers() == 1).then(|| metrics.worker_park_count(0))
    }
    #[cfg(not(target_has_atomic = "64"))]
    None
}
/// A claim to run one call inline; [`finish`](Claim::finish) it after.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    inline: &'a Inline,
    timing: Timing,
    /// Whether the loop was watching when the call started.
    watched: bool,
    pool_was_idle: bool,
}

impl Claim<'_> {
    /// Records how the inline call went and releases the claim.
    pub(crate) fn finish(self) {
        let took = self.timing.started.elapsed();
        self.finish_after(took);
    }

    fn finish_after(self, took: Duration) {
        let inline = self.inline;
        let verdict = if self.pool_was_idle || took < GRAIN || took >= LONG {
            self.timing.verdict(took)
        } else {
            // Pool jobs run: a sleep may have been a wait for their GIL.
            Verdict::Ran
        };
        match verdict {
            Verdict::Calm | Verdict::Ran if self.watched => {
                let quiet = inline.quiet.fetch_add(1, Ordering::Relaxed) + 1;
                let needed = inline.quiet_needed.load(Ordering::Relaxed);
                if quiet >= needed {
                    inline.watching.store(false, Ordering::Relaxed);
                    inline
                        .quiet_needed
                        .store(needed.saturating_mul(BACKOFF), Ordering::Relaxed);
                    tracing::debug!(quiet, "inline calls do not block: no longer watching");
                }
            }
            Verdict::Calm | Verdict::Ran => {}
            Verdict::Unjudged => {
                inline.quiet.store(0, Ordering::Relaxed);
                inline.watching.store(true, Ordering::Relaxed);
                tracing::debug!(
                    took_us = took.as_secs_f64() * 1e6,
                    "an unwatched inline call could not be judged: watching"
                );
            }
            Verdict::Blocked => {
                inline.quiet.store(0, Ordering::Relaxed);
                if inline.on.swap(false, Ordering::Relaxed) {
                    inline.streak.store(0, Ordering::Relaxed);
                    let needed = inline
                        .needed
                        .load(Ordering::Relaxed)
                        .saturating_mul(BACKOFF);
                    inline.needed.store(needed, Ordering::Relaxed);
                    tracing::info!(
                        took_ms = took.as_secs_f64() * 1000.0,
                        next_after = needed,
                        "a call of the application blocked the event loop: running its calls on the thread pool again"
                    );
                }
            }
        }
    }
}

impl Drop for Claim<'_> {
    /// Releases the claim: only here (after `finish`'s records, so the
    /// next claim sees them), since a second release could free another
    /// loop's claim taken in between.
    fn drop(&mut self) {
        self.inline.running.store(false, Ordering::Release);
    }
}

impl Inline {
    /// The policy for one application; `allowed = false` never inlines.
    pub(crate) fn new(allowed: bool) -> Self {
        Inline {
            allowed,
            on: AtomicBool::new(false),
            running: AtomicBool::new(false),
            streak: AtomicU32::new(0),
            needed: AtomicU32::new(FIRST_STREAK),
            watching: AtomicBool::new(false),
            quiet: AtomicU32::new(0),
            quiet_needed: AtomicU32::new(FIRST_STREAK),
        }
    }

    /// A claim to run this call inline, if it may.
    pub(crate) fn claim(&self, body_pending: bool, pool_idle: bool) -> Option<Claim<'_>> {
        if !self.on.load(Ordering::Relaxed) || body_pending {
            return None;
        }
        self.claim_after(loop_parks(), pool_idle)
    }

    /// [`claim`](Self::claim) on a thread whose loop parked `parks` times.
    fn claim_after(&self, parks: Option<u64>, pool_idle: bool) -> Option<Claim<'_>> {
        self.running
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let watched = self.watching.load(Ordering::Relaxed);
        Some(Claim {
            inline: self,
            timing: Timing::start(watched, parks),
            watched,
            pool_was_idle: pool_idle,
        })
    }

    /// Starts timing a call on the pool (on the pool thread), while
    /// calls do not run inline yet.
    pub(crate) fn probe(&self) -> Option<Timing> {
        (self.allowed && !self.on.load(Ordering::Relaxed)).then(|| Timing::start(true, None))
    }

    /// Records how a call on the pool went (on the same pool thread).
    pub(crate) fn pool_call(&self, timing: Option<Timing>) {
        let Some(timing) = timing else {
            return;
        };
        if !timing.fast() {
            self.streak.store(0, Ordering::Relaxed);
            return;
        }
        let streak = self.streak.fetch_add(1, Ordering::Relaxed) + 1;
        if streak >= self.needed.load(Ordering::Relaxed) && !self.on.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                streak,
                "the application's calls return fast: running them on the event loop's thread"
            );
        }
    }

    /// Whether calls run inline now.
    #[cfg(test)]
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Whether inline calls read the switches before each call now.
    #[cfg(test)]
    fn is_watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(inline: &Inline, calls: u32) {
        for _ in 0..calls {
            let timing = inline.probe();
            inline.pool_call(timing);
        }
    }

    fn slow() -> Option<Timing> {
        Some(Timing {
            started: Instant::now() - FAST,
            before: Before::Unknown,
            parks: None,
        })
    }

    /// An application whose calls run inline.
    fn on() -> Inline {
        let inline = Inline::new(true);
        fast(&inline, FIRST_STREAK);
        assert!(inline.is_on());
        inline
    }

    /// The count before a claimed call, made to look as if the thread had
    /// slept once since it was read.
    fn slept_since(claim: &mut Claim<'_>) {
        if let Before::Count { switches, .. } = &mut claim.timing.before {
            *switches -= 1;
        }
    }

    /// `calls` calls that did not block, on a loop that parked `parks` times.
    fn quiet(inline: &Inline, calls: u32, parks: u64) {
        for i in 0..calls {
            let took = if i % 2 == 0 { Duration::ZERO } else { FAST };
            let claim = inline.claim_after(Some(parks), true).expect("inline");
            claim.finish_after(took);
        }
    }

    #[test]
    fn a_streak_of_fast_calls_turns_inline_on_and_a_blocking_one_off_with_backoff() {
        let inline = Inline::new(true);
        fast(&inline, FIRST_STREAK - 1);
        assert!(!inline.is_on());
        inline.pool_call(slow()); // a slow call restarts the streak
        fast(&inline, FIRST_STREAK - 1);
        assert!(!inline.is_on());
        fast(&inline, 1);
        assert!(inline.is_on());
        assert!(inline.probe().is_none(), "no more timing on the pool");
        assert!(inline.claim(true, true).is_none(), "a body to read");
        let mut claim = inline.claim(false, false).expect("inline");
        claim.timing.before = Before::Count {
            switches: -1, // it waited (for the GIL)
            exact: true,
        };
        claim.finish_after(LONG - Duration::from_micros(1));
        assert!(inline.is_on(), "the busy pool held the GIL, perhaps");
        let claim = inline.claim(false, true).expect("inline");
        assert!(inline.claim(false, true).is_none(), "one at a time");
        claim.finish();
        assert!(inline.is_on(), "a fast inline call keeps it on");
        inline
            .claim(false, true)
            .expect("inline")
            .finish_after(LONG);
        assert!(!inline.is_on(), "a long call blocks, unwatched");
        fast(&inline, FIRST_STREAK * BACKOFF - 1);
        assert!(!inline.is_on(), "the streak needed grew");
        fast(&inline, 1);
        assert!(inline.is_on());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn unwatched_calls_read_the_switches_only_after_the_loop_parked() {
        let inline = on();
        let first = inline.claim_after(Some(7), true).expect("inline");
        let Before::Count { switches, exact } = first.timing.before else {
            panic!("no count: {:?}", first.timing.before);
        };
        assert!(exact, "nothing read on this loop yet");
        first.finish_after(Duration::ZERO);
        let again = inline.claim_after(Some(7), true).expect("inline");
        let last = Before::Count {
            switches,
            exact: false,
        };
        assert_eq!(again.timing.before, last, "not parked since: no read");
        drop(again);
        let parked = inline.claim_after(Some(8), true).expect("inline");
        assert!(matches!(
            parked.timing.before,
            Before::Count { exact: true, .. }
        ));
        drop(parked);
        let unknown = inline.claim_after(None, true).expect("inline");
        assert!(
            matches!(unknown.timing.before, Before::Count { exact: true, .. }),
            "parks unknown (not a current-thread loop): read every time"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unwatched_call_is_judged_by_the_last_count_or_starts_watching() {
        let inline = on();
        quiet(&inline, 1, 3);
        inline
            .claim_after(Some(3), true)
            .expect("inline")
            .finish_after(LONG - Duration::from_micros(1));
        assert!(inline.is_on(), "the count has not moved: it did not sleep");
        assert!(!inline.is_watching());
        let mut claim = inline.claim_after(Some(3), true).expect("inline");
        slept_since(&mut claim);
        claim.finish_after(GRAIN - Duration::from_nanos(1));
        assert!(!inline.is_watching(), "back within the grain");
        let mut claim = inline.claim_after(Some(3), true).expect("inline");
        slept_since(&mut claim);
        claim.finish_after(GRAIN);
        assert!(inline.is_on(), "not judged: it passes");
        assert!(inline.is_watching());
        let mut claim = inline.claim_after(Some(3), true).expect("inline");
        assert!(matches!(
            claim.timing.before,
            Before::Count { exact: true, .. }
        ));
        slept_since(&mut claim);
        claim.finish_after(GRAIN);
        assert!(!inline.is_on(), "watched, it slept");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_quiet_streak_stops_watching_and_the_next_time_a_longer_one_is_needed() {
        let inline = on();
        let start_watching = |inline: &Inline| {
            let mut claim = inline.claim_after(Some(5), true).expect("inline");
            slept_since(&mut claim);
            claim.finish_after(FAST);
            assert!(inline.is_watching());
        };
        quiet(&inline, 1, 5);
        start_watching(&inline);
        quiet(&inline, FIRST_STREAK - 1, 5);
        assert!(inline.is_watching());
        quiet(&inline, 1, 5);
        assert!(!inline.is_watching(), "a full streak");
        assert!(matches!(
            inline
                .claim_after(Some(5), true)
                .expect("inline")
                .timing
                .before,
            Before::Count { exact: false, .. }
        ));
        start_watching(&inline);
        quiet(&inline, FIRST_STREAK * BACKOFF - 1, 5);
        assert!(inline.is_watching(), "the streak needed grew");
        quiet(&inline, 1, 5);
        assert!(!inline.is_watching());
        assert!(inline.is_on());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sleeping_past_the_grain_counts_as_blocking() {
        let timing = Timing::start(true, None);
        assert_eq!(timing.verdict(timing.started.elapsed()), Verdict::Calm);
        std::thread::sleep(GRAIN + Duration::from_micros(30));
        assert_eq!(timing.verdict(timing.started.elapsed()), Verdict::Blocked);
        assert!(!timing.fast());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn running_without_sleeping_is_not_blocking_until_long() {
        let mut timing = Timing::start(true, None);
        timing.started = Instant::now() - FAST;
        assert_eq!(timing.verdict(FAST), Verdict::Ran, "preempted, perhaps");
        assert!(!timing.fast());
        assert_eq!(timing.verdict(LONG), Verdict::Blocked);
    }

    #[test]
    fn without_a_count_taking_fast_or_longer_is_blocking() {
        let timing = Timing {
            started: Instant::now(),
            before: Before::Unknown,
            parks: None,
        };
        assert_eq!(timing.verdict(GRAIN), Verdict::Ran);
        assert_eq!(timing.verdict(FAST), Verdict::Blocked);
    }

    #[test]
    fn never_when_not_allowed() {
        let inline = Inline::new(false);
        fast(&inline, FIRST_STREAK * 2);
        assert!(inline.probe().is_none());
        assert!(inline.claim(false, true).is_none());
    }
}
