//! Connection timeouts: idle keep-alive and request-head deadlines.
//!
//! hyper's own header timer starts as soon as it waits for a head, so on a
//! keep-alive connection it cannot tell "idle between requests" from "slowly
//! sending a head", and telling HTTP/1 from HTTP/2 (`protocol.rs`) waits for
//! the first bytes with no timer of its own. [`TimedIo`] wraps the socket and keeps both
//! deadlines itself:
//!
//! - a new connection must deliver a complete request head within
//!   `header_read_timeout`;
//! - after a response, the connection may stay idle for `http_keep_alive`;
//!   once the first byte of the next request arrives, the head must be
//!   complete within `header_read_timeout` (HTTP/1: with HTTP/2, bytes
//!   between requests may be frames of the connection's own, so it stays
//!   on the keep-alive deadline until a request is in flight);
//! - while a request is in flight (from its head until its response body
//!   ends) no deadline applies.
//!
//! A deadline that passes fails the pending read with `TimedOut`, which
//! makes hyper close the connection.
//!
//! It also ends HTTP/1 connections at shutdown, in the way the server's
//! docs describe ([graceful shutdown](super#graceful-shutdown), step 3):
//! once the connection is marked closing, a read that finds nothing while
//! no request has begun to arrive ends the stream as if the client had
//! closed it (after the connection has been idle for [`SHUTDOWN_QUIET`]),
//! and hyper closes cleanly; bytes already received are returned as usual,
//! and their request is answered with `Connection: close`
//! (`service::respond_with` adds it to responses made while closing).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::connection::Connection;

/// How long a connection must have been idle before a shutdown ends it
/// (see the module docs); at most this is added to a shutdown.
pub(crate) const SHUTDOWN_QUIET: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for, or reading, a request head: `header_read_timeout`.
    Head,
    /// Between requests: `http_keep_alive`.
    Idle,
    /// A request is in flight: no deadline.
    Busy,
}

pin_project! {
    /// A socket with the connection deadlines described in the module docs.
    #[derive(Debug)]
    pub(crate) struct TimedIo<T> {
        #[pin]
        io: T,
        deadlines: Deadlines,
    }
}

/// [`TimedIo`]'s state, apart from the socket.
#[derive(Debug)]
struct Deadlines {
    // Boxed so the wrapper stays `Unpin`, as hyper's IO must be; one
    // allocation per connection. Armed lazily (see `expired`): it may be
    // set earlier than `deadline_at`, never later.
    timer: Pin<Box<Sleep>>,
    // The waker `timer` was last polled with, while it has been neither
    // reset nor fired since: polling it again with the same waker would
    // change nothing (see `expired`).
    armed: Option<Waker>,
    // The deadline of the current phase.
    deadline_at: Instant,
    connection: Connection,
    phase: Phase,
    // No byte of the next request received yet.
    awaiting: bool,
    // The head deadline of a request whose first bytes just arrived is
    // not computed yet: it is, at the first read that then finds nothing
    // (hyper reads again at once while a head is incomplete), so a head
    // read whole costs no clock read.
    head_clock_due: bool,
    // When the connection last became idle (or was accepted).
    idle_since: Instant,
    // The deadline was moved to the end of the shutdown's quiet period.
    quieting: bool,
    seen: u64,
    keep_alive: Duration,
    header_timeout: Duration,
}

impl<T> TimedIo<T> {
    pub(crate) fn new(
        io: T,
        connection: Connection,
        keep_alive: Duration,
        header_timeout: Duration,
    ) -> Self {
        let deadline_at = Instant::now() + header_timeout;
        TimedIo {
            io,
            deadlines: Deadlines {
                timer: Box::pin(tokio::time::sleep_until(deadline_at)),
                armed: None,
                deadline_at,
                connection,
                phase: Phase::Head,
                awaiting: true,
                head_clock_due: false,
                idle_since: Instant::now(),
                quieting: false,
                seen: 0,
                keep_alive,
                header_timeout,
            },
        }
    }
}

impl Deadlines {
    /// Follows the connection's requests: busy while one is in flight, idle
    /// from the first look after the last one ended. Returns whether it
    /// became idle now.
    fn follow(&mut self) -> bool {
        // Cleared before the count is read: a request ending after the read
        // marks itself unseen again (see `Connection::poll_watching_ends`).
        self.connection.seeing_ends();
        let busy = self.connection.in_flight() > 0;
        let started = self.connection.requests_served();
        if busy {
            self.phase = Phase::Busy;
            self.seen = started;
            false
        } else if self.phase == Phase::Busy || started != self.seen {
            // A request finished since the last look: idle until the next.
            self.seen = started;
            self.phase = Phase::Idle;
            self.awaiting = true;
            self.head_clock_due = false;
            self.quieting = false;
            self.idle_since = Instant::now();
            self.deadline_at = self.idle_since + self.keep_alive;
            true
        } else {
            false
        }
    }

    /// After a write: a request that ended during this poll of the task
    /// starts the idle deadline here, without the task being woken again
    /// for it.
    fn after_write(&mut self, cx: &mut Context<'_>) {
        if self.follow() && expired(&mut self.timer, &mut self.armed, self.deadline_at, cx) {
            // Already over (a zero keep-alive): the next read says so.
            cx.waker().wake_by_ref();
        }
    }
}

impl<T: AsyncRead> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let state = this.deadlines;
        // While a request is in flight, register before reading the count,
        // so that one ending in between still wakes this task. With none
        // in flight there is nothing to wait for: requests start in this
        // task (hyper calls the service from the connection's poll), and
        // a task that then waits on a read while one is in flight (HTTP/2
        // always does) registers here first. An HTTP/1 request ends within
        // the connection's poll, which sees it (`Connection::poll_watching_ends`).
        if state.connection.in_flight() > 0 {
            state.connection.wake_when_idle(cx.waker());
        }
        state.follow();

        let before = buf.filled().len();
        let result = this.io.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            if buf.filled().len() > before {
                if state.phase != Phase::Busy {
                    state.awaiting = false;
                }
                // An HTTP/2 client's bytes between requests need not start
                // one (a `WINDOW_UPDATE`, a `PING`): its connection stays
                // idle, on the keep-alive deadline, until a request is in
                // flight.
                if state.phase == Phase::Idle && !state.connection.is_http2() {
                    state.phase = Phase::Head;
                    state.head_clock_due = true;
                }
            }
        }
        if result.is_pending() && state.phase != Phase::Busy {
            if state.head_clock_due {
                state.head_clock_due = false;
                state.deadline_at = Instant::now() + state.header_timeout;
            }
            // Shutting down, and no request has begun to arrive.
            let ending =
                state.awaiting && state.connection.is_closing() && !state.connection.is_http2();
            if ending && !state.quieting {
                state.quieting = true;
                let quiet_end = state.idle_since + SHUTDOWN_QUIET;
                if quiet_end < state.deadline_at {
                    state.deadline_at = quiet_end;
                }
            }
            if expired(&mut state.timer, &mut state.armed, state.deadline_at, cx) {
                if ending {
                    // As if the client had closed: hyper closes cleanly.
                    return Poll::Ready(Ok(()));
                }
                let what = match state.phase {
                    Phase::Idle => "keep-alive connection idle for too long",
                    _ => "request head not received in time",
                };
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
            }
        }
        result
    }
}

/// Whether `deadline` has passed, else arms `timer` to wake the task by
/// then. Re-arming a tokio timer costs as much as a small request, so
/// `timer` is moved only earlier: a later deadline (the next idle period)
/// leaves it where it is, and when it fires before the real deadline it is
/// re-armed then, about once per keep-alive period instead of twice per
/// request. Nor is it polled again while it is `armed` with the waker of
/// the task now reading (hyper's connection task, every time but after an
/// upgrade): it will wake that task when it fires, and `is_elapsed` says
/// whether it has.
fn expired(
    timer: &mut Pin<Box<Sleep>>,
    armed: &mut Option<Waker>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> bool {
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
        *armed = None;
    }
    if !timer.is_elapsed() && armed.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        return false;
    }
    while timer.as_mut().poll(cx).is_ready() {
        if Instant::now() >= deadline {
            *armed = None;
            return true;
        }
        timer.as_mut().reset(deadline);
    }
    match armed {
        Some(waker) => waker.clone_from(cx.waker()),
        None => *armed = Some(cx.waker().clone()),
    }
    false
}

impl<T: AsyncWrite> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        this.deadlines.after_write(cx);
        this.io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        this.deadlines.after_write(cx);
        this.io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        this.deadlines.after_write(cx);
        this.io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
