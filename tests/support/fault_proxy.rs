//! An HTTP proxy that injects faults, at a set rate, between a function and
//! what it calls: moto's server (AWS) or the GitHub stand-in. Each request is
//! either passed on, or answered with one fault in the shapes the real
//! services use:
//!
//! - AWS: a 500 (`InternalFailure`), a throttling 400 (`ThrottlingException`,
//!   the JSON protocols' error type header), a connection reset before the
//!   request arrives, an answer lost after it arrived (the request reached
//!   moto, the connection is closed before the answer: the SDK's retry repeats
//!   it with the same idempotency token), or a slow answer;
//! - GitHub: a 502, a 429 with `Retry-After`, a secondary rate limit (403 with
//!   GitHub's message and `Retry-After`), a reset, a lost answer, a slow answer.
//!
//! Loopback only; the decisions come from a seeded generator, drawn in the
//! order requests arrive (concurrent requests may arrive in either order, so
//! two runs with one seed meet about the same faults, not the same ones).
//!
//! A request that meets no fault may still be scripted (`Script`): moto runs no
//! build and lacks some operations, so the soak writes the outcomes it scripts
//! into the answers that report them, and shortens the waits it compresses.
//!
//! Writes to one DynamoDB item are passed on one at a time, as DynamoDB applies
//! them and moto does not (`item_writes`).

use crate::item_writes::ItemWrites;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Aws,
    GitHub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    ServerError,
    Throttled,
    Reset,
    AnswerLost,
    Slow,
}

const FAULTS: [Fault; 5] = [
    Fault::ServerError,
    Fault::Throttled,
    Fault::Reset,
    Fault::AnswerLost,
    Fault::Slow,
];

/// One request as it passed: its operation (`X-Amz-Target`'s, or GitHub's
/// method and path), its body, and the fault it met.
#[derive(Debug, Clone)]
pub struct Passed {
    pub operation: String,
    /// The SDK's `amz-sdk-invocation-id`: the same on every retry of one call.
    pub invocation: Option<String>,
    pub body: Bytes,
    pub fault: Option<Fault>,
}

impl Passed {
    /// Whether the request reached the upstream (and so took effect there).
    pub fn arrived(&self) -> bool {
        matches!(
            self.fault,
            None | Some(Fault::Slow) | Some(Fault::AnswerLost)
        )
    }
}

/// What a proxy changes in the requests it passes on and the answers it
/// gives back, past the faults: a request that met a fault is not scripted.
pub trait Script: Send + Sync {
    /// The request's body as the upstream gets it.
    fn request(&self, _operation: &str, body: Bytes) -> Bytes {
        body
    }
    /// An answer (a 200 with this JSON body) in place of the upstream's, for an
    /// operation the upstream lacks; `None` passes the request on.
    fn answer(&self, _operation: &str, _request: &[u8]) -> Option<Bytes> {
        None
    }
    /// The upstream's successful answer as the caller gets it.
    fn answered(&self, _operation: &str, _request: &[u8], answer: Bytes) -> Bytes {
        answer
    }
}

/// Passes everything as it is.
pub struct Unscripted;

impl Script for Unscripted {}

struct Shared {
    upstream: String,
    kind: Upstream,
    script: Arc<dyn Script>,
    /// Faults per million requests.
    rate_ppm: u64,
    rng: Mutex<u64>,
    log: Mutex<Vec<Passed>>,
    client: Client<HttpConnector, Full<Bytes>>,
    item_writes: ItemWrites,
}

pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free loopback port to `upstream` (`http://127.0.0.1:PORT`),
    /// faulting `rate` (0.0-1.0) of the requests and scripting the others.
    pub async fn start(
        upstream: &str,
        kind: Upstream,
        rate: f64,
        seed: u64,
        script: Arc<dyn Script>,
    ) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            kind,
            script,
            rate_ppm: (rate.clamp(0.0, 1.0) * 1_000_000.0) as u64,
            rng: Mutex::new(seed.max(1)),
            log: Mutex::new(Vec::new()),
            client: Client::builder(TokioExecutor::new()).build_http(),
            item_writes: ItemWrites::default(),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { shared.handle(request).await }
                    });
                    // A fault that resets ends the connection with an error: no answer.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy { url, shared, task })
    }

    /// Every request that passed, in order.
    pub fn passed(&self) -> Vec<Passed> {
        self.shared
            .log
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// How many requests met each fault.
    pub fn fault_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for passed in self.passed() {
            let name = passed.fault.map_or("none".to_owned(), |f| format!("{f:?}"));
            *counts.entry(name).or_default() += 1;
        }
        counts
    }

    /// From now on, pass everything (an operator's redrive after the outage).
    pub fn heal(&self) {
        if let Ok(mut rng) = self.shared.rng.lock() {
            *rng |= HEALED;
        }
    }
}

fn json_answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("a header"),
    );
    response
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Set in the generator's state once healed; the generator itself keeps to
/// the low 63 bits.
const HEALED: u64 = 1 << 63;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

impl Shared {
    /// The next fault, or none.
    fn draw(&self) -> Option<Fault> {
        let mut state = self.rng.lock().ok()?;
        if *state & HEALED != 0 {
            return None;
        }
        // xorshift64 (Marsaglia), in the low 63 bits.
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x &= !HEALED;
        *state = x.max(1);
        let roll = x % 1_000_000;
        (roll < self.rate_ppm).then(|| FAULTS[(x / 1_000_000 % FAULTS.len() as u64) as usize])
    }

    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        let operation = match self.kind {
            Upstream::Aws => parts
                .headers
                .get("x-amz-target")
                .and_then(|t| t.to_str().ok())
                .and_then(|t| t.rsplit_once('.'))
                .map(|(_, op)| op.to_owned())
                .unwrap_or_else(|| format!("{} {}", parts.method, parts.uri.path())),
            Upstream::GitHub => format!("{} {}", parts.method, parts.uri.path()),
        };
        let fault = self.draw();
        if let Ok(mut log) = self.log.lock() {
            log.push(Passed {
                operation: operation.clone(),
                invocation: parts
                    .headers
                    .get("amz-sdk-invocation-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: body.clone(),
                fault,
            });
        }
        match fault {
            Some(Fault::Reset) => return Err(Dropped),
            Some(Fault::ServerError) => return Ok(self.server_error()),
            Some(Fault::Throttled) => return Ok(self.throttled(&body)),
            Some(Fault::Slow) => tokio::time::sleep(Duration::from_millis(300)).await,
            _ => {}
        }
        if let Some(answer) = self.script.answer(&operation, &body) {
            if fault == Some(Fault::AnswerLost) {
                return Err(Dropped);
            }
            return Ok(json_answer(StatusCode::OK, answer));
        }
        let request_body = body.clone();
        let body = self.script.request(&operation, body);
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut forward = Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            // The body a script changed has another length: hyper sets it.
            if name != "host" && name != "content-length" {
                forward = forward.header(name, value);
            }
        }
        let forward = forward.body(Full::new(body)).map_err(|_| Dropped)?;
        let writing = match self.kind {
            Upstream::Aws => {
                self.item_writes
                    .one_at_a_time(&operation, &request_body)
                    .await
            }
            Upstream::GitHub => None,
        };
        let answer = self.client.request(forward).await.map_err(|_| Dropped)?;
        let (answer_parts, answer_body) = answer.into_parts();
        let answer_body = answer_body.collect().await.map_err(|_| Dropped)?.to_bytes();
        drop(writing);
        if fault == Some(Fault::AnswerLost) {
            return Err(Dropped);
        }
        let answer_body = if answer_parts.status.is_success() {
            self.script.answered(&operation, &request_body, answer_body)
        } else {
            answer_body
        };
        let mut answer = Response::from_parts(answer_parts, Full::new(answer_body));
        // The body may have changed length; hyper sets it again from the body.
        answer.headers_mut().remove("content-length");
        Ok(answer)
    }

    fn server_error(&self) -> Response<Full<Bytes>> {
        let (status, body) = match self.kind {
            Upstream::Aws => (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"__type":"InternalFailure","message":"injected by the fault proxy"}"#,
            ),
            Upstream::GitHub => (StatusCode::BAD_GATEWAY, r#"{"message":"Server Error"}"#),
        };
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        if self.kind == Upstream::Aws {
            response.headers_mut().insert(
                "x-amzn-errortype",
                "InternalFailure".parse().expect("a header"),
            );
        }
        response.headers_mut().insert(
            "content-type",
            "application/json".parse().expect("a header"),
        );
        response
    }

    /// AWS's throttling error; GitHub's 429, or (every other time, by the
    /// body's length) its secondary rate limit, each with `Retry-After: 1`.
    fn throttled(&self, body: &Bytes) -> Response<Full<Bytes>> {
        let (status, error_type, text) = match self.kind {
            Upstream::Aws => (
                StatusCode::BAD_REQUEST,
                Some("ThrottlingException"),
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            Upstream::GitHub if body.len() % 2 == 0 => (
                StatusCode::TOO_MANY_REQUESTS,
                None,
                r#"{"message":"API rate limit exceeded"}"#,
            ),
            Upstream::GitHub => (
                StatusCode::FORBIDDEN,
                None,
                r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#,
            ),
        };
        let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            "application/json".parse().expect("a header"),
        );
        if let Some(error_type) = error_type {
            headers.insert("x-amzn-errortype", error_type.parse().expect("a header"));
        } else {
            headers.insert("retry-after", "1".parse().expect("a header"));
        }
        response
    }
}
