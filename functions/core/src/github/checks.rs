//! Check runs: `POST /repos/{owner}/{repo}/check-runs` and
//! `PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}`. Only a GitHub App
//! may create them. Every field is cut to GitHub's documented limits here, so a
//! long log or summary is never a 422.

use super::{GitHubClient, GitHubError, Recheck};
use crate::ids::{CommitSha, RepoName};
use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use tokio::time::Instant;

/// `output.summary` and `output.text`: "Maximum length: 65535 characters" in
/// the description, which GitHub enforces in bytes ("exceeds a maximum
/// bytesize of 65535"); every limit here is applied in UTF-8 bytes, which
/// also meets a limit in characters.
pub const MAX_OUTPUT_BYTES: usize = 65_535;
/// Annotations per request (`maxItems: 50`); more go in later updates.
pub const MAX_ANNOTATIONS: usize = 50;
/// GitHub documents no limit for a run's title; one line of a check page's
/// header is kept short, as a commit status's 140.
pub const MAX_TITLE_BYTES: usize = 140;
/// An annotation's title: 255.
pub const MAX_ANNOTATION_TITLE_BYTES: usize = 255;
/// Actions per run (`maxItems: 3`), and their fields' `maxLength`s.
pub const MAX_ACTIONS: usize = 3;
pub const MAX_ACTION_LABEL_CHARS: usize = 20;
pub const MAX_ACTION_DESCRIPTION_CHARS: usize = 40;
pub const MAX_ACTION_IDENTIFIER_CHARS: usize = 20;
/// An annotation's message: "64 KB" in GitHub's guide.
pub const MAX_ANNOTATION_MESSAGE_BYTES: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    ActionRequired,
    Cancelled,
    Failure,
    Neutral,
    Success,
    Skipped,
    TimedOut,
}

impl CheckConclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckConclusion::ActionRequired => "action_required",
            CheckConclusion::Cancelled => "cancelled",
            CheckConclusion::Failure => "failure",
            CheckConclusion::Neutral => "neutral",
            CheckConclusion::Success => "success",
            CheckConclusion::Skipped => "skipped",
            CheckConclusion::TimedOut => "timed_out",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub annotation_level: AnnotationLevel,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// A button on the check run's page; GitHub sends `check_run.requested_action`
/// with its `identifier` when it is pressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAction {
    pub label: String,
    pub description: String,
    pub identifier: String,
}

/// Asked before a create is tried again: GitHub has no idempotency key for a
/// check run, and a try whose answer was lost (a connection dropped after the
/// request went out, a 5xx after GitHub acted) may have created it. A second
/// create would leave two runs, the first one stuck as it was created (running,
/// on a pull request, for good); so the run is looked for, and found, the
/// create ends with its id.
struct EarlierTry<'a> {
    client: &'a GitHubClient,
    repo: &'a RepoName,
    sha: &'a CommitSha,
    run: &'a CheckRun,
    deadline: Instant,
    found: Mutex<Option<u64>>,
}

impl Recheck for EarlierTry<'_> {
    fn before_retry(&self) -> Pin<Box<dyn Future<Output = Option<String>> + Send + '_>> {
        Box::pin(async move {
            match self
                .client
                .find_check_run(self.repo, self.sha, self.run, self.deadline)
                .await
            {
                Ok(Some(id)) => {
                    if let Ok(mut found) = self.found.lock() {
                        *found = Some(id);
                    }
                    Some(format!("check run {id} was created by an earlier try"))
                }
                Ok(None) => None,
                // Not knowing, the create is tried again: a second run is
                // the lesser harm than none.
                Err(err) => {
                    tracing::warn!(error = %crate::logging::error_chain(&err), "could not tell whether an earlier try created the check run; creating it again");
                    None
                }
            }
        })
    }
}

/// The fields a create and an update share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRun {
    pub name: String,
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    /// The build or execution the run reports, for whoever reads the run back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub output: CheckOutput,
    /// Always sent, empty too: GitHub keeps the fields an update leaves out,
    /// and a finished run must lose the buttons it had while it ran.
    pub actions: Vec<CheckAction>,
}

impl CheckRun {
    /// The run as GitHub accepts it: every text within its limit (cut on a
    /// character boundary, marked with `…`), at most 50 annotations and three
    /// actions. Annotations past the 50th are returned, for later updates.
    pub fn within_limits(mut self) -> (CheckRun, Vec<Annotation>) {
        self.output.title = cut(&self.output.title, MAX_TITLE_BYTES);
        self.output.summary = cut(&self.output.summary, MAX_OUTPUT_BYTES);
        self.output.text = self.output.text.map(|text| cut(&text, MAX_OUTPUT_BYTES));
        let rest = if self.output.annotations.len() > MAX_ANNOTATIONS {
            self.output.annotations.split_off(MAX_ANNOTATIONS)
        } else {
            Vec::new()
        };
        for annotation in &mut self.output.annotations {
            annotation.message = cut(&annotation.message, MAX_ANNOTATION_MESSAGE_BYTES);
            annotation.title = annotation
                .title
                .take()
                .map(|title| cut(&title, MAX_ANNOTATION_TITLE_BYTES));
        }
        self.actions.truncate(MAX_ACTIONS);
        for action in &mut self.actions {
            action.label = cut(&action.label, MAX_ACTION_LABEL_CHARS);
            action.description = cut(&action.description, MAX_ACTION_DESCRIPTION_CHARS);
            // An identifier is matched, never shown: cut, not marked.
            action.identifier = prefix(&action.identifier, MAX_ACTION_IDENTIFIER_CHARS).to_owned();
        }
        (self, rest)
    }
}

/// `text` in at most `max` UTF-8 bytes, cut on a character boundary; a cut
/// one ends with `…` (3 bytes, within `max`).
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut kept = prefix(text, max.saturating_sub('…'.len_utf8())).to_owned();
    kept.push('…');
    kept
}

/// The longest start of `text` within `max` bytes that ends on a character.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[derive(Serialize)]
struct Create<'a> {
    head_sha: &'a str,
    #[serde(flatten)]
    run: &'a CheckRun,
}

impl GitHubClient {
    /// Creates a check run on `sha`; returns its id. Needs App mode.
    pub async fn create_check_run(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        run: &CheckRun,
        deadline: Instant,
    ) -> Result<u64, GitHubError> {
        let url = self.repo_url(repo, "check-runs");
        let body = Create {
            head_sha: sha.as_str(),
            run,
        };
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let earlier = EarlierTry {
            client: self,
            repo,
            sha,
            run,
            deadline,
            found: Mutex::new(None),
        };
        let answer = self
            .send_for_answer(repo, Method::POST, &url, body, deadline, Some(&earlier))
            .await?;
        let answer = match answer {
            super::client::Delivered::Accepted(answer) => answer.body,
            super::client::Delivered::Dropped(reason) => {
                return match earlier.found.lock().ok().and_then(|found| *found) {
                    Some(id) => Ok(id),
                    None => Err(GitHubError::Transient {
                        attempts: 1,
                        last: format!("request dropped: {reason}"),
                    }),
                }
            }
        };
        serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|json| json["id"].as_u64())
            .ok_or_else(|| GitHubError::Transient {
                attempts: 1,
                last: "GitHub's check run answer has no id".into(),
            })
    }

    /// The id of the run on `sha` that a create of `run` made: its name, its
    /// `external_id` and its `started_at` (which tells one attempt of an
    /// execution from the next) alike; the newest where several are
    /// (`GET /repos/{owner}/{repo}/commits/{ref}/check-runs`, by `check_name`,
    /// every run of that name, its first 100).
    pub async fn find_check_run(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        run: &CheckRun,
        deadline: Instant,
    ) -> Result<Option<u64>, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            check_runs: Vec<Listed>,
        }
        #[derive(Deserialize)]
        struct Listed {
            id: u64,
            name: String,
            external_id: Option<String>,
            started_at: Option<String>,
        }
        let name: String = form_urlencoded::byte_serialize(run.name.as_bytes()).collect();
        let url = self.repo_url(
            repo,
            &format!("commits/{sha}/check-runs?check_name={name}&filter=all&per_page=100"),
        );
        let listed: Answer = self.get(repo, &url, deadline).await?;
        Ok(listed
            .check_runs
            .into_iter()
            .filter(|listed| {
                listed.name == run.name
                    && listed.external_id == run.external_id
                    && (run.started_at.is_none() || listed.started_at == run.started_at)
            })
            .map(|listed| listed.id)
            .max())
    }

    /// Updates check run `id` with `run` (its annotations are appended to
    /// those already on the run).
    pub async fn update_check_run(
        &self,
        repo: &RepoName,
        id: u64,
        run: &CheckRun,
        deadline: Instant,
    ) -> Result<(), GitHubError> {
        let url = self.repo_url(repo, &format!("check-runs/{id}"));
        let body = Bytes::from(serde_json::to_vec(run).unwrap_or_default());
        self.send(repo, Method::PATCH, &url, body, deadline, None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> CheckRun {
        CheckRun {
            name: "gantry/app".into(),
            status: CheckStatus::Completed,
            conclusion: Some(CheckConclusion::Failure),
            started_at: None,
            completed_at: None,
            details_url: None,
            external_id: None,
            output: CheckOutput {
                title: "t".into(),
                summary: "s".into(),
                text: None,
                annotations: vec![],
            },
            actions: vec![],
        }
    }

    fn annotation(line: u32) -> Annotation {
        Annotation {
            path: "src/lib.rs".into(),
            start_line: line,
            end_line: line,
            annotation_level: AnnotationLevel::Failure,
            message: "m".into(),
            title: None,
        }
    }

    #[test]
    fn every_field_is_cut_to_githubs_limits() {
        let mut long = run();
        long.output.title = "t".repeat(500);
        long.output.summary = "é".repeat(70_000);
        long.output.text = Some("x".repeat(65_536));
        long.output.annotations = (1..=120).map(annotation).collect();
        long.actions = (0..5)
            .map(|n| CheckAction {
                label: format!("Retry failed actions {n}"),
                description: "d".repeat(60),
                identifier: format!("retry-failed-actions-{n}"),
            })
            .collect();
        long.output.annotations[0].title = Some("t".repeat(300));
        let (run, rest) = long.within_limits();
        assert!(run.output.title.len() <= MAX_TITLE_BYTES);
        // In bytes, as GitHub counts: 70,000 two-byte characters are cut to
        // at most 65,535 bytes, on a character boundary.
        assert!(run.output.summary.len() <= MAX_OUTPUT_BYTES);
        assert!(run.output.summary.len() > MAX_OUTPUT_BYTES - 4);
        assert!(run.output.summary.ends_with('…'));
        assert_eq!(
            run.output.text.as_deref().map(str::len),
            Some(MAX_OUTPUT_BYTES)
        );
        assert_eq!(
            run.output.annotations[0].title.as_deref().map(str::len),
            Some(MAX_ANNOTATION_TITLE_BYTES)
        );
        assert_eq!(run.output.annotations.len(), 50);
        assert_eq!(rest.len(), 70);
        assert_eq!(rest[0].start_line, 51);
        assert_eq!(run.actions.len(), 3);
        for action in &run.actions {
            assert!(action.label.chars().count() <= 20);
            assert!(action.description.chars().count() <= 40);
            assert!(action.identifier.chars().count() <= 20);
        }
    }

    #[test]
    fn a_run_within_its_limits_is_unchanged_and_serialises_as_documented() {
        let (same, rest) = run().within_limits();
        assert_eq!(same, run());
        assert!(rest.is_empty());
        let json = serde_json::to_value(&same).unwrap();
        assert_eq!(json["status"], "completed");
        assert_eq!(json["conclusion"], "failure");
        assert_eq!(json["actions"], serde_json::json!([]));
        assert!(json["output"].get("annotations").is_none());
    }
}
