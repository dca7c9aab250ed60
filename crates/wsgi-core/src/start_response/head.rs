//! The validated response head: statuses, header names and values, and
//! the hop-by-hop headers only the server may set.

use std::cell::Cell;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::{IntoStatus, StartResponseError, Status};

/// A validated response head, ready for the wire.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) status: Status,
    pub(crate) headers: HeaderMap,
    pub(crate) content_length: Option<u64>,
    /// The application set `Server` itself (else the server adds its own).
    pub(crate) has_server: bool,
}

thread_local! {
    /// A finished request's header map, emptied, for the thread's next
    /// response head. hyper hands each response's map, emptied, to the
    /// connection's next request, so with this the maps go round without
    /// an allocation (two, and their frees, per request before).
    static SPARE_MAP: Cell<Option<HeaderMap>> = const { Cell::new(None) };
}

/// A larger map is dropped rather than kept: a head rarely needs it.
const SPARE_MAP_MAX: usize = 64;

/// Keeps `map`, a request's headers once the application is done with
/// them, for the thread's next response head.
pub(crate) fn keep_spare_map(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > SPARE_MAP_MAX {
        return;
    }
    map.clear();
    let _ = SPARE_MAP.try_with(|spare| spare.set(Some(map)));
}

/// An empty map with room for `capacity` headers: the spare one when it
/// has the room.
fn map_with_capacity(capacity: usize) -> HeaderMap {
    match SPARE_MAP.try_with(Cell::take) {
        Ok(Some(map)) if map.capacity() >= capacity => map,
        _ => HeaderMap::with_capacity(capacity),
    }
}

/// Whether `name` is a hop-by-hop header, which only the server may set:
/// PEP 3333's list (RFC 2616 §13.5.1) plus every `Proxy-*` header
/// (`Proxy-Connection` included).
///
/// One match on the name (a switch on its length, then one comparison):
/// [`StartResponse::start_typed`](super::StartResponse::start_typed) checks
/// every header with it.
pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    match name.as_str() {
        "connection" | "keep-alive" | "transfer-encoding" | "upgrade" | "te" | "trailer"
        | "trailers" => true,
        other => other.starts_with("proxy-"),
    }
}

/// Refuses `name` if it is hop-by-hop, shown in the error as `spelled`
/// (the application's own spelling, when it gave a string; read only
/// then).
#[inline]
pub(super) fn refuse_hop_by_hop(
    name: &HeaderName,
    spelled: impl AsRef<str>,
) -> Result<(), StartResponseError> {
    if is_hop_by_hop(name) {
        return Err(StartResponseError::HopByHopHeader(
            spelled.as_ref().to_owned(),
        ));
    }
    Ok(())
}

/// The rules every head builder applies once a header is a valid name and
/// value: room for the server's own headers, `Content-Length`, `Server`.
/// The head's map stays a local of the builder, passed in: moved into this
/// struct, it was copied once more per head.
#[derive(Default)]
pub(super) struct HeadRules {
    content_length: Option<u64>,
    has_server: bool,
}

impl HeadRules {
    /// The map for `headers` headers, with room for the `Content-Length`
    /// and `Server` the server may add: a `HeaderMap` that grows rehashes
    /// every entry.
    #[inline]
    pub(super) fn map_for(headers: usize) -> HeaderMap {
        map_with_capacity(headers + 2)
    }

    /// Adds a `Content-Length` (`value`, already a valid header value) to
    /// `map`: decimal digits, equal to any earlier one. The first is kept,
    /// as `as_given(value, length)` makes it when written as
    /// `HeaderValue::from(length)` would write it, else rewritten so.
    #[inline]
    pub(super) fn content_length<V: AsRef<[u8]>>(
        &mut self,
        map: &mut HeaderMap,
        value: V,
        as_given: impl FnOnce(V, u64) -> HeaderValue,
    ) -> Result<(), StartResponseError> {
        let bytes = value.as_ref();
        let parsed = content_length_value(bytes, self.content_length)?;
        if self.content_length.is_none() {
            self.content_length = Some(parsed);
            let sent = if is_canonical_length(bytes) {
                as_given(value, parsed)
            } else {
                HeaderValue::from(parsed)
            };
            map.insert(header::CONTENT_LENGTH, sent);
        }
        Ok(())
    }

    /// Adds any other header to `map` (checked: not hop-by-hop, not
    /// `Content-Length`).
    // Always: else `HeaderMap::append` is inlined here, and this is not.
    #[inline(always)]
    pub(super) fn append(&mut self, map: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
        self.has_server |= name == header::SERVER;
        map.append(name, value);
    }

    /// The head: `status`, and `headers` built under these rules.
    #[inline]
    pub(super) fn finish(self, status: Status, headers: HeaderMap) -> Head {
        Head {
            status,
            headers,
            content_length: self.content_length,
            has_server: self.has_server,
        }
    }
}

pub(super) fn build_head<I, K, V>(
    status: impl IntoStatus,
    headers: I,
) -> Result<Head, StartResponseError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<[u8]>,
{
    let status = status.into_status()?;
    let iter = headers.into_iter();
    let mut map = HeadRules::map_for(iter.size_hint().0);
    let mut rules = HeadRules::default();
    for (name, value) in iter {
        let name = name.as_ref();
        let value = value.as_ref();
        let header_name = match common_name(name) {
            Some(known) => known,
            None => {
                let header_name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| StartResponseError::InvalidHeaderName(name.to_owned()))?;
                refuse_hop_by_hop(&header_name, name)?;
                header_name
            }
        };
        if header_name == header::CONTENT_LENGTH {
            // `from_bytes`'s check without making a value: `content_length`
            // makes the one it keeps.
            if !is_valid_value(value) {
                return Err(StartResponseError::InvalidHeaderValue(name.to_owned()));
            }
            rules.content_length(&mut map, value, content_length_header)?;
            continue;
        }
        let header_value = if header_name == header::CONTENT_TYPE {
            content_type(value)
        } else {
            HeaderValue::from_bytes(value)
        }
        .map_err(|_| StartResponseError::InvalidHeaderValue(name.to_owned()))?;
        rules.append(&mut map, header_name, header_value);
    }
    Ok(rules.finish(status, map))
}

/// The headers nearly every head has, matched without `from_bytes`'s
/// lower-casing copy and table search (which cost about 170 instructions
/// each): none is hop-by-hop. The usual spellings compare first, byte
/// for byte; then any case.
fn common_name(name: &str) -> Option<HeaderName> {
    match name {
        "Content-Type" | "content-type" => return Some(header::CONTENT_TYPE),
        "Content-Length" | "content-length" => return Some(header::CONTENT_LENGTH),
        _ => {}
    }
    match name.len() {
        12 if name.eq_ignore_ascii_case("content-type") => Some(header::CONTENT_TYPE),
        14 if name.eq_ignore_ascii_case("content-length") => Some(header::CONTENT_LENGTH),
        _ => None,
    }
}

/// `HeaderValue::from_bytes`'s rule, without making the value: no control
/// character but horizontal tab.
fn is_valid_value(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b'\t' || (b >= 32 && b != 127))
}

/// Whether a `Content-Length` value is already written as
/// `HeaderValue::from(length)` writes it (digits, no leading zero), so the
/// application's own bytes can be sent.
fn is_canonical_length(value: &[u8]) -> bool {
    !value.is_empty()
        && value.iter().all(u8::is_ascii_digit)
        && (value.len() == 1 || value[0] != b'0')
}

/// The most `Content-Type` values remembered per thread.
const CONTENT_TYPES: usize = 8;

std::thread_local! {
    /// `Content-Type` values already checked on this thread. Nearly every
    /// response sets one, an application uses few, and each would
    /// otherwise be checked and copied into a new allocation per response;
    /// a remembered one is a reference-count increment. The first
    /// [`CONTENT_TYPES`] short values are kept; others are made as usual.
    static SEEN_CONTENT_TYPES: std::cell::RefCell<Vec<HeaderValue>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `HeaderValue::from_bytes(value)` for a `Content-Type`: a constant for
/// the most common ones, else through the thread's remembered values.
fn content_type(value: &[u8]) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    if let Some(known) = common_content_type(value) {
        return Ok(known);
    }
    SEEN_CONTENT_TYPES.with_borrow_mut(|seen| {
        if let Some(known) = seen.iter().find(|known| known.as_bytes() == value) {
            return Ok(known.clone());
        }
        let made = HeaderValue::from_bytes(value)?;
        if seen.len() < CONTENT_TYPES && value.len() <= 64 {
            seen.push(made.clone());
        }
        Ok(made)
    })
}

/// The `Content-Type` values most responses carry, as values built at
/// compile time: matching the bytes costs less than the thread's cache
/// (a thread-local borrow, a search and a reference count), and a static
/// value is cloned and dropped without touching a count.
fn common_content_type(value: &[u8]) -> Option<HeaderValue> {
    macro_rules! known {
        ($($text:literal),* $(,)?) => {
            match value {
                $($text => Some(const { HeaderValue::from_static(
                    // `from_static` takes `&str`; the pattern is bytes.
                    match std::str::from_utf8($text) {
                        Ok(text) => text,
                        Err(_) => panic!("a content type is ASCII"),
                    }
                ) }),)*
                _ => None,
            }
        };
    }
    known!(
        b"text/plain",
        b"text/plain; charset=utf-8",
        b"text/html",
        b"text/html; charset=utf-8",
        b"application/json",
        b"application/octet-stream",
        b"text/event-stream",
        b"text/css",
        b"text/javascript",
        b"application/javascript",
        b"image/png",
        b"image/svg+xml",
    )
}

/// The most `Content-Length` values remembered per thread.
const CONTENT_LENGTHS: usize = 8;

std::thread_local! {
    /// `Content-Length` values already made on this thread, as
    /// [`SEEN_CONTENT_TYPES`]: a fixed response (a static page, a hello)
    /// repeats its length, and each would otherwise be a new allocation.
    static SEEN_CONTENT_LENGTHS: std::cell::RefCell<Vec<HeaderValue>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The header for a canonical `Content-Length` `value` (digits, read as
/// `parsed`), through the thread's remembered values.
fn content_length_header(value: &[u8], parsed: u64) -> HeaderValue {
    SEEN_CONTENT_LENGTHS.with_borrow_mut(|seen| {
        if let Some(known) = seen.iter().find(|known| known.as_bytes() == value) {
            return known.clone();
        }
        // Digits always make a valid value; the fallback writes the same.
        let made = HeaderValue::from_bytes(value).unwrap_or_else(|_| HeaderValue::from(parsed));
        if seen.len() < CONTENT_LENGTHS {
            seen.push(made.clone());
        }
        made
    })
}

/// A `Content-Length` value: decimal digits (surrounding spaces allowed,
/// no sign), equal to any `previous` one.
fn content_length_value(value: &[u8], previous: Option<u64>) -> Result<u64, StartResponseError> {
    // Nearly always ASCII digits: read in place, copied only to be shown
    // in the error.
    let text = std::str::from_utf8(value).map(str::trim);
    let parsed = text
        .ok()
        .filter(|text| !text.starts_with('+'))
        .and_then(|text| text.parse::<u64>().ok())
        .filter(|parsed| previous.is_none_or(|previous| previous == *parsed));
    parsed.ok_or_else(|| {
        StartResponseError::InvalidContentLength(String::from_utf8_lossy(value).into_owned())
    })
}

/// [`build_head`] for headers in a `HeaderMap`: the same checks in the same
/// order, and the same head (one `Content-Length`, written as digits).
pub(super) fn head_from_map(
    status: Status,
    mut headers: HeaderMap,
) -> Result<Head, StartResponseError> {
    let mut content_length = None;
    let mut rewrite_length = false;
    for (name, value) in &headers {
        refuse_hop_by_hop(name, name)?;
        // For a value built unchecked.
        let bytes = value.as_bytes();
        if !is_valid_value(bytes) {
            return Err(StartResponseError::InvalidHeaderValue(
                name.as_str().to_owned(),
            ));
        }
        if name == header::CONTENT_LENGTH {
            let parsed = content_length_value(bytes, content_length)?;
            // Already as `HeaderValue::from(parsed)` writes it, or not.
            rewrite_length |= content_length.is_some() || !is_canonical_length(bytes);
            content_length = Some(parsed);
        }
    }
    if let (true, Some(length)) = (rewrite_length, content_length) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    // Room for the `Server` (and `Content-Length`) the server may add.
    headers.reserve(2);
    Ok(Head {
        status,
        has_server: headers.contains_key(header::SERVER),
        headers,
        content_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_content_types_are_the_values_given() {
        // More distinct values than are remembered, twice each, and an
        // invalid one between them: each answer is its own value.
        for _ in 0..2 {
            for i in 0..CONTENT_TYPES + 4 {
                let value = format!("text/x-{i}");
                let head = build_head("200 OK", [("Content-Type", value.as_str())]).unwrap();
                assert_eq!(head.headers[header::CONTENT_TYPE], value.as_str());
            }
            assert!(build_head("200 OK", [("Content-Type", "a\nb")]).is_err());
        }
    }

    #[test]
    fn constant_content_types_are_the_values_given() {
        // The constants, and spellings close to them that are not
        // constants (another case, a trailing space), come back as given.
        for value in [
            "text/plain",
            "text/html; charset=utf-8",
            "application/json",
            "image/svg+xml",
            "text/plain; charset=UTF-8",
            "text/plain ",
            "Application/JSON",
        ] {
            let head = build_head("200 OK", [("Content-Type", value)]).unwrap();
            assert_eq!(head.headers[header::CONTENT_TYPE], value);
            assert_eq!(
                common_content_type(value.as_bytes()).is_some(),
                value.bytes().all(|b| !b.is_ascii_uppercase()) && !value.ends_with(' ')
            );
        }
    }

    #[test]
    fn remembered_content_lengths_are_the_values_given() {
        // More distinct lengths than are remembered, twice each; other
        // spellings are rewritten or refused as before.
        for _ in 0..2 {
            for i in 0..CONTENT_LENGTHS as u64 + 4 {
                let value = (i * 7).to_string();
                let head = build_head("200 OK", [("Content-Length", value.as_str())]).unwrap();
                assert_eq!(head.headers[header::CONTENT_LENGTH], value.as_str());
                assert_eq!(head.content_length, Some(i * 7));
            }
            let head = build_head("200 OK", [("Content-Length", " 013 ")]).unwrap();
            assert_eq!(head.headers[header::CONTENT_LENGTH], "13");
            assert!(matches!(
                build_head("200 OK", [("Content-Length", "13\n")]),
                Err(StartResponseError::InvalidHeaderValue(_))
            ));
            assert!(build_head(
                "200 OK",
                [("Content-Length", "12"), ("Content-Length", "13")]
            )
            .is_err());
        }
    }
}
