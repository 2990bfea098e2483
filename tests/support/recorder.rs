//! Records the requests an SDK client sends. moto ignores idempotency tokens,
//! `sourceRevisions` and build environment overrides, so the tests prove those
//! by what Gantry puts on the wire, next to what moto shows.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The JSON protocol's `X-Amz-Target`, e.g. `CodePipeline_20150709.StartPipelineExecution`.
    pub target: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct RequestRecorder {
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RequestRecorder {
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The bodies of recorded requests whose target ends with `operation`.
    pub fn bodies(&self, operation: &str) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.target.ends_with(&format!(".{operation}")))
            .map(|r| r.body)
            .collect()
    }
}

impl Intercept for RequestRecorder {
    fn name(&self) -> &'static str {
        "RequestRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body = match request.body().bytes() {
            Some(bytes) if !bytes.is_empty() => serde_json::from_slice(bytes)?,
            _ => serde_json::Value::Null,
        };
        self.requests
            .lock()
            .map_err(|_| "recorder lock poisoned")?
            .push(RecordedRequest { target, body });
        Ok(())
    }
}
