//! `Form` and `Multipart` over real sockets: URL-encoded bodies and query
//! strings, JSON (and its 400), streamed multipart (and its 400), limits,
//! and methods whose body is never read.

use std::net::SocketAddr;

use wsgi_core::form::{Form, FormLimits, Multipart};
use wsgi_core::{wsgi_handler, Environ, Error, WsgiHandler, WsgiResponse};
use wsgi_tests::{raw_request, serve, serve_with, test_config, RawResponse};

/// Answers with what `Form::parse` found, as JSON.
#[wsgi_handler]
async fn echo_form(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let limits = FormLimits {
        max_fields: 5,
        max_field_size: 64,
    };
    let form = Form::parse_with(environ, limits).await?;
    let files: Vec<_> = form
        .files()
        .iter()
        .map(|f| serde_json::json!([f.name, f.file_name, f.content_type, f.size]))
        .collect();
    let value = serde_json::json!({
        "args": form.args(),
        "fields": form.fields(),
        "files": files,
        "json": form.json(),
    });
    Ok(WsgiResponse::json(value.to_string()))
}

/// Streams a multipart body part by part, answering with each part's name
/// and size.
#[wsgi_handler]
async fn part_sizes(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let mut multipart = Multipart::from_environ(environ, FormLimits::default())?;
    let mut out = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let mut size = 0;
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
        }
        out.push(format!("{name}:{size}"));
    }
    Ok(WsgiResponse::text(out.join(",")))
}

fn app() -> WsgiHandler {
    WsgiHandler::default().middleware(
        wsgi_core::router::Router::new()
            .any("/form", EchoForm)
            .post("/parts", PartSizes),
    )
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> RawResponse {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let raw = wsgi_tests::raw_exchange(addr, &request).await;
    wsgi_tests::parse_response(&raw, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "no response to {method} {path}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn json_of(response: &RawResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

fn multipart_body(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn urlencoded_body_and_query_keep_repeated_keys() {
    let server = serve(app());
    let response = send(
        server.local_addr(),
        "POST",
        "/form?q=1&q=2",
        "application/x-www-form-urlencoded",
        b"a=x+y&b=%C3%A9&a=z",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let value = json_of(&response);
    assert_eq!(value["args"], serde_json::json!([["q", "1"], ["q", "2"]]));
    assert_eq!(
        value["fields"],
        serde_json::json!([["a", "x y"], ["b", "é"], ["a", "z"]])
    );
}

#[tokio::test]
async fn json_bodies_are_parsed_and_invalid_json_is_400_with_a_message() {
    let server = serve(app());
    let addr = server.local_addr();
    let ok = send(
        addr,
        "PUT",
        "/form",
        "application/json",
        br#"{"n": [1, 2]}"#,
    )
    .await;
    assert_eq!(json_of(&ok)["json"], serde_json::json!({"n": [1, 2]}));

    let bad = send(addr, "POST", "/form", "application/json", b"{nope").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("not valid JSON"), "{}", bad.text());
}

#[tokio::test]
async fn multipart_text_fields_are_kept_and_files_measured() {
    let server = serve(app());
    let body = multipart_body(
        "b0undary",
        &[
            ("title", None, b"hello"),
            ("upload", Some("a.txt"), &[b'x'; 5000]),
        ],
    );
    let response = send(
        server.local_addr(),
        "POST",
        "/form",
        "multipart/form-data; boundary=b0undary",
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let value = json_of(&response);
    assert_eq!(value["fields"], serde_json::json!([["title", "hello"]]));
    assert_eq!(
        value["files"],
        serde_json::json!([["upload", "a.txt", "text/plain", 5000]])
    );
}

#[tokio::test]
async fn multipart_is_streamed_part_by_part() {
    let server = serve(app());
    let big = vec![b'y'; 300_000];
    let body = multipart_body(
        "XyZ",
        &[("one", Some("1.bin"), &big), ("two", Some("2.bin"), b"22")],
    );
    let response = send(
        server.local_addr(),
        "POST",
        "/parts",
        "multipart/form-data; boundary=XyZ",
        &body,
    )
    .await;
    assert_eq!(response.text(), "one:300000,two:2");
}

#[tokio::test]
async fn multipart_without_a_boundary_is_400() {
    let server = serve(app());
    let response = send(
        server.local_addr(),
        "POST",
        "/parts",
        "multipart/form-data",
        b"--x\r\n",
    )
    .await;
    assert_eq!(response.status, 400);
    assert!(response.text().contains("boundary"), "{}", response.text());
}

#[tokio::test]
async fn a_malformed_multipart_body_is_400() {
    let server = serve(app());
    let response = send(
        server.local_addr(),
        "POST",
        "/form",
        "multipart/form-data; boundary=abc",
        b"--abc\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.text());
}

#[tokio::test]
async fn too_many_fields_and_too_long_text_fields_are_413() {
    let server = serve(app());
    let addr = server.local_addr();
    let many = send(
        addr,
        "POST",
        "/form",
        "application/x-www-form-urlencoded",
        b"a=1&b=2&c=3&d=4&e=5&f=6",
    )
    .await;
    assert_eq!(many.status, 413, "{}", many.text());
    let body = multipart_body("q", &[("long", None, &[b'z'; 100])]);
    let long = send(
        addr,
        "POST",
        "/form",
        "multipart/form-data; boundary=q",
        &body,
    )
    .await;
    assert_eq!(long.status, 413, "{}", long.text());
}

#[tokio::test]
async fn a_body_over_stream_buffer_is_413() {
    let mut config = test_config();
    config.max_request_body = 16;
    let server = serve_with(app(), config);
    let response = send(
        server.local_addr(),
        "POST",
        "/form",
        "application/x-www-form-urlencoded",
        b"a=0123456789012345678901234567890",
    )
    .await;
    assert_eq!(response.status, 413, "{}", response.text());
}

#[tokio::test]
async fn get_delete_and_options_bodies_are_not_read() {
    let server = serve(app());
    for method in ["GET", "DELETE", "OPTIONS"] {
        let response = send(
            server.local_addr(),
            method,
            "/form?x=1",
            "application/x-www-form-urlencoded",
            b"a=1",
        )
        .await;
        assert_eq!(response.status, 200, "{method}: {}", response.text());
        let value = json_of(&response);
        assert_eq!(value["fields"], serde_json::json!([]), "{method}");
        assert_eq!(value["args"], serde_json::json!([["x", "1"]]), "{method}");
    }
    // HEAD: answered, nothing read, no body sent.
    let head = raw_request(
        server.local_addr(),
        "HEAD /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head.status, 200);
}
