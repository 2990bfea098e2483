use gantry_core::{aws, config, logging};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use pruner::{config::PrunerConfig, function_handler, protect::Protector, store::Store, Pruner};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = config::or_exit(PrunerConfig::from_env(), "pruner");
    let sdk_config = aws::load_function_config().await;
    let pruner = Pruner::new(
        config,
        Store::new(aws_sdk_s3::Client::new(&sdk_config)),
        Protector::new(aws_sdk_codepipeline::Client::new(&sdk_config)),
    );
    run(service_fn(|event: LambdaEvent<_>| {
        function_handler(&pruner, event)
    }))
    .await
}
