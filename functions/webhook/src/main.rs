use gantry_core::{aws, config, logging, secret::CachedSecret};
use lambda_http::{run, service_fn, Error, Request};
use webhook::{config::WebhookConfig, function_handler, publish::Publisher, Webhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = config::or_exit(WebhookConfig::from_env(), "webhook");
    let sdk_config = aws::load_function_config().await;
    let webhook = Webhook::new(
        CachedSecret::new(config.secret, config.secret_ttl, &sdk_config),
        Publisher::new(
            aws_sdk_eventbridge::Client::new(&sdk_config),
            config.event_bus,
        ),
    );
    run(service_fn(|request: Request| {
        function_handler(&webhook, request)
    }))
    .await
}
