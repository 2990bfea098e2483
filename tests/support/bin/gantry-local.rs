//! The local run: Gantry's functions on this machine against moto's server.
//! A signed push and a signed pull request go in; what started comes out.

use gantry_tests::local_run::LocalRun;
use gantry_tests::scenario::{self, ARTIFACT_BUCKET, LOCAL_PRUNE_POLICY, PIPELINE, PROJECT};
use gantry_tests::{sample, workspace_root, BoxError};

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("local run failed: {err}");
        let mut source = err.source();
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let log_dir = workspace_root().join("target/gantry-local");
    println!("Gantry, running locally");
    let local = LocalRun::start(&log_dir).await?;
    println!("  local AWS (moto)  {}", local.moto.endpoint);
    println!("  created           bus gantry, rule gantry-github-to-trigger, pipeline {PIPELINE}, build project {PROJECT}");
    println!(
        "  GitHub stand-in   {} (accepts commit statuses)",
        local.github.uri()
    );
    println!("  functions         webhook, trigger, status and pruner, the binaries `cargo build --workspace` made, each under a local Lambda Runtime API");
    println!("  function logs     {}", log_dir.display());

    for (step, name) in [(1, "push"), (2, "pull_request")] {
        let request = sample(&format!("webhook/{name}.json"));
        let headers = &request["headers"];
        println!(
            "\n{step}. GitHub delivers events/webhook/{name}.json ({} event, delivery {})",
            headers["x-github-event"].as_str().unwrap_or("?"),
            headers["x-github-delivery"].as_str().unwrap_or("?")
        );
        let response = local.deliver(&request).await?;
        println!(
            "   webhook answered  {} {}",
            response["statusCode"],
            response["body"].as_str().unwrap_or("")
        );
        for (event, answer) in local.pump(1).await? {
            let detail = &event["detail"];
            println!(
                "   EventBridge       {} for {} at {} ({})",
                event["detail-type"].as_str().unwrap_or("?"),
                detail["repository"].as_str().unwrap_or("?"),
                detail["commit"].as_str().unwrap_or("?"),
                detail["ref"]
                    .as_str()
                    .or(detail["base_branch"].as_str())
                    .unwrap_or("?")
            );
            println!("   trigger answered  {answer}");
            describe_starts(&local, &answer).await?;
            report_status(
                &local,
                &answer,
                detail["commit"].as_str().unwrap_or_default(),
            )
            .await?;
        }
    }

    let request = sample("webhook/push.json");
    println!("\n3. GitHub redelivers the push (same X-GitHub-Delivery)");
    let response = local.deliver(&request).await?;
    println!("   webhook answered  {}", response["statusCode"]);
    for (_, answer) in local.pump(1).await? {
        println!("   trigger answered  {answer}");
        println!("   the ledger (DynamoDB table {}) records that this delivery started it, so nothing is started again", gantry_tests::scenario::LEDGER_TABLE);
    }

    println!(
        "\n4. The pruner's schedule fires on s3://{ARTIFACT_BUCKET} (policy {LOCAL_PRUNE_POLICY})"
    );
    let scheduled = sample("aws/eventbridge-event.docs.json");
    let dry = local.prune(&scheduled).await?;
    println!("   dry run (GANTRY_DRY_RUN=true)  {dry}");
    let real = local.prune(&serde_json::json!({"dry_run": false})).await?;
    println!("   real run (input dry_run=false) {real}");
    println!("   every artifact here is minutes old, younger than keep_days, so all are kept; the tests prune with the clock moved on");

    println!("\n5. The same status function in GitHub App mode: a failed build with a test report");
    let app = gantry_tests::app_mode::AppMode::start(&local.moto, &log_dir).await?;
    println!(
        "   GitHub stand-in   {} (plays the App's installation and token, accepts check runs)",
        app.github.uri()
    );
    println!("   CodeBuild stand-in {} (moto has no test reports: BatchGetBuilds, BatchGetReports, DescribeTestCases in AWS's documented shapes)", app.codebuild.uri());
    let answer = app.report("FAILED").await?;
    println!("   status answered   {answer}");
    for run in app.check_runs().await {
        let output = &run.body["output"];
        println!(
            "   GitHub received   {} check run {:?}: {} / {}",
            run.method,
            run.body["name"].as_str().unwrap_or("?"),
            run.body["status"].as_str().unwrap_or("?"),
            run.body["conclusion"].as_str().unwrap_or("-")
        );
        println!(
            "   title             {}",
            output["title"].as_str().unwrap_or("")
        );
        println!("   summary");
        for line in output["summary"].as_str().unwrap_or("").lines() {
            println!("     {line}");
        }
        for annotation in output["annotations"].as_array().into_iter().flatten() {
            println!(
                "   annotation        {}:{} ({}) {}",
                annotation["path"].as_str().unwrap_or("?"),
                annotation["start_line"],
                annotation["annotation_level"].as_str().unwrap_or("?"),
                annotation["title"].as_str().unwrap_or("")
            );
        }
    }

    println!("\n6. `gantry explain 72d3162e-cc78-11e3-81ab-4c9367dc0958` (the push's delivery): what the ledger says, and the state now");
    let clients = gantry_cli::doctor::Clients::new(&local.aws.sdk);
    let delivery = gantry_core::ids::DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958")?;
    let story = gantry_cli::explain::run(
        &clients,
        gantry_tests::scenario::LEDGER_TABLE,
        &gantry_cli::explain::Subject::Delivery(delivery),
        // The local run has no GitHub webhook whose deliveries could be listed.
        None,
    )
    .await?;
    for line in story.to_text().lines() {
        println!("   {line}");
    }
    Ok(())
}

/// Reads back, through the AWS APIs, what trigger started.
async fn describe_starts(local: &LocalRun, answer: &serde_json::Value) -> Result<(), BoxError> {
    for started in answer["started"].as_array().into_iter().flatten() {
        let id = started["id"].as_str().unwrap_or_default();
        match started["kind"].as_str() {
            Some("pipeline_execution") => {
                let execution = aws_sdk_codepipeline::Client::new(&local.aws.sdk)
                    .get_pipeline_execution()
                    .pipeline_name(PIPELINE)
                    .pipeline_execution_id(id)
                    .send()
                    .await?
                    .pipeline_execution
                    .ok_or("no such execution")?;
                let variables: Vec<String> = execution
                    .variables()
                    .iter()
                    .map(|v| {
                        format!(
                            "{}={}",
                            v.name().unwrap_or("?"),
                            v.resolved_value().unwrap_or("?")
                        )
                    })
                    .collect();
                println!(
                    "   CodePipeline      execution {id} of {PIPELINE}: {}",
                    execution.status().map(|s| s.as_str()).unwrap_or("?")
                );
                println!("                     variables {}", variables.join(" "));
            }
            Some("build") => {
                let build = aws_sdk_codebuild::Client::new(&local.aws.sdk)
                    .batch_get_builds()
                    .ids(id)
                    .send()
                    .await?
                    .builds
                    .unwrap_or_default()
                    .pop()
                    .ok_or("no such build")?;
                println!(
                    "   CodeBuild         build {id}: source version {}, {}",
                    build.source_version().unwrap_or("?"),
                    build.build_status().map(|s| s.as_str()).unwrap_or("?")
                );
            }
            _ => println!("   (unrecognised start {started})"),
        }
    }
    Ok(())
}

/// What CodeBuild or CodePipeline would emit for the started build or
/// execution goes to `status`; prints the commit status GitHub received.
async fn report_status(
    local: &LocalRun,
    answer: &serde_json::Value,
    commit: &str,
) -> Result<(), BoxError> {
    for started in answer["started"].as_array().into_iter().flatten() {
        let id = started["id"].as_str().unwrap_or_default();
        let event = match started["kind"].as_str() {
            Some("build") => scenario::build_state_change(id, "SUCCEEDED", commit),
            _ => scenario::state_change(
                "codepipeline.docs.pipeline-succeeded.json",
                serde_json::json!({"pipeline": PIPELINE, "execution-id": id}),
            ),
        };
        let before = local.posted_statuses().await.len();
        println!(
            "   AWS emits         {} ({} sample from events/status/, for {id})",
            event["detail-type"].as_str().unwrap_or("?"),
            if started["kind"] == "build" {
                "CodeBuild"
            } else {
                "CodePipeline"
            }
        );
        let outcome = local.report(&event).await?;
        println!("   status answered   {outcome}");
        for posted in local.posted_statuses().await.into_iter().skip(before) {
            println!("   GitHub received   POST {} {}", posted.path, posted.body);
        }
    }
    Ok(())
}
