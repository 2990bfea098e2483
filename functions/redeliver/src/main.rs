// The handler future nests the GitHub client's retries deeply (as trigger's does).
#![recursion_limit = "256"]

use gantry_core::github::RetryPolicy;
use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use redeliver::{config::RedeliverConfig, function_handler, Redeliverer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let settings = config::or_exit(RedeliverConfig::from_env(), "redeliver");
    let sdk_config = aws::load_function_config().await;
    let github = settings
        .credential
        .client(
            &settings.api_url,
            settings.secret_ttl,
            &sdk_config,
            RetryPolicy::default(),
        )
        .unwrap_or_else(|err| {
            tracing::error!(error = %logging::error_chain(&err), "redeliver is misconfigured");
            std::process::exit(1)
        });
    let redeliverer = Redeliverer {
        github,
        window: settings.window,
    };
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&redeliverer, event)
    }))
    .await
}
