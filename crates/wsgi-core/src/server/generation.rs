//! A worker's generation: the connections served by one clone of the
//! application, retired after `max_requests`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::application::Application;
use crate::config::Config;
use crate::service::WsgiService;

/// Counts a worker generation's requests against `max_requests`.
pub(super) struct RequestCounter {
    pub(super) served: AtomicU64,
    pub(super) limit: u64,
    pub(super) reached: Notify,
}

impl RequestCounter {
    pub(super) fn count(&self) {
        if self.served.fetch_add(1, Ordering::Relaxed) + 1 == self.limit {
            // `notify_one` keeps the wake-up if the worker is not waiting yet.
            self.reached.notify_one();
        }
    }
}

/// The connections served by one clone of the application. A worker
/// starts a new generation after `max_requests`.
pub(super) struct Generation<A> {
    pub(super) service: WsgiService<A>,
    // Tells the generation's connections to finish (see `Serving::run`).
    pub(super) stop: watch::Sender<bool>,
    // Connection tasks, so those still open when the shutdown timeout ends
    // can be cancelled (with `workers = 0` the runtime outlives the server).
    pub(super) connections: JoinSet<()>,
    pub(super) counter: Option<Arc<RequestCounter>>,
    /// Given to the generation's connections: what is built once per
    /// worker copy of the application is keyed by it (`LazyWsgi`).
    pub(super) mark: Arc<crate::connection::WorkerMark>,
}

impl<A: Application> Generation<A> {
    pub(super) fn new(app: A, config: &Arc<Config>) -> Self {
        Generation {
            service: WsgiService::from_shared(Arc::new(app), Arc::clone(config)),
            stop: watch::Sender::new(false),
            connections: JoinSet::new(),
            counter: (config.max_requests > 0).then(|| {
                Arc::new(RequestCounter {
                    served: AtomicU64::new(0),
                    limit: config.max_requests,
                    reached: Notify::new(),
                })
            }),
            mark: Arc::default(),
        }
    }

    /// Resolves when this generation has served `max_requests`.
    pub(super) async fn exhausted(&self) {
        match &self.counter {
            Some(counter) => counter.reached.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Lets in-flight requests finish (up to `timeout`), closing idle
    /// connections, then cancels what is left.
    pub(super) fn drain(self, timeout: Duration) -> impl std::future::Future<Output = ()> + Send {
        let Generation {
            stop,
            mut connections,
            ..
        } = self;
        async move {
            stop.send_replace(true);
            let finished = tokio::time::timeout(timeout, async {
                while connections.join_next().await.is_some() {}
            })
            .await;
            if finished.is_err() {
                tracing::warn!(
                    "shutdown timeout of {timeout:?} reached; closing {} remaining connection(s)",
                    connections.len()
                );
            }
            connections.shutdown().await;
        }
    }
}
