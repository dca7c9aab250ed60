//! start_response misuse never puts anything invalid on the wire.

use wsgi_core::{app_fn, Body, Chunk, Environ, Error, StartResponse};
use wsgi_tests::{get, serve};

/// Runs `app` and returns the response to `GET /`.
async fn answer<F>(app: F) -> wsgi_tests::RawResponse
where
    F: Fn(&mut Environ, StartResponse) -> Result<Body, Error> + Send + Sync + Clone + 'static,
{
    let server = serve(app_fn(app));
    get(server.local_addr(), "/").await
}

fn assert_clean_500(response: &wsgi_tests::RawResponse, forbidden: &str) {
    assert_eq!(
        response.status,
        500,
        "{}",
        String::from_utf8_lossy(&response.raw)
    );
    assert!(response.complete, "the 500 is a complete response");
    let raw = String::from_utf8_lossy(&response.raw).to_ascii_lowercase();
    assert!(
        !raw.contains(&forbidden.to_ascii_lowercase()),
        "`{forbidden}` reached the wire:\n{raw}"
    );
}

#[tokio::test]
async fn second_start_response_without_exc_info_is_an_error() {
    let response = answer(|_, start_response| {
        start_response.start("200 OK", [("X-First", "1")])?;
        start_response.start("201 Created", [("X-Second", "2")])?;
        Ok("unreachable".into())
    })
    .await;
    assert_clean_500(&response, "x-first");
}

#[tokio::test]
async fn ignored_refusal_still_gives_500() {
    // The app ignores the error from its second call and returns a body.
    let response = answer(|_, start_response| {
        start_response.start("200 OK", [("X-First", "1")])?;
        let _ = start_response.start("200 OK", [("X-Second", "2")]);
        Ok("body".into())
    })
    .await;
    assert_clean_500(&response, "x-first");
}

#[tokio::test]
async fn invalid_status_lines_give_500() {
    for status in [
        "2000 OK",
        "20 OK",
        "OK 200",
        "200 OK\r\nX-Injected: 1",
        "100 Continue",
    ] {
        let response = answer(move |_, start_response| {
            start_response.start(status, [("X-A", "1")])?;
            Ok("body".into())
        })
        .await;
        assert_clean_500(&response, "x-injected");
        assert!(!response.text().contains("body"), "status {status:?}");
    }
}

#[tokio::test]
async fn header_with_line_break_is_refused_not_sent() {
    for value in [
        "a\r\nSet-Cookie: stolen=1",
        "a\nSet-Cookie: stolen=1",
        "a\rSet-Cookie: stolen=1",
        "a\0b",
    ] {
        let response = answer(move |_, start_response| {
            start_response.start("200 OK", [("X-A", value)])?;
            Ok("body".into())
        })
        .await;
        assert_clean_500(&response, "stolen");
    }
}

#[tokio::test]
async fn invalid_header_names_are_refused() {
    for name in ["Bad Name", "X-A:", "", "X\r\nY"] {
        let response = answer(move |_, start_response| {
            start_response.start("200 OK", [(name, "1")])?;
            Ok("body".into())
        })
        .await;
        assert_clean_500(&response, "body");
    }
}

#[tokio::test]
async fn hop_by_hop_headers_are_refused() {
    for name in [
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Authenticate",
    ] {
        let response = answer(move |_, start_response| {
            start_response.start("200 OK", [(name, "x-marker")])?;
            Ok("body".into())
        })
        .await;
        assert_clean_500(&response, "x-marker");
    }
}

#[tokio::test]
async fn never_calling_start_response_gives_500() {
    let response = answer(|_, _| Ok("no head".into())).await;
    assert_clean_500(&response, "no head");
}

#[tokio::test]
async fn start_response_may_be_called_from_the_body() {
    let response = answer(|_, start_response| {
        Ok(Body::from_chunks([Chunk::future(async move {
            start_response.start("202 Accepted", [("X-Late", "yes")])?;
            Ok::<_, Error>("late head")
        })]))
    })
    .await;
    assert_eq!(response.status, 202);
    assert_eq!(response.header("x-late"), Some("yes"));
    assert_eq!(response.text(), "late head");
}

#[tokio::test]
async fn exc_info_replaces_the_head_before_it_is_sent() {
    let response = answer(|_, start_response| {
        start_response.start("200 OK", [("X-Original", "1")])?;
        let replace = start_response.clone();
        Ok(Body::from_chunks([Chunk::future(async move {
            replace.start_exc_info(
                "503 Service Unavailable",
                [("Content-Type", "text/plain")],
                Error::msg("backend down"),
            )?;
            Ok::<_, Error>("try later")
        })]))
    })
    .await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("x-original"), None);
    assert_eq!(response.text(), "try later");
}

#[tokio::test]
async fn write_handle_bytes_come_before_the_body() {
    let response = answer(|_, start_response| {
        let write = start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        write.write("written ");
        Ok(Body::from_chunks([
            Chunk::from("then "),
            Chunk::from("returned"),
        ]))
    })
    .await;
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_eq!(response.text(), "written then returned");
}

#[tokio::test]
async fn custom_reason_phrase_is_sent() {
    let response = answer(|_, start_response| {
        start_response.start("299 Custom Thing", [("Content-Type", "text/plain")])?;
        Ok("ok".into())
    })
    .await;
    assert_eq!(response.status_line, "HTTP/1.1 299 Custom Thing");
}

#[tokio::test]
async fn error_with_status_is_answered_with_that_status() {
    let response = answer(|_, _| {
        Err(Error::with_status(
            http::StatusCode::NOT_FOUND,
            "no such item",
        ))
    })
    .await;
    assert_eq!(response.status, 404);
    assert_eq!(response.text(), "no such item\n");
}

#[tokio::test]
async fn internal_errors_are_not_disclosed_unless_debug() {
    let failing = |_: &mut Environ, _: StartResponse| -> Result<Body, Error> {
        Err(Error::msg("secret database password is hunter2"))
    };
    let server = serve(app_fn(failing));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    assert!(!response.text().contains("hunter2"));

    let mut config = wsgi_tests::test_config();
    config.debug = true;
    let server = wsgi_tests::serve_with(app_fn(failing), config);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    assert!(
        response.text().contains("hunter2"),
        "debug shows the error chain"
    );
}

/// Reads from a `GET /` until `end` arrives, and how long that took.
async fn time_until(addr: std::net::SocketAddr, end: &[u8]) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut stream = wsgi_tests::send(addr, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    wsgi_tests::read_until(&mut stream, end).await;
    started.elapsed()
}

#[tokio::test]
async fn write_bytes_go_out_while_the_body_waits() {
    let server = serve(app_fn(|_: &mut Environ, start_response: StartResponse| {
        let write = start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
            write.write("tick");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            Ok::<_, Error>("tock")
        })]))
    }));
    let waited = time_until(server.local_addr(), b"tick").await;
    assert!(
        waited < std::time::Duration::from_secs(1),
        "`tick` waited {waited:?} for the body"
    );
}

#[tokio::test]
async fn write_bytes_go_out_while_the_streaming_body_waits() {
    // After the head went out: bytes written (here by another task) while
    // the body awaits its next item must not wait for that item.
    let server = serve(app_fn(|_: &mut Environ, start_response: StartResponse| {
        let write = start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("first "),
            Chunk::future(async move {
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    write.write("tick");
                });
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                Ok::<_, Error>("tock")
            }),
        ]))
    }));
    let waited = time_until(server.local_addr(), b"tick").await;
    assert!(
        waited < std::time::Duration::from_secs(1),
        "`tick` waited {waited:?} for the body"
    );
}

#[derive(Clone)]
struct WritesThenWaits;

impl wsgi_core::Application for WritesThenWaits {
    async fn call(
        &self,
        _environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        let write = start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        write.write("tick");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        Ok("tock".into())
    }
}

#[tokio::test]
async fn write_bytes_go_out_while_the_application_waits() {
    let server = serve(WritesThenWaits);
    let waited = time_until(server.local_addr(), b"tick").await;
    assert!(
        waited < std::time::Duration::from_secs(1),
        "`tick` waited {waited:?} for the application"
    );
    // And the rest follows, in order, once the application returns.
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "ticktock");
    assert!(response.complete);
}

#[tokio::test]
async fn exc_info_after_the_head_hands_back_the_applications_error() {
    // The body echoes what `start_exc_info` handed back, so the client sees
    // it: the application's error, not a complaint about the new head.
    let response = answer(|_, start_response| {
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        let sr = start_response.clone();
        Ok(Body::from_chunks([
            Chunk::from("sent; "),
            Chunk::future(async move {
                let handed_back = sr
                    .start_exc_info(
                        "500 Internal Server Error",
                        [("Connection", "close")],
                        Error::msg("the application's own error"),
                    )
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                Ok::<_, Error>(handed_back)
            }),
        ]))
    })
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "sent; the application's own error");
}

#[tokio::test]
async fn a_refused_exc_info_head_still_gives_500() {
    let response = answer(|_, start_response| {
        start_response.start("200 OK", [("X-First", "1")])?;
        // Refused (hop-by-hop); the application ignores the error.
        let _ = start_response.start_exc_info(
            "503 Service Unavailable",
            [("Connection", "close")],
            Error::msg("backend down"),
        );
        Ok("what the first head promised".into())
    })
    .await;
    assert_clean_500(&response, "x-first");
}

// start() after the head went out is silently accepted.
#[tokio::test]
async fn second_start_after_head_sent_is_refused() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let sr2 = sr.clone();
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("first;"),
            Chunk::future(async move {
                Ok::<_, Error>(match sr2.start("404 Not Found", [("X-B", "1")]) {
                    Ok(_) => format!("accepted, is_started={}", sr2.is_started()),
                    Err(e) => format!("refused: {e}"),
                })
            }),
        ]))
    }));
    let r = get(server.local_addr(), "/").await;
    assert!(r.text().contains("refused"), "{}", r.text());
}

// bytes written via write() while producing an item go out after it.
#[tokio::test]
async fn write_during_item_goes_before_the_item() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        let write = sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
            write.write("a");
            Ok::<_, Error>("b")
        })]))
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.text(), "ab");
}

// Proxy-* headers are hop-by-hop (see `start_response.rs`): refused, not
// passed through.
#[tokio::test]
async fn proxy_connection_is_refused() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Proxy-Connection", "keep-alive")])?;
        Ok::<_, Error>("x")
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.raw));
}

#[tokio::test]
async fn typed_headers_reach_the_wire_as_given() {
    use wsgi_core::http::header::{self, HeaderName, HeaderValue};
    use wsgi_core::http::StatusCode;

    const CONTENT_TYPE_TEXT: (HeaderName, HeaderValue) =
        (header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    const FRAME_OPTIONS: (HeaderName, HeaderValue) = (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    const SERVER: (HeaderName, HeaderValue) = (header::SERVER, HeaderValue::from_static("typed"));
    // Not plain digits: sent rewritten, as `start` would.
    const LENGTH: (HeaderName, HeaderValue) =
        (header::CONTENT_LENGTH, HeaderValue::from_static(" 05 "));
    let response = answer(|_, start_response| {
        start_response.start_typed(
            StatusCode::CREATED,
            [CONTENT_TYPE_TEXT, FRAME_OPTIONS, SERVER, LENGTH],
        )?;
        Ok("typed".into())
    })
    .await;
    assert_eq!(response.status_line, "HTTP/1.1 201 Created");
    assert!(response.complete);
    assert_eq!(response.text(), "typed");
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert_eq!(response.header("content-length"), Some("5"));
    // The application's own `Server`, not the server's beside it.
    let servers: Vec<_> = response
        .headers
        .iter()
        .filter(|(name, _)| name == "server")
        .collect();
    assert_eq!(servers, [&("server".to_owned(), "typed".to_owned())]);
}
