//! `Connection` (documented there): `pulsar.connection`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::task::AtomicWaker;
use tokio::runtime::Handle;

use crate::forwarded::{Forwarded, TrustedProxies};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Inner {
    id: u64,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
    /// The source address of the PROXY protocol header, once read.
    proxied: OnceLock<SocketAddr>,
    /// The client's `IP:PORT` as text (the access log's `{peer}`; its IP
    /// part is `REMOTE_ADDR`), formatted on its first use and kept for the
    /// connection's later requests.
    client_addr_text: OnceLock<Box<str>>,
    /// What the server shares with its connections; `None` outside it.
    server: Option<Arc<ServerState>>,
    served: AtomicU64,
    in_flight: AtomicUsize,
    /// How the connection's task learns that its last request ended.
    idle: IdleSignal,
    /// Set when the server shuts down: the connection ends after the
    /// requests that already arrived (see `server/timeouts.rs`).
    closing: AtomicBool,
    /// Woken by `begin_closing`, for the sockets that outlive their request
    /// (a WebSocket sends its close then).
    closing_notify: tokio::sync::Notify,
    /// The client sent the HTTP/2 preface.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    http2: AtomicBool,
    /// What runs on the connection once hyper hands it over after a `101`
    /// (see `Connection::set_upgrade`).
    upgrade: std::sync::Mutex<Option<UpgradeTask>>,
    handle: Handle,
    /// The worker's copy of the application serving this connection
    /// (`None` outside the server).
    worker: Option<Arc<WorkerMark>>,
}

/// Marks one worker's copy of the application (one per worker, renewed at
/// each `max_requests` restart): what is built "once per worker", such as a
/// [`LazyWsgi`](crate::lazy::LazyWsgi) shared by every clone of a handler, is
/// kept per mark, and dropped with its last connection.
#[derive(Debug, Default)]
pub(crate) struct WorkerMark;

/// `pulsar.connection`: the connection serving a request.
///
/// How a connection's task learns that its last request in flight ended,
/// so that its idle deadline starts (`server/timeouts.rs`).
///
/// Waking the task costs a whole extra poll of the connection (about a
/// tenth of a hello request's instructions). An HTTP/1 request usually ends
/// inside the task's own poll, when hyper drops the response body and then
/// writes the response's end to the socket, whose wrapper notices the end
/// there. So a request that ends while the task is being polled
/// ([`Connection::poll_watching_ends`]) only marks itself `unseen`, and the
/// task is woken after that poll if nothing saw it; a request that ends
/// anywhere else (an HTTP/2 stream's task, a dropped response future) wakes
/// the task at once.
struct IdleSignal {
    waker: AtomicWaker,
    /// The connection's own future is being polled.
    polling: AtomicBool,
    /// The last request ended and the socket's wrapper has not seen it.
    unseen: AtomicBool,
}

/// In pulsar, `environ['pulsar.connection']` is the protocol object serving
/// the request, and `environ['pulsar.connection']._loop` is its event loop.
/// Here a [`Connection`] carries the connection's id, its peer and local
/// addresses, the number of requests it has served, and the
/// [`tokio::runtime::Handle`] of the worker's event loop, so a handler can
/// spawn work onto the loop that serves it.
///
/// Behind a proxy it also tells where the connection really comes from:
/// [`peer_addr`](Connection::peer_addr) is always the socket's peer (the
/// proxy), [`proxied_addr`](Connection::proxied_addr) the source a PROXY
/// protocol header announced, [`is_trusted_proxy`](Connection::is_trusted_proxy)
/// whether forwarding headers are believed (see [`forwarded`](crate::forwarded));
/// and [`is_draining`](Connection::is_draining) whether the server has begun
/// to shut down.
///
/// The connection serving a request (`environ["pulsar.connection"]`).
///
/// Cheap to clone: every request on one connection shares the same value.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wsgi_core::Connection;
/// let conn = Connection::new(
///     tokio::runtime::Handle::current(),
///     Some("127.0.0.1:50000".parse().unwrap()),
///     Some("127.0.0.1:8060".parse().unwrap()),
/// );
/// assert_eq!(conn.requests_served(), 0);
/// // Outside the server: no PROXY header, no trusted proxy, no shutdown.
/// assert_eq!(conn.client_addr(), conn.peer_addr());
/// assert_eq!(conn.proxied_addr(), None);
/// assert!(!conn.is_trusted_proxy() && !conn.is_draining());
/// conn.handle().spawn(async { /* runs on the connection's event loop */ });
/// # }
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl Connection {
    /// Describes a connection served on the event loop `handle`. The server
    /// makes one per accepted socket; tower users may insert one into a
    /// request's extensions to provide `REMOTE_ADDR` and friends.
    pub fn new(handle: Handle, peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        Connection::build(handle, peer, local, false, None, None)
    }

    pub(crate) fn build(
        handle: Handle,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
        tls: bool,
        server: Option<Arc<ServerState>>,
        worker: Option<Arc<WorkerMark>>,
    ) -> Self {
        Connection {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                local,
                tls,
                proxied: OnceLock::new(),
                client_addr_text: OnceLock::new(),
                server,
                served: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                idle: IdleSignal {
                    waker: AtomicWaker::new(),
                    polling: AtomicBool::new(false),
                    unseen: AtomicBool::new(false),
                },
                closing: AtomicBool::new(false),
                closing_notify: tokio::sync::Notify::new(),
                http2: AtomicBool::new(false),
                upgrade: std::sync::Mutex::new(None),
                handle,
                worker,
            }),
        }
    }

    /// The worker copy of the application serving this connection.
    pub(crate) fn worker(&self) -> Option<&Arc<WorkerMark>> {
        self.inner.worker.as_ref()
    }

    /// A process-unique id for this connection.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The address of the socket's peer: the client, or the proxy in front
    /// of the server (`None` over a Unix socket). `REMOTE_ADDR` is
    /// [`client_addr`](Self::client_addr), or what a trusted proxy's
    /// headers say.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// The source address a PROXY protocol header announced (with the
    /// `proxy_protocol` setting; `None` for its `LOCAL`/`UNKNOWN` forms).
    pub fn proxied_addr(&self) -> Option<SocketAddr> {
        self.inner.proxied.get().copied()
    }

    /// The connection's client as far as the connection tells:
    /// [`proxied_addr`](Self::proxied_addr), else
    /// [`peer_addr`](Self::peer_addr). Forwarding headers are believed
    /// only when this is a trusted proxy.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.proxied_addr().or(self.inner.peer)
    }

    /// [`client_addr`](Self::client_addr)'s IP address as text: the IP
    /// part of [`client_addr_text`](Self::client_addr_text) (`::1`, not
    /// `[::1]`, and without an IPv6 scope, as `IpAddr` writes it).
    pub(crate) fn client_ip_text(&self) -> Option<&str> {
        let text = self.client_addr_text()?;
        let port = text.rfind(':').unwrap_or(text.len());
        Some(match text[..port].strip_prefix('[') {
            Some(v6) => v6.trim_end_matches(']').split('%').next().unwrap_or(v6),
            None => &text[..port],
        })
    }

    /// [`client_addr`](Self::client_addr)'s port as text: the part of
    /// [`client_addr_text`](Self::client_addr_text) after its last colon.
    pub(crate) fn client_port_text(&self) -> Option<&str> {
        let text = self.client_addr_text()?;
        Some(&text[text.rfind(':')? + 1..])
    }

    /// [`client_addr`](Self::client_addr) as `IP:PORT` text, formatted
    /// once per connection: the PROXY protocol header, which may change
    /// the client address, is read before the first request.
    pub(crate) fn client_addr_text(&self) -> Option<&str> {
        let addr = self.client_addr()?;
        Some(
            self.inner
                .client_addr_text
                .get_or_init(|| addr.to_string().into_boxed_str()),
        )
    }

    /// Whether [`client_addr`](Self::client_addr) is in the
    /// `forwarded_allow_ips` setting, so that its forwarding headers are
    /// believed (a Unix-socket connection is trusted unless the setting is
    /// empty). Always false outside the server.
    pub fn is_trusted_proxy(&self) -> bool {
        let Some(server) = &self.inner.server else {
            return false;
        };
        match self.client_addr() {
            Some(addr) => server.proxies.trusts(addr.ip()),
            None => !server.proxies.is_empty(),
        }
    }

    /// Whether the server serving this connection has begun to shut down
    /// (it may still serve for `shutdown_drain`); readiness probes answer
    /// 503 then (see [`HealthCheck`](crate::middleware::HealthCheck)).
    /// Always false outside the server.
    pub fn is_draining(&self) -> bool {
        self.inner
            .server
            .as_ref()
            .is_some_and(|server| server.draining.load(Ordering::Acquire))
    }

    /// Records the PROXY protocol header's source (once, before serving).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn set_proxied_addr(&self, addr: SocketAddr) {
        let _ = self.inner.proxied.set(addr);
    }

    /// What a trusted proxy's forwarding headers say, if the client is one
    /// and sent any.
    /// `forwarding`: whether a forwarding header is present, when the
    /// caller already knows (else the headers are searched).
    pub(crate) fn forwarded(
        &self,
        headers: &http::HeaderMap,
        forwarding: Option<bool>,
    ) -> Option<Forwarded> {
        let server = self.inner.server.as_ref()?;
        let forwarding = forwarding.unwrap_or_else(|| crate::forwarded::any_header(headers));
        if !forwarding || !self.is_trusted_proxy() {
            return None;
        }
        let forwarded = Forwarded::from_headers(headers, &server.proxies);
        (!forwarded.is_empty()).then_some(forwarded)
    }

    /// The server's address the client connected to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local
    }

    /// Whether the connection is encrypted (TLS).
    pub fn is_tls(&self) -> bool {
        self.inner.tls
    }

    /// How many requests this connection has started, this one included.
    pub fn requests_served(&self) -> u64 {
        self.inner.served.load(Ordering::Relaxed)
    }

    /// The handle of the event loop serving this connection (pulsar's
    /// `connection._loop`).
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// Counts a new request on this connection; it stays in flight until
    /// the returned guard (kept with its response body) is dropped.
    pub(crate) fn start_request(&self) -> InFlight {
        self.inner.served.fetch_add(1, Ordering::Relaxed);
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Requests started and not yet finished.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Registers the task to wake when the last request in flight ends
    /// outside [`poll_watching_ends`](Self::poll_watching_ends).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn wake_when_idle(&self, waker: &std::task::Waker) {
        self.inner.idle.waker.register(waker);
    }

    /// Called by the socket wrapper (`server/timeouts.rs`) before it reads
    /// [`in_flight`](Self::in_flight): it is about to see any request that
    /// ended, so the task need not be woken for it.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn seeing_ends(&self) {
        let unseen = &self.inner.idle.unseen;
        // A plain load first: the swap is a locked instruction, and nearly
        // every call finds nothing to clear.
        if unseen.load(Ordering::Relaxed) {
            unseen.swap(false, Ordering::SeqCst);
        }
    }

    /// Polls the connection's own future (hyper's HTTP/1 connection). A
    /// request that ends during this poll does not wake the task: the
    /// socket's next write or read in the same poll sees it (hyper writes
    /// the end of a response after dropping its body). Only if none did is
    /// the task woken, once this poll is over. See [`IdleSignal`].
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn poll_watching_ends<F: std::future::Future>(
        &self,
        future: std::pin::Pin<&mut F>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let idle = &self.inner.idle;
        idle.polling.store(true, Ordering::Relaxed);
        let polled = future.poll(cx);
        // Pairs with `InFlight::drop`: either that drop sees `polling`
        // false and wakes the task itself, or this sees its `unseen`.
        idle.polling.store(false, Ordering::SeqCst);
        if idle.unseen.load(Ordering::SeqCst) && idle.unseen.swap(false, Ordering::SeqCst) {
            cx.waker().wake_by_ref();
        }
        polled
    }

    /// Marks the connection as ending: the server is shutting down.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn begin_closing(&self) {
        self.inner.closing.store(true, Ordering::Release);
        self.inner.closing_notify.notify_waiters();
    }

    /// Resolves once the server is ending this connection (never outside
    /// the server).
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) async fn closing(&self) {
        loop {
            let notified = self.inner.closing_notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `begin_closing` in
            // between is not missed.
            notified.as_mut().enable();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// Whether the server serving this connection runs what
    /// [`set_upgrade`](Self::set_upgrade) gives it (else the caller spawns
    /// it).
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn is_served(&self) -> bool {
        self.inner.server.is_some()
    }

    /// Gives the server the task to run on this connection once hyper has
    /// switched protocols: it then runs within the connection's own task,
    /// so `max_connections`, the graceful shutdown and the
    /// `connection_lost` hook count it as the connection it is. A later
    /// upgrade replaces an earlier one whose `101` never went out.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn set_upgrade(&self, task: UpgradeTask) {
        let mut slot = self
            .inner
            .upgrade
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(task);
    }

    /// The task [`set_upgrade`](Self::set_upgrade) gave, if any.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn take_upgrade(&self) -> Option<UpgradeTask> {
        self.inner
            .upgrade
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Keeps the connection busy, as a request in flight does (no idle or
    /// head deadline in `server/timeouts.rs`), without counting a request:
    /// held by a socket that outlives its request.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn hold(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Whether the server is ending this connection.
    pub(crate) fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Records that the client speaks HTTP/2 on this connection.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn mark_http2(&self) {
        self.inner.http2.store(true, Ordering::Relaxed);
    }

    /// Whether the client speaks HTTP/2 on this connection.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn is_http2(&self) -> bool {
        self.inner.http2.load(Ordering::Relaxed)
    }
}

/// What runs on a connection after it switched protocols (a WebSocket).
pub(crate) type UpgradeTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What a server shares with all its connections.
#[derive(Debug, Default)]
pub(crate) struct ServerState {
    /// `forwarded_allow_ips`, parsed.
    pub(crate) proxies: TrustedProxies,
    /// Set when a shutdown begins.
    pub(crate) draining: AtomicBool,
}

/// A request in flight on a connection; dropping it (with the response
/// body, or with the unfinished response future) ends the request.
#[derive(Debug)]
pub(crate) struct InFlight(Connection);

impl InFlight {
    /// Whether the server is ending the request's connection.
    pub(crate) fn connection_closing(&self) -> bool {
        self.0.is_closing()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.inner.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let idle = &self.0.inner.idle;
            idle.unseen.store(true, Ordering::SeqCst);
            if !idle.polling.load(Ordering::SeqCst) {
                idle.waker.wake();
            }
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("local", &self.inner.local)
            .field("proxied", &self.proxied_addr())
            .field("tls", &self.inner.tls)
            .field("requests_served", &self.requests_served())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_client_ip_text_is_the_ip_part_of_the_address_text() {
        for (addr, peer, ip) in [
            ("203.0.113.7:4321", "203.0.113.7:4321", "203.0.113.7"),
            ("[::1]:80", "[::1]:80", "::1"),
            ("[fe80::1%3]:80", "[fe80::1%3]:80", "fe80::1"),
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let connection = Connection::new(Handle::current(), Some(addr), None);
            assert_eq!(connection.client_addr_text(), Some(peer));
            assert_eq!(connection.client_ip_text(), Some(ip));
            assert_eq!(ip, addr.ip().to_string(), "REMOTE_ADDR as before");
        }
        let unknown = Connection::new(Handle::current(), None, None);
        assert_eq!(unknown.client_ip_text(), None);
    }
}
