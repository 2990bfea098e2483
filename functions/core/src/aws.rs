//! The one place an AWS SDK configuration is built. Config is loaded once per
//! container and every client is built from it ("config expensive, clients cheap").
//!
//! The HTTPS client is rustls with ring, chosen explicitly so that no SDK crate
//! compiles a second TLS stack; `AWS_ENDPOINT_URL` (standard SDK setting) points
//! every client at a local endpoint in tests and local runs.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode},
    Builder,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The loader every Gantry process starts from; callers may override settings.
pub fn config_loader() -> ConfigLoader {
    let http_client = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// The SDK config from the standard environment (region, credentials, endpoint).
pub async fn load_sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// Error codes that mean "try again later" rather than "this will never work".
const TRANSIENT_CODES: [&str; 5] = [
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ConcurrentModificationException",
];

/// Whether an SDK failure is worth retrying later (throttling, 5xx, network),
/// as opposed to one that needs an operator (unknown resource, bad request).
/// The SDK has already retried it a few times by the time this is asked.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(context) => {
            context.raw().status().is_server_error()
                || context
                    .err()
                    .code()
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        SdkError::ConstructionFailure(_) => false,
        // Timeouts, connection failures, unreadable responses.
        _ => true,
    }
}
