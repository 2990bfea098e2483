use gantry_core::ledger::{Clock, Ledger, LEDGER_TABLE};
use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use trigger::{config::Routes, function_handler, start::Starter, Trigger};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let routes = config::or_exit(Routes::from_env(), "trigger");
    let ledger_table = config::or_exit(config::required(LEDGER_TABLE), "trigger");
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
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&trigger, event)
    }))
    .await
}
