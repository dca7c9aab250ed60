//! A future polled only after its own wake-up.
//!
//! `tokio::select!` polls every branch each time the task wakes. A
//! connection's task wakes several times per request, and polling its
//! shutdown signal each time (a `watch` borrow and a `Notify`
//! registration) cost about 400 instructions of a hello request, for a
//! signal that fires once in the connection's life. [`WhenWoken`] polls
//! the inner future the first time, and after that only when the inner
//! future itself asked to be woken.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

pin_project_lite::pin_project! {
    /// `inner`, polled only when it woke its waker (and the first time).
    pub(super) struct WhenWoken<F> {
        #[pin]
        inner: F,
        flag: Arc<Flag>,
        // The task's waker that `flag` forwards to, kept here to notice
        // without a lock when the task's waker changes.
        task: Option<Waker>,
    }
}

/// The waker given to the inner future: records the wake-up, then wakes
/// the task.
struct Flag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

impl<F> WhenWoken<F> {
    pub(super) fn new(inner: F) -> Self {
        WhenWoken {
            inner,
            flag: Arc::new(Flag {
                woken: AtomicBool::new(true),
                task: Mutex::new(None),
            }),
            task: None,
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !this
            .task
            .as_ref()
            .is_some_and(|task| task.will_wake(cx.waker()))
        {
            *this
                .flag
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            *this.task = Some(cx.waker().clone());
        }
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(Arc::clone(this.flag));
        this.inner.poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn polls_the_inner_future_only_after_its_wake_up() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let counted = Arc::clone(&polls);
        let mut changed = Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        });
        let stopped = WhenWoken::new(std::future::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::Relaxed);
            changed.as_mut().poll(cx)
        }));
        tokio::pin!(stopped);
        // Woken by something else many times: the inner future is polled
        // once, when first polled.
        for _ in 0..10 {
            let polled = std::future::poll_fn(|cx| Poll::Ready(stopped.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        tx.send_replace(true);
        stopped.await;
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }
}
