//! `webhook`: GitHub delivery in, normalised EventBridge event out.
//!
//! Order of checks, each with its own answer: size (413), signature (401),
//! content type (415), headers and body (400), publish (502); pings get 200,
//! deliveries Gantry does not build get 202 and a log line saying why.

pub mod config;
pub mod handler;
pub mod payload;
pub mod publish;
pub mod signature;

pub use handler::{Reply, Webhook};

use lambda_http::{Body, Error, Request, Response};

/// The Function URL adapter: the reply, as an HTTP response.
pub async fn function_handler(
    webhook: &Webhook,
    request: Request,
) -> Result<Response<Body>, Error> {
    let reply = webhook
        .handle(request.headers(), request.body().as_ref())
        .await;
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", "text/plain")
        .body(Body::from(reply.body))?)
}
