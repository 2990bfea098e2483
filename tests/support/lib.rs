//! What the end-to-end tests and the local run share: moto's server as AWS, a
//! local Lambda Runtime API for the functions' binaries, the local world they
//! run in, a recorder for the requests Gantry sends, and a router that sends
//! chosen operations to a stand-in.

pub mod app_mode;
pub mod check_runs;
pub mod deliveries;
pub mod fault_proxy;
pub mod item_writes;
pub mod local_run;
pub mod moto;
pub mod recorder;
pub mod rest;
pub mod route;
pub mod runtime;
pub mod scenario;
pub mod soak;

use http::{HeaderMap, HeaderValue};
use std::path::PathBuf;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A sample event from `events/`.
pub fn sample(path: &str) -> serde_json::Value {
    let file = workspace_root().join("events").join(path);
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// A binary of this workspace, as `cargo build --workspace` leaves it, next to
/// the running test or tool.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// The GitHub payload of a sample Function URL event, re-signed under `secret`.
pub fn webhook_delivery(sample_name: &str, secret: &str) -> (HeaderMap, Vec<u8>) {
    let event = sample(&format!("webhook/{sample_name}.json"));
    let body = event["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let mut headers = HeaderMap::new();
    for (name, value) in event["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            name.parse::<http::HeaderName>(),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&gantry_webhook::signature::sign(secret.as_bytes(), &body)).unwrap(),
    );
    (headers, body)
}

/// A deadline far enough away for any one test invocation.
pub fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(20)
}
