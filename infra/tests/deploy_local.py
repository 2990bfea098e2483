#!/usr/bin/env python3
"""Deploys infra/template.yaml into a local moto server and checks its wiring.

Run by scripts/test-infra, which starts moto's server and sets AWS_ENDPOINT_URL,
AWS_REGION and dummy credentials. Needs boto3 and aws-sam-translator (whose YAML
helper uses PyYAML).

For each scenario (a set of template parameters):

1. The template is translated offline with aws-sam-translator, as `sam deploy`
   would have CloudFormation do it.
2. The translation is adapted to what moto's CloudFormation can create: resource
   types it does not implement are removed (NOT_DEPLOYED), and every Ref, GetAtt
   or ${...} to one of them is replaced by the value AWS would give it where that
   is known (a name built from the resource's own Name property, the ARN built from
   that name) or an explicit placeholder (PLACEHOLDER_RULES); a DependsOn on one of
   them is dropped. Two properties are rewritten (REWRITTEN_PROPERTIES): a KMS
   key's policy, resolved and passed as a JSON string, as CloudFormation also
   accepts it, because moto stores an object and then fails every call on the key;
   and a role's Policies, where a policy given by Fn::If is replaced by the branch
   its condition chooses (dropped for AWS::NoValue), as CloudFormation does, because
   moto keeps the null and fails. Nothing else changes.
3. The stack is created in moto and must reach CREATE_COMPLETE with every
   remaining resource created.
4. The wiring is read back through the real APIs (boto3 against moto): bus, rules,
   patterns, targets, retry policies, dead-letter queues, functions and their
   settings, roles and their policies, queues, log groups, bucket, ledger table,
   permissions.
   Rule patterns are proven by delivery: the deployed rule's target is swapped for a
   scratch SQS queue (moto cannot deliver to Lambda, and hands a message that lands
   in TriggerQueue to its event source mapping, which would try to run trigger),
   matching and non-matching events are put on the bus, and only the matching ones
   must arrive.
5. What moto could not deploy, and the properties moto's CloudFormation ignores,
   are checked in the translated template instead, resolved against the deployed
   resources (so a queue policy must name the rule that really uses that queue).

Checks of the template itself that no scenario changes run once, after the
scenarios: parameters and their descriptions; every Rules assertion evaluated with
the default parameter values plus only the answers a first deploy needs (and the
combinations the rules must refuse); the default routes' fork policy; and an update
from the previous template (UPGRADE_BASE): no resource holding data is removed or
replaced. infra/github-app-manifest.json, the GitHub App that App mode posts check
runs as, is checked against the events the routes can name and the permission
GitHub's docs require for each event (MANIFEST_EVENT_PERMISSIONS).

The source checks (the variables each function reads, its AWS calls against its
role, the metrics its alarms watch) read functions/<name>/src; for a function
whose crate does not exist yet (redeliver, while it is being written) they print a
note instead, and the template's side is checked as for any other function.

Every check prints one line (PASS or FAIL); indented "note:" lines point at
things worth a look that are not failures. The last line is "N passed, M failed";
the exit status is non-zero when any check failed.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import logging
import os
import re
import subprocess
import sys
import traceback
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
from botocore.config import Config
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
EVENTS = ROOT / "events"

# Resource types the template uses that moto's CloudFormation (5.2.5) does not
# implement: it skips them without an error, and a Ref or GetAtt to one of them
# fails the stack. They are removed before deploying, and their properties are
# checked in the translated template, resolved against the deployed resources.
NOT_DEPLOYED = {
    "AWS::SecretsManager::Secret": "moto's CloudFormation does not create Secrets Manager secrets",
    "AWS::SecretsManager::ResourcePolicy": "moto's CloudFormation does not create Secrets Manager resource policies",
    "AWS::Lambda::Url": "moto's CloudFormation does not create Lambda Function URLs",
    "AWS::Lambda::EventInvokeConfig": "moto's CloudFormation does not create Lambda event invoke configs (on-failure destinations)",
    "AWS::SQS::QueuePolicy": "moto's CloudFormation does not create SQS queue policies",
    "AWS::S3::BucketPolicy": "moto's CloudFormation does not create S3 bucket policies",
    "AWS::CloudWatch::Alarm": "moto's CloudFormation does not create CloudWatch alarms",
    "AWS::CodeBuild::Project": "moto's CloudFormation does not create CodeBuild projects",
    "AWS::CodePipeline::Pipeline": "moto's CloudFormation does not create CodePipeline pipelines",
    "AWS::Scheduler::Schedule": "moto's CloudFormation does not create EventBridge Scheduler schedules",
    "AWS::SNS::Subscription": "moto's CloudFormation does not create SNS subscriptions",
}

# Properties moto's CloudFormation accepts but does not apply (read from moto's
# create_from_cloudformation_json). They are checked in the translated template.
IGNORED_PROPERTIES = {
    "AWS::Lambda::Function": ["Architectures", "TracingConfig", "LoggingConfig", "Tags"],
    "AWS::S3::Bucket": [
        "BucketEncryption.BucketKeyEnabled",
        "VersioningConfiguration",
        "PublicAccessBlockConfiguration",
        "OwnershipControls",
        "LifecycleConfiguration",
    ],
    "AWS::Events::EventBus": ["Description"],
    # moto creates the table with its keys, indexes and billing mode, but DescribeTable
    # shows no SSEDescription, DescribeTimeToLive says DISABLED and
    # DescribeContinuousBackups shows point-in-time recovery DISABLED. Each is read
    # through the API first and checked in the translated template only when moto
    # does not report it.
    "AWS::DynamoDB::Table": ["SSESpecification", "TimeToLiveSpecification", "PointInTimeRecoverySpecification"],
}

FUNCTIONS = {
    # logical id prefix -> (name suffix, memory MB, timeout s, reserved concurrency
    # with ReservedConcurrency=true; None: never any). The pruner's memory is
    # PrunerMemorySize's default (FUNCTION_MEMORY_PARAMETERS).
    "Webhook": ("webhook", 128, 10, 20),
    # trigger reserves nothing: an invocation Lambda throttles would return its SQS
    # messages and use up their tries; TRIGGER_QUEUE_MAPPING's MaximumConcurrency caps it.
    "Trigger": ("trigger", 128, 30, None),
    "Status": ("status", 128, 60, 5),
    "Pruner": ("pruner", 256, 300, 1),
    # Only in App mode with RedeliverFailedDeliveries true (REDELIVER_RESOURCES):
    # Run.functions() leaves it out of the other scenarios.
    "Redeliver": ("redeliver", 128, 120, 1),
}
# Functions whose memory is a parameter: the deployed MemorySize is the scenario's
# value of it, and its default is the memory in FUNCTIONS.
FUNCTION_MEMORY_PARAMETERS = {"Pruner": "PrunerMemorySize"}
# The parameter's Type, Default and constraints (Lambda: 128 to 10240 MB).
PRUNER_MEMORY_PARAMETER = {"Type": "Number", "Default": 256, "MinValue": 128, "MaxValue": 10240}
# Lambda's limit on a function's name, and so the longest stack name the template
# allows (its header comment and infra/README.md say so): STACK-<suffix>.
LAMBDA_FUNCTION_NAME_CHARS = 64
MAX_STACK_NAME_CHARS = LAMBDA_FUNCTION_NAME_CHARS - max(len(f[0]) + 1 for f in FUNCTIONS.values())

# The variables each function reads (README "Configuration"); the template must set
# exactly these (status and trigger: these plus the ones of the mode, STATUS_MODE_ENV).
FUNCTION_ENV = {
    "Webhook": ["GANTRY_EVENT_BUS", "GANTRY_WEBHOOK_SECRET_ARN"],
    # trigger's GitHub settings are status's (the same values): read only when a
    # route's fork_pull_requests is "approve".
    "Trigger": [
        "GANTRY_ROUTES",
        "GANTRY_LEDGER_TABLE",
        "GANTRY_TRIGGER_QUEUE_URL",
        "GANTRY_TRIGGER_DLQ_URL",
        "GANTRY_GITHUB_API_URL",
        "GANTRY_STATUS_CONFIG",
    ],
    "Status": ["GANTRY_GITHUB_API_URL", "GANTRY_STATUS_CONFIG", "GANTRY_LEDGER_TABLE"],
    "Pruner": [
        "GANTRY_ARTIFACT_BUCKET",
        "GANTRY_PIPELINES",
        "GANTRY_PRUNE_POLICY",
        "GANTRY_DRY_RUN",
        "GANTRY_PRUNE_ALLOWED_PREFIXES",
    ],
    # plus STATUS_MODE_ENV["app"]: it exists only in App mode (APP_ONLY_FUNCTIONS).
    "Redeliver": ["GANTRY_GITHUB_API_URL", "GANTRY_REDELIVER_WINDOW_MINUTES"],
}
# The GitHub credential of status and trigger (GITHUB_FUNCTIONS): token mode
# (GitHubAppId empty) or App mode, never both (gantry-core's Credential::from_env
# refuses both at cold start). Names as functions/core/src/github/credential.rs
# declares them (its constants, STATUS_CONFIG_CONSTANTS; status's config.rs re-exports
# them): check_status_settings reads them there.
STATUS_MODE_ENV = {
    "token": ["GANTRY_GITHUB_TOKEN_ARN"],
    "app": ["GANTRY_GITHUB_APP_ID", "GANTRY_GITHUB_APP_KEY_ARN"],
}
# The functions that talk to GitHub with that credential: trigger only for routes
# whose fork_pull_requests is "approve", but it is always set.
GITHUB_FUNCTIONS = ["Status", "Trigger"]
# The functions that exist only in App mode, with the App's settings and never the
# token's: redeliver (GitHub's deliveries endpoints take the App's JWT).
APP_ONLY_FUNCTIONS = ["Redeliver"]
CREDENTIAL_SOURCE = ROOT / "functions" / "core" / "src" / "github" / "credential.rs"
# The constant in functions/core/src/github/credential.rs for each variable above, and
# for the plain-value variables that are for local runs only (the template never sets
# them).
STATUS_CONFIG_CONSTANTS = {
    "TOKEN_ARN": "GANTRY_GITHUB_TOKEN_ARN",
    "APP_ID": "GANTRY_GITHUB_APP_ID",
    "APP_KEY_ARN": "GANTRY_GITHUB_APP_KEY_ARN",
}
STATUS_LOCAL_ONLY_CONSTANTS = {"TOKEN": "GANTRY_GITHUB_TOKEN", "APP_KEY": "GANTRY_GITHUB_APP_KEY"}


def function_env(key: str, app: bool) -> list[str]:
    """The variables the template must set on a function, in the scenario's mode."""
    if key in GITHUB_FUNCTIONS:
        return FUNCTION_ENV[key] + STATUS_MODE_ENV["app" if app else "token"]
    if key in APP_ONLY_FUNCTIONS:
        return FUNCTION_ENV[key] + STATUS_MODE_ENV["app"]
    return FUNCTION_ENV[key]


# Everything the template declares for the redeliver function (condition Redeliver:
# App mode and RedeliverFailedDeliveries true), with its outputs. The pruner's
# counterparts, one for one (the pruner has no metric alarm).
REDELIVER_CONDITION = "Redeliver"
REDELIVER_RESOURCES = [
    "RedeliverLogGroup",
    "RedeliverRole",
    "RedeliverFunction",
    "RedeliverSchedule",
    "RedeliverSchedulePermission",
    "RedeliverScheduleDlq",
    "RedeliverScheduleDlqPolicy",
    "RedeliverFailureQueue",
    "RedeliverScheduleDlqAlarm",
    "RedeliverFailureQueueAlarm",
    "RedeliverErrorsAlarm",
    "RedeliverAbandonedAlarm",
]
REDELIVER_OUTPUTS = ["RedeliverFunctionName", "RedeliverScheduleDlqUrl", "RedeliverFailureQueueUrl"]
# The parameters of redelivery, with the Type, Default and constraints each must have.
REDELIVER_PARAMETERS = {
    "RedeliverFailedDeliveries": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"]},
    "RedeliverySchedule": {"Type": "String", "Default": "rate(15 minutes)"},
    # GitHub keeps a hook's deliveries 3 days: 4320 minutes.
    "RedeliveryWindowMinutes": {"Type": "Number", "Default": 120, "MinValue": 15, "MaxValue": 4320},
}


# Variables the template sets ahead of the code that will read them: while no
# source names one, check_code_reads_env prints a note instead of failing.
ENV_AHEAD_OF_CODE = {("Status", "GANTRY_LEDGER_TABLE")}

# infra/github-app-manifest.json: GitHub's "Registering a GitHub App from a manifest"
# (https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest).
APP_MANIFEST = ROOT / "infra" / "github-app-manifest.json"
# The permission (its API name, as default_permissions keys it) each event needs, from
# the event's "To subscribe to this event, a GitHub App must have at least read-level
# access for the ... permission" in
# https://docs.github.com/en/webhooks/webhook-events-and-payloads.
MANIFEST_EVENT_PERMISSIONS = {
    "push": "contents",  # "Contents" repository permission
    "pull_request": "pull_requests",  # "Pull requests"
    "check_run": "checks",  # "Checks"; apps with Checks: write are subscribed automatically
    "check_suite": "checks",  # "Checks"; likewise
    "merge_group": "merge_queues",  # "Merge queues"
    "issue_comment": "issues",  # "Issues", for comments on pull requests too
}
# Everything Gantry asks for, now and for its next steps, asked once: a change of an
# App's permissions makes every installation approve it again (infra/README.md).
MANIFEST_PERMISSIONS = {
    "checks": "write",  # check runs
    "statuses": "write",  # commit statuses: token-mode parity, rulesets' expected source
    "contents": "read",  # push events; the head commit
    "pull_requests": "read",  # pull_request events; a pull request's files (path filters)
    "metadata": "read",  # mandatory with any repository permission; collaborators
    "merge_queues": "read",  # merge_group events
    "issues": "read",  # issue_comment events (comments on pull requests)
}
# Events the manifest subscribes to besides those a route can name (trigger's EventKind).
MANIFEST_EXTRA_EVENTS = ["check_run", "check_suite", "merge_group", "issue_comment"]

# CodePipeline names a pipeline's artifact folder after the first 20 characters of
# its name (the pruner's PIPELINE_PREFIX_CHARS).
PIPELINE_FOLDER_CHARS = 20

# The ledger table (README "Ledger table").
LEDGER_KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
LEDGER_INDEXES = {
    "by-commit": [{"AttributeName": "commit_pk", "KeyType": "HASH"}, {"AttributeName": "commit_sk", "KeyType": "RANGE"}],
    "by-ref": [{"AttributeName": "ref_pk", "KeyType": "HASH"}, {"AttributeName": "ref_sk", "KeyType": "RANGE"}],
}
LEDGER_TTL_ATTRIBUTE = "expires_at"

# Lambda keeps at least this much of an account's concurrency unreserved.
LAMBDA_MIN_UNRESERVED = 100
# IAM's limit on the total size of a role's inline policies (whitespace not counted).
IAM_ROLE_INLINE_POLICY_CHARS = 10240

# The commit of the template before the ledger, KMS, secret policies and prune
# prefixes; an update from it must not remove or replace a resource holding data.
UPGRADE_BASE = "d28c083"
# The last template before TriggerQueue: the rule invoked trigger asynchronously.
QUEUE_UPGRADE_BASE = "3d0e791"
# Resources of an earlier template that a later one removes on purpose (none holds
# data), with the reason.
REMOVED_ON_PURPOSE = {
    "TriggerRulePermission": "TriggerRule sends to TriggerQueue; nothing invokes trigger through EventBridge any more",
}
# Types that hold data, and their properties whose change makes CloudFormation
# replace the resource (CloudFormation resource reference, "Update requires:
# Replacement").
DATA_RESOURCES = {
    "AWS::SQS::Queue": ["QueueName", "FifoQueue"],
    "AWS::S3::Bucket": ["BucketName"],
    "AWS::SecretsManager::Secret": ["Name"],
    "AWS::DynamoDB::Table": ["TableName", "KeySchema", "AttributeDefinitions"],
    "AWS::Logs::LogGroup": ["LogGroupName"],
}

# Condition keys the secrets' resource policies use, with where AWS documents them
# for Secrets Manager: aws:PrincipalArn is a global condition key (IAM User Guide,
# "AWS global condition context keys"; Secrets Manager's permissions reference
# accepts global keys), present in every signed request, the role's ARN for a role
# session and arn:aws:iam::ACCOUNT:root for the root user.
SECRET_POLICY_CONDITION_KEYS = {
    "aws:PrincipalArn": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn",
}

XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# Actions IAM cannot scope to a resource: only these may be granted on "*".
UNSCOPABLE_ACTIONS = XRAY_ACTIONS | {"codepipeline:ListPipelines"}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
PIPELINE_VARIABLES = [
    "GANTRY_COMMIT",
    "GANTRY_REF",
    "GANTRY_REPOSITORY",
    "GANTRY_DELIVERY_ID",
    "GANTRY_BRANCH",
    "GANTRY_PULL_REQUEST",
]
SQS_MAX_RETENTION = "1209600"

# TriggerQueue, between TriggerRule and trigger (README "What a failure comes to").
TRIGGER_QUEUE_RETENTION = "345600"  # 4 days
TRIGGER_QUEUE_MAX_RECEIVES = 9  # RedrivePolicy.maxReceiveCount, trigger's retry::MAX_RECEIVES
# AWS's advice for an SQS event source: a visibility timeout of at least 6 times the
# function's timeout.
SQS_VISIBILITY_PER_FUNCTION_TIMEOUT = 6
# What the SAM event TriggerQueue of TriggerFunction becomes: one event source mapping.
TRIGGER_QUEUE_MAPPING = {
    "BatchSize": 10,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "ScalingConfig": {"MaximumConcurrency": 5},
}
# How long trigger hides a message after its n-th try failed transiently (n from 1):
# 60, 120, 240, 480, then 900 s (functions/trigger/src/retry.rs, FIRST_WAIT and
# LONGEST_WAIT). The tries before TriggerDlq must span at least an hour.
TRIGGER_FIRST_WAIT = 60
TRIGGER_LONGEST_WAIT = 900
TRIGGER_RETRY_SPAN_MIN = 3600


def trigger_backoff(receive: int) -> int:
    return min(TRIGGER_FIRST_WAIT * 2 ** (receive - 1), TRIGGER_LONGEST_WAIT)

# Lambda's application log levels (LoggingConfig.ApplicationLogLevel), most detailed first.
LAMBDA_LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
# Lambda's system log levels (LoggingConfig.SystemLogLevel, the template's
# PlatformLogLevel), most detailed first; WARN, the default, drops the start and
# report lines of every invocation (BENCHMARKS.md, "The bill, estimated").
LAMBDA_SYSTEM_LOG_LEVELS = ["DEBUG", "INFO", "WARN"]
# The alarms on the webhook's Function URL and invocations, and on the status
# function's embedded metric: (namespace, metric, function key, statistic, comparison).
WEBHOOK_URL_5XX = ("AWS/Lambda", "Url5xxCount", "Webhook")
WEBHOOK_INVOCATIONS = ("AWS/Lambda", "Invocations", "Webhook")
GITHUB_REJECTED = ("Gantry", "GitHubRejected", "Status")
# A delivery redeliver gave up on (its last redelivery try failed too).
DELIVERY_ABANDONED = ("Gantry", "DeliveryAbandoned", "Redeliver")
# Where the embedded metrics' names are declared: gantry-core's metrics module, or
# the function's own source.
METRICS_SOURCE = ROOT / "functions" / "core" / "src" / "metrics.rs"

# AWS SDK operations the functions call (snake_case, as in the Rust SDK) and the IAM
# actions each needs. Moto does not enforce IAM, so the roles are compared with the
# calls found in each function's source.
SDK_CALLS = {
    "put_events": ["events:PutEvents"],
    "get_secret_value": ["secretsmanager:GetSecretValue"],
    "start_pipeline_execution": ["codepipeline:StartPipelineExecution"],
    "start_build": ["codebuild:StartBuild"],
    "stop_build": ["codebuild:StopBuild"],
    "stop_pipeline_execution": ["codepipeline:StopPipelineExecution"],
    "retry_stage_execution": ["codepipeline:RetryStageExecution"],
    "get_pipeline_execution": ["codepipeline:GetPipelineExecution"],
    "get_pipeline": ["codepipeline:GetPipeline"],
    "list_action_executions": ["codepipeline:ListActionExecutions"],
    "list_pipeline_executions": ["codepipeline:ListPipelineExecutions"],
    "list_pipelines": ["codepipeline:ListPipelines"],
    "batch_get_builds": ["codebuild:BatchGetBuilds"],
    "batch_get_reports": ["codebuild:BatchGetReports"],
    "describe_test_cases": ["codebuild:DescribeTestCases"],
    "list_builds_for_project": ["codebuild:ListBuildsForProject"],
    "get_log_events": ["logs:GetLogEvents"],
    "get_item": ["dynamodb:GetItem"],
    "put_item": ["dynamodb:PutItem"],
    "update_item": ["dynamodb:UpdateItem"],
    "delete_item": ["dynamodb:DeleteItem"],
    "query": ["dynamodb:Query"],
    "get_object": ["s3:GetObject"],
    "list_objects_v2": ["s3:ListBucket"],
    "list_object_versions": ["s3:ListBucketVersions"],
    "delete_objects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
    "delete_object": ["s3:DeleteObject"],
    "send_message": ["sqs:SendMessage"],
    "change_message_visibility": ["sqs:ChangeMessageVisibility"],
    "receive_message": ["sqs:ReceiveMessage"],
    "delete_message": ["sqs:DeleteMessage"],
    "get_queue_attributes": ["sqs:GetQueueAttributes"],
}
# Granted actions that no call in the function's own folder needs, by design:
# secrets are read by gantry-core's secret module and the ledger by gantry-core's
# ledger module on the function's behalf, Lambda itself sends failed asynchronous
# invocations to the failure queue, Lambda's event source mapping polls TriggerQueue
# and deletes what succeeded as trigger's role, and KMS is called by Secrets Manager
# and S3.
LEDGER_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"}
EVENT_SOURCE_MAPPING_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# The modules of gantry-core's ledger (functions/core/src/ledger/) whose DynamoDB
# calls each role makes: trigger's starts and decisions, status's check runs, and
# both the stop reasons kept on starts (trigger writes, status reads).
LEDGER_MODULES = {"TriggerRole": ["mod.rs", "stops.rs"], "StatusRole": ["check_runs.rs", "stops.rs"]}
UNCALLED_BY_DESIGN = {
    "Webhook": {"secretsmanager:GetSecretValue", "kms:Decrypt"},
    "Trigger": {"secretsmanager:GetSecretValue", "sqs:SendMessage", "kms:Decrypt"} | LEDGER_ACTIONS | EVENT_SOURCE_MAPPING_ACTIONS,
    "Status": {"secretsmanager:GetSecretValue", "sqs:SendMessage", "kms:Decrypt"} | LEDGER_ACTIONS,
    "Pruner": {"sqs:SendMessage", "kms:Decrypt"},
    # The App's key through gantry-core's secret cache; its failure queue by Lambda.
    "Redeliver": {"secretsmanager:GetSecretValue", "sqs:SendMessage", "kms:Decrypt"},
}
# The AWS SDK crates a function's own source may name (aws_sdk_<crate>) and the IAM
# service each calls: the function's role must grant some action of that service.
SDK_CRATE_SERVICES = {"eventbridge": "events", "cloudwatchlogs": "logs"}


def function_source(key: str) -> str | None:
    """The Rust source of a function's crate (functions/<name>/src), or None when
    the crate does not exist (yet)."""
    folder = ROOT / "functions" / FUNCTIONS[key][0] / "src"
    if not folder.is_dir():
        return None
    return "".join(path.read_text() for path in sorted(folder.rglob("*.rs")))


# A project's report groups: a buildspec's report group NAME is created as
# PROJECT-NAME, so status reads PROJECT-* (report-group/ with an empty or unused name
# slot, `-*` or `~-*`, is not one).
REPORT_GROUPS_OF_PROJECT = re.compile(r"arn:aws:codebuild:[^:]+:\d{12}:report-group/[^*?/~]+-\*")

# Every action some scenario's roles grant, for the README's role table.
GRANTED_ACTIONS: set[str] = set()


def same_service(action: str, arn: str) -> bool:
    aliases = {"codestar-connections": "codeconnections"}
    service = action.split(":", 1)[0]
    parts = arn.split(":")
    return len(parts) > 2 and aliases.get(service, service) == aliases.get(parts[2], parts[2])


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------
@dataclass
class Scenario:
    tag: str
    title: str
    stack: str
    params: dict[str, str]
    example: bool
    pipelines: list[str]  # named in PipelineNames (the example pipeline not included)
    projects: list[str]  # named in ProjectNames
    routes: dict | None  # None: the default route to the example pipeline
    existing_bucket: str | None = None
    existing_secrets: bool = False
    reserved: bool = True
    alarm_topic: str | None = None  # AlarmTopicArn; None: the stack creates its own topic
    alarm_email: str | None = None
    prune_prefixes: list[str] | None = None  # PrunePrefixes; None: derived from the pipelines
    secrets_key: str | None = None  # SecretsKmsKeyArn
    artifact_key: str | None = None  # ArtifactBucketKmsKeyArn
    test_report_bucket: str | None = None  # TestReportBucket; None: the artifact bucket
    secret_admins: list[str] = field(default_factory=list)  # SecretAdminRoleArns
    app_id: str | None = None  # GitHubAppId: App mode; None: token mode
    existing_app_key: bool = False  # ExistingGitHubAppKeySecretArn (created in moto first)
    # Filled in while running.
    secret_arns: dict[str, str] = field(default_factory=dict)


def scenarios(account: str, region: str) -> list[Scenario]:
    status_config = {
        "pipelines": {"app-pipeline": {"context": "ci/app", "per_stage": True}},
        "projects": {"pr-build": {"context": "ci/pull-request"}},
        "listed_only": False,
    }
    routes = {
        "routes": [
            {"name": "main", "repository": "octo-org/app", "events": ["push"], "branches": ["main"], "pipeline": "app-pipeline"}
        ]
    }
    connection = f"arn:aws:codeconnections:{region}:{account}:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    secrets_key = f"arn:aws:kms:{region}:{account}:key/11111111-2222-3333-4444-555555555555"
    artifact_key = f"arn:aws:kms:{region}:{account}:key/66666666-7777-8888-9999-000000000000"
    admins = [
        f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_AdministratorAccess_*",
        f"arn:aws:iam::{account}:role/ops-breakglass",
    ]
    return [
        Scenario(
            tag="example",
            title="example pipeline, named pipelines and projects, stack-created bucket, secrets (own KMS key, admin roles) and alarm topic (with an e-mail subscription), reserved concurrency",
            stack="gantry-local",
            params={
                "CreateExamplePipeline": "true",
                "ConnectionArn": connection,
                "FullRepositoryId": "octo-org/app",
                "PipelineNames": "app-pipeline,release-pipeline",
                "ProjectNames": "pr-build",
                "StatusConfigJson": json.dumps(status_config, separators=(",", ":")),
                "PrunePolicyJson": json.dumps({"keep_newest": 10, "keep_days": 14}, separators=(",", ":")),
                "AlarmEmail": "ops@octo-org.example",
                "ReservedConcurrency": "true",
                "SecretsKmsKeyArn": secrets_key,
                "SecretAdminRoleArns": ",".join(admins),
            },
            example=True,
            pipelines=["app-pipeline", "release-pipeline"],
            projects=["pr-build"],
            routes=None,
            alarm_email="ops@octo-org.example",
            secrets_key=secrets_key,
            secret_admins=admins,
        ),
        Scenario(
            tag="first-deploy",
            title="a first deploy: every default, plus only the example pipeline's three answers (samconfig.toml's stack name)",
            stack="gantry",
            params={"CreateExamplePipeline": "true", "ConnectionArn": connection, "FullRepositoryId": "octo-org/app"},
            example=True,
            pipelines=[],
            projects=[],
            routes=None,
            reserved=False,
        ),
        Scenario(
            tag="example-kms-bucket",
            title="example pipeline in an existing bucket under a customer managed key (raw test reports read from it, so status decrypts with it too), secrets under their own key, one named pipeline, explicit prune prefixes",
            stack="gantry-kms",
            params={
                "CreateExamplePipeline": "true",
                "ConnectionArn": connection,
                "FullRepositoryId": "octo-org/app",
                "PipelineNames": "app-pipeline",
                "ExistingArtifactBucket": "octo-org-kms-artifacts",
                "ArtifactBucketKmsKeyArn": artifact_key,
                "SecretsKmsKeyArn": secrets_key,
                "PrunePrefixes": "gantry-kms-example/,app-pipeline/,nightly-builds/",
            },
            example=True,
            pipelines=["app-pipeline"],
            projects=[],
            routes=None,
            existing_bucket="octo-org-kms-artifacts",
            reserved=False,
            prune_prefixes=["gantry-kms-example/", "app-pipeline/", "nightly-builds/"],
            artifact_key=artifact_key,
            secrets_key=secrets_key,
        ),
        Scenario(
            tag="existing",
            title="no example pipeline, own routes, existing bucket (customer managed key) and secrets, explicit prune prefixes, the pruner's memory for 5,000,000 versions (PrunerMemorySize 1280), alarm topic, raw test reports in their own bucket (TestReportBucket), Lambda's start and report lines kept (PlatformLogLevel INFO)",
            stack="gantry-existing",
            params={
                "CreateExamplePipeline": "false",
                "RoutesJson": json.dumps(routes, separators=(",", ":")),
                "PipelineNames": "app-pipeline",
                "ExistingArtifactBucket": "octo-org-artifacts",
                # The secret ARNs are filled in once the secrets exist in moto.
                "ReservedConcurrency": "false",
                "DryRun": "false",
                "LogRetentionInDays": "7",
                "PlatformLogLevel": "INFO",
                "GitHubApiUrl": "https://github.example.com/api/v3",
                "AlarmTopicArn": f"arn:aws:sns:{region}:{account}:gantry-alarms",
                "WebhookInvocationAlarmThreshold": "250",
                "PrunePrefixes": "app-pipeline/,nightly-builds/",
                "PrunerMemorySize": "1280",
                "ArtifactBucketKmsKeyArn": artifact_key,
                "TestReportBucket": "octo-org-test-reports",
            },
            example=False,
            pipelines=["app-pipeline"],
            projects=[],
            routes=routes,
            existing_bucket="octo-org-artifacts",
            existing_secrets=True,
            reserved=False,
            alarm_topic=f"arn:aws:sns:{region}:{account}:gantry-alarms",
            prune_prefixes=["app-pipeline/", "nightly-builds/"],
            artifact_key=artifact_key,
            test_report_bucket="octo-org-test-reports",
        ),
        Scenario(
            tag="app",
            title="App mode (GitHubAppId, the stack's own empty App key secret under its own KMS key, admin roles), example pipeline, named pipelines and projects, redeliver at its defaults",
            stack="gantry-app",
            params={
                "CreateExamplePipeline": "true",
                "ConnectionArn": connection,
                "FullRepositoryId": "octo-org/app",
                "PipelineNames": "app-pipeline",
                "ProjectNames": "pr-build",
                "GitHubAppId": "12345",
                "SecretsKmsKeyArn": secrets_key,
                "SecretAdminRoleArns": ",".join(admins),
            },
            example=True,
            pipelines=["app-pipeline"],
            projects=["pr-build"],
            routes=None,
            reserved=False,
            secrets_key=secrets_key,
            secret_admins=admins,
            app_id="12345",
        ),
        Scenario(
            tag="app-existing-key",
            title="App mode with an existing App key secret, after token mode with existing secrets (ExistingGitHubTokenSecretArn left set: ignored), own routes, redeliver on its own schedule and window, reserved concurrency",
            stack="gantry-app-key",
            params={
                "CreateExamplePipeline": "false",
                "RoutesJson": json.dumps(routes, separators=(",", ":")),
                "PipelineNames": "app-pipeline",
                "GitHubAppId": "67890",
                "RedeliverySchedule": "cron(0/10 * * * ? *)",
                "RedeliveryWindowMinutes": "60",
                "ReservedConcurrency": "true",
                # The three secret ARNs are filled in once the secrets exist in moto.
            },
            example=False,
            pipelines=["app-pipeline"],
            projects=[],
            routes=routes,
            existing_secrets=True,
            app_id="67890",
            existing_app_key=True,
        ),
        Scenario(
            tag="app-no-redeliver",
            title="App mode with RedeliverFailedDeliveries=false (no redeliver function, schedule, queues or alarms), the stack's own App key secret, own routes",
            stack="gantry-app-quiet",
            params={
                "CreateExamplePipeline": "false",
                "RoutesJson": json.dumps(routes, separators=(",", ":")),
                "PipelineNames": "app-pipeline",
                "GitHubAppId": "24680",
                "RedeliverFailedDeliveries": "false",
            },
            example=False,
            pipelines=["app-pipeline"],
            projects=[],
            routes=routes,
            reserved=False,
            app_id="24680",
        ),
    ]


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------
class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.prefix = ""

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS {self.prefix}{name}")
        else:
            self.failed += 1
            print(f"FAIL {self.prefix}{name}" + (f": {detail}" if detail else ""))
        return ok

    def equal(self, name: str, actual: Any, expected: Any) -> bool:
        return self.check(name, actual == expected, f"expected {expected!r}, got {actual!r}")

    def section(self, name: str, body: Callable[[], None]) -> None:
        """Runs one group of checks; an exception fails the group instead of the run."""
        try:
            body()
        except Exception as error:  # noqa: BLE001 - reported as a failed check
            detail = f"{type(error).__name__}: {error}"
            self.check(f"{name} (raised)", False, detail)
            traceback.print_exc(limit=3, file=sys.stdout)


# ---------------------------------------------------------------------------
# Intrinsic functions, for parameters, conditions and the resources moto skips
# ---------------------------------------------------------------------------
NO_VALUE = object()


class Unresolved(Exception):
    pass


class Resolver:
    """Evaluates the intrinsic functions the template uses.

    attrs maps (logical id, attribute or None for Ref) to the value AWS would return.
    """

    def __init__(self, template: dict, params: dict[str, str], pseudo: dict[str, str], attrs: dict) -> None:
        self.template = template
        self.params = params
        self.pseudo = pseudo
        self.attrs = attrs
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self.truth(self.template["Conditions"][name])
        return self._conditions[name]

    def truth(self, expr: Any) -> bool:
        (key, arg), = expr.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if key == "Fn::Not":
            return not self.truth(arg[0])
        if key == "Fn::And":
            return all(self.truth(item) for item in arg)
        if key == "Fn::Or":
            return any(self.truth(item) for item in arg)
        raise Unresolved(f"condition function {key}")

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if (name, None) in self.attrs:
            return self.attrs[(name, None)]
        raise Unresolved(f"Ref {name}")

    def getatt(self, name: str, attribute: str) -> Any:
        if (name, attribute) in self.attrs:
            return self.attrs[(name, attribute)]
        raise Unresolved(f"GetAtt {name}.{attribute}")

    def sub(self, text: str, variables: dict) -> str:
        def replace(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(self.value(variables[inner]))
            if "." in inner and not inner.startswith("AWS::"):
                return str(self.getatt(*inner.split(".", 1)))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.getatt(arg[0], arg[1])
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                return self.sub(arg[0], arg[1])
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.value(arg[1])[int(self.value(arg[0]))]
            if key.startswith("Fn::") or key == "Condition":
                raise Unresolved(f"function {key}")
        result = {}
        for key, item in node.items():
            resolved = self.value(item)
            if resolved is not NO_VALUE:
                result[key] = resolved
        return result


# ---------------------------------------------------------------------------
# Translation and the adaptation to moto
# ---------------------------------------------------------------------------
class NoManagedPolicies:
    """The template names no managed policies, so nothing is looked up in IAM."""

    def load(self) -> dict:
        return {}


def translate(params: dict[str, str], code_bucket: str) -> dict:
    template = yaml_parse(TEMPLATE.read_text())
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{code_bucket}/{logical_id}.zip"
    return transform(template, dict(params), NoManagedPolicies())


@dataclass
class Adaptation:
    template: dict
    removed: dict[str, str]  # logical id -> type
    placeholders: dict[tuple[str, str | None], str]  # (logical id, attribute) -> value
    substitutions: list[tuple[str, str, str]]  # (where, reference, replacement)


def placeholder_for(logical_id: str, attribute: str | None, resource: dict, names: Resolver, pseudo: dict) -> str:
    """The value a reference to a resource moto does not create is replaced by."""
    kind = resource["Type"]
    region, account, partition = pseudo["AWS::Region"], pseudo["AWS::AccountId"], pseudo["AWS::Partition"]
    if kind == "AWS::SecretsManager::Secret" and attribute is None:
        # Secret ARNs end in a random 6-character suffix; this one says what it is.
        return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{logical_id}-NOTDEPLOYED-000000"
    if kind == "AWS::CodePipeline::Pipeline" and attribute is None:
        return names.value(resource["Properties"]["Name"])
    if kind == "AWS::CodeBuild::Project" and attribute is None:
        return names.value(resource["Properties"]["Name"])
    if kind == "AWS::CodeBuild::Project" and attribute == "Arn":
        name = names.value(resource["Properties"]["Name"])
        return f"arn:{partition}:codebuild:{region}:{account}:project/{name}"
    if kind == "AWS::Lambda::Url" and attribute == "FunctionUrl":
        return f"https://{logical_id.lower()}-not-deployed.lambda-url.{region}.on.aws/"
    raise SystemExit(
        f"deploy_local.py: no placeholder rule for {'Ref' if attribute is None else 'GetAtt'} "
        f"{logical_id}{'' if attribute is None else '.' + attribute} ({kind}); add one to placeholder_for"
    )


# Properties passed to moto in another form CloudFormation accepts as the same value.
REWRITTEN_PROPERTIES = {
    "AWS::KMS::Key": (
        "KeyPolicy",
        "resolved (it references only pseudo parameters) and passed as a JSON string: from an "
        "object, moto's CloudFormation stores a key whose every KMS call answers 500",
    ),
    "AWS::IAM::Role": (
        "Policies",
        "a policy given by Fn::If [condition, policy, AWS::NoValue] is replaced by the branch the condition "
        "chooses, and dropped for AWS::NoValue, as CloudFormation does: moto's CloudFormation keeps the null "
        "in the list and fails creating the role",
    ),
}

PLACEHOLDER_RULES = [
    "Ref to a Secrets Manager secret: arn:...:secret:<LogicalId>-NOTDEPLOYED-000000",
    "Ref to a CodePipeline pipeline or CodeBuild project: its Name property, as AWS would return it",
    "GetAtt CodeBuild project Arn: arn:...:codebuild:REGION:ACCOUNT:project/<Name>",
    "GetAtt Function URL FunctionUrl: https://<logicalid>-not-deployed.lambda-url.REGION.on.aws/",
    "Ref to an AWS::Events::EventBus: GetAtt <Bus>.Name (moto's Ref to a bus breaks; AWS returns the name for both)",
]


def adapt(translated: dict, params: dict[str, str], pseudo: dict) -> Adaptation:
    template = copy.deepcopy(translated)
    resources = template["Resources"]
    removed = {lid: res["Type"] for lid, res in resources.items() if res["Type"] in NOT_DEPLOYED}
    buses = {lid for lid, res in resources.items() if res["Type"] == "AWS::Events::EventBus"}
    names = Resolver(template, params, pseudo, {})
    placeholders: dict[tuple[str, str | None], str] = {}
    substitutions: list[tuple[str, str, str]] = []

    def stand_in(lid: str, attribute: str | None) -> str:
        if (lid, attribute) not in placeholders:
            placeholders[(lid, attribute)] = placeholder_for(lid, attribute, translated["Resources"][lid], names, pseudo)
        return placeholders[(lid, attribute)]

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, list):
            return [walk(item, where) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" and arg in removed:
                value = stand_in(arg, None)
                substitutions.append((where, f"Ref {arg}", value))
                return value
            if key == "Ref" and arg in buses:
                substitutions.append((where, f"Ref {arg}", f"GetAtt {arg}.Name"))
                return {"Fn::GetAtt": [arg, "Name"]}
            if key == "Fn::GetAtt" and arg[0] in removed:
                value = stand_in(arg[0], arg[1])
                substitutions.append((where, f"GetAtt {arg[0]}.{arg[1]}", value))
                return value
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def replace(match: re.Match) -> str:
                    inner = match.group(1)
                    if inner.startswith("!") or inner in variables:
                        return match.group(0)
                    lid, _, attribute = inner.partition(".")
                    if lid in removed:
                        value = stand_in(lid, attribute or None)
                        substitutions.append((where, "${" + inner + "}", value))
                        return value
                    if lid in buses and not attribute:
                        substitutions.append((where, "${" + inner + "}", "${" + lid + ".Name}"))
                        return "${" + lid + ".Name}"
                    return match.group(0)

                text = re.sub(r"\$\{([^}]+)\}", replace, text)
                return {"Fn::Sub": text if isinstance(arg, str) else [text, walk(variables, where)]}
        return {key: walk(item, where) for key, item in node.items()}

    for lid in removed:
        del resources[lid]
    for lid, resource in resources.items():
        if resource["Type"] in REWRITTEN_PROPERTIES:
            name = REWRITTEN_PROPERTIES[resource["Type"]][0]
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::KMS::Key" and isinstance(props.get(name), dict):
                props[name] = json.dumps(names.value(props[name]), separators=(",", ":"))
            if resource["Type"] == "AWS::IAM::Role" and isinstance(props.get(name), list):
                chosen = []
                for policy in props[name]:
                    if isinstance(policy, dict) and list(policy) == ["Fn::If"]:
                        condition, yes, no = policy["Fn::If"]
                        policy = yes if names.condition(condition) else no
                    if policy != {"Ref": "AWS::NoValue"}:
                        chosen.append(policy)
                props[name] = chosen
        depends = resource.get("DependsOn")
        if depends:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in removed]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
        resources[lid] = walk(resource, lid)
    template["Outputs"] = {
        key: walk(output, f"Outputs.{key}") for key, output in template.get("Outputs", {}).items()
    }
    # Properties the resources moto skips reference (kept for the static checks).
    for lid in removed:
        walk(translated["Resources"][lid], lid)
    return Adaptation(template, removed, placeholders, substitutions)


# ---------------------------------------------------------------------------
# AWS access
# ---------------------------------------------------------------------------
class Aws:
    def __init__(self) -> None:
        config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=30)
        self.endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
        self.region = os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]
        session = boto3.session.Session(region_name=self.region)
        for name in ["cloudformation", "dynamodb", "events", "iam", "kms", "lambda", "logs", "s3", "secretsmanager", "sns", "sqs", "sts"]:
            setattr(self, name.replace("lambda", "lambda_"), session.client(name, config=config))

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def policy_document(value: Any) -> dict:
    """IAM policy documents: JSON in AWS; moto returns inline role policies as a
    Python repr, which the JSON decoder refuses."""
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


def log_group_arn(arn: str) -> str:
    """A log group's ARN without the ":*" CloudFormation's GetAtt adds (moto's does not)."""
    return arn.removesuffix(":*") if arn.startswith("arn:aws:logs:") else arn


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def wildcard(pattern: str, value: str) -> bool:
    """IAM's wildcards: * any run of characters, ? one character."""
    return re.fullmatch("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), value, re.S) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own."""
    a, b = pattern.split(":", 5), value.split(":", 5)
    return len(a) == len(b) == 6 and all(wildcard(x, y) for x, y in zip(a, b))


def condition_holds(condition: dict, context: dict[str, str | None]) -> bool:
    """The condition operators the stack's resource policies use. A missing key makes
    a positive operator false and a negated one true, as IAM evaluates them."""
    for operator, keys in condition.items():
        for key, expected in keys.items():
            value = context.get(key)
            values = as_list(expected)
            if operator in ("ArnLike", "ArnEquals"):
                ok = value is not None and any(arn_like(v, value) for v in values)
            elif operator in ("ArnNotLike", "ArnNotEquals"):
                ok = value is None or not any(arn_like(v, value) for v in values)
            elif operator == "StringEquals":
                ok = value is not None and value in values
            else:
                raise Unresolved(f"condition operator {operator}")
            if not ok:
                return False
    return True


def policy_denies(statements: list[dict], principal_arn: str | None, action: str) -> bool:
    """Whether a resource policy's Deny statements refuse the action to the principal."""
    context = {"aws:PrincipalArn": principal_arn}
    for statement in statements:
        if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
            continue
        if not any(wildcard(a, action) for a in as_list(statement.get("Action", []))):
            continue
        if condition_holds(statement.get("Condition", {}), context):
            return True
    return False


# ---------------------------------------------------------------------------
# One scenario
# ---------------------------------------------------------------------------
class Run:
    def __init__(self, aws: Aws, report: Report, scenario: Scenario, account: str) -> None:
        self.aws = aws
        self.r = report
        self.s = scenario
        self.account = account
        self.pseudo = {
            "AWS::StackName": scenario.stack,
            "AWS::Region": aws.region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.code_bucket = f"{scenario.stack}-code"

    # -- helpers -------------------------------------------------------------
    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.aws.region}:{self.account}:{resource}"

    def fn_name(self, key: str) -> str:
        return f"{self.s.stack}-{FUNCTIONS[key][0]}"

    @property
    def example_name(self) -> str:
        return f"{self.s.stack}-example"

    @property
    def app(self) -> bool:
        """App mode (GitHubAppId set): check runs as the App, no token secret."""
        return self.s.app_id is not None

    @property
    def redeliver(self) -> bool:
        """The redeliver function and its parts: App mode with RedeliverFailedDeliveries
        true, its default (as the scenario's parameters say, not the template)."""
        return self.app and self.s.params.get("RedeliverFailedDeliveries", "true") == "true"

    def functions(self) -> list[str]:
        """The FUNCTIONS keys of the functions this scenario deploys."""
        return [key for key in FUNCTIONS if key != "Redeliver" or self.redeliver]

    def github_secret(self) -> str:
        """The secret status reads in the scenario's mode: the App's key or the token."""
        s, a = self.s, self.attrs
        if self.app:
            return s.secret_arns.get("ExistingGitHubAppKeySecretArn") or a[("GitHubAppKeySecret", None)]
        return s.secret_arns.get("ExistingGitHubTokenSecretArn") or a[("GitHubTokenSecret", None)]

    def all_pipelines(self) -> list[str]:
        return ([self.example_name] if self.s.example else []) + self.s.pipelines

    def all_projects(self) -> list[str]:
        return ([self.example_name] if self.s.example else []) + self.s.projects

    def allowed_prefixes(self) -> list[str]:
        """Where the pruner may delete: PrunePrefixes, or NAME/ for each pipeline."""
        if self.s.prune_prefixes is not None:
            return self.s.prune_prefixes
        return [f"{name}/" for name in self.all_pipelines()]

    @property
    def bucket(self) -> str:
        return self.s.existing_bucket or self.phys["ArtifactBucket"]

    # -- 0: what the stack expects to exist, and the parameters ---------------
    def prepare(self) -> None:
        aws = self.aws
        aws.s3.create_bucket(Bucket=self.code_bucket)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as handle:
            handle.writestr("bootstrap", "#!/bin/sh\n")  # never run: moto does not invoke functions
        for key in FUNCTIONS:
            aws.s3.put_object(Bucket=self.code_bucket, Key=f"{key}Function.zip", Body=archive.getvalue())
        if self.s.existing_bucket:
            aws.s3.create_bucket(Bucket=self.s.existing_bucket)
        if self.s.existing_secrets:
            for param, name in [("ExistingWebhookSecretArn", "octo-webhook-secret"), ("ExistingGitHubTokenSecretArn", "octo-github-token")]:
                arn = aws.secretsmanager.create_secret(Name=name, SecretString="local")["ARN"]
                self.s.params[param] = arn
                self.s.secret_arns[param] = arn
        if self.s.existing_app_key:
            pem = "-----BEGIN RSA PRIVATE KEY-----\nlocal\n-----END RSA PRIVATE KEY-----\n"
            arn = aws.secretsmanager.create_secret(Name="octo-github-app-key", SecretString=pem)["ARN"]
            self.s.params["ExistingGitHubAppKeySecretArn"] = arn
            self.s.secret_arns["ExistingGitHubAppKeySecretArn"] = arn

    def check_parameters(self, template: dict) -> None:
        declared = template["Parameters"]
        bad = []
        for key, value in self.s.params.items():
            spec = declared.get(key)
            if spec is None:
                bad.append(f"{key} is not a parameter")
                continue
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                bad.append(f"{key}={value!r} not in AllowedValues")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                bad.append(f"{key}={value!r} does not match AllowedPattern")
        self.r.check("parameters satisfy the template's AllowedValues and AllowedPatterns", not bad, "; ".join(bad))
        # moto ignores the Rules section; evaluate it here so the parameter set is one
        # CloudFormation would accept.
        failed = [f"{rule}: {text}" for rule, text in RulesEvaluator(template, self.s.params).refusals()]
        self.r.check("parameters pass the template's Rules (moto does not evaluate them)", not failed, "; ".join(failed))

    # -- 1..3: translate, adapt, deploy ---------------------------------------
    def deploy(self) -> bool:
        aws = self.aws
        self.translated = translate(self.s.params, self.code_bucket)
        declared = self.translated["Parameters"]
        self.values = {key: str(spec.get("Default", "")) for key, spec in declared.items()}
        self.values.update(self.s.params)
        self.check_parameters(self.translated)
        self.adapted = adapt(self.translated, self.values, self.pseudo)
        self.cond = Resolver(self.translated, self.values, self.pseudo, {})
        body = json.dumps(self.adapted.template, separators=(",", ":"))
        aws.cloudformation.create_stack(
            StackName=self.s.stack,
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.s.params.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        try:
            aws.cloudformation.get_waiter("stack_create_complete").wait(
                StackName=self.s.stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        except Exception as error:  # noqa: BLE001 - reported below
            print(f"     waiting for the stack: {error}")
        stack = aws.cloudformation.describe_stacks(StackName=self.s.stack)["Stacks"][0]
        ok = self.r.equal(f"stack {self.s.stack} created", stack["StackStatus"], "CREATE_COMPLETE")
        if not ok:
            print(f"     reason: {stack.get('StackStatusReason')}")
            return False
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        summaries = aws.cloudformation.list_stack_resources(StackName=self.s.stack)["StackResourceSummaries"]
        # Moto lists the resources whose condition is false too, with an empty logical id.
        summaries = [item for item in summaries if item["LogicalResourceId"]]
        self.phys = {item["LogicalResourceId"]: item["PhysicalResourceId"] for item in summaries}
        status = {item["LogicalResourceId"]: item["ResourceStatus"] for item in summaries}
        expected = {
            lid
            for lid, res in self.adapted.template["Resources"].items()
            if "Condition" not in res or self.cond.condition(res["Condition"])
        }
        missing = sorted(expected - set(self.phys))
        extra = sorted(set(self.phys) - expected)
        self.r.check(
            f"every resource moto can create was created ({len(expected)})",
            not missing and not extra and all(status[lid] == "CREATE_COMPLETE" for lid in expected & set(status)),
            f"missing {missing}, unexpected {extra}",
        )
        self.collect_attributes()
        return True

    def collect_attributes(self) -> None:
        """What Ref and GetAtt give for each deployed resource, read through the APIs."""
        aws = self.aws
        attrs: dict[tuple[str, str | None], Any] = dict(self.adapted.placeholders)
        resources = self.adapted.template["Resources"]
        for lid, phys in self.phys.items():
            kind = resources[lid]["Type"]
            if kind == "AWS::SQS::Queue":
                queue = aws.sqs.get_queue_attributes(QueueUrl=phys, AttributeNames=["All"])["Attributes"]
                attrs[(lid, None)] = phys
                attrs[(lid, "Arn")] = queue["QueueArn"]
                attrs[(lid, "QueueName")] = queue["QueueArn"].rsplit(":", 1)[1]
            elif kind == "AWS::Lambda::Function":
                config = aws.lambda_.get_function(FunctionName=phys)["Configuration"]
                attrs[(lid, None)] = config["FunctionName"]
                attrs[(lid, "Arn")] = config["FunctionArn"]
            elif kind == "AWS::IAM::Role":
                role = aws.iam.get_role(RoleName=phys)["Role"]
                attrs[(lid, None)] = role["RoleName"]
                attrs[(lid, "Arn")] = role["Arn"]
            elif kind == "AWS::Logs::LogGroup":
                groups = aws.logs.describe_log_groups(logGroupNamePrefix=phys)["logGroups"]
                group = next(g for g in groups if g["logGroupName"] == phys)
                attrs[(lid, None)] = phys
                attrs[(lid, "Arn")] = group["arn"]  # with ":*", as CloudFormation's GetAtt
            elif kind == "AWS::S3::Bucket":
                attrs[(lid, None)] = phys
                attrs[(lid, "Arn")] = f"arn:aws:s3:::{phys}"
            elif kind == "AWS::Events::EventBus":
                bus = aws.events.describe_event_bus(Name=self.s.stack)
                attrs[(lid, None)] = bus["Name"]
                attrs[(lid, "Name")] = bus["Name"]
                attrs[(lid, "Arn")] = bus["Arn"]
            elif kind == "AWS::SNS::Topic":
                topic = aws.sns.get_topic_attributes(TopicArn=phys)["Attributes"]
                attrs[(lid, None)] = topic["TopicArn"]
                attrs[(lid, "TopicArn")] = topic["TopicArn"]
                attrs[(lid, "TopicName")] = topic["TopicArn"].rsplit(":", 1)[1]
            elif kind == "AWS::KMS::Key":
                key = aws.kms.describe_key(KeyId=phys)["KeyMetadata"]
                attrs[(lid, None)] = key["KeyId"]
                attrs[(lid, "KeyId")] = key["KeyId"]
                attrs[(lid, "Arn")] = key["Arn"]
            elif kind == "AWS::DynamoDB::Table":
                table = aws.dynamodb.describe_table(TableName=phys)["Table"]
                attrs[(lid, None)] = table["TableName"]
                attrs[(lid, "Arn")] = table["TableArn"]
            elif kind == "AWS::Events::Rule":
                attrs[(lid, None)] = phys
                # The template puts rules either on the default bus or on its own bus.
                bus = self.s.stack if "EventBusName" in resources[lid]["Properties"] else "default"
                attrs[(lid, "Arn")] = aws.events.describe_rule(Name=phys, EventBusName=bus)["Arn"]
        self.attrs = attrs
        self.res = Resolver(self.translated, self.values, self.pseudo, attrs)

    # -- 4: event bus and outputs -------------------------------------------
    def check_bus_and_outputs(self) -> None:
        aws, s = self.aws, self.s
        bus = aws.events.describe_event_bus(Name=s.stack)
        self.r.equal("custom event bus exists, named after the stack", bus["Name"], s.stack)
        self.r.equal("output EventBusName is the bus", self.outputs.get("EventBusName"), bus["Name"])
        self.r.equal("output EventBusArn is the bus", self.outputs.get("EventBusArn"), bus["Arn"])
        bucket = s.existing_bucket or self.phys.get("ArtifactBucket")
        self.r.equal("output ArtifactBucketName is the artifact bucket", self.outputs.get("ArtifactBucketName"), bucket)
        self.r.equal(
            "output WebhookSecretArn is the secret the webhook function reads",
            self.outputs.get("WebhookSecretArn"),
            s.secret_arns.get("ExistingWebhookSecretArn") or self.attrs.get(("WebhookSecret", None)),
        )
        # The credential's output: the one secret of the mode, and no output for the other.
        present, absent = ("GitHubAppKeySecretArn", "GitHubTokenSecretArn") if self.app else ("GitHubTokenSecretArn", "GitHubAppKeySecretArn")
        self.r.equal(f"output {present} is the secret the status function reads ({'App' if self.app else 'token'} mode)", self.outputs.get(present), self.github_secret())
        self.r.check(f"no output {absent} in {'App' if self.app else 'token'} mode", absent not in self.outputs, f"got {self.outputs.get(absent)!r}")
        self.r.equal("output LedgerTableName is the deployed ledger table", self.outputs.get("LedgerTableName"), self.phys.get("LedgerTable"))
        if s.example:
            self.r.equal("output ExamplePipelineName", self.outputs.get("ExamplePipelineName"), self.example_name)
        else:
            self.r.check("no output ExamplePipelineName without the example", "ExamplePipelineName" not in self.outputs)
        for key, queue in self.queue_outputs().items():
            if queue in self.phys:
                self.r.equal(f"output {key} is the URL of {queue}", self.outputs.get(key), self.phys[queue])
            else:
                self.r.check(f"no output {key} (no {queue})", key not in self.outputs, f"got {self.outputs.get(key)!r}")
        # The functions' names, for gantry --stack (which reads their settings).
        for key in FUNCTIONS:
            output = f"{key}FunctionName"
            if key in self.functions():
                self.r.equal(f"output {output} is the deployed {self.fn_name(key)}", self.outputs.get(output), self.fn_name(key))
            else:
                self.r.check(f"no output {output} (no {key.lower()} function here)", output not in self.outputs, f"got {self.outputs.get(output)!r}")
        unexpected = sorted(set(REDELIVER_OUTPUTS) & set(self.outputs)) if not self.redeliver else sorted(set(REDELIVER_OUTPUTS) - set(self.outputs))
        self.r.check(
            f"outputs {', '.join(REDELIVER_OUTPUTS)}: {'all present' if self.redeliver else 'none'} ({self.redeliver_label()})",
            not unexpected,
            str(unexpected),
        )

    def redeliver_label(self) -> str:
        if self.redeliver:
            return "App mode, RedeliverFailedDeliveries true"
        return "RedeliverFailedDeliveries false" if self.app else "token mode"

    def queue_outputs(self) -> dict[str, str]:
        return {
            "TriggerQueueUrl": "TriggerQueue",
            "TriggerDlqUrl": "TriggerDlq",
            "TriggerRuleDlqUrl": "TriggerRuleDlq",
            "StatusBuildRuleDlqUrl": "StatusBuildRuleDlq",
            "StatusPipelineRuleDlqUrl": "StatusPipelineRuleDlq",
            "PrunerScheduleDlqUrl": "PrunerScheduleDlq",
            "TriggerFailureQueueUrl": "TriggerFailureQueue",
            "StatusFailureQueueUrl": "StatusFailureQueue",
            "PrunerFailureQueueUrl": "PrunerFailureQueue",
            "RedeliverScheduleDlqUrl": "RedeliverScheduleDlq",
            "RedeliverFailureQueueUrl": "RedeliverFailureQueue",
        }

    # -- 5: functions --------------------------------------------------------
    def expected_env(self, key: str) -> dict[str, str]:
        s = self.s
        webhook_secret = s.secret_arns.get("ExistingWebhookSecretArn") or self.attrs[("WebhookSecret", None)]
        if key == "Webhook":
            return {"GANTRY_EVENT_BUS": s.stack, "GANTRY_WEBHOOK_SECRET_ARN": webhook_secret}
        if self.app:
            credential = {"GANTRY_GITHUB_APP_ID": s.app_id, "GANTRY_GITHUB_APP_KEY_ARN": self.github_secret()}
        else:
            credential = {"GANTRY_GITHUB_TOKEN_ARN": self.github_secret()}
        github = {
            **credential,
            "GANTRY_GITHUB_API_URL": self.values["GitHubApiUrl"],
            "GANTRY_STATUS_CONFIG": self.values["StatusConfigJson"],
        }
        if key == "Trigger":
            if s.routes is None:
                routes = {
                    "routes": [
                        {
                            "name": "example",
                            "repository": s.params["FullRepositoryId"],
                            "branches": [self.values["ExampleBranch"]],
                            "pipeline": self.example_name,
                            "fork_pull_requests": "ignore",
                        }
                    ]
                }
            else:
                routes = s.routes
            return {
                "GANTRY_ROUTES": routes,  # compared as JSON
                "GANTRY_LEDGER_TABLE": self.phys["LedgerTable"],
                "GANTRY_TRIGGER_QUEUE_URL": self.phys["TriggerQueue"],
                "GANTRY_TRIGGER_DLQ_URL": self.phys["TriggerDlq"],
                # status's GitHub settings, the same values.
                **github,
            }
        if key == "Status":
            return {**github, "GANTRY_LEDGER_TABLE": self.phys["LedgerTable"]}
        if key == "Redeliver":
            # status's App-mode settings, the same values.
            return {
                "GANTRY_GITHUB_APP_ID": s.app_id,
                "GANTRY_GITHUB_APP_KEY_ARN": self.github_secret(),
                "GANTRY_GITHUB_API_URL": self.values["GitHubApiUrl"],
                "GANTRY_REDELIVER_WINDOW_MINUTES": self.values["RedeliveryWindowMinutes"],
            }
        return {
            "GANTRY_ARTIFACT_BUCKET": self.bucket,
            "GANTRY_PIPELINES": ",".join(self.all_pipelines()),
            "GANTRY_PRUNE_POLICY": self.values["PrunePolicyJson"],
            "GANTRY_DRY_RUN": self.values["DryRun"],
            "GANTRY_PRUNE_ALLOWED_PREFIXES": ",".join(self.allowed_prefixes()),
        }

    def check_functions(self) -> None:
        aws, s = self.aws, self.s
        roles = {}
        for key in self.functions():
            suffix, memory, timeout, reserved = FUNCTIONS[key]
            name = self.fn_name(key)
            got = aws.lambda_.get_function(FunctionName=name)
            config = got["Configuration"]
            self.r.equal(f"function {name}: runtime", config.get("Runtime"), "provided.al2023")
            self.r.equal(f"function {name}: handler", config.get("Handler"), "bootstrap")
            parameter = FUNCTION_MEMORY_PARAMETERS.get(key)
            if parameter:
                memory = int(self.values[parameter])
                self.r.equal(f"function {name}: memory (MB) is {parameter} ({self.values[parameter]})", config.get("MemorySize"), memory)
            else:
                self.r.equal(f"function {name}: memory (MB)", config.get("MemorySize"), memory)
            self.r.equal(f"function {name}: timeout (s)", config.get("Timeout"), timeout)
            self.r.equal(f"function {name}: role is {key}Role", config.get("Role"), self.attrs[(f"{key}Role", "Arn")])
            roles[name] = config.get("Role")
            env = dict(config.get("Environment", {}).get("Variables", {}))
            expected = self.expected_env(key)
            names = function_env(key, self.app)
            self.r.equal(f"function {name}: sets exactly {', '.join(names)}", sorted(env), sorted(names))
            if key in GITHUB_FUNCTIONS or key in APP_ONLY_FUNCTIONS:
                other = STATUS_MODE_ENV["token" if self.app else "app"]
                self.r.check(
                    f"function {name}: {'App' if self.app else 'token'} mode, none of the other mode's {', '.join(other)} (gantry-core's Credential refuses both)",
                    not set(other) & set(env),
                    str(sorted(set(other) & set(env))),
                )
            self.r.check(
                f"function {name}: no RUST_LOG (it would override the level Lambda sets in AWS_LAMBDA_LOG_LEVEL)",
                "RUST_LOG" not in env,
                f"RUST_LOG={env.get('RUST_LOG')!r}",
            )
            for var, value in expected.items():
                actual = env.get(var)
                if isinstance(value, dict):
                    try:
                        actual = json.loads(actual)
                    except (TypeError, ValueError):
                        pass
                label = ""
                if isinstance(actual, (int, float)) and not isinstance(actual, bool):
                    # A Ref to a Number parameter is a string in CloudFormation ("the
                    # parameter value becomes a string"); moto's passes the number.
                    print(f"     note: moto set {var} of {name} to the number {actual!r}; CloudFormation sets the string")
                    actual, label = str(actual), " (moto's number, as the string CloudFormation sets)"
                self.r.equal(f"function {name}: {var}{label}", actual, value)
            concurrency = got.get("Concurrency", {}).get("ReservedConcurrentExecutions")
            if reserved is None:
                self.r.equal(
                    f"function {name}: no reserved concurrency, whatever ReservedConcurrency says (its event source mapping caps it)",
                    concurrency,
                    None,
                )
            else:
                self.r.equal(f"function {name}: reserved concurrency", concurrency, reserved if s.reserved else None)
            # moto's CloudFormation ignores these properties (IGNORED_PROPERTIES):
            # checked in the translated template.
            props = self.translated["Resources"][f"{key}Function"]["Properties"]
            self.r.equal(f"function {name}: Architectures [template]", props.get("Architectures"), ["arm64"])
            self.r.equal(f"function {name}: TracingConfig [template]", props.get("TracingConfig"), {"Mode": "Active"})
            logging = self.res.value(props.get("LoggingConfig", {}))
            self.r.equal(f"function {name}: JSON logs [template]", logging.get("LogFormat"), "JSON")
            self.r.equal(
                f"function {name}: logs to the deployed /aws/lambda/{name} [template]",
                logging.get("LogGroup"),
                f"/aws/lambda/{name}",
            )
            self.r.equal(
                f"function {name}: application log level is LogLevel [template]",
                logging.get("ApplicationLogLevel"),
                self.values["LogLevel"],
            )
            self.r.equal(
                f"function {name}: system log level is PlatformLogLevel ({self.values['PlatformLogLevel']}) [template]",
                logging.get("SystemLogLevel"),
                self.values["PlatformLogLevel"],
            )
        self.r.check("each function has a role of its own", len(set(roles.values())) == len(roles), str(roles))
        absent = [key for key in FUNCTIONS if key not in self.functions()]
        deployed = {f["FunctionName"] for page in aws.lambda_.get_paginator("list_functions").paginate() for f in page["Functions"]}
        self.r.equal(
            f"functions deployed: exactly {', '.join(self.fn_name(k) for k in self.functions())}"
            + (f" (none of {', '.join(k.lower() for k in absent)}: {self.redeliver_label()})" if absent else ""),
            sorted(deployed),
            sorted(self.fn_name(k) for k in self.functions()),
        )
        self.check_redeliver_resources()

    def check_redeliver_resources(self) -> None:
        """The redeliver function's parts: all of them (REDELIVER_RESOURCES, each under
        the Redeliver condition) in App mode with RedeliverFailedDeliveries true, none
        otherwise, whether moto deploys the type or not."""
        resources = self.translated["Resources"]
        declared = sorted(lid for lid in resources if lid.startswith("Redeliver"))
        # SAM's EventInvokeConfig of RedeliverFunction comes with it, under its condition.
        wanted = sorted(REDELIVER_RESOURCES + ["RedeliverFunctionEventInvokeConfig"])
        self.r.equal("the redeliver function's resources: exactly REDELIVER_RESOURCES and SAM's event invoke config [template]", declared, wanted)
        self.r.check(
            f"the redeliver function's resources: every one under the condition {REDELIVER_CONDITION} [template]",
            all(resources[lid].get("Condition") == REDELIVER_CONDITION for lid in declared),
            str({lid: resources[lid].get("Condition") for lid in declared if resources[lid].get("Condition") != REDELIVER_CONDITION}),
        )
        self.r.equal(f"condition {REDELIVER_CONDITION} is {self.redeliver} here ({self.redeliver_label()})", self.cond.condition(REDELIVER_CONDITION), self.redeliver)
        created = sorted(lid for lid in declared if lid in self.phys)
        deployable = sorted(lid for lid in declared if lid in self.adapted.template["Resources"])
        if self.redeliver:
            self.r.equal(f"the redeliver function's resources moto can create are all created ({len(deployable)})", created, deployable)
        else:
            self.r.equal(f"none of the redeliver function's resources created ({self.redeliver_label()})", created, [])

    # -- 6: log groups -------------------------------------------------------
    def check_log_groups(self) -> None:
        retention = int(self.values["LogRetentionInDays"])
        groups = {g["logGroupName"]: g for g in self.aws.logs.describe_log_groups()["logGroups"]}
        names = [f"/aws/lambda/{self.fn_name(key)}" for key in self.functions()]
        if self.s.example:
            names.append(f"/aws/codebuild/{self.example_name}")
        self.r.equal("log groups: exactly the deployed functions' (and the example build's)", sorted(groups), sorted(names))
        for name in names:
            group = groups.get(name)
            self.r.check(f"log group {name} exists", group is not None)
            if group is not None:
                self.r.equal(f"log group {name}: retention (days)", group.get("retentionInDays"), retention)

    # -- 7: queues -----------------------------------------------------------
    def check_queues(self) -> None:
        dlqs = ["TriggerRuleDlq", "StatusBuildRuleDlq", "StatusPipelineRuleDlq", "PrunerScheduleDlq", "RedeliverScheduleDlq"]
        failure = ["TriggerFailureQueue", "StatusFailureQueue", "PrunerFailureQueue", "RedeliverFailureQueue", "TriggerDlq"]
        stack_queues = sorted(lid for lid in self.phys if self.adapted.template["Resources"][lid]["Type"] == "AWS::SQS::Queue")
        self.r.equal(
            "queues deployed: the rule DLQs, the failure queues, TriggerQueue and TriggerDlq",
            stack_queues,
            sorted(lid for lid in dlqs + failure + ["TriggerQueue"] if lid in self.phys),
        )
        self.check_trigger_queue()
        for lid in dlqs + failure:
            if lid not in self.phys:
                if lid.startswith("Redeliver"):
                    self.r.check(f"queue {lid} not created (no redeliver function: {self.redeliver_label()})", not self.redeliver)
                    continue
                expected_absent = (lid == "StatusBuildRuleDlq" and not self.all_projects()) or (
                    lid == "StatusPipelineRuleDlq" and not self.all_pipelines()
                )
                self.r.check(f"queue {lid} not created (nothing to report on)", expected_absent)
                continue
            attributes = self.aws.sqs.get_queue_attributes(QueueUrl=self.phys[lid], AttributeNames=["All"])["Attributes"]
            self.r.equal(f"queue {lid}: keeps messages 14 days", attributes.get("MessageRetentionPeriod"), SQS_MAX_RETENTION)
            if lid in dlqs:
                # EventBridge cannot write to a queue under aws/sqs: SSE-SQS only.
                self.r.check(
                    f"queue {lid}: SSE-SQS, no KMS key",
                    attributes.get("SqsManagedSseEnabled") == "true" and "KmsMasterKeyId" not in attributes,
                    str({k: attributes.get(k) for k in ["SqsManagedSseEnabled", "KmsMasterKeyId"]}),
                )
            else:
                self.r.equal(f"queue {lid}: KMS key aws/sqs", attributes.get("KmsMasterKeyId"), "alias/aws/sqs")
            # Terminal queues: nothing moves their messages on by itself.
            self.r.check(f"queue {lid}: no redrive policy of its own (a terminal queue)", "RedrivePolicy" not in attributes, str(attributes.get("RedrivePolicy")))

    def check_trigger_queue(self) -> None:
        """TriggerQueue: what TriggerRule delivers and trigger consumes, with TriggerDlq
        behind it."""
        if not self.r.check("queue TriggerQueue created", "TriggerQueue" in self.phys) or "TriggerDlq" not in self.phys:
            return
        attributes = self.aws.sqs.get_queue_attributes(QueueUrl=self.phys["TriggerQueue"], AttributeNames=["All"])["Attributes"]
        props = self.translated["Resources"]["TriggerQueue"]["Properties"]
        self.r.equal("queue TriggerQueue: keeps messages 4 days", attributes.get("MessageRetentionPeriod"), TRIGGER_QUEUE_RETENTION)
        # EventBridge writes it: SSE-SQS only, as the rule DLQs.
        self.r.check(
            "queue TriggerQueue: SSE-SQS, no KMS key (EventBridge cannot send to a queue under aws/sqs)",
            attributes.get("SqsManagedSseEnabled") == "true" and "KmsMasterKeyId" not in attributes,
            str({k: attributes.get(k) for k in ["SqsManagedSseEnabled", "KmsMasterKeyId"]}),
        )
        timeout = self.aws.lambda_.get_function(FunctionName=self.fn_name("Trigger"))["Configuration"]["Timeout"]
        visibility = int(attributes.get("VisibilityTimeout", "30"))
        self.r.check(
            f"queue TriggerQueue: visibility timeout {visibility} s at least {SQS_VISIBILITY_PER_FUNCTION_TIMEOUT} x trigger's deployed timeout ({timeout} s)",
            visibility >= SQS_VISIBILITY_PER_FUNCTION_TIMEOUT * timeout,
        )
        redrive = attributes.get("RedrivePolicy")
        if redrive is not None:
            redrive, label = json.loads(redrive) if isinstance(redrive, str) else redrive, ""
        else:
            redrive, label = self.res.value(props.get("RedrivePolicy", {})), " [template]"
        self.r.equal(
            f"queue TriggerQueue: redrive policy moves a message to the deployed TriggerDlq after {TRIGGER_QUEUE_MAX_RECEIVES} receives{label}",
            (redrive.get("deadLetterTargetArn"), int(redrive.get("maxReceiveCount", 0))),
            (self.attrs[("TriggerDlq", "Arn")], TRIGGER_QUEUE_MAX_RECEIVES),
        )
        dlq = self.aws.sqs.get_queue_attributes(QueueUrl=self.phys["TriggerDlq"], AttributeNames=["All"])["Attributes"]
        # A message moved to a dead-letter queue keeps its first enqueue time, and
        # expires by it: the DLQ must keep messages longer than the source queue.
        self.r.check(
            "queue TriggerDlq: keeps messages longer than TriggerQueue (a moved message keeps its enqueue time)",
            int(dlq.get("MessageRetentionPeriod", "0")) > int(attributes.get("MessageRetentionPeriod", "0")),
            f"{dlq.get('MessageRetentionPeriod')} vs {attributes.get('MessageRetentionPeriod')}",
        )
        waits = [trigger_backoff(n) for n in range(1, TRIGGER_QUEUE_MAX_RECEIVES)]
        self.r.check(
            f"queue TriggerQueue: keeps a message well past its {TRIGGER_QUEUE_MAX_RECEIVES} tries ({sum(waits)} s of backoff plus a visibility timeout per try)",
            int(attributes.get("MessageRetentionPeriod", "0")) > sum(waits) + TRIGGER_QUEUE_MAX_RECEIVES * visibility,
        )
        # The template declares no RedriveAllowPolicy (byQueue would be a circular
        # dependency with TriggerQueue's RedrivePolicy): the default lets TriggerQueue
        # use it, and start-message-move-task needs it to be TriggerQueue's DLQ.
        self.r.check(
            "queue TriggerDlq: no RedriveAllowPolicy refusing TriggerQueue (default allowAll) [template]",
            "RedriveAllowPolicy" not in self.translated["Resources"]["TriggerDlq"]["Properties"],
        )

    # -- 8: rules ------------------------------------------------------------
    def rules_by_logical_id(self) -> dict[str, tuple[str, dict]]:
        found = {}
        for bus in [self.s.stack, "default"]:
            for rule in self.aws.events.list_rules(EventBusName=bus)["Rules"]:
                for lid, phys in self.phys.items():
                    if phys == rule["Name"]:
                        found[lid] = (bus, rule)
        return found

    def expected_rules(self) -> dict[str, dict]:
        rules = {
            # target: the logical id of the resource the rule sends to.
            "TriggerRule": {
                "bus": self.s.stack,
                "pattern": {
                    "source": ["gantry.github"],
                    "detail-type": ["GitHub Push", "GitHub Pull Request", "GitHub Merge Group", "GitHub Check Run", "GitHub Check Suite", "GitHub Issue Comment"],
                },
                "target": "TriggerQueue",
                "dlq": "TriggerRuleDlq",
            },
            "PrunerSchedule": {
                "bus": "default",
                "schedule": self.values["PruneSchedule"],
                "target": "PrunerFunction",
                "dlq": "PrunerScheduleDlq",
            },
        }
        if self.redeliver:
            rules["RedeliverSchedule"] = {
                "bus": "default",
                "schedule": self.values["RedeliverySchedule"],
                "target": "RedeliverFunction",
                "dlq": "RedeliverScheduleDlq",
            }
        if self.all_projects():
            rules["StatusBuildRule"] = {
                "bus": "default",
                "pattern": {
                    "source": ["aws.codebuild"],
                    "detail-type": ["CodeBuild Build State Change"],
                    "detail": {"project-name": self.all_projects()},
                },
                "target": "StatusFunction",
                "dlq": "StatusBuildRuleDlq",
            }
        if self.all_pipelines():
            rules["StatusPipelineRule"] = {
                "bus": "default",
                "pattern": {
                    "source": ["aws.codepipeline"],
                    "detail-type": [
                        "CodePipeline Pipeline Execution State Change",
                        "CodePipeline Stage Execution State Change",
                    ],
                    "detail": {"pipeline": self.all_pipelines()},
                },
                "target": "StatusFunction",
                "dlq": "StatusPipelineRuleDlq",
            }
        return rules

    def check_rules(self) -> None:
        aws = self.aws
        found = self.rules_by_logical_id()
        expected = self.expected_rules()
        self.r.equal("rules deployed", sorted(found), sorted(expected))
        for bus in [self.s.stack, "default"]:
            names = sorted(r["Name"] for r in aws.events.list_rules(EventBusName=bus)["Rules"])
            mine = sorted(self.phys[lid] for lid, spec in expected.items() if spec["bus"] == bus)
            self.r.equal(f"bus {bus} holds exactly the stack's rules for it", names, mine)
        for lid, spec in expected.items():
            if lid not in found:
                continue
            bus, rule = found[lid]
            self.r.equal(f"rule {lid}: on bus {spec['bus']}", bus, spec["bus"])
            self.r.equal(f"rule {lid}: enabled", rule.get("State"), "ENABLED")
            if "pattern" in spec:
                self.r.equal(f"rule {lid}: event pattern", json.loads(rule.get("EventPattern", "null")), spec["pattern"])
            else:
                self.r.equal(f"rule {lid}: schedule", rule.get("ScheduleExpression"), spec["schedule"])
                self.r.check(f"rule {lid}: no event pattern", "EventPattern" not in rule)
            targets = aws.events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            self.r.equal(f"rule {lid}: one target", len(targets), 1)
            if not targets:
                continue
            target = targets[0]
            kind = self.adapted.template["Resources"][spec["target"]]["Type"]
            what = self.fn_name(spec["target"].removesuffix("Function")) if kind == "AWS::Lambda::Function" else f"the deployed {spec['target']}"
            self.r.equal(f"rule {lid}: targets {what}", target.get("Arn"), self.attrs[(spec["target"], "Arn")])
            self.r.equal(
                f"rule {lid}: retry policy (24 attempts, 1 hour)",
                target.get("RetryPolicy"),
                {"MaximumRetryAttempts": 24, "MaximumEventAgeInSeconds": 3600},
            )
            self.r.equal(
                f"rule {lid}: dead-letter queue is {spec['dlq']}",
                target.get("DeadLetterConfig", {}).get("Arn"),
                self.attrs.get((spec["dlq"], "Arn")),
            )
            self.r.check(f"rule {lid}: target passes the event unchanged", not ({"Input", "InputPath", "InputTransformer"} & set(target)))
        dlqs = [spec["dlq"] for spec in expected.values()]
        self.r.check("each rule has a dead-letter queue of its own", len(set(dlqs)) == len(dlqs), str(dlqs))

    # -- 9: Lambda permissions ----------------------------------------------
    def check_permissions(self) -> None:
        rules = self.expected_rules()
        for key in self.functions():
            name = self.fn_name(key)
            try:
                statements = json.loads(self.aws.lambda_.get_policy(FunctionName=name)["Policy"])["Statement"]
            except self.aws.lambda_.exceptions.ResourceNotFoundException:
                statements = []  # no resource policy at all
            if key == "Webhook":
                url = [st for st in statements if st.get("Action") == "lambda:InvokeFunctionUrl"]
                invoke = [st for st in statements if st.get("Action") == "lambda:InvokeFunction"]
                self.r.check(
                    f"function {name}: anyone may invoke the Function URL (auth NONE), and only that",
                    len(statements) == 2
                    and len(url) == 1
                    and url[0].get("Principal") == "*"
                    and url[0].get("FunctionUrlAuthType") == "NONE"
                    and len(invoke) == 1
                    and invoke[0].get("Principal") == "*"
                    and invoke[0].get("InvokedViaFunctionUrl") in (True, "true"),
                    json.dumps(statements),
                )
                continue
            sources = sorted(
                st.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "")
                for st in statements
                if st.get("Principal") in ({"Service": "events.amazonaws.com"}, "events.amazonaws.com")
                and st.get("Action") == "lambda:InvokeFunction"
            )
            wanted = sorted(self.attrs[(lid, "Arn")] for lid, spec in rules.items() if spec["target"] == f"{key}Function")
            if not wanted:
                # trigger: its event source mapping invokes it as Lambda itself, with
                # no resource policy; the rule sends to TriggerQueue.
                self.r.equal(f"function {name}: no resource policy (no rule invokes it; its event source mapping needs none)", statements, [])
                continue
            self.r.equal(f"function {name}: EventBridge may invoke it from exactly its rules", sources, wanted)
            self.r.equal(f"function {name}: no other invoke permission", len(statements), len(wanted))

    # -- 9b: TriggerQueue -> trigger -----------------------------------------
    def check_event_source_mapping(self) -> None:
        """The SAM event TriggerQueue of TriggerFunction: one event source mapping,
        read back from moto (which creates it from CloudFormation and keeps its
        settings), the translated template where moto reports nothing."""
        lam, res = self.aws.lambda_, self.res
        resources = self.translated["Resources"]
        mappings = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"}
        if not self.r.equal(
            "event source mappings: exactly one, SAM's from TriggerFunction's TriggerQueue event [template]",
            sorted(mappings),
            ["TriggerFunctionTriggerQueue"],
        ):
            return
        props = res.value(mappings["TriggerFunctionTriggerQueue"]["Properties"])
        self.r.equal(
            "TriggerFunctionTriggerQueue: the deployed TriggerQueue to the trigger function [template]",
            (props.get("EventSourceArn"), props.get("FunctionName")),
            (self.attrs[("TriggerQueue", "Arn")], self.fn_name("Trigger")),
        )
        deployed = lam.list_event_source_mappings(FunctionName=self.fn_name("Trigger"))["EventSourceMappings"]
        others = [m for key in self.functions() if key != "Trigger" for m in lam.list_event_source_mappings(FunctionName=self.fn_name(key))["EventSourceMappings"]]
        self.r.check("no event source mapping on the other functions", not others, json.dumps(others, default=str)[:300])
        if not self.r.equal("trigger: one event source mapping deployed", len(deployed), 1):
            return
        mapping = deployed[0]
        self.r.equal(
            "trigger's event source mapping: from the deployed TriggerQueue, enabled",
            (mapping.get("EventSourceArn"), mapping.get("FunctionArn"), mapping.get("State")),
            (self.attrs[("TriggerQueue", "Arn")], self.attrs[("TriggerFunction", "Arn")], "Enabled"),
        )
        # FunctionResponseTypes ReportBatchItemFailures: a failed message is reported on
        # its own, and trigger hides it for its backoff; the batch's others are done.
        for key, wanted in TRIGGER_QUEUE_MAPPING.items():
            if key in mapping:
                self.r.equal(f"trigger's event source mapping: {key} {json.dumps(wanted)}", mapping[key], wanted)
            else:
                self.r.equal(f"trigger's event source mapping: {key} {json.dumps(wanted)} [template]", props.get(key), wanted)
        # The cap is the mapping's, not the function's: a throttled invocation would
        # return its messages and use up their tries (check_functions reads the
        # deployed function; this, the property in every scenario).
        function = resources["TriggerFunction"]["Properties"]
        self.r.check(
            "TriggerFunction: no ReservedConcurrentExecutions at all (the mapping's MaximumConcurrency caps it) [template]",
            "ReservedConcurrentExecutions" not in function,
            str(function.get("ReservedConcurrentExecutions")),
        )

    # -- 10: IAM -------------------------------------------------------------
    def pipeline_arns(self, names: list[str]) -> set[str]:
        return {self.arn("codepipeline", name) for name in names}

    def project_arns(self, names: list[str]) -> set[str]:
        return {self.arn("codebuild", f"project/{name}") for name in names}

    def report_group_arns(self, names: list[str]) -> set[str]:
        """The report groups a buildspec creates for each project: PROJECT-NAME."""
        return {self.arn("codebuild", f"report-group/{name}-*") for name in names}

    def expected_permissions(self) -> dict[str, dict[str, set[str]]]:
        """Role logical id -> action -> resources, as README and the template describe."""
        s = self.s
        a = self.attrs
        log = lambda lid: {log_group_arn(a[(lid, "Arn")])}  # noqa: E731
        bucket = s.existing_bucket or self.phys.get("ArtifactBucket")
        bucket_arn = f"arn:aws:s3:::{bucket}"
        webhook_secret = s.secret_arns.get("ExistingWebhookSecretArn") or a[("WebhookSecret", None)]
        pipelines = self.pipeline_arns(self.all_pipelines())
        table = a[("LedgerTable", "Arn")]
        common = lambda fn: {**{x: log(f"{fn}LogGroup") for x in LOG_ACTIONS}, **{x: {"*"} for x in XRAY_ACTIONS}}  # noqa: E731
        roles: dict[str, dict[str, set[str]]] = {
            "WebhookRole": {
                **common("Webhook"),
                "events:PutEvents": {a[("EventBus", "Arn")]},
                "secretsmanager:GetSecretValue": {webhook_secret},
            },
            "TriggerRole": {
                **common("Trigger"),
                # Lambda (direct asynchronous invocations) and trigger (permanent failures).
                "sqs:SendMessage": {a[("TriggerFailureQueue", "Arn")], a[("TriggerDlq", "Arn")]},
                # The event source mapping, as trigger's role; and trigger's backoff.
                **{x: {a[("TriggerQueue", "Arn")]} for x in EVENT_SOURCE_MAPPING_ACTIONS | {"sqs:ChangeMessageVisibility"}},
                "codepipeline:StartPipelineExecution": pipelines,
                "codepipeline:ListPipelineExecutions": pipelines,
                "codepipeline:GetPipelineExecution": pipelines,
                # A superseded or dequeued group's execution (cancel_in_progress, merge queue).
                "codepipeline:StopPipelineExecution": pipelines,
                # GitHub's "Retry failed actions" and a stage run's "Re-run": the
                # failed stage found from the execution's actions, then retried.
                "codepipeline:RetryStageExecution": pipelines,
                "codepipeline:ListActionExecutions": pipelines,
                # A per_stage pipeline's stages: the contexts of a waiting or skipped note.
                "codepipeline:GetPipeline": pipelines,
                "dynamodb:GetItem": {table},
                "dynamodb:PutItem": {table},
                "dynamodb:UpdateItem": {table},
                "dynamodb:Query": {table, f"{table}/index/*"},
                # status's secret, for routes whose fork_pull_requests is "approve": a
                # `/gantry run` commenter's permission and the pull request are read
                # from GitHub, and the waiting status (check run) posted.
                "secretsmanager:GetSecretValue": {self.github_secret()},
            },
            "StatusRole": {
                **common("Status"),
                "sqs:SendMessage": {a[("StatusFailureQueue", "Arn")]},
                # Only the secret of its mode: the App's key, or the token.
                "secretsmanager:GetSecretValue": {self.github_secret()},
                # The check runs' items, on the table itself (no index).
                "dynamodb:GetItem": {table},
                "dynamodb:PutItem": {table},
                "dynamodb:UpdateItem": {table},
                "dynamodb:DeleteItem": {table},
                "dynamodb:Query": {table},
                "codepipeline:GetPipelineExecution": pipelines,
                "codepipeline:ListActionExecutions": pipelines,
                "codepipeline:GetPipeline": pipelines,
                # A stopped execution's stop reason (stopTrigger), for its title.
                "codepipeline:ListPipelineExecutions": pipelines,
                "codebuild:BatchGetBuilds": self.project_arns(self.all_projects()),
                # A finished build's test reports and failed cases (App mode's check
                # runs; granted in both modes), in its project's report groups.
                "codebuild:BatchGetReports": self.report_group_arns(self.all_projects()),
                "codebuild:DescribeTestCases": self.report_group_arns(self.all_projects()),
                # A failed build's log tail (opted in by GANTRY_STATUS_CONFIG's
                # log_lines): CodeBuild's default groups, /aws/codebuild/PROJECT, since a
                # pipeline's build projects are not listed in the template.
                "logs:GetLogEvents": {self.arn("logs", "log-group:/aws/codebuild/*")},
                # The raw JUnit XML of test reports: TestReportBucket, else the artifact bucket.
                "s3:GetObject": {f"arn:aws:s3:::{s.test_report_bucket or bucket}/*"},
            },
            "PrunerRole": {
                **common("Pruner"),
                "sqs:SendMessage": {a[("PrunerFailureQueue", "Arn")]},
                "s3:ListBucketVersions": {bucket_arn},
                "s3:DeleteObject": {f"{bucket_arn}/{prefix}*" for prefix in self.allowed_prefixes()},
                "s3:DeleteObjectVersion": {f"{bucket_arn}/{prefix}*" for prefix in self.allowed_prefixes()},
                "codepipeline:ListPipelineExecutions": pipelines,
                "codepipeline:ListActionExecutions": pipelines,
                "codepipeline:ListPipelines": {"*"},
            },
        }
        if self.redeliver:
            roles["RedeliverRole"] = {
                **common("Redeliver"),
                "sqs:SendMessage": {a[("RedeliverFailureQueue", "Arn")]},
                # The App's key only (App mode), as status's in App mode: the JWT.
                "secretsmanager:GetSecretValue": {self.github_secret()},
            }
        # The example project's source is the pipeline: only the pipeline starts it.
        if s.projects:
            for action in ["codebuild:StartBuild", "codebuild:ListBuildsForProject", "codebuild:BatchGetBuilds", "codebuild:StopBuild"]:
                roles["TriggerRole"][action] = self.project_arns(s.projects)
        if s.secrets_key:
            roles["WebhookRole"]["kms:Decrypt"] = {s.secrets_key}
            roles["TriggerRole"]["kms:Decrypt"] = {s.secrets_key}
            roles["StatusRole"]["kms:Decrypt"] = {s.secrets_key}
            if self.redeliver:
                roles["RedeliverRole"]["kms:Decrypt"] = {s.secrets_key}
        if s.artifact_key:
            roles["PrunerRole"]["kms:Decrypt"] = {s.artifact_key}
            # Raw test reports in the artifact bucket, under its key.
            if not s.test_report_bucket:
                roles["StatusRole"].setdefault("kms:Decrypt", set()).add(s.artifact_key)
        for role in roles.values():
            for action in [k for k, v in role.items() if not v]:
                del role[action]
        if s.example:
            project = self.arn("codebuild", f"project/{self.example_name}")
            roles["ExampleBuildRole"] = {
                **{x: log("ExampleBuildLogGroup") for x in LOG_ACTIONS},
                # Only the example pipeline's own artifact folder.
                "s3:GetObject": {f"{bucket_arn}/{self.example_name}/*"},
                "s3:GetObjectVersion": {f"{bucket_arn}/{self.example_name}/*"},
                "s3:GetBucketAcl": {bucket_arn},
                "s3:GetBucketLocation": {bucket_arn},
            }
            roles["ExamplePipelineRole"] = {
                "codestar-connections:UseConnection": {s.params["ConnectionArn"]},
                "codeconnections:UseConnection": {s.params["ConnectionArn"]},
                **{
                    x: {f"{bucket_arn}/*"}
                    for x in ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectVersionAcl"]
                },
                "s3:GetBucketVersioning": {bucket_arn},
                "s3:GetBucketLocation": {bucket_arn},
                "codebuild:StartBuild": {project},
                "codebuild:BatchGetBuilds": {project},
                "codebuild:StopBuild": {project},
            }
            if s.artifact_key:
                for lid in ["ExampleBuildRole", "ExamplePipelineRole"]:
                    roles[lid]["kms:Decrypt"] = {s.artifact_key}
                    roles[lid]["kms:GenerateDataKey"] = {s.artifact_key}
        return roles

    def expected_conditions(self) -> dict[str, dict[str, dict]]:
        """Role logical id -> "action on resource" -> the Condition its statement must
        carry. Every KMS permission is usable only through the service that holds the
        data: Secrets Manager for SecretsKmsKeyArn, S3 for ArtifactBucketKmsKeyArn
        (status holds both when both are set)."""
        via = lambda service: {"StringEquals": {"kms:ViaService": f"{service}.{self.aws.region}.amazonaws.com"}}  # noqa: E731
        wanted: dict[str, dict[str, dict]] = {}
        for lid, actions in self.expected_permissions().items():
            for action, resources in actions.items():
                if not action.startswith("kms:"):
                    continue
                for key in resources:
                    service = "secretsmanager" if key == self.s.secrets_key else "s3"
                    wanted.setdefault(lid, {})[f"{action} on {key}"] = via(service)
        return wanted

    def check_iam(self) -> None:
        iam = self.aws.iam
        expected = self.expected_permissions()
        conditions = self.expected_conditions()
        stack_roles = sorted(lid for lid, res in self.adapted.template["Resources"].items() if res["Type"] == "AWS::IAM::Role" and lid in self.phys)
        self.r.equal("roles deployed", stack_roles, sorted(expected))
        principals = {"ExampleBuildRole": "codebuild.amazonaws.com", "ExamplePipelineRole": "codepipeline.amazonaws.com"}
        for lid in stack_roles:
            name = self.phys[lid]
            role = iam.get_role(RoleName=name)["Role"]
            trust = policy_document(role["AssumeRolePolicyDocument"])["Statement"]
            service = principals.get(lid, "lambda.amazonaws.com")
            self.r.check(
                f"role {lid}: only {service} may assume it",
                len(trust) == 1 and trust[0].get("Principal") == {"Service": service} and trust[0].get("Action") == "sts:AssumeRole",
                json.dumps(trust),
            )
            if lid in principals:
                self.r.equal(
                    f"role {lid}: assumed only for this account (confused deputy)",
                    trust[0].get("Condition"),
                    {"StringEquals": {"aws:SourceAccount": self.account}},
                )
            self.r.equal(f"role {lid}: no managed policies", iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"], [])
            granted: dict[str, set[str]] = {}
            granted_conditions: dict[str, dict] = {}
            problems = []
            size = 0
            for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                document = policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
                size += len(re.sub(r"\s", "", json.dumps(document)))
                for statement in as_list(document["Statement"]):
                    if statement is None:
                        # Moto keeps an Fn::If that gives AWS::NoValue as null in a list;
                        # CloudFormation drops the element.
                        continue
                    if statement.get("Effect") != "Allow":
                        problems.append(f"{statement.get('Sid')}: effect {statement.get('Effect')}")
                    if {"NotAction", "NotResource", "NotPrincipal"} & set(statement):
                        problems.append(f"{statement.get('Sid')}: uses Not*")
                    actions = as_list(statement.get("Action", []))
                    resources = as_list(statement.get("Resource", []))
                    for action in actions:
                        if "*" in action or "?" in action:
                            problems.append(f"{statement.get('Sid')}: wildcard action {action}")
                    if "Condition" in statement:
                        for action in actions:
                            for resource in resources:
                                granted_conditions[f"{action} on {resource}"] = statement["Condition"]
                    for resource in resources:
                        # Only an object suffix (bucket/*, bucket/prefix*), a log group's
                        # streams (:*) or a project's report groups (report-group/PROJECT-*)
                        # may end in a wildcard; an empty last part means an empty
                        # parameter slot; BUCKET~* is an unused prefix slot.
                        named = resource.removesuffix("/*").removesuffix(":*")
                        if REPORT_GROUPS_OF_PROJECT.fullmatch(resource):
                            named = resource.removesuffix("-*")
                        if resource.startswith("arn:aws:codebuild:") and resource.endswith("/~-*"):
                            continue
                        if resource.startswith("arn:aws:s3:::") and resource.endswith("~*") and "/" not in resource:
                            continue
                        if resource == "*":
                            if not set(actions) <= UNSCOPABLE_ACTIONS:
                                problems.append(f"{statement.get('Sid')}: resource * for {actions}")
                        elif "*" in named or "?" in named or named.endswith((":", "/")):
                            problems.append(f"{statement.get('Sid')}: unscoped resource {resource}")
                    for action in actions:
                        for resource in resources:
                            # An unused name slot (`~`) names a resource that cannot exist;
                            # an unused prefix slot gives BUCKET~*, which names no object.
                            if resource.endswith((":~", "/~", "/~-*")) or (resource.startswith("arn:aws:s3:::") and resource.endswith("~*") and "/" not in resource):
                                continue
                            if resource != "*" and not same_service(action, resource):
                                # IAM matches an action only against its own service's ARNs.
                                print(f"     note: {lid} {statement.get('Sid')} pairs {action} with {resource}, which grants nothing")
                                continue
                            granted.setdefault(action, set()).add(log_group_arn(resource))
            self.r.check(
                f"role {lid}: no wildcard action; resource * only for X-Ray (which has no resource-level permissions)",
                not problems,
                "; ".join(problems),
            )
            GRANTED_ACTIONS.update(granted)
            want = expected.get(lid, {})
            diff = []
            for action in sorted(set(granted) | set(want)):
                extra = granted.get(action, set()) - want.get(action, set())
                lacking = want.get(action, set()) - granted.get(action, set())
                if extra:
                    diff.append(f"{action} also on {sorted(extra)}")
                if lacking:
                    diff.append(f"{action} missing {sorted(lacking)}")
            self.r.check(f"role {lid}: exactly the actions README and template describe, on exactly its resources", not diff, "; ".join(diff))
            self.r.equal(
                f"role {lid}: conditions exactly as described (every KMS action only through the service holding the data: kms:ViaService)",
                granted_conditions,
                conditions.get(lid, {}),
            )
            self.r.check(
                f"role {lid}: inline policies within IAM's {IAM_ROLE_INLINE_POLICY_CHARS} characters per role ({size})",
                size <= IAM_ROLE_INLINE_POLICY_CHARS,
            )
            function = lid.removesuffix("Role")
            # With no pipeline or project of some kind, a role rightly lacks its actions.
            if function in FUNCTIONS and self.s.projects and self.s.pipelines and self.s.example:
                self.check_calls_granted(function, granted)
            if lid in LEDGER_MODULES:
                self.check_ledger_calls_granted(lid, granted)

    def check_ledger_calls_granted(self, lid: str, granted: dict[str, set[str]]) -> None:
        """The ledger's DynamoDB calls live in gantry-core, not in the function's own
        folder: the role must grant, on the table, every call of the ledger module its
        function uses (LEDGER_MODULES)."""
        folder = ROOT / "functions" / "core" / "src" / "ledger"
        paths = [folder / name for name in LEDGER_MODULES[lid]]
        missing_files = [str(path.relative_to(ROOT)) for path in paths if not path.exists()]
        if missing_files:
            print(f"     note: {', '.join(missing_files)} not found: {lid}'s ledger calls not compared with its role")
            return
        source = "".join(path.read_text() for path in paths)
        table = self.attrs[("LedgerTable", "Arn")]
        called = sorted(m for m in SDK_CALLS if SDK_CALLS[m][0].startswith("dynamodb:") and re.search(r"\.\s*" + m + r"\s*\(", source))
        where = ", ".join(path.name for path in paths)
        for method in called:
            missing = [action for action in SDK_CALLS[method] if table not in granted.get(action, set())]
            self.r.check(f"role {lid}: grants on the ledger table what gantry-core's ledger/{where} calls for it ({method})", not missing, f"missing {missing}")

    def check_calls_granted(self, key: str, granted: dict[str, set[str]]) -> None:
        """Moto does not enforce IAM: compare the AWS calls in the function's source
        with what its role grants."""
        folder = FUNCTIONS[key][0]
        source = function_source(key)
        if source is None:
            print(f"     note: functions/{folder}/src not found: {key}Role not compared with the function's calls")
            return
        called = sorted(method for method in SDK_CALLS if re.search(r"\.\s*" + method + r"\s*\(", source))
        for method in called:
            missing = [action for action in SDK_CALLS[method] if action not in granted]
            self.r.check(f"role {key}Role: grants what functions/{folder} calls ({method})", not missing, f"missing {missing}")
        # The SDK clients the function builds itself: each of a service its role grants.
        crates = sorted(set(re.findall(r"\baws_sdk_([a-z0-9]+)\b", source)))
        services = {action.split(":", 1)[0] for action in granted}
        ungranted = [crate for crate in crates if SDK_CRATE_SERVICES.get(crate, crate) not in services]
        self.r.check(
            f"role {key}Role: grants some action of each AWS service whose SDK client functions/{folder} uses ({', '.join(crates) or 'none: every AWS call through gantry-core'})",
            not ungranted,
            f"no action of {ungranted}",
        )
        used = {action for method in called for action in SDK_CALLS[method]}
        for action in sorted(set(granted) - used - LOG_ACTIONS - XRAY_ACTIONS - UNCALLED_BY_DESIGN.get(key, set())):
            print(f"     note: {key}Role grants {action}, which no call in functions/{folder}/src needs")

    # -- 11: artifact bucket --------------------------------------------------
    def check_bucket(self) -> None:
        s3 = self.aws.s3
        if self.s.existing_bucket:
            self.r.check("no artifact bucket created when ExistingArtifactBucket is set", "ArtifactBucket" not in self.phys)
            return
        bucket = self.phys["ArtifactBucket"]
        encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        self.r.equal(
            "artifact bucket: default encryption AES256",
            [rule["ApplyServerSideEncryptionByDefault"].get("SSEAlgorithm") for rule in encryption],
            ["AES256"],
        )
        props = self.translated["Resources"]["ArtifactBucket"]["Properties"]
        # moto's CloudFormation applies only the algorithm (IGNORED_PROPERTIES).
        self.r.equal(
            "artifact bucket: bucket key [template]",
            props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0].get("BucketKeyEnabled"),
            True,
        )
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        if versioning is not None:
            self.r.equal("artifact bucket: versioning", versioning, "Enabled")
        else:
            self.r.equal("artifact bucket: versioning [template]", props.get("VersioningConfiguration"), {"Status": "Enabled"})
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            label = ""
        except s3.exceptions.ClientError:
            block, label = props.get("PublicAccessBlockConfiguration"), " [template]"
        self.r.equal(
            f"artifact bucket: all public access blocked{label}",
            block,
            {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        )
        self.r.equal(
            "artifact bucket: ACLs disabled (BucketOwnerEnforced) [template]",
            props.get("OwnershipControls"),
            {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        )
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        self.r.check(
            "artifact bucket: lifecycle expires noncurrent versions and delete markers [template]",
            any(
                rule.get("Status") == "Enabled"
                and "NoncurrentVersionExpiration" in rule
                and rule.get("ExpiredObjectDeleteMarker") is True
                and "Prefix" not in rule
                and "Filter" not in rule
                for rule in rules
            ),
            json.dumps(rules),
        )
        raw = self.translated["Resources"]["ArtifactBucket"]
        self.r.equal(
            "artifact bucket: kept when the stack is deleted or the bucket replaced (Retain) [template]",
            (raw.get("DeletionPolicy"), raw.get("UpdateReplacePolicy")),
            ("Retain", "Retain"),
        )

    # -- 11b: ledger table ----------------------------------------------------
    def check_ledger_table(self) -> None:
        ddb = self.aws.dynamodb
        if not self.r.check("ledger table LedgerTable created", "LedgerTable" in self.phys):
            return
        name = self.phys["LedgerTable"]
        table = ddb.describe_table(TableName=name)["Table"]
        raw = self.translated["Resources"]["LedgerTable"]
        props = raw["Properties"]
        self.r.equal("ledger table: key schema pk (HASH), sk (RANGE)", table.get("KeySchema"), LEDGER_KEYS)
        self.r.equal(
            "ledger table: every key attribute a string",
            sorted((d["AttributeName"], d["AttributeType"]) for d in table.get("AttributeDefinitions", [])),
            sorted((k["AttributeName"], "S") for k in LEDGER_KEYS + [k for ks in LEDGER_INDEXES.values() for k in ks]),
        )
        self.r.equal(
            "ledger table: global secondary indexes by-commit (commit_pk, commit_sk) and by-ref (ref_pk, ref_sk), projection ALL",
            {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in table.get("GlobalSecondaryIndexes", [])},
            {index: (keys, {"ProjectionType": "ALL"}) for index, keys in LEDGER_INDEXES.items()},
        )
        self.r.check("ledger table: no local secondary index", not table.get("LocalSecondaryIndexes"), str(table.get("LocalSecondaryIndexes")))
        self.r.equal("ledger table: on demand (PAY_PER_REQUEST)", table.get("BillingModeSummary", {}).get("BillingMode"), "PAY_PER_REQUEST")
        # moto's CloudFormation does not apply these three (IGNORED_PROPERTIES): read
        # through the API first, the translated template when moto does not report them.
        sse = table.get("SSEDescription")
        if sse:
            self.r.equal("ledger table: encrypted at rest (KMS)", sse.get("Status"), "ENABLED")
        else:
            self.r.equal("ledger table: encrypted at rest, SSEEnabled (KMS, aws/dynamodb) [template]", props.get("SSESpecification"), {"SSEEnabled": True})
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") == "ENABLED":
            self.r.equal(f"ledger table: TTL on {LEDGER_TTL_ATTRIBUTE} (DescribeTimeToLive)", ttl.get("AttributeName"), LEDGER_TTL_ATTRIBUTE)
        else:
            print(f"     note: DescribeTimeToLive says {ttl.get('TimeToLiveStatus')}: moto's CloudFormation does not apply TimeToLiveSpecification")
            self.r.equal(
                f"ledger table: TTL on {LEDGER_TTL_ATTRIBUTE} [template]",
                props.get("TimeToLiveSpecification"),
                {"AttributeName": LEDGER_TTL_ATTRIBUTE, "Enabled": True},
            )
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if pitr == "ENABLED":
            self.r.check("ledger table: point-in-time recovery on (DescribeContinuousBackups)", True)
        else:
            print(f"     note: DescribeContinuousBackups says point-in-time recovery {pitr}: moto's CloudFormation does not apply PointInTimeRecoverySpecification")
            self.r.equal(
                "ledger table: point-in-time recovery on [template]",
                props.get("PointInTimeRecoverySpecification"),
                {"PointInTimeRecoveryEnabled": True},
            )
        self.r.equal(
            "ledger table: kept when the stack is deleted or the table replaced (Retain) [template]",
            (raw.get("DeletionPolicy"), raw.get("UpdateReplacePolicy")),
            ("Retain", "Retain"),
        )
        self.r.check("ledger table: no fixed TableName (a replacement would not collide) [template]", "TableName" not in props)

    # -- 11c: where the pruner may delete ------------------------------------
    def check_prune_prefixes(self) -> None:
        prefixes = self.allowed_prefixes()
        if self.s.prune_prefixes is None:
            folders = [name[:PIPELINE_FOLDER_CHARS] + "/" for name in self.all_pipelines()]
            self.r.equal(
                f"PrunePrefixes empty: the pruner may delete under exactly CodePipeline's folders of the example and PipelineNames ({', '.join(folders) or 'none'})",
                prefixes,
                folders,
            )
        self.r.check(
            "allowed prune prefixes each end in / (a folder, never the whole bucket)",
            all(p.endswith("/") and p != "/" for p in prefixes),
            str(prefixes),
        )

    # -- 12: what moto did not deploy, resolved against what it did -----------
    def check_not_deployed(self) -> None:
        res, a, s = self.res, self.attrs, self.s
        resources = self.translated["Resources"]

        def present(lid: str) -> bool:
            if lid not in resources:
                return False
            condition = resources[lid].get("Condition")
            return condition is None or self.cond.condition(condition)

        # On-failure destinations of the asynchronously invoked functions.
        # redeliver, as the pruner: one retry.
        for key, retries in [("Trigger", 2), ("Status", 2), ("Pruner", 1)] + ([("Redeliver", 1)] if self.redeliver else []):
            lid = f"{key}FunctionEventInvokeConfig"
            if not self.r.check(f"{lid} exists [template]", present(lid)):
                continue
            props = res.value(resources[lid]["Properties"])
            self.r.equal(f"{lid}: for {self.fn_name(key)} $LATEST [template]", (props.get("FunctionName"), props.get("Qualifier")), (self.fn_name(key), "$LATEST"))
            self.r.equal(
                f"{lid}: failures go to the deployed {key}FailureQueue [template]",
                props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
                a[(f"{key}FailureQueue", "Arn")],
            )
            self.r.equal(
                f"{lid}: {retries} retries, 1 hour [template]",
                (props.get("MaximumRetryAttempts"), props.get("MaximumEventAgeInSeconds")),
                (retries, 3600),
            )
        self.r.check(
            "WebhookFunction has no event invoke config (invoked synchronously) [template]",
            "WebhookFunctionEventInvokeConfig" not in resources,
        )
        if not self.redeliver:
            self.r.check(f"no RedeliverFunctionEventInvokeConfig ({self.redeliver_label()}) [template]", not present("RedeliverFunctionEventInvokeConfig"))

        # Queue policies: each rule DLQ accepts messages from the rule that uses it, and
        # TriggerQueue from TriggerRule, the rule that delivers to it.
        rules = self.expected_rules()
        policies = [(f"{spec['dlq']}Policy", spec["dlq"], rule_lid) for rule_lid, spec in rules.items()]
        policies.append(("TriggerQueuePolicy", "TriggerQueue", "TriggerRule"))
        for lid, queue, rule_lid in policies:
            if not self.r.check(f"{lid} exists [template]", present(lid)):
                continue
            props = res.value(resources[lid]["Properties"])
            statements = props["PolicyDocument"]["Statement"]
            self.r.equal(f"{lid}: applies to the deployed {queue} [template]", props.get("Queues"), [self.phys[queue]])
            self.r.equal(
                f"{lid}: only EventBridge, only SendMessage, only from the deployed {rule_lid} [template]",
                [(st.get("Effect"), st.get("Principal"), st.get("Action"), st.get("Resource"), st.get("Condition")) for st in statements],
                [
                    (
                        "Allow",
                        {"Service": "events.amazonaws.com"},
                        "sqs:SendMessage",
                        a[(queue, "Arn")],
                        {"ArnEquals": {"aws:SourceArn": a[(rule_lid, "Arn")]}},
                    )
                ],
            )
        queue_policies = sorted(lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::QueuePolicy" and present(lid))
        self.r.equal(
            "queue policies: exactly the rule DLQs' and TriggerQueue's (the failure queues and TriggerDlq are written by roles and SQS) [template]",
            queue_policies,
            sorted(lid for lid, _, _ in policies),
        )
        on_trigger_queue = [
            lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::QueuePolicy" and present(lid) and self.phys["TriggerQueue"] in res.value(r["Properties"]).get("Queues", [])
        ]
        self.r.equal("TriggerQueue: TriggerQueuePolicy is the only queue policy on it (only TriggerRule may send) [template]", on_trigger_queue, ["TriggerQueuePolicy"])

        # Artifact bucket policy: TLS only.
        if s.existing_bucket is None:
            props = res.value(resources["ArtifactBucketPolicy"]["Properties"])
            bucket_arn = a[("ArtifactBucket", "Arn")]
            self.r.equal("ArtifactBucketPolicy: on the deployed bucket [template]", props.get("Bucket"), self.phys["ArtifactBucket"])
            self.r.equal(
                "ArtifactBucketPolicy: denies every request without TLS [template]",
                [(st.get("Effect"), st.get("Principal"), st.get("Action"), st.get("Resource"), st.get("Condition")) for st in props["PolicyDocument"]["Statement"]],
                [("Deny", "*", "s3:*", [bucket_arn, f"{bucket_arn}/*"], {"Bool": {"aws:SecureTransport": "false"}})],
            )
        else:
            self.r.check("no bucket policy for an existing bucket [template]", not present("ArtifactBucketPolicy"))

        # Function URL.
        props = res.value(resources["WebhookUrl"]["Properties"])
        self.r.equal(
            "WebhookUrl: on the deployed webhook function, auth NONE, buffered [template]",
            (props.get("TargetFunctionArn"), props.get("AuthType"), props.get("InvokeMode")),
            (a[("WebhookFunction", "Arn")], "NONE", "BUFFERED"),
        )

        # Secrets: created only when no existing one is named, and the GitHub credential
        # only for the mode: the token secret in token mode, the App key secret in App
        # mode, never both.
        for lid, wanted, when in self.created_secrets():
            self.r.equal(f"{lid} created {when} [template]", present(lid), wanted)
            if not present(lid):
                continue
            props = resources[lid]["Properties"]
            if lid == "GitHubAppKeySecret":
                # Only GitHub makes the App's key: no value to generate, none passed in.
                self.r.check(
                    f"{lid}: created empty (neither SecretString nor GenerateSecretString) [template]",
                    "GenerateSecretString" not in props and "SecretString" not in props,
                    str(sorted(props)),
                )
            else:
                self.r.check(f"{lid}: value generated, not passed in [template]", "GenerateSecretString" in props and "SecretString" not in props)
            self.r.equal(
                f"{lid}: KMS key is SecretsKmsKeyArn when set, else aws/secretsmanager (no KmsKeyId) [template]",
                res.value(props).get("KmsKeyId"),
                s.secrets_key,
            )
        self.r.check(
            "GitHubTokenSecret and GitHubAppKeySecret: never both created [template]",
            not (present("GitHubTokenSecret") and present("GitHubAppKeySecret")),
        )
        self.check_secret_policies(present)

        # Alarms: one on every queue, one on every function's errors, the webhook's
        # URL and invocations, GitHub's refusals; every one notifies the alarm topic.
        alarms = {lid: res.value(r["Properties"]) for lid, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm" and present(lid)}
        watched_queues = sorted(
            dim["Value"] for p in alarms.values() if p.get("Namespace") == "AWS/SQS" for dim in p["Dimensions"] if dim["Name"] == "QueueName"
        )
        # TriggerQueue holds work in progress, not failures: no alarm on its messages.
        deployed_queues = sorted(
            a[(lid, "QueueName")] for lid in self.phys if self.adapted.template["Resources"][lid]["Type"] == "AWS::SQS::Queue" and lid != "TriggerQueue"
        )
        self.r.equal(
            "alarms: one on every deployed dead-letter and failure queue's visible messages, TriggerDlq's included, none on TriggerQueue's [template]",
            watched_queues,
            deployed_queues,
        )
        self.r.check(
            "alarms: TriggerDlqAlarm on the deployed TriggerDlq's visible messages [template]",
            alarms.get("TriggerDlqAlarm", {}).get("Dimensions") == [{"Name": "QueueName", "Value": a[("TriggerDlq", "QueueName")]}]
            and alarms["TriggerDlqAlarm"].get("MetricName") == "ApproximateNumberOfMessagesVisible",
            json.dumps(alarms.get("TriggerDlqAlarm")),
        )
        watched_functions = sorted(
            dim["Value"]
            for p in alarms.values()
            if p.get("Namespace") == "AWS/Lambda" and p.get("MetricName") == "Errors"
            for dim in p["Dimensions"]
            if dim["Name"] == "FunctionName"
        )
        self.r.equal("alarms: one on every deployed function's errors [template]", watched_functions, sorted(self.fn_name(k) for k in self.functions()))
        first = {lid: p for lid, p in alarms.items() if p.get("Namespace") == "AWS/SQS" or p.get("MetricName") in ("Errors", "Url5xxCount")}
        self.r.check(
            "alarms: queue, error and URL 5xx alarms fire on the first message, error or 5xx [template]",
            all(p.get("Threshold") == 0 and p.get("ComparisonOperator") == "GreaterThanThreshold" for p in first.values()),
            ", ".join(lid for lid, p in first.items() if (p.get("Threshold"), p.get("ComparisonOperator")) != (0, "GreaterThanThreshold")),
        )
        self.r.check(
            "alarms: every one treats missing data as not breaching [template]",
            all(p.get("TreatMissingData") == "notBreaching" for p in alarms.values()),
            ", ".join(lid for lid, p in alarms.items() if p.get("TreatMissingData") != "notBreaching"),
        )
        topic = s.alarm_topic or a.get(("AlarmTopic", None))
        where = "AlarmTopicArn" if s.alarm_topic else "the stack's own AlarmTopic"
        wrong = [
            f"{lid}: {p.get('AlarmActions')} / {p.get('OKActions')}"
            for lid, p in alarms.items()
            if p.get("AlarmActions") != [topic] or p.get("OKActions") != [topic]
        ]
        self.r.check(
            f"alarms: all {len(alarms)} notify {where} ({topic}) when they fire and when they clear [template]",
            topic is not None and not wrong,
            "; ".join(wrong),
        )
        self.check_webhook_and_status_alarms(alarms)
        self.check_alarm_subscription()

        # Example pipeline and project.
        for lid in ["ExampleBuildProject", "ExamplePipeline"]:
            self.r.equal(f"{lid} only with the example [template]", present(lid), s.example)
        if not s.example:
            return
        project = res.value(resources["ExampleBuildProject"]["Properties"])
        self.r.equal("ExampleBuildProject: runs as the deployed ExampleBuildRole [template]", project.get("ServiceRole"), a[("ExampleBuildRole", "Arn")])
        self.r.equal(
            "ExampleBuildProject: logs to the deployed example log group [template]",
            project.get("LogsConfig", {}).get("CloudWatchLogs", {}).get("GroupName"),
            f"/aws/codebuild/{self.example_name}",
        )
        self.r.equal("ExampleBuildProject: named as the routes and rules expect [template]", project.get("Name"), self.example_name)
        pipeline = res.value(resources["ExamplePipeline"]["Properties"])
        self.r.equal("ExamplePipeline: named as the routes and rules expect [template]", pipeline.get("Name"), self.example_name)
        self.r.equal("ExamplePipeline: runs as the deployed ExamplePipelineRole [template]", pipeline.get("RoleArn"), a[("ExamplePipelineRole", "Arn")])
        store = {"Type": "S3", "Location": self.bucket}
        if s.artifact_key:
            store["EncryptionKey"] = {"Id": s.artifact_key, "Type": "KMS"}
        self.r.equal(
            f"ExamplePipeline: artifacts in the {'existing' if s.existing_bucket else 'deployed'} bucket"
            f"{', under ArtifactBucketKmsKeyArn' if s.artifact_key else ' (aws/s3)'} [template]",
            pipeline.get("ArtifactStore"),
            store,
        )
        self.r.equal("ExamplePipeline: V2, parallel executions [template]", (pipeline.get("PipelineType"), pipeline.get("ExecutionMode")), ("V2", "PARALLEL"))
        # Only Gantry starts the example, so only the routes decide whether a fork's
        # pull request runs with the example roles: no trigger or webhook of its own.
        self.r.check(
            "ExamplePipeline: no triggers of its own (a pull request trigger would build forks) [template]",
            not pipeline.get("Triggers"),
            json.dumps(pipeline.get("Triggers")),
        )
        self.r.check(
            "ExampleBuildProject: source is the pipeline, no webhook or triggers of its own [template]",
            project.get("Source", {}).get("Type") == "CODEPIPELINE" and not project.get("Triggers"),
            json.dumps({"Source": project.get("Source"), "Triggers": project.get("Triggers")}),
        )
        self.r.equal(
            "ExamplePipeline: declares every variable Gantry sets, with a default [template]",
            sorted(v["Name"] for v in pipeline.get("Variables", []) if v.get("DefaultValue")),
            sorted(PIPELINE_VARIABLES),
        )
        actions = {action["Name"]: action for stage in pipeline["Stages"] for action in stage["Actions"]}
        source = actions.get("Source", {})
        self.r.equal(
            "ExamplePipeline: source action 'Source' (Gantry's default source_action) on the connection, no change detection [template]",
            (source.get("ActionTypeId", {}).get("Provider"), source.get("Configuration", {}).get("ConnectionArn"), source.get("Configuration", {}).get("DetectChanges")),
            ("CodeStarSourceConnection", s.params["ConnectionArn"], False),
        )
        build = actions.get("Build", {}).get("Configuration", {})
        self.r.equal("ExamplePipeline: build action runs ExampleBuildProject [template]", build.get("ProjectName"), self.example_name)
        try:
            passed = {v["name"]: v["value"] for v in json.loads(build.get("EnvironmentVariables", "[]"))}
        except ValueError as error:
            passed = {"<invalid JSON>": str(error)}
        self.r.check(
            "ExamplePipeline: build receives every Gantry variable [template]",
            all(passed.get(name) == f"#{{variables.{name}}}" for name in PIPELINE_VARIABLES),
            json.dumps(passed),
        )

    def created_secrets(self) -> list[tuple[str, bool, str]]:
        """(secret, whether the stack creates it here, when it does) for the scenario."""
        s = self.s
        return [
            ("WebhookSecret", not s.existing_secrets, "only without ExistingWebhookSecretArn"),
            ("GitHubTokenSecret", not self.app and not s.existing_secrets, "only in token mode without ExistingGitHubTokenSecretArn"),
            ("GitHubAppKeySecret", self.app and not s.existing_app_key, "only in App mode without ExistingGitHubAppKeySecretArn"),
        ]

    def check_secret_policies(self, present: Callable[[str], bool]) -> None:
        """The resource policies of the secrets the stack creates (moto skips them),
        evaluated for the principals that matter."""
        s, a, resources = self.s, self.attrs, self.translated["Resources"]
        root = f"arn:aws:iam::{self.account}:root"
        # The roles of the functions that read each secret (trigger the GitHub
        # credential only for routes whose fork_pull_requests is "approve").
        # redeliver (App mode only) reads the App's key too.
        readers = {
            "WebhookSecret": ["WebhookRole"],
            "GitHubTokenSecret": ["StatusRole", "TriggerRole"],
            "GitHubAppKeySecret": ["StatusRole", "TriggerRole"] + (["RedeliverRole"] if self.redeliver else []),
        }
        function_roles = [f"{key}Role" for key in self.functions()]
        for secret, created, _ in self.created_secrets():
            lid = f"{secret}Policy"
            if not created:
                self.r.check(f"no {lid}: the stack did not create {secret} [template]", not present(lid))
                continue
            if not self.r.check(f"{lid} exists [template]", present(lid)):
                continue
            props = self.res.value(resources[lid]["Properties"])
            self.r.equal(f"{lid}: on the stack's {secret}, BlockPublicPolicy [template]", (props.get("SecretId"), props.get("BlockPublicPolicy")), (a[(secret, None)], True))
            statements = as_list(props["ResourcePolicy"]["Statement"])
            self.r.check(
                f"{lid}: only Deny statements, only for secretsmanager:GetSecretValue [template]",
                all(st.get("Effect") == "Deny" and as_list(st.get("Action")) == ["secretsmanager:GetSecretValue"] for st in statements),
                json.dumps(statements),
            )
            keys = sorted({key for st in statements for operator in st.get("Condition", {}).values() for key in operator})
            self.r.check(
                f"{lid}: condition keys {keys} all documented for Secrets Manager policies (SECRET_POLICY_CONDITION_KEYS) [template]",
                bool(keys) and set(keys) <= set(SECRET_POLICY_CONDITION_KEYS),
                str(keys),
            )
            cases = [
                *[(f"the deployed {role} (aws:PrincipalArn of its Lambda sessions)", a[(role, "Arn")], "secretsmanager:GetSecretValue", False) for role in readers[secret]],
                ("the account root user", root, "secretsmanager:GetSecretValue", False),
                *[
                    (f"another function's deployed role, {role}", a[(role, "Arn")], "secretsmanager:GetSecretValue", True)
                    for role in function_roles
                    if role not in readers[secret]
                ],
                ("another role of the account", f"arn:aws:iam::{self.account}:role/developer", "secretsmanager:GetSecretValue", True),
                ("another account's root user", "arn:aws:iam::210987654321:root", "secretsmanager:GetSecretValue", True),
                ("a request without a principal ARN", None, "secretsmanager:GetSecretValue", True),
                ("another role of the account writing a value", f"arn:aws:iam::{self.account}:role/developer", "secretsmanager:PutSecretValue", False),
                ("another role of the account removing this policy", f"arn:aws:iam::{self.account}:role/developer", "secretsmanager:DeleteResourcePolicy", False),
            ]
            if s.secret_admins:
                cases += [
                    ("an IAM Identity Center administrator (SecretAdminRoleArns, by wildcard)", f"arn:aws:iam::{self.account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef", "secretsmanager:GetSecretValue", False),
                    ("a role named in SecretAdminRoleArns", f"arn:aws:iam::{self.account}:role/ops-breakglass", "secretsmanager:GetSecretValue", False),
                    ("an IAM Identity Center read-only role (not in SecretAdminRoleArns)", f"arn:aws:iam::{self.account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnlyAccess_0123456789abcdef", "secretsmanager:GetSecretValue", True),
                ]
            else:
                cases.append(("a role that SecretAdminRoleArns would name (empty here)", f"arn:aws:iam::{self.account}:role/ops-breakglass", "secretsmanager:GetSecretValue", True))
            for label, principal, action, deny in cases:
                verb = "denies" if deny else "does not deny"
                self.r.equal(f"{lid}: {verb} {action.split(':')[1]} to {label} [template]", policy_denies(statements, principal, action), deny)

    def check_webhook_and_status_alarms(self, alarms: dict[str, dict]) -> None:
        """The alarms on the webhook's URL 5xx and invocations and on GitHubRejected."""

        def metric(p: dict) -> tuple:
            return (p.get("Namespace"), p.get("MetricName"), p.get("Dimensions"), p.get("Statistic"), p.get("Period"), p.get("EvaluationPeriods"))

        raw = self.translated["Resources"]
        metric_alarms = [
            ("WebhookUrl5xxAlarm", WEBHOOK_URL_5XX, 0, "GreaterThanThreshold"),
            ("WebhookInvocationsAlarm", WEBHOOK_INVOCATIONS, int(self.values["WebhookInvocationAlarmThreshold"]), "GreaterThanThreshold"),
            ("StatusGitHubRejectedAlarm", GITHUB_REJECTED, 1, "GreaterThanOrEqualToThreshold"),
        ]
        if self.redeliver:
            metric_alarms.append(("RedeliverAbandonedAlarm", DELIVERY_ABANDONED, 1, "GreaterThanOrEqualToThreshold"))
        else:
            self.r.check(f"no RedeliverAbandonedAlarm ({self.redeliver_label()}) [template]", "RedeliverAbandonedAlarm" not in alarms)
        for lid, (namespace, name, key), threshold, comparison in metric_alarms:
            if not self.r.check(f"{lid} exists [template]", lid in alarms):
                continue
            p = alarms[lid]
            self.r.equal(
                f"{lid}: {namespace} {name} of the deployed {self.fn_name(key)}, dimensions exactly FunctionName, Sum over 5 minutes [template]",
                metric(p),
                (namespace, name, [{"Name": "FunctionName", "Value": self.fn_name(key)}], "Sum", 300, 1),
            )
            self.r.equal(
                f"{lid}: {comparison} {threshold}, missing data not breaching [template]",
                (float(p.get("Threshold")), p.get("ComparisonOperator"), p.get("TreatMissingData")),
                (float(threshold), comparison, "notBreaching"),
            )
        if "WebhookInvocationsAlarm" in raw:
            self.r.equal(
                "WebhookInvocationsAlarm: threshold is the WebhookInvocationAlarmThreshold parameter [template]",
                raw["WebhookInvocationsAlarm"]["Properties"].get("Threshold"),
                {"Ref": "WebhookInvocationAlarmThreshold"},
            )
        if "StatusGitHubRejectedAlarm" in alarms:
            text = alarms["StatusGitHubRejectedAlarm"].get("AlarmDescription", "")
            self.r.check(
                "StatusGitHubRejectedAlarm: the description says to check the token's access to the repository and that the commit exists [template]",
                "token" in text and "repository" in text and "commit exists" in text,
                text,
            )
        if "RedeliverAbandonedAlarm" in alarms:
            text = " ".join(alarms["RedeliverAbandonedAlarm"].get("AlarmDescription", "").split())
            self.r.check(
                "RedeliverAbandonedAlarm: the description says a failed delivery stayed undelivered after the last redelivery try, and points at gantry replay and GitHub's deliveries [template]",
                "undelivered" in text and "last redelivery try" in text and "gantry replay" in text and "Recent Deliveries" in text,
                text,
            )
        # The embedded metrics travel in the functions' own log lines.
        for role, metric in [("StatusRole", GITHUB_REJECTED[1])] + ([("RedeliverRole", DELIVERY_ABANDONED[1])] if self.redeliver else []):
            granted = self.role_actions(role)
            self.r.check(
                f"role {role}: {metric} needs no cloudwatch permission (EMF comes from its log lines), and it has none",
                not any(action.startswith("cloudwatch:") for action in granted) and LOG_ACTIONS <= granted,
                str(sorted(granted)),
            )

    def role_actions(self, lid: str) -> set[str]:
        name = self.phys[lid]
        actions: set[str] = set()
        for policy_name in self.aws.iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = policy_document(self.aws.iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
            for statement in as_list(document["Statement"]):
                if statement:
                    actions.update(as_list(statement.get("Action", [])))
        return actions

    def check_alarm_subscription(self) -> None:
        """The e-mail subscription (moto does not create subscriptions)."""
        s, resources = self.s, self.translated["Resources"]
        lid = "AlarmEmailSubscription"
        present = lid in resources and self.cond.condition(resources[lid]["Condition"])
        self.r.equal(
            f"{lid} exists only with the stack's own topic and an AlarmEmail [template]",
            present,
            s.alarm_topic is None and bool(s.alarm_email),
        )
        if present:
            props = self.res.value(resources[lid]["Properties"])
            self.r.equal(
                f"{lid}: e-mail to AlarmEmail on the deployed AlarmTopic [template]",
                (props.get("Protocol"), props.get("Endpoint"), props.get("TopicArn")),
                ("email", s.alarm_email, self.attrs[("AlarmTopic", None)]),
            )
        if s.alarm_topic is None:
            # The same parameters without an address: the stack's topic, no subscription.
            values = {**self.values, "AlarmEmail": ""}
            without = Resolver(self.translated, values, self.pseudo, {})
            self.r.equal(
                f"{lid}: none without AlarmEmail, the topic still created (conditions evaluated with AlarmEmail empty) [template]",
                (without.condition(resources[lid]["Condition"]), without.condition(resources["AlarmTopic"]["Condition"])),
                (False, True),
            )

    def check_alarm_topic(self) -> None:
        aws, s = self.aws, self.s
        created = [lid for lid in ("AlarmTopic", "AlarmTopicKey") if lid in self.phys]
        if s.alarm_topic:
            self.r.equal("no alarm topic or key created when AlarmTopicArn is set", created, [])
            self.r.equal("output AlarmTopicArn is the AlarmTopicArn parameter", self.outputs.get("AlarmTopicArn"), s.alarm_topic)
            self.r.equal("no SNS topic created by the stack", aws.sns.list_topics()["Topics"], [])
            return
        if not self.r.equal("alarm topic and its key created when AlarmTopicArn is empty", created, ["AlarmTopic", "AlarmTopicKey"]):
            return
        arn = self.attrs[("AlarmTopic", None)]
        key_arn = self.attrs[("AlarmTopicKey", "Arn")]
        attributes = aws.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.r.equal("alarm topic: named after the stack", arn.rsplit(":", 1)[1], f"{s.stack}-alarms")
        self.r.equal("output AlarmTopicArn is the stack's alarm topic", self.outputs.get("AlarmTopicArn"), arn)
        self.r.equal("alarm topic: encrypted with the stack's AlarmTopicKey (not aws/sns, which CloudWatch cannot use)", attributes.get("KmsMasterKeyId"), key_arn)
        key = aws.kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        self.r.equal(
            "AlarmTopicKey: customer managed symmetric key, enabled",
            (key.get("KeyManager"), key.get("KeySpec"), key.get("Enabled")),
            ("CUSTOMER", "SYMMETRIC_DEFAULT", True),
        )
        self.r.equal("AlarmTopicKey: yearly rotation", aws.kms.get_key_rotation_status(KeyId=key_arn).get("KeyRotationEnabled"), True)
        policy = policy_document(aws.kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        statements = {st.get("Sid"): st for st in as_list(policy.get("Statement", []))}
        root = f"arn:aws:iam::{self.account}:root"
        self.r.equal(
            "AlarmTopicKey: the account administers the key (through IAM)",
            [(st.get("Effect"), st.get("Principal"), st.get("Action")) for st in statements.values() if st.get("Principal") != {"Service": "cloudwatch.amazonaws.com"}],
            [("Allow", {"AWS": root}, "kms:*")],
        )
        cloudwatch = [st for st in statements.values() if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
        self.r.equal(
            "AlarmTopicKey: CloudWatch alarms of this account only may encrypt for the topic (GenerateDataKey*, Decrypt)",
            [(st.get("Effect"), sorted(as_list(st.get("Action"))), st.get("Condition")) for st in cloudwatch],
            [("Allow", ["kms:Decrypt", "kms:GenerateDataKey*"], {"StringEquals": {"aws:SourceAccount": self.account}})],
        )
        # Subscriptions: moto's CloudFormation creates none; the translated template
        # is checked in check_alarm_subscription.
        self.r.equal(
            "alarm topic: no subscription created locally (moto skips AWS::SNS::Subscription)",
            aws.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"],
            [],
        )

    # -- 13: delivery through the deployed rules ------------------------------
    def check_delivery(self) -> None:
        aws = self.aws
        found = {lid: found for lid, found in self.rules_by_logical_id().items() if lid in self.expected_rules()}
        rules = {lid: item for lid, item in found.items() if "EventPattern" in item[1]}
        saved = {}
        queues = {}
        try:
            # Moto answers PutEvents with 500 when an event reaches a rule with a Lambda
            # target, so each pattern rule's target is swapped for a queue. Moto also
            # hands every event on a bus to its scheduled rules (AWS never does): their
            # targets are removed meanwhile.
            for lid, (bus, rule) in found.items():
                saved[lid] = aws.events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
                aws.events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=[t["Id"] for t in saved[lid]])
                if lid not in rules:
                    continue
                url = aws.sqs.create_queue(QueueName=f"{self.s.stack}-delivery-{lid}")["QueueUrl"]
                arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                queues[lid] = url
                aws.events.put_targets(Rule=rule["Name"], EventBusName=bus, Targets=[{"Id": "delivery-check", "Arn": arn}])
            self.deliver(rules, queues)
        finally:
            for lid, (bus, rule) in found.items():
                if lid in queues:
                    aws.events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=["delivery-check"])
                if lid in saved:
                    aws.events.put_targets(Rule=rule["Name"], EventBusName=bus, Targets=saved[lid])
            for url in queues.values():
                aws.sqs.delete_queue(QueueUrl=url)
        restored = all(
            aws.events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"] == saved.get(lid)
            for lid, (bus, rule) in found.items()
        )
        self.r.check("rules' original targets restored after the delivery checks", restored)

    def deliver(self, rules: dict, queues: dict) -> None:
        aws, s = self.aws, self.s

        def sample(path: str) -> dict:
            return json.loads((EVENTS / path).read_text())

        def entry(event: dict, bus: str, **detail: Any) -> dict:
            body = dict(event["detail"])
            body.update(detail)
            return {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(body), "EventBusName": bus}

        push = sample("trigger/push.json")
        pull = {
            "source": "gantry.github",
            "detail-type": "GitHub Pull Request",
            "detail": {
                "delivery_id": "c0ffee00-1111-2222-3333-444455556666",
                "repository": "octo-org/app",
                "clone_url": "https://github.com/octo-org/app.git",
                "commit": "0123456789abcdef0123456789abcdef01234567",
                "event": "pull_request",
                "number": 7,
                "action": "opened",
                "base_branch": "main",
                "head_branch": "feature",
                "head_repository": "octo-org/app",
                "draft": False,
                "title": "A change",
            },
        }
        # What webhook publishes for a merge queue's group (merge_group checks_requested).
        merge_group = {
            "source": "gantry.github",
            "detail-type": "GitHub Merge Group",
            "detail": {
                **push["detail"],
                "event": "merge_group",
                "action": "checks_requested",
                "head_ref": "refs/heads/gh-readonly-queue/master/pr-7-6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "base_ref": "refs/heads/master",
            },
        }
        for key in ["ref", "changed_paths"]:
            del merge_group["detail"][key]
        # What webhook publishes for a button pressed on a check run (check_run rerequested).
        check_run = {
            "source": "gantry.github",
            "detail-type": "GitHub Check Run",
            "detail": {
                **{k: push["detail"][k] for k in ["delivery_id", "repository", "clone_url", "commit"]},
                "event": "check_run",
                "action": "rerequested",
                "check_run_id": 4,
                "name": "gantry/app",
                "external_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958/project/app/app:1",
            },
        }
        # "Re-run all checks" on a commit's suite of Gantry's check runs.
        check_suite = {
            "source": "gantry.github",
            "detail-type": "GitHub Check Suite",
            "detail": {
                **{k: push["detail"][k] for k in ["delivery_id", "repository", "clone_url", "commit"]},
                "event": "check_suite",
                "action": "rerequested",
                "check_suite_id": 118578147,
            },
        }
        # What webhook publishes for a maintainer's `/gantry run <sha>` comment on a
        # pull request (issue_comment created): an approval, for trigger only.
        issue_comment = sample("trigger/issue_comment.json")
        build_state = sample("status/codebuild.docs.build-state-change.json")
        build_phase = sample("status/codebuild.docs.build-phase-change.json")
        pipe_started = sample("status/codepipeline.docs.pipeline-started.json")
        stage_stopped = sample("status/codepipeline.docs.stage-stopped.json")
        action_failed = sample("status/codepipeline.docs.action-failed.json")

        # (label, entry, rule it must reach or None)
        cases: list[tuple[str, dict, str | None]] = [
            ("GitHub Push on the Gantry bus", entry(push, s.stack), "TriggerRule"),
            ("GitHub Pull Request on the Gantry bus", entry(pull, s.stack), "TriggerRule"),
            ("GitHub Merge Group on the Gantry bus", entry(merge_group, s.stack), "TriggerRule"),
            ("GitHub Merge Group from another source", {**entry(merge_group, s.stack), "Source": "octo.github"}, None),
            ("GitHub Check Run on the Gantry bus", entry(check_run, s.stack), "TriggerRule"),
            ("GitHub Check Suite on the Gantry bus", entry(check_suite, s.stack), "TriggerRule"),
            # Every queue is read: reaching only TriggerRule means no status rule matched.
            ("GitHub Issue Comment on the Gantry bus (events/trigger/issue_comment.json)", entry(issue_comment, s.stack), "TriggerRule"),
            ("GitHub Issue Comment from another source", {**entry(issue_comment, s.stack), "Source": "octo.github"}, None),
            ("GitHub Issue Comment on the default bus", entry(issue_comment, "default"), None),
            ("other detail-type from gantry.github", {**entry(push, s.stack), "DetailType": "GitHub Ping"}, None),
            ("GitHub Push from another source", {**entry(push, s.stack), "Source": "octo.github"}, None),
            ("GitHub Push on the default bus", entry(push, "default"), None),
        ]
        projects = self.all_projects()
        for project in projects:
            cases.append((f"CodeBuild build state change of {project}", entry(build_state, "default", **{"project-name": project}), "StatusBuildRule"))
        if projects:
            # status acts on no phase change: the rule no longer sends them.
            cases.append((f"CodeBuild build phase change of {projects[0]} (not wanted)", entry(build_phase, "default", **{"project-name": projects[0]}), None))
        cases.append(("CodeBuild build state change of an unlisted project", entry(build_state, "default"), None))
        pipelines = self.all_pipelines()
        for pipeline in pipelines:
            cases.append((f"CodePipeline execution change of {pipeline}", entry(pipe_started, "default", pipeline=pipeline), "StatusPipelineRule"))
        if pipelines:
            cases.append((f"CodePipeline stage change of {pipelines[0]}", entry(stage_stopped, "default", pipeline=pipelines[0]), "StatusPipelineRule"))
            # Nor on action changes (until manual approvals are reported).
            cases.append((f"CodePipeline action change of {pipelines[0]} (not wanted)", entry(action_failed, "default", pipeline=pipelines[0]), None))
        cases.append(("CodePipeline execution change of an unlisted pipeline", entry(pipe_started, "default"), None))
        cases.append(("CodePipeline event on the Gantry bus", entry(pipe_started, s.stack, pipeline=pipelines[0] if pipelines else "x"), None))

        for index, (label, item, _) in enumerate(cases):
            item["Resources"] = [f"urn:gantry-check:{index}"]
        for start in range(0, len(cases), 10):
            answer = aws.events.put_events(Entries=[item for _, item, _ in cases[start : start + 10]])
            self.r.equal(f"PutEvents accepted entries {start + 1}-{min(start + 10, len(cases))}", answer.get("FailedEntryCount"), 0)

        received: dict[str, list[dict]] = {}
        for lid, url in queues.items():
            messages = []
            while True:
                batch = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
                if not batch:
                    break
                messages.extend(json.loads(m["Body"]) for m in batch)
            received[lid] = messages

        for index, (label, item, rule) in enumerate(cases):
            marker = f"urn:gantry-check:{index}"
            reached = sorted(lid for lid, messages in received.items() for m in messages if marker in m.get("resources", []))
            expected = [rule] if rule else []
            where = rule or "no rule"
            self.r.equal(f"delivery: {label} reaches {where}", reached, expected)
            if rule and reached == expected:
                message = next(m for m in received[rule] if marker in m.get("resources", []))
                self.r.check(
                    f"delivery: {label} arrives as the full event (source, detail-type, detail)",
                    message.get("source") == item["Source"]
                    and message.get("detail-type") == item["DetailType"]
                    and message.get("detail") == json.loads(item["Detail"]),
                    json.dumps(message)[:300],
                )

    # -- run -----------------------------------------------------------------
    def run(self) -> None:
        print(f"== scenario {self.s.tag}: {self.s.title}")
        self.r.prefix = f"[{self.s.tag}] "
        self.prepare()
        if not self.deploy():
            return
        for name, body in [
            ("event bus and outputs", self.check_bus_and_outputs),
            ("functions", self.check_functions),
            ("log groups", self.check_log_groups),
            ("queues", self.check_queues),
            ("rules", self.check_rules),
            ("Lambda permissions", self.check_permissions),
            ("event source mapping", self.check_event_source_mapping),
            ("IAM", self.check_iam),
            ("artifact bucket", self.check_bucket),
            ("ledger table", self.check_ledger_table),
            ("prune prefixes", self.check_prune_prefixes),
            ("alarm topic", self.check_alarm_topic),
            ("resources moto does not deploy", self.check_not_deployed),
            ("delivery", self.check_delivery),
        ]:
            self.r.section(name, body)

    def not_deployed(self) -> list[str]:
        """The template's resources (with these parameters) moto did not deploy, by reason."""
        lines = [f"Not deployed locally in scenario {self.s.tag} (stack {self.s.stack}):"]
        resources = self.translated["Resources"]
        by_reason: dict[str, list[str]] = {}
        for lid, kind in self.adapted.removed.items():
            condition = resources[lid].get("Condition")
            if condition is None or self.cond.condition(condition):
                by_reason.setdefault(NOT_DEPLOYED[kind], []).append(lid)
        for reason, ids in by_reason.items():
            lines.append(f"  {reason}: {', '.join(ids)}")
        return lines

    def adaptations(self) -> list[str]:
        """How the translated template was changed before deploying it."""
        replaced: dict[tuple[str, str], list[str]] = {}
        for where, reference, value in self.adapted.substitutions:
            if where in self.adapted.removed:
                continue
            places = replaced.setdefault((reference, value), [])
            if where not in places:
                places.append(where)
        lines = [f"References to them, replaced before deploying (scenario {self.s.tag}, in every branch of an Fn::If):"]
        lines.extend(f"  {reference} -> {value!r} in {', '.join(places)}" for (reference, value), places in replaced.items())
        lines.append("Placeholder rules:")
        lines.extend(f"  {rule}" for rule in PLACEHOLDER_RULES)
        lines.append("Properties rewritten for moto:")
        lines.extend(f"  {kind} {name}: {why}" for kind, (name, why) in REWRITTEN_PROPERTIES.items())
        lines.append("Properties moto's CloudFormation ignores (checked in the translated template, marked [template]):")
        lines.extend(f"  {kind}: {', '.join(names)}" for kind, names in IGNORED_PROPERTIES.items())
        return lines


def core_readers(name: str) -> list[tuple[str, str]]:
    """(TYPE::from_env, file) of each gantry-core type whose from_env reads the
    variable through the constant declared beside it in the same file."""
    src = ROOT / "functions" / "core" / "src"
    found = []
    for path in sorted(src.rglob("*.rs")):
        text = path.read_text()
        constants = re.findall(r"pub const (\w+): &str = \"" + re.escape(name) + r"\";", text)
        if not constants or not re.search(r"pub fn from_env\s*\(", text):
            continue
        # The constant used beyond its declaration (in the file's from_env).
        if not any(len(re.findall(r"\b" + c + r"\b", text)) > 1 for c in constants):
            continue
        for kind in dict.fromkeys(re.findall(r"^impl (\w+) \{", text, re.M)):
            found.append((f"{kind}::from_env", str(path.relative_to(src))))
    return found


def check_code_reads_env(report: Report) -> None:
    """The variables the template sets are the ones the code reads (by name): in the
    function's own source, through a gantry-core constant holding the name that the
    function's source uses, or through a gantry-core TYPE::from_env (declared with
    that constant) that the function's source calls: trigger's GitHub credential and
    contexts (Credential::from_env, StatusConfig::from_env)."""
    core = "".join(path.read_text() for path in sorted((ROOT / "functions" / "core" / "src").rglob("*.rs")))
    for key in FUNCTION_ENV:
        # Both of status's modes: the template sets one or the other.
        names = sorted(set(function_env(key, False)) | set(function_env(key, True)))
        folder = FUNCTIONS[key][0]
        source = function_source(key)
        if source is None:
            # A function whose crate is still being written: the template is ahead.
            print(f"     note: functions/{folder}/src not found: {', '.join(names)} not looked for in its source")
            continue
        for name in names:
            constants = re.findall(r"pub const (\w+): &str = \"" + re.escape(name) + r"\";", core)
            via_core = [c for c in constants if re.search(r"\b" + c + r"\b", source)]
            via_reader = [f"{reader}, {where}" for reader, where in core_readers(name) if re.search(r"\b" + re.escape(reader) + r"\s*\(", source)]
            found = f'"{name}"' in source or bool(via_core) or bool(via_reader)
            label = f"functions/{folder} source names {name}"
            if f'"{name}"' not in source:
                if via_core:
                    label += f" (gantry-core's {via_core[0]})"
                elif via_reader:
                    label = f"functions/{folder} source reads {name} through gantry-core's {via_reader[0]}"
            if not found and (key, name) in ENV_AHEAD_OF_CODE:
                print(f"     note: functions/{folder} does not read {name} yet (set ahead of the code, ENV_AHEAD_OF_CODE)")
                continue
            report.check(label, found, "the template sets a variable the code does not read")
    # The table's keys, indexes and TTL attribute are the ones the ledger module uses
    # (functions/core/src/ledger.rs, or the ledger/ folder it became).
    src = ROOT / "functions" / "core" / "src"
    paths = [src / "ledger.rs"] if (src / "ledger.rs").exists() else sorted((src / "ledger").rglob("*.rs"))
    ledger = "".join(path.read_text() for path in paths)
    names = [k["AttributeName"] for k in LEDGER_KEYS] + [k["AttributeName"] for ks in LEDGER_INDEXES.values() for k in ks]
    names += list(LEDGER_INDEXES) + [LEDGER_TTL_ATTRIBUTE]
    missing = [name for name in names if f'"{name}"' not in ledger]
    report.check(
        f"gantry-core's ledger ({', '.join(str(path.relative_to(src)) for path in paths) or 'not found'}) names the table's key attributes, indexes and TTL attribute",
        bool(paths) and not missing,
        f"missing {missing}",
    )
    # The embedded metrics the alarms watch are ones the code writes: named in
    # gantry-core's metrics module or in the function's own source.
    metrics = METRICS_SOURCE.read_text() if METRICS_SOURCE.exists() else ""
    for _, metric, key in [GITHUB_REJECTED, DELIVERY_ABANDONED]:
        source = function_source(key)
        folder = FUNCTIONS[key][0]
        if source is None:
            print(f"     note: functions/{folder}/src not found: its metric {metric} not looked for in the code")
            continue
        report.check(
            f"the alarmed metric {metric} is named in gantry-core's {METRICS_SOURCE.name} or functions/{folder}/src",
            f'"{metric}"' in metrics or f'"{metric}"' in source,
            "an alarm on a metric nothing writes never fires",
        )


def check_status_settings(report: Report, template: dict) -> None:
    """The GitHub credential's settings as gantry-core declares them
    (functions/core/src/github/credential.rs, which status's config.rs re-exports):
    the template sets the Secrets Manager ones of one mode at a time and never the
    plain-value ones (local runs only), on status and, with the same values, on
    trigger."""
    path = CREDENTIAL_SOURCE
    if not path.exists():
        print(f"     note: {path.relative_to(ROOT)} not found: the credential's setting names not compared with the template")
        return
    declared = dict(re.findall(r'pub const (\w+): &str = "(GANTRY_[A-Z0-9_]+)";', path.read_text()))
    for constant, name in {**STATUS_CONFIG_CONSTANTS, **STATUS_LOCAL_ONLY_CONSTANTS}.items():
        report.equal(f"{path.relative_to(ROOT)}: {constant} is {name}", declared.get(constant), name)
    resources = template["Resources"]
    mode_names = {n for names in STATUS_MODE_ENV.values() for n in names}
    for key in GITHUB_FUNCTIONS:
        lid = f"{key}Function"
        variables = resources[lid]["Properties"]["Environment"]["Variables"]
        both_modes = sorted(set(FUNCTION_ENV[key]) | mode_names)
        report.equal(f"{lid}: declares the variables of both modes, each under its Fn::If [template]", sorted(variables), both_modes)
        local = sorted(set(variables) & set(STATUS_LOCAL_ONLY_CONSTANTS.values()))
        report.check(
            f"{lid}: never sets the plain-value {', '.join(sorted(STATUS_LOCAL_ONLY_CONSTANTS.values()))} (local runs only) [template]",
            not local,
            str(local),
        )
        for mode, names in STATUS_MODE_ENV.items():
            for name in names:
                spec = variables.get(name, {})
                branch = spec.get("Fn::If", [None])[0] if isinstance(spec, dict) else None
                report.equal(f"{lid}: {name} only in {mode} mode (Fn::If UseGitHubApp) [template]", branch, "UseGitHubApp")
    # trigger's GitHub settings are status's, exactly (the same secret, mode and contexts).
    status = resources["StatusFunction"]["Properties"]["Environment"]["Variables"]
    trigger = resources["TriggerFunction"]["Properties"]["Environment"]["Variables"]
    shared = sorted(mode_names | {"GANTRY_GITHUB_API_URL", "GANTRY_STATUS_CONFIG"})
    differ = [name for name in shared if trigger.get(name) != status.get(name)]
    report.check(f"TriggerFunction: {', '.join(shared)} exactly as StatusFunction sets them [template]", not differ, f"differ: {differ}")
    # redeliver exists only in App mode (its condition holds UseGitHubApp): status's
    # App-mode branch of each credential variable, unconditionally, and no token one.
    condition = template["Conditions"][REDELIVER_CONDITION]
    report.check(
        f"condition {REDELIVER_CONDITION}: App mode (UseGitHubApp) and RedeliverFailedDeliveries true [template]",
        condition == {"Fn::And": [{"Condition": "UseGitHubApp"}, {"Fn::Equals": [{"Ref": "RedeliverFailedDeliveries"}, "true"]}]},
        json.dumps(condition),
    )
    for key in APP_ONLY_FUNCTIONS:
        lid = f"{key}Function"
        variables = resources[lid]["Properties"]["Environment"]["Variables"]
        report.equal(f"{lid}: declares exactly {', '.join(function_env(key, True))} [template]", sorted(variables), sorted(function_env(key, True)))
        for name in STATUS_MODE_ENV["app"]:
            branch = status[name]["Fn::If"]
            report.equal(f"{lid}: {name} is StatusFunction's App-mode value, {json.dumps(branch[1])} [template]", variables.get(name), branch[1])
        report.equal(f"{lid}: GANTRY_GITHUB_API_URL as StatusFunction's [template]", variables.get("GANTRY_GITHUB_API_URL"), status.get("GANTRY_GITHUB_API_URL"))
        report.check(
            f"{lid}: none of token mode's {', '.join(STATUS_MODE_ENV['token'])} nor the plain-value {', '.join(sorted(STATUS_LOCAL_ONLY_CONSTANTS.values()))} [template]",
            not (set(variables) & (set(STATUS_MODE_ENV["token"]) | set(STATUS_LOCAL_ONLY_CONSTANTS.values()))),
        )
    redeliver = resources["RedeliverFunction"]["Properties"]["Environment"]["Variables"]
    report.equal(
        "RedeliverFunction: GANTRY_REDELIVER_WINDOW_MINUTES is the RedeliveryWindowMinutes parameter [template]",
        redeliver.get("GANTRY_REDELIVER_WINDOW_MINUTES"),
        {"Ref": "RedeliveryWindowMinutes"},
    )


class RulesEvaluator:
    """Evaluates a template's Rules as CloudFormation does before it creates or
    updates a stack (moto ignores them): with the functions Rules use here
    (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Ref to a parameter, Condition) and no
    other; anything else is an error, not a guess."""

    def __init__(self, template: dict, answers: dict[str, str]) -> None:
        self.template = template
        declared = template["Parameters"]
        unknown = sorted(set(answers) - set(declared))
        if unknown:
            raise Unresolved(f"not parameters: {unknown}")
        self.values = {key: str(spec.get("Default", "")) for key, spec in declared.items()}
        self.values.update(answers)

    def value(self, node: Any) -> str:
        if isinstance(node, (str, int, float, bool)):
            return str(node).lower() if isinstance(node, bool) else str(node)
        if isinstance(node, dict) and list(node) == ["Ref"]:
            if node["Ref"] not in self.values:
                raise Unresolved(f"Ref {node['Ref']} is not a parameter")
            return self.values[node["Ref"]]
        raise Unresolved(f"value {node!r}")

    def truth(self, node: Any) -> bool:
        if not isinstance(node, dict) or len(node) != 1:
            raise Unresolved(f"assertion {node!r}")
        (key, arg), = node.items()
        if key == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if key == "Fn::Not":
            return not self.truth(arg[0])
        if key == "Fn::And":
            return all(self.truth(item) for item in arg)
        if key == "Fn::Or":
            return any(self.truth(item) for item in arg)
        if key == "Condition":
            return self.truth(self.template["Conditions"][arg])
        raise Unresolved(f"function {key}")

    def refusals(self) -> list[tuple[str, str]]:
        """(rule, AssertDescription) of every assertion that fails."""
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.truth(assertion["Assert"]):
                    failed.append((name, " ".join(str(assertion.get("AssertDescription", "")).split())))
        return failed


def first_deploy_answers(account: str, region: str) -> dict[str, dict[str, str]]:
    """The answers a first deploy needs besides the defaults (README "First deploy")."""
    connection = f"arn:aws:codeconnections:{region}:{account}:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    routes = '{"routes":[{"name":"main","repository":"octo-org/app","branches":["main"],"pipeline":"app-pipeline"}]}'
    return {
        "the example pipeline": {"CreateExamplePipeline": "true", "ConnectionArn": connection, "FullRepositoryId": "octo-org/app"},
        "your own pipelines": {"RoutesJson": routes, "PipelineNames": "app-pipeline"},
        "your own projects": {"RoutesJson": routes.replace('"pipeline":"app-pipeline"', '"project":"pr-build"'), "ProjectNames": "pr-build"},
    }


def check_first_deploy(report: Report, template: dict, account: str, region: str) -> None:
    """`sam deploy --guided` with the defaults and only the answers a first deploy
    needs passes every rule; the combinations the rules exist for are refused."""
    params = template["Parameters"]
    # The defaults themselves must be values CloudFormation accepts.
    bad = []
    for key, spec in params.items():
        default = str(spec.get("Default", ""))
        if "AllowedValues" in spec and default not in [str(v) for v in spec["AllowedValues"]]:
            bad.append(f"{key}={default!r} not in AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], default):
            bad.append(f"{key}={default!r} does not match AllowedPattern")
    report.check("every parameter's default satisfies its own AllowedValues/AllowedPattern", not bad, "; ".join(bad))
    report.equal("CreateExamplePipeline: off by default (it needs a connection)", params["CreateExamplePipeline"].get("Default"), "false")
    for label, answers in first_deploy_answers(account, region).items():
        refused = RulesEvaluator(template, answers).refusals()
        report.check(f"rules: every default plus only {', '.join(sorted(answers))} ({label}) passes every rule", not refused, str(refused))
    # App mode: the App's id alone (the stack creates the key secret), or with a key ARN.
    example = first_deploy_answers(account, region)["the example pipeline"]
    key = f"arn:aws:secretsmanager:{region}:{account}:secret:octo-github-app-key-AbCdEf"
    for label, answers in [
        ("App mode, the stack's own key secret", {**example, "GitHubAppId": "12345"}),
        ("App mode, an existing key secret", {**example, "GitHubAppId": "12345", "ExistingGitHubAppKeySecretArn": key}),
    ]:
        refused = RulesEvaluator(template, answers).refusals()
        report.check(f"rules: the example pipeline's answers plus {label} pass every rule", not refused, str(refused))
    connection = first_deploy_answers(account, region)["the example pipeline"]["ConnectionArn"]
    refusals = [
        ("the previous defaults: the example pipeline on, no ConnectionArn", {"CreateExamplePipeline": "true", "FullRepositoryId": "octo-org/app"}, "ExampleSource", "ConnectionArn"),
        ("the example pipeline without FullRepositoryId", {"CreateExamplePipeline": "true", "ConnectionArn": connection}, "ExampleSource", "FullRepositoryId"),
        ("every default alone (nothing to start)", {}, "RoutesOrExample", "RoutesJson"),
        ("routes but no pipeline or project named", {"RoutesJson": '{"routes":[]}'}, "SomethingToRunAndReport", "pipeline or project"),
        (
            "an update relying on the previous default CreateExamplePipeline=true (only ConnectionArn and FullRepositoryId given)",
            {"ConnectionArn": connection, "FullRepositoryId": "octo-org/app"},
            "RoutesOrExample",
            "example pipeline",
        ),
        (
            "ExistingGitHubAppKeySecretArn without GitHubAppId",
            {
                **first_deploy_answers(account, region)["the example pipeline"],
                "ExistingGitHubAppKeySecretArn": f"arn:aws:secretsmanager:{region}:{account}:secret:octo-github-app-key-AbCdEf",
            },
            "AppKeyNeedsAppId",
            "GitHubAppId",
        ),
        (
            "ArtifactBucketKmsKeyArn with the stack's own bucket",
            {**first_deploy_answers(account, region)["the example pipeline"], "ArtifactBucketKmsKeyArn": f"arn:aws:kms:{region}:{account}:key/66666666-7777-8888-9999-000000000000"},
            "ArtifactKeyNeedsExistingBucket",
            "ExistingArtifactBucket",
        ),
    ]
    for label, answers, rule, says in refusals:
        refused = RulesEvaluator(template, answers).refusals()
        report.check(
            f"rules: refuse {label} (rule {rule}, saying what is missing: {says!r})",
            any(name == rule and says in text for name, text in refused),
            str(refused),
        )


def reserved_total(template: dict) -> int:
    """The concurrency ReservedConcurrency=true reserves, read from the functions."""
    total = 0
    for resource in template["Resources"].values():
        value = resource.get("Properties", {}).get("ReservedConcurrentExecutions")
        if isinstance(value, dict) and list(value) == ["Fn::If"] and value["Fn::If"][0] == "UseReservedConcurrency":
            total += int(value["Fn::If"][1])
    return total


def check_reserved_concurrency(report: Report, template: dict) -> None:
    spec = template["Parameters"]["ReservedConcurrency"]
    total = reserved_total(template)
    needed = total + LAMBDA_MIN_UNRESERVED
    report.equal("ReservedConcurrency: off by default (a new account's quota may be 10)", spec.get("Default"), "false")
    caps = sum(f[3] for f in FUNCTIONS.values() if f[3] is not None)
    report.equal(
        "ReservedConcurrency=true reserves the functions' caps, 27 in all (webhook 20, status 5, pruner 1, redeliver 1 where it exists; trigger none)",
        (total, caps),
        (27, 27),
    )
    without = total - FUNCTIONS["Redeliver"][3]
    text_without = " ".join(spec["Description"].split())
    report.check(
        f"ReservedConcurrency: the description also says what a stack without redeliver reserves ({without}) and needs ({without + LAMBDA_MIN_UNRESERVED})",
        f"{without} without redeliver" in text_without and f"{without + LAMBDA_MIN_UNRESERVED} without redeliver" in text_without,
        text_without,
    )
    text = " ".join(spec["Description"].split())
    report.check(
        f"ReservedConcurrency: the description says it reserves {total} and the account needs a quota of at least {needed} (Lambda keeps {LAMBDA_MIN_UNRESERVED} unreserved)",
        f"reserves {total}" in text and f"at least {needed}" in text and f"at least {LAMBDA_MIN_UNRESERVED}" in text,
        text,
    )
    readme = " ".join((ROOT / "infra" / "README.md").read_text().split())
    report.check(
        f"infra/README.md: ReservedConcurrency reserves {total} and needs a quota of at least {needed}",
        f"reserves {total}" in readme and f"at least {needed}" in readme,
    )


def check_parameter_patterns(report: Report, template: dict, account: str) -> None:
    params = template["Parameters"]
    cases = [
        ("PrunePrefixes", "app-pipeline/,nightly-builds/", True),
        ("PrunePrefixes", "", True),
        ("PrunePrefixes", "app-pipeline", False),  # not a folder
        ("PrunePrefixes", "/", False),  # the whole bucket
        ("PrunePrefixes", "*/", False),  # a wildcard in an IAM resource
        ("PrunePrefixes", "app/,", False),
        ("SecretAdminRoleArns", f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_AdministratorAccess_*", True),
        ("SecretAdminRoleArns", f"arn:aws:iam::{account}:role/a,arn:aws:iam::{account}:role/b", True),
        ("SecretAdminRoleArns", f"arn:aws:iam::{account}:user/alice", False),
        ("SecretsKmsKeyArn", f"arn:aws:kms:us-east-1:{account}:key/11111111-2222-3333-4444-555555555555", True),
        ("SecretsKmsKeyArn", f"arn:aws:kms:us-east-1:{account}:alias/gantry", False),
        ("ArtifactBucketKmsKeyArn", f"arn:aws:kms:us-east-1:{account}:key/11111111-2222-3333-4444-555555555555", True),
        ("GitHubAppId", "", True),  # token mode
        ("GitHubAppId", "12345", True),
        ("GitHubAppId", " 12345", False),
        ("GitHubAppId", "gantry-ci", False),  # the App's name (slug) is not its id
        ("ExistingGitHubAppKeySecretArn", f"arn:aws:secretsmanager:us-east-1:{account}:secret:octo-github-app-key-AbCdEf", True),
        ("ExistingGitHubAppKeySecretArn", "octo-github-app-key", False),
    ]
    for name, value, ok in cases:
        report.equal(
            f"{name} {value or 'empty'!r} {'accepted' if ok else 'refused'} by its AllowedPattern",
            bool(re.fullmatch(params[name]["AllowedPattern"], value)),
            ok,
        )
    text = " ".join(params["PrunePrefixes"]["Description"].split())
    report.check(
        f"PrunePrefixes: the description says the derived default is CodePipeline's folder only for names of at most {PIPELINE_FOLDER_CHARS} characters",
        f"at most {PIPELINE_FOLDER_CHARS} characters" in text,
        text,
    )


def check_upgrade(report: Report, template: dict, account: str, region: str) -> None:
    """An update from UPGRADE_BASE's template keeps every resource that holds data:
    same logical id and type, no change to a property whose change replaces it,
    same deletion policies, and (with the parameters the old stack had, as
    `sam deploy --guided` saves them) the same condition outcome."""
    try:
        old_text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{UPGRADE_BASE}:infra/template.yaml"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"     note: upgrade check skipped: no git history with {UPGRADE_BASE} ({error})")
        return
    old = yaml_parse(old_text)
    pseudo = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws", "AWS::StackName": "gantry"}
    connection = f"arn:aws:codeconnections:{region}:{account}:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    # Parameter sets the old template was deployed with (its first deploy, and the
    # test scenarios of that time).
    old_sets = {
        "its first deploy (the example by default)": {"ConnectionArn": connection, "FullRepositoryId": "octo-org/app"},
        "own routes, existing bucket and secrets": {
            "CreateExamplePipeline": "false",
            "RoutesJson": '{"routes":[]}',
            "PipelineNames": "app-pipeline",
            "ExistingArtifactBucket": "octo-org-artifacts",
            "ExistingWebhookSecretArn": f"arn:aws:secretsmanager:{region}:{account}:secret:octo-webhook-secret-AbCdEf",
            "ExistingGitHubTokenSecretArn": f"arn:aws:secretsmanager:{region}:{account}:secret:octo-github-token-AbCdEf",
        },
    }
    problems = []
    for lid, resource in old["Resources"].items():
        kind = resource["Type"]
        if kind not in DATA_RESOURCES:
            continue
        new = template["Resources"].get(lid)
        if new is None or new["Type"] != kind:
            problems.append(f"{lid}: removed or of another type")
            continue
        for prop in DATA_RESOURCES[kind]:
            if resource.get("Properties", {}).get(prop) != new.get("Properties", {}).get(prop):
                problems.append(f"{lid}: {prop} changed (replacement)")
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"]:
            if resource.get(policy) != new.get(policy):
                problems.append(f"{lid}: {policy} {resource.get(policy)} -> {new.get(policy)}")
        for label, answers in old_sets.items():
            old_values = {k: str(v.get("Default", "")) for k, v in old["Parameters"].items()} | answers
            # `sam deploy --guided` saved every answer, defaults included.
            kept = Resolver(old, old_values, pseudo, {})
            now = Resolver(template, {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()} | old_values, pseudo, {})
            before = "Condition" not in resource or kept.condition(resource["Condition"])
            after = "Condition" not in new or now.condition(new["Condition"])
            if before and not after:
                problems.append(f"{lid}: deleted by an update with the parameters of {label}")
    # An old default stack (the example by default) given RoutesJson and PipelineNames
    # but not CreateExamplePipeline: the rules pass, the example goes, and so does the
    # build rule's queue, with no project left (README "Upgrading" says so).
    answers = old_sets["its first deploy (the example by default)"] | {"RoutesJson": '{"routes":[]}', "PipelineNames": "app-pipeline"}
    refused = RulesEvaluator(template, answers).refusals()
    now = Resolver(template, {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()} | answers, pseudo, {})
    gone = sorted(
        lid
        for lid in ["ExamplePipeline", "ExampleBuildProject", "ExampleBuildLogGroup", "StatusPipelineRuleDlq", "StatusBuildRuleDlq"]
        if not now.condition(template["Resources"][lid]["Condition"])
    )
    report.check(
        "upgrade: an old default stack updated with RoutesJson and PipelineNames but without CreateExamplePipeline=true passes the rules and loses the example and StatusBuildRuleDlq",
        not refused and gone == sorted(["ExamplePipeline", "ExampleBuildProject", "ExampleBuildLogGroup", "StatusBuildRuleDlq"]),
        f"refused {refused}, removed {gone}",
    )
    kept_ids = [lid for lid, r in old["Resources"].items() if r["Type"] in DATA_RESOURCES]
    report.check(
        f"upgrade from {UPGRADE_BASE}: none of the {len(kept_ids)} queues, buckets, secrets and log groups is removed or replaced",
        not problems,
        "; ".join(problems),
    )
    replaced = []
    for lid, resource in old["Resources"].items():
        new = template["Resources"].get(lid)
        if new is None and lid not in REMOVED_ON_PURPOSE:
            replaced.append(f"{lid} removed")
        elif new is not None and new["Type"] != resource["Type"]:
            replaced.append(f"{lid} retyped")
    gone = sorted(lid for lid in old["Resources"] if lid not in template["Resources"])
    report.check(
        f"upgrade from {UPGRADE_BASE}: every resource of the previous template still declared, but those removed on purpose ({', '.join(gone) or 'none'})",
        not replaced,
        "; ".join(replaced),
    )
    check_queue_upgrade(report, template)


def check_queue_upgrade(report: Report, template: dict) -> None:
    """An update from QUEUE_UPGRADE_BASE (the rule invoked trigger asynchronously) to
    TriggerQueue keeps TriggerFailureQueue and TriggerRuleDlq with their messages, and
    keeps the on-failure destination for events already in Lambda's asynchronous
    queue, which the new code still handles."""
    try:
        old_text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{QUEUE_UPGRADE_BASE}:infra/template.yaml"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"     note: queue upgrade check skipped: no git history with {QUEUE_UPGRADE_BASE} ({error})")
        return
    old = yaml_parse(old_text)["Resources"]
    new = template["Resources"]
    for lid in ["TriggerFailureQueue", "TriggerRuleDlq"]:
        before, after = old.get(lid, {}), new.get(lid, {})
        report.check(
            f"upgrade from {QUEUE_UPGRADE_BASE}: {lid} kept with its messages (same logical id, type and properties, no condition)",
            bool(before)
            and before.get("Type") == after.get("Type") == "AWS::SQS::Queue"
            and before.get("Properties") == after.get("Properties")
            and "Condition" not in after
            and (before.get("DeletionPolicy"), before.get("UpdateReplacePolicy")) == (after.get("DeletionPolicy"), after.get("UpdateReplacePolicy")),
            json.dumps({"before": before, "after": after}),
        )
    removed = sorted(set(old) - set(new))
    report.equal(f"upgrade from {QUEUE_UPGRADE_BASE}: removes only TriggerRulePermission", removed, ["TriggerRulePermission"])
    added = sorted(set(new) - set(old))
    report.equal(
        f"upgrade from {QUEUE_UPGRADE_BASE}: adds TriggerQueue, its policy, TriggerDlq and its alarm (and, App mode only, GitHubAppKeySecret and its policy, and the redeliver function's {len(REDELIVER_RESOURCES)} resources)",
        added,
        sorted(["TriggerQueue", "TriggerQueuePolicy", "TriggerDlq", "TriggerDlqAlarm", "GitHubAppKeySecret", "GitHubAppKeySecretPolicy"] + REDELIVER_RESOURCES),
    )
    # No App resource exists for a stack that stays in token mode.
    values = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    token = Resolver(template, values, {}, {})
    app_only = ["GitHubAppKeySecret", "GitHubAppKeySecretPolicy"] + REDELIVER_RESOURCES
    report.check(
        "upgrade: GitHubAppKeySecret, its policy and the redeliver function's resources are created only in App mode (not for a stack that keeps GitHubAppId empty, RedeliverFailedDeliveries at its default)",
        not any(token.condition(new[lid]["Condition"]) for lid in app_only),
        str([lid for lid in app_only if token.condition(new[lid]["Condition"])]),
    )
    invoke = new["TriggerFunction"]["Properties"].get("EventInvokeConfig", {})
    report.equal(
        f"upgrade from {QUEUE_UPGRADE_BASE}: trigger keeps its on-failure destination TriggerFailureQueue (events already in Lambda's asynchronous queue run the new code)",
        invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
        old["TriggerFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"],
    )
    # EventBridge's target keeps its id: an update changes its ARN in place instead of
    # adding the queue beside the function.
    ids = lambda resources: [target["Id"] for target in resources["TriggerRule"]["Properties"]["Targets"]]  # noqa: E731
    report.equal(f"upgrade from {QUEUE_UPGRADE_BASE}: TriggerRule's one target keeps its Id (replaced in place)", ids(new), ids(old))


def readme_section(title: str) -> str:
    """The text of one section of infra/README.md (up to the next heading of the same
    or a higher level), whitespace folded."""
    text = (ROOT / "infra" / "README.md").read_text()
    match = re.search(r"^(#+) " + re.escape(title) + r"\s*$", text, re.M)
    if not match:
        return ""
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(r"^#{1,%d} " % level, rest, re.M)
    return " ".join((rest[: end.start()] if end else rest).split())


def check_readme(report: Report, template: dict, account: str, region: str) -> None:
    """What infra/README.md says about deploying, roles and upgrades matches the
    template and what the scenarios deployed."""
    first = readme_section("First deploy: what to have ready")
    for label, answers in first_deploy_answers(account, region).items():
        missing = [name for name in answers if f"`{name}" not in first]
        report.check(f"infra/README.md First deploy: names every answer {label} needs ({', '.join(sorted(answers))})", bool(first) and not missing, f"missing {missing}")
    connection = readme_section("A CodeConnections connection to GitHub")
    sample = re.search(r"arn:aws:codeconnections:[^`\s)]+", connection)
    report.check(
        "infra/README.md: the sample ARN create-connection prints is one ConnectionArn's AllowedPattern accepts",
        sample is not None and re.fullmatch(template["Parameters"]["ConnectionArn"]["AllowedPattern"], sample.group(0)) is not None,
        sample.group(0) if sample else "no sample ARN",
    )
    report.check(
        "infra/README.md: the connection is created with aws codeconnections create-connection --provider-type GitHub, starts PENDING and is completed in the console",
        "aws codeconnections create-connection --provider-type GitHub" in connection and "PENDING" in connection and "Update pending connection" in connection,
    )
    text = " ".join((ROOT / "infra" / "README.md").read_text().split())
    header = " ".join(TEMPLATE.read_text().split("\nMetadata:", 1)[0].split())
    for where, body in [("infra/README.md", text), ("the template's header comment", header)]:
        report.check(
            f"{where}: the stack name may have at most {MAX_STACK_NAME_CHARS} characters ({LAMBDA_FUNCTION_NAME_CHARS} for a function name, STACK-{max((f[0] for f in FUNCTIONS.values()), key=len)} the longest)",
            f"at most {MAX_STACK_NAME_CHARS} characters" in body,
        )
    roles = readme_section("What each role may do")
    missing = sorted(action for action in GRANTED_ACTIONS if f"`{action}`" not in roles and not action.startswith("logs:"))
    report.check(f"infra/README.md role table: names every action the deployed roles grant ({len(GRANTED_ACTIONS)})", bool(GRANTED_ACTIONS) and not missing, f"missing {missing}")
    try:
        old_text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{UPGRADE_BASE}:infra/template.yaml"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return
    old = yaml_parse(old_text)["Parameters"]
    changed = sorted(
        name for name, spec in template["Parameters"].items() if name in old and str(old[name].get("Default", "")) != str(spec.get("Default", ""))
    )
    upgrading = readme_section("Upgrading")
    report.check(
        f"infra/README.md Upgrading: names every parameter whose default changed since {UPGRADE_BASE} ({', '.join(changed) or 'none'}) with its new default",
        all(f"`{name}` is now `{template['Parameters'][name]['Default']}`" in upgrading for name in changed),
        upgrading[:200],
    )


def check_trigger_retries(report: Report, template: dict) -> None:
    """The tries TriggerQueue gives an event before TriggerDlq span over an hour."""
    queue = template["Resources"]["TriggerQueue"]["Properties"]
    receives = queue["RedrivePolicy"]["maxReceiveCount"]
    report.equal("TriggerQueue: maxReceiveCount 9 (9 tries before TriggerDlq) [template]", receives, TRIGGER_QUEUE_MAX_RECEIVES)
    waits = [trigger_backoff(n) for n in range(1, receives)]
    report.equal(
        "trigger's backoff: 60, 120, 240, 480, then 900 s (1, 2, 4, 8, then every 15 minutes)",
        [trigger_backoff(n) for n in range(1, 8)],
        [60, 120, 240, 480, 900, 900, 900],
    )
    report.check(
        f"trigger's backoff over the {receives - 1} waits between TriggerQueue's {receives} tries sums to at least {TRIGGER_RETRY_SPAN_MIN} s "
        f"({' + '.join(str(w) for w in waits)} = {sum(waits)} s) [template]",
        sum(waits) >= TRIGGER_RETRY_SPAN_MIN,
    )
    function = template["Resources"]["TriggerFunction"]["Properties"]
    report.check(
        f"TriggerQueue: VisibilityTimeout {queue.get('VisibilityTimeout')} at least {SQS_VISIBILITY_PER_FUNCTION_TIMEOUT} x TriggerFunction's Timeout ({function.get('Timeout')}) [template]",
        int(queue.get("VisibilityTimeout", 30)) >= SQS_VISIBILITY_PER_FUNCTION_TIMEOUT * int(function["Timeout"]),
    )
    report.check(
        f"trigger's longest backoff ({TRIGGER_LONGEST_WAIT} s) is one SQS accepts (at most 12 hours of visibility)",
        TRIGGER_LONGEST_WAIT <= 43200,
    )


def check_trigger_retry_source(report: Report) -> None:
    """functions/trigger/src/retry.rs sets the schedule and maxReceiveCount the
    template and this check assume."""
    path = ROOT / "functions" / "trigger" / "src" / "retry.rs"
    if not path.exists():
        print("     note: functions/trigger/src/retry.rs not found: trigger's backoff not compared with the template")
        return
    source = path.read_text()

    def constant(name: str, pattern: str) -> int | None:
        match = re.search(r"const " + name + r": " + pattern, source)
        if not match:
            print(f"     note: functions/trigger/src/retry.rs has no {name} in the form this check reads")
            return None
        return int(eval(match.group(1), {"__builtins__": {}}))  # digits and * only, by the pattern

    receives = constant("MAX_RECEIVES", r"u32 = (\d+);")
    first = constant("FIRST_WAIT", r"Duration = Duration::from_secs\(([\d\s*]+)\);")
    longest = constant("LONGEST_WAIT", r"Duration = Duration::from_secs\(([\d\s*]+)\);")
    if receives is not None:
        report.equal("functions/trigger/src/retry.rs: MAX_RECEIVES is TriggerQueue's maxReceiveCount", receives, TRIGGER_QUEUE_MAX_RECEIVES)
    if first is not None and longest is not None:
        report.equal(
            "functions/trigger/src/retry.rs: FIRST_WAIT and LONGEST_WAIT are the backoff the template's comments and this check assume",
            (first, longest),
            (TRIGGER_FIRST_WAIT, TRIGGER_LONGEST_WAIT),
        )


def route_event_names() -> list[str] | None:
    """The events a route may name: trigger's EventKind variants, snake_case as serde
    reads them (functions/trigger/src/config.rs); None when they cannot be read."""
    path = ROOT / "functions" / "trigger" / "src" / "config.rs"
    if not path.exists():
        return None
    match = re.search(r"#\[serde\(rename_all = \"snake_case\"\)\]\s*pub enum EventKind \{([^}]*)\}", path.read_text())
    if not match:
        return None
    body = re.sub(r"//[^\n]*", "", match.group(1))
    variants = re.findall(r"\b([A-Z][A-Za-z0-9]*)\b", body)
    return [re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in variants]


def check_app_manifest(report: Report) -> None:
    """infra/github-app-manifest.json: a manifest GitHub's manifest flow accepts, with
    the permission every event needs and every event Gantry acts on."""
    try:
        manifest = json.loads(APP_MANIFEST.read_text())
    except (OSError, ValueError) as error:
        report.check("infra/github-app-manifest.json is valid JSON", False, str(error))
        return
    report.check("infra/github-app-manifest.json is valid JSON, an object", isinstance(manifest, dict), type(manifest).__name__)
    if not isinstance(manifest, dict):
        return
    known = {
        "name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url", "description",
        "public", "default_events", "default_permissions", "request_oauth_on_install", "setup_on_update",
    }
    report.check(
        "manifest: only the parameters GitHub's manifest flow documents",
        set(manifest) <= known,
        str(sorted(set(manifest) - known)),
    )
    report.equal("manifest: name gantry-ci (editable on GitHub's page; it must be unique on GitHub)", manifest.get("name"), "gantry-ci")
    report.check("manifest: url (required) is an https URL", str(manifest.get("url", "")).startswith("https://"), str(manifest.get("url")))
    hook = manifest.get("hook_attributes") or {}
    report.check(
        "manifest: hook_attributes.url (required) is an obvious placeholder for the stack's WebhookUrl output, and active",
        "REPLACE-WITH-WebhookUrl-OUTPUT" in str(hook.get("url", "")) and str(hook.get("url", "")).startswith("https://") and hook.get("active") is True,
        json.dumps(hook),
    )
    report.equal("manifest: public false (only the owner's account may install it)", manifest.get("public"), False)
    permissions = manifest.get("default_permissions") or {}
    report.equal(
        "manifest: default_permissions exactly what Gantry needs now and next, asked once (MANIFEST_PERMISSIONS)",
        permissions,
        MANIFEST_PERMISSIONS,
    )
    report.check(
        "manifest: every permission is read or write",
        all(value in ("read", "write") for value in permissions.values()),
        json.dumps(permissions),
    )
    events = manifest.get("default_events") or []
    report.equal("manifest: default_events has no duplicate", len(events), len(set(events)))
    unknown = sorted(set(events) - set(MANIFEST_EVENT_PERMISSIONS))
    report.check("manifest: every default_events entry is an event whose required permission this check knows (MANIFEST_EVENT_PERMISSIONS)", not unknown, str(unknown))
    for event in events:
        needed = MANIFEST_EVENT_PERMISSIONS.get(event)
        if needed:
            report.check(
                f"manifest: default_events {event} needs the {needed!r} permission, which default_permissions grants",
                permissions.get(needed) in ("read", "write"),
                f"default_permissions[{needed!r}] = {permissions.get(needed)!r}",
            )
    routed = route_event_names()
    if routed is None:
        print("     note: functions/trigger/src/config.rs has no EventKind in the form this check reads: the routes' events not compared with the manifest")
        routed = []
    else:
        report.check("functions/trigger/src/config.rs: a route may name push and pull_request (EventKind)", {"push", "pull_request"} <= set(routed), str(routed))
    wanted = routed + [e for e in MANIFEST_EXTRA_EVENTS if e not in routed]
    missing = [event for event in wanted if event not in events]
    report.check(
        f"manifest: default_events holds every event a route can name ({', '.join(routed) or 'unread'}) and {', '.join(MANIFEST_EXTRA_EVENTS)}",
        not missing,
        f"missing {missing}",
    )
    section = readme_section("GitHub App mode")
    undocumented = [name for name in list(events) + list(permissions) if f"`{name}`" not in section]
    report.check(
        "infra/README.md GitHub App mode: names every event and permission of the manifest, and the doc each was checked in",
        bool(section) and not undocumented and "docs.github.com/en/webhooks/webhook-events-and-payloads" in section,
        f"missing {undocumented}",
    )


def check_redeliver_parameters(report: Report, template: dict) -> None:
    """The redelivery parameters, their condition, and the parameter groups."""
    params = template["Parameters"]
    for name, wanted in REDELIVER_PARAMETERS.items():
        spec = params.get(name, {})
        got = {key: spec.get(key) for key in wanted}
        report.equal(f"{name}: {', '.join(f'{k} {v}' for k, v in wanted.items())}", got, wanted)
    report.equal(
        "RedeliverySchedule: validated as PruneSchedule is (an EventBridge schedule expression)",
        params["RedeliverySchedule"].get("AllowedPattern"),
        params["PruneSchedule"].get("AllowedPattern"),
    )
    for value, ok in [("rate(15 minutes)", True), ("cron(0/10 * * * ? *)", True), ("15 minutes", False), ("", False)]:
        report.equal(
            f"RedeliverySchedule {value or 'empty'!r} {'accepted' if ok else 'refused'} by its AllowedPattern",
            bool(re.fullmatch(params["RedeliverySchedule"]["AllowedPattern"], value)),
            ok,
        )
    text = " ".join(params["RedeliverFailedDeliveries"]["Description"].split())
    report.check(
        "RedeliverFailedDeliveries: the description says it is for App mode, redelivers what the webhook answered 5xx, and points token mode at gantry replay --failed",
        "App mode" in text and "5xx" in text and "gantry replay --failed" in text,
        text,
    )
    text = " ".join(params["RedeliveryWindowMinutes"]["Description"].split())
    report.check("RedeliveryWindowMinutes: the description says GitHub keeps deliveries 3 days", "3 days" in text, text)
    # The condition, for each mode and switch (App mode alone is not enough).
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws", "AWS::StackName": "gantry"}
    defaults = {k: str(v.get("Default", "")) for k, v in params.items()}
    for app_id, switch, wanted in [("", "true", False), ("", "false", False), ("12345", "true", True), ("12345", "false", False)]:
        values = {**defaults, "GitHubAppId": app_id, "RedeliverFailedDeliveries": switch}
        report.equal(
            f"condition {REDELIVER_CONDITION}: {wanted} with GitHubAppId {'set' if app_id else 'empty'} and RedeliverFailedDeliveries {switch}",
            Resolver(template, values, pseudo, {}).condition(REDELIVER_CONDITION),
            wanted,
        )
    outputs = template.get("Outputs", {})
    report.check(
        f"outputs {', '.join(REDELIVER_OUTPUTS)}: each under the condition {REDELIVER_CONDITION}",
        all(outputs.get(name, {}).get("Condition") == REDELIVER_CONDITION for name in REDELIVER_OUTPUTS),
        str({name: outputs.get(name, {}).get("Condition") for name in REDELIVER_OUTPUTS}),
    )
    report.check(
        "outputs: every function's name (WebhookFunctionName, ... RedeliverFunctionName), a Ref to the function",
        all(outputs.get(f"{key}FunctionName", {}).get("Value") == {"Ref": f"{key}Function"} for key in FUNCTIONS),
        str({key: outputs.get(f"{key}FunctionName", {}).get("Value") for key in FUNCTIONS}),
    )
    # The redeliver function mirrors the pruner where they do the same thing.
    resources = template["Resources"]
    pruner, redeliver = resources["PrunerFunction"]["Properties"], resources["RedeliverFunction"]["Properties"]
    report.equal(
        "RedeliverFunction: the pruner's retries for a failed scheduled run (EventInvokeConfig but the queue) [template]",
        {k: v for k, v in redeliver["EventInvokeConfig"].items() if k != "DestinationConfig"},
        {k: v for k, v in pruner["EventInvokeConfig"].items() if k != "DestinationConfig"},
    )
    report.equal(
        "RedeliverSchedule: the pruner's schedule target settings (retry policy) [template]",
        resources["RedeliverSchedule"]["Properties"]["Targets"][0]["RetryPolicy"],
        resources["PrunerSchedule"]["Properties"]["Targets"][0]["RetryPolicy"],
    )
    report.equal(
        "RedeliverFunction: build as the others (rust-cargolambda, Binary redeliver) [template]",
        (resources["RedeliverFunction"]["Metadata"].get("BuildMethod"), resources["RedeliverFunction"]["Metadata"].get("BuildProperties")),
        ("rust-cargolambda", {"Binary": "redeliver"}),
    )
    # Every parameter in exactly one group of the console's parameter form.
    groups = template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups", [])
    grouped = [name for group in groups for name in group.get("Parameters", [])]
    report.equal("parameter groups: every parameter in exactly one group", sorted(grouped), sorted(params))


def check_template(report: Report, account: str, region: str) -> None:
    """What the template says whatever the parameters: parameters, rules, routes."""
    template = yaml_parse(TEMPLATE.read_text())
    params = template["Parameters"]
    check_first_deploy(report, template, account, region)
    check_reserved_concurrency(report, template)
    check_trigger_retries(report, template)
    check_parameter_patterns(report, template, account)
    check_upgrade(report, template, account, region)
    report.equal("LogLevel: exactly Lambda's application log levels", [str(v) for v in params["LogLevel"].get("AllowedValues", [])], LAMBDA_LOG_LEVELS)
    spec = params.get("PlatformLogLevel", {})
    report.equal(
        "PlatformLogLevel: a string, exactly Lambda's system log levels, default WARN",
        (spec.get("Type"), [str(v) for v in spec.get("AllowedValues", [])], spec.get("Default")),
        ("String", LAMBDA_SYSTEM_LOG_LEVELS, "WARN"),
    )
    text = " ".join(spec.get("Description", "").split())
    report.check(
        "PlatformLogLevel: the description gives INFO's cost (about 600 bytes an invocation, BENCHMARKS.md's bill)",
        all(part in text for part in ["600 bytes", "BENCHMARKS.md", "The bill, estimated"]),
        text,
    )
    levels = {
        lid: resource["Properties"].get("LoggingConfig", {}).get("SystemLogLevel")
        for lid, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    report.check(
        f"every function's SystemLogLevel is a Ref to PlatformLogLevel ({len(levels)} functions) [template]",
        len(levels) == len(FUNCTIONS) and all(level == {"Ref": "PlatformLogLevel"} for level in levels.values()),
        str(levels),
    )
    check_redeliver_parameters(report, template)
    report.equal(
        "WebhookInvocationAlarmThreshold: a number, default 1000",
        (params["WebhookInvocationAlarmThreshold"]["Type"], str(params["WebhookInvocationAlarmThreshold"].get("Default"))),
        ("Number", "1000"),
    )
    report.equal("AlarmEmail: optional (default empty)", params["AlarmEmail"].get("Default"), "")
    spec = params.get("PrunerMemorySize", {})
    report.equal(
        f"PrunerMemorySize: {', '.join(f'{k} {v}' for k, v in PRUNER_MEMORY_PARAMETER.items())} (the default is the pruner's memory in FUNCTIONS)",
        ({key: spec.get(key) for key in PRUNER_MEMORY_PARAMETER}, FUNCTIONS["Pruner"][1]),
        (PRUNER_MEMORY_PARAMETER, PRUNER_MEMORY_PARAMETER["Default"]),
    )
    report.equal(
        "PrunerFunction: MemorySize is a Ref to PrunerMemorySize [template]",
        template["Resources"]["PrunerFunction"]["Properties"].get("MemorySize"),
        {"Ref": "PrunerMemorySize"},
    )
    text = " ".join(spec.get("Description", "").split())
    report.check(
        "PrunerMemorySize: the description gives the measured figures (190 bytes per version, 188 MiB for 1,000,000, 961 MiB for 5,000,000; 1280 for 5,000,000)",
        all(figure in text for figure in ["190 bytes", "188 MiB", "961 MiB", "1280"]),
        text,
    )
    for name in ["AlarmTopicArn", "AlarmEmail"]:
        text = " ".join(params[name]["Description"].split())
        report.check(
            f"{name}: the description says the alarms go to the topic and nowhere else until someone subscribes",
            "nowhere else until someone subscribes" in text,
            text,
        )
    text = " ".join(params["AlarmEmail"]["Description"].split())
    report.check("AlarmEmail: the description says the subscription must be confirmed from AWS's mail", "must be confirmed" in text, text)
    text = params["RoutesJson"]["Description"]
    report.check("RoutesJson: the description names fork_pull_requests and drafts", "fork_pull_requests" in text and "drafts" in text, text)
    for value, ok in [("ops@octo-org.example", True), ("", True), ("not an address", False)]:
        report.equal(f"AlarmEmail {value!r} {'accepted' if ok else 'refused'} by its AllowedPattern", bool(re.fullmatch(params["AlarmEmail"]["AllowedPattern"], value)), ok)
    # The rule moto does not evaluate: AlarmEmail only with the stack's own topic.
    rule = template["Rules"]["AlarmEmailNeedsOwnTopic"]["Assertions"][0]["Assert"]
    topic = f"arn:aws:sns:{region}:{account}:gantry-alarms"
    pseudo = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws"}
    for email, arn, ok in [("ops@octo-org.example", "", True), ("", topic, True), ("ops@octo-org.example", topic, False)]:
        verdict = Resolver(template, {"AlarmEmail": email, "AlarmTopicArn": arn}, pseudo, {}).truth(rule)
        report.equal(
            f"rule AlarmEmailNeedsOwnTopic {'accepts' if ok else 'refuses'} AlarmEmail={email or 'empty'} with AlarmTopicArn={'set' if arn else 'empty'}",
            verdict,
            ok,
        )
    # Fork pull requests would build with the example's roles: the default routes
    # (RoutesJson empty) must not build them.
    routes = template["Resources"]["TriggerFunction"]["Properties"]["Environment"]["Variables"]["GANTRY_ROUTES"]["Fn::If"][1]["Fn::Sub"]
    document = json.loads(re.sub(r"\$\{[^}]+\}", "x", routes))
    report.check(
        "default routes: no route builds pull requests from forks (fork_pull_requests is not \"build\")",
        all(route.get("fork_pull_requests", "ignore") == "ignore" for route in document["routes"]),
        routes,
    )


def main() -> int:
    # aws-sam-translator warns about its own unpublished metrics.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    aws = Aws()
    # aws-sam-translator finds the region through its own boto3 session.
    os.environ["AWS_DEFAULT_REGION"] = aws.region
    report = Report()
    account = aws.sts.get_caller_identity()["Account"]
    summaries: list[str] = []
    details: list[str] = []
    for scenario in scenarios(account, aws.region):
        aws.reset()
        run = Run(aws, report, scenario, account)
        try:
            run.run()
        except Exception as error:  # noqa: BLE001 - reported as a failed check
            report.check(f"scenario {scenario.tag} (raised)", False, f"{type(error).__name__}: {error}")
            traceback.print_exc(limit=5, file=sys.stdout)
        report.prefix = ""
        if hasattr(run, "adapted"):
            summaries.extend(run.not_deployed())
            details = details or run.adaptations()
    print("== template: parameters, rules, default routes, upgrade")
    report.section("template", lambda: check_template(report, account, aws.region))
    print("== infra/README.md: what it says against the template and the deployed roles")
    report.section("README", lambda: check_readme(report, yaml_parse(TEMPLATE.read_text()), account, aws.region))
    print("== infra/github-app-manifest.json: the GitHub App for App mode")
    report.section("App manifest", lambda: check_app_manifest(report))
    print("== source: the variables the template sets are the ones the code reads")
    report.section("source", lambda: check_code_reads_env(report))
    report.section("GitHub settings (status, trigger)", lambda: check_status_settings(report, yaml_parse(TEMPLATE.read_text())))
    report.section("trigger's retries", lambda: check_trigger_retry_source(report))
    print()
    for line in summaries + details:
        print(line)
    print()
    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
