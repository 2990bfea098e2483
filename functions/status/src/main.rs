// The release build computes the layout of the handler's future (reads, GitHub
// retries and their rechecks, each inside tracing spans and deadlines) deeper
// than the default limit of 128 allows.
#![recursion_limit = "256"]

use gantry_core::github::RetryPolicy;
use gantry_core::ledger::{Clock, Ledger};
use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use status::config::StatusSettings;
use status::{evidence::Evidence, function_handler, reader::Reader, StatusHandler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let settings = config::or_exit(StatusSettings::from_env(), "status");
    let sdk_config = aws::load_function_config().await;
    let github = settings.credential.client(
        &settings.api_url,
        settings.secret_ttl,
        &sdk_config,
        RetryPolicy::default(),
    );
    let github = config::or_exit(
        github.map_err(|err| config::ConfigError::Invalid {
            name: status::config::API_URL,
            reason: err.to_string(),
        }),
        "status",
    );
    let mut handler = StatusHandler::new(
        settings.statuses,
        Reader::new(
            aws_sdk_codebuild::Client::new(&sdk_config),
            aws_sdk_codepipeline::Client::new(&sdk_config),
        ),
        github,
    )
    .with_evidence(Evidence::new(
        aws::FirstUse::of(&sdk_config, aws_sdk_cloudwatchlogs::Client::new),
        aws::FirstUse::of(&sdk_config, aws_sdk_s3::Client::new),
    ));
    if let Some(table) = settings.ledger_table {
        handler = handler.with_ledger(Ledger::new(
            aws_sdk_dynamodb::Client::new(&sdk_config),
            table,
            Clock::system(),
        ));
    }
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&handler, event)
    }))
    .await
}
