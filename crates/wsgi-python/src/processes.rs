//! `--workers N` as N processes sharing the listening sockets.
//!
//! One CPython process runs one thread of Python at a time (the GIL), so
//! the command runs each worker as a process of its own, as gunicorn and
//! granian do. The parent binds every address once per worker
//! (`SO_REUSEPORT`: the kernel spreads connections evenly), then starts
//! the workers with their sockets inherited through the socket-activation
//! protocol wsgi-core already serves (`LISTEN_FDS`, with
//! `LISTEN_FDS_FIRST_FD` and no `LISTEN_PID`, which `listenfd` accepts);
//! the parent keeps every socket open, so connections wait in their
//! backlog while a worker restarts. The parent forwards SIGINT and
//! SIGTERM to the workers (each shuts down gracefully), waits for them, and
//! restarts a worker that dies on its own.
//!
//! Linux and other Unix systems only; elsewhere `workers` stay threads.

use std::ffi::OsString;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use wsgi_core::config::BindAddr;
use wsgi_core::Config;

/// Marks a worker process (its index), so it serves instead of spawning.
pub(crate) const WORKER_ENV: &str = "WSGI_RS_WORKER";

/// Whether this process is a worker started by [`supervise`].
pub(crate) fn is_worker() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// The listening sockets, bound by the parent and inherited by workers:
/// one socket of every address for each worker.
struct Listeners {
    /// `sets[worker][address]`.
    sets: Vec<Vec<Socket>>,
    addrs: Vec<String>,
    /// The Unix socket files made, removed when the workers are gone.
    unix_files: Vec<std::path::PathBuf>,
}

/// Binds every TCP address of `config` `workers` times with
/// `SO_REUSEPORT` (Linux and the BSDs), so the kernel spreads new
/// connections evenly over the workers instead of waking whichever
/// happens to wait (a worker serving inline would otherwise take far more
/// than its share, or far less). Each worker's sockets get consecutive
/// descriptors that survive `exec`; the parent keeps them all, so the
/// connections of a worker that restarts wait in its backlog. A `unix:`
/// address is bound once and shared (a duplicate descriptor per worker);
/// `fd://` ones are refused.
fn bind(config: &Config) -> io::Result<Listeners> {
    let mut sets: Vec<Vec<Socket>> = Vec::new();
    let mut resolved: Vec<SocketAddr> = Vec::new();
    let mut addrs = Vec::new();
    let mut unix_files = Vec::new();
    for _ in 0..config.workers.max(1) {
        let mut set = Vec::new();
        for (index, bind) in config.bind.iter().enumerate() {
            let not_tcp = || {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("worker processes need TCP (HOST:PORT) or unix: addresses; `{bind}` is neither: use --workers 1 for fd:// addresses"),
                )
            };
            if let BindAddr::Unix(path) = bind {
                // One socket for every worker (a duplicate descriptor
                // each): the kernel has no SO_REUSEPORT spreading for
                // Unix-domain sockets.
                let socket = match sets.first().and_then(|first| first.get(index)) {
                    Some(first) => first.try_clone()?,
                    None => {
                        addrs.push(format!("unix:{}", path.display()));
                        unix_files.push(path.clone());
                        bind_unix(path, config.backlog)?
                    }
                };
                socket.set_cloexec(false)?;
                set.push(socket);
                continue;
            }
            let BindAddr::Tcp { host, port } = bind else {
                return Err(not_tcp());
            };
            // Later workers bind where the first did (its real port when
            // the configured one was 0).
            let addr = match resolved.get(index) {
                Some(addr) => *addr,
                None => (host.as_str(), *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(not_tcp)?,
            };
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            socket.bind(&addr.into())?;
            socket.listen(i32::try_from(config.backlog).unwrap_or(i32::MAX))?;
            socket.set_cloexec(false)?;
            if resolved.len() <= index {
                let local = socket.local_addr()?.as_socket();
                resolved.resize(index, addr);
                resolved.push(local.unwrap_or(addr));
                addrs.push(local.map_or_else(|| bind.to_string(), |a| a.to_string()));
            }
            set.push(socket);
        }
        let first = set.first().map(|s| s.as_raw_fd());
        let consecutive = set
            .iter()
            .enumerate()
            .all(|(i, s)| Some(s.as_raw_fd()) == first.map(|f| f + i as i32));
        if !consecutive {
            return Err(io::Error::other(
                "the listening sockets did not get consecutive descriptors; bind fewer addresses",
            ));
        }
        sets.push(set);
    }
    Ok(Listeners {
        sets,
        addrs,
        unix_files,
    })
}

/// Binds a Unix-domain socket at `path`, replacing a socket file that a
/// dead server left (not one a live server answers on, nor another file).
fn bind_unix(path: &std::path::Path, backlog: u32) -> io::Result<Socket> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another server is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket)
}

/// How a worker process is started.
#[derive(Debug, Clone)]
pub(crate) struct Launcher {
    /// The program and its leading arguments (the binary, or `python -c`).
    pub(crate) program: Vec<OsString>,
    /// The command's own arguments, after the program name.
    pub(crate) args: Vec<OsString>,
}

impl Launcher {
    fn spawn(&self, index: usize, listeners: &Listeners) -> io::Result<Child> {
        let (program, leading) = self
            .program
            .split_first()
            .ok_or_else(|| io::Error::other("no program to start workers with"))?;
        let set = listeners
            .sets
            .get(index)
            .ok_or_else(|| io::Error::other(format!("no sockets for worker {index}")))?;
        let first = set.first().map_or(3, |s| s.as_raw_fd());
        Command::new(program)
            .args(leading)
            .args(&self.args)
            .env(WORKER_ENV, index.to_string())
            .env("LISTEN_FDS", set.len().to_string())
            .env("LISTEN_FDS_FIRST_FD", first.to_string())
            .env_remove("LISTEN_PID")
            .spawn()
    }
}

fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Binds, runs `config.workers` worker processes and supervises them
/// until SIGINT or SIGTERM; returns the exit status.
pub(crate) fn supervise(config: &Config, launcher: &Launcher) -> i32 {
    let listeners = match bind(config) {
        Ok(listeners) => listeners,
        Err(e) => {
            let binds: Vec<String> = config.bind.iter().map(ToString::to_string).collect();
            eprintln!("error: binding {} failed: {e}", binds.join(","));
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the supervisor failed: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        use tokio::signal::unix::{signal as unix_signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            unix_signal(SignalKind::interrupt()),
            unix_signal(SignalKind::terminate()),
        ) else {
            eprintln!("error: installing the signal handlers failed");
            return 1;
        };
        let mut workers: Vec<Option<Child>> = Vec::new();
        for index in 0..config.workers {
            match launcher.spawn(index, &listeners) {
                Ok(child) => workers.push(Some(child)),
                Err(e) => {
                    eprintln!("error: starting worker {index} failed: {e}");
                    workers
                        .iter()
                        .flatten()
                        .for_each(|c| signal(c, rustix::process::Signal::TERM));
                    return 1;
                }
            }
        }
        for addr in &listeners.addrs {
            let shown = if addr.starts_with("unix:") {
                addr.clone()
            } else {
                format!("http://{addr}")
            };
            println!("listening on {shown} ({} worker processes)", config.workers);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                _ = tick.tick() => {
                    for (index, slot) in workers.iter_mut().enumerate() {
                        let exited = slot.as_mut().and_then(|c| c.try_wait().ok().flatten());
                        if let Some(status) = exited {
                            eprintln!("worker {index} exited ({status}); starting a new one");
                            *slot = launcher.spawn(index, &listeners).map_err(|e| {
                                eprintln!("error: restarting worker {index} failed: {e}");
                            }).ok();
                        }
                    }
                }
            }
        }
        // Each worker drains its in-flight requests (shutdown_timeout).
        workers
            .iter()
            .flatten()
            .for_each(|c| signal(c, rustix::process::Signal::TERM));
        let deadline = Instant::now() + config.shutdown_timeout + Duration::from_secs(5);
        let mut status = 0;
        for mut child in workers.into_iter().flatten() {
            loop {
                match child.try_wait() {
                    Ok(Some(exit)) => {
                        if !exit.success() {
                            status = 1;
                        }
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        status = 1;
                        break;
                    }
                }
            }
        }
        for path in &listeners.unix_files {
            let _ = std::fs::remove_file(path);
        }
        drop(listeners);
        status
    })
}
