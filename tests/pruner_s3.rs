//! `pruner` against moto's S3 with thousands of objects, a versioned bucket
//! among them: dry run, real run, and a run that stops at its deadline and is
//! finished by the next. Pipeline protection is checked against an HTTP
//! stand-in for CodePipeline (moto lacks ListActionExecutions), answering in the
//! documented response shapes.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use futures_util::stream::{self, StreamExt};
use gantry_pruner::budget::Budget;
use gantry_pruner::config::PrunerConfig;
use gantry_pruner::protect::Protector;
use gantry_pruner::store::Store;
use gantry_pruner::{Pruner, RunInput};
use gantry_tests::moto::Moto;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BUCKET: &str = "gantry-artifacts";
const KINDS: [&str; 2] = ["SourceArti", "BuildArtif"];
const PER_KIND: usize = 1200;
const KEEP_NEWEST: usize = 5;
/// Thirty days on: every object moto stamps "now" is then past `keep_days`.
const LATER: i64 = 30 * 86_400;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn policy() -> String {
    format!(
        r#"{{"rules": [{{"prefix": "app-pipeline/", "keep_newest": {KEEP_NEWEST}, "keep_days": 14}}]}}"#
    )
}

async fn put_all(sdk: &SdkConfig, keys: Vec<String>) {
    let s3 = aws_sdk_s3::Client::new(sdk);
    stream::iter(keys)
        .for_each_concurrent(16, |key| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .body(ByteStream::from(key.clone().into_bytes()))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;
}

async fn enable_versioning(s3: &aws_sdk_s3::Client) {
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn bucket_with_history(versioned: bool) -> (Moto, SdkConfig) {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    if versioned {
        enable_versioning(&s3).await;
    }
    let mut keys: Vec<String> = KINDS
        .iter()
        .flat_map(|kind| (0..PER_KIND).map(move |i| format!("app-pipeline/{kind}/{i:05}")))
        .collect();
    // Another pipeline's artifacts, outside the rule's prefix.
    keys.extend((0..50).map(|i| format!("other-pipeline/SourceArti/{i:05}")));
    put_all(&sdk, keys).await;
    (moto, sdk)
}

fn pruner(
    sdk: &SdkConfig,
    dry_run: bool,
    codepipeline: aws_sdk_codepipeline::Client,
    policy: &str,
) -> Pruner {
    let mut config = PrunerConfig::parse(BUCKET, None, Some(policy)).unwrap();
    config.dry_run = dry_run;
    Pruner::new(
        config,
        Store::new(aws_sdk_s3::Client::new(sdk)),
        Protector::new(codepipeline),
    )
}

/// Every version in the bucket: key -> (live versions, delete markers).
async fn contents(sdk: &SdkConfig) -> BTreeMap<String, (usize, usize)> {
    let s3 = aws_sdk_s3::Client::new(sdk);
    let mut contents: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(BUCKET)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .unwrap();
        for v in page.versions() {
            contents.entry(v.key().unwrap().to_owned()).or_default().0 += 1;
        }
        for m in page.delete_markers() {
            contents.entry(m.key().unwrap().to_owned()).or_default().1 += 1;
        }
        if page.is_truncated() != Some(true) {
            return contents;
        }
        key_marker = page.next_key_marker;
        version_marker = page.next_version_id_marker;
    }
}

#[tokio::test]
async fn dry_run_reports_exactly_what_the_real_run_deletes() {
    let (_moto, sdk) = bucket_with_history(false).await;
    let before = contents(&sdk).await;
    let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);

    let dry = pruner(&sdk, true, codepipeline.clone(), &policy())
        .run(RunInput::default(), &Budget::unlimited(), now() + LATER)
        .await
        .unwrap();
    assert!(dry.dry_run && dry.complete);
    assert_eq!(
        dry.examined.objects,
        (KINDS.len() * PER_KIND) as u64,
        "only the rule's prefix is examined"
    );
    assert_eq!(dry.kept.newest.objects, (KINDS.len() * KEEP_NEWEST) as u64);
    assert_eq!(
        dry.deleted.objects,
        (KINDS.len() * (PER_KIND - KEEP_NEWEST)) as u64
    );
    assert_eq!(contents(&sdk).await, before, "a dry run deletes nothing");

    let real = pruner(&sdk, false, codepipeline, &policy())
        .run(RunInput::default(), &Budget::unlimited(), now() + LATER)
        .await
        .unwrap();
    assert_eq!(real.deleted, dry.deleted);
    assert_eq!(real.failed.objects, 0);
    let after = contents(&sdk).await;
    let survivors: Vec<&String> = after
        .keys()
        .filter(|k| k.starts_with("app-pipeline/"))
        .collect();
    assert_eq!(survivors.len(), KINDS.len() * KEEP_NEWEST);
    assert_eq!(
        after
            .keys()
            .filter(|k| k.starts_with("other-pipeline/"))
            .count(),
        50,
        "outside the prefix: untouched"
    );
    // Each kind keeps exactly KEEP_NEWEST keys.
    for kind in KINDS {
        assert_eq!(
            survivors.iter().filter(|k| k.contains(kind)).count(),
            KEEP_NEWEST,
            "{kind}"
        );
    }

    // The schedule's input overrides the configured mode.
    let forced_dry = pruner(
        &sdk,
        false,
        aws_sdk_codepipeline::Client::new(&sdk),
        &policy(),
    )
    .run(
        RunInput {
            dry_run: Some(true),
        },
        &Budget::unlimited(),
        now() + LATER,
    )
    .await
    .unwrap();
    assert!(forced_dry.dry_run);
    assert_eq!(forced_dry.deleted.objects, 0, "nothing left to prune");
}

#[tokio::test]
async fn a_versioned_bucket_is_really_freed_and_an_interrupted_run_is_resumed() {
    let (_moto, sdk) = bucket_with_history(true).await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    // Overwrite some artifacts and delete others: noncurrent versions and delete markers.
    put_all(
        &sdk,
        (0..100)
            .map(|i| format!("app-pipeline/SourceArti/{i:05}"))
            .collect(),
    )
    .await;
    for i in 100..150 {
        s3.delete_object()
            .bucket(BUCKET)
            .key(format!("app-pipeline/SourceArti/{i:05}"))
            .send()
            .await
            .unwrap();
    }
    let before = contents(&sdk).await;
    assert_eq!(before["app-pipeline/SourceArti/00000"], (2, 0));
    assert_eq!(before["app-pipeline/SourceArti/00100"], (1, 1));

    // A run whose budget ends after the listing and one DeleteObjects call stops
    // cleanly, reports itself incomplete, and leaves a consistent bucket.
    let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);
    let first = pruner(&sdk, false, codepipeline.clone(), &policy())
        .run(RunInput::default(), &Budget::calls(4), now() + LATER)
        .await
        .unwrap();
    assert!(!first.complete, "{first:?}");
    assert!(
        first.deleted.objects > 0 && first.deleted.objects <= 1000,
        "{first:?}"
    );

    let second = pruner(&sdk, false, codepipeline, &policy())
        .run(RunInput::default(), &Budget::unlimited(), now() + LATER)
        .await
        .unwrap();
    assert!(second.complete && second.failed.objects == 0, "{second:?}");

    let after = contents(&sdk).await;
    let pruned: Vec<(&String, &(usize, usize))> = after
        .iter()
        .filter(|(k, _)| k.starts_with("app-pipeline/"))
        .collect();
    assert_eq!(pruned.len(), KINDS.len() * KEEP_NEWEST, "{pruned:?}");
    for (key, (live, markers)) in pruned {
        assert_eq!(
            (*live, *markers),
            (1, 0),
            "{key}: only the current version survives"
        );
    }
    // Together the two runs removed every other version and marker.
    let total_before: usize = before
        .iter()
        .filter(|(k, _)| k.starts_with("app-pipeline/"))
        .map(|(_, (l, m))| l + m)
        .sum();
    assert_eq!(
        (first.deleted.objects + second.deleted.objects) as usize,
        total_before - KINDS.len() * KEEP_NEWEST
    );
}

/// CodePipeline's JSON protocol: the operation is the X-Amz-Target header.
async fn codepipeline_stand_in(list_actions: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    // "app-pipeline-staging" keeps its artifacts under "app-pipeline-staging/"
    // (the first 20 characters), apart from "app-pipeline/".
    Mock::given(method("POST"))
        .and(header("x-amz-target", "CodePipeline_20150709.ListPipelines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pipelines": [
                {"name": "app-pipeline", "version": 3, "pipelineType": "V2", "created": 1700000000.0, "updated": 1700000000.0},
                {"name": "app-pipeline-staging", "version": 1, "pipelineType": "V2", "created": 1700000000.0, "updated": 1700000000.0},
                {"name": "other-pipeline", "version": 1, "pipelineType": "V2", "created": 1700000000.0, "updated": 1700000000.0}
            ]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "CodePipeline_20150709.ListPipelineExecutions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pipelineExecutionSummaries": [
                {"pipelineExecutionId": "running-0", "status": "InProgress", "startTime": 1700000300.0},
                {"pipelineExecutionId": "success-1", "status": "Succeeded", "startTime": 1700000200.0},
                {"pipelineExecutionId": "success-0", "status": "Succeeded", "startTime": 1700000100.0},
                {"pipelineExecutionId": "failed-0", "status": "Failed", "startTime": 1700000000.0}
            ]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "CodePipeline_20150709.ListActionExecutions",
        ))
        .respond_with(list_actions)
        .mount(&server)
        .await;
    server
}

fn action(execution: &str, input_key: &str, output_key: &str) -> serde_json::Value {
    serde_json::json!({
        "pipelineExecutionId": execution,
        "actionExecutionId": format!("{execution}-build"),
        "stageName": "Build",
        "actionName": "Build",
        "status": "Succeeded",
        "input": {
            "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "inputArtifacts": [{"name": "SourceArtifact", "s3location": {"bucket": BUCKET, "key": input_key}}]
        },
        "output": {
            "outputArtifacts": [{"name": "BuildArtifact", "s3location": {"bucket": BUCKET, "key": output_key}}]
        }
    })
}

#[tokio::test]
async fn artifacts_of_running_and_last_successful_executions_are_never_deleted() {
    let (_moto, sdk) = bucket_with_history(false).await;
    let protected = [
        "app-pipeline/SourceArti/00003",
        "app-pipeline/BuildArtif/00004",
        "app-pipeline/SourceArti/00010",
        "app-pipeline/BuildArtif/00011",
    ];
    // Whichever execution is asked about, answer with its own actions.
    let stand_in =
        codepipeline_stand_in(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "actionExecutionDetails": [
                action("running-0", protected[0], protected[1]),
                action("success-1", protected[2], protected[3]),
            ]
        })))
        .await;
    let policy = format!(
        r#"{{"rules": [{{"pipeline": "app-pipeline", "keep_newest": {KEEP_NEWEST}, "keep_days": 14}}]}}"#
    );
    prune_keeping(&sdk, &stand_in, &policy, &protected).await;
    // Only the running execution and the latest success were asked about.
    let asked: Vec<serde_json::Value> = requests(&stand_in, "ListActionExecutions")
        .await
        .iter()
        .map(|body| body["filter"]["pipelineExecutionId"].clone())
        .collect();
    assert_eq!(asked, ["running-0", "success-1"]);
}

/// A run out of time before protection is read stops there: it reads no
/// executions, deletes nothing and reports itself incomplete.
#[tokio::test]
async fn a_run_at_its_deadline_reads_no_protection_and_deletes_nothing() {
    let (_moto, sdk) = bucket_with_history(false).await;
    let before = contents(&sdk).await;
    let stand_in = codepipeline_stand_in(
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"actionExecutionDetails": []})),
    )
    .await;
    let out_of_time = Budget::until(
        tokio::time::Instant::now() + std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(15),
    );
    let summary = pruner(&sdk, false, codepipeline_client(&sdk, &stand_in), &policy())
        .run(RunInput::default(), &out_of_time, now() + LATER)
        .await
        .unwrap();
    assert!(!summary.complete, "{summary:?}");
    assert_eq!(summary.deleted.objects, 0);
    assert!(requests(&stand_in, "ListPipelineExecutions")
        .await
        .is_empty());
    assert_eq!(contents(&sdk).await, before);
}

/// The bodies of the stand-in's requests for one CodePipeline operation, in order.
async fn requests(stand_in: &MockServer, operation: &str) -> Vec<serde_json::Value> {
    let target = format!("CodePipeline_20150709.{operation}");
    stand_in
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.headers
                .get("x-amz-target")
                .is_some_and(|t| t == target.as_str())
        })
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// A real run against the stand-in, which must keep exactly the `protected` keys as such.
async fn prune_keeping(sdk: &SdkConfig, stand_in: &MockServer, policy: &str, protected: &[&str]) {
    let summary = pruner(sdk, false, codepipeline_client(sdk, stand_in), policy)
        .run(RunInput::default(), &Budget::unlimited(), now() + LATER)
        .await
        .unwrap();
    assert_eq!(summary.kept.protected.objects, protected.len() as u64);
    let after = contents(sdk).await;
    for key in protected {
        assert!(after.contains_key(*key), "{key} was deleted");
    }
}

/// A CodePipeline client that talks to the stand-in.
fn codepipeline_client(sdk: &SdkConfig, stand_in: &MockServer) -> aws_sdk_codepipeline::Client {
    aws_sdk_codepipeline::Client::from_conf(
        aws_sdk_codepipeline::config::Builder::from(sdk)
            .endpoint_url(stand_in.uri())
            .build(),
    )
}

/// A rule by prefix names no pipeline, yet a pipeline writes there: its
/// artifacts in use are found through the account's pipelines and kept.
#[tokio::test]
async fn a_prefix_rule_protects_the_pipelines_whose_folder_it_covers() {
    let (_moto, sdk) = bucket_with_history(false).await;
    let protected = [
        "app-pipeline/SourceArti/00003",
        "app-pipeline/BuildArtif/00004",
    ];
    let stand_in =
        codepipeline_stand_in(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "actionExecutionDetails": [action("running-0", protected[0], protected[1])]
        })))
        .await;
    prune_keeping(&sdk, &stand_in, &policy(), &protected).await;
    // Only app-pipeline writes under "app-pipeline/".
    let asked: Vec<serde_json::Value> = requests(&stand_in, "ListPipelineExecutions")
        .await
        .iter()
        .map(|body| body["pipelineName"].clone())
        .collect();
    assert_eq!(asked, ["app-pipeline"]);
}

#[tokio::test]
async fn when_protection_cannot_be_read_nothing_is_deleted() {
    let (_moto, sdk) = bucket_with_history(false).await;
    let before = contents(&sdk).await;
    let stand_in = codepipeline_stand_in(
        ResponseTemplate::new(400)
            .insert_header("x-amzn-errortype", "PipelineNotFoundException")
            .set_body_json(serde_json::json!({"__type": "PipelineNotFoundException", "message": "no such pipeline"})),
    )
    .await;
    let codepipeline = codepipeline_client(&sdk, &stand_in);
    let policy = r#"{"rules": [{"pipeline": "app-pipeline", "keep_newest": 1, "keep_days": 1}]}"#;
    let err = pruner(&sdk, false, codepipeline, policy)
        .run(RunInput::default(), &Budget::unlimited(), now() + LATER)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("app-pipeline"), "{err}");
    assert_eq!(contents(&sdk).await, before);
}

/// Objects written before versioning was enabled have the version id "null".
/// Deleting such a noncurrent version must name it: a delete without a version
/// id in a versioned bucket adds a delete marker, hiding the current artifact.
#[tokio::test]
async fn null_versions_from_before_versioning_are_deleted_by_id() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<String> = (0..10)
        .map(|i| format!("app-pipeline/SourceArti/{i:05}"))
        .collect();
    put_all(&sdk, keys.clone()).await;
    enable_versioning(&s3).await;
    put_all(&sdk, keys.clone()).await;
    let before = contents(&sdk).await;
    assert!(
        before.values().all(|&counts| counts == (2, 0)),
        "{before:?}"
    );

    // Every artifact is among the newest 20: only the old "null" versions go.
    let policy = r#"{"rules": [{"prefix": "app-pipeline/", "keep_newest": 20, "keep_days": 14}]}"#;
    let summary = pruner(&sdk, false, aws_sdk_codepipeline::Client::new(&sdk), policy)
        .run(RunInput::default(), &Budget::unlimited(), now() + LATER)
        .await
        .unwrap();
    assert_eq!(summary.deleted.objects, 10, "{summary:?}");
    assert_eq!(summary.kept.newest.objects, 10, "{summary:?}");

    let after = contents(&sdk).await;
    assert_eq!(after.len(), keys.len());
    assert!(
        after.values().all(|&counts| counts == (1, 0)),
        "one live version per key and no delete marker: {after:?}"
    );
    for key in &keys {
        s3.head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
    }
}
