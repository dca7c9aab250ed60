//! Listening sockets: TCP (one per worker with `SO_REUSEPORT` where the
//! kernel balances connections across them, else one shared by all
//! workers), Unix-domain sockets, and sockets inherited through socket
//! activation (shared by all workers).

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use socket2::{Domain, Socket, Type};

use super::ServerError;
use crate::config::BindAddr;

/// An address the server listens on, as [`ServerHandle::local_addrs`]
/// reports it (with the real port when the configured one was 0).
///
/// [`ServerHandle::local_addrs`]: super::ServerHandle::local_addrs
///
/// ```
/// use wsgi_core::server::BoundAddr;
///
/// let addr = BoundAddr::Tcp("127.0.0.1:8060".parse().unwrap());
/// assert_eq!(addr.to_string(), "http://127.0.0.1:8060");
/// assert_eq!(BoundAddr::Unix("/run/app.sock".into()).to_string(), "unix:/run/app.sock");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoundAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix-domain socket's path.
    Unix(PathBuf),
}

impl BoundAddr {
    /// The TCP address, if this is one.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            BoundAddr::Tcp(addr) => Some(*addr),
            BoundAddr::Unix(_) => None,
        }
    }
}

impl fmt::Display for BoundAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundAddr::Tcp(addr) => write!(f, "http://{addr}"),
            BoundAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound, listening socket not yet registered with an event loop.
#[derive(Debug)]
pub(crate) enum StdListener {
    Tcp(std::net::TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
}

impl StdListener {
    /// Registers the socket with the current event loop.
    pub(crate) fn into_tokio(self) -> io::Result<Listener> {
        Ok(match self {
            StdListener::Tcp(l) => Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
            #[cfg(unix)]
            StdListener::Unix(l) => Listener::Unix(tokio::net::UnixListener::from_std(l)?),
        })
    }

    fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            StdListener::Tcp(l) => StdListener::Tcp(l.try_clone()?),
            #[cfg(unix)]
            StdListener::Unix(l) => StdListener::Unix(l.try_clone()?),
        })
    }
}

/// A listening socket on a worker's event loop.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(tokio::net::TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

/// An accepted connection.
pub(crate) enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl Listener {
    pub(crate) async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer)),
            #[cfg(unix)]
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        }
    }
}

/// One configured address, bound once per worker (or once and shared).
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) addr: BoundAddr,
    /// One socket per worker, in worker order.
    pub(crate) sockets: Vec<StdListener>,
    /// Whether the server made the socket (and removes a Unix socket's
    /// file when it stops); inherited sockets belong to their parent.
    pub(crate) owned: bool,
}

/// Whether the kernel spreads connections across `SO_REUSEPORT` sockets
/// (Linux does; BSDs and macOS give them all to one socket, so a shared
/// socket balances better there).
const BALANCED_REUSEPORT: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Binds every configured address, `count` sockets each; or, under socket
/// activation without any `fd://N` address, serves every inherited socket
/// instead.
pub(crate) fn bind_all(
    binds: &[BindAddr],
    backlog: u32,
    count: usize,
) -> Result<Vec<Bound>, ServerError> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    // Reads LISTEN_FDS and LISTEN_PID (ignored unless it is this process)
    // and removes both, so child processes do not take the sockets too.
    let mut inherited = listenfd::ListenFd::from_env();
    if inherited.len() > 0 && !binds.iter().any(|bind| matches!(bind, BindAddr::Fd(_))) {
        tracing::info!(
            "socket activation: serving the {} inherited socket(s) instead of `bind`",
            inherited.len()
        );
        return (0..inherited.len())
            .map(|index| {
                take_inherited(&mut inherited, index, count).map_err(|source| ServerError::Bind {
                    addr: format!("fd://{}", index + FIRST_FD),
                    source,
                })
            })
            .collect();
    }
    binds
        .iter()
        .map(|bind| {
            let error = |source| ServerError::Bind {
                addr: bind.to_string(),
                source,
            };
            match bind {
                BindAddr::Fd(fd) => {
                    let index = usize::try_from(*fd)
                        .ok()
                        .and_then(|fd| fd.checked_sub(FIRST_FD))
                        .unwrap_or(usize::MAX);
                    take_inherited(&mut inherited, index, count).map_err(error)
                }
                BindAddr::Unix(path) => bind_unix(path, backlog, count).map_err(error),
                BindAddr::Tcp { host, port } => {
                    bind_tcp((host.as_str(), *port), backlog, count).map_err(error)
                }
            }
        })
        .collect()
}

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: usize = 3;

/// The inherited listening socket at `index` (descriptor `3 + index`),
/// shared by the `count` workers.
fn take_inherited(
    inherited: &mut listenfd::ListenFd,
    index: usize,
    count: usize,
) -> io::Result<Bound> {
    let inherited_count = inherited.len();
    let missing = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no socket was inherited as descriptor {} (LISTEN_FDS={}): start the server through socket activation",
                index.saturating_add(FIRST_FD),
                inherited_count
            ),
        )
    };
    if index >= inherited_count {
        return Err(missing());
    }
    let (first, addr) = match inherited.take_tcp_listener(index) {
        Ok(Some(listener)) => {
            let addr = BoundAddr::Tcp(listener.local_addr()?);
            (StdListener::Tcp(listener), addr)
        }
        Ok(None) => return Err(missing()),
        #[cfg(unix)]
        Err(_) => match inherited.take_unix_listener(index)? {
            Some(listener) => {
                let path = listener
                    .local_addr()?
                    .as_pathname()
                    .map(PathBuf::from)
                    .unwrap_or_default();
                (StdListener::Unix(listener), BoundAddr::Unix(path))
            }
            None => return Err(missing()),
        },
        #[cfg(not(unix))]
        Err(e) => return Err(e),
    };
    match &first {
        StdListener::Tcp(l) => l.set_nonblocking(true)?,
        #[cfg(unix)]
        StdListener::Unix(l) => l.set_nonblocking(true)?,
    }
    let mut sockets = Vec::with_capacity(count);
    for _ in 1..count {
        sockets.push(first.try_clone()?);
    }
    sockets.insert(0, first);
    Ok(Bound {
        addr,
        sockets,
        owned: false,
    })
}

fn tcp_socket(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Restarting the server must not wait for old connections in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = reuse_port;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_tcp(bind: (&str, u16), backlog: i32, count: usize) -> io::Result<Bound> {
    let reuse_port = BALANCED_REUSEPORT && count > 1;
    let mut last_error = None;
    // Like `TcpListener::bind`: the first resolved address that binds.
    for addr in bind.to_socket_addrs()? {
        let first = match tcp_socket(addr, backlog, reuse_port) {
            Ok(socket) => std::net::TcpListener::from(socket),
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        // With port 0 the others must join the port the first one got.
        let local = first.local_addr()?;
        let mut sockets = vec![StdListener::Tcp(first)];
        for _ in 1..count {
            let socket = if reuse_port {
                StdListener::Tcp(tcp_socket(local, backlog, true)?.into())
            } else {
                sockets[0].try_clone()?
            };
            sockets.push(socket);
        }
        return Ok(Bound {
            addr: BoundAddr::Tcp(local),
            sockets,
            owned: true,
        });
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the host resolves to no address",
        )
    }))
}

#[cfg(unix)]
fn bind_unix(path: &Path, backlog: i32, count: usize) -> io::Result<Bound> {
    use std::os::unix::fs::FileTypeExt;

    let path = path.to_owned();
    // A socket file left by a server that died is removed; one a live
    // server answers on, or any other kind of file, is not.
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server is listening on this socket",
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(&path)?)?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    let first = StdListener::Unix(socket.into());
    let mut sockets = Vec::with_capacity(count);
    for _ in 1..count {
        sockets.push(first.try_clone()?);
    }
    sockets.insert(0, first);
    Ok(Bound {
        addr: BoundAddr::Unix(path),
        sockets,
        owned: true,
    })
}

#[cfg(not(unix))]
fn bind_unix(_path: &Path, _backlog: i32, _count: usize) -> io::Result<Bound> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Unix-domain sockets need a Unix system",
    ))
}
