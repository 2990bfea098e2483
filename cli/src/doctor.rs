//! `gantry doctor`: is the setup right? Every route's pipeline or project
//! exists and can be started at a commit; the ledger is there; the trigger's
//! queues hold nothing an operator must look at; on GitHub, the webhook sends
//! what the routes need and its deliveries got through (`webhook_checks`).
//! Each failure names its fix.

use crate::alarm_checks::{self, AlarmClients, AlarmParts};
use crate::report::{Finding, Report};
use crate::webhook_checks::WebhookChecks;
use aws_sdk_codepipeline::types::{ActionCategory, PipelineType};
use gantry_core::github::GitHubClient;
use gantry_trigger::config::{Route, Routes, Target};
use gantry_trigger::route::{MERGE_GROUP_BASE_VARIABLE, PIPELINE_VARIABLES};

/// The stack's parts, as options or read from the stack by its name.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub routes: Option<String>,
    pub ledger_table: Option<String>,
    /// (name, URL) of each queue whose messages need an operator.
    pub dead_letter_queues: Vec<(String, String)>,
    /// The stack's `WebhookUrl`, where GitHub's webhook must point.
    pub webhook_url: Option<String>,
    pub alarms: AlarmParts,
}

pub struct Clients {
    pub pipelines: aws_sdk_codepipeline::Client,
    pub builds: aws_sdk_codebuild::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Clients {
            pipelines: aws_sdk_codepipeline::Client::new(sdk),
            builds: aws_sdk_codebuild::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            events: aws_sdk_eventbridge::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
        }
    }
}

/// Every check of `parts`; GitHub's side too when a `github` client is given.
pub async fn run(clients: &Clients, parts: &Parts, github: Option<&GitHubClient>) -> Report {
    let mut report = Report::default();
    match &parts.routes {
        None => report.push(Finding::note(
            "routes",
            "not checked: pass --routes (the stack's RoutesJson)",
        )),
        Some(document) => match Routes::parse(document) {
            Err(err) => report.push(Finding::fail(
                "routes",
                err.to_string(),
                "correct the routing document (README: Routing)",
            )),
            Ok(routes) => {
                report.push(Finding::ok(
                    "routes",
                    format!("{} routes parse", routes.routes.len()),
                ));
                for route in &routes.routes {
                    for target in route.targets() {
                        report.push(check_route(clients, route, target).await);
                    }
                }
                match github {
                    Some(github) => {
                        WebhookChecks {
                            github,
                            routes: &routes,
                            document,
                            webhook_url: parts.webhook_url.as_deref(),
                        }
                        .run(&mut report)
                        .await
                    }
                    None => report.push(Finding::note(
                        "GitHub",
                        "not checked: give a token with admin on the repositories (GITHUB_TOKEN), or the App's (--app-id and --app-key-file, or a stack in App mode)",
                    )),
                }
            }
        },
    }
    if let Some(table) = &parts.ledger_table {
        report.push(check_ledger(clients, table).await);
    }
    for (name, url) in &parts.dead_letter_queues {
        report.push(check_queue(clients, name, url).await);
    }
    let alarm_clients = AlarmClients {
        cloudwatch: &clients.cloudwatch,
        sns: &clients.sns,
    };
    alarm_checks::run(&alarm_clients, &parts.alarms, &mut report).await;
    report
}

/// `target`: the route's own, or its `fork_target`.
async fn check_route(clients: &Clients, route: &Route, target: &Target) -> Finding {
    let subject = if route.fork_target.as_ref() == Some(target) {
        format!("route {} (fork_target)", route.label)
    } else {
        format!("route {}", route.label)
    };
    match target {
        Target::BuildProject { name } => {
            match clients.builds.batch_get_projects().names(name).send().await {
                Ok(output) if !output.projects().is_empty() => {
                    Finding::ok(subject, format!("CodeBuild project {name} exists"))
                }
                Ok(_) => Finding::fail(
                    subject,
                    format!("CodeBuild project {name} does not exist"),
                    format!("create project {name}, or name an existing one in codebuild_project"),
                ),
                Err(err) => unreadable(subject, "BatchGetProjects", &err),
            }
        }
        Target::Pipeline {
            name,
            source_action,
            variables,
        } => {
            let declaration = match clients.pipelines.get_pipeline().name(name).send().await {
                Ok(output) => output.pipeline,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_pipeline_not_found_exception()) =>
                {
                    None
                }
                Err(err) => return unreadable(subject, "GetPipeline", &err),
            };
            let Some(declaration) = declaration else {
                return Finding::fail(
                    subject,
                    format!("pipeline {name} does not exist"),
                    format!("create pipeline {name}, or name an existing one in pipeline"),
                );
            };
            let mut problems = Vec::new();
            if declaration.pipeline_type() != Some(&PipelineType::V2) {
                problems.push(
                    "it is not a V2 pipeline, so sourceRevisions cannot pin the commit".to_owned(),
                );
            }
            let has_source = declaration
                .stages()
                .iter()
                .flat_map(|s| s.actions())
                .any(|action| {
                    action.name() == source_action
                        && action.action_type_id().map(|t| t.category())
                            == Some(&ActionCategory::Source)
                });
            if !has_source {
                problems.push(format!("it has no source action named {source_action}"));
            }
            if *variables {
                let declared: Vec<&str> =
                    declaration.variables().iter().map(|v| v.name()).collect();
                let mut needed: Vec<&str> = PIPELINE_VARIABLES.to_vec();
                if route.merge_group_variable {
                    needed.push(MERGE_GROUP_BASE_VARIABLE);
                }
                let missing: Vec<&str> = needed
                    .into_iter()
                    .filter(|v| !declared.contains(v))
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!("it does not declare {}", missing.join(", ")));
                }
            }
            if problems.is_empty() {
                Finding::ok(subject, format!("pipeline {name}: V2, source action {source_action}, Gantry's variables declared"))
            } else {
                Finding::fail(
                    subject,
                    format!("pipeline {name}: {}", problems.join("; ")),
                    "make it V2, name its source action in source_action, declare the variables (each with a default), or set pipeline_variables: false",
                )
            }
        }
    }
}

async fn check_ledger(clients: &Clients, table: &str) -> Finding {
    let subject = "ledger";
    match clients.dynamodb.describe_table().table_name(table).send().await {
        Ok(output) => {
            let status = output
                .table()
                .and_then(|t| t.table_status())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "unknown".into());
            if status == "ACTIVE" {
                Finding::ok(subject, format!("table {table} is ACTIVE"))
            } else {
                Finding::fail(subject, format!("table {table} is {status}"), "wait for it, or check the stack's LedgerTable")
            }
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Finding::fail(
            subject,
            format!("table {table} does not exist"),
            "deploy the stack (its LedgerTable), or pass the table trigger's GANTRY_LEDGER_TABLE names",
        ),
        Err(err) => unreadable(subject.to_owned(), "DescribeTable", &err),
    }
}

async fn check_queue(clients: &Clients, name: &str, url: &str) -> Finding {
    let subject = format!("queue {name}");
    let answer = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await;
    match answer {
        Ok(output) => {
            let count: u64 = output
                .attributes()
                .into_iter()
                .flatten()
                .filter_map(|(_, value)| value.parse::<u64>().ok())
                .sum();
            if count == 0 {
                return Finding::ok(subject, "empty");
            }
            let queue_name = url.rsplit('/').next().unwrap_or(url);
            let age = alarm_checks::oldest_message_age(&clients.cloudwatch, queue_name)
                .await
                .map(|age| format!(", the oldest for {}", alarm_checks::human_age(age)))
                .unwrap_or_default();
            Finding::fail(
                subject,
                format!("{count} messages wait for an operator{age}"),
                format!("read why (`gantry redrive --queue {name} --dry-run`; a trigger dead letter's GantryErrorType attribute, the function's error log), fix it, then `gantry redrive --queue {name}`"),
            )
        }
        Err(err) => unreadable(subject, "GetQueueAttributes", &err),
    }
}

fn unreadable<E: std::fmt::Debug + std::error::Error>(
    subject: String,
    operation: &str,
    err: &E,
) -> Finding {
    Finding::fail(
        subject,
        format!(
            "{operation} failed: {}",
            gantry_core::logging::error_chain(err)
        ),
        "check the credentials and region this command runs with (the AWS SDK's standard settings)",
    )
}
