//! The local world Gantry runs in: a bus whose rule delivers Gantry events to
//! the trigger queue and its dead-letter queue, as the template wires them (moto
//! runs no event source mapping, so `receive_batch` and `settle` do its part),
//! an example pipeline and build project, and the routing that ties them together.

use crate::BoxError;
use aws_config::SdkConfig;
use aws_sdk_codebuild::types::{
    ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment,
    ProjectSource, SourceType,
};
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType,
    InputArtifact, OutputArtifact, PipelineDeclaration, PipelineType, PipelineVariableDeclaration,
    StageDeclaration,
};
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::time::{Duration, Instant};

pub const BUS: &str = "gantry";
pub const RULE: &str = "gantry-github-to-trigger";
pub const TRIGGER_QUEUE: &str = "gantry-trigger-events";
pub const TRIGGER_DLQ: &str = "gantry-trigger-dlq";
/// The template's `VisibilityTimeout` on `TriggerQueue`.
pub const TRIGGER_QUEUE_VISIBILITY_S: u32 = 180;
pub const PIPELINE: &str = "hello-world-pipeline";
pub const PROJECT: &str = "hello-world-build";
pub const REPOSITORY: &str = "Codertocat/Hello-World";
/// The example pipeline's artifact store.
pub const ARTIFACT_BUCKET: &str = "gantry-artifacts";
/// What the local pruner keeps: the newest five of each kind, and a day's worth.
/// A prefix rule, as moto cannot list action executions for pipeline protection.
/// A folder of nightly build outputs, written by no pipeline: the local endpoint
/// lacks `ListActionExecutions`, so a rule over a pipeline's folder (whose
/// artifacts in use must be read first) can only be tested against a stand-in.
pub const LOCAL_PRUNE_POLICY: &str =
    r#"{"rules": [{"prefix": "nightly-builds/", "keep_newest": 5, "keep_days": 1}]}"#;
/// The secret that signs the samples in `events/webhook/`.
pub const LOCAL_SECRET: &str = "gantry-local-secret";
/// The pipeline variables `trigger` passes; the example pipeline declares them.
pub use gantry_trigger::route::PIPELINE_VARIABLES;

/// Pushes to any branch or a `v*` tag run the pipeline; pull requests run the build project.
pub fn routes_json() -> String {
    serde_json::json!({
        "routes": [
            {"name": "pushes", "repository": REPOSITORY, "events": ["push"],
             "branches": ["**"], "tags": ["v*"], "pipeline": PIPELINE},
            {"name": "pull-requests", "repository": REPOSITORY, "events": ["pull_request"],
             "codebuild_project": PROJECT}
        ]
    })
    .to_string()
}

pub struct LocalAws {
    pub sdk: SdkConfig,
    /// The trigger queue, which the rule fills.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dead_letter_url: String,
    /// The role the example pipeline and build project run as.
    pub role_arn: String,
}

/// The webhook as the local world runs it: the samples' secret, this bus.
pub fn webhook(sdk: &SdkConfig) -> gantry_webhook::Webhook {
    use gantry_core::secret::{CachedSecret, SecretSource, DEFAULT_TTL};
    gantry_webhook::Webhook::new(
        CachedSecret::new(
            SecretSource::Plain(LOCAL_SECRET.to_owned().into()),
            DEFAULT_TTL,
            sdk,
        ),
        gantry_webhook::publish::Publisher::new(
            aws_sdk_eventbridge::Client::new(sdk),
            BUS.to_owned(),
        ),
    )
}

/// The ledger table, keyed as `infra/template.yaml` declares it.
pub const LEDGER_TABLE: &str = "gantry-ledger";

pub async fn create_ledger_table(sdk: &SdkConfig) -> Result<(), BoxError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let index =
        |name: &str, partition: &str, sort: &str| -> Result<GlobalSecondaryIndex, BoxError> {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(partition, KeyType::Hash)?)
                .key_schema(key(sort, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?)
        };
    let mut create = aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(LEDGER_TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(index(
            gantry_core::ledger::BY_COMMIT,
            "commit_pk",
            "commit_sk",
        )?)
        .global_secondary_indexes(index(gantry_core::ledger::BY_REF, "ref_pk", "ref_sk")?);
    for name in ["pk", "sk", "commit_pk", "commit_sk", "ref_pk", "ref_sk"] {
        create = create.attribute_definitions(attribute(name)?);
    }
    create.send().await?;
    Ok(())
}

/// A CodeBuild project building the local repository, run by `role_arn`.
pub async fn create_build_project(
    sdk: &SdkConfig,
    name: &str,
    role_arn: &str,
) -> Result<(), BoxError> {
    aws_sdk_codebuild::Client::new(sdk)
        .create_project()
        .name(name)
        .source(
            ProjectSource::builder()
                .r#type(SourceType::Github)
                .location(format!("https://github.com/{REPOSITORY}.git"))
                .build()?,
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()?,
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::ArmContainer)
                .image("aws/codebuild/amazonlinux-aarch64-standard:3.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()?,
        )
        .service_role(role_arn)
        .send()
        .await?;
    Ok(())
}

/// The ledger in the local world's table, on `clock`.
pub fn ledger(sdk: &SdkConfig, clock: gantry_core::ledger::Clock) -> gantry_core::ledger::Ledger {
    gantry_core::ledger::Ledger::new(
        aws_sdk_dynamodb::Client::new(sdk),
        LEDGER_TABLE.to_owned(),
        clock,
    )
}

/// Creates the bus, rule, queue, role, pipeline, build project and ledger table.
pub async fn provision(sdk: &SdkConfig) -> Result<LocalAws, BoxError> {
    create_ledger_table(sdk).await?;
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);

    events.create_event_bus().name(BUS).send().await?;
    let dead_letter_url = sqs
        .create_queue()
        .queue_name(TRIGGER_DLQ)
        .send()
        .await?
        .queue_url
        .ok_or("CreateQueue returned no URL")?;
    let queue_url = sqs
        .create_queue()
        .queue_name(TRIGGER_QUEUE)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            TRIGGER_QUEUE_VISIBILITY_S.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({
                "deadLetterTargetArn": queue_arn(TRIGGER_DLQ),
                "maxReceiveCount": gantry_trigger::retry::MAX_RECEIVES,
            })
            .to_string(),
        )
        .send()
        .await?
        .queue_url
        .ok_or("CreateQueue returned no URL")?;
    let queue_arn = queue_arn(TRIGGER_QUEUE);
    events
        .put_rule()
        .name(RULE)
        .event_bus_name(BUS)
        .event_pattern(
            serde_json::json!({
                "source": [gantry_core::contract::SOURCE],
                "detail-type": ["GitHub Push", "GitHub Pull Request", "GitHub Merge Group", "GitHub Check Run", "GitHub Check Suite", "GitHub Issue Comment"]
            })
            .to_string(),
        )
        .send()
        .await?;
    events
        .put_targets()
        .rule(RULE)
        .event_bus_name(BUS)
        .targets(Target::builder().id("trigger").arn(queue_arn).build()?)
        .send()
        .await?;

    let role_arn = iam
        .create_role()
        .role_name("gantry-example-pipeline")
        .assume_role_policy_document(
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "codepipeline.amazonaws.com"}}]
            })
            .to_string(),
        )
        .send()
        .await?
        .role
        .map(|role| role.arn)
        .ok_or("CreateRole returned no role")?;

    create_pipeline(sdk, &role_arn).await?;
    put_artifacts(sdk, 12).await?;
    create_build_project(sdk, PROJECT, &role_arn).await?;
    Ok(LocalAws {
        sdk: sdk.clone(),
        queue_url,
        dead_letter_url,
        role_arn,
    })
}

pub fn queue_arn(name: &str) -> String {
    format!(
        "arn:aws:sqs:{}:{}:{name}",
        crate::moto::REGION,
        crate::moto::ACCOUNT
    )
}

async fn create_pipeline(sdk: &SdkConfig, role_arn: &str) -> Result<(), BoxError> {
    let action_type = |category, provider: &str| {
        ActionTypeId::builder()
            .category(category)
            .owner(ActionOwner::Aws)
            .provider(provider)
            .version("1")
            .build()
    };
    let source = ActionDeclaration::builder()
        .name("Source")
        .action_type_id(action_type(
            ActionCategory::Source,
            "CodeStarSourceConnection",
        )?)
        .configuration(
            "ConnectionArn",
            format!(
                "arn:aws:codeconnections:{}:{}:connection/local",
                crate::moto::REGION,
                crate::moto::ACCOUNT
            ),
        )
        .configuration("FullRepositoryId", REPOSITORY)
        .configuration("BranchName", "master")
        .configuration("DetectChanges", "false")
        .output_artifacts(OutputArtifact::builder().name("SourceOutput").build()?)
        .build()?;
    let build = ActionDeclaration::builder()
        .name("Build")
        .action_type_id(action_type(ActionCategory::Build, "CodeBuild")?)
        .configuration("ProjectName", PROJECT)
        .input_artifacts(InputArtifact::builder().name("SourceOutput").build()?)
        .build()?;
    let mut pipeline = PipelineDeclaration::builder()
        .name(PIPELINE)
        .role_arn(role_arn)
        .pipeline_type(PipelineType::V2)
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location(ARTIFACT_BUCKET)
                .build()?,
        )
        .stages(
            StageDeclaration::builder()
                .name("Source")
                .actions(source)
                .build()?,
        )
        .stages(
            StageDeclaration::builder()
                .name("Build")
                .actions(build)
                .build()?,
        );
    for name in PIPELINE_VARIABLES {
        pipeline = pipeline.variables(
            PipelineVariableDeclaration::builder()
                .name(name)
                .default_value("none")
                .build()?,
        );
    }
    aws_sdk_codepipeline::Client::new(sdk)
        .create_pipeline()
        .pipeline(pipeline.build()?)
        .send()
        .await?;
    Ok(())
}

impl LocalAws {
    /// Takes the EventBridge events the rule delivered to the queue, waiting up
    /// to `wait` for at least `expected` of them.
    pub async fn take_events(
        &self,
        expected: usize,
        wait: Duration,
    ) -> Result<Vec<serde_json::Value>, BoxError> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let deadline = Instant::now() + wait;
        let mut events = Vec::new();
        while events.len() < expected && Instant::now() < deadline {
            let output = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await?;
            for message in output.messages() {
                if let Some(body) = message.body() {
                    events.push(serde_json::from_str(body)?);
                }
                if let Some(handle) = message.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
            }
        }
        Ok(events)
    }

    /// Up to ten messages from the trigger queue as Lambda's event source
    /// mapping hands them to `trigger` (AWS's documented SQS event shape),
    /// waiting up to `wait` for at least `expected`; the messages stay in the
    /// queue, hidden for its visibility timeout, until `settle`.
    pub async fn receive_batch(
        &self,
        expected: usize,
        wait: Duration,
    ) -> Result<serde_json::Value, BoxError> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let deadline = Instant::now() + wait;
        let mut records = Vec::new();
        while records.len() < expected && Instant::now() < deadline {
            let output = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10 - records.len() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .wait_time_seconds(1)
                .send()
                .await?;
            for message in output.messages() {
                let attributes: serde_json::Map<String, serde_json::Value> = message
                    .attributes()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.as_str().to_owned(), value.clone().into()))
                    .collect();
                records.push(serde_json::json!({
                    "messageId": message.message_id(),
                    "receiptHandle": message.receipt_handle(),
                    "body": message.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": message.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn(TRIGGER_QUEUE),
                    "awsRegion": crate::moto::REGION,
                }));
            }
        }
        Ok(serde_json::json!({ "Records": records }))
    }

    /// What the event source mapping does with `trigger`'s partial batch
    /// response: deletes every message of `batch` not listed as failed.
    pub async fn settle(
        &self,
        batch: &serde_json::Value,
        response: &serde_json::Value,
    ) -> Result<(), BoxError> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|failure| failure["itemIdentifier"].as_str())
            .collect();
        for record in batch["Records"].as_array().into_iter().flatten() {
            let id = record["messageId"].as_str().unwrap_or_default();
            if failed.contains(&id) {
                continue;
            }
            if let Some(handle) = record["receiptHandle"].as_str() {
                sqs.delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    /// How many messages the queue at `url` holds, visible or in flight;
    /// an error if SQS leaves either count out.
    pub async fn messages_in(&self, url: &str) -> Result<u64, BoxError> {
        let attributes = aws_sdk_sqs::Client::new(&self.sdk)
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?;
        let count = |name: QueueAttributeName| -> Result<u64, BoxError> {
            Ok(attributes
                .attributes()
                .and_then(|all| all.get(&name))
                .ok_or_else(|| format!("GetQueueAttributes left out {name:?}"))?
                .parse()?)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)?
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?)
    }

    /// Every message now in the dead-letter queue, with its message attributes
    /// (name to string value); each stays there.
    pub async fn dead_letters(
        &self,
    ) -> Result<Vec<(String, std::collections::BTreeMap<String, String>)>, BoxError> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let output = sqs
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await?;
        Ok(output
            .messages()
            .iter()
            .map(|message| {
                let attributes = message
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| {
                        (
                            name.clone(),
                            value.string_value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                (message.body().unwrap_or_default().to_owned(), attributes)
            })
            .collect())
    }
}

/// A documented AWS state-change event from `events/status/`, rewritten to be
/// about a build or execution that exists in the local world.
pub fn state_change(sample_name: &str, detail: serde_json::Value) -> serde_json::Value {
    let mut event = crate::sample(&format!("status/{sample_name}"));
    event["region"] = crate::moto::REGION.into();
    event["account"] = crate::moto::ACCOUNT.into();
    if let (Some(target), Some(changes)) = (event["detail"].as_object_mut(), detail.as_object()) {
        for (key, value) in changes {
            target.insert(key.clone(), value.clone());
        }
    }
    event
}

/// The `CodeBuild Build State Change` event for a build of the local project.
pub fn build_state_change(build_id: &str, status: &str, commit: &str) -> serde_json::Value {
    let mut event = state_change(
        "codebuild.docs.build-state-change.json",
        serde_json::json!({
            "build-status": status,
            "project-name": PROJECT,
            "build-id": format!("arn:aws:codebuild:{}:{}:build/{build_id}", crate::moto::REGION, crate::moto::ACCOUNT),
        }),
    );
    let information = &mut event["detail"]["additional-information"];
    information["source"] = serde_json::json!({"type": "GITHUB", "location": format!("https://github.com/{REPOSITORY}.git")});
    information["source-version"] = commit.into();
    event
}

/// The artifact bucket with `per_kind` nightly build outputs of two kinds.
pub async fn put_artifacts(sdk: &SdkConfig, per_kind: usize) -> Result<(), BoxError> {
    let s3 = aws_sdk_s3::Client::new(sdk);
    s3.create_bucket().bucket(ARTIFACT_BUCKET).send().await?;
    for kind in ["app", "docs"] {
        for i in 0..per_kind {
            s3.put_object()
                .bucket(ARTIFACT_BUCKET)
                .key(format!("nightly-builds/{kind}/{i:07}.zip"))
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"artifact"))
                .send()
                .await?;
        }
    }
    Ok(())
}

/// `BatchGetBuilds`' answer for `build_id` of `PROJECT` at `commit` in
/// `status`, in the documented shape
/// (`events/status/codebuild.batch-get-builds.aws-cli-example.json`), for a
/// CodeBuild stand-in: moto's builds succeed on their first read. A failed
/// build failed in its BUILD phase.
pub fn batch_get_builds(build_id: &str, status: &str, commit: &str) -> serde_json::Value {
    let mut answer = crate::sample("status/codebuild.batch-get-builds.aws-cli-example.json");
    let build = &mut answer["builds"][0];
    build["id"] = build_id.into();
    build["arn"] = format!("arn:aws:codebuild:us-east-1:123456789012:build/{build_id}").into();
    build["projectName"] = PROJECT.into();
    build["buildStatus"] = status.into();
    build["buildComplete"] = (status != "IN_PROGRESS").into();
    build["source"] = serde_json::json!({"type": "GITHUB", "location": format!("https://github.com/{REPOSITORY}.git")});
    build["sourceVersion"] = commit.into();
    build["resolvedSourceVersion"] = commit.into();
    // As trigger starts it: the delivery that did is in its environment.
    build["environment"]["environmentVariables"] = serde_json::json!([
        {"name": "GANTRY_DELIVERY_ID", "value": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "type": "PLAINTEXT"}
    ]);
    if status == "FAILED" {
        for phase in build["phases"].as_array_mut().into_iter().flatten() {
            if phase["phaseType"] == "BUILD" {
                phase["phaseStatus"] = "FAILED".into();
            }
        }
    }
    answer
}

/// The push sample (`events/trigger/push.json`) through `trigger` with
/// `routes`: what it started is in the ledger.
pub async fn push_through_trigger(aws: &LocalAws, routes: &str) {
    let trigger = gantry_trigger::Trigger::new(
        gantry_trigger::config::Routes::parse(routes).expect("routes parse"),
        gantry_trigger::start::Starter::new(
            aws_sdk_codepipeline::Client::new(&aws.sdk),
            aws_sdk_codebuild::Client::new(&aws.sdk),
        ),
        ledger(&aws.sdk, gantry_core::ledger::Clock::system()),
    );
    let push: aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> =
        serde_json::from_value(crate::sample("trigger/push.json"))
            .expect("the push sample is an event");
    trigger
        .handle(push, crate::soon())
        .await
        .expect("trigger handles the push");
}
