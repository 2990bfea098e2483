//! The event `webhook` publishes and `trigger` consumes: one definition, so the
//! producer and the consumer cannot drift apart.

use crate::ids::{CommitSha, DeliveryId, RepoName};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The EventBridge `source` of every event Gantry publishes. Rules match on it.
pub const SOURCE: &str = "gantry.github";

/// The EventBridge `detail-type`, one per kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetailType {
    #[serde(rename = "GitHub Push")]
    Push,
    #[serde(rename = "GitHub Pull Request")]
    PullRequest,
    #[serde(rename = "GitHub Merge Group")]
    MergeGroup,
    #[serde(rename = "GitHub Check Run")]
    CheckRun,
    #[serde(rename = "GitHub Check Suite")]
    CheckSuite,
    #[serde(rename = "GitHub Issue Comment")]
    IssueComment,
}

impl DetailType {
    pub const fn as_str(self) -> &'static str {
        match self {
            DetailType::Push => "GitHub Push",
            DetailType::PullRequest => "GitHub Pull Request",
            DetailType::MergeGroup => "GitHub Merge Group",
            DetailType::CheckRun => "GitHub Check Run",
            DetailType::CheckSuite => "GitHub Check Suite",
            DetailType::IssueComment => "GitHub Issue Comment",
        }
    }
}

impl fmt::Display for DetailType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `webhook` puts on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Git(GitEvent),
    Approval(ApprovalComment),
}

impl Published {
    pub fn detail_type(&self) -> DetailType {
        match self {
            Published::Git(event) => event.detail_type(),
            Published::Approval(_) => DetailType::IssueComment,
        }
    }

    pub fn repository(&self) -> &RepoName {
        match self {
            Published::Git(event) => &event.repository,
            Published::Approval(comment) => &comment.repository,
        }
    }

    /// The commit it is about; an approval names one only by a prefix.
    pub fn commit(&self) -> &str {
        match self {
            Published::Git(event) => event.commit.as_str(),
            Published::Approval(comment) => &comment.approved,
        }
    }

    pub fn to_detail(&self) -> Result<String, serde_json::Error> {
        match self {
            Published::Git(event) => serde_json::to_string(event),
            Published::Approval(comment) => serde_json::to_string(comment),
        }
    }
}

/// A maintainer's `/gantry run <sha>` on a pull request: the `detail` of a
/// `GitHub Issue Comment` event. Not a `GitEvent`: the commit it builds is
/// known only once `trigger` has read the pull request's head, and built only
/// if it is still that head and the author may approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalComment {
    pub delivery_id: DeliveryId,
    pub repository: RepoName,
    pub clone_url: String,
    pub pull_request: u64,
    pub comment_id: u64,
    /// Who wrote it (their permission on the repository is read, not the
    /// payload's `author_association`, which says CONTRIBUTOR for private
    /// organisation members and counts read-only collaborators in).
    pub author: String,
    /// The commit the comment names, as written: 7 to 40 hex digits, lowercased.
    pub approved: String,
}

/// A GitHub change that may start a build: the `detail` of a Gantry event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitEvent {
    pub delivery_id: DeliveryId,
    pub repository: RepoName,
    pub clone_url: String,
    /// The exact commit to build.
    pub commit: CommitSha,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    Push(Push),
    PullRequest(PullRequest),
    MergeGroup(MergeGroup),
    CheckRun(CheckRunRequest),
    CheckSuite(CheckSuiteRequest),
}

/// "Re-run all checks" on the commit's suite of Gantry's check runs
/// (`check_suite.rerequested`, which GitHub delivers only to the App that
/// owns the suite): every target Gantry started for the commit runs again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSuiteRequest {
    pub action: String,
    pub check_suite_id: u64,
}

/// A button pressed on one of Gantry's check runs: "Re-run" (`rerequested`)
/// or one of the run's own actions (`requested_action`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunRequest {
    pub action: String,
    pub check_run_id: u64,
    pub name: String,
    /// What Gantry wrote there: `<delivery>/<target>/<run>` (see `RunOrigin`).
    pub external_id: String,
    /// `requested_action` only: the action's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

/// Where a check run's build or execution came from, as its `external_id`
/// carries it: the delivery that started it, its target
/// (`project/<name>` or `pipeline/<name>`) and the run (a build's id, an
/// execution's id, `<execution>/<stage>` for a stage's run). Names of projects
/// and pipelines hold no `/`, and a delivery id none either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOrigin {
    pub delivery: String,
    pub target: String,
    pub run: String,
}

impl RunOrigin {
    pub fn to_external_id(&self) -> String {
        format!("{}/{}/{}", self.delivery, self.target, self.run)
    }

    pub fn parse(external_id: &str) -> Option<RunOrigin> {
        let mut parts = external_id.splitn(4, '/');
        let delivery = parts.next().filter(|d| !d.is_empty())?;
        let kind = parts
            .next()
            .filter(|k| matches!(*k, "project" | "pipeline"))?;
        let name = parts.next().filter(|n| !n.is_empty())?;
        let run = parts.next().filter(|r| !r.is_empty())?;
        Some(RunOrigin {
            delivery: delivery.to_owned(),
            target: format!("{kind}/{name}"),
            run: run.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The full ref, e.g. `refs/heads/main` or `refs/tags/v1.0.0`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub head_commit_message: Option<String>,
    /// Paths added, modified or removed by the pushed commits; `None` when GitHub's
    /// payload cannot tell (a new branch, or more commits than the payload lists).
    pub changed_paths: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub action: String,
    /// Branch the pull request merges into.
    pub base_branch: String,
    /// Branch the pull request comes from (in `head_repository`, maybe a fork).
    pub head_branch: String,
    pub head_repository: Option<RepoName>,
    pub draft: bool,
    pub title: String,
}

/// A merge queue's group to check (`checks_requested`): its head commit is the
/// base branch with the queued pull requests merged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeGroup {
    pub action: String,
    /// The queue's own branch, e.g. `refs/heads/gh-readonly-queue/main/pr-104-<sha>`.
    pub head_ref: String,
    /// The branch the group merges into, e.g. `refs/heads/main`.
    pub base_ref: String,
    pub head_commit_message: Option<String>,
    /// Why a `destroyed` group left the queue: `merged`, `invalidated` or `dequeued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The base branch's commit the group was made on: its changed files are
    /// GitHub's comparison of that commit with the group's head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sha: Option<CommitSha>,
}

impl MergeGroup {
    /// The base branch's name (`main`).
    pub fn base_branch(&self) -> &str {
        self.base_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.base_ref)
    }

    /// The queue branch's name (`gh-readonly-queue/main/pr-104-<sha>`).
    pub fn head_branch(&self) -> &str {
        self.head_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.head_ref)
    }
}

/// The prefix of the branches GitHub's merge queue creates for its groups.
pub const MERGE_QUEUE_BRANCH_PREFIX: &str = "gh-readonly-queue/";

/// A git ref, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef<'a> {
    Branch(&'a str),
    Tag(&'a str),
    Other(&'a str),
}

impl<'a> GitRef<'a> {
    pub fn parse(full: &'a str) -> Self {
        if let Some(branch) = full.strip_prefix("refs/heads/") {
            GitRef::Branch(branch)
        } else if let Some(tag) = full.strip_prefix("refs/tags/") {
            GitRef::Tag(tag)
        } else {
            GitRef::Other(full)
        }
    }
}

impl GitEvent {
    pub fn detail_type(&self) -> DetailType {
        match self.change {
            Change::Push(_) => DetailType::Push,
            Change::PullRequest(_) => DetailType::PullRequest,
            Change::MergeGroup(_) => DetailType::MergeGroup,
            Change::CheckRun(_) => DetailType::CheckRun,
            Change::CheckSuite(_) => DetailType::CheckSuite,
        }
    }

    /// The branch this change builds: the pushed branch, or a pull request's head branch.
    pub fn branch(&self) -> Option<&str> {
        match &self.change {
            Change::Push(push) => match GitRef::parse(&push.git_ref) {
                GitRef::Branch(branch) => Some(branch),
                _ => None,
            },
            Change::PullRequest(pr) => Some(&pr.head_branch),
            Change::MergeGroup(group) => Some(group.head_branch()),
            Change::CheckRun(_) | Change::CheckSuite(_) => None,
        }
    }

    pub fn pull_request_number(&self) -> Option<u64> {
        match &self.change {
            Change::PullRequest(pr) => Some(pr.number),
            Change::Push(_)
            | Change::MergeGroup(_)
            | Change::CheckRun(_)
            | Change::CheckSuite(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_round_trips_with_a_flat_event_tag() {
        let event = GitEvent {
            delivery_id: DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap(),
            repository: RepoName::parse("Codertocat/Hello-World").unwrap(),
            clone_url: "https://github.com/Codertocat/Hello-World.git".into(),
            commit: CommitSha::parse("6113728f27ae82c7b1a177c8d03f9e96e0adf246").unwrap(),
            change: Change::Push(Push {
                git_ref: "refs/heads/main".into(),
                head_commit_message: Some("Update README.md".into()),
                changed_paths: Some(vec!["README.md".into()]),
            }),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "push");
        assert_eq!(json["ref"], "refs/heads/main");
        assert_eq!(json["commit"], "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        let back: GitEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.branch(), Some("main"));
        assert_eq!(back.detail_type().as_str(), "GitHub Push");
    }

    #[test]
    fn a_runs_origin_round_trips_through_its_external_id() {
        let origin = RunOrigin {
            delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            target: "project/hello-world-build".into(),
            run: "hello-world-build:5f6b2c1a".into(),
        };
        let id = origin.to_external_id();
        assert_eq!(id, "72d3162e-cc78-11e3-81ab-4c9367dc0958/project/hello-world-build/hello-world-build:5f6b2c1a");
        assert_eq!(RunOrigin::parse(&id), Some(origin));
        let stage = RunOrigin::parse("d/pipeline/app/exec-1/Deploy").unwrap();
        assert_eq!(
            (stage.target.as_str(), stage.run.as_str()),
            ("pipeline/app", "exec-1/Deploy")
        );
        for other in [
            "",
            "d/x/app/run",
            "d/project/app",
            "hello-world-build:5f6b2c1a",
        ] {
            assert_eq!(RunOrigin::parse(other), None, "{other}");
        }
    }

    #[test]
    fn refs_parse_into_branches_and_tags() {
        assert_eq!(GitRef::parse("refs/heads/a/b"), GitRef::Branch("a/b"));
        assert_eq!(GitRef::parse("refs/tags/v1"), GitRef::Tag("v1"));
        assert_eq!(GitRef::parse("refs/notes/x"), GitRef::Other("refs/notes/x"));
    }
}
