//! The pieces an access line is made of, written without `fmt`: short
//! texts kept in fixed blocks, numbers and IPv4 addresses in decimal.

use std::time::Duration;

/// Up to `N` bytes of text in a block of exactly `N`.
///
/// [`put`](Self::put) appends the whole block, then cuts the line back
/// to the text's length: a copy of a known size is a few moves, where a
/// copy of a length known only at run time is a `memcpy` call, which
/// costs more than the short texts of a line (`" "`, `GET`, `200`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Block<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

/// A template's text between two fields, or a method's name.
pub(super) type Short = Block<16>;

impl<const N: usize> Block<N> {
    /// `text` in a block, or `None` when it is longer than `N`.
    pub(super) const fn new(text: &[u8]) -> Option<Self> {
        if text.len() > N || text.len() > u8::MAX as usize {
            return None;
        }
        let mut bytes = [0u8; N];
        let mut i = 0;
        while i < text.len() {
            bytes[i] = text[i];
            i += 1;
        }
        Some(Block {
            bytes,
            len: text.len() as u8,
        })
    }

    /// The text.
    #[cfg(test)]
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Appends the text to `out`.
    #[inline]
    pub(super) fn put(&self, out: &mut Vec<u8>) {
        let end = out.len() + usize::from(self.len);
        out.extend_from_slice(&self.bytes);
        out.truncate(end);
    }
}

/// A block from a text known at compile time to fit.
const fn known<const N: usize>(text: &[u8]) -> Block<N> {
    match Block::new(text) {
        Some(block) => block,
        None => panic!("text longer than its block"),
    }
}

/// The common methods' names as blocks (others are copied from the
/// method).
pub(super) fn method(method: &http::Method) -> Option<Short> {
    const GET: Short = known(b"GET");
    const POST: Short = known(b"POST");
    const HEAD: Short = known(b"HEAD");
    if *method == http::Method::GET {
        Some(GET)
    } else if *method == http::Method::POST {
        Some(POST)
    } else if *method == http::Method::HEAD {
        Some(HEAD)
    } else {
        None
    }
}

/// `HTTP/1.1` and the others, as blocks.
pub(super) fn version(version: http::Version) -> Short {
    use http::Version;
    const V09: Short = known(b"HTTP/0.9");
    const V10: Short = known(b"HTTP/1.0");
    const V11: Short = known(b"HTTP/1.1");
    const V2: Short = known(b"HTTP/2");
    const V3: Short = known(b"HTTP/3");
    match version {
        Version::HTTP_09 => V09,
        Version::HTTP_10 => V10,
        Version::HTTP_2 => V2,
        Version::HTTP_3 => V3,
        _ => V11,
    }
}

/// A status code (100 to 999, as `StatusCode` holds) in three digits.
pub(super) fn status(code: u16) -> Block<4> {
    let digit = |value: u16| b'0' + (value % 10) as u8;
    Block {
        bytes: [digit(code / 100), digit(code / 10), digit(code), 0],
        len: 3,
    }
}

/// Writes `value` in decimal at the start of `bytes` (which must have
/// room for its digits); returns how many there are.
fn decimal_into(bytes: &mut [u8], value: u64) -> usize {
    let len = value.checked_ilog10().map_or(1, |log| log as usize + 1);
    let mut rest = value;
    for digit in bytes[..len].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    len
}

/// `value` in decimal, as `Display` writes it.
pub(super) fn decimal(value: u64) -> Block<24> {
    let mut bytes = [0u8; 24];
    let len = decimal_into(&mut bytes, value) as u8;
    Block { bytes, len }
}

/// `elapsed` in milliseconds with three decimals (rounded to the
/// microsecond), as `{:.3}` writes them.
pub(super) fn milliseconds(elapsed: Duration) -> Block<32> {
    // In `u64` (a `u128` division is a library call): 584,000 years.
    let micros = elapsed.as_secs() * 1_000_000 + u64::from(elapsed.subsec_nanos() + 500) / 1000;
    let mut bytes = [0u8; 32];
    let at = decimal_into(&mut bytes, micros / 1000);
    let fraction = micros % 1000;
    bytes[at] = b'.';
    bytes[at + 1] = b'0' + (fraction / 100) as u8;
    bytes[at + 2] = b'0' + (fraction / 10 % 10) as u8;
    bytes[at + 3] = b'0' + (fraction % 10) as u8;
    Block {
        bytes,
        len: (at + 4) as u8,
    }
}

/// An IPv4 address, as `Ipv4Addr`'s `Display` writes it.
pub(super) fn ipv4(octets: [u8; 4]) -> Block<16> {
    let mut bytes = [0u8; 16];
    let mut at = 0;
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            bytes[at] = b'.';
            at += 1;
        }
        at += decimal_into(&mut bytes[at..], octet.into());
    }
    Block {
        bytes,
        len: at as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_write_what_display_writes() {
        for ip in ["127.0.0.1", "10.200.3.45", "255.255.255.255", "0.0.0.0"] {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            assert_eq!(ipv4(ip.octets()).as_bytes(), ip.to_string().as_bytes());
        }
        for value in [0, 7, 10, 99, 100, 65_535, 1 << 40, u64::MAX] {
            assert_eq!(decimal(value).as_bytes(), value.to_string().as_bytes());
        }
        for code in [100, 200, 204, 404, 599, 999] {
            assert_eq!(status(code).as_bytes(), code.to_string().as_bytes());
        }
        for nanos in [
            0,
            499,
            500,
            36_000,
            1_234_567,
            5_000_999_500,
            12_345_678_901,
            999_999_999,
            u64::MAX,
        ] {
            let elapsed = Duration::from_nanos(nanos);
            let micros = elapsed.as_micros() + u128::from(elapsed.subsec_nanos() % 1000 >= 500);
            let expected = format!("{}.{:03}", micros / 1000, micros % 1000);
            assert_eq!(
                milliseconds(elapsed).as_bytes(),
                expected.as_bytes(),
                "{nanos} ns"
            );
        }
        let mut line = b"x".to_vec();
        Short::new(b"ab").unwrap().put(&mut line);
        version(http::Version::HTTP_2).put(&mut line);
        assert_eq!(line, b"xabHTTP/2");
        assert!(Short::new(&[b'a'; 17]).is_none());
    }
}
