//! The PROXY protocol (HAProxy's, versions 1 and 2), with the
//! `proxy_protocol` setting.
//!
//! A load balancer that forwards TCP (HAProxy in `mode tcp`, AWS NLB, ...)
//! cannot add headers to the request, so it sends one line (v1, text) or
//! block (v2, binary) with the client's address at the start of the
//! connection, before any HTTP or TLS byte. With `proxy_protocol` on,
//! every connection must start with one:
//!
//! - `PROXY TCP4`/`TCP6` and v2 `PROXY` over IPv4/IPv6: the source address
//!   becomes the connection's [`proxied_addr`](crate::Connection::proxied_addr),
//!   hence `REMOTE_ADDR`, and the address `forwarded_allow_ips` is checked
//!   against;
//! - `PROXY UNKNOWN`, v2 `LOCAL` (the balancer's own health checks) and v2
//!   over Unix sockets: the socket's peer stays the client;
//! - anything else, or a header not complete within `header_read_timeout`:
//!   the connection is closed without a response.
//!
//! Parsing is [`ppp`]'s; this module reads just enough of the stream for
//! it and hands the bytes after the header back to HTTP or TLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ppp::{v1, v2, HeaderResult, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The v2 signature; a v1 header starts with `PROXY `.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest header: v2's 16 bytes plus a 16-bit length.
const MAX_HEADER: usize = 16 + u16::MAX as usize;
/// A v1 header is at most 107 bytes, CRLF included.
const MAX_V1: usize = 107;

/// Why a connection's PROXY header was refused.
#[derive(Debug)]
pub(crate) enum ProxyHeaderError {
    Io(io::Error),
    TimedOut,
    Closed,
    Invalid(String),
}

impl std::fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyHeaderError::Io(e) => write!(f, "reading the PROXY header failed: {e}"),
            ProxyHeaderError::TimedOut => f.write_str("PROXY header not received in time"),
            ProxyHeaderError::Closed => f.write_str("connection closed before its PROXY header"),
            ProxyHeaderError::Invalid(why) => write!(f, "invalid PROXY header: {why}"),
        }
    }
}

/// What the header announced, as `Ok(source)`; `None` for the forms that
/// carry no client address.
fn parse(buf: &[u8]) -> Option<Result<(usize, Option<SocketAddr>), String>> {
    let v2 = buf.starts_with(V2_SIGNATURE) || V2_SIGNATURE.starts_with(buf);
    if !v2 && !b"PROXY ".starts_with(&buf[..buf.len().min(6)]) {
        return Some(Err("the connection does not start with `PROXY `".into()));
    }
    // v2's fixed part is 16 bytes; a v1 line ends with a newline.
    if buf.len() < 16 && (v2 || !buf.contains(&b'\n')) {
        return None;
    }
    let header = HeaderResult::parse(buf);
    if header.is_incomplete() {
        if v2 {
            return None;
        }
        // ppp calls a v1 line with missing fields incomplete even once its
        // newline arrived; nothing more can complete it.
        if buf.contains(&b'\n') {
            return Some(Err("a v1 header with missing fields".into()));
        }
        if buf.len() >= MAX_V1 {
            return Some(Err("a v1 header is longer than 107 bytes".into()));
        }
        return None;
    }
    Some(match header {
        HeaderResult::V1(Ok(header)) => {
            let source = match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            Ok((header.header.len(), source))
        }
        HeaderResult::V2(Ok(header)) => {
            let source = match (header.command, header.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                _ => None,
            };
            Ok((header.len(), source))
        }
        HeaderResult::V1(Err(e)) => Err(e.to_string()),
        HeaderResult::V2(Err(e)) => Err(e.to_string()),
    })
}

/// Reads the PROXY header from the start of `io` (within `timeout`);
/// returns its source address and the stream with the bytes read past the
/// header put back in front.
pub(crate) async fn accept<IO>(
    mut io: IO,
    timeout: Duration,
) -> Result<(Option<SocketAddr>, Rewind<IO>), ProxyHeaderError>
where
    IO: AsyncRead + Unpin,
{
    let read = async {
        let mut buf = BytesMut::with_capacity(256);
        loop {
            if io.read_buf(&mut buf).await.map_err(ProxyHeaderError::Io)? == 0 {
                return Err(ProxyHeaderError::Closed);
            }
            match parse(&buf) {
                None if buf.len() < MAX_HEADER => continue,
                None => return Err(ProxyHeaderError::Invalid("too long".into())),
                Some(Err(why)) => return Err(ProxyHeaderError::Invalid(why)),
                Some(Ok((length, source))) => {
                    buf.advance(length);
                    return Ok((source, buf.freeze()));
                }
            }
        }
    };
    let (source, rest) = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ProxyHeaderError::TimedOut)??;
    Ok((source, Rewind { prefix: rest, io }))
}

/// A stream whose first bytes were already read: they are read again first.
#[derive(Debug)]
pub(crate) struct Rewind<IO> {
    prefix: Bytes,
    io: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    async fn run(input: &[u8]) -> Result<(Option<SocketAddr>, Vec<u8>), ProxyHeaderError> {
        let (mut client, server) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut client, input)
            .await
            .unwrap();
        drop(client);
        let (source, mut rest) = accept(server, Duration::from_secs(1)).await?;
        let mut after = Vec::new();
        rest.read_to_end(&mut after).await.unwrap();
        Ok((source, after))
    }

    #[tokio::test]
    async fn v1_forms() {
        let (source, rest) = run(b"PROXY TCP4 192.0.2.1 198.51.100.2 4711 443\r\nGET /")
            .await
            .unwrap();
        assert_eq!(source, Some("192.0.2.1:4711".parse().unwrap()));
        assert_eq!(rest, b"GET /");
        let (source, _) = run(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n")
            .await
            .unwrap();
        assert_eq!(source, Some("[2001:db8::1]:1".parse().unwrap()));
        let (source, rest) = run(b"PROXY UNKNOWN\r\nX").await.unwrap();
        assert_eq!((source, rest), (None, b"X".to_vec()));
    }

    #[tokio::test]
    async fn v2_forms() {
        let mut addresses = vec![192, 0, 2, 1, 198, 51, 100, 2];
        addresses.extend_from_slice(&4711u16.to_be_bytes());
        addresses.extend_from_slice(&443u16.to_be_bytes());
        let mut input = v2(1, 0x11, &addresses);
        input.extend_from_slice(b"\x16\x03\x01");
        let (source, rest) = run(&input).await.unwrap();
        assert_eq!(source, Some("192.0.2.1:4711".parse().unwrap()));
        assert_eq!(rest, b"\x16\x03\x01");
        let mut addresses = [0u8; 36];
        addresses[15] = 1;
        addresses[32..34].copy_from_slice(&9u16.to_be_bytes());
        let (source, _) = run(&v2(1, 0x21, &addresses)).await.unwrap();
        assert_eq!(source, Some("[::1]:9".parse().unwrap()));
        let (source, rest) = run(&v2(0, 0x00, &[])).await.unwrap();
        assert_eq!((source, rest), (None, Vec::new()), "LOCAL");
    }

    #[tokio::test]
    async fn refused() {
        for input in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"PROXY TCP4 1.2.3.4\r\nGET / HTTP/1.1\r\n\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x2f\x11\x00\x0cGET / HTTP/1.1\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x02GET / HTTP/1.1\r\n",
            b"PROXY TCP4 999.0.0.1 1.2.3.4 1 2\r\n",
            b"PROXY",
            b"",
            &[b'P'; 200],
        ] {
            assert!(
                run(input).await.is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // Refused from the bytes alone, without waiting for more.
        for input in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 1.2.3.4\r\nGET",
            b"\r\n\r\n\0\r\nQUIT\n\x2f\x11\x00\x0cGET / HTTP/1.1\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x02GET / HTTP/1.1\r\n",
            b"X",
        ] {
            assert!(
                matches!(parse(input), Some(Err(_))),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        for partial in [&b"PROX"[..], b"PROXY TCP4 1.2.3.4 ", b"\r\n\r\n\0\r\nQU"] {
            assert!(parse(partial).is_none(), "{partial:?} may still complete");
        }
        let (_client, server) = tokio::io::duplex(64);
        let slow = accept(server, Duration::from_millis(20)).await;
        assert!(matches!(slow, Err(ProxyHeaderError::TimedOut)));
    }
}
