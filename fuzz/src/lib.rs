//! Helpers shared by the fuzz targets: running wsgi-core's async API to
//! completion, and the oracles the targets compare it with.

use std::future::Future;

/// Runs `future` on a current-thread runtime made once per fuzzing thread:
/// wsgi-core's forms, inputs and in-process client are async, and a runtime
/// per input would dominate the time of each run.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Whether `bytes` is an HTTP token (RFC 9110 §5.6.2), what a header name
/// must be.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `bytes` may be a header value as wsgi-core documents it: no
/// control character but horizontal tab (obs-text bytes are allowed).
pub fn is_field_value(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The hop-by-hop names `start_response` refuses (lower case).
pub fn is_hop_by_hop(lower: &str) -> bool {
    matches!(
        lower,
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "trailers"
    ) || lower.starts_with("proxy-")
}

/// Latin-1: one byte, one character (PEP 3333's native strings).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// The model of a valid WSGI status line: three digits making a final
/// status (200..=999), then nothing, or a space and a reason of visible
/// ASCII, spaces and tabs.
pub fn status_line_is_valid(line: &str) -> bool {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let code = u16::from(bytes[0] - b'0') * 100
        + u16::from(bytes[1] - b'0') * 10
        + u16::from(bytes[2] - b'0');
    if !(200..=999).contains(&code) {
        return false;
    }
    match &bytes[3..] {
        [] => true,
        [b' ', reason @ ..] => reason
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || b.is_ascii_graphic()),
        _ => false,
    }
}
