// The release build computes the layout of the handler's future (reads, GitHub
// retries and their rechecks, each inside tracing spans and deadlines) deeper
// than the default limit of 128 allows.
#![recursion_limit = "256"]

use gantry_core::github::{GitHubClient, RetryPolicy};
use gantry_core::secret::CachedSecret;
use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use status::{config::StatusSettings, function_handler, reader::Reader, StatusHandler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let settings = config::or_exit(StatusSettings::from_env(), "status");
    let sdk_config = aws::load_sdk_config().await;
    let github = GitHubClient::new(
        &settings.api_url,
        CachedSecret::new(settings.token, settings.token_ttl, &sdk_config),
        RetryPolicy::default(),
    );
    let github = config::or_exit(
        github.map_err(|err| config::ConfigError::Invalid {
            name: status::config::API_URL,
            reason: err.to_string(),
        }),
        "status",
    );
    let handler = StatusHandler::new(
        settings.statuses,
        Reader::new(
            aws_sdk_codebuild::Client::new(&sdk_config),
            aws_sdk_codepipeline::Client::new(&sdk_config),
        ),
        github,
    );
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&handler, event)
    }))
    .await
}
