//! `webhook`: GitHub delivery in, normalised EventBridge event out.
//!
//! Order of checks, each with its own answer: size (413), signature (401),
//! content type (415), headers and body (400), publish (502); pings get 200,
//! deliveries Gantry does not build get 202 and a log line saying why.

pub mod comment;
pub mod config;
pub mod handler;
pub mod payload;
pub mod publish;
pub mod signature;

pub use handler::{Reply, Webhook};

use gantry_core::deadline;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use std::time::Duration;

/// Time kept back from the Lambda deadline to answer GitHub and flush logs.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The Function URL adapter: the reply, as an HTTP response.
pub async fn function_handler(
    webhook: &Webhook,
    request: Request,
) -> Result<Response<Body>, Error> {
    let deadline = match request.lambda_context_ref() {
        Some(context) => deadline::before_lambda_deadline(context.deadline, DEADLINE_MARGIN),
        // lambda_http always sets the context; this is only a safe default.
        None => tokio::time::Instant::now() + Duration::from_secs(9),
    };
    let reply = webhook
        .handle(request.headers(), request.body().as_ref(), deadline)
        .await;
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", "text/plain")
        .body(Body::from(reply.body))?)
}
