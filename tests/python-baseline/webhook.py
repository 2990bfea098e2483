"""The webhook's work, as most GitHub-to-AWS glue is written today: Python and
boto3 (AWS's own sample and most open-source bridges). Only for the benchmarks
(scripts/bench): its cold start is measured in the same harness as the Rust
functions' (tests/support/bin/coldstart.rs), beside the bare lambda_runtime
binary.

Init: import boto3, build the client the webhook uses (EventBridge), read the
settings, then poll the Runtime API. Each invocation verifies
X-Hub-Signature-256, parses the payload and publishes one event, as the Rust
webhook does for a push. This is a loop on the Runtime API, not AWS's runtime
interface client, whose own start a real Python function pays on top.
"""

import hashlib
import hmac
import json
import os
import urllib.request

import boto3

BUS = os.environ["GANTRY_EVENT_BUS"]
SECRET = os.environ["GANTRY_WEBHOOK_SECRET"].encode()
EVENTS = boto3.client("events")
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"


def handle(event):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    expected = "sha256=" + hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-hub-signature-256", "")):
        return {"statusCode": 401, "body": "bad signature"}
    payload = json.loads(body)
    detail = {
        "delivery_id": headers.get("x-github-delivery"),
        "repository": payload["repository"]["full_name"],
        "ref": payload.get("ref"),
        "commit": payload.get("after"),
    }
    EVENTS.put_events(
        Entries=[
            {
                "EventBusName": BUS,
                "Source": "gantry.github",
                "DetailType": "GitHub Push",
                "Detail": json.dumps(detail),
            }
        ]
    )
    return {"statusCode": 202, "body": "accepted"}


while True:
    with urllib.request.urlopen(API + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    answer = json.dumps(handle(event)).encode()
    urllib.request.urlopen(
        urllib.request.Request(API + request_id + "/response", data=answer, method="POST")
    ).read()
