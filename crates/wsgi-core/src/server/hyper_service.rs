//! The per-connection hyper service, between hyper and [`WsgiService`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::application::Application;
use crate::connection::Connection;
use crate::response_body::ResponseBody;
use crate::response_future::ResponseFuture;
use crate::service::{HostCache, WsgiService};

use super::generation::RequestCounter;
use super::hooks::{Hooks, RequestInfo, ResponseInfo};

/// The per-connection hyper service: adds `pulsar.connection`, which also
/// counts the requests in flight for the connection's timeouts, counts
/// requests for `max_requests`, and runs the request hooks.
pub(super) struct ConnService<A: ?Sized> {
    pub(super) service: WsgiService<A>,
    pub(super) connection: Connection,
    pub(super) counter: Option<Arc<RequestCounter>>,
    pub(super) hooks: Arc<Hooks>,
    /// The connection's last valid `Host`.
    pub(super) hosts: HostCache,
}

impl<A: Application + ?Sized> hyper::service::Service<Request<Incoming>> for ConnService<A> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(counter) = &self.counter {
            counter.count();
        }
        let hooked = self.hooks.pre_request.is_some() || self.hooks.post_request.is_some();
        let info = hooked.then(|| RequestInfo {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            connection: self.connection.clone(),
        });
        // Made now so the request counts as in flight during `pre_request`;
        // the application is only called when it is polled.
        let respond =
            self.service
                .respond(request, Some(self.connection.clone()), Some(&self.hosts));
        let Some(info) = info else {
            return respond;
        };
        let hooks = Arc::clone(&self.hooks);
        ResponseFuture::from_future(async move {
            let started = Instant::now();
            if let Some(pre) = &hooks.pre_request {
                pre(info.clone()).await;
            }
            let Ok(mut response) = respond.await;
            if let Some(post) = hooks.post_request.clone() {
                let status = response.status();
                response.body_mut().on_end(Box::new(move |bytes, outcome| {
                    let handle = info.connection.handle().clone();
                    let response = ResponseInfo {
                        status,
                        bytes,
                        duration: started.elapsed(),
                        outcome,
                    };
                    handle.spawn(post((info, response)));
                }));
            }
            response
        })
    }
}
