//! Response compression (`server.compression`): gzip or brotli per `Accept-Encoding`, for
//! responses of at least `server.compression_min_bytes`, never for WebSocket upgrades, images,
//! gRPC or event streams. tower-http's `Compression` does the work.
//!
//! A POST without `Accept-Encoding` skips that machinery: there is nothing to negotiate, so
//! the answer would be the identity encoding anyway, and tower-http wraps every body it sees
//! (measured: 10% of the requests/s of a constant query answered from memory). POST responses
//! are not stored by HTTP caches, so the `Vary: Accept-Encoding` the wrapper would add to a
//! large identity response is not needed there; GETs always go through it.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use futures::future::{Either, FutureExt, Map};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionBody, ResponseFuture};

/// Compresses responses worth compressing, as the module docs say.
#[derive(Clone, Copy)]
pub struct CompressionLayer {
    pub min_bytes: u16,
}

impl<S: Clone> tower::Layer<S> for CompressionLayer {
    type Service = Compress<S>;

    fn layer(&self, inner: S) -> Compress<S> {
        Compress {
            compressing: Compression::new(inner.clone())
                .gzip(true)
                .br(true)
                .compress_when(WorthCompressing {
                    min_bytes: self.min_bytes,
                }),
            inner,
        }
    }
}

/// Which responses are compressed when the client accepts an encoding.
#[derive(Clone, Copy)]
pub struct WorthCompressing {
    min_bytes: u16,
}

impl Predicate for WorthCompressing {
    fn should_compress<B: HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        response.status() != StatusCode::SWITCHING_PROTOCOLS
            && SizeAbove::new(self.min_bytes).should_compress(response)
            && NotForContentType::GRPC.should_compress(response)
            && NotForContentType::IMAGES.should_compress(response)
            && NotForContentType::SSE.should_compress(response)
    }
}

/// [`CompressionLayer`]'s service.
#[derive(Clone)]
pub struct Compress<S> {
    inner: S,
    compressing: Compression<S, WorthCompressing>,
}

type Compressed = Result<axum::http::Response<CompressionBody<Body>>, Infallible>;

/// tower-http's answer as axum's response (a plain `fn`, so the future type can be named).
type IntoResponse = fn(Compressed) -> Result<Response, Infallible>;

fn into_response(answer: Compressed) -> Result<Response, Infallible> {
    answer.map(|res| res.map(Body::new))
}

impl<S> tower::Service<Request> for Compress<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Map<ResponseFuture<S::Future, WorthCompressing>, IntoResponse>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.compressing.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let negotiates = request.method() != Method::POST
            || request.headers().contains_key(header::ACCEPT_ENCODING);
        if negotiates {
            let convert: IntoResponse = into_response;
            Either::Right(self.compressing.call(request).map(convert))
        } else {
            Either::Left(self.inner.call(request))
        }
    }
}
