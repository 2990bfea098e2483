//! A GitHub stand-in for App mode that holds check runs as GitHub would: every
//! run created gets an id of its own, an update changes it, and the runs on a
//! commit can be listed by name. It can also act and then fail (a 502 after
//! the run was created), as an answer lost on the way back looks to the
//! caller. Used where a test counts runs created twice, left running, or
//! reopened after they completed (the soak, a create tried again).

use crate::scenario::REPOSITORY;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A check run as GitHub holds it.
#[derive(Debug, Clone)]
pub struct HeldRun {
    pub id: u64,
    pub head_sha: String,
    pub name: String,
    pub external_id: Option<String>,
    pub started_at: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    /// Changed after it completed (to running, or to another conclusion).
    pub reopened: bool,
}

#[derive(Clone, Default)]
pub struct HeldRuns {
    runs: Arc<Mutex<BTreeMap<u64, HeldRun>>>,
    /// Creates still to answer 502 after creating the run.
    failing_creates: Arc<AtomicUsize>,
}

impl HeldRuns {
    pub fn runs(&self) -> Vec<HeldRun> {
        self.runs
            .lock()
            .map(|runs| runs.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The next `count` creates make their run, then answer 502.
    pub fn fail_after_creating(&self, count: usize) {
        self.failing_creates.store(count, Ordering::SeqCst);
    }
}

/// The REST description's example check run, as `run` holds it.
pub fn shaped(template: &Value, run: &HeldRun) -> Value {
    let mut answer = template.clone();
    answer["id"] = run.id.into();
    answer["head_sha"] = run.head_sha.clone().into();
    answer["name"] = run.name.clone().into();
    answer["external_id"] = run.external_id.clone().unwrap_or_default().into();
    answer["started_at"] = run.started_at.clone().into();
    answer["status"] = run.status.clone().into();
    answer["conclusion"] = run.conclusion.clone().into();
    answer
}

struct Create {
    held: HeldRuns,
    template: Value,
}

impl Respond for Create {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let Ok(mut runs) = self.held.runs.lock() else {
            return ResponseTemplate::new(500);
        };
        let id = 10_000 + runs.len() as u64;
        let conclusion = body["conclusion"].as_str().map(str::to_owned);
        let run = HeldRun {
            id,
            head_sha: body["head_sha"].as_str().unwrap_or_default().to_owned(),
            name: body["name"].as_str().unwrap_or_default().to_owned(),
            external_id: body["external_id"].as_str().map(str::to_owned),
            started_at: body["started_at"].as_str().map(str::to_owned),
            status: if conclusion.is_some() {
                "completed".into()
            } else {
                body["status"].as_str().unwrap_or("queued").to_owned()
            },
            conclusion,
            reopened: false,
        };
        let answer = shaped(&self.template, &run);
        runs.insert(id, run);
        let failing = &self.held.failing_creates;
        if failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return ResponseTemplate::new(502)
                .set_body_json(serde_json::json!({"message": "Server Error"}));
        }
        ResponseTemplate::new(201).set_body_json(answer)
    }
}

struct Update {
    held: HeldRuns,
    template: Value,
}

impl Respond for Update {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let id = request
            .url
            .path()
            .rsplit('/')
            .next()
            .and_then(|id| id.parse::<u64>().ok());
        let Ok(mut runs) = self.held.runs.lock() else {
            return ResponseTemplate::new(500);
        };
        let Some(run) = id.and_then(|id| runs.get_mut(&id)) else {
            return ResponseTemplate::new(404)
                .set_body_json(serde_json::json!({"message": "Not Found"}));
        };
        let status = body["status"].as_str().map(str::to_owned);
        let conclusion = body["conclusion"].as_str().map(str::to_owned);
        if run.status == "completed"
            && (status.as_deref().is_some_and(|s| s != "completed")
                || conclusion
                    .as_ref()
                    .is_some_and(|c| Some(c) != run.conclusion.as_ref()))
        {
            run.reopened = true;
        }
        if let Some(status) = status {
            run.status = status;
        }
        if conclusion.is_some() {
            run.conclusion = conclusion;
            run.status = "completed".into();
        }
        ResponseTemplate::new(200).set_body_json(shaped(&self.template, run))
    }
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`, by `check_name`
/// when given; every run (as `filter=all`), newest first.
struct List {
    held: HeldRuns,
    template: Value,
}

impl Respond for List {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let sha = request.url.path().split('/').nth(5).unwrap_or_default();
        let name = request
            .url
            .query_pairs()
            .find(|(key, _)| key == "check_name")
            .map(|(_, value)| value.into_owned());
        ResponseTemplate::new(200).set_body_json(self.held.listed(
            &self.template,
            sha,
            name.as_deref(),
        ))
    }
}

impl HeldRuns {
    /// The list's answer for `sha` (and the runs named `name`), as served.
    pub fn listed(&self, template: &Value, sha: &str, name: Option<&str>) -> Value {
        let listed: Vec<Value> = self
            .runs()
            .iter()
            .rev()
            .filter(|run| run.head_sha == sha && name.is_none_or(|n| n == run.name))
            .map(|run| shaped(template, run))
            .collect();
        serde_json::json!({
            "total_count": listed.len(),
            "check_runs": listed,
        })
    }
}

/// Mounts the App's installation, its token and the check-run endpoints on
/// `github`, answering in the REST description's shape; what they hold.
pub async fn mount(github: &MockServer) -> HeldRuns {
    crate::app_mode::mount_installation(github).await;
    let held = HeldRuns::default();
    let template = crate::rest::description("check-run.response-201.json");
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/check-runs")))
        .respond_with(Create {
            held: held.clone(),
            template: template.clone(),
        })
        .mount(github)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(format!(
            r"^/repos/{REPOSITORY}/check-runs/[0-9]+$"
        )))
        .respond_with(Update {
            held: held.clone(),
            template: template.clone(),
        })
        .mount(github)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(
            r"^/repos/{REPOSITORY}/commits/[0-9a-f]{{40}}/check-runs$"
        )))
        .respond_with(List {
            held: held.clone(),
            template,
        })
        .mount(github)
        .await;
    held
}
