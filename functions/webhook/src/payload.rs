//! GitHub's webhook payloads, read into just the fields Gantry needs, and the
//! pure decision of what a delivery becomes: a pong, a normalised event, or
//! something acknowledged and ignored.

use crate::comment;
use gantry_core::contract::{
    ApprovalComment, Change, CheckRunRequest, CheckSuiteRequest, GitEvent, MergeGroup, PullRequest,
    Push,
};
use gantry_core::ids::{CommitSha, DeliveryId, IdError, RepoName};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// GitHub lists at most this many commits in a push payload; a push with more
/// cannot tell us every changed path.
const MAX_LISTED_COMMITS: usize = 2048;
/// Bytes of changed paths carried in one event: EventBridge entries are capped at
/// 256 KB, and past this size a path filter has nothing useful to decide on.
const MAX_CHANGED_PATH_BYTES: usize = 64 * 1024;
/// Bytes of the head commit message carried (enough for any `[skip ci]` marker).
const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// The pull request actions that mean "this head commit needs a build".
const BUILD_ACTIONS: [&str; 4] = ["opened", "synchronize", "reopened", "ready_for_review"];

/// The `X-GitHub-Event` header, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventName {
    Ping,
    Push,
    PullRequest,
    MergeGroup,
    CheckRun,
    CheckSuite,
    IssueComment,
    Other(String),
}

impl EventName {
    pub fn parse(header: &str) -> Self {
        match header {
            "ping" => EventName::Ping,
            "push" => EventName::Push,
            "pull_request" => EventName::PullRequest,
            "merge_group" => EventName::MergeGroup,
            "check_run" => EventName::CheckRun,
            "check_suite" => EventName::CheckSuite,
            "issue_comment" => EventName::IssueComment,
            other => EventName::Other(other.to_owned()),
        }
    }
}

/// What a verified delivery becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pong,
    Publish(Box<GitEvent>),
    /// A maintainer's `/gantry run <sha>` on a pull request.
    PublishApproval(Box<ApprovalComment>),
    Ignore(IgnoreReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    UnhandledEvent(String),
    UnhandledAction(String),
    UnhandledMergeGroupAction(String),
    UnhandledCheckRunAction(String),
    UnhandledCheckSuiteAction(String),
    UnhandledCommentAction(String),
    CommentNotOnPullRequest,
    NoCommand,
    MalformedCommand(String),
    RefDeleted,
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::UnhandledEvent(name) => write!(f, "event type {name:?} is not handled"),
            IgnoreReason::UnhandledAction(action) => {
                write!(f, "pull_request action {action:?} does not need a build")
            }
            IgnoreReason::UnhandledMergeGroupAction(action) => write!(
                f,
                "merge_group action {action:?} does not start or stop a build"
            ),
            IgnoreReason::UnhandledCheckSuiteAction(action) => write!(
                f,
                "check_suite action {action:?} is no button a person pressed"
            ),
            IgnoreReason::UnhandledCheckRunAction(action) => write!(
                f,
                "check_run action {action:?} is no button a person pressed"
            ),
            IgnoreReason::UnhandledCommentAction(action) => write!(
                f,
                "issue_comment action {action:?}: only a new comment approves a build"
            ),
            IgnoreReason::CommentNotOnPullRequest => {
                f.write_str("comment on an issue, not on a pull request")
            }
            IgnoreReason::NoCommand => f.write_str("comment has no /gantry command"),
            IgnoreReason::MalformedCommand(written) => write!(
                f,
                "/gantry run names no commit ({written:?}): write /gantry run <sha>, 7 to 40 hex digits"
            ),
            IgnoreReason::RefDeleted => f.write_str("the pushed ref was deleted"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not the expected JSON at {path}: {message}")]
    Json { path: String, message: String },
    #[error(transparent)]
    Id(#[from] IdError),
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    clone_url: String,
}

/// A push's changed paths are borrowed from the body, not copied: a push of
/// many commits lists hundreds of thousands of them, and most are only counted.
#[derive(Deserialize)]
struct PushPayload<'a> {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    head_commit: Option<HeadCommit>,
    #[serde(default, borrow)]
    commits: Vec<PushedCommit<'a>>,
    repository: Repository,
}

#[derive(Deserialize)]
struct HeadCommit {
    message: String,
}

#[derive(Deserialize)]
struct PushedCommit<'a> {
    #[serde(default, borrow)]
    added: Vec<ChangedPath<'a>>,
    #[serde(default, borrow)]
    removed: Vec<ChangedPath<'a>>,
    #[serde(default, borrow)]
    modified: Vec<ChangedPath<'a>>,
}

/// A path as it stands in the body, copied only when JSON escapes force it
/// (serde borrows a `Cow` only when it is a field of its own, not in a `Vec`).
#[derive(Deserialize)]
struct ChangedPath<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    number: u64,
    pull_request: PullRequestBody,
    repository: Repository,
}

#[derive(Deserialize)]
struct MergeGroupPayload {
    action: String,
    /// `destroyed` only: `merged`, `invalidated` or `dequeued`.
    reason: Option<String>,
    merge_group: MergeGroupBody,
    repository: Repository,
}

#[derive(Deserialize)]
struct MergeGroupBody {
    head_sha: String,
    base_sha: Option<String>,
    head_ref: String,
    base_ref: String,
    head_commit: Option<HeadCommit>,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    action: String,
    check_run: CheckRunBody,
    requested_action: Option<RequestedAction>,
    repository: Repository,
}

#[derive(Deserialize)]
struct CheckRunBody {
    id: u64,
    name: String,
    head_sha: String,
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    action: String,
    check_suite: CheckSuiteBody,
    repository: Repository,
}

#[derive(Deserialize)]
struct CheckSuiteBody {
    id: u64,
    head_sha: String,
}

#[derive(Deserialize)]
struct RequestedAction {
    identifier: String,
}

#[derive(Deserialize)]
struct PullRequestBody {
    title: String,
    #[serde(default)]
    draft: bool,
    head: PullRequestRef,
    base: PullRequestRef,
}

#[derive(Deserialize)]
struct PullRequestRef {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    repo: Option<Repository>,
}

/// Decides what a delivery becomes. `body` has already passed signature checks.
pub fn decide(
    event: &EventName,
    delivery: &DeliveryId,
    body: &[u8],
) -> Result<Decision, PayloadError> {
    match event {
        EventName::Ping => Ok(Decision::Pong),
        EventName::Push => decide_push(delivery, parse(body)?),
        EventName::PullRequest => decide_pull_request(delivery, parse(body)?),
        EventName::MergeGroup => decide_merge_group(delivery, parse(body)?),
        EventName::CheckRun => decide_check_run(delivery, parse(body)?),
        EventName::CheckSuite => decide_check_suite(delivery, parse(body)?),
        EventName::IssueComment => comment::decide_issue_comment(delivery, parse(body)?),
        EventName::Other(name) => Ok(Decision::Ignore(IgnoreReason::UnhandledEvent(name.clone()))),
    }
}

/// The repository and commit of a delivery, for the log line of one that is
/// ignored: best effort, as an ignored event may be of any type.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub repository: Option<String>,
    pub commit: Option<String>,
}

pub fn subject(body: &[u8]) -> Subject {
    #[derive(Deserialize)]
    struct Repository {
        full_name: String,
    }
    #[derive(Deserialize)]
    struct Head {
        sha: String,
    }
    #[derive(Deserialize)]
    struct PullRequestHead {
        head: Head,
    }
    #[derive(Deserialize)]
    struct Group {
        head_sha: String,
    }
    #[derive(Deserialize)]
    struct Any {
        repository: Option<Repository>,
        after: Option<String>,
        pull_request: Option<PullRequestHead>,
        merge_group: Option<Group>,
    }
    match serde_json::from_slice::<Any>(body) {
        Ok(any) => Subject {
            repository: any.repository.map(|r| r.full_name),
            commit: any
                .after
                .or(any.pull_request.map(|pr| pr.head.sha))
                .or(any.merge_group.map(|group| group.head_sha)),
        },
        Err(_) => Subject::default(),
    }
}

/// Parses without tracking where it is, which costs a third of a large push's
/// parse; only a body that fails is parsed again to name the failing path.
fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).or_else(|_| {
        let deserializer = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(deserializer).map_err(|err| PayloadError::Json {
            path: err.path().to_string(),
            message: err.inner().to_string(),
        })
    })
}

fn decide_push(delivery: &DeliveryId, push: PushPayload<'_>) -> Result<Decision, PayloadError> {
    let commit = CommitSha::parse(&push.after)?;
    if push.deleted || commit.is_null() {
        return Ok(Decision::Ignore(IgnoreReason::RefDeleted));
    }
    let changed_paths = changed_paths(&push.commits);
    Ok(Decision::Publish(Box::new(GitEvent {
        delivery_id: delivery.clone(),
        repository: RepoName::parse(&push.repository.full_name)?,
        clone_url: push.repository.clone_url,
        commit,
        change: Change::Push(Push {
            git_ref: push.git_ref,
            head_commit_message: push
                .head_commit
                .map(|head| truncate(head.message, MAX_MESSAGE_BYTES)),
            changed_paths,
        }),
    })))
}

fn decide_pull_request(
    delivery: &DeliveryId,
    payload: PullRequestPayload,
) -> Result<Decision, PayloadError> {
    if !BUILD_ACTIONS.contains(&payload.action.as_str()) {
        return Ok(Decision::Ignore(IgnoreReason::UnhandledAction(
            payload.action,
        )));
    }
    let pr = payload.pull_request;
    let head_repository = pr
        .head
        .repo
        .map(|repo| RepoName::parse(&repo.full_name))
        .transpose()?;
    Ok(Decision::Publish(Box::new(GitEvent {
        delivery_id: delivery.clone(),
        repository: RepoName::parse(&payload.repository.full_name)?,
        clone_url: payload.repository.clone_url,
        commit: CommitSha::parse(&pr.head.sha)?,
        change: Change::PullRequest(PullRequest {
            number: payload.number,
            action: payload.action,
            base_branch: pr.base.git_ref,
            head_branch: pr.head.git_ref,
            head_repository,
            draft: pr.draft,
            title: truncate(pr.title, MAX_MESSAGE_BYTES),
        }),
    })))
}

/// "Re-run" and a run's own buttons; GitHub delivers `rerequested` and
/// `requested_action` only to the App that created the run.
fn decide_check_run(
    delivery: &DeliveryId,
    payload: CheckRunPayload,
) -> Result<Decision, PayloadError> {
    if !["rerequested", "requested_action"].contains(&payload.action.as_str()) {
        return Ok(Decision::Ignore(IgnoreReason::UnhandledCheckRunAction(
            payload.action,
        )));
    }
    let run = payload.check_run;
    Ok(Decision::Publish(Box::new(GitEvent {
        delivery_id: delivery.clone(),
        repository: RepoName::parse(&payload.repository.full_name)?,
        clone_url: payload.repository.clone_url,
        commit: CommitSha::parse(&run.head_sha)?,
        change: Change::CheckRun(CheckRunRequest {
            action: payload.action,
            check_run_id: run.id,
            name: run.name,
            external_id: run.external_id.unwrap_or_default(),
            identifier: payload.requested_action.map(|action| action.identifier),
        }),
    })))
}

/// "Re-run all checks": GitHub delivers `rerequested` only to the App that
/// owns the suite; `requested` and `completed` are GitHub's own bookkeeping.
fn decide_check_suite(
    delivery: &DeliveryId,
    payload: CheckSuitePayload,
) -> Result<Decision, PayloadError> {
    if payload.action != "rerequested" {
        return Ok(Decision::Ignore(IgnoreReason::UnhandledCheckSuiteAction(
            payload.action,
        )));
    }
    Ok(Decision::Publish(Box::new(GitEvent {
        delivery_id: delivery.clone(),
        repository: RepoName::parse(&payload.repository.full_name)?,
        clone_url: payload.repository.clone_url,
        commit: CommitSha::parse(&payload.check_suite.head_sha)?,
        change: Change::CheckSuite(CheckSuiteRequest {
            action: payload.action,
            check_suite_id: payload.check_suite.id,
        }),
    })))
}

fn decide_merge_group(
    delivery: &DeliveryId,
    payload: MergeGroupPayload,
) -> Result<Decision, PayloadError> {
    // `destroyed` goes on too: a group dequeued or invalidated has its builds stopped.
    if !["checks_requested", "destroyed"].contains(&payload.action.as_str()) {
        return Ok(Decision::Ignore(IgnoreReason::UnhandledMergeGroupAction(
            payload.action,
        )));
    }
    let group = payload.merge_group;
    Ok(Decision::Publish(Box::new(GitEvent {
        delivery_id: delivery.clone(),
        repository: RepoName::parse(&payload.repository.full_name)?,
        clone_url: payload.repository.clone_url,
        commit: CommitSha::parse(&group.head_sha)?,
        change: Change::MergeGroup(MergeGroup {
            action: payload.action,
            head_ref: group.head_ref,
            base_ref: group.base_ref,
            head_commit_message: group
                .head_commit
                .map(|head| truncate(head.message, MAX_MESSAGE_BYTES)),
            reason: payload.reason,
            base_sha: group
                .base_sha
                .as_deref()
                .map(CommitSha::parse)
                .transpose()?,
        }),
    })))
}

/// The unique changed paths, sorted; `None` when they cannot all be known or
/// would not fit the event, in which case counting stops at the limit.
fn changed_paths(commits: &[PushedCommit<'_>]) -> Option<Vec<String>> {
    if commits.is_empty() || commits.len() >= MAX_LISTED_COMMITS {
        return None;
    }
    let mut paths: BTreeSet<&str> = BTreeSet::new();
    let mut bytes = 0;
    for path in commits
        .iter()
        .flat_map(|c| c.added.iter().chain(&c.removed).chain(&c.modified))
    {
        if paths.insert(path.0.as_ref()) {
            bytes += path.0.len() + 3;
            if bytes > MAX_CHANGED_PATH_BYTES {
                return None;
            }
        }
    }
    Some(paths.into_iter().map(str::to_owned).collect())
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../events/github/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn delivery() -> DeliveryId {
        DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap()
    }

    fn published(event: EventName, file: &str) -> GitEvent {
        match decide(&event, &delivery(), &fixture(file)).unwrap() {
            Decision::Publish(event) => *event,
            other => panic!("{file}: expected an event, got {other:?}"),
        }
    }

    #[test]
    fn ping_is_a_pong() {
        for file in ["ping.payload.json", "ping.with-organization.payload.json"] {
            let decision = decide(&EventName::Ping, &delivery(), &fixture(file)).unwrap();
            assert_eq!(decision, Decision::Pong);
        }
    }

    #[test]
    fn new_branch_push_is_published_at_its_after_commit() {
        let event = published(EventName::Push, "push.with-new-branch.payload.json");
        assert_eq!(event.repository.as_str(), "Codertocat/Hello-World");
        assert_eq!(event.branch(), Some("master"));
        let Change::Push(push) = &event.change else {
            panic!("not a push")
        };
        assert_eq!(push.git_ref, "refs/heads/master");
        assert!(push.head_commit_message.is_some());
        let payload: serde_json::Value =
            serde_json::from_slice(&fixture("push.with-new-branch.payload.json")).unwrap();
        assert_eq!(event.commit.as_str(), payload["after"].as_str().unwrap());
    }

    #[test]
    fn a_merge_groups_checks_are_requested_at_its_head_sha() {
        let file = "merge_group.checks_requested.payload.json";
        let event = published(EventName::MergeGroup, file);
        let payload: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
        assert_eq!(
            event.commit.as_str(),
            payload["merge_group"]["head_sha"].as_str().unwrap()
        );
        assert_eq!(event.repository.as_str(), "octo-org/octo-repo");
        let Change::MergeGroup(group) = &event.change else {
            panic!("not a merge group")
        };
        assert_eq!(group.base_branch(), "main");
        assert!(group
            .head_branch()
            .starts_with("gh-readonly-queue/main/pr-104-"));
        assert_eq!(
            group.base_sha.as_ref().map(|sha| sha.as_str()),
            payload["merge_group"]["base_sha"].as_str()
        );
        assert_eq!(event.detail_type().as_str(), "GitHub Merge Group");
        assert!(group
            .head_commit_message
            .as_deref()
            .is_some_and(|m| m.starts_with("Merge pull request #2048")));

        // A group leaving the queue goes on with its reason, for trigger to stop its builds.
        let mut destroyed = payload.clone();
        destroyed["action"] = "destroyed".into();
        destroyed["reason"] = "dequeued".into();
        let Decision::Publish(event) = decide(
            &EventName::MergeGroup,
            &delivery(),
            &serde_json::to_vec(&destroyed).unwrap(),
        )
        .unwrap() else {
            panic!("destroyed is published")
        };
        let Change::MergeGroup(gone) = &event.change else {
            panic!("not a merge group")
        };
        assert_eq!(
            (gone.action.as_str(), gone.reason.as_deref()),
            ("destroyed", Some("dequeued"))
        );
        // Any other action is acknowledged and ignored.
        destroyed["action"] = "unknown_future_action".into();
        assert_eq!(
            decide(
                &EventName::MergeGroup,
                &delivery(),
                &serde_json::to_vec(&destroyed).unwrap()
            )
            .unwrap(),
            Decision::Ignore(IgnoreReason::UnhandledMergeGroupAction(
                "unknown_future_action".into()
            ))
        );
        assert_eq!(
            subject(&fixture(file)).commit.as_deref(),
            payload["merge_group"]["head_sha"].as_str()
        );
    }

    #[test]
    fn a_check_suites_re_run_all_is_published_at_its_head_and_its_bookkeeping_ignored() {
        let event = published(
            EventName::CheckSuite,
            "check_suite.rerequested.payload.json",
        );
        let Change::CheckSuite(request) = &event.change else {
            panic!("{event:?}")
        };
        assert_eq!(request.action, "rerequested");
        assert_eq!(
            event.commit.as_str(),
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
        );
        assert_eq!(event.detail_type().as_str(), "GitHub Check Suite");
        let decision = decide(
            &EventName::CheckSuite,
            &delivery(),
            &fixture("check_suite.requested.payload.json"),
        )
        .unwrap();
        assert_eq!(
            decision,
            Decision::Ignore(IgnoreReason::UnhandledCheckSuiteAction("requested".into()))
        );
    }

    #[test]
    fn a_check_runs_buttons_are_published_with_the_runs_external_id() {
        let event = published(EventName::CheckRun, "check_run.rerequested.payload.json");
        let Change::CheckRun(request) = &event.change else {
            panic!("not a check run")
        };
        assert_eq!(
            (request.action.as_str(), request.check_run_id),
            ("rerequested", 4)
        );
        assert_eq!(
            event.commit.as_str(),
            "d6fde92930d4715a2b49857d24b940956b26d2d3"
        );
        assert_eq!(event.detail_type().as_str(), "GitHub Check Run");
        let event = published(
            EventName::CheckRun,
            "check_run.requested_action.payload.json",
        );
        let Change::CheckRun(request) = &event.change else {
            panic!("not a check run")
        };
        assert_eq!(request.identifier.as_deref(), Some("lgtm|26764"));
        let completed = decide(
            &EventName::CheckRun,
            &delivery(),
            &fixture("check_run.completed.payload.json"),
        )
        .unwrap();
        assert_eq!(
            completed,
            Decision::Ignore(IgnoreReason::UnhandledCheckRunAction("completed".into()))
        );
    }

    #[test]
    fn tag_push_is_published() {
        let event = published(EventName::Push, "push.go-scm.push_tag.json");
        let Change::Push(push) = &event.change else {
            panic!("not a push")
        };
        assert_eq!(push.git_ref, "refs/tags/v0.0.1");
        assert_eq!(push.changed_paths, None, "a tag push lists no commits");
    }

    #[test]
    fn ignored_deliveries_still_name_their_repository_and_commit() {
        assert_eq!(
            subject(&fixture("pull_request.closed.payload.json")),
            Subject {
                repository: Some("Codertocat/Hello-World".into()),
                commit: Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821".into()),
            }
        );
        let deleted = subject(&fixture("push.go-scm.push_branch_delete.json"));
        assert!(deleted.repository.is_some(), "{deleted:?}");
        assert!(deleted.commit.is_some(), "{deleted:?}");
        let issue = subject(&fixture("issues.opened.payload.json"));
        assert_eq!(issue.repository.as_deref(), Some("Codertocat/Hello-World"));
        assert_eq!(issue.commit, None);
        assert_eq!(subject(b"not json"), Subject::default());
    }

    #[test]
    fn deleted_refs_start_nothing() {
        for file in ["push.payload.json", "push.go-scm.push_branch_delete.json"] {
            let decision = decide(&EventName::Push, &delivery(), &fixture(file)).unwrap();
            assert_eq!(
                decision,
                Decision::Ignore(IgnoreReason::RefDeleted),
                "{file}"
            );
        }
    }

    #[test]
    fn pull_request_build_actions_are_published_at_the_head_commit() {
        for (file, action) in [
            ("pull_request.opened.payload.json", "opened"),
            ("pull_request.synchronize.payload.json", "synchronize"),
            ("pull_request.reopened.payload.json", "reopened"),
            (
                "pull_request.ready_for_review.payload.json",
                "ready_for_review",
            ),
        ] {
            let event = published(EventName::PullRequest, file);
            let payload: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
            assert_eq!(
                event.commit.as_str(),
                payload["pull_request"]["head"]["sha"].as_str().unwrap()
            );
            let Change::PullRequest(pr) = &event.change else {
                panic!("not a pull request")
            };
            assert_eq!(pr.action, action);
            assert_eq!(pr.number, payload["number"].as_u64().unwrap());
            assert_eq!(pr.base_branch, payload["pull_request"]["base"]["ref"]);
        }
    }

    #[test]
    fn other_pull_request_actions_are_ignored() {
        for (file, action) in [
            ("pull_request.closed.payload.json", "closed"),
            ("pull_request.labeled.payload.json", "labeled"),
        ] {
            let decision = decide(&EventName::PullRequest, &delivery(), &fixture(file)).unwrap();
            assert_eq!(
                decision,
                Decision::Ignore(IgnoreReason::UnhandledAction(action.into()))
            );
        }
    }

    #[test]
    fn other_events_are_ignored_without_reading_the_body() {
        let decision = decide(&EventName::parse("issues"), &delivery(), b"not json").unwrap();
        assert_eq!(
            decision,
            Decision::Ignore(IgnoreReason::UnhandledEvent("issues".into()))
        );
    }

    #[test]
    fn malformed_bodies_name_what_is_wrong() {
        let err = decide(&EventName::Push, &delivery(), b"{not json").unwrap_err();
        assert!(matches!(err, PayloadError::Json { .. }), "{err}");

        let err = decide(&EventName::Push, &delivery(), br#"{"ref": "refs/heads/x"}"#).unwrap_err();
        assert!(err.to_string().contains("after"), "{err}");

        let mut payload: serde_json::Value =
            serde_json::from_slice(&fixture("pull_request.opened.payload.json")).unwrap();
        payload["pull_request"]["head"]["sha"] = "nope".into();
        let body = serde_json::to_vec(&payload).unwrap();
        let err = decide(&EventName::PullRequest, &delivery(), &body).unwrap_err();
        assert!(matches!(err, PayloadError::Id(IdError::Commit(_))), "{err}");

        let err = decide(
            &EventName::PullRequest,
            &delivery(),
            br#"{"action": "opened", "number": "7"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("number"), "{err}");
    }

    #[test]
    fn changed_paths_are_unique_and_bounded() {
        fn commit<'a>(paths: &[&'a str]) -> PushedCommit<'a> {
            PushedCommit {
                added: paths
                    .iter()
                    .map(|p| ChangedPath(Cow::Borrowed(*p)))
                    .collect(),
                removed: vec![],
                modified: vec![ChangedPath("README.md".into())],
            }
        }
        assert_eq!(
            changed_paths(&[commit(&["b"]), commit(&["a"])]),
            Some(vec!["README.md".into(), "a".into(), "b".into()])
        );
        assert_eq!(changed_paths(&[]), None);
        let long = "x".repeat(MAX_CHANGED_PATH_BYTES);
        assert_eq!(changed_paths(&[commit(&[&long])]), None);
        // Only unique paths count towards the limit.
        let many: Vec<PushedCommit> = (0..1000).map(|_| commit(&["src/lib.rs"])).collect();
        assert_eq!(
            changed_paths(&many),
            Some(vec!["README.md".into(), "src/lib.rs".into()])
        );
    }

    #[test]
    fn truncation_keeps_utf8_whole() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn changed_paths_are_borrowed_unless_escaped() {
        let body = br#"{"added": ["src/a.rs", "caf\u00e9.md"], "modified": []}"#;
        let commit: PushedCommit = serde_json::from_slice(body).unwrap();
        assert!(matches!(commit.added[0].0, Cow::Borrowed("src/a.rs")));
        assert_eq!(commit.added[1].0, "café.md");
    }
}
