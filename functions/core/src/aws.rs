//! The one place an AWS SDK configuration is built. Config is loaded once per
//! container and every client is built from it ("config expensive, clients cheap").
//!
//! The HTTPS client is rustls with ring, chosen explicitly so that no SDK crate
//! compiles a second TLS stack; `AWS_ENDPOINT_URL` (standard SDK setting) points
//! every client at a local endpoint in tests and local runs.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode},
    Builder,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;
use std::time::Duration;

/// The SDK's own default sets no overall limit: a call that hangs would run
/// until Lambda kills the invocation, with no summary and no clear error. These
/// bound every call, retries included, inside the shortest function timeout
/// (the webhook's 10 s) and the pruner's 15 s margin before its deadline.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(4))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// The loader every Gantry process starts from; callers may override settings.
pub fn config_loader() -> ConfigLoader {
    let http_client = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(FirstUseTls(http_client))
        .timeout_config(timeouts())
}

/// The SDK config from the standard environment (region, credentials, endpoint),
/// through the SDK's default chains: what the operator's command line uses,
/// where a profile, SSO or a web identity may hold the credentials.
pub async fn load_sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// The SDK config a Lambda function runs with. Lambda hands a function its
/// region (`AWS_REGION`) and its execution role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) in the
/// environment, so both are read from there: the default chains would find
/// them there too, but building them first builds an STS client (for the web
/// identity provider) and the instance metadata providers, about a quarter of
/// the webhook's init (BENCHMARKS.md). Without those variables (a binary run
/// elsewhere) the default chains are used.
pub async fn load_function_config() -> SdkConfig {
    function_config_loader(|name| std::env::var(name).ok())
        .load()
        .await
}

fn function_config_loader(var: impl Fn(&str) -> Option<String>) -> ConfigLoader {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    let mut loader = config_loader();
    if let Some(region) = set("AWS_REGION") {
        loader = loader.region(Region::new(region));
    }
    if set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader
}

/// A client built the first time it is used rather than at init. Each SDK
/// crate parses its partition table (AWS's partitions as JSON, with a regular
/// expression for each one's regions) when its first client is built: about
/// 425,000 instructions a service (BENCHMARKS.md), as much as a bare Lambda
/// binary's whole init. A client most invocations never call (the trigger
/// queue's, for retries only; the build log's and test report's, for failures
/// only) is built by the first invocation that calls it.
pub struct FirstUse<C> {
    client: std::sync::OnceLock<C>,
    build: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C: 'static> FirstUse<C> {
    /// `build(sdk_config)` on first use, e.g. `FirstUse::of(&sdk, aws_sdk_sqs::Client::new)`.
    pub fn of(sdk_config: &SdkConfig, build: fn(&SdkConfig) -> C) -> FirstUse<C> {
        let sdk_config = sdk_config.clone();
        FirstUse {
            client: std::sync::OnceLock::new(),
            build: Box::new(move || build(&sdk_config)),
        }
    }

    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)())
    }
}

/// A client already built (tests build theirs against a local endpoint): an
/// SDK client is a handle, so its first use takes a clone of it.
impl<C: Clone + Send + Sync + 'static> From<C> for FirstUse<C> {
    fn from(client: C) -> FirstUse<C> {
        FirstUse {
            client: std::sync::OnceLock::new(),
            build: Box::new(move || client.clone()),
        }
    }
}

/// The SDK's HTTPS client, with its TLS set up on the first request instead of
/// when each client is built. The SDK builds a throwaway connector per client
/// to load the system's root certificates early; reading and parsing them is
/// most of a cold start (measured in BENCHMARKS.md), and a function that answers
/// without calling AWS (a ping, an ignored event) never needs them.
#[derive(Debug, Clone)]
struct FirstUseTls(SharedHttpClient);

impl HttpClient for FirstUseTls {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
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

/// An AWS SDK failure kept as its service's error type, with whether a retry
/// may help: the one conversion every Gantry error wrapping an AWS call uses.
/// It displays as the service's error and chains to its causes, so it adds no
/// line of its own to an error chain.
#[derive(Debug)]
pub struct ServiceError<S> {
    source: Box<S>,
    transient: bool,
}

impl<S> ServiceError<S> {
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata,
        S: From<SdkError<E, HttpResponse>>,
    {
        ServiceError {
            transient: is_transient(&err),
            source: Box::new(err.into()),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The service's own error, to match on its variants.
    pub fn service(&self) -> &S {
        &self.source
    }
}

impl<S: std::fmt::Display> std::fmt::Display for ServiceError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl<S: std::error::Error> std::error::Error for ServiceError<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda_env(name: &str) -> Option<String> {
        match name {
            "AWS_REGION" => Some("eu-west-1".into()),
            "AWS_ACCESS_KEY_ID" => Some("ASIAEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
            _ => None,
        }
    }

    #[test]
    fn a_client_used_first_is_built_then_once() {
        let built = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = built.clone();
        let client = FirstUse {
            client: std::sync::OnceLock::new(),
            build: Box::new(move || counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
        };
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!((*client.get(), *client.get()), (0, 0));
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn in_lambda_region_and_credentials_come_straight_from_the_environment() {
        let config = function_config_loader(lambda_env).load().await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let provider = format!("{:?}", config.credentials_provider());
        assert!(
            provider.contains("EnvironmentVariableCredentialsProvider"),
            "{provider}"
        );
    }

    #[tokio::test]
    async fn without_lambda_s_variables_the_default_chains_are_used() {
        let config = function_config_loader(|name| match name {
            // Set but empty is not set.
            "AWS_ACCESS_KEY_ID" => Some(String::new()),
            _ => None,
        })
        .load()
        .await;
        let provider = format!("{:?}", config.credentials_provider());
        assert!(provider.contains("DefaultCredentialsChain"), "{provider}");
    }
}
