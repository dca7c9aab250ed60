//! `StaticFiles` over real sockets, on a temporary directory with files, a
//! subdirectory with an index, and symlinks in and out of the root.

use std::net::SocketAddr;

use wsgi_core::middleware::middleware_fn;
use wsgi_core::static_files::StaticFiles;
use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
use wsgi_tests::{get, raw_request, serve, RawResponse};

struct Site {
    // Kept alive: dropping it deletes the files.
    _dir: tempfile::TempDir,
    _outside: tempfile::TempDir,
    root: std::path::PathBuf,
}

fn site() -> Site {
    let dir = tempfile::tempdir().expect("a temp dir");
    let outside = tempfile::tempdir().expect("another temp dir");
    let root = dir.path().join("media");
    std::fs::create_dir_all(root.join("docs")).expect("mkdir");
    std::fs::write(root.join("hello.txt"), "hello, static world\n").expect("write");
    std::fs::write(
        root.join("logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .expect("write");
    std::fs::write(root.join("docs/index.html"), "<h1>docs</h1>").expect("write");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), big).expect("write");
    std::fs::write(dir.path().join("secret.txt"), "secret").expect("write");
    std::fs::write(outside.path().join("elsewhere.txt"), "elsewhere").expect("write");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path().join("elsewhere.txt"), root.join("out.txt"))
            .expect("symlink out");
        std::os::unix::fs::symlink(root.join("hello.txt"), root.join("in.txt"))
            .expect("symlink in");
    }
    Site {
        _dir: dir,
        _outside: outside,
        root,
    }
}

fn app(site: &Site) -> WsgiHandler {
    WsgiHandler::default().middleware(StaticFiles::new("/media", &site.root).index("index.html"))
}

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"),
    )
    .await
}

#[tokio::test]
async fn files_are_served_with_type_etag_and_last_modified() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    let text = get(addr, "/media/hello.txt").await;
    assert_eq!(text.status, 200);
    assert_eq!(text.text(), "hello, static world\n");
    assert_eq!(text.header("content-type"), Some("text/plain"));
    assert_eq!(text.header("content-length"), Some("20"));
    assert!(text.header("etag").is_some_and(|e| e.starts_with('"')));
    assert!(text.header("last-modified").is_some());
    assert_eq!(text.header("accept-ranges"), Some("bytes"));
    let svg = get(addr, "/media/logo.svg").await;
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
}

#[tokio::test]
async fn a_large_file_streams_complete() {
    let site = site();
    let server = serve(app(&site));
    let response = get(server.local_addr(), "/media/big.bin").await;
    assert!(response.complete);
    assert_eq!(response.body.len(), 200_000);
    assert!(response
        .body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
}

#[tokio::test]
async fn if_none_match_and_if_modified_since_answer_304_without_a_body() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    let first = get(addr, "/media/hello.txt").await;
    let etag = first.header("etag").unwrap_or_default().to_owned();
    let modified = first.header("last-modified").unwrap_or_default().to_owned();

    let by_etag = get_with(addr, "/media/hello.txt", &[("If-None-Match", &etag)]).await;
    assert_eq!(by_etag.status, 304);
    assert!(by_etag.body.is_empty() && by_etag.complete);
    assert_eq!(by_etag.header("etag"), Some(etag.as_str()));

    let by_date = get_with(
        addr,
        "/media/hello.txt",
        &[("If-Modified-Since", &modified)],
    )
    .await;
    assert_eq!(by_date.status, 304);

    let stale = get_with(addr, "/media/hello.txt", &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(stale.status, 200);
    let old = get_with(
        addr,
        "/media/hello.txt",
        &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:01 GMT")],
    )
    .await;
    assert_eq!(old.status, 200);
}

#[tokio::test]
async fn a_single_range_is_206_and_an_unsatisfiable_one_416() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    let part = get_with(addr, "/media/hello.txt", &[("Range", "bytes=7-12")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), "static");
    assert_eq!(part.header("content-range"), Some("bytes 7-12/20"));
    assert_eq!(part.header("content-length"), Some("6"));

    let suffix = get_with(addr, "/media/hello.txt", &[("Range", "bytes=-6")]).await;
    assert_eq!(suffix.text(), "world\n");

    let beyond = get_with(addr, "/media/hello.txt", &[("Range", "bytes=50-")]).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */20"));

    let stale_if_range = get_with(
        addr,
        "/media/hello.txt",
        &[("Range", "bytes=0-4"), ("If-Range", "\"old\"")],
    )
    .await;
    assert_eq!(stale_if_range.status, 200);
    assert_eq!(stale_if_range.body.len(), 20);
}

#[tokio::test]
async fn traversal_in_any_spelling_is_404() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    for path in [
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/%2E%2E%2Fsecret.txt",
        "/media/docs/..%2f..%2fsecret.txt",
        "/media//etc/passwd",
        "/media/..%5csecret.txt",
        "/media/hello.txt%00",
    ] {
        let response = get(addr, path).await;
        assert_eq!(
            response.status,
            404,
            "{path} was served: {}",
            response.text()
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_the_root_are_404_and_inside_it_are_served() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/media/out.txt").await.status, 404);
    assert_eq!(
        get(addr, "/media/in.txt").await.text(),
        "hello, static world\n"
    );
}

#[tokio::test]
async fn a_directory_is_served_through_its_index_file() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    let index = get(addr, "/media/docs/").await;
    assert_eq!(index.status, 200);
    assert_eq!(index.text(), "<h1>docs</h1>");
    assert_eq!(index.header("content-type"), Some("text/html"));

    let without_index =
        serve(WsgiHandler::default().middleware(StaticFiles::new("/media", &site.root)));
    assert_eq!(
        get(without_index.local_addr(), "/media/docs/").await.status,
        404
    );
}

#[tokio::test]
async fn head_has_the_headers_and_no_body_and_post_is_405() {
    let site = site();
    let server = serve(app(&site));
    let addr = server.local_addr();
    let head = raw_request(
        addr,
        "HEAD /media/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("20"));
    assert!(head.body.is_empty());
    let post = raw_request(
        addr,
        "POST /media/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn paths_outside_the_prefix_pass_on() {
    let site = site();
    let server = serve(app(&site).middleware(middleware_fn(|_: &mut Environ| {
        Ok::<_, Error>(Some(WsgiResponse::text("next")))
    })));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/mediahello.txt").await.text(), "next");
    assert_eq!(get(addr, "/other").await.text(), "next");
}
