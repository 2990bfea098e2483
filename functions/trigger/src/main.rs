// The layout of the handler's future (a batch of events, each with its
// concurrent starts and stops, inside spans and deadlines) nests deeper than
// the default limit of 128 allows.
#![recursion_limit = "256"]

use aws_config::SdkConfig;
use gantry_core::github::{credential, Credential, RetryPolicy};
use gantry_core::ledger::{Clock, Ledger, LEDGER_TABLE};
use gantry_core::secret;
use gantry_core::status_config::StatusConfig;
use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use trigger::approval::GitHubAccess;
use trigger::queue::{TriggerQueue, TRIGGER_DLQ_URL, TRIGGER_QUEUE_URL};
use trigger::{config::Routes, function_handler, start::Starter, Trigger};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let routes = config::or_exit(Routes::from_env(), "trigger");
    let ledger_table = config::or_exit(config::required(LEDGER_TABLE), "trigger");
    let queue_url = config::or_exit(config::required(TRIGGER_QUEUE_URL), "trigger");
    let dead_letter_url = config::or_exit(config::required(TRIGGER_DLQ_URL), "trigger");
    let sdk_config = aws::load_function_config().await;
    // GitHub is read only for routes that build forks on a maintainer's
    // approval (and told that a fork waits) or filter pull requests by paths;
    // then its credential must be set.
    let github = routes.need_github().then(|| {
        let access = github_access(&sdk_config);
        config::or_exit(access, "trigger")
    });
    let mut trigger = Trigger::new(
        routes,
        Starter::new(
            aws_sdk_codepipeline::Client::new(&sdk_config),
            aws_sdk_codebuild::Client::new(&sdk_config),
        ),
        Ledger::new(
            aws_sdk_dynamodb::Client::new(&sdk_config),
            ledger_table,
            Clock::system(),
        ),
    );
    if let Some(github) = github {
        trigger = trigger.with_github(github);
    }
    let queue = TriggerQueue::new(
        aws::FirstUse::of(&sdk_config, aws_sdk_sqs::Client::new),
        queue_url,
        dead_letter_url,
    );
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&trigger, &queue, event)
    }))
    .await
}

fn github_access(sdk_config: &SdkConfig) -> Result<GitHubAccess, config::ConfigError> {
    let api_url = credential::api_url_from_env()?;
    let client = Credential::from_env()?
        .client(
            &api_url,
            secret::ttl_from_env()?,
            sdk_config,
            RetryPolicy::default(),
        )
        .map_err(|err| config::ConfigError::Invalid {
            name: credential::API_URL,
            reason: err.to_string(),
        })?;
    Ok(GitHubAccess {
        client,
        statuses: StatusConfig::from_env()?,
    })
}
