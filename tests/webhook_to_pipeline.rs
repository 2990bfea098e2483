//! A signed GitHub delivery, end to end against moto's server: the webhook
//! publishes to EventBridge, the bus's rule delivers the event, trigger starts
//! the routed pipeline execution or build at the delivered commit.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::ledger::Clock;
use gantry_core::secret::DEFAULT_TTL;
use gantry_core::secret::{CachedSecret, SecretSource};
use gantry_tests::moto::Moto;
use gantry_tests::recorder::RequestRecorder;
use gantry_tests::scenario::{self, LocalAws, LOCAL_SECRET, PIPELINE, PROJECT};
use gantry_tests::{sample, soon, webhook_delivery, workspace_root, BoxError};
use gantry_trigger::config::Routes;
use gantry_trigger::start::{Started, Starter};
use gantry_trigger::{Summary, Trigger};
use gantry_webhook::publish::Publisher;
use gantry_webhook::signature::sign;
use gantry_webhook::{Reply, Webhook};
use http::{HeaderMap, HeaderValue};
use std::time::Duration;

const PUSH_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const PUSH_COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

struct World {
    _moto: Moto,
    aws: LocalAws,
    webhook: Webhook,
    trigger: Trigger,
    recorder: RequestRecorder,
    /// The ledger's clock.
    clock: Clock,
}

async fn world() -> Result<World, BoxError> {
    world_routed(&scenario::routes_json()).await
}

async fn world_routed(routes: &str) -> Result<World, BoxError> {
    let moto = Moto::start().await?;
    let sdk = moto.sdk_config().await;
    let aws = scenario::provision(&sdk).await?;
    let webhook = scenario::webhook(&sdk);
    let clock = Clock::manual(1_800_000_000);
    let recorder = RequestRecorder::default();
    let pipelines = aws_sdk_codepipeline::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .build();
    let builds = aws_sdk_codebuild::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .build();
    let trigger = Trigger::new(
        Routes::parse(routes)?,
        Starter::new(
            aws_sdk_codepipeline::Client::from_conf(pipelines),
            aws_sdk_codebuild::Client::from_conf(builds),
        ),
        scenario::ledger(&sdk, clock.clone()),
    );
    Ok(World {
        clock,
        _moto: moto,
        aws,
        webhook,
        trigger,
        recorder,
    })
}

/// Delivers a signed delivery, which the webhook must accept, and returns the
/// event the bus's rule delivered for it.
async fn accepted(world: &World, headers: &HeaderMap, body: &[u8]) -> Vec<serde_json::Value> {
    assert_eq!(
        world.webhook.handle(headers, body, soon()).await.status,
        202
    );
    world
        .aws
        .take_events(1, Duration::from_secs(10))
        .await
        .unwrap()
}

/// `events/trigger/push.json`: the push sample as the bus hands it to trigger.
fn push_event() -> EventBridgeEvent<serde_json::Value> {
    serde_json::from_value(sample("trigger/push.json")).unwrap()
}

/// An invocation that claimed the push's start of `PROJECT` and died before
/// recording what it started: its claim stays in the ledger, without an id.
async fn claim_and_die(ledger: &gantry_core::ledger::Ledger) {
    let delivery = gantry_core::ids::DeliveryId::parse(PUSH_DELIVERY).unwrap();
    let repository = gantry_core::ids::RepoName::parse(scenario::REPOSITORY).unwrap();
    let commit = gantry_core::ids::CommitSha::parse(PUSH_COMMIT).unwrap();
    let target = format!("project/{PROJECT}");
    let claim = gantry_core::ledger::StartClaim {
        delivery: &delivery,
        target: &target,
        route: "routes[0]",
        repository: &repository,
        commit: &commit,
        git_ref: Some("master"),
        lease: Duration::from_secs(40),
        // The push sample's time, 2019-05-15T15:20:49Z.
        event_at: 1_557_933_649,
    };
    ledger.claim_start(&claim, soon()).await.unwrap();
}

async fn run_trigger(world: &World, events: Vec<serde_json::Value>) -> Vec<Summary> {
    let mut summaries = Vec::new();
    for event in events {
        let event: EventBridgeEvent<serde_json::Value> = serde_json::from_value(event).unwrap();
        summaries.push(world.trigger.handle(event, soon()).await.unwrap());
    }
    summaries
}

#[tokio::test]
async fn signed_push_starts_the_pipeline_at_the_pushed_commit_once_per_delivery() {
    let world = world().await.unwrap();
    let (headers, body) = webhook_delivery("push", LOCAL_SECRET);

    let reply = world.webhook.handle(&headers, &body, soon()).await;
    assert_eq!(
        reply,
        Reply {
            status: 202,
            body: "accepted"
        }
    );

    // The bus's rule really delivered the normalised event.
    let events = world
        .aws
        .take_events(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["source"], "gantry.github");
    assert_eq!(events[0]["detail-type"], "GitHub Push");
    assert_eq!(events[0]["detail"]["commit"], PUSH_COMMIT);
    assert_eq!(events[0]["detail"]["delivery_id"], PUSH_DELIVERY);
    assert_eq!(events[0]["detail"]["ref"], "refs/heads/master");

    let summaries = run_trigger(&world, events).await;
    let Summary::Started { started, .. } = &summaries[0] else {
        panic!("expected a start, got {summaries:?}")
    };
    let Started::PipelineExecution(execution_id) = &started[0].started else {
        panic!("expected a pipeline execution, got {started:?}")
    };

    // The execution exists, with the variables trigger passed.
    let pipelines = aws_sdk_codepipeline::Client::new(&world.aws.sdk);
    let execution = pipelines
        .get_pipeline_execution()
        .pipeline_name(PIPELINE)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .unwrap()
        .pipeline_execution
        .unwrap();
    let variables: Vec<(String, String)> = execution
        .variables()
        .iter()
        .map(|v| {
            (
                v.name().unwrap_or_default().to_owned(),
                v.resolved_value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        variables.contains(&("GANTRY_COMMIT".into(), PUSH_COMMIT.into())),
        "{variables:?}"
    );
    assert!(
        variables.contains(&("GANTRY_BRANCH".into(), "master".into())),
        "{variables:?}"
    );
    assert!(
        variables.contains(&("GANTRY_DELIVERY_ID".into(), PUSH_DELIVERY.into())),
        "{variables:?}"
    );

    // moto ignores sourceRevisions and clientRequestToken, so the pinning and the
    // idempotency are proven by the request trigger sent.
    let sent = world.recorder.bodies("StartPipelineExecution");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["name"], PIPELINE);
    assert_eq!(sent[0]["clientRequestToken"], PUSH_DELIVERY);
    assert_eq!(
        sent[0]["sourceRevisions"],
        serde_json::json!([{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": PUSH_COMMIT}])
    );

    // GitHub redelivers the same delivery (same X-GitHub-Delivery): the ledger
    // knows it started, so nothing is sent again and the answer names the
    // execution already started (the token would make a repeat idempotent too).
    let events = accepted(&world, &headers, &body).await;
    let again = run_trigger(&world, events).await;
    let Summary::Started { started: again, .. } = &again[0] else {
        panic!("expected the earlier start, got {again:?}")
    };
    assert!(again[0].already_started);
    assert_eq!(again[0].started, started[0].started);
    assert_eq!(
        world.recorder.bodies("StartPipelineExecution").len(),
        1,
        "a redelivery starts nothing"
    );
}

#[tokio::test]
async fn signed_pull_request_starts_a_build_at_the_head_commit() {
    let world = world().await.unwrap();
    let (headers, body) = webhook_delivery("pull_request", LOCAL_SECRET);
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let head_sha = payload["pull_request"]["head"]["sha"].as_str().unwrap();

    let events = accepted(&world, &headers, &body).await;
    assert_eq!(events[0]["detail-type"], "GitHub Pull Request");
    let summaries = run_trigger(&world, events).await;
    let Summary::Started { started, .. } = &summaries[0] else {
        panic!("expected a start, got {summaries:?}")
    };
    let Started::Build(build_id) = &started[0].started else {
        panic!("expected a build, got {started:?}")
    };

    let build = aws_sdk_codebuild::Client::new(&world.aws.sdk)
        .batch_get_builds()
        .ids(build_id)
        .send()
        .await
        .unwrap()
        .builds
        .unwrap_or_default()
        .pop()
        .expect("the started build exists");
    assert_eq!(build.project_name(), Some(PROJECT));
    assert_eq!(build.source_version(), Some(head_sha));

    // moto drops idempotencyToken and environmentVariablesOverride: check the request.
    let sent = world.recorder.bodies("StartBuild");
    assert_eq!(
        sent[0]["idempotencyToken"],
        format!("a1b2c3d4-cc78-11e3-81ab-4c9367dc0958-{PROJECT}")
    );
    assert_eq!(sent[0]["sourceVersion"], head_sha);
    let overrides = sent[0]["environmentVariablesOverride"].as_array().unwrap();
    assert!(overrides.contains(&serde_json::json!({"name": "GANTRY_PULL_REQUEST", "value": payload["number"].to_string(), "type": "PLAINTEXT"})), "{overrides:?}");
}

#[tokio::test]
async fn rejected_and_ignored_deliveries_publish_nothing() {
    let world = world().await.unwrap();
    let cases = [
        ("push", "not-the-secret", 401),
        ("ping", LOCAL_SECRET, 200),
        ("issues", LOCAL_SECRET, 202),
        ("push-deleted-branch", LOCAL_SECRET, 202),
    ];
    for (sample_name, secret, status) in cases {
        let (headers, body) = webhook_delivery(sample_name, secret);
        let reply = world.webhook.handle(&headers, &body, soon()).await;
        assert_eq!(reply.status, status, "{sample_name}: {reply:?}");
    }
    let (mut headers, body) = webhook_delivery("push", LOCAL_SECRET);
    headers.remove("x-hub-signature-256");
    assert_eq!(
        world.webhook.handle(&headers, &body, soon()).await.status,
        401
    );

    let (headers, _) = webhook_delivery("push", LOCAL_SECRET);
    let garbage = b"{\"ref\": 42}".to_vec();
    let mut signed = headers.clone();
    signed.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), &garbage)).unwrap(),
    );
    assert_eq!(
        world.webhook.handle(&signed, &garbage, soon()).await.status,
        400
    );

    // Form deliveries (GitHub's default content type): no payload field, and a
    // payload that is not the expected JSON, are malformed; another content
    // type is refused.
    let signed_as = |content_type: &'static str, body: &[u8]| {
        let mut headers = headers.clone();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), body)).unwrap(),
        );
        headers
    };
    let form = "application/x-www-form-urlencoded";
    for body in [
        &b"other=1"[..],
        b"payload=%7B%22ref%22%3A42%7D",
        b"payload=not%20json",
    ] {
        assert_eq!(
            world
                .webhook
                .handle(&signed_as(form, body), body, soon())
                .await
                .status,
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let text = b"ref=main";
    assert_eq!(
        world
            .webhook
            .handle(&signed_as("text/plain", text), text, soon())
            .await
            .status,
        415
    );

    let mut no_delivery = signed.clone();
    no_delivery.remove("x-github-delivery");
    assert_eq!(
        world
            .webhook
            .handle(&no_delivery, &garbage, soon())
            .await
            .status,
        400
    );

    // GitHub's own payloads that start nothing: a comment on an issue (not a
    // pull request), and a check suite's bookkeeping.
    for (event, file) in [
        ("issue_comment", "issue_comment.created.payload.json"),
        ("check_suite", "check_suite.requested.payload.json"),
    ] {
        let body = std::fs::read(workspace_root().join("events/github").join(file)).unwrap();
        let mut headers = headers.clone();
        headers.insert("x-github-event", HeaderValue::from_static(event));
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), &body)).unwrap(),
        );
        let reply = world.webhook.handle(&headers, &body, soon()).await;
        assert_eq!((reply.status, reply.body), (202, "ignored"), "{file}");
    }

    let huge = vec![b' '; gantry_webhook::handler::MAX_BODY_BYTES + 1];
    assert_eq!(
        world.webhook.handle(&headers, &huge, soon()).await.status,
        413
    );

    let events = world
        .aws
        .take_events(1, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(events.is_empty(), "nothing may reach the bus: {events:?}");
}

#[tokio::test]
async fn a_failed_publish_answers_5xx_so_github_can_redeliver() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let webhook = Webhook::new(
        CachedSecret::new(
            SecretSource::Plain(LOCAL_SECRET.to_owned().into()),
            DEFAULT_TTL,
            &sdk,
        ),
        Publisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            "no-such-bus".to_owned(),
        ),
    );
    let (headers, body) = webhook_delivery("push", LOCAL_SECRET);
    let reply = webhook.handle(&headers, &body, soon()).await;
    assert_eq!(
        reply,
        Reply {
            status: 502,
            body: "event not published"
        }
    );
}

#[tokio::test]
async fn the_webhook_secret_comes_from_secrets_manager_with_rotation() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("gantry/webhook")
        .secret_string(format!("old-secret\n{LOCAL_SECRET}"))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let secret = CachedSecret::new(
        SecretSource::SecretsManager { arn: arn.clone() },
        DEFAULT_TTL,
        &sdk,
    );
    let webhook = Webhook::new(
        secret,
        Publisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            "no-such-bus".to_owned(),
        ),
    );
    // Signed with the second of two rotated secrets: the signature passes, and
    // the publish to a missing bus fails, which proves the secret was read.
    let (headers, body) = webhook_delivery("push", LOCAL_SECRET);
    assert_eq!(webhook.handle(&headers, &body, soon()).await.status, 502);
    let (headers, body) = webhook_delivery("push", "wrong");
    assert_eq!(webhook.handle(&headers, &body, soon()).await.status, 401);

    let missing = CachedSecret::new(
        SecretSource::SecretsManager {
            arn: arn.replace("webhook", "missing"),
        },
        DEFAULT_TTL,
        &sdk,
    );
    assert!(missing.get().await.is_err());
}

#[tokio::test]
async fn an_unknown_pipeline_is_a_permanent_failure_not_a_silent_success() {
    let world = world().await.unwrap();
    let routes = Routes::parse(
        r#"{"routes": [{"repository": "Codertocat/Hello-World", "pipeline": "no-such-pipeline"}]}"#,
    )
    .unwrap();
    let trigger = Trigger::new(
        routes,
        Starter::new(
            aws_sdk_codepipeline::Client::new(&world.aws.sdk),
            aws_sdk_codebuild::Client::new(&world.aws.sdk),
        ),
        scenario::ledger(&world.aws.sdk, Clock::system()),
    );
    let err = trigger
        .handle(push_event(), soon())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("permanent") && err.contains("no-such-pipeline"),
        "{err}"
    );
    assert!(
        err.contains("PipelineNotFoundException") || err.contains("does not have a pipeline"),
        "{err}"
    );
}

#[test]
fn samples_in_events_are_consistent() {
    // The webhook samples are signed with the local secret over their own body.
    for name in [
        "push",
        "pull_request",
        "ping",
        "issues",
        "push-deleted-branch",
    ] {
        let event = sample(&format!("webhook/{name}.json"));
        let body = event["body"].as_str().unwrap().as_bytes();
        assert_eq!(
            event["headers"]["x-hub-signature-256"],
            sign(LOCAL_SECRET.as_bytes(), body),
            "events/webhook/{name}.json"
        );
    }
    // The trigger sample is exactly what the webhook makes of the push sample.
    let push = sample("webhook/push.json");
    let decision = gantry_webhook::payload::decide(
        &gantry_webhook::payload::EventName::Push,
        &gantry_core::ids::DeliveryId::parse(PUSH_DELIVERY).unwrap(),
        push["body"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    let gantry_webhook::payload::Decision::Publish(event) = decision else {
        panic!("push sample is not published")
    };
    assert_eq!(
        serde_json::to_value(&*event).unwrap(),
        sample("trigger/push.json")["detail"]
    );
    assert!(workspace_root().join("events/README.md").exists());
}

#[tokio::test]
async fn a_pull_request_from_a_fork_starts_nothing_by_default() {
    let world = world().await.unwrap();
    let (mut headers, body) = webhook_delivery("pull_request", LOCAL_SECRET);
    // The same delivery, as a stranger's fork would send it: its head lives in
    // another repository, or in none once the fork is deleted.
    for head_repo in [
        serde_json::json!({"full_name": "stranger/Hello-World", "clone_url": "https://github.com/stranger/Hello-World.git"}),
        serde_json::Value::Null,
    ] {
        let mut payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
        payload["pull_request"]["head"]["repo"] = head_repo;
        let body = serde_json::to_vec(&payload).unwrap();
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), &body)).unwrap(),
        );
        let events = accepted(&world, &headers, &body).await;
        let summaries = run_trigger(&world, events).await;
        let Summary::Skipped { reason } = &summaries[0] else {
            panic!("a fork's pull request must start nothing, got {summaries:?}")
        };
        assert!(reason.contains("fork"), "{reason}");
    }
    assert!(world.recorder.bodies("StartBuild").is_empty());
    assert!(world.recorder.bodies("StartPipelineExecution").is_empty());
}

/// A route that builds forks in a project of their own: a fork's pull
/// request starts that project, the repository's own still starts the
/// route's, both at the head commit.
#[tokio::test]
async fn a_forks_pull_request_starts_the_routes_fork_target() {
    let routes = serde_json::json!({"routes": [{
        "repository": scenario::REPOSITORY, "events": ["pull_request"], "codebuild_project": PROJECT,
        "fork_pull_requests": "build", "fork_target": {"codebuild_project": "pr-build-untrusted"}
    }]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    scenario::create_build_project(&world.aws.sdk, "pr-build-untrusted", &world.aws.role_arn)
        .await
        .unwrap();
    let (mut headers, body) = webhook_delivery("pull_request", LOCAL_SECRET);
    let own: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let head_sha = own["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut fork = own.clone();
    fork["pull_request"]["head"]["repo"] = serde_json::json!({"full_name": "stranger/Hello-World", "clone_url": "https://github.com/stranger/Hello-World.git"});
    for (payload, delivery, project) in [
        (
            fork,
            "f0e1d2c3-cc78-11e3-81ab-4c9367dc0958",
            "pr-build-untrusted",
        ),
        (own, "a1b2c3d4-cc78-11e3-81ab-4c9367dc0958", PROJECT),
    ] {
        let body = serde_json::to_vec(&payload).unwrap();
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), &body)).unwrap(),
        );
        headers.insert("x-github-delivery", HeaderValue::from_static(delivery));
        let events = accepted(&world, &headers, &body).await;
        let summaries = run_trigger(&world, events).await;
        let build_id = started_build(&summaries[0]);
        let build = aws_sdk_codebuild::Client::new(&world.aws.sdk)
            .batch_get_builds()
            .ids(&build_id)
            .send()
            .await
            .unwrap()
            .builds
            .unwrap_or_default()
            .pop()
            .expect("the started build exists");
        assert_eq!(build.project_name(), Some(project), "{delivery}");
        assert_eq!(build.source_version(), Some(head_sha.as_str()));
    }
    let projects: Vec<String> = world
        .recorder
        .bodies("StartBuild")
        .iter()
        .map(|body| body["projectName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(projects, ["pr-build-untrusted", PROJECT]);
}

#[tokio::test]
async fn each_target_of_a_delivery_starts_exactly_once_across_a_retry_and_a_late_redelivery() {
    // One push, two targets: the pipeline starts, the build project does not
    // exist yet, so its start is refused and the invocation fails.
    let routes = serde_json::json!({"routes": [
        {"name": "pipeline", "repository": scenario::REPOSITORY, "events": ["push"], "pipeline": PIPELINE},
        {"name": "late", "repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": "late-build"}
    ]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    let err = world
        .trigger
        .handle(push_event(), soon())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "UnknownBuildProject", "{err}");

    // The operator creates the project; the retry (Lambda's, or a redrive)
    // starts only the build.
    let role = world.aws.role_arn.clone();
    scenario::create_build_project(&world.aws.sdk, "late-build", &role)
        .await
        .unwrap();
    let Summary::Started { started, .. } =
        world.trigger.handle(push_event(), soon()).await.unwrap()
    else {
        panic!("the retry must start what is left")
    };
    let by_target: std::collections::HashMap<_, _> = started
        .iter()
        .map(|s| (s.target.as_str(), s.already_started))
        .collect();
    assert!(by_target[PIPELINE], "started by the first invocation");
    assert!(!by_target["late-build"], "started by the retry");
    assert_eq!(world.recorder.bodies("StartPipelineExecution").len(), 1);
    // The refused request and the one that started the build.
    assert_eq!(world.recorder.bodies("StartBuild").len(), 2);

    // Redelivered from GitHub's page an hour later, past CodeBuild's 5-minute
    // idempotency window: nothing is sent again.
    world.clock.advance(Duration::from_secs(3_600));
    let Summary::Started { started, .. } =
        world.trigger.handle(push_event(), soon()).await.unwrap()
    else {
        panic!("a redelivery answers with what started")
    };
    assert!(started.iter().all(|s| s.already_started), "{started:?}");
    assert_eq!(world.recorder.bodies("StartPipelineExecution").len(), 1);
    assert_eq!(world.recorder.bodies("StartBuild").len(), 2);
}

/// CodeBuild for a claim taken over: moto drops environment overrides, so
/// builds carrying a delivery id come from a stand-in answering
/// `ListBuildsForProject` (these `ids`, newest first) and `BatchGetBuilds`
/// (each id asked for, as `build` makes it from the CLI reference's example)
/// in their documented shapes. Every other call goes to moto.
struct ListedBuilds {
    ids: Vec<String>,
    build: fn(usize, &str) -> serde_json::Value,
}

impl wiremock::Respond for ListedBuilds {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let asked: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let builds: Vec<serde_json::Value> = asked["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|id| {
                let index = self.ids.iter().position(|listed| listed == id)?;
                Some((self.build)(index, &self.ids[index]))
            })
            .collect();
        wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({"builds": builds}))
    }
}

/// A build in `BatchGetBuilds`' shape, started at `start_time`, carrying
/// `delivery` in its environment if any.
fn listed_build(id: &str, start_time: i64, delivery: Option<&str>) -> serde_json::Value {
    let mut build =
        sample("status/codebuild.batch-get-builds.aws-cli-example.json")["builds"][0].clone();
    build["id"] = id.into();
    build["startTime"] = start_time.into();
    build["environment"]["environmentVariables"] = match delivery {
        Some(delivery) => {
            serde_json::json!([{"name": "GANTRY_DELIVERY_ID", "value": delivery, "type": "PLAINTEXT"}])
        }
        None => serde_json::json!([]),
    };
    build
}

/// A trigger routing the push to `PROJECT`, whose listing and reads of builds
/// `builds` answers, on `clock`.
async fn trigger_reading(
    world: &World,
    builds: ListedBuilds,
    clock: &Clock,
) -> (Trigger, wiremock::MockServer) {
    let codebuild = wiremock::MockServer::start().await;
    let ids = builds.ids.clone();
    wiremock::Mock::given(wiremock::matchers::header(
        "x-amz-target",
        "CodeBuild_20161006.ListBuildsForProject",
    ))
    .respond_with(
        wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({"ids": ids})),
    )
    .mount(&codebuild)
    .await;
    wiremock::Mock::given(wiremock::matchers::header(
        "x-amz-target",
        "CodeBuild_20161006.BatchGetBuilds",
    ))
    .respond_with(builds)
    .mount(&codebuild)
    .await;
    let client = aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(&world.aws.sdk)
            .interceptor(gantry_tests::route::RouteOperations::new(
                &codebuild.uri(),
                &["ListBuildsForProject", "BatchGetBuilds"],
            ))
            .interceptor(world.recorder.clone())
            .build(),
    );
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
    .to_string();
    let trigger = Trigger::new(
        Routes::parse(&routes).unwrap(),
        Starter::new(aws_sdk_codepipeline::Client::new(&world.aws.sdk), client),
        scenario::ledger(&world.aws.sdk, clock.clone()),
    );
    (trigger, codebuild)
}

#[tokio::test]
async fn a_retry_after_a_crash_between_start_and_record_finds_the_build_instead_of_starting_another(
) {
    let world = world().await.unwrap();
    const BUILD: &str = "hello-world-build:5f6b2c1a-0000-4000-8000-000000000002";
    let builds = ListedBuilds {
        ids: vec![BUILD.to_owned()],
        build: |_, id| listed_build(id, 1_800_000_000, Some(PUSH_DELIVERY)),
    };
    let clock = Clock::manual(1_800_000_000);
    let (trigger, _codebuild) = trigger_reading(&world, builds, &clock).await;

    // An invocation claimed the start, started the build and died before it
    // recorded it: its claim is in the ledger, without an id.
    claim_and_die(&scenario::ledger(&world.aws.sdk, clock.clone())).await;

    // Lambda's retry comes while the claim's lease still holds: it waits.
    let err = trigger.handle(push_event(), soon()).await.unwrap_err();
    assert_eq!(err.error_type(), "StartInProgress", "{err}");

    // After the lease: the build carrying the delivery id is found and recorded.
    clock.advance(Duration::from_secs(41));
    let Summary::Started { started, .. } = trigger.handle(push_event(), soon()).await.unwrap()
    else {
        panic!("the found build is the answer")
    };
    assert_eq!(started[0].started, Started::Build(BUILD.into()));
    assert!(started[0].already_started);
    assert!(
        world.recorder.bodies("StartBuild").is_empty(),
        "not started again"
    );
    // And from then on the ledger answers without looking.
    let looked = world.recorder.bodies("ListBuildsForProject").len();
    trigger.handle(push_event(), soon()).await.unwrap();
    assert_eq!(world.recorder.bodies("ListBuildsForProject").len(), looked);
    assert!(world.recorder.bodies("StartBuild").is_empty());
}

/// When the claim taken over in the busy project's test was made.
const CLAIMED_AT: i64 = 1_800_000_000;

/// A busy project's builds, newest first: the newest 15 started since the
/// claim, the other 10 before it.
fn busy_project_build(n: usize, id: &str, delivery: Option<&str>) -> serde_json::Value {
    let start_time = match n {
        0..15 => CLAIMED_AT + 20 - n as i64,
        _ => CLAIMED_AT - 100 - n as i64,
    };
    listed_build(id, start_time, delivery)
}

/// A busy project: 25 builds listed, the newest 15 started since the claim.
/// The lookup reads ten at a time, newest first, and stops at the first read
/// that reaches a build older than the claim.
#[tokio::test]
async fn a_lookup_reads_the_newest_builds_ten_at_a_time_and_stops_at_one_older_than_the_claim() {
    let ids: Vec<String> = (0..25)
        .map(|n| format!("hello-world-build:5f6b2c1a-0000-4000-8000-0000000001{n:02}"))
        .collect();

    // The build the claim's holder started is the 13th newest: found in the second read.
    let (finding, summary) = take_over_listing(ListedBuilds {
        ids: ids.clone(),
        build: |n, id| busy_project_build(n, id, (n == 12).then_some(PUSH_DELIVERY)),
    })
    .await;
    let Summary::Started { started, .. } = summary else {
        panic!("the found build is the answer")
    };
    assert_eq!(started[0].started, Started::Build(ids[12].clone()));
    let reads = finding.recorder.bodies("BatchGetBuilds");
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0]["ids"], serde_json::json!(ids[..10]));
    assert_eq!(reads[1]["ids"], serde_json::json!(ids[10..20]));
    assert!(finding.recorder.bodies("StartBuild").is_empty());

    // None carries the delivery: the second read reaches builds older than the
    // claim, so no third is made, and the build is started.
    let (starting, summary) = take_over_listing(ListedBuilds {
        ids,
        build: |n, id| busy_project_build(n, id, None),
    })
    .await;
    let Summary::Started { started, .. } = summary else {
        panic!("nothing carrying the delivery id was found: it must be started")
    };
    assert!(!started[0].already_started);
    assert_eq!(starting.recorder.bodies("BatchGetBuilds").len(), 2);
    assert_eq!(starting.recorder.bodies("StartBuild").len(), 1);
}

/// The push's claim of `PROJECT`, made at `CLAIMED_AT` by an invocation that
/// died, taken over after its lease with `builds` listed: the world it ran in,
/// and what the taking try answered.
async fn take_over_listing(builds: ListedBuilds) -> (World, Summary) {
    let world = world().await.unwrap();
    let clock = Clock::manual(CLAIMED_AT);
    let (trigger, _codebuild) = trigger_reading(&world, builds, &clock).await;
    claim_and_die(&scenario::ledger(&world.aws.sdk, clock.clone())).await;
    clock.advance(Duration::from_secs(41));
    let summary = trigger.handle(push_event(), soon()).await.unwrap();
    (world, summary)
}

#[tokio::test]
async fn a_form_delivery_is_verified_over_its_raw_body_and_published_from_its_payload() {
    let world = world().await.unwrap();
    let (mut headers, json) = webhook_delivery("push", LOCAL_SECRET);
    // As GitHub sends it with content type "form": the JSON in a payload field.
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).unwrap())
        .finish();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    // Signed over the JSON instead of the raw form body: refused.
    assert_eq!(
        world
            .webhook
            .handle(&headers, body.as_bytes(), soon())
            .await
            .status,
        401
    );
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), body.as_bytes())).unwrap(),
    );
    let events = accepted(&world, &headers, body.as_bytes()).await;
    assert_eq!(events[0]["detail"]["commit"], PUSH_COMMIT);
    assert_eq!(events[0]["detail"]["delivery_id"], PUSH_DELIVERY);
}

#[tokio::test]
async fn a_retry_after_a_crash_that_finds_no_build_starts_it_with_the_same_token() {
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    // An invocation claimed the start and died before sending it (or before
    // CodeBuild took it): its claim is in the ledger, without an id.
    claim_and_die(&scenario::ledger(&world.aws.sdk, world.clock.clone())).await;
    world.clock.advance(Duration::from_secs(41));

    let Summary::Started { started, .. } =
        world.trigger.handle(push_event(), soon()).await.unwrap()
    else {
        panic!("nothing carrying the delivery id was found: it must be started")
    };
    assert!(!started[0].already_started);
    // It looked first, then started with the token every try of this delivery uses.
    assert_eq!(world.recorder.bodies("ListBuildsForProject").len(), 1);
    let sent = world.recorder.bodies("StartBuild");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["idempotencyToken"],
        format!("{PUSH_DELIVERY}-{PROJECT}")
    );
}

#[tokio::test]
async fn a_claim_taken_over_after_a_crash_is_not_released_when_its_start_is_refused() {
    let world = world().await.unwrap();
    // CodeBuild refuses the start for good; moto has no such refusal, so
    // StartBuild goes to a stand-in answering in CodeBuild's error shape, while
    // the lookup (ListBuildsForProject, BatchGetBuilds) is moto's.
    let codebuild = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "__type": "AccountLimitExceededException",
                "message": "Cannot have more than 60 active builds for the account"
            })),
        )
        .mount(&codebuild)
        .await;
    let builds = aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(&world.aws.sdk)
            .interceptor(gantry_tests::route::RouteOperations::new(
                &codebuild.uri(),
                &["StartBuild"],
            ))
            .interceptor(world.recorder.clone())
            .build(),
    );
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
    .to_string();
    let trigger = Trigger::new(
        Routes::parse(&routes).unwrap(),
        Starter::new(aws_sdk_codepipeline::Client::new(&world.aws.sdk), builds),
        scenario::ledger(&world.aws.sdk, world.clock.clone()),
    );
    // An attempt claimed the start and died: it may have started the build.
    claim_and_die(&scenario::ledger(&world.aws.sdk, world.clock.clone())).await;
    world.clock.advance(Duration::from_secs(41));

    // The retry takes the claim over, finds nothing, and its start is refused:
    // it keeps the claim, so the next retry looks again instead of starting blind.
    let err = trigger.handle(push_event(), soon()).await.unwrap_err();
    assert_eq!(err.error_type(), "StartRefused", "{err}");
    let err = trigger.handle(push_event(), soon()).await.unwrap_err();
    assert_eq!(err.error_type(), "StartInProgress", "{err}");
    assert_eq!(world.recorder.bodies("StartBuild").len(), 1);
    world.clock.advance(Duration::from_secs(41));
    trigger.handle(push_event(), soon()).await.unwrap_err();
    assert_eq!(
        world.recorder.bodies("ListBuildsForProject").len(),
        2,
        "each take-over looks first"
    );
}

#[tokio::test]
async fn a_merge_groups_checks_start_its_routes_at_the_queues_head_commit() {
    let routes = serde_json::json!({"routes": [
        {"name": "queue", "repository": "octo-org/octo-repo", "events": ["push", "pull_request", "merge_group"],
         "branches": ["**"], "pipeline": PIPELINE}
    ]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    // GitHub's documented merge_group payload, signed as GitHub signs it.
    let body = std::fs::read(
        workspace_root().join("events/github/merge_group.checks_requested.payload.json"),
    )
    .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", HeaderValue::from_static("merge_group"));
    headers.insert(
        "x-github-delivery",
        HeaderValue::from_static("a9f2b7c0-5d1e-11ef-8c3a-0242ac120002"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), &body)).unwrap(),
    );
    let events = accepted(&world, &headers, &body).await;
    assert_eq!(events[0]["detail-type"], "GitHub Merge Group");
    let summaries = run_trigger(&world, events).await;
    let Summary::Started { started, .. } = &summaries[0] else {
        panic!("the merge group must start its route, got {summaries:?}")
    };
    assert_eq!(started[0].target, PIPELINE);
    let starts = world.recorder.bodies("StartPipelineExecution");
    assert_eq!(starts.len(), 1);
    let head_sha = payload["merge_group"]["head_sha"].as_str().unwrap();
    assert_eq!(
        starts[0]["sourceRevisions"][0]["revisionValue"], head_sha,
        "{}",
        starts[0]
    );
    let variables: std::collections::HashMap<String, String> = starts[0]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(variables["GANTRY_COMMIT"], head_sha);
    assert!(variables["GANTRY_BRANCH"].starts_with("gh-readonly-queue/main/"));

    // The queue's branch also arrives as a push: the same route, which takes
    // every branch, does not build it again.
    let mut queue_push: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("events/github/push.with-new-branch.payload.json"))
            .unwrap(),
    )
    .unwrap();
    queue_push["ref"] = payload["merge_group"]["head_ref"].clone();
    queue_push["after"] = head_sha.into();
    queue_push["repository"]["full_name"] = "octo-org/octo-repo".into();
    let body = serde_json::to_vec(&queue_push).unwrap();
    headers.insert("x-github-event", HeaderValue::from_static("push"));
    headers.insert(
        "x-github-delivery",
        HeaderValue::from_static("a9f2b7c1-5d1e-11ef-8c3a-0242ac120002"),
    );
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(LOCAL_SECRET.as_bytes(), &body)).unwrap(),
    );
    let events = accepted(&world, &headers, &body).await;
    let summaries = run_trigger(&world, events).await;
    assert!(
        matches!(&summaries[0], Summary::Skipped { .. }),
        "{summaries:?}"
    );
    assert_eq!(world.recorder.bodies("StartPipelineExecution").len(), 1);
}

/// The push sample, as another delivery of another commit on the same branch.
fn push_event_of(delivery: &str, commit: &str) -> EventBridgeEvent<serde_json::Value> {
    push_event_at(delivery, commit, "2019-05-15T15:21:49Z")
}

/// The push sample as another delivery of `commit`, that GitHub sent at `time`.
fn push_event_at(delivery: &str, commit: &str, time: &str) -> EventBridgeEvent<serde_json::Value> {
    let mut event = sample("trigger/push.json");
    event["time"] = time.into();
    event["detail"]["delivery_id"] = delivery.into();
    event["detail"]["commit"] = commit.into();
    serde_json::from_value(event).unwrap()
}

/// A merge group event on the bus, as the webhook publishes GitHub's payload.
fn merge_group_event(
    delivery: &str,
    action: &str,
    reason: Option<&str>,
) -> EventBridgeEvent<serde_json::Value> {
    let mut event = sample("trigger/push.json");
    event["detail-type"] = "GitHub Merge Group".into();
    event["detail"] = serde_json::json!({
        "delivery_id": delivery,
        "repository": scenario::REPOSITORY,
        "clone_url": "https://github.com/Codertocat/Hello-World.git",
        "commit": PUSH_COMMIT,
        "event": "merge_group",
        "action": action,
        "head_ref": "refs/heads/gh-readonly-queue/master/pr-2-6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "base_ref": "refs/heads/master",
        "head_commit_message": "Merge pull request #2",
        "reason": reason,
    });
    serde_json::from_value(event).unwrap()
}

/// Pushes build `PROJECT`.
fn builds_on_push() -> String {
    serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
    .to_string()
}

/// The one build `summary` says started.
fn started_build(summary: &Summary) -> String {
    let Summary::Started { started, .. } = summary else {
        panic!("{summary:?}")
    };
    let Started::Build(build) = &started[0].started else {
        panic!("a build: {started:?}")
    };
    build.clone()
}

fn stopped_ids(summary: &Summary) -> Vec<String> {
    let stopped = match summary {
        Summary::Started { stopped, .. } | Summary::Stopped { stopped } => stopped,
        other => panic!("{other:?}"),
    };
    stopped
        .iter()
        .map(|stop| match &stop.started {
            Started::Build(id) | Started::PipelineExecution(id) => id.clone(),
        })
        .collect()
}

#[tokio::test]
async fn a_new_push_stops_the_build_of_the_branchs_older_commit_and_a_late_redelivery_stops_nothing(
) {
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT, "cancel_in_progress": true}
    ]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    let first = world.trigger.handle(push_event(), soon()).await.unwrap();
    let first_build = started_build(&first);
    assert!(stopped_ids(&first).is_empty());

    // The next push to the branch: its build starts, the older one is stopped.
    let second = world
        .trigger
        .handle(
            push_event_of(
                "8d3162e0-cc78-11e3-81ab-4c9367dc0958",
                "a10867b14bb761a232cd80139fbd4c0d33264240",
            ),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(stopped_ids(&second), std::slice::from_ref(&first_build));
    let Summary::Started { stopped, .. } = &second else {
        unreachable!()
    };
    assert_eq!(stopped[0].reason, "Superseded by a10867b");
    let stops = world.recorder.bodies("StopBuild");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["id"], first_build.as_str());
    // The reason is kept on the stopped start, for its status: CodeBuild keeps none.
    let reason = scenario::ledger(&world.aws.sdk, world.clock.clone())
        .stop_reason(
            &gantry_core::ids::DeliveryId::parse(PUSH_DELIVERY).unwrap(),
            &format!("project/{PROJECT}"),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("Superseded by a10867b"));

    // A push GitHub sent before both, handled only now (a retry, the queue's
    // order): it never stops the newer build; its own is the superseded one.
    let older = world
        .trigger
        .handle(
            push_event_at(
                "0d3162e0-cc78-11e3-81ab-4c9367dc0958",
                "0000000000000000000000000000000000000001",
                "2019-05-15T15:19:49Z",
            ),
            soon(),
        )
        .await
        .unwrap();
    let Summary::Started { started, stopped } = &older else {
        panic!("{older:?}")
    };
    assert_eq!(stopped.len(), 1, "{older:?}");
    assert_eq!(stopped[0].started, started[0].started);
    assert_eq!(stopped[0].reason, "Superseded by a10867b");
    let newest = world.recorder.bodies("StartBuild").len();
    assert_eq!(newest, 3);
    let stops = world.recorder.bodies("StopBuild");
    assert_eq!(stops.len(), 2);
    assert!(stops
        .iter()
        .all(|stop| stop["id"] != serde_json::Value::Null));

    // The first push redelivered late: already started, and what it stops is
    // its own build again, never the newest commit's.
    world.clock.advance(Duration::from_secs(3_600));
    let late = world.trigger.handle(push_event(), soon()).await.unwrap();
    assert_eq!(
        stopped_ids(&late),
        std::slice::from_ref(&first_build),
        "{late:?}"
    );
    assert_eq!(world.recorder.bodies("StartBuild").len(), 3);
}

#[tokio::test]
async fn a_dequeued_merge_group_has_its_build_stopped_and_a_merged_one_does_not() {
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["merge_group"], "branches": ["master"], "codebuild_project": PROJECT}
    ]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    let queued = world
        .trigger
        .handle(
            merge_group_event(
                "1a3162e0-cc78-11e3-81ab-4c9367dc0958",
                "checks_requested",
                None,
            ),
            soon(),
        )
        .await
        .unwrap();
    let build = started_build(&queued);

    let merged = world
        .trigger
        .handle(
            merge_group_event(
                "2a3162e0-cc78-11e3-81ab-4c9367dc0958",
                "destroyed",
                Some("merged"),
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&merged, Summary::Skipped { reason } if reason.contains("merged")),
        "{merged:?}"
    );
    assert!(world.recorder.bodies("StopBuild").is_empty());

    let dequeued = world
        .trigger
        .handle(
            merge_group_event(
                "3a3162e0-cc78-11e3-81ab-4c9367dc0958",
                "destroyed",
                Some("dequeued"),
            ),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(stopped_ids(&dequeued), std::slice::from_ref(&build));
    assert_eq!(world.recorder.bodies("StopBuild")[0]["id"], build.as_str());
}

#[tokio::test]
async fn a_superseded_execution_is_stopped_without_abandoning_its_running_actions() {
    // moto answers 500 to StopPipelineExecution: a stand-in answers it in
    // CodePipeline's documented shape, and records the request.
    let world = world().await.unwrap();
    let stand_in = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::header(
        "x-amz-target",
        "CodePipeline_20150709.StopPipelineExecution",
    ))
    .respond_with(
        wiremock::ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"pipelineExecutionId": "older-execution"})),
    )
    .mount(&stand_in)
    .await;
    let pipelines = aws_sdk_codepipeline::Client::from_conf(
        aws_sdk_codepipeline::config::Builder::from(&world.aws.sdk)
            .interceptor(gantry_tests::route::RouteOperations::new(
                &stand_in.uri(),
                &["StopPipelineExecution"],
            ))
            .build(),
    );
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "pipeline": PIPELINE, "cancel_in_progress": true}
    ]})
    .to_string();
    let clock = Clock::manual(1_800_000_000);
    let trigger = Trigger::new(
        Routes::parse(&routes).unwrap(),
        Starter::new(pipelines, aws_sdk_codebuild::Client::new(&world.aws.sdk)),
        scenario::ledger(&world.aws.sdk, clock.clone()),
    );
    trigger.handle(push_event(), soon()).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let second = trigger
        .handle(
            push_event_of(
                "9d3162e0-cc78-11e3-81ab-4c9367dc0958",
                "a10867b14bb761a232cd80139fbd4c0d33264240",
            ),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(stopped_ids(&second).len(), 1);
    let requests = stand_in.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["pipelineName"], PIPELINE);
    assert_eq!(body["abandon"], false);
    assert_eq!(body["reason"], "Superseded by a10867b");
}

/// A press of a button on one of Gantry's check runs, as the webhook
/// publishes GitHub's `check_run` delivery.
fn check_run_event(
    delivery: &str,
    action: &str,
    external_id: &str,
    identifier: Option<&str>,
) -> EventBridgeEvent<serde_json::Value> {
    let mut event = sample("trigger/push.json");
    event["detail-type"] = "GitHub Check Run".into();
    event["detail"] = serde_json::json!({
        "delivery_id": delivery,
        "repository": scenario::REPOSITORY,
        "clone_url": "https://github.com/Codertocat/Hello-World.git",
        "commit": PUSH_COMMIT,
        "event": "check_run",
        "action": action,
        "check_run_id": 4,
        "name": format!("gantry/{PROJECT}"),
        "external_id": external_id,
        "identifier": identifier,
    });
    serde_json::from_value(event).unwrap()
}

#[tokio::test]
async fn re_run_on_a_check_run_starts_its_build_again_from_the_original_event_once() {
    let world = world_routed(&builds_on_push()).await.unwrap();
    let build = started_build(&world.trigger.handle(push_event(), soon()).await.unwrap());
    let external_id = format!("{PUSH_DELIVERY}/project/{PROJECT}/{build}");

    // "Re-run" pressed: a new build at the same commit, with a token of its
    // own and the original delivery id in its environment.
    const PRESS: &str = "5c3162e0-cc78-11e3-81ab-4c9367dc0958";
    let rerun = world
        .trigger
        .handle(
            check_run_event(PRESS, "rerequested", &external_id, None),
            soon(),
        )
        .await
        .unwrap();
    let Summary::Started { started, .. } = &rerun else {
        panic!("{rerun:?}")
    };
    assert!(!started[0].already_started);
    assert_ne!(started[0].started, Started::Build(build.clone()));
    let starts = world.recorder.bodies("StartBuild");
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["idempotencyToken"], format!("{PRESS}-{PROJECT}"));
    assert_eq!(starts[1]["sourceVersion"], PUSH_COMMIT);
    let environment = starts[1]["environmentVariablesOverride"]
        .as_array()
        .unwrap();
    assert!(
        environment
            .iter()
            .any(|v| v["name"] == "GANTRY_DELIVERY_ID" && v["value"] == PUSH_DELIVERY),
        "{environment:?}"
    );

    // GitHub redelivers the press: nothing starts again.
    let again = world
        .trigger
        .handle(
            check_run_event(PRESS, "rerequested", &external_id, None),
            soon(),
        )
        .await
        .unwrap();
    let Summary::Started { started, .. } = &again else {
        panic!("{again:?}")
    };
    assert!(started[0].already_started);
    assert_eq!(world.recorder.bodies("StartBuild").len(), 2);

    // A run Gantry did not start (no origin in its external_id) is left alone.
    let foreign = world
        .trigger
        .handle(
            check_run_event(
                "6c3162e0-cc78-11e3-81ab-4c9367dc0958",
                "rerequested",
                "",
                None,
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(matches!(foreign, Summary::Skipped { .. }), "{foreign:?}");
    assert_eq!(world.recorder.bodies("StartBuild").len(), 2);
}

/// "Re-run all checks" on the commit's suite: every target Gantry started
/// for the commit starts again, under the press's delivery, once.
#[tokio::test]
async fn re_run_all_on_a_check_suite_starts_every_target_of_its_commit_again_once() {
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "pipeline": PIPELINE},
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
    .to_string();
    let world = world_routed(&routes).await.unwrap();
    let first = world.trigger.handle(push_event(), soon()).await.unwrap();
    assert!(
        matches!(&first, Summary::Started { started, .. } if started.len() == 2),
        "{first:?}"
    );

    const PRESS: &str = "7d3162e0-cc78-11e3-81ab-4c9367dc0958";
    let suite_event = || {
        let mut event = sample("trigger/push.json");
        event["detail-type"] = "GitHub Check Suite".into();
        event["detail"] = serde_json::json!({
            "delivery_id": PRESS,
            "repository": scenario::REPOSITORY,
            "clone_url": "https://github.com/Codertocat/Hello-World.git",
            "commit": PUSH_COMMIT,
            "event": "check_suite",
            "action": "rerequested",
            "check_suite_id": 118578147,
        });
        serde_json::from_value::<EventBridgeEvent<serde_json::Value>>(event).unwrap()
    };
    let rerun = world.trigger.handle(suite_event(), soon()).await.unwrap();
    let Summary::Started { started, .. } = &rerun else {
        panic!("{rerun:?}")
    };
    let mut targets: Vec<&str> = started.iter().map(|s| s.target.as_str()).collect();
    targets.sort();
    assert_eq!(targets, [PROJECT, PIPELINE]);
    assert!(started.iter().all(|s| !s.already_started));
    let builds = world.recorder.bodies("StartBuild");
    let executions = world.recorder.bodies("StartPipelineExecution");
    assert_eq!((builds.len(), executions.len()), (2, 2));
    assert_eq!(builds[1]["idempotencyToken"], format!("{PRESS}-{PROJECT}"));
    assert_eq!(executions[1]["clientRequestToken"], PRESS);
    assert_eq!(builds[1]["sourceVersion"], PUSH_COMMIT);

    // Redelivered: nothing starts again.
    let again = world.trigger.handle(suite_event(), soon()).await.unwrap();
    let Summary::Started { started, .. } = &again else {
        panic!("{again:?}")
    };
    assert!(started.iter().all(|s| s.already_started), "{started:?}");
    assert_eq!(world.recorder.bodies("StartBuild").len(), 2);
    assert_eq!(world.recorder.bodies("StartPipelineExecution").len(), 2);
}

/// "Retry failed actions" on a failed execution's run retries its failed
/// stage's failed actions in the same execution; "Re-run" on a stage's run
/// retries the whole stage, or, when CodePipeline will not (the execution
/// is no longer the latest), starts a new execution. moto answers 500 to
/// `ListActionExecutions` and `RetryStageExecution`: a stand-in answers them
/// in CodePipeline's documented shapes and records the requests.
#[tokio::test]
async fn retry_failed_actions_and_a_stages_re_run_retry_the_stage_in_its_execution() {
    let world = world().await.unwrap();
    let stand_in = wiremock::MockServer::start().await;
    let target = |operation: &str| {
        wiremock::matchers::header(
            "x-amz-target",
            format!("CodePipeline_20150709.{operation}").as_str(),
        )
    };
    const EXECUTION: &str = "3137f7cb-7cf7-039j-s83l-d7eu3EXAMPLE";
    let action = |stage: &str, status: &str, started: f64| {
        serde_json::json!({
            "pipelineExecutionId": EXECUTION, "actionExecutionId": format!("{EXECUTION}-{stage}"),
            "pipelineVersion": 1, "stageName": stage, "actionName": stage,
            "startTime": started, "lastUpdateTime": started + 30.0, "status": status,
            "input": {"actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}}
        })
    };
    wiremock::Mock::given(target("ListActionExecutions"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "actionExecutionDetails": [action("Build", "Failed", 1_700_000_060.0), action("Source", "Succeeded", 1_700_000_000.0)]
        })))
        .mount(&stand_in)
        .await;
    // The first two retries are taken; the third execution is no longer the latest.
    wiremock::Mock::given(target("RetryStageExecution"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"pipelineExecutionId": EXECUTION})),
        )
        .up_to_n_times(2)
        .mount(&stand_in)
        .await;
    wiremock::Mock::given(target("RetryStageExecution"))
        .respond_with(
            wiremock::ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "__type": "NotLatestPipelineExecutionException",
                "message": "Execution is not the latest for the pipeline"
            })),
        )
        .mount(&stand_in)
        .await;
    let recorder = RequestRecorder::default();
    let pipelines = aws_sdk_codepipeline::Client::from_conf(
        aws_sdk_codepipeline::config::Builder::from(&world.aws.sdk)
            .interceptor(gantry_tests::route::RouteOperations::new(
                &stand_in.uri(),
                &["ListActionExecutions", "RetryStageExecution"],
            ))
            .interceptor(recorder.clone())
            .build(),
    );
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "pipeline": PIPELINE}
    ]})
    .to_string();
    let trigger = Trigger::new(
        Routes::parse(&routes).unwrap(),
        Starter::new(pipelines, aws_sdk_codebuild::Client::new(&world.aws.sdk)),
        scenario::ledger(&world.aws.sdk, Clock::manual(1_800_000_000)),
    );
    trigger.handle(push_event(), soon()).await.unwrap();
    let retry_bodies = || {
        let stand_in = &stand_in;
        async move {
            stand_in
                .received_requests()
                .await
                .unwrap()
                .into_iter()
                .filter(|r| {
                    r.headers["x-amz-target"] == "CodePipeline_20150709.RetryStageExecution"
                })
                .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
                .collect::<Vec<_>>()
        }
    };

    // "Retry failed actions" on the execution's run: its failed stage, Build.
    let execution_run = format!("{PUSH_DELIVERY}/pipeline/{PIPELINE}/{EXECUTION}");
    let pressed = trigger
        .handle(
            check_run_event(
                "8e3162e0-cc78-11e3-81ab-4c9367dc0958",
                "requested_action",
                &execution_run,
                Some(gantry_status::mapping::report::RETRY_FAILED_ACTION),
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&pressed, Summary::Retried { execution, .. } if execution == EXECUTION),
        "{pressed:?}"
    );
    let bodies = retry_bodies().await;
    assert_eq!(
        bodies[0],
        serde_json::json!({"pipelineName": PIPELINE, "pipelineExecutionId": EXECUTION, "stageName": "Build", "retryMode": "FAILED_ACTIONS"})
    );

    // "Re-run" on the Build stage's own run: the whole stage, in its execution.
    let stage_run = format!("{execution_run}/Build");
    let rerun = trigger
        .handle(
            check_run_event(
                "9e3162e0-cc78-11e3-81ab-4c9367dc0958",
                "rerequested",
                &stage_run,
                None,
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(matches!(&rerun, Summary::Retried { .. }), "{rerun:?}");
    assert_eq!(retry_bodies().await[1]["retryMode"], "ALL_ACTIONS");
    assert!(
        recorder.bodies("StartPipelineExecution").len() == 1,
        "no new execution"
    );

    // Not the latest execution any more: a new execution, from the original push.
    let rerun = trigger
        .handle(
            check_run_event(
                "ae3162e0-cc78-11e3-81ab-4c9367dc0958",
                "rerequested",
                &stage_run,
                None,
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(matches!(&rerun, Summary::Started { .. }), "{rerun:?}");
    let starts = recorder.bodies("StartPipelineExecution");
    assert_eq!(starts.len(), 2);
    assert_eq!(
        starts[1]["clientRequestToken"],
        "ae3162e0-cc78-11e3-81ab-4c9367dc0958"
    );
}

#[tokio::test]
async fn stop_on_a_running_check_run_stops_its_build() {
    let world = world_routed(&builds_on_push()).await.unwrap();
    let build = started_build(&world.trigger.handle(push_event(), soon()).await.unwrap());
    let build = build.as_str();
    let pressed = world
        .trigger
        .handle(
            check_run_event(
                "7c3162e0-cc78-11e3-81ab-4c9367dc0958",
                "requested_action",
                &format!("{PUSH_DELIVERY}/project/{PROJECT}/{build}"),
                Some("stop"),
            ),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(stopped_ids(&pressed), [build.to_owned()]);
    assert_eq!(world.recorder.bodies("StopBuild")[0]["id"], build);
    // A button Gantry does not offer starts and stops nothing.
    let other = world
        .trigger
        .handle(
            check_run_event(
                "8c3162e0-cc78-11e3-81ab-4c9367dc0958",
                "requested_action",
                &format!("{PUSH_DELIVERY}/project/{PROJECT}/{build}"),
                Some("deploy"),
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(matches!(other, Summary::Skipped { .. }), "{other:?}");
    assert_eq!(world.recorder.bodies("StopBuild").len(), 1);
}

#[tokio::test]
async fn a_finished_build_is_read_and_not_stopped() {
    // CodeBuild, for BatchGetBuilds, played by a stand-in: the build has
    // finished (moto's answers leave buildComplete out).
    let world = world().await.unwrap();
    const BUILD: &str = "hello-world-build:5f6b2c1a-0000-4000-8000-00000000f1d5";
    let stand_in = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::header(
        "x-amz-target",
        "CodeBuild_20161006.BatchGetBuilds",
    ))
    .respond_with(
        wiremock::ResponseTemplate::new(200).set_body_json(scenario::batch_get_builds(
            BUILD,
            "SUCCEEDED",
            PUSH_COMMIT,
        )),
    )
    .mount(&stand_in)
    .await;
    let builds = aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(&world.aws.sdk)
            .interceptor(gantry_tests::route::RouteOperations::new(
                &stand_in.uri(),
                &["BatchGetBuilds"],
            ))
            .interceptor(world.recorder.clone())
            .build(),
    );
    let trigger = Trigger::new(
        Routes::parse(&builds_on_push()).unwrap(),
        Starter::new(aws_sdk_codepipeline::Client::new(&world.aws.sdk), builds),
        scenario::ledger(&world.aws.sdk, world.clock.clone()),
    );
    let pressed = trigger
        .handle(
            check_run_event(
                "9c3162e0-cc78-11e3-81ab-4c9367dc0958",
                "requested_action",
                &format!("{PUSH_DELIVERY}/project/{PROJECT}/{BUILD}"),
                Some("stop"),
            ),
            soon(),
        )
        .await
        .unwrap();
    assert!(matches!(pressed, Summary::Stopped { .. }), "{pressed:?}");
    assert_eq!(world.recorder.bodies("BatchGetBuilds").len(), 1);
    assert!(
        world.recorder.bodies("StopBuild").is_empty(),
        "nothing to stop"
    );
}
