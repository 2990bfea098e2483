//! The trigger queue against moto's SQS: a signed delivery goes through the
//! webhook and the bus's rule into the queue, and `trigger` answers each batch
//! as Lambda's event source mapping hands it over (moto runs no mapping, so the
//! tests receive the batch and settle it by trigger's partial batch response).
//! moto's clock is the wall clock, so a backoff's wait is ended by setting the
//! message's visibility to zero, as the minutes passing would.

use gantry_core::ledger::Clock;
use gantry_tests::moto::Moto;
use gantry_tests::recorder::RequestRecorder;
use gantry_tests::scenario::{self, LocalAws, LOCAL_SECRET, PROJECT};
use gantry_tests::{soon, webhook_delivery, BoxError};
use gantry_trigger::config::Routes;
use gantry_trigger::queue::{TriggerQueue, ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE};
use gantry_trigger::retry::MAX_RECEIVES;
use gantry_trigger::start::Starter;
use gantry_trigger::Trigger;
use gantry_webhook::Webhook;
use std::time::Duration;
use wiremock::matchers::header;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PUSH_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

struct World {
    _moto: Moto,
    aws: LocalAws,
    webhook: Webhook,
    /// Starts against moto.
    trigger: Trigger,
    /// The same routes and ledger, but CodeBuild throttles every `StartBuild`.
    throttled: Trigger,
    /// CodeBuild's stand-in while it throttles.
    throttling: MockServer,
    queue: TriggerQueue,
    /// Every request of `trigger`'s clients: CodeBuild and SQS.
    recorder: RequestRecorder,
    /// The ledger's clock.
    clock: Clock,
}

async fn world_routed(routes: serde_json::Value) -> Result<World, BoxError> {
    let moto = Moto::start().await?;
    let sdk = moto.sdk_config().await;
    let aws = scenario::provision(&sdk).await?;
    let webhook = scenario::webhook(&sdk);
    let recorder = RequestRecorder::default();
    let clock = Clock::manual(1_800_000_000);
    let routes = routes.to_string();
    let builds = aws_sdk_codebuild::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .build();
    let trigger = Trigger::new(
        Routes::parse(&routes)?,
        Starter::new(
            aws_sdk_codepipeline::Client::new(&sdk),
            aws_sdk_codebuild::Client::from_conf(builds),
        ),
        scenario::ledger(&sdk, clock.clone()),
    );

    // CodeBuild's documented throttling answer. The SDK's own retries are off
    // for this client: what is under test is the queue's retry after them.
    let throttling = MockServer::start().await;
    Mock::given(header("x-amz-target", "CodeBuild_20161006.StartBuild"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(serde_json::json!({
                    "__type": "ThrottlingException",
                    "message": "Rate exceeded"
                })),
        )
        .mount(&throttling)
        .await;
    let throttled_builds = aws_sdk_codebuild::config::Builder::from(&sdk)
        .interceptor(gantry_tests::route::RouteOperations::new(
            &throttling.uri(),
            &["StartBuild"],
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let throttled = Trigger::new(
        Routes::parse(&routes)?,
        Starter::new(
            aws_sdk_codepipeline::Client::new(&sdk),
            aws_sdk_codebuild::Client::from_conf(throttled_builds),
        ),
        scenario::ledger(&sdk, clock.clone()),
    );

    let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .build();
    let queue = TriggerQueue::new(
        aws_sdk_sqs::Client::from_conf(sqs),
        aws.queue_url.clone(),
        aws.dead_letter_url.clone(),
    );
    Ok(World {
        _moto: moto,
        aws,
        webhook,
        trigger,
        throttled,
        throttling,
        queue,
        recorder,
        clock,
    })
}

fn build_route() -> serde_json::Value {
    serde_json::json!({"routes": [
        {"name": "builds", "repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
}

/// A signed push through the webhook: its event waits in the trigger queue.
async fn deliver_push(world: &World) {
    let (headers, body) = webhook_delivery("push", LOCAL_SECRET);
    assert_eq!(
        world.webhook.handle(&headers, &body, soon()).await.status,
        202
    );
}

/// One batch from the queue through `trigger`, settled as the event source
/// mapping settles it; returns trigger's answer.
async fn run_batch(world: &World, trigger: &Trigger, expected: usize) -> serde_json::Value {
    let batch = world
        .aws
        .receive_batch(expected, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        batch["Records"].as_array().map(Vec::len),
        Some(expected),
        "{batch}"
    );
    let answer = trigger
        .handle_batch(
            &world.queue,
            serde_json::from_value(batch.clone()).unwrap(),
            soon(),
            soon(),
        )
        .await;
    let answer = serde_json::to_value(answer).unwrap();
    world.aws.settle(&batch, &answer).await.unwrap();
    answer
}

fn failed_ids(answer: &serde_json::Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// The visibility timeouts `trigger` set, in order.
fn backoffs(recorder: &RequestRecorder) -> Vec<u64> {
    recorder
        .bodies("ChangeMessageVisibility")
        .iter()
        .map(|body| body["VisibilityTimeout"].as_u64().unwrap())
        .collect()
}

/// The backoff's wait passing: the message `trigger` hid is visible again,
/// and the ledger's clock has moved on by as much (past the failed try's
/// claim, whose lease is shorter than any backoff).
async fn end_backoff(world: &World) {
    let sqs = aws_sdk_sqs::Client::new(&world.aws.sdk);
    let hidden = sqs
        .receive_message()
        .queue_url(&world.aws.queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(
        hidden.messages().is_empty(),
        "a message in its backoff must not be handed out: {hidden:?}"
    );
    let last = world
        .recorder
        .bodies("ChangeMessageVisibility")
        .pop()
        .unwrap();
    world.clock.advance(Duration::from_secs(
        last["VisibilityTimeout"].as_u64().unwrap(),
    ));
    sqs.change_message_visibility()
        .queue_url(&world.aws.queue_url)
        .receipt_handle(last["ReceiptHandle"].as_str().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
}

async fn queue_is_empty(world: &World) -> bool {
    world.aws.messages_in(&world.aws.queue_url).await.unwrap() == 0
}

#[tokio::test]
async fn a_throttled_start_is_tried_again_after_its_backoff_and_starts_once_when_aws_recovers() {
    let world = world_routed(build_route()).await.unwrap();
    deliver_push(&world).await;

    // Two tries while CodeBuild throttles: each is kept in the queue, hidden
    // for one minute, then two.
    for try_number in 1..=2u64 {
        let answer = run_batch(&world, &world.throttled, 1).await;
        assert_eq!(failed_ids(&answer).len(), 1, "try {try_number}: {answer}");
        assert_eq!(backoffs(&world.recorder).len() as u64, try_number);
        end_backoff(&world).await;
    }
    assert_eq!(backoffs(&world.recorder), [60, 120]);
    assert_eq!(world.throttling.received_requests().await.unwrap().len(), 2);

    // CodeBuild has recovered by the third try: the build starts, once, and
    // the message is deleted; nothing reaches the dead-letter queue.
    let answer = run_batch(&world, &world.trigger, 1).await;
    assert!(failed_ids(&answer).is_empty(), "{answer}");
    let starts = world.recorder.bodies("StartBuild");
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(
        starts[0]["idempotencyToken"],
        format!("{PUSH_DELIVERY}-{PROJECT}")
    );
    assert!(queue_is_empty(&world).await);
    assert!(world.aws.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_start_throttled_on_every_try_reaches_the_dead_letter_queue_after_the_whole_schedule() {
    let world = world_routed(build_route()).await.unwrap();
    deliver_push(&world).await;

    for try_number in 1..=MAX_RECEIVES {
        let answer = run_batch(&world, &world.throttled, 1).await;
        assert_eq!(failed_ids(&answer).len(), 1, "try {try_number}: {answer}");
        if try_number < MAX_RECEIVES {
            end_backoff(&world).await;
        }
    }
    // 1, 2, 4, 8, then 15 minutes (75 in all), and no wait after the last try.
    assert_eq!(
        backoffs(&world.recorder),
        [60, 120, 240, 480, 900, 900, 900, 900, 0]
    );
    assert_eq!(
        world.throttling.received_requests().await.unwrap().len(),
        MAX_RECEIVES as usize
    );

    // The next receive finds the tries used up: SQS (moto honours the redrive
    // policy) moves the event, as it came, to the dead-letter queue.
    let batch = world
        .aws
        .receive_batch(1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        batch["Records"].as_array().map(Vec::len),
        Some(0),
        "{batch}"
    );
    let dead = world.aws.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let event: serde_json::Value = serde_json::from_str(&dead[0].0).unwrap();
    assert_eq!(event["detail"]["delivery_id"], PUSH_DELIVERY);

    // Redriven an hour later, CodeBuild recovered (the README's move task,
    // done by hand here): it starts once.
    world.clock.advance(Duration::from_secs(3_600));
    let sqs = aws_sdk_sqs::Client::new(&world.aws.sdk);
    sqs.send_message()
        .queue_url(&world.aws.queue_url)
        .message_body(&dead[0].0)
        .send()
        .await
        .unwrap();
    let answer = run_batch(&world, &world.trigger, 1).await;
    assert!(failed_ids(&answer).is_empty(), "{answer}");
    assert_eq!(world.recorder.bodies("StartBuild").len(), 1);
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dead_letter_queue_at_once_named_by_its_error() {
    let routes = serde_json::json!({"routes": [
        {"name": "builds", "repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT},
        {"name": "typo", "repository": scenario::REPOSITORY, "events": ["push"], "pipeline": "no-such-pipeline"}
    ]});
    let world = world_routed(routes).await.unwrap();
    deliver_push(&world).await;
    // And a message that is no EventBridge event at all, in the same batch.
    aws_sdk_sqs::Client::new(&world.aws.sdk)
        .send_message()
        .queue_url(&world.aws.queue_url)
        .message_body("not an event")
        .send()
        .await
        .unwrap();

    let answer = run_batch(&world, &world.trigger, 2).await;
    assert!(
        failed_ids(&answer).is_empty(),
        "both leave the queue: {answer}"
    );
    assert!(backoffs(&world.recorder).is_empty(), "nothing is retried");
    assert!(queue_is_empty(&world).await);
    // The good target started; the unknown pipeline is for an operator.
    assert_eq!(world.recorder.bodies("StartBuild").len(), 1);

    let dead = world.aws.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let (event, attributes) = dead.iter().find(|(body, _)| body.starts_with('{')).unwrap();
    let event: serde_json::Value = serde_json::from_str(event).unwrap();
    assert_eq!(event["detail"]["delivery_id"], PUSH_DELIVERY);
    assert_eq!(attributes[ERROR_TYPE_ATTRIBUTE], "UnknownPipeline");
    assert!(
        attributes[ERROR_ATTRIBUTE].contains("no-such-pipeline"),
        "{attributes:?}"
    );
    let (body, attributes) = dead
        .iter()
        .find(|(body, _)| body == "not an event")
        .unwrap();
    assert_eq!(body, "not an event");
    assert_eq!(attributes[ERROR_TYPE_ATTRIBUTE], "InvalidEvent");
}

#[tokio::test]
async fn an_event_the_dead_letter_queue_refuses_stays_in_the_trigger_queue() {
    let routes = serde_json::json!({"routes": [
        {"name": "typo", "repository": scenario::REPOSITORY, "events": ["push"], "pipeline": "no-such-pipeline"}
    ]});
    let world = world_routed(routes).await.unwrap();
    deliver_push(&world).await;
    let sdk = &world.aws.sdk;
    let gone = TriggerQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        world.aws.queue_url.clone(),
        format!("{}-deleted", world.aws.dead_letter_url),
    );
    let batch = world
        .aws
        .receive_batch(1, Duration::from_secs(10))
        .await
        .unwrap();
    let answer = world
        .trigger
        .handle_batch(
            &gone,
            serde_json::from_value(batch.clone()).unwrap(),
            soon(),
            soon(),
        )
        .await;
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(
        failed_ids(&answer),
        [batch["Records"][0]["messageId"].as_str().unwrap()],
        "never dropped: {answer}"
    );
    world.aws.settle(&batch, &answer).await.unwrap();
    assert!(!queue_is_empty(&world).await);
}
