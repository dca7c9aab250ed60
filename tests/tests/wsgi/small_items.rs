//! Bodies of many small items that are ready one after another: the server
//! joins them into fewer frames, which must change nothing a client sees
//! but the chunk boundaries.

use wsgi_core::{app_fn, Body, Chunk, Environ, Error, StartResponse};
use wsgi_tests::{get, serve};

/// The number of chunk-size lines in a chunked response's raw bytes.
fn chunks_on_the_wire(raw: &[u8]) -> usize {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let mut data = &raw[head_end..];
    let mut count = 0;
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let Ok(size) = usize::from_str_radix(&String::from_utf8_lossy(&data[..line_end]), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        count += 1;
        data = &data[(line_end + 2 + size + 2).min(data.len())..];
    }
    count
}

#[tokio::test]
async fn ready_small_items_arrive_in_order_in_fewer_chunks() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks(
            (0..1000).map(|i| Chunk::from(format!("{i},"))),
        ))
    }));
    let response = get(server.local_addr(), "/").await;
    assert!(response.complete);
    let expected: String = (0..1000).map(|i| format!("{i},")).collect();
    assert_eq!(response.text(), expected);
    let chunks = chunks_on_the_wire(&response.raw);
    assert!(chunks < 10, "1,000 ready items went out in {chunks} chunks");
}

#[tokio::test]
async fn write_bytes_keep_their_place_among_joined_items() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        let write = sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_stream(futures_util::stream::iter((0..50).map(
            move |i| {
                // Queued while item `i` is made: it goes out before it.
                write.write(format!("w{i},"));
                Ok::<_, Error>(format!("b{i},"))
            },
        ))))
    }));
    let response = get(server.local_addr(), "/").await;
    assert!(response.complete);
    // Each item waits behind the bytes written while it was made.
    let expected: String = (0..50).map(|i| format!("w{i},b{i},")).collect();
    assert_eq!(response.text(), expected);
}

#[tokio::test]
async fn an_error_after_joined_items_sends_them_then_aborts() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let ready = (0..100).map(|_| Chunk::from("x"));
        let failing = Chunk::future(async { Err::<&str, _>(std::io::Error::other("gone")) });
        Ok::<_, Error>(Body::from_chunks(
            ready.chain([failing, Chunk::from("never")]),
        ))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert!(!response.complete, "the stream must end aborted");
    assert_eq!(response.text(), "x".repeat(100));
}

#[tokio::test]
async fn joined_items_stop_at_the_declared_length() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Length", "150")])?;
        Ok::<_, Error>(Body::from_chunks((0..200).map(|_| Chunk::from("y"))))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    let head_end = response
        .raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert_eq!(
        response.raw.len() - head_end,
        150,
        "no byte past the length"
    );
    assert_eq!(response.text(), "y".repeat(150));
}
