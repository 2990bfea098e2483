//! `status` against moto's server for the AWS reads and an HTTP stand-in for
//! GitHub: state changes become commit statuses, decided from the current state.
//! Where moto falls short of CodePipeline (`ListActionExecutions`, an execution
//! in progress), a second stand-in answers those operations alone.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType,
    InputArtifact, OutputArtifact, PipelineDeclaration, PipelineType, StageDeclaration,
};
use gantry_core::github::{GitHubClient, RetryPolicy};
use gantry_core::secret::CachedSecret;
use gantry_status::config::StatusConfig;
use gantry_status::reader::Reader;
use gantry_status::{Outcome, StatusHandler};
use gantry_tests::moto::Moto;
use gantry_tests::recorder::RequestRecorder;
use gantry_tests::route::RouteOperations;
use gantry_tests::scenario::{self, LocalAws, ARTIFACT_BUCKET, PIPELINE, PROJECT, REPOSITORY};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const TOKEN: &str = "ghp_local";

struct World {
    _moto: Moto,
    aws: LocalAws,
    github: MockServer,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    World {
        _moto: moto,
        aws,
        github: MockServer::start().await,
    }
}

impl World {
    fn handler(&self, config: &str) -> StatusHandler {
        self.handler_reading(config, aws_sdk_codepipeline::Client::new(&self.aws.sdk))
    }

    /// A handler whose CodePipeline reads go through `pipelines`.
    fn handler_reading(
        &self,
        config: &str,
        pipelines: aws_sdk_codepipeline::Client,
    ) -> StatusHandler {
        let retry = RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        };
        StatusHandler::new(
            StatusConfig::parse(config).unwrap(),
            Reader::new(aws_sdk_codebuild::Client::new(&self.aws.sdk), pipelines),
            GitHubClient::new(&self.github.uri(), CachedSecret::plain(TOKEN), retry).unwrap(),
        )
    }

    async fn start_build(&self) -> String {
        aws_sdk_codebuild::Client::new(&self.aws.sdk)
            .start_build()
            .project_name(PROJECT)
            .source_version(COMMIT)
            .send()
            .await
            .unwrap()
            .build_value
            .and_then(|b| b.id)
            .unwrap()
    }

    /// What GitHub received, as (context, state, description) in order.
    async fn statuses(&self) -> Vec<(String, String, String)> {
        self.github
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
                (field("context"), field("state"), field("description"))
            })
            .collect()
    }
}

async fn handle(
    handler: &StatusHandler,
    event: Value,
) -> Result<Outcome, gantry_status::StatusError> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(event).unwrap();
    handler
        .handle(event, Instant::now() + Duration::from_secs(20))
        .await
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({"state": "success"}))
}

#[tokio::test]
async fn a_build_state_change_posts_one_status_and_late_events_never_regress_it() {
    let world = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{COMMIT}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(created())
        .mount(&world.github)
        .await;
    let handler = world.handler("{}");
    let build_id = world.start_build().await;

    // The finished build's event, then a late IN_PROGRESS one: CodeBuild says the
    // build succeeded, so both post success and nothing goes back to pending.
    for status in ["SUCCEEDED", "IN_PROGRESS"] {
        let outcome = handle(
            &handler,
            scenario::build_state_change(&build_id, status, COMMIT),
        )
        .await
        .unwrap();
        assert!(
            matches!(&outcome, Outcome::Posted { state, .. } if state == "success"),
            "{outcome:?}"
        );
    }
    let statuses = world.statuses().await;
    assert_eq!(
        statuses.len(),
        2,
        "exactly one GitHub call per state change"
    );
    for (context, state, description) in statuses {
        assert_eq!(context, format!("gantry/{PROJECT}"));
        assert_eq!(state, "success");
        assert!(
            description.starts_with("Build succeeded in "),
            "{description}"
        );
    }
}

#[tokio::test]
async fn a_pipeline_execution_is_found_by_triggers_variables() {
    let world = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{COMMIT}")))
        .respond_with(created())
        .expect(1)
        .mount(&world.github)
        .await;
    let pipelines = aws_sdk_codepipeline::Client::new(&world.aws.sdk);
    let mut start = pipelines.start_pipeline_execution().name(PIPELINE);
    for (name, value) in [("GANTRY_REPOSITORY", REPOSITORY), ("GANTRY_COMMIT", COMMIT)] {
        start = start.variables(
            aws_sdk_codepipeline::types::PipelineVariable::builder()
                .name(name)
                .value(value)
                .build()
                .unwrap(),
        );
    }
    let execution_id = start.send().await.unwrap().pipeline_execution_id.unwrap();

    // A late STARTED event: the execution has succeeded, so the status is success.
    let event = scenario::state_change(
        "codepipeline.docs.pipeline-started.json",
        serde_json::json!({"pipeline": PIPELINE, "execution-id": execution_id}),
    );
    let outcome = handle(
        &world.handler(r#"{"pipelines": {"hello-world-pipeline": {"context": "ci/hello"}}}"#),
        event,
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcome, Outcome::Posted { state, context, .. } if state == "success" && context == "ci/hello"),
        "{outcome:?}"
    );
    let statuses = world.statuses().await;
    assert_eq!(
        statuses,
        [(
            "ci/hello".into(),
            "success".into(),
            "Pipeline succeeded".into()
        )]
    );
    let request = &world.github.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert!(
        body["target_url"].as_str().unwrap().contains(&format!(
            "/codepipeline/pipelines/{PIPELINE}/executions/{execution_id}"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn github_failures_are_retried_then_returned_and_refusals_are_not_retried() {
    let world = world().await;
    let handler = world.handler("{}");
    let build_id = world.start_build().await;
    let event = || scenario::build_state_change(&build_id, "SUCCEEDED", COMMIT);

    // 502, then 429 with Retry-After, then success: one status, three calls.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .respond_with(created())
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    assert!(matches!(
        handle(&handler, event()).await.unwrap(),
        Outcome::Posted { .. }
    ));
    assert_eq!(world.statuses().await.len(), 3);

    // Rate limited (403, none left) past every retry: an error, so EventBridge retries later.
    world.github.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "1"),
        )
        .mount(&world.github)
        .await;
    let err = handle(&handler, event()).await.unwrap_err();
    assert!(err.to_string().contains("after 3 attempts"), "{err}");

    // Unknown commit: logged and answered, not retried.
    world.github.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(serde_json::json!({"message": "No commit found for SHA"})),
        )
        .expect(1)
        .mount(&world.github)
        .await;
    let outcome = handle(&handler, event()).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Rejected {
            status: 422,
            message: "No commit found for SHA".into()
        }
    );
}

#[tokio::test]
async fn events_gantry_does_not_post_for_are_ignored_without_a_github_call() {
    let world = world().await;
    let build_id = world.start_build().await;
    let listed_only =
        world.handler(r#"{"projects": {"another-project": {}}, "listed_only": true}"#);
    let outcome = handle(
        &listed_only,
        scenario::build_state_change(&build_id, "SUCCEEDED", COMMIT),
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored { reason } if reason.contains("not listed")),
        "{outcome:?}"
    );

    let handler = world.handler("{}");
    let mut s3_build = scenario::build_state_change(&build_id, "SUCCEEDED", COMMIT);
    s3_build["detail"]["additional-information"]["source"] =
        serde_json::json!({"type": "S3", "location": "bucket/src.zip"});
    let outcome = handle(&handler, s3_build).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored { reason } if reason.contains("not a GitHub repository")),
        "{outcome:?}"
    );

    let phase = scenario::state_change(
        "codebuild.docs.build-phase-change.json",
        serde_json::json!({"project-name": PROJECT}),
    );
    assert!(matches!(
        handle(&handler, phase).await.unwrap(),
        Outcome::Ignored { .. }
    ));
    let action = scenario::state_change(
        "codepipeline.docs.action-failed.json",
        serde_json::json!({"pipeline": PIPELINE}),
    );
    assert!(matches!(
        handle(&handler, action).await.unwrap(),
        Outcome::Ignored { .. }
    ));
    assert!(world.statuses().await.is_empty());
}

const TWO_STEP_PIPELINE: &str = "two-step-pipeline";
const EXECUTION: &str = "0a1b2c3d-1234-5678-abcd-12345678abcd";

/// In moto: a pipeline whose `Release` stage runs `Deploy` (run order 1), then
/// `Verify` (run order 2).
async fn create_two_step_pipeline(aws: &LocalAws) {
    let role_arn = aws.role_arn.clone();
    let type_id = |category, provider: &str| {
        ActionTypeId::builder()
            .category(category)
            .owner(ActionOwner::Aws)
            .provider(provider)
            .version("1")
            .build()
            .unwrap()
    };
    let source = ActionDeclaration::builder()
        .name("Source")
        .action_type_id(type_id(ActionCategory::Source, "CodeStarSourceConnection"))
        .configuration("FullRepositoryId", REPOSITORY)
        .output_artifacts(
            OutputArtifact::builder()
                .name("SourceOutput")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let build = |name: &str, category, run_order| {
        ActionDeclaration::builder()
            .name(name)
            .action_type_id(type_id(category, "CodeBuild"))
            .run_order(run_order)
            .configuration("ProjectName", PROJECT)
            .input_artifacts(
                InputArtifact::builder()
                    .name("SourceOutput")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let pipeline = PipelineDeclaration::builder()
        .name(TWO_STEP_PIPELINE)
        .role_arn(role_arn)
        .pipeline_type(PipelineType::V2)
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location(ARTIFACT_BUCKET)
                .build()
                .unwrap(),
        )
        .stages(
            StageDeclaration::builder()
                .name("Source")
                .actions(source)
                .build()
                .unwrap(),
        )
        .stages(
            StageDeclaration::builder()
                .name("Release")
                .actions(build("Deploy", ActionCategory::Build, 1))
                .actions(build("Verify", ActionCategory::Test, 2))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    aws_sdk_codepipeline::Client::new(&aws.sdk)
        .create_pipeline()
        .pipeline(pipeline)
        .send()
        .await
        .unwrap();
}

/// One `ActionExecutionDetail` of the execution, in `ListActionExecutions`'s documented shape.
fn action_execution(stage: &str, action: &str, started: f64) -> Value {
    serde_json::json!({
        "pipelineExecutionId": EXECUTION,
        "actionExecutionId": format!("{EXECUTION}-{action}"),
        "pipelineVersion": 1,
        "stageName": stage,
        "actionName": action,
        "startTime": started,
        "lastUpdateTime": started + 30.0,
        "status": "Succeeded",
        "input": {"actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}},
        "output": {"executionResult": {"externalExecutionSummary": format!("{action} done")}}
    })
}

/// The stand-in's answers: the execution in progress at pipeline version 1
/// (`GetPipelineExecution`'s documented shape), and its started actions, all
/// succeeded (`ListActionExecutions`'s).
async fn stand_in_answers(stand_in: &MockServer, started: &[(&str, &str)]) {
    stand_in.reset().await;
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "CodePipeline_20150709.GetPipelineExecution",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pipelineExecution": {
                "pipelineName": TWO_STEP_PIPELINE,
                "pipelineVersion": 1,
                "pipelineExecutionId": EXECUTION,
                "status": "InProgress",
                "artifactRevisions": [],
                "variables": [
                    {"name": "GANTRY_REPOSITORY", "resolvedValue": REPOSITORY},
                    {"name": "GANTRY_COMMIT", "resolvedValue": COMMIT}
                ],
                "executionMode": "QUEUED",
                "executionType": "STANDARD"
            }
        })))
        .mount(stand_in)
        .await;
    let details: Vec<Value> = started
        .iter()
        .enumerate()
        .map(|(i, (stage, action))| {
            action_execution(stage, action, 1_700_000_000.0 + 60.0 * i as f64)
        })
        .collect();
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "CodePipeline_20150709.ListActionExecutions",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"actionExecutionDetails": details})),
        )
        .mount(stand_in)
        .await;
}

/// A stage's status is success only once every action it declares has
/// succeeded: between two run orders, a late `STARTED` event finds the first
/// action succeeded and the second not yet listed, and posts pending.
///
/// Where the answers come from: `GetPipeline` from moto (the stage's two
/// declared actions, as created; moto ignores `version`, so the request is
/// checked for it). `GetPipelineExecution` from an HTTP stand-in, as moto's
/// executions have succeeded as soon as they start and one in progress cannot
/// be read from it; `ListActionExecutions` from the stand-in too, as moto does
/// not implement it (HTTP 500). The stand-in answers in AWS's documented shapes.
#[tokio::test]
async fn a_stage_is_success_only_once_every_declared_action_has_succeeded() {
    let world = world().await;
    create_two_step_pipeline(&world.aws).await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{COMMIT}")))
        .respond_with(created())
        .mount(&world.github)
        .await;
    let stand_in = MockServer::start().await;
    let recorder = RequestRecorder::default();
    let pipelines = aws_sdk_codepipeline::Client::from_conf(
        aws_sdk_codepipeline::config::Builder::from(&world.aws.sdk)
            .interceptor(RouteOperations::new(
                &stand_in.uri(),
                &["GetPipelineExecution", "ListActionExecutions"],
            ))
            .interceptor(recorder.clone())
            .build(),
    );
    let handler = world.handler_reading(
        r#"{"pipelines": {
            "two-step-pipeline": {"context": "ci/two-step", "per_stage": true},
            "gone-pipeline": {"context": "ci/gone", "per_stage": true}
        }}"#,
        pipelines,
    );
    let started = |pipeline: &str| {
        scenario::state_change(
            "codepipeline.derived.stage-started.json",
            serde_json::json!({"pipeline": pipeline, "execution-id": EXECUTION, "stage": "Release"}),
        )
    };

    // Deploy has succeeded, Verify has not started: the stage still runs.
    stand_in_answers(&stand_in, &[("Source", "Source"), ("Release", "Deploy")]).await;
    let outcome = handle(&handler, started(TWO_STEP_PIPELINE)).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Posted { state, .. } if state == "pending"),
        "{outcome:?}"
    );

    // Both have succeeded: the same late event now finds the stage done.
    stand_in_answers(
        &stand_in,
        &[
            ("Source", "Source"),
            ("Release", "Deploy"),
            ("Release", "Verify"),
        ],
    )
    .await;
    let outcome = handle(&handler, started(TWO_STEP_PIPELINE)).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Posted { state, .. } if state == "success"),
        "{outcome:?}"
    );

    // A pipeline moto does not know: GetPipeline fails, so actions that all
    // succeeded are not enough, and nothing is posted for the stage.
    let outcome = handle(&handler, started("gone-pipeline")).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored { reason } if reason.contains("declared actions could not be read")),
        "{outcome:?}"
    );

    assert_eq!(
        world.statuses().await,
        [
            (
                "ci/two-step/Release".into(),
                "pending".into(),
                "Stage Release running".into()
            ),
            (
                "ci/two-step/Release".into(),
                "success".into(),
                "Stage Release succeeded".into()
            ),
        ]
    );
    // The declaration is read at the execution's pipeline version.
    assert_eq!(
        recorder.bodies("GetPipeline"),
        [
            serde_json::json!({"name": TWO_STEP_PIPELINE, "version": 1}),
            serde_json::json!({"name": TWO_STEP_PIPELINE, "version": 1}),
            serde_json::json!({"name": "gone-pipeline", "version": 1}),
        ]
    );
}

#[tokio::test]
async fn a_pending_that_github_did_not_take_is_dropped_once_the_build_has_finished() {
    let world = world().await;
    const BUILD: &str = "hello-world-build:5f6b2c1a-0000-4000-8000-000000000002";
    // CodeBuild, played by a stand-in (moto's builds succeed on their first read):
    // in progress when the first event is decided, succeeded from then on.
    let codebuild = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(scenario::batch_get_builds(
                BUILD,
                "IN_PROGRESS",
                COMMIT,
            )),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&codebuild)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(scenario::batch_get_builds(
                BUILD,
                "SUCCEEDED",
                COMMIT,
            )),
        )
        .with_priority(2)
        .mount(&codebuild)
        .await;
    // GitHub fails the first status and asks for a second's wait; then takes all.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .respond_with(created())
        .with_priority(2)
        .mount(&world.github)
        .await;
    let builds = aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(&world.aws.sdk)
            .interceptor(RouteOperations::new(&codebuild.uri(), &["BatchGetBuilds"]))
            .build(),
    );
    let retry = RetryPolicy {
        max_attempts: 3,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    };
    let handler = StatusHandler::new(
        StatusConfig::parse("{}").unwrap(),
        Reader::new(builds, aws_sdk_codepipeline::Client::new(&world.aws.sdk)),
        GitHubClient::new(&world.github.uri(), CachedSecret::plain(TOKEN), retry).unwrap(),
    );

    // Invocation A: the build's IN_PROGRESS event; its pending is refused and
    // waits to be retried. Invocation B, meanwhile: the SUCCEEDED event.
    let in_progress = handle(
        &handler,
        scenario::build_state_change(BUILD, "IN_PROGRESS", COMMIT),
    );
    let succeeded = async {
        while world
            .github
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        handle(
            &handler,
            scenario::build_state_change(BUILD, "SUCCEEDED", COMMIT),
        )
        .await
    };
    let (first, second) = tokio::join!(in_progress, succeeded);

    assert!(
        matches!(&second, Ok(Outcome::Posted { state, .. }) if state == "success"),
        "{second:?}"
    );
    assert!(
        matches!(&first, Ok(Outcome::Ignored { reason }) if reason.contains("pending not retried")),
        "{first:?}"
    );
    let states: Vec<String> = world
        .statuses()
        .await
        .into_iter()
        .map(|(_, state, _)| state)
        .collect();
    assert_eq!(
        states,
        ["pending", "success"],
        "no pending after the success"
    );
}

/// An execution Gantry stopped for a newer commit says so: the reason
/// `StopPipelineExecution` was given comes back in `ListPipelineExecutions`'
/// `stopTrigger`, and the status reads `Pipeline stopped: Superseded by
/// <sha>`. moto's executions cannot be stopped (it answers 500 to
/// `StopPipelineExecution`), so a stand-in answers `GetPipelineExecution`
/// and `ListPipelineExecutions` in their documented shapes.
#[tokio::test]
async fn a_superseded_execution_says_which_commit_superseded_it() {
    let world = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{COMMIT}")))
        .respond_with(created())
        .mount(&world.github)
        .await;
    let stand_in = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "CodePipeline_20150709.GetPipelineExecution",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pipelineExecution": {
                "pipelineName": TWO_STEP_PIPELINE, "pipelineVersion": 1,
                "pipelineExecutionId": EXECUTION, "status": "Stopped", "artifactRevisions": [],
                "variables": [
                    {"name": "GANTRY_REPOSITORY", "resolvedValue": REPOSITORY},
                    {"name": "GANTRY_COMMIT", "resolvedValue": COMMIT}
                ]
            }
        })))
        .mount(&stand_in)
        .await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "CodePipeline_20150709.ListPipelineExecutions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pipelineExecutionSummaries": [
                {"pipelineExecutionId": "1f1f1f1f-1234-5678-abcd-12345678abcd", "status": "InProgress", "startTime": 1_700_000_100.0},
                {"pipelineExecutionId": EXECUTION, "status": "Stopped", "startTime": 1_700_000_000.0,
                 "stopTrigger": {"reason": "Superseded by a10867b"}}
            ]
        })))
        .mount(&stand_in)
        .await;
    let pipelines = aws_sdk_codepipeline::Client::from_conf(
        aws_sdk_codepipeline::config::Builder::from(&world.aws.sdk)
            .interceptor(RouteOperations::new(
                &stand_in.uri(),
                &[
                    "GetPipelineExecution",
                    "ListPipelineExecutions",
                    "ListActionExecutions",
                ],
            ))
            .build(),
    );
    let handler = world.handler_reading("{}", pipelines);
    let stopped = scenario::state_change(
        "codepipeline.derived.pipeline-stopped.json",
        serde_json::json!({"pipeline": TWO_STEP_PIPELINE, "execution-id": EXECUTION}),
    );
    let outcome = handle(&handler, stopped).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Posted { state, .. } if state == "error"),
        "{outcome:?}"
    );
    assert_eq!(
        world.statuses().await,
        [(
            format!("gantry/{TWO_STEP_PIPELINE}"),
            "error".to_owned(),
            "Pipeline stopped: Superseded by a10867b".to_owned()
        )]
    );
}
