//! The routing document's parse and the route decision.
//!
//! Input: "routing document NUL event". The event is a `GitEvent` (the detail
//! `trigger` reads), bare or in its EventBridge envelope, or a whole invocation
//! as Lambda hands it to `trigger` (one event, or an SQS batch of them).
//! Without a NUL the input is tried as a routing document against sample
//! events, and as an event against a routing document that uses every option.

use crate::split_at_nul;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::contract::GitEvent;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::OnceLock;
use trigger::config::Routes;
use trigger::route::{self, Plan};
use trigger::Invocation;

/// Routes with every option set somewhere: globs of each kind, each event,
/// forks and drafts both ways, both targets, two routes on one pipeline.
const SAMPLE_ROUTES: &str = r#"{"routes": [
    {"name": "app", "repository": "octo-org/*", "events": ["push", "pull_request", "merge_group"],
     "branches": ["main", "release/**", "gh-readonly-queue/**"], "tags": ["v*"], "paths": ["src/**", "*.md"],
     "pipeline": "app-pipeline", "merge_group_variable": true, "cancel_in_progress": true,
     "fork_pull_requests": "build", "drafts": false},
    {"repository": "Codertocat/*", "events": ["push"], "tags": ["v[0-9]*"], "pipeline": "app-pipeline",
     "source_action": "GitHub", "pipeline_variables": false},
    {"name": "pr", "repository": "*/*", "codebuild_project": "pr-build"},
    {"repository": "octo-org/octo-repo", "events": ["merge_group"], "branches": ["main"],
     "codebuild_project": "queue-build", "cancel_in_progress": true}
]}"#;

/// One of each kind of change, in the shape `webhook` publishes.
const SAMPLE_EVENTS: &str = r#"[
    {"delivery_id": "d1", "repository": "octo-org/app", "clone_url": "https://github.com/octo-org/app.git",
     "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "event": "push", "ref": "refs/heads/main",
     "head_commit_message": "Update README.md", "changed_paths": ["README.md", "src/lib.rs"]},
    {"delivery_id": "d2", "repository": "Codertocat/Hello-World", "clone_url": "u",
     "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "event": "push", "ref": "refs/tags/v1.0.0",
     "head_commit_message": null, "changed_paths": null},
    {"delivery_id": "d3", "repository": "octo-org/app", "clone_url": "u",
     "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "event": "pull_request", "number": 2,
     "action": "ready_for_review", "base_branch": "main", "head_branch": "changes",
     "head_repository": "fork/app", "draft": true, "title": "Update the README"},
    {"delivery_id": "d4", "repository": "octo-org/octo-repo", "clone_url": "u",
     "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "event": "merge_group",
     "action": "checks_requested", "head_ref": "refs/heads/gh-readonly-queue/main/pr-104-abc",
     "base_ref": "refs/heads/main", "head_commit_message": "Merge pull request #104"},
    {"delivery_id": "d5", "repository": "octo-org/octo-repo", "clone_url": "u",
     "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "event": "merge_group",
     "action": "destroyed", "reason": "dequeued", "head_ref": "refs/heads/gh-readonly-queue/main/pr-104-abc",
     "base_ref": "refs/heads/main", "head_commit_message": null},
    {"delivery_id": "d6", "repository": "octo-org/app", "clone_url": "u",
     "commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "event": "check_run", "action": "rerequested",
     "check_run_id": 4, "name": "gantry/app", "external_id": "d1/pipeline/app-pipeline/e-1"}
]"#;

pub fn routes(data: &[u8]) {
    match split_at_nul(data) {
        Some((document, event)) => {
            if let Some(routes) = parse_routes(document) {
                for event in events(event) {
                    plan_and_check(&event, &routes);
                }
            }
        }
        None => {
            if let Some(routes) = parse_routes(data) {
                for event in sample_events() {
                    plan_and_check(event, &routes);
                }
            }
            for event in events(data) {
                plan_and_check(&event, sample_routes());
            }
        }
    }
}

/// `Routes::parse`, as `trigger` reads `GANTRY_ROUTES` (an environment variable,
/// so always UTF-8), with its error rendered as the cold start logs it.
fn parse_routes(document: &[u8]) -> Option<Routes> {
    let document = std::str::from_utf8(document).ok()?;
    match Routes::parse(document) {
        Ok(routes) => Some(routes),
        Err(err) => {
            let _ = gantry_core::config::ConfigError::from(err).to_string();
            None
        }
    }
}

fn sample_routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| Routes::parse(SAMPLE_ROUTES).expect("the sample routes parse"))
}

fn sample_events() -> &'static [GitEvent] {
    static EVENTS: OnceLock<Vec<GitEvent>> = OnceLock::new();
    EVENTS.get_or_init(|| serde_json::from_str(SAMPLE_EVENTS).expect("the sample events parse"))
}

/// Every Gantry event the input holds, read as `trigger` reads it.
fn events(data: &[u8]) -> Vec<GitEvent> {
    let mut events = Vec::new();
    // The invocation, as the runtime deserialises it before the handler runs;
    // a batch's records carry the EventBridge event as their body.
    match serde_json::from_slice::<Invocation>(data) {
        Ok(Invocation::Event(event)) => events.extend(git_event(event.detail)),
        Ok(Invocation::Batch(batch)) => {
            for record in batch.records {
                let body = record.body.unwrap_or_default();
                if let Ok(envelope) = serde_json::from_str::<EventBridgeEvent<Value>>(&body) {
                    events.extend(git_event(envelope.detail));
                }
            }
        }
        Err(_) => {}
    }
    // A bare detail, as the tests and `gantry` tools hold events.
    if let Ok(detail) = serde_json::from_slice::<Value>(data) {
        events.extend(git_event(detail));
    }
    events
}

fn git_event(detail: Value) -> Option<GitEvent> {
    // As `trigger` reads it, naming the failing field (its error is logged).
    serde_path_to_error::deserialize(detail).ok()
}

/// `plan`, and what every plan must hold: a target starts at most once per
/// event, at the event's commit; a redelivery plans the same starts; and a
/// started target can be re-run from the original event with the same commit
/// and variables under the re-run's own token.
fn plan_and_check(event: &GitEvent, routes: &Routes) {
    let plan = route::plan(event, routes);
    assert_eq!(route::plan(event, routes), plan, "a redelivery plans alike");
    let Plan::Start { starts, held_back } = &plan else {
        return;
    };
    let targets: HashSet<String> = starts.iter().map(|s| s.target.ledger_key()).collect();
    assert_eq!(
        targets.len(),
        starts.len(),
        "a target started twice: {plan:?}"
    );
    for start in starts {
        assert_eq!(start.commit, event.commit.as_str());
        assert!(start
            .idempotency_token
            .starts_with(event.delivery_id.as_str()));
        let rerun = route::rerun(event, routes, &start.target.ledger_key(), "rerun")
            .unwrap_or_else(|| panic!("{} was started and cannot be re-run", start.route));
        assert_eq!(
            (&rerun.target, &rerun.commit, &rerun.variables),
            (&start.target, &start.commit, &start.variables)
        );
        assert!(rerun.idempotency_token.starts_with("rerun"));
    }
    for held in held_back {
        let _ = held.reason.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples reach every kind of plan, so a plain input is no dead end.
    #[test]
    fn the_samples_start_hold_back_and_stop() {
        let plans: Vec<Plan> = sample_events()
            .iter()
            .map(|event| route::plan(event, sample_routes()))
            .collect();
        assert!(plans
            .iter()
            .any(|p| matches!(p, Plan::Start { starts, .. } if starts.len() > 1)));
        assert!(plans
            .iter()
            .any(|p| matches!(p, Plan::Start { held_back, .. } if !held_back.is_empty())));
        assert!(plans.iter().any(|p| matches!(p, Plan::StopGroup { .. })));
        let pushed = events(include_bytes!("../../../events/trigger/push.json"));
        assert_eq!(pushed.len(), 1, "the EventBridge envelope's detail");
    }
}
