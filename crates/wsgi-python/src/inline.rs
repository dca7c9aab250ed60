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
//!   without the thread sleeping (on Linux the thread's voluntary context
//!   switches are counted, so a call that waited on a database, a file or
//!   `time.sleep` is told apart from one the kernel merely preempted). An
//!   application that blocks keeps running on the pool, where the GIL is
//!   released while it waits. A call back within [`GRAIN`] is not asked
//!   about: it held the loop no longer than a short computation would, and
//!   not asking saves one of the four system calls of a small inline
//!   request (see `benchmarks/CHANGES.md`).
//!
//! An inline call that still blocks (an endpoint that waits in an
//! otherwise fast application; or one that runs for [`LONG`], while the
//! loop's other connections wait) sends the calls back to the pool; each time
//! this happens, the streak of fast calls needed to run inline again is
//! multiplied by [`BACKOFF`], so an application that blocks now and then
//! stalls its loop a bounded, shrinking number of times.
//! `Options::inline = false` (`--inline=false`) keeps every call on the
//! pool.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A call returning within this time, without sleeping, does not block.
pub(crate) const FAST: Duration = Duration::from_millis(1);

/// A call returning within this time does not block, slept or not: the
/// loop waited for it no longer than for a short computation (inline calls
/// may compute for up to [`LONG`]), so its context switches are not read
/// again (a second `getrusage` per call).
pub(crate) const GRAIN: Duration = Duration::from_micros(20);

/// An inline call running this long sends the calls back to the pool
/// even when it never slept (it is preempted, or computes for that long).
pub(crate) const LONG: Duration = Duration::from_millis(50);

/// Fast calls on the pool in a row before calls run inline (at first).
pub(crate) const FIRST_STREAK: u32 = 64;

/// How much longer the streak becomes each time an inline call blocked.
pub(crate) const BACKOFF: u32 = 4;

/// Whether and when an application's calls run inline.
#[derive(Debug)]
pub(crate) struct Inline {
    allowed: bool,
    on: AtomicBool,
    /// Set while a call runs inline: one at a time per process.
    running: AtomicBool,
    streak: AtomicU32,
    needed: AtomicU32,
}

/// One call being timed: when it started, and the thread's voluntary
/// context switches then.
#[derive(Debug)]
pub(crate) struct Timing {
    started: Instant,
    switches: Option<std::ffi::c_long>,
}

impl Timing {
    fn start() -> Self {
        Timing {
            switches: voluntary_switches(),
            started: Instant::now(),
        }
    }

    /// Whether the call (on this same thread) blocked: it took [`GRAIN`]
    /// or longer and the thread slept during it, or (where that is not
    /// known) it took [`FAST`] or longer; or it ran for [`LONG`] (the
    /// loop's other connections waited that long, sleeping or not).
    fn blocked(&self) -> bool {
        self.blocked_after(self.started.elapsed())
    }

    fn blocked_after(&self, took: Duration) -> bool {
        if took < GRAIN {
            return false;
        }
        let slept = match (self.switches, voluntary_switches()) {
            (Some(before), Some(after)) => after > before,
            _ => took >= FAST,
        };
        slept || took >= LONG
    }

    /// Whether the call was fast: it did not block, and took under [`FAST`].
    fn fast(&self) -> bool {
        let took = self.started.elapsed();
        took < FAST && !self.blocked_after(took)
    }
}

/// The calling thread's voluntary context switches so far.
#[cfg(target_os = "linux")]
fn voluntary_switches() -> Option<std::ffi::c_long> {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_THREAD)
        .ok()
        .map(|usage| usage.voluntary_context_switches())
}

#[cfg(not(target_os = "linux"))]
fn voluntary_switches() -> Option<std::ffi::c_long> {
    None
}

/// A claim to run one call inline; [`finish`](Claim::finish) it after.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    inline: &'a Inline,
    timing: Timing,
    pool_was_idle: bool,
}

impl Claim<'_> {
    /// Records how the inline call went and releases the claim.
    pub(crate) fn finish(self) {
        // With pool jobs running, a short sleep may have been a wait for
        // the GIL they held (say, the queue left from before calls ran
        // inline), not the call blocking: only a [`LONG`] call counts then.
        let blocked = if self.pool_was_idle {
            self.timing.blocked()
        } else {
            self.timing.started.elapsed() >= LONG
        };
        self.inline.running.store(false, Ordering::Release);
        if blocked && self.inline.on.swap(false, Ordering::Relaxed) {
            self.inline.streak.store(0, Ordering::Relaxed);
            let needed = self
                .inline
                .needed
                .load(Ordering::Relaxed)
                .saturating_mul(BACKOFF);
            self.inline.needed.store(needed, Ordering::Relaxed);
            tracing::info!(
                took_ms = self.timing.started.elapsed().as_secs_f64() * 1000.0,
                next_after = needed,
                "a call of the application blocked the event loop: running its calls on the thread pool again"
            );
        }
    }
}

impl Drop for Claim<'_> {
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
        }
    }

    /// A claim to run this call inline, if it may.
    pub(crate) fn claim(&self, body_pending: bool, pool_idle: bool) -> Option<Claim<'_>> {
        if !self.on.load(Ordering::Relaxed) || body_pending {
            return None;
        }
        self.running
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Claim {
                inline: self,
                timing: Timing::start(),
                pool_was_idle: pool_idle,
            })
    }

    /// Starts timing a call on the pool (on the pool thread), while
    /// calls do not run inline yet.
    pub(crate) fn probe(&self) -> Option<Timing> {
        (self.allowed && !self.on.load(Ordering::Relaxed)).then(Timing::start)
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
            switches: None,
        })
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
        claim.timing.switches = Some(-1); // it waited (for the GIL)
        claim.finish();
        assert!(inline.is_on(), "the busy pool held the GIL, perhaps");
        let claim = inline.claim(false, true).expect("inline");
        assert!(inline.claim(false, true).is_none(), "one at a time");
        claim.finish();
        assert!(inline.is_on(), "a fast inline call keeps it on");
        let mut claim = inline.claim(false, true).expect("inline");
        claim.timing.started = Instant::now() - LONG;
        claim.finish();
        assert!(!inline.is_on());
        fast(&inline, FIRST_STREAK * BACKOFF - 1);
        assert!(!inline.is_on(), "the streak needed grew");
        fast(&inline, 1);
        assert!(inline.is_on());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sleeping_past_the_grain_counts_as_blocking() {
        let timing = Timing::start();
        assert!(!timing.blocked());
        std::thread::sleep(GRAIN + Duration::from_micros(30));
        assert!(timing.blocked());
        assert!(!timing.fast());
    }

    #[test]
    fn a_call_back_within_the_grain_is_fast_even_if_it_slept() {
        // As if the thread had already slept once: past the grain that is
        // blocking, within it the switches are not read at all.
        let mut timing = Timing::start();
        timing.switches = Some(-1);
        let within = GRAIN - Duration::from_nanos(1);
        assert!(!timing.blocked_after(within), "within the grain");
        assert_eq!(
            timing.blocked_after(GRAIN),
            cfg!(target_os = "linux"),
            "past it"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn running_without_sleeping_is_not_blocking_until_long() {
        let mut timing = Timing::start();
        timing.started = Instant::now() - FAST;
        assert!(!timing.blocked(), "preempted, perhaps, but not asleep");
        assert!(!timing.fast());
        timing.started = Instant::now() - LONG;
        assert!(timing.blocked());
    }

    #[test]
    fn never_when_not_allowed() {
        let inline = Inline::new(false);
        fast(&inline, FIRST_STREAK * 2);
        assert!(inline.probe().is_none());
        assert!(inline.claim(false, true).is_none());
    }
}
