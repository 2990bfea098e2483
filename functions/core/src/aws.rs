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
