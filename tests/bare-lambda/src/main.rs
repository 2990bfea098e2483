//! The floor for cold-start figures: a bare `lambda_runtime` function that
//! echoes its event, built with the same profile as Gantry's functions.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
