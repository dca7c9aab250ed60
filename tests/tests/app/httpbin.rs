//! The httpbin example, served in-process over a real socket: every
//! endpoint, and the routing, form, static-file and body behaviour behind
//! them.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/httpbin.rs"]
mod example;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use wsgi_tests::{get, parse_response, raw_exchange, raw_request, serve, RawResponse};

fn media_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/media")
}

fn start() -> wsgi_core::server::ServerHandle {
    serve(example::app(media_dir()))
}

fn json_of(response: &RawResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {}",
            response.status_line,
            response.text()
        )
    })
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let received = raw_exchange(addr, &raw).await;
    parse_response(&received, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "no response to {method} {path}: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

#[tokio::test]
async fn index_is_html() {
    let server = start();
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert!(response.text().contains("<h1>httpbin</h1>"));
}

#[tokio::test]
async fn health_probes_answer() {
    let server = start();
    let live = get(server.local_addr(), "/healthz").await;
    assert_eq!((live.status, live.text().trim()), (200, "ok"));
    let ready = get(server.local_addr(), "/readyz").await;
    assert_eq!((ready.status, ready.text().trim()), (200, "ready"));
}

#[tokio::test]
async fn get_echoes_args_with_repeats_headers_and_origin() {
    let server = start();
    let response = request(
        server.local_addr(),
        "GET",
        "/get?a=1&a=2&b=x+y",
        &[("X-Test", "yes")],
        b"",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let value = json_of(&response);
    assert_eq!(value["args"]["a"], serde_json::json!(["1", "2"]));
    assert_eq!(value["args"]["b"], "x y");
    assert_eq!(value["headers"]["X-Test"], "yes");
    assert_eq!(value["origin"], "127.0.0.1");
    assert_eq!(value["method"], "GET");
}

#[tokio::test]
async fn post_put_and_patch_echo_urlencoded_forms() {
    let server = start();
    for method in ["POST", "PUT", "PATCH"] {
        let path = format!("/{}", method.to_ascii_lowercase());
        let response = request(
            server.local_addr(),
            method,
            &path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"x=1&x=2&y=%C3%A9",
        )
        .await;
        assert_eq!(response.status, 200, "{method}: {}", response.text());
        let value = json_of(&response);
        assert_eq!(value["method"], method);
        assert_eq!(value["form"]["x"], serde_json::json!(["1", "2"]));
        assert_eq!(value["form"]["y"], "é");
    }
}

#[tokio::test]
async fn post_echoes_json_and_rejects_invalid_json_with_400() {
    let server = start();
    let addr = server.local_addr();
    let ok = request(
        addr,
        "POST",
        "/post",
        &[("Content-Type", "application/json")],
        br#"{"k": [1, true]}"#,
    )
    .await;
    assert_eq!(json_of(&ok)["json"], serde_json::json!({"k": [1, true]}));
    let bad = request(
        addr,
        "POST",
        "/post",
        &[("Content-Type", "application/json")],
        b"{",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("not valid JSON"), "{}", bad.text());
}

fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        let disposition = match file {
            Some(file) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(format!("--{boundary}\r\n{disposition}\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn post_lists_multipart_fields_and_files() {
    let server = start();
    let body = multipart(
        "BND",
        &[("note", None, b"hi"), ("doc", Some("d.bin"), &[7; 1234])],
    );
    let response = request(
        server.local_addr(),
        "POST",
        "/post",
        &[("Content-Type", "multipart/form-data; boundary=BND")],
        &body,
    )
    .await;
    let value = json_of(&response);
    assert_eq!(value["form"]["note"], "hi");
    assert_eq!(value["files"]["doc"]["filename"], "d.bin");
    assert_eq!(value["files"]["doc"]["size"], 1234);
}

#[tokio::test]
async fn delete_answers_without_reading_a_body_and_get_is_405_on_post() {
    let server = start();
    let addr = server.local_addr();
    let delete = request(addr, "DELETE", "/delete?z=9", &[], b"").await;
    assert_eq!(json_of(&delete)["args"]["z"], "9");
    let wrong = request(addr, "GET", "/post", &[], b"").await;
    assert_eq!(wrong.status, 405);
    assert!(wrong.header("allow").is_some_and(|a| a.contains("POST")));
}

#[tokio::test]
async fn upload_streams_parts_and_reports_their_sizes() {
    let server = start();
    let big = vec![b'u'; 250_000];
    let body = multipart(
        "up",
        &[("title", None, b"t"), ("file", Some("big.txt"), &big)],
    );
    let response = request(
        server.local_addr(),
        "POST",
        "/upload",
        &[("Content-Type", "multipart/form-data; boundary=up")],
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = &json_of(&response)["parts"];
    assert_eq!(parts[0]["name"], "title");
    assert_eq!(parts[0]["size"], 1);
    assert_eq!(parts[1]["filename"], "big.txt");
    assert_eq!(parts[1]["size"], 250_000);

    let no_boundary = request(
        server.local_addr(),
        "POST",
        "/upload",
        &[("Content-Type", "multipart/form-data")],
        b"x",
    )
    .await;
    assert_eq!(no_boundary.status, 400);
}

#[tokio::test]
async fn status_answers_with_the_code_asked_for() {
    let server = start();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/status/418").await.status, 418);
    assert_eq!(get(addr, "/status/204").await.status, 204);
    let unauthorized = get(addr, "/status/401").await;
    assert!(unauthorized.header("www-authenticate").is_some());
    assert_eq!(get(addr, "/status/100").await.status, 400);
    assert_eq!(get(addr, "/status/abc").await.status, 404);
}

#[tokio::test]
async fn redirect_counts_down_to_get() {
    let server = start();
    let addr = server.local_addr();
    let first = get(addr, "/redirect/3").await;
    assert_eq!(first.status, 302);
    assert_eq!(first.header("location"), Some("/redirect/2"));
    assert_eq!(
        get(addr, "/redirect/1").await.header("location"),
        Some("/get")
    );
}

#[tokio::test]
async fn getsize_carries_that_many_bytes_of_data() {
    let server = start();
    let value = json_of(&get(server.local_addr(), "/getsize/100").await);
    assert_eq!(value["size"], 100);
    assert_eq!(value["data"].as_str().map(str::len), Some(100));
    assert_eq!(
        get(server.local_addr(), "/getsize/99999999999")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn stream_sends_m_chunks_of_n_bytes() {
    let server = start();
    let response = get(server.local_addr(), "/stream/4/10").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(response.complete);
    assert_eq!(response.body.len(), 40);
    assert_eq!(&response.body[..10], b"aaaaaaaaaa");
    assert_eq!(&response.body[30..], b"dddddddddd");
}

#[tokio::test]
async fn delay_waits_before_answering() {
    let server = start();
    let started = Instant::now();
    let response = get(server.local_addr(), "/delay/0.3").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(json_of(&response)["delay"], 0.3);
}

#[tokio::test]
async fn delay_takes_whole_seconds_as_httpbin_users_write_them() {
    let server = start();
    let started = Instant::now();
    let response = get(server.local_addr(), "/delay/1").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(json_of(&response)["delay"], 1.0);
    // Not a number of seconds (NaN included): no such page, not a 500.
    for path in ["/delay/soon", "/delay/NaN"] {
        assert_eq!(get(server.local_addr(), path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn gzip_is_compressed_for_clients_that_accept_it() {
    let server = start();
    let response = request(
        server.local_addr(),
        "GET",
        "/gzip",
        &[("Accept-Encoding", "gzip")],
        b"",
    )
    .await;
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&response.body[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    let value: Value = serde_json::from_str(&text).expect("JSON inside");
    assert_eq!(value["gzipped"], true);
}

#[tokio::test]
async fn cookies_are_listed_set_and_deleted() {
    let server = start();
    let addr = server.local_addr();
    let listed = request(addr, "GET", "/cookies", &[("Cookie", "a=1; b=2")], b"").await;
    assert_eq!(
        json_of(&listed)["cookies"],
        serde_json::json!({"a": "1", "b": "2"})
    );

    let set = get(addr, "/cookies/set/flavour/ginger").await;
    assert_eq!(set.status, 302);
    assert_eq!(set.header("location"), Some("/cookies"));
    assert!(set
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("flavour=ginger")));

    let deleted = get(addr, "/cookies/delete/flavour").await;
    assert!(deleted
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("flavour=") && c.contains("Max-Age=0")));
}

#[tokio::test]
async fn basic_auth_accepts_the_right_credentials_only() {
    let server = start();
    let addr = server.local_addr();
    // ada:secret
    let ok = request(
        addr,
        "GET",
        "/basic-auth/ada/secret",
        &[("Authorization", "Basic YWRhOnNlY3JldA==")],
        b"",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(json_of(&ok)["user"], "ada");
    let wrong = request(
        addr,
        "GET",
        "/basic-auth/ada/other",
        &[("Authorization", "Basic YWRhOnNlY3JldA==")],
        b"",
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("www-authenticate").is_some());
}

#[tokio::test]
async fn response_headers_are_set_from_the_query() {
    let server = start();
    let addr = server.local_addr();
    let response = get(addr, "/response-headers?X-Answer=42&X-Answer=43").await;
    let answers: Vec<&str> = response
        .headers
        .iter()
        .filter(|(k, _)| k == "x-answer")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(answers, ["42", "43"]);
    assert_eq!(
        get(addr, "/response-headers?Connection=x").await.status,
        400
    );
    assert_eq!(get(addr, "/response-headers?X-A=%0D%0Ax").await.status, 400);
}

#[tokio::test]
async fn headers_ip_user_agent_and_environ_describe_the_request() {
    let server = start();
    let addr = server.local_addr();
    let headers = request(addr, "GET", "/headers", &[("X-Thing", "1")], b"").await;
    assert_eq!(json_of(&headers)["headers"]["X-Thing"], "1");
    assert_eq!(json_of(&get(addr, "/ip").await)["origin"], "127.0.0.1");
    let agent = request(
        addr,
        "GET",
        "/user-agent",
        &[("User-Agent", "probe/1")],
        b"",
    )
    .await;
    assert_eq!(json_of(&agent)["user-agent"], "probe/1");
    let environ = json_of(&get(addr, "/environ?q=1").await);
    assert_eq!(environ["REQUEST_METHOD"], "GET");
    assert_eq!(environ["QUERY_STRING"], "q=1");
    assert_eq!(environ["PATH_INFO"], "/environ");
}

#[tokio::test]
async fn media_serves_the_shipped_files_with_validators_and_ranges() {
    let server = start();
    let addr = server.local_addr();
    let text = get(addr, "/media/hello.txt").await;
    assert_eq!(text.status, 200);
    assert_eq!(text.text(), "Hello from the httpbin media directory.\n");
    let etag = text.header("etag").unwrap_or_default().to_owned();
    let svg = get(addr, "/media/logo.svg").await;
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    let cached = request(
        addr,
        "GET",
        "/media/hello.txt",
        &[("If-None-Match", &etag)],
        b"",
    )
    .await;
    assert_eq!(cached.status, 304);
    let part = request(
        addr,
        "GET",
        "/media/hello.txt",
        &[("Range", "bytes=0-4")],
        b"",
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), "Hello");
    assert_eq!(get(addr, "/media/%2e%2e/httpbin.rs").await.status, 404);
}

#[tokio::test]
async fn clean_path_redirects_and_unknown_paths_are_404() {
    let server = start();
    let addr = server.local_addr();
    let response = get(addr, "//get?x=1").await;
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/get?x=1"));
    assert_eq!(get(addr, "/nope").await.status, 404);
}

#[tokio::test]
async fn head_falls_back_to_get_without_a_body() {
    let server = start();
    let response = raw_request(
        server.local_addr(),
        "HEAD /ip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert!(response.header("content-length").is_some());
}
