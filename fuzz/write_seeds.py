#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: each target's starting inputs, from the sample
events in events/ and the shared fixtures, in the input format its harness
function reads (fuzz/harness/src/). Deterministic, so the seeds are committed
and rewritten alike; scripts/fuzz runs it before fuzzing.

Usage: fuzz/write_seeds.py [FIXTURES_DIR]   (default ../shared/fixtures beside the checkout)
"""
import hashlib
import json
import pathlib
import shutil
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FIXTURES = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "fixtures"
SEEDS = ROOT / "fuzz" / "seeds"
NUL = b"\0"

seeds = {}


def add(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, {})
    # One copy of each input, under the first name it came by.
    if data not in seeds[target].values():
        seeds[target][name] = data


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def files(*patterns):
    found = []
    for base, pattern in patterns:
        if base.is_dir():
            found.extend(sorted(base.glob(pattern)))
    return found


# --- webhook_verify, webhook_decide: header lines, a blank line, the body.
def delivery(headers, body):
    lines = "".join(f"{name}: {value}\n" for name, value in headers)
    return lines.encode() + b"\n" + body


for path in files((EVENTS / "webhook", "*.json")):
    request = json.loads(path.read_text())
    body = request["body"].encode()
    headers = [(name, request["headers"][name]) for name in
               ("content-type", "x-github-event", "x-github-delivery", "x-hub-signature-256")
               if name in request["headers"]]
    add("webhook_decide", f"events-webhook-{path.stem}", delivery(headers, body))
    # A signature's check does not depend on what the body says: two suffice.
    if path.stem in ("push", "ping"):
        add("webhook_verify", f"events-webhook-{path.stem}", delivery(headers, body))
    # The same delivery as GitHub's default form encoding sends it (two
    # samples are enough to reach the form decoding).
    if path.stem not in ("push", "ping"):
        continue
    form = b"payload=" + urllib.parse.quote_plus(body).encode()
    form_headers = [(n, "application/x-www-form-urlencoded" if n == "content-type" else v) for n, v in headers]
    add("webhook_decide", f"events-webhook-{path.stem}-form", delivery(form_headers, form))

# GitHub's documented test vector, a rotation with two secrets, bad headers.
VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
add("webhook_verify", "github-test-vector",
    delivery([("x-fuzz-secret", "It's a Secret to Everybody"), ("x-hub-signature-256", VECTOR)], b"Hello, World!"))
add("webhook_verify", "rotation",
    delivery([("x-fuzz-secret", "old"), ("x-fuzz-secret", "It's a Secret to Everybody"),
              ("x-hub-signature-256", VECTOR.upper().replace("SHA256=", "sha256="))], b"Hello, World!"))
add("webhook_verify", "sha1", delivery([("x-hub-signature-256", "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6")], b"{}"))
add("webhook_verify", "missing", b"{}")

EVENT_OF = {"push": "push", "pull_request": "pull_request", "merge_group": "merge_group",
            "check_run": "check_run", "ping": "ping", "issue_comment": "issue_comment"}
def without_links(value):
    """A payload without its API links (`*_url`, most of its bytes), which the
    webhook never reads: the seeds stay small and keep every field it does."""
    if isinstance(value, dict):
        return {k: without_links(v) for k, v in value.items() if not k.endswith("_url") or k == "clone_url"}
    if isinstance(value, list):
        return [without_links(v) for v in value]
    return value


for path in files((EVENTS / "github", "*.json"), (FIXTURES / "github" / "webhooks", "*.json")):
    body = compact(without_links(json.loads(path.read_text())))
    kind = path.name.split(".")[0]
    event = EVENT_OF.get(kind)
    if event is None and kind.startswith("push"):
        event = "push"
    headers = [("x-github-event", event)] if event else []
    add("webhook_decide", f"github-{path.stem}", delivery(headers, body))

# --- routes: "routing document NUL event", or either alone.
README_ROUTES = {"routes": [
    {"name": "main", "repository": "octo-org/app", "events": ["push"],
     "branches": ["main", "release/*"], "tags": ["v*"], "pipeline": "app-pipeline"},
    {"name": "docs", "repository": "octo-org/app", "paths": ["docs/**"], "codebuild_project": "docs-build"},
    {"name": "prs", "repository": "octo-org/*", "events": ["pull_request"], "branches": ["main"],
     "codebuild_project": "pr-build"}]}
EVERY_OPTION = {"routes": [
    {"name": "app", "repository": "Codertocat/*", "events": ["push", "pull_request", "merge_group"],
     "branches": ["master", "gh-readonly-queue/**"], "tags": ["v[0-9]*"], "paths": ["**/*.md", "src/{a,b}/**"],
     "pipeline": "app-pipeline", "source_action": "GitHub", "pipeline_variables": True,
     "merge_group_variable": True, "cancel_in_progress": True, "fork_pull_requests": "build", "drafts": False},
    {"repository": "*/*", "codebuild_project": "pr-build", "fork_pull_requests": "ignore", "drafts": True}]}
trigger_push = json.loads((EVENTS / "trigger" / "push.json").read_text())
add("routes", "events-trigger-push", (EVENTS / "trigger" / "push.json").read_bytes())
add("routes", "readme-routes", json.dumps(README_ROUTES, indent=2))
add("routes", "every-option-routes", compact(EVERY_OPTION))
add("routes", "readme-routes-push", compact(README_ROUTES) + NUL + compact(trigger_push))
add("routes", "every-option-routes-push", compact(EVERY_OPTION) + NUL + compact(trigger_push["detail"]))
sqs_batch = {"Records": [{"messageId": "m1", "receiptHandle": "r", "body": json.dumps(trigger_push),
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gantry-trigger", "awsRegion": "us-east-1"}]}
add("routes", "readme-routes-sqs-batch", compact(README_ROUTES) + NUL + compact(sqs_batch))
detail = trigger_push["detail"]
pull_request = {"delivery_id": "d2", "repository": detail["repository"], "clone_url": detail["clone_url"],
                "commit": detail["commit"], "event": "pull_request", "number": 7, "action": "opened",
                "base_branch": "master", "head_branch": "feature", "head_repository": "fork/Hello-World",
                "draft": True, "title": "Add a feature [skip ci]"}
merge_group = {"delivery_id": "d3", "repository": detail["repository"], "clone_url": detail["clone_url"],
               "commit": detail["commit"], "event": "merge_group", "action": "destroyed", "reason": "invalidated",
               "head_ref": "refs/heads/gh-readonly-queue/master/pr-7-abc", "base_ref": "refs/heads/master",
               "head_commit_message": "[ci skip]"}
add("routes", "every-option-routes-pull-request", compact(EVERY_OPTION) + NUL + compact(pull_request))
add("routes", "every-option-routes-merge-group", compact(EVERY_OPTION) + NUL + compact(merge_group))

# --- status_event: EventBridge events as they are, and with the reads that differ.
for path in files((EVENTS / "status", "*.json"), (FIXTURES / "aws" / "events", "*.json")):
    add("status_event", f"{path.parent.name}-{path.stem}", compact(json.loads(path.read_text())))
for path in files((FIXTURES / "aws" / "events", "*.txt")):
    add("status_event", f"{path.parent.name}-{path.stem}", path.read_bytes())

# Builds as Gantry starts them: a GitHub source at the delivered commit, or the
# variables `trigger` sets (AWS's samples build from S3, which status ignores).
GITHUB_SOURCE = {"type": "GITHUB", "location": "https://github.com/octo-org/app.git"}
SHA = "f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b"
for path in files((EVENTS / "status", "codebuild.*build-state-change*.json")):
    event = json.loads(path.read_text())
    info = event["detail"]["additional-information"]
    info["source"] = GITHUB_SOURCE
    info["source-version"] = SHA
    add("status_event", f"github-source-{path.stem}", compact(event))
    info["source"] = {"type": "NO_SOURCE"}
    del info["source-version"]
    info.setdefault("environment", {})["environment-variables"] = [
        {"name": "GANTRY_REPOSITORY", "type": "PLAINTEXT", "value": "octo-org/app"},
        {"name": "GANTRY_COMMIT", "type": "PLAINTEXT", "value": SHA}]
    add("status_event", f"gantry-variables-{path.stem}", compact(event))

stage_failed = json.loads((EVENTS / "status" / "codepipeline.derived.stage-failed.json").read_text())
stage_failed["detail"]["gantry-fuzz"] = {
    "actions": [
        {"stage": "Deploy", "action": "Deploy", "status": "Failed", "summary": "Deployment failed: see log",
         "duration": 125, "started-at": 2, "build-id": "app-build:1"},
        {"stage": "Deploy", "action": "Deploy", "status": "InProgress", "started-at": 1},
        {"stage": "Deploy", "action": "Approve", "status": "InProgress", "approval": True, "started-at": 3}],
    "declared": [{"stage": "Deploy", "actions": ["Deploy", "Approve"]}]}
add("status_event", "gantry-fuzz-stage-failed", compact(stage_failed))
pipeline = json.loads((EVENTS / "status" / "codepipeline.docs.pipeline-started.json").read_text())
pipeline["detail"]["gantry-fuzz"] = {
    "status": "InProgress", "variables": {},
    "revisions": [{"id": "f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b",
                   "url": "https://console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=a&referenceType=COMMIT&FullRepositoryId=octo-org/app&Commit=f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b"}],
    "actions": [{"stage": "Approve", "action": "Manual", "status": "InProgress", "approval": True}]}
add("status_event", "gantry-fuzz-pipeline-waiting", compact(pipeline))
build = json.loads((EVENTS / "status" / "codebuild.derived.build-state-change.failed.json").read_text())
build["detail"]["additional-information"]["source"] = GITHUB_SOURCE
build["detail"]["additional-information"]["source-version"] = SHA
build["detail"]["additional-information"]["logs"]["group-name"] = "/aws/codebuild/app"
build["detail"]["additional-information"]["logs"]["stream-name"] = "1f2e3d4c"
build["detail"]["gantry-fuzz"] = {
    "status": "IN_PROGRESS",
    "reports": [{"name": "unit", "arn": "arn:aws:codebuild:us-west-2:123456789012:report/unit:1", "total": 3,
                 "counts": {"SUCCEEDED": 1, "FAILED": 1, "ERROR": 1},
                 "failed": [{"suite": "tests.test_app", "name": "test_add", "status": "FAILED",
                             "message": "assert 1 == 2 at tests/test_app.py:12"},
                            {"name": "renders", "status": "ERROR", "message": "TypeError (src/App.test.js:4:7)"}],
                 "more-failed": True,
                 "junit": '<?xml version="1.0"?><testsuites><testsuite name="tests.test_app" file="tests/test_app.py">'
                          '<testcase classname="tests.test_app" name="test_add" file="tests/test_app.py" line="12">'
                          '<failure message="assert 1 == 2"/></testcase><testcase name="renders" file="src/App.test.js"/>'
                          '</testsuite></testsuites>'}],
    "log-lines": ["[Container] 2024/01/01 Running command make test", "\u001b[31mFAILED\u001b[0m tests/test_app.py::test_add",
                  "```", "[Container] Phase complete: BUILD State: FAILED"]}
add("status_event", "gantry-fuzz-build-failed-with-reports", compact(build))
add("status_event", "junit-pytest",
    '<testsuite name="pytest" tests="2"><testcase classname="tests.test_a" name="test_b" file="tests/test_a.py" line="3">'
    '<failure message="x &amp; y"/></testcase><testcase name="c" file="/abs/path.py"/></testsuite>')

# --- pruner_plan: "policy NUL listing", or either alone.
README_POLICY = {"keep_newest": 10, "keep_days": 14, "rules": [
    {"pipeline": "app-pipeline"},
    {"pipeline": "release-pipeline", "keep_newest": 30, "keep_days": 90},
    {"prefix": "nightly-builds/", "bucket": "other-artifacts", "keep_days": 7}]}
NOW = 1_700_000_000
DAY = 86_400
versions, markers = [], []
for i, kind in enumerate(["SourceArti", "BuildArtif", "SourceArti", "BuildArtif", "SourceArti"]):
    versions.append({"Key": f"app-pipeline/{kind}/{i:07x}", "VersionId": f"v{i}", "IsLatest": True,
                     "LastModified": NOW - (30 - i) * DAY, "Size": 4096 + i})
versions.append({"Key": "app-pipeline/SourceArti/0000000", "VersionId": "old", "IsLatest": False,
                 "LastModified": NOW - 90 * DAY, "Size": 4000})
versions.append({"Key": "nightly-builds/web/1.zip", "VersionId": "null", "IsLatest": False,
                 "LastModified": NOW - 40 * DAY, "Size": 10})
markers.append({"Key": "nightly-builds/web/1.zip", "VersionId": "m1", "IsLatest": True, "LastModified": NOW - 20 * DAY})
listing = {"pipelines": "app-pipeline", "now": NOW, "protected": ["app-pipeline/BuildArtif/0000001"],
           "account_pipelines": ["app-pipeline", "app-pipeline-eu", "release-pipeline"],
           "allowed_prefixes": "app-pipeline/, nightly-builds/", "Versions": versions, "DeleteMarkers": markers}
add("pruner_plan", "readme-policy", json.dumps(README_POLICY, indent=2))
add("pruner_plan", "listing", compact(listing))
add("pruner_plan", "readme-policy-listing", compact(README_POLICY) + NUL + compact(listing))
add("pruner_plan", "keep-one-listing",
    compact({"keep_newest": 1, "keep_days": 1, "rules": [{"prefix": "app-pipeline/"}, {"prefix": "nightly-builds/"}]})
    + NUL + compact(listing))
add("pruner_plan", "pipelines-only", b"{}" + NUL + compact({"pipelines": "app-pipeline, a-pipeline-with-a-long-name",
                                                            "now": NOW, "Versions": versions}))

for target, inputs in seeds.items():
    folder = SEEDS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in inputs.items():
        (folder / name).write_bytes(data)
    total = sum(len(d) for d in inputs.values())
    digest = hashlib.sha1(b"".join(sorted(inputs.values()))).hexdigest()[:12]
    print(f"{target}: {len(inputs)} seeds, {total} bytes ({digest})")
