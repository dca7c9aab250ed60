//! The settings, one entry each: the `Config` struct, its defaults, names,
//! getter and the table the command line, environment and file use are
//! generated from these entries by `declare.rs`.

use super::*;

// One entry per setting: its field docs, type, default, value name and
// `--help` line. `declare.rs` turns them into the `Config` struct, its
// `Default`, `SETTINGS`, `get`, and the table the flags, `WSGI_*`
// variables, `--help` and the file's keys are built from; the type's
// `SettingValue` (values.rs) parses and shows the value.
settings! {
    /// Addresses to listen on: `HOST:PORT` (port 0 picks a free port),
    /// `unix:PATH` (a Unix-domain socket), or `fd://N`: the listening
    /// socket inherited as descriptor `N` through socket activation
    /// (`LISTEN_FDS`, see [`server`](crate::server)). Default
    /// `["127.0.0.1:8060"]`, like pulsar.
    bind: Vec<BindAddr> = vec![BindAddr::default()],
        "ADDRESS", "Address to listen on, HOST:PORT, unix:PATH or fd://N; repeat for several";
    /// Worker event loops, each on its own thread with its own clone of the
    /// application. `0` runs on the caller's tokio runtime. Default: the
    /// number of cores available to the process
    /// (`std::thread::available_parallelism`, as tokio's multi-thread
    /// runtime sizes itself), 1 if that is unknown. One worker serves only
    /// as much as one core can.
    workers: usize = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        "N", "Worker event loops (default: the available cores); 0 = the caller's runtime";
    /// Length of each listening socket's queue of connections not yet
    /// accepted. Default 2048.
    backlog: u32 = 2048, "N", "Queue length of each listening socket";
    /// Most connections one worker serves at once; more wait in the
    /// backlog until one closes. `0` means no limit. Default 0.
    max_connections: usize = 0, "N", "Most connections served at once per worker; 0 = no limit";
    /// Requests after which a worker stops accepting, finishes what it
    /// serves and starts again with a fresh clone of the application (to
    /// bound leaks). `0` means never. Default 0.
    max_requests: u64 = 0, "N", "Requests after which a worker restarts with a fresh app; 0 = never";
    /// How long an idle keep-alive connection waits for its next request.
    /// Default 15 s. Zero disables keep-alive.
    http_keep_alive: Duration = Duration::from_secs(15),
        "SECONDS", "Idle keep-alive timeout in seconds; 0 disables keep-alive";
    /// How long the application may take to answer, and then to produce
    /// each item of its body (each await, as pulsar bounds them); a miss is
    /// a 504 before the head is sent and an aborted response after. Zero
    /// disables it (endless event streams need that). Default 0.
    response_timeout: Duration = Duration::ZERO,
        "SECONDS", "Seconds the app may take to answer and for each body item; 0 = no limit";
    /// Send each write of a TCP connection at once (`TCP_NODELAY`), as
    /// nginx, Go and uvicorn do: a small response or event is never held
    /// back. Off, the kernel (Nagle's algorithm) gathers the small writes
    /// made while earlier bytes are unacknowledged into one packet: a
    /// stream of many tiny chunks then costs far fewer packets (less CPU on
    /// both ends), at the price of holding a small write until the client
    /// acknowledges (up to its delayed-ACK time, often 40 ms). Default on.
    tcp_nodelay: bool = true,
        "BOOL", "Send small writes at once (TCP_NODELAY); false lets the kernel coalesce them (--tcp-nodelay=false)";
    /// How long a client may take to send a complete request head
    /// (slowloris protection), and to finish a TLS handshake. Default 10 s.
    header_read_timeout: Duration = Duration::from_secs(10),
        "SECONDS", "Seconds allowed to send a complete request head or TLS handshake";
    /// Largest request body `wsgi.input` accepts, in bytes; a larger
    /// declared `Content-Length` is answered 413. Default 16 MiB.
    max_request_body: u64 = 16 * 1024 * 1024, "BYTES", "Largest request body in bytes";
    /// Largest request head (request line and headers), in bytes; larger
    /// gets 431. Default 64 KiB.
    max_header_size: usize = 64 * 1024, "BYTES", "Largest request head in bytes";
    /// Most request headers accepted; more gets 431. Default 100.
    max_headers: usize = 100, "N", "Most request headers";
    /// How long a graceful shutdown waits for in-flight requests (see the
    /// [graceful shutdown](crate::server#graceful-shutdown)). Default 30 s.
    shutdown_timeout: Duration = Duration::from_secs(30),
        "SECONDS", "Seconds a graceful shutdown waits for in-flight requests";
    /// How long, once a shutdown begins, the server keeps serving normally
    /// while readiness probes answer 503, before it stops accepting (the
    /// drain step of the [graceful shutdown](crate::server#graceful-shutdown)).
    /// Default 0 s.
    shutdown_drain: Duration = Duration::ZERO,
        "SECONDS", "Seconds a shutdown keeps serving while readiness reports 503, before it stops accepting";
    /// Largest WebSocket message (and frame) accepted, in bytes; a larger
    /// one closes the socket with `1009`. Default 16 MiB.
    websocket_max_message: usize = 16 * 1024 * 1024, "BYTES", "Largest WebSocket message in bytes";
    /// How long a WebSocket may stay silent: it is pinged after half of
    /// this, closed with `1001` after all of it. Zero disables both.
    /// Default 60 s.
    websocket_idle_timeout: Duration = Duration::from_secs(60),
        "SECONDS", "Seconds a WebSocket may stay silent (pinged at half); 0 = no limit";
    /// Every connection starts with a PROXY protocol header (v1 or v2, as
    /// HAProxy and cloud load balancers send), whose source address
    /// becomes the client's; a connection without a valid one, or that
    /// sends it slower than `header_read_timeout`, is closed. See
    /// [`server`](crate::server). Default off.
    proxy_protocol: bool = false,
        "BOOL", "Expect a PROXY protocol v1/v2 header on every connection (--proxy-protocol or --proxy-protocol=false)";
    /// Peers whose forwarding headers (`X-Forwarded-For`, `-Proto`,
    /// `-Host`, `-Port`, `-Ssl`, `Forwarded`) are believed: addresses,
    /// CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or `*` for all; see
    /// [`forwarded`](crate::forwarded). Default `127.0.0.1,::1`.
    forwarded_allow_ips: TrustedProxies = TrustedProxies::loopback(),
        "IPS", "Peers whose X-Forwarded-*/Forwarded headers are believed: IPs, CIDR ranges or *, comma-separated";
    /// Believe `X-Forwarded-Prefix` (else `X-Script-Name`) from the peers
    /// of `forwarded_allow_ips` as `SCRIPT_NAME`: the prefix a proxy
    /// mounts the application at; see [`forwarded`](crate::forwarded).
    /// Default off.
    forwarded_prefix: bool = false,
        "BOOL", "Believe X-Forwarded-Prefix/X-Script-Name from trusted proxies as SCRIPT_NAME (--forwarded-prefix or --forwarded-prefix=false)";
    /// Show error details (the error chain) in 500 responses. Default off.
    debug: bool = false, "BOOL", "Show error details in 500 responses (--debug or --debug=false)";
    /// `SERVER_SOFTWARE` and the `Server` header. Default `wsgi-rs/<version>`.
    server_software: ServerSoftware = ServerSoftware::default(),
        "TEXT", "SERVER_SOFTWARE and the Server header";
    /// `SCRIPT_NAME`: the URL prefix the application is mounted at; it is
    /// removed from `PATH_INFO`. A request whose path is outside it (`/other`
    /// for `/app`) is answered 404 without calling the application, since
    /// no `SCRIPT_NAME` + `PATH_INFO` split could rebuild its path. Default
    /// empty.
    script_name: String = String::new(),
        "PREFIX", "URL prefix the application is mounted at (SCRIPT_NAME)";
    /// Log filter used by [`Server::run`](crate::server::Server::run) when no
    /// `tracing` subscriber is installed (`info`, `debug`, `wsgi=trace`, ...).
    /// Default `info`.
    log_level: LogLevel = LogLevel::default(),
        "FILTER", "Log filter when no tracing subscriber is installed";
    /// Template of the access-log line; see [`access_log`](crate::access_log)
    /// for the placeholders. Default
    /// `{peer} "{method} {uri} {version}" {status} {bytes} {duration_ms}ms`.
    access_log_format: AccessLogFormat = AccessLogFormat::default(),
        "TEMPLATE", "Access-log line template with {peer} {remote_addr} {method} {uri} {path} {query} {version} {status} {bytes} {duration_ms} {outcome} {user_agent} {referer}";
    /// The secret signed and private cookies are made with: at least 32
    /// bytes (generate one with `openssl rand -base64 48`); never shown by
    /// `Debug`, [`Config::get`] or `--help`. Read it with
    /// [`cookie_key`](Self::cookie_key). Default none.
    secret_key: Option<SecretKey> = None,
        "SECRET", "Secret for signed and private cookies, at least 32 bytes (generate one with `openssl rand -base64 48`)";
    @tls {
        certfile, "PATH", "PEM certificate chain; with --keyfile, serve TLS";
        keyfile, "PATH", "PEM private key for --certfile";
    }
}
