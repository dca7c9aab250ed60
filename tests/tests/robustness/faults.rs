//! Faults inside the application under concurrent load: panics, errors,
//! missing heads, failing bodies before and after the head, a wrong
//! Content-Length and an invalid header, mixed with normal requests. Normal
//! requests must all get their complete 200; faulty ones a 500 or an
//! aborted response, never a complete 200; the server keeps serving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wsgi_core::{app_fn, Body, Chunk, Environ, Error, StartResponse};
use wsgi_tests::{get, parse_response, raw_exchange, serve_with, test_config};

/// The fault paths; every tenth request takes one of them.
const FAULTS: [&str; 9] = [
    "panic",
    "error",
    "no-start",
    "error-before-head",
    "error-after-head",
    "panic-after-head",
    "short-content-length",
    "long-content-length",
    "invalid-header",
];

fn boom() -> Error {
    Error::msg("injected fault")
}

fn faulty_app() -> impl wsgi_core::Application + Clone {
    app_fn(|environ: &mut Environ, sr: StartResponse| {
        let path = environ.path_info().into_owned();
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let kind = parts.next().unwrap_or("").to_owned();
        let id = parts.next().unwrap_or("").to_owned();
        let text = "ok"; // the word a forged 200 would carry
        let body = match kind.as_str() {
            "ok" => {
                sr.start("200 OK", [("Content-Type", "text/plain")])?;
                // Sometimes streamed, sometimes one chunk.
                if id.ends_with('0') {
                    Body::from_chunks([
                        Chunk::from(format!("{text}-")),
                        Chunk::future(async move {
                            tokio::task::yield_now().await;
                            Ok::<_, Error>(id)
                        }),
                    ])
                } else {
                    Body::from(format!("{text}-{id}"))
                }
            }
            "panic" => panic!("injected panic in the handler"),
            "error" => return Err(boom()),
            "no-start" => Body::from(text),
            "error-before-head" => {
                sr.start("200 OK", [("Content-Type", "text/plain")])?;
                Body::from_chunks([
                    Chunk::from(""),
                    Chunk::future(async { Err::<&str, _>(boom()) }),
                ])
            }
            "error-after-head" => {
                sr.start("200 OK", [("Content-Type", "text/plain")])?;
                Body::from_chunks([
                    Chunk::from(text),
                    Chunk::future(async {
                        tokio::task::yield_now().await;
                        Err::<&str, _>(boom())
                    }),
                ])
            }
            "panic-after-head" => {
                sr.start("200 OK", [("Content-Type", "text/plain")])?;
                Body::from_chunks([
                    Chunk::from(text),
                    Chunk::future(async {
                        tokio::task::yield_now().await;
                        if true {
                            panic!("injected panic in the body");
                        }
                        Ok::<&str, Error>("")
                    }),
                ])
            }
            "short-content-length" => {
                // Declares more than it sends.
                sr.start(
                    "200 OK",
                    [("Content-Type", "text/plain"), ("Content-Length", "100")],
                )?;
                Body::from(text)
            }
            "long-content-length" => {
                // Declares less than it sends: the extra bytes must not
                // become a forged second response.
                sr.start(
                    "200 OK",
                    [("Content-Type", "text/plain"), ("Content-Length", "2")],
                )?;
                Body::from(format!(
                    "{text}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                ))
            }
            "invalid-header" => {
                sr.start("200 OK", [("X-Injected", "a\r\nSet-Cookie: forged=1")])?;
                Body::from(text)
            }
            other => {
                sr.start("404 Not Found", [("Content-Type", "text/plain")])?;
                Body::from(format!("no route {other}"))
            }
        };
        Ok::<_, Error>(body)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_requests_under_load_never_look_like_a_complete_200() {
    let _load = wsgi_tests::exclusive().await;
    const REQUESTS: usize = 500;
    const CONCURRENCY: usize = 32;
    // The injected panics are expected: keep their messages out of the
    // test output, report any other panic as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or_default();
        if !message.starts_with("injected panic") {
            default_hook(info);
        }
    }));
    let server = serve_with(faulty_app(), test_config());
    let addr = server.local_addr();
    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        let path = if i % 10 == 3 {
            format!("/{}/{i}", FAULTS[(i / 10) % FAULTS.len()])
        } else {
            format!("/ok/{i}")
        };
        tasks.spawn(async move {
            let _permit = permit;
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let raw = raw_exchange(addr, request.as_bytes()).await;
            (i, path, raw)
        });
    }
    let mut failures = Vec::new();
    let mut by_kind = std::collections::BTreeMap::<String, Vec<String>>::new();
    let (mut normal, mut faulty, mut aborted, mut errors) = (0, 0, 0, 0);
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        let mut out = Vec::new();
        while let Some(done) = tasks.join_next().await {
            out.push(done.expect("client task"));
        }
        out
    })
    .await
    .expect("all requests finish within 30 s");
    for (i, path, raw) in all {
        let response = parse_response(&raw, false);
        let shown = String::from_utf8_lossy(&raw);
        if path.starts_with("/ok/") {
            normal += 1;
            let expected = format!("ok-{i}");
            match response {
                Some(r) if r.status == 200 && r.complete && r.body == expected.as_bytes() => {}
                _ => failures.push(format!("normal request {path}: got {shown:?}")),
            }
        } else {
            faulty += 1;
            let kind = path.split('/').nth(1).unwrap_or("").to_owned();
            let seen = match &response {
                None if raw.is_empty() => "closed".to_owned(),
                None => "unparsable".to_owned(),
                Some(r) if r.complete => r.status.to_string(),
                Some(r) => format!("{} incomplete", r.status),
            };
            by_kind.entry(kind).or_default().push(seen);
            match response {
                None => aborted += 1,
                Some(r) if r.status == 500 => errors += 1,
                Some(r) if r.status == 200 && !r.complete => aborted += 1,
                Some(_) => failures.push(format!(
                    "faulty request {path}: expected a 500 or an aborted response, got {shown:?}"
                )),
            }
            if shown.contains("forged") || shown.matches("HTTP/1.1").count() > 1 {
                failures.push(format!(
                    "faulty request {path}: forged bytes on the wire: {shown:?}"
                ));
            }
        }
    }
    let took = started.elapsed();
    for (kind, seen) in &by_kind {
        println!("{kind}: {seen:?}");
    }
    println!(
        "{normal} normal, {faulty} faulty ({errors} answered 500, {aborted} aborted) in {took:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(normal + faulty, REQUESTS);
    let after = get(addr, "/ok/after").await;
    assert_eq!(
        (after.status, after.text().as_str()),
        (200, "ok-after"),
        "the server still answers after the faults"
    );
    server.shutdown().await;
}
