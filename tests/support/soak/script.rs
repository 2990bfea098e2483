//! What the soak scripts into AWS's answers, past the faults: each start's
//! outcome (moto succeeds every build and execution at once), the operation
//! moto lacks that a failed execution's status reads (`ListActionExecutions`,
//! answered in CodePipeline's documented shape), and, when asked, trigger's
//! waits compressed in time.

use crate::fault_proxy::Script;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// How a start ends, as the soak scripts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Succeeded,
    Failed,
    Stopped,
}

impl Outcome {
    /// Three in five starts succeed, one fails, one is stopped, by the
    /// delivery's index and the target's.
    pub fn of(delivery: usize, target: usize) -> Outcome {
        match (delivery * 2 + target) % 5 {
            3 => Outcome::Failed,
            4 => Outcome::Stopped,
            _ => Outcome::Succeeded,
        }
    }

    /// The build's `build-status` (and `BatchGetBuilds`' `buildStatus`).
    pub fn build_status(self) -> &'static str {
        match self {
            Outcome::Succeeded => "SUCCEEDED",
            Outcome::Failed => "FAILED",
            Outcome::Stopped => "STOPPED",
        }
    }

    /// The execution's state in its event (upper case) and in
    /// `GetPipelineExecution` (capitalised).
    pub fn execution_status(self) -> (&'static str, &'static str) {
        match self {
            Outcome::Succeeded => ("SUCCEEDED", "Succeeded"),
            Outcome::Failed => ("FAILED", "Failed"),
            Outcome::Stopped => ("STOPPED", "Stopped"),
        }
    }

    /// The conclusion App mode's check run must end with.
    pub fn check_conclusion(self) -> &'static str {
        match self {
            Outcome::Succeeded => "success",
            Outcome::Failed => "failure",
            Outcome::Stopped => "cancelled",
        }
    }

    /// The commit status GitHub must hold in the end.
    pub fn commit_state(self) -> &'static str {
        match self {
            Outcome::Succeeded => "success",
            Outcome::Failed => "failure",
            Outcome::Stopped => "error",
        }
    }
}

/// The stage and action the pipeline fails in.
pub const FAILED_STAGE: &str = "Build";

pub struct SoakScript {
    /// By build id (`project:uuid`) or execution id; filled once trigger's
    /// starts are known.
    outcomes: Mutex<HashMap<String, Outcome>>,
    /// Every visibility timeout trigger sets is divided by this (1: real time).
    time_scale: u32,
}

impl SoakScript {
    pub fn new(time_scale: u32) -> SoakScript {
        SoakScript {
            outcomes: Mutex::new(HashMap::new()),
            time_scale: time_scale.max(1),
        }
    }

    /// `id` (a build's id or ARN, or an execution's id) ends as `outcome`.
    pub fn script(&self, id: &str, outcome: Outcome) {
        let id = id.rsplit_once(":build/").map_or(id, |(_, id)| id);
        if let Ok(mut outcomes) = self.outcomes.lock() {
            outcomes.insert(id.to_owned(), outcome);
        }
    }

    fn outcome(&self, id: &str) -> Option<Outcome> {
        self.outcomes.lock().ok()?.get(id).copied()
    }

    /// `seconds` compressed: never below one, so a hidden message stays
    /// hidden for a moment rather than coming straight back.
    pub fn compressed(&self, seconds: u64) -> u64 {
        seconds.div_ceil(u64::from(self.time_scale)).max(1)
    }
}

impl Script for SoakScript {
    fn request(&self, operation: &str, body: Bytes) -> Bytes {
        if operation != "ChangeMessageVisibility" || self.time_scale == 1 {
            return body;
        }
        let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        let Some(seconds) = request["VisibilityTimeout"].as_u64() else {
            return body;
        };
        // Zero (the last try's, straight to the dead-letter queue) stays zero.
        if seconds > 0 {
            request["VisibilityTimeout"] = self.compressed(seconds).into();
        }
        Bytes::from(request.to_string())
    }

    fn answer(&self, operation: &str, request: &[u8]) -> Option<Bytes> {
        if operation != "ListActionExecutions" {
            return None;
        }
        let request: Value = serde_json::from_slice(request).ok()?;
        let execution = request["filter"]["pipelineExecutionId"].as_str()?;
        let outcome = self.outcome(execution)?;
        Some(Bytes::from(
            action_executions(execution, outcome).to_string(),
        ))
    }

    fn answered(&self, operation: &str, _request: &[u8], answer: Bytes) -> Bytes {
        // Only these report an outcome: every other answer passes unread.
        if !matches!(operation, "BatchGetBuilds" | "GetPipelineExecution") {
            return answer;
        }
        let Ok(mut body) = serde_json::from_slice::<Value>(&answer) else {
            return answer;
        };
        match operation {
            "BatchGetBuilds" => {
                for build in body["builds"].as_array_mut().into_iter().flatten() {
                    let Some(outcome) = build["id"].as_str().and_then(|id| self.outcome(id)) else {
                        continue;
                    };
                    script_build(build, outcome);
                }
            }
            "GetPipelineExecution" => {
                let execution = &mut body["pipelineExecution"];
                let Some(outcome) = execution["pipelineExecutionId"]
                    .as_str()
                    .and_then(|id| self.outcome(id))
                else {
                    return answer;
                };
                execution["status"] = outcome.execution_status().1.into();
            }
            _ => return answer,
        }
        Bytes::from(body.to_string())
    }
}

/// A build as `BatchGetBuilds` reports one that ended as `outcome`: its status,
/// and for a failure its BUILD phase failed with CodeBuild's documented context.
fn script_build(build: &mut Value, outcome: Outcome) {
    build["buildStatus"] = outcome.build_status().into();
    build["buildComplete"] = true.into();
    if outcome != Outcome::Failed {
        return;
    }
    let failed_phase = json!({
        "phaseType": "BUILD",
        "phaseStatus": "FAILED",
        "contexts": [{
            "statusCode": "COMMAND_EXECUTION_ERROR",
            "message": "Error while executing command: make test. Reason: exit status 2"
        }]
    });
    match build["phases"].as_array_mut() {
        Some(phases) => {
            phases.retain(|phase| phase["phaseType"] != "BUILD");
            phases.push(failed_phase);
        }
        None => build["phases"] = json!([failed_phase]),
    }
}

/// `ListActionExecutions` for an execution that ended as `outcome`, in
/// CodePipeline's documented shape: its one action, in `FAILED_STAGE`.
fn action_executions(execution: &str, outcome: Outcome) -> Value {
    let (status, summary) = match outcome {
        Outcome::Succeeded => ("Succeeded", "Build succeeded"),
        Outcome::Failed => ("Failed", "Build terminated with state: FAILED"),
        Outcome::Stopped => ("Abandoned", "Build stopped"),
    };
    json!({"actionExecutionDetails": [{
        "pipelineExecutionId": execution,
        "actionExecutionId": format!("{execution}-build"),
        "pipelineVersion": 1,
        "stageName": FAILED_STAGE,
        "actionName": FAILED_STAGE,
        "startTime": 1_700_000_000.0,
        "lastUpdateTime": 1_700_000_060.0,
        "status": status,
        "input": {"actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}},
        "output": {"executionResult": {"externalExecutionSummary": summary}}
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_build_fails_in_its_build_phase_and_others_pass_as_moto_said() {
        let script = SoakScript::new(1);
        script.script(
            "arn:aws:codebuild:eu-west-1:123456789012:build/p:1",
            Outcome::Failed,
        );
        let answer = json!({"builds": [
            {"id": "p:1", "buildStatus": "SUCCEEDED", "phases": [{"phaseType": "BUILD", "phaseStatus": "SUCCEEDED"}]},
            {"id": "p:2", "buildStatus": "SUCCEEDED"}
        ]});
        let scripted: Value = serde_json::from_slice(&script.answered(
            "BatchGetBuilds",
            b"{}",
            Bytes::from(answer.to_string()),
        ))
        .unwrap();
        assert_eq!(scripted["builds"][0]["buildStatus"], "FAILED");
        assert_eq!(scripted["builds"][0]["phases"][0]["phaseStatus"], "FAILED");
        assert_eq!(scripted["builds"][1], answer["builds"][1]);
    }

    #[test]
    fn visibility_timeouts_are_compressed_but_never_to_nothing_and_zero_stays_zero() {
        let script = SoakScript::new(60);
        let timeout = |seconds: u64| -> Value {
            let body = json!({"QueueUrl": "q", "ReceiptHandle": "r", "VisibilityTimeout": seconds});
            let sent = script.request("ChangeMessageVisibility", Bytes::from(body.to_string()));
            serde_json::from_slice::<Value>(&sent).unwrap()["VisibilityTimeout"].clone()
        };
        assert_eq!(timeout(60), 1);
        assert_eq!(timeout(900), 15);
        assert_eq!(timeout(30), 1);
        assert_eq!(timeout(0), 0);
        // Other operations pass as they came.
        let other = Bytes::from_static(br#"{"VisibilityTimeout": 60}"#);
        assert_eq!(script.request("ReceiveMessage", other.clone()), other);
    }

    #[test]
    fn only_a_scripted_execution_is_answered_in_place_of_moto() {
        let script = SoakScript::new(1);
        script.script("e-1", Outcome::Failed);
        let request = |id: &str| {
            json!({"pipelineName": "p", "filter": {"pipelineExecutionId": id}}).to_string()
        };
        let answered: Value = serde_json::from_slice(
            &script
                .answer("ListActionExecutions", request("e-1").as_bytes())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(answered["actionExecutionDetails"][0]["status"], "Failed");
        assert_eq!(
            answered["actionExecutionDetails"][0]["stageName"],
            FAILED_STAGE
        );
        assert!(script
            .answer("ListActionExecutions", request("e-2").as_bytes())
            .is_none());
    }

    #[test]
    fn the_outcomes_mix_success_failure_and_stops() {
        let mut seen: Vec<Outcome> = (0..5)
            .flat_map(|d| [Outcome::of(d, 0), Outcome::of(d, 1)])
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen,
            [Outcome::Succeeded, Outcome::Failed, Outcome::Stopped]
        );
    }
}
