//! The request's path and target: `SCRIPT_NAME`, `PATH_INFO` (bytes and
//! text), `QUERY_STRING` and `RAW_URI`.

use std::borrow::Cow;

use http::Version;

use super::Environ;

/// The decoded path with `prefix` removed when it is a whole leading
/// segment run (`/app` from `/app` or `/app/x`, not from `/apple`).
pub(super) fn strip_mount<'a>(decoded: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = decoded.strip_prefix(prefix)?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

fn utf8_or_latin1(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => match std::str::from_utf8(b) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(b.iter().map(|&c| c as char).collect()),
        },
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(e.into_bytes().iter().map(|&c| c as char).collect()),
        },
    }
}

impl Environ {
    /// `SCRIPT_NAME`: where the application is mounted (no trailing `/`).
    pub fn script_name(&self) -> &str {
        &self.script_name
    }

    /// Moves the mount point, as routers do when they consume a prefix.
    pub fn set_script_name(&mut self, script_name: impl Into<String>) {
        self.script_name = Cow::Owned(script_name.into());
    }

    /// `PATH_INFO` as exact bytes: percent-decoded, `SCRIPT_NAME` removed.
    pub fn path_info_bytes(&self) -> Cow<'_, [u8]> {
        if let Some(path) = &self.path_info {
            return Cow::Borrowed(path);
        }
        let decoded: Cow<'_, [u8]> =
            percent_encoding::percent_decode_str(self.head.uri.path()).into();
        let prefix = self.script_name.as_bytes();
        if prefix.is_empty() || !decoded.starts_with(prefix) {
            return decoded;
        }
        let rest_is_segment = decoded.len() == prefix.len() || decoded[prefix.len()] == b'/';
        if !rest_is_segment {
            return decoded;
        }
        match decoded {
            Cow::Borrowed(b) => Cow::Borrowed(&b[prefix.len()..]),
            Cow::Owned(mut v) => {
                v.drain(..prefix.len());
                Cow::Owned(v)
            }
        }
    }

    /// `PATH_INFO` as a string: UTF-8 when the decoded bytes are UTF-8,
    /// latin-1 otherwise (see the [type's docs](crate::Environ)).
    pub fn path_info(&self) -> Cow<'_, str> {
        utf8_or_latin1(self.path_info_bytes())
    }

    /// Replaces `PATH_INFO` (decoded bytes), as routers do.
    pub fn set_path_info(&mut self, path: impl Into<Vec<u8>>) {
        self.path_info = Some(path.into());
    }

    /// `QUERY_STRING`, raw (not decoded); empty when absent.
    pub fn query_string(&self) -> &str {
        if let Some(set) = self.var("QUERY_STRING") {
            return set.unwrap_or("");
        }
        self.head.uri.query().unwrap_or("")
    }

    /// `RAW_URI`: the request target as the client sent it (for HTTP/2, the
    /// `:path`).
    pub fn raw_uri(&self) -> Cow<'_, str> {
        if let Some(set) = self.var("RAW_URI") {
            return Cow::Borrowed(set.unwrap_or(""));
        }
        let uri = &self.head.uri;
        if uri.scheme().is_some() && self.head.version < Version::HTTP_2 {
            return Cow::Owned(uri.to_string());
        }
        match uri.path_and_query() {
            Some(pq) => Cow::Borrowed(pq.as_str()),
            None => Cow::Borrowed("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::environ;
    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        let e = environ(http::Request::get("/a%FFb%20c").body(()).unwrap(), "");
        assert_eq!(&*e.path_info_bytes(), b"/a\xffb c");
        assert_eq!(e.path_info(), "/a\u{ff}b c");
    }

    #[test]
    fn script_name_is_removed_on_a_segment_boundary() {
        let e = environ(http::Request::get("/app/x").body(()).unwrap(), "/app/");
        assert_eq!(e.script_name(), "/app");
        assert_eq!(e.path_info(), "/x");
        let e = environ(http::Request::get("/apple").body(()).unwrap(), "/app");
        assert_eq!(e.path_info(), "/apple");
    }
}
