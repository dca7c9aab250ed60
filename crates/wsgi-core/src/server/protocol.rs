//! Which HTTP version a connection speaks, from its first bytes.
//!
//! A cleartext HTTP/2 client with prior knowledge (h2c) opens with the
//! 24-byte connection preface; anything else is HTTP/1. [`sniff`] reads
//! only as far as it takes to tell (usually one read: the first byte of an
//! HTTP/1 method already differs), and [`Rewind`] hands those bytes back to
//! the protocol's parser. Choosing here, rather than with hyper-util's
//! auto builder, lets each connection be served by hyper's own
//! `http1`/`http2` connection directly, configured with hyper's
//! HTTP/1-only settings (`max_header_size` without shrinking the write
//! buffer that batches body chunks).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Reads the first bytes of `io` until they match or leave the HTTP/2
/// preface. Returns the protocol and the bytes read, which must be replayed
/// (see [`Rewind`]). A connection that ends early is HTTP/1: hyper then
/// sees the same end.
pub(crate) async fn sniff<IO: AsyncRead + Unpin>(
    io: &mut IO,
) -> io::Result<(Protocol, [u8; 24], usize)> {
    let mut buf = [0u8; 24];
    let mut len = 0;
    while len < PREFACE.len() {
        let n = io.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok((Protocol::Http1, buf, len));
        }
        len += n;
        if buf[..len] != PREFACE[..len] {
            return Ok((Protocol::Http1, buf, len));
        }
    }
    Ok((Protocol::Http2, buf, len))
}

/// A stream whose first reads return bytes already taken from it.
#[derive(Debug)]
pub(crate) struct Rewind<T> {
    prefix: [u8; 24],
    start: usize,
    end: usize,
    io: T,
}

impl<T> Rewind<T> {
    /// `io`, with `prefix[..len]` to be read first.
    pub(crate) fn new(io: T, prefix: [u8; 24], len: usize) -> Self {
        Rewind {
            prefix,
            start: 0,
            end: len,
            io,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start < this.end {
            let n = (this.end - this.start).min(buf.remaining());
            buf.put_slice(&this.prefix[this.start..this.start + n]);
            this.start += n;
            // The rest of what arrived, in the same read: hyper grows its
            // read buffer (8 KiB to 16 KiB, kept for the connection's
            // life) when a read leaves a head unfinished, as the sniffed
            // bytes alone would. Nothing more yet, or an error (the next
            // read meets it again), still returns the prefix.
            if this.start == this.end && buf.remaining() > 0 {
                let _ = Pin::new(&mut this.io).poll_read(cx, buf);
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sniffed(bytes: &[u8]) -> (Protocol, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, bytes)
            .await
            .unwrap();
        drop(client);
        let (protocol, prefix, len) = sniff(&mut server).await.unwrap();
        let mut replayed = Vec::new();
        Rewind::new(server, prefix, len)
            .read_to_end(&mut replayed)
            .await
            .unwrap();
        (protocol, replayed)
    }

    #[tokio::test]
    async fn tells_http2_preface_from_http1_and_replays_every_byte() {
        let h2 = [&PREFACE[..], b"\0\0\0\x04"].concat();
        assert_eq!(sniffed(&h2).await, (Protocol::Http2, h2.clone()));
        let h1 = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(sniffed(h1).await, (Protocol::Http1, h1.to_vec()));
        // A prefix of the preface that stops: HTTP/1 (hyper sees the end).
        assert_eq!(
            sniffed(b"PRI * HT").await,
            (Protocol::Http1, b"PRI * HT".to_vec())
        );
        assert_eq!(sniffed(b"").await, (Protocol::Http1, Vec::new()));
    }

    #[tokio::test]
    async fn the_first_read_gives_the_sniffed_bytes_and_what_followed_them() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let request = b"GET /a/path/longer/than/the/sniffed/prefix HTTP/1.1\r\nHost: h\r\n\r\n";
        client.write_all(request).await.unwrap();
        let (protocol, prefix, len) = sniff(&mut server).await.unwrap();
        assert_eq!(protocol, Protocol::Http1);
        // Let every byte reach the server's socket before the first read.
        let mut rewind = Rewind::new(server, prefix, len);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut buf = vec![0u8; 8192];
        let n = rewind.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &request[..], "one read, the whole head");
    }
}
