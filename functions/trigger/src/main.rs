// The layout of the handler's future (a batch of events, each with its
// concurrent starts and stops, inside spans and deadlines) nests deeper than
// the default limit of 128 allows.
#![recursion_limit = "256"]

use gantry_core::ledger::{Clock, Ledger, LEDGER_TABLE};
use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use trigger::queue::{TriggerQueue, TRIGGER_DLQ_URL, TRIGGER_QUEUE_URL};
use trigger::{config::Routes, function_handler, start::Starter, Trigger};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let routes = config::or_exit(Routes::from_env(), "trigger");
    let ledger_table = config::or_exit(config::required(LEDGER_TABLE), "trigger");
    let queue_url = config::or_exit(config::required(TRIGGER_QUEUE_URL), "trigger");
    let dead_letter_url = config::or_exit(config::required(TRIGGER_DLQ_URL), "trigger");
    let sdk_config = aws::load_sdk_config().await;
    let trigger = Trigger::new(
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
    let queue = TriggerQueue::new(
        aws_sdk_sqs::Client::new(&sdk_config),
        queue_url,
        dead_letter_url,
    );
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&trigger, &queue, event)
    }))
    .await
}
