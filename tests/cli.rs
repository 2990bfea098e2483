//! `gantry`, the operator's command line, against moto: `doctor` on a healthy
//! setup and a broken one, `explain` of a delivery trigger handled, `redrive`
//! of the trigger's dead letters (and the binary's exit codes).

use gantry_cli::buttons::{Button, Press};
use gantry_cli::doctor::{self, Clients, Parts};
use gantry_cli::explain::{self, Subject};
use gantry_cli::redrive::{self, Destination, Redrive};
use gantry_cli::report::Verdict;
use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use gantry_tests::moto::Moto;
use gantry_tests::scenario::{self, LocalAws, PIPELINE, PROJECT};
use gantry_tests::{sample, workspace_binary};

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

async fn world() -> (Moto, LocalAws, Clients) {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    let clients = Clients::new(&aws.sdk);
    (moto, aws, clients)
}

fn failures(report: &gantry_cli::report::Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .map(|f| format!("{}: {}", f.subject, f.detail))
        .collect()
}

#[tokio::test]
async fn doctor_passes_a_healthy_setup_and_names_each_broken_part_with_its_fix() {
    let (moto, aws, clients) = world().await;
    let healthy = Parts {
        routes: Some(scenario::routes_json()),
        ledger_table: Some(scenario::LEDGER_TABLE.into()),
        dead_letter_queues: vec![("TriggerDlq".into(), aws.dead_letter_url.clone())],
        webhook_url: None,
        alarms: Default::default(),
    };
    let report = doctor::run(&clients, &healthy, None).await;
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    // Routes, two targets, the ledger, the queue, and GitHub not asked.
    assert_eq!(report.findings.len(), 6, "{}", report.to_text());
    assert!(report
        .to_text()
        .contains("GitHub: not checked: give a token"));

    // A route to a pipeline that does not exist, one to a project that does
    // not, the merge group variable undeclared, a missing table, a dead letter.
    let broken_routes = serde_json::json!({"routes": [
        {"name": "typo", "repository": scenario::REPOSITORY, "pipeline": "no-such-pipeline"},
        {"name": "gone", "repository": scenario::REPOSITORY, "codebuild_project": "no-such-project"},
        {"name": "queue", "repository": scenario::REPOSITORY, "events": ["merge_group"], "pipeline": PIPELINE, "merge_group_variable": true},
        {"name": "fine", "repository": scenario::REPOSITORY, "codebuild_project": PROJECT}
    ]})
    .to_string();
    aws_sdk_sqs::Client::new(&aws.sdk)
        .send_message()
        .queue_url(&aws.dead_letter_url)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let broken = Parts {
        routes: Some(broken_routes),
        ledger_table: Some("no-such-table".into()),
        dead_letter_queues: vec![("TriggerDlq".into(), aws.dead_letter_url.clone())],
        webhook_url: None,
        alarms: Default::default(),
    };
    let report = doctor::run(&clients, &broken, None).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 5, "{}", report.to_text());
    for expected in [
        "route routes[0] (typo): pipeline no-such-pipeline does not exist",
        "route routes[1] (gone): CodeBuild project no-such-project does not exist",
        "route routes[2] (queue): pipeline hello-world-pipeline: it does not declare GANTRY_MERGE_GROUP_BASE",
        "ledger: table no-such-table does not exist",
        "queue TriggerDlq: 1 messages wait for an operator",
    ] {
        assert!(failed.iter().any(|f| f == expected), "{expected} not in {failed:?}");
    }
    assert!(report
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .all(|f| f.fix.is_some()));

    // The binary: its exit code says whether anything failed, and --json is JSON.
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(workspace_binary("gantry"));
        command.args(args);
        for (name, value) in moto.env() {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let ok = run(&["doctor", "--ledger-table", scenario::LEDGER_TABLE]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = run(&["--json", "doctor", "--ledger-table", "no-such-table"]);
    assert_eq!(bad.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(json["findings"][1]["verdict"], "fail", "{json}");
    let usage = run(&["explain", COMMIT, "--ledger-table", "t"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("a commit needs --repository"));
}

#[tokio::test]
async fn explain_tells_what_trigger_decided_and_started_for_a_delivery_and_its_commit() {
    let (_moto, aws, clients) = world().await;
    scenario::push_through_trigger(&aws, &scenario::routes_json()).await;

    let by_delivery = explain::run(
        &clients,
        scenario::LEDGER_TABLE,
        &Subject::Delivery(DeliveryId::parse(DELIVERY).unwrap()),
        None,
    )
    .await
    .unwrap();
    let text = by_delivery.to_text();
    assert!(
        text.contains("started 6113728 of Codertocat/Hello-World"),
        "{text}"
    );
    assert!(
        text.contains("route routes[0] (pushes): starts pipeline/hello-world-pipeline"),
        "{text}"
    );
    assert!(
        text.contains("pipeline/hello-world-pipeline: started pipeline execution "),
        "{text}"
    );
    // moto's executions succeed at once: the state is read now, not recorded.
    assert!(text.contains(", now Succeeded"), "{text}");

    let by_commit = explain::run(
        &clients,
        scenario::LEDGER_TABLE,
        &Subject::Commit {
            repository: RepoName::parse("codertocat/hello-world").unwrap(),
            commit: CommitSha::parse(COMMIT).unwrap(),
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(by_commit, by_delivery);

    let unknown = explain::run(
        &clients,
        scenario::LEDGER_TABLE,
        &Subject::Delivery(DeliveryId::parse("00000000-0000-0000-0000-000000000000").unwrap()),
        None,
    )
    .await
    .unwrap();
    assert!(
        unknown.to_text().contains("nothing recorded"),
        "{}",
        unknown.to_text()
    );
}

#[tokio::test]
async fn redrive_moves_every_dead_letter_back_and_a_dry_run_moves_none() {
    let (_moto, aws, _clients) = world().await;
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    let event = sample("trigger/push.json").to_string();
    for body in [event.as_str(), "not an event"] {
        sqs.send_message()
            .queue_url(&aws.dead_letter_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let events = aws_sdk_eventbridge::Client::new(&aws.sdk);
    let lambda = aws_sdk_lambda::Client::new(&aws.sdk);
    let to = Destination::Queue(aws.queue_url.clone());
    let redrive = |dry_run| Redrive {
        clients: redrive::Clients {
            sqs: &sqs,
            events: &events,
            lambda: &lambda,
        },
        from: &aws.dead_letter_url,
        to: &to,
        dry_run,
        max: 100,
    };
    let dry = redrive(true).run(&mut |_, _| {}).await.unwrap();
    assert_eq!(dry.findings.len(), 2, "{}", dry.to_text());
    assert!(
        dry.to_text().contains(&format!(
            "would move GitHub Push delivery {DELIVERY} at {COMMIT}"
        )),
        "{}",
        dry.to_text()
    );
    assert_eq!(
        scenario_counts(&aws).await,
        (2, 0),
        "a dry run moves nothing"
    );

    let mut progressed = 0;
    let moved = redrive(false)
        .run(&mut |n, about| progressed = n.min(about))
        .await
        .unwrap();
    assert!(failures(&moved).is_empty(), "{}", moved.to_text());
    assert_eq!(progressed, 2);
    assert_eq!(scenario_counts(&aws).await, (0, 2));
    let bodies: Vec<String> = aws
        .receive_batch(2, std::time::Duration::from_secs(5))
        .await
        .unwrap()["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_owned())
        .collect();
    assert!(bodies.contains(&event) && bodies.contains(&"not an event".to_owned()));

    let again = redrive(false).run(&mut |_, _| {}).await.unwrap();
    assert!(again.to_text().contains("empty: nothing to move"));
}

/// (messages in the dead-letter queue, in the trigger queue), visible or not.
async fn scenario_counts(aws: &LocalAws) -> (u64, u64) {
    (
        aws.messages_in(&aws.dead_letter_url).await.unwrap(),
        aws.messages_in(&aws.queue_url).await.unwrap(),
    )
}

#[tokio::test]
async fn rerun_and_stop_do_for_token_mode_what_the_check_run_buttons_do() {
    let (_moto, aws, clients) = world().await;
    let routes = serde_json::json!({"routes": [
        {"repository": scenario::REPOSITORY, "events": ["push"], "codebuild_project": PROJECT}
    ]})
    .to_string();
    scenario::push_through_trigger(&aws, &routes).await;
    let delivery = DeliveryId::parse(DELIVERY).unwrap();
    let press = Press {
        clients: &clients,
        ledger_table: scenario::LEDGER_TABLE,
        routes: &routes,
        delivery: &delivery,
        target: Some("project/hello-world-build"),
    };
    let builds = || async {
        aws_sdk_codebuild::Client::new(&aws.sdk)
            .list_builds_for_project()
            .project_name(PROJECT)
            .send()
            .await
            .unwrap()
            .ids
            .unwrap_or_default()
            .len()
    };
    assert_eq!(builds().await, 1);

    let rerun = press.press(Button::Rerun).await.unwrap();
    assert!(failures(&rerun).is_empty(), "{}", rerun.to_text());
    assert!(
        rerun
            .to_text()
            .contains("re-run started: hello-world-build:"),
        "{}",
        rerun.to_text()
    );
    assert_eq!(builds().await, 2, "a new build");

    let stop = press.press(Button::Stop).await.unwrap();
    assert!(failures(&stop).is_empty(), "{}", stop.to_text());
    assert!(
        stop.to_text().contains("stop sent to hello-world-build:"),
        "{}",
        stop.to_text()
    );

    // A delivery the ledger does not know is a failure with its fix.
    let unknown = DeliveryId::parse("00000000-0000-0000-0000-000000000000").unwrap();
    let report = Press {
        delivery: &unknown,
        ..press
    }
    .press(Button::Rerun)
    .await
    .unwrap();
    assert_eq!(
        failures(&report),
        ["delivery 00000000-0000-0000-0000-000000000000: not in the ledger"]
    );
}

#[tokio::test]
async fn doctor_says_whether_an_alarm_reaches_anyone() {
    let (_moto, aws, clients) = world().await;
    let sns = aws_sdk_sns::Client::new(&aws.sdk);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&aws.sdk);
    let topic = sns
        .create_topic()
        .name("gantry-alarms")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    // CloudFormation's names for the stack's alarms: <stack>-<LogicalId>-<suffix>.
    for (name, actions) in [
        ("gantry-TriggerDlqAlarm-1A2B3C", vec![topic.clone()]),
        ("gantry-StatusErrorsAlarm-4D5E6F", vec![]),
        // Another stack's, whose name shares the prefix: not this stack's concern.
        ("gantry-staging-TriggerDlqAlarm-7G8H9I", vec![]),
    ] {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .alarm_description("GitHub events the trigger function gave up on")
            .namespace("AWS/SQS")
            .metric_name("ApproximateNumberOfMessagesVisible")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
            .period(300)
            .evaluation_periods(1)
            .threshold(0.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .set_alarm_actions(Some(actions))
            .send()
            .await
            .unwrap();
    }
    let parts = Parts {
        alarms: gantry_cli::alarm_checks::AlarmParts {
            topic: Some(topic.clone()),
            alarm_prefix: Some("gantry-".into()),
        },
        ..Parts::default()
    };
    let report = doctor::run(&clients, &parts, None).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 2, "{}", report.to_text());
    assert!(
        failed[0].contains("has no subscription: an alarm reaches no one"),
        "{failed:?}"
    );
    assert!(
        failed[1].contains("gantry-StatusErrorsAlarm-4D5E6F do not notify the alarm topic"),
        "{failed:?}"
    );

    // Subscribed (an SQS subscription needs no confirmation), and an alarm firing.
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(scenario::queue_arn(scenario::TRIGGER_DLQ))
        .send()
        .await
        .unwrap();
    cloudwatch
        .set_alarm_state()
        .alarm_name("gantry-TriggerDlqAlarm-1A2B3C")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0).")
        .send()
        .await
        .unwrap();
    let report = doctor::run(&clients, &parts, None).await;
    let text = report.to_text();
    assert!(text.contains("ok   alarm topic: "), "{text}");
    assert!(text.contains("1 confirmed subscriptions"), "{text}");
    assert!(
        text.contains("FAIL alarm gantry-TriggerDlqAlarm-1A2B3C: firing: Threshold Crossed"),
        "{text}"
    );
    assert!(
        text.contains("fix: it says: GitHub events the trigger function gave up on"),
        "{text}"
    );
}
