//! Micro-benchmarks of wsgi-rs's per-request pieces, each next to the
//! cheapest honest baseline doing the same job with `http`/`http-body`
//! directly. Run with `cargo bench -p wsgi-benchmarks --bench micro`.

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::StreamExt;
use http::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tower_service::Service;
use wsgi_benchmarks::{json_object, peer_vars, StreamShape, HELLO};
use wsgi_core::middleware::{middleware_fn, response_middleware_fn};
use wsgi_core::{
    app_fn, Body, Environ, Error, StartResponse, WsgiHandler, WsgiResponse, WsgiService,
};

/// A typical browser-ish request head.
fn request() -> http::Request<()> {
    http::Request::get("/caf%C3%A9/items?page=2")
        .header("Host", "example.com:8080")
        .header("User-Agent", "bench/1.0")
        .header("Accept", "text/html,application/xhtml+xml")
        .header("Accept-Encoding", "gzip, br")
        .header("Cookie", "a=1")
        .header("Cookie", "b=2")
        .body(())
        .unwrap_or_default()
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a runtime: {e}"),
    }
}

fn environ(c: &mut Criterion) {
    let mut g = c.benchmark_group("environ");
    g.bench_function(
        "wsgi: build environ, read PATH_INFO and HTTP_USER_AGENT",
        |b| {
            b.iter_batched(
                request,
                |req| {
                    let environ = Environ::from_request(req);
                    let path = environ.path_info().len();
                    let agent = environ.get("HTTP_USER_AGENT").map_or(0, |v| v.len());
                    black_box(path + agent)
                },
                BatchSize::SmallInput,
            )
        },
    );
    g.bench_function(
        "baseline: http::Request, decode path, read User-Agent",
        |b| {
            b.iter_batched(
                request,
                |req| {
                    let path = percent_encoding::percent_decode_str(req.uri().path())
                        .decode_utf8_lossy()
                        .len();
                    let agent = req
                        .headers()
                        .get(USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .map_or(0, str::len);
                    black_box(path + agent)
                },
                BatchSize::SmallInput,
            )
        },
    );
    let environ = Environ::from_request(request());
    g.bench_function("wsgi: every variable as JSON (vars)", |b| {
        b.iter(|| black_box(json_object(&environ.vars())))
    });
    let (head, ()) = request().into_parts();
    g.bench_function(
        "baseline: the same values from http::Request as JSON",
        |b| b.iter(|| black_box(json_object(&peer_vars(&head, None, None)))),
    );
    g.finish();
}

fn start_response(c: &mut Criterion) {
    let mut g = c.benchmark_group("start_response");
    g.bench_function("wsgi: start(\"200 OK\", [Content-Type])", |b| {
        b.iter(|| {
            let start_response = StartResponse::new();
            black_box(
                start_response
                    .start(black_box("200 OK"), [("Content-Type", "text/plain")])
                    .is_ok(),
            );
            start_response
        })
    });
    g.bench_function("baseline: http::Response::builder head", |b| {
        b.iter(|| {
            black_box(
                http::Response::builder()
                    .status(black_box(200))
                    .header(CONTENT_TYPE, "text/plain")
                    .body(()),
            )
        })
    });
    g.finish();
}

fn body(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("body");
    g.bench_function("wsgi: Body::full drained", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut body = Body::full(Bytes::from_static(HELLO));
                let mut n = 0;
                while let Some(Ok(chunk)) = body.next().await {
                    n += chunk.len();
                }
                black_box(n)
            })
        })
    });
    g.bench_function("baseline: http_body_util::Full drained", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut body = Full::new(Bytes::from_static(HELLO));
                let mut n = 0;
                while let Some(Ok(frame)) = body.frame().await {
                    n += frame.data_ref().map_or(0, Bytes::len);
                }
                black_box(n)
            })
        })
    });
    let shape = StreamShape::for_path("/stream/small");
    let shape = match shape {
        Some(shape) => shape,
        None => panic!("no small stream"),
    };
    g.bench_function("wsgi: Body::from_stream, 1,000 futures, drained", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut body = Body::from_stream(shape.stream());
                let mut n = 0;
                while let Some(Ok(chunk)) = body.next().await {
                    n += chunk.len();
                }
                black_box(n)
            })
        })
    });
    g.bench_function("baseline: StreamBody, 1,000 futures, drained", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut body =
                    std::pin::pin!(StreamBody::new(shape.stream().map(|c| c.map(Frame::data))));
                let mut n = 0;
                while let Some(Ok(frame)) = body.frame().await {
                    n += frame.data_ref().map_or(0, Bytes::len);
                }
                black_box(n)
            })
        })
    });
    g.finish();
}

/// Calls a tower service with a GET and reads the whole response body.
async fn roundtrip<S, B>(service: &mut S) -> usize
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    B: http_body::Body,
{
    let req = http::Request::get("/")
        .body(Full::new(Bytes::new()))
        .unwrap_or_default();
    let Ok(response) = service.call(req).await else {
        return 0;
    };
    match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes().len(),
        Err(_) => 0,
    }
}

/// The plain async function the handler benchmarks compare with.
async fn plain(
    _req: http::Request<Full<Bytes>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let mut response = http::Response::new(Full::new(Bytes::from_static(HELLO)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn service(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("service");
    let mut baseline = tower_service_fn(plain);
    g.bench_function("baseline: plain async fn -> http::Response", |b| {
        b.iter(|| black_box(rt.block_on(roundtrip(&mut baseline))))
    });
    let mut app = WsgiService::new(app_fn(|_: &mut Environ, start_response: StartResponse| {
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(HELLO)
    }));
    g.bench_function("wsgi: app_fn hello through WsgiService", |b| {
        b.iter(|| black_box(rt.block_on(roundtrip(&mut app))))
    });
    let mut handler = WsgiHandler::default();
    for _ in 0..5 {
        handler = handler.middleware(middleware_fn(|_: &mut Environ| Ok::<_, Error>(None)));
    }
    let handler = handler.middleware(middleware_fn(|_: &mut Environ| {
        Ok::<_, Error>(Some(WsgiResponse::text("Hello, World!")))
    }));
    let mut chain = WsgiService::new(handler.clone());
    g.bench_function(
        "wsgi: WsgiHandler, 5 passing middleware + 1 answering",
        |b| b.iter(|| black_box(rt.block_on(roundtrip(&mut chain)))),
    );
    let mut with_response = WsgiService::new(handler.response_middleware(response_middleware_fn(
        |_: &mut Environ, mut response: WsgiResponse| {
            response
                .headers_mut()
                .insert("x-bench", HeaderValue::from_static("1"));
            Ok::<_, Error>(response)
        },
    )));
    g.bench_function("wsgi: the same chain + 1 response middleware", |b| {
        b.iter(|| black_box(rt.block_on(roundtrip(&mut with_response))))
    });
    g.finish();
}

/// `tower::service_fn` without pulling in tower: an async fn as a service.
fn tower_service_fn<F, Fut, Req, Res>(f: F) -> FnService<F>
where
    F: FnMut(Req) -> Fut,
    Fut: std::future::Future<Output = Result<Res, Infallible>>,
{
    FnService(f)
}

struct FnService<F>(F);

impl<F, Fut, Req, Res> Service<Req> for FnService<F>
where
    F: FnMut(Req) -> Fut,
    Fut: std::future::Future<Output = Result<Res, Infallible>>,
{
    type Response = Res;
    type Error = Infallible;
    type Future = Fut;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Fut {
        (self.0)(req)
    }
}

// The macro's generated function has no doc comment of its own.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, environ, start_response, body, service);
}
use group::benches;
criterion_main!(benches);
