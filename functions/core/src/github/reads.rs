//! What `trigger` reads from GitHub: before it builds a fork's commit on a
//! maintainer's word, the commenter's permission on the repository and the
//! pull request's head as it is now; for `paths` filters, the files a pull
//! request changes and a merge group's base and head differ in; for
//! `[skip ci]`, a pull request's head commit message.

use super::client::{Delivered, On};
use super::{GitHubClient, GitHubError};
use crate::ids::{CommitSha, RepoName};
use http::Method;
use serde::Deserialize;
use tokio::time::Instant;

/// GitHub lists at most 3,000 files of a pull request, 100 per page.
const FILES_PER_PAGE: usize = 100;
const MAX_FILE_PAGES: usize = 30;
/// GitHub lists at most 300 files of a comparison.
const MAX_COMPARED_FILES: usize = 300;

/// A user's permission on a repository, as GitHub's collaborator API
/// reports it (`permission`: `admin`, `write`, `read`, `none`; `maintain`
/// reads as `write` and `triage` as `read` there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub permission: String,
    /// The finer role (`admin`, `maintain`, `write`, `triage`, `read`), when given.
    pub role_name: Option<String>,
}

impl Permission {
    /// Write access or more: what pushing to the repository takes, and so
    /// what vouching for a stranger's commit takes.
    pub fn may_approve(&self) -> bool {
        matches!(self.permission.as_str(), "admin" | "write")
    }
}

/// One commit status or check run now on a commit, in a few words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedCheck {
    /// A status's context, or a check run's name.
    pub name: String,
    /// A status's state; a check run's conclusion, or its status while it runs.
    pub state: String,
    /// A status's description, or a check run's title.
    pub summary: Option<String>,
}

/// A pull request's state and head, as `GET /repos/{owner}/{repo}/pulls/{n}` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestHead {
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    pub head_sha: CommitSha,
    pub head_branch: String,
    /// `None` once the fork has been deleted.
    pub head_repository: Option<RepoName>,
    pub base_branch: String,
    pub draft: bool,
    pub title: String,
}

impl GitHubClient {
    /// `GET /repos/{owner}/{repo}/collaborators/{username}/permission`. A user
    /// GitHub does not know on the repository (404) has no permission.
    pub async fn collaborator_permission(
        &self,
        repo: &RepoName,
        user: &str,
        deadline: Instant,
    ) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            role_name: Option<String>,
        }
        let url = format!(
            "{}/repos/{}/{}/collaborators/{}/permission",
            self.api_url,
            repo.owner(),
            repo.name(),
            path_segment(user)
        );
        match self.get::<Answer>(repo, &url, deadline).await {
            Ok(answer) => Ok(Permission {
                permission: answer.permission,
                role_name: answer.role_name,
            }),
            Err(GitHubError::Rejected { status: 404, .. }) => Ok(Permission {
                permission: "none".into(),
                role_name: None,
            }),
            Err(err) => Err(err),
        }
    }

    /// `GET /repos/{owner}/{repo}/pulls/{pull_number}`.
    pub async fn pull_request(
        &self,
        repo: &RepoName,
        number: u64,
        deadline: Instant,
    ) -> Result<PullRequestHead, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            number: u64,
            state: String,
            #[serde(default)]
            draft: bool,
            title: String,
            head: Head,
            base: Base,
        }
        #[derive(Deserialize)]
        struct Head {
            sha: String,
            #[serde(rename = "ref")]
            branch: String,
            repo: Option<Repo>,
        }
        #[derive(Deserialize)]
        struct Base {
            #[serde(rename = "ref")]
            branch: String,
        }
        #[derive(Deserialize)]
        struct Repo {
            full_name: String,
        }
        let url = self.repo_url(repo, &format!("pulls/{number}"));
        let answer = self.get::<Answer>(repo, &url, deadline).await?;
        let unreadable = |what: &str| GitHubError::Transient {
            attempts: 1,
            last: format!("GitHub's pull request answer has an unreadable {what}"),
        };
        Ok(PullRequestHead {
            number: answer.number,
            state: answer.state,
            head_sha: CommitSha::parse(&answer.head.sha).map_err(|_| unreadable("head.sha"))?,
            head_branch: answer.head.branch,
            head_repository: match answer.head.repo {
                Some(repo) => {
                    Some(RepoName::parse(&repo.full_name).map_err(|_| unreadable("head.repo"))?)
                }
                None => None,
            },
            base_branch: answer.base.branch,
            draft: answer.draft,
            title: answer.title,
        })
    }

    /// The paths a pull request changes (a renamed file's old path too), or
    /// `None` when it changes more than GitHub lists (3,000 files).
    pub async fn pull_request_files(
        &self,
        repo: &RepoName,
        number: u64,
        deadline: Instant,
    ) -> Result<Option<Vec<String>>, GitHubError> {
        #[derive(Deserialize)]
        struct File {
            filename: String,
            previous_filename: Option<String>,
        }
        let mut paths = Vec::new();
        for page in 1..=MAX_FILE_PAGES {
            let url = self.repo_url(
                repo,
                &format!("pulls/{number}/files?per_page={FILES_PER_PAGE}&page={page}"),
            );
            let files = self.get::<Vec<File>>(repo, &url, deadline).await?;
            let last = files.len() < FILES_PER_PAGE;
            for file in files {
                paths.extend(file.previous_filename);
                paths.push(file.filename);
            }
            if last {
                return Ok(Some(paths));
            }
        }
        // Every page was full: GitHub may have stopped listing at its limit.
        Ok(None)
    }

    /// The paths changed between `base` and `head` (`GET
    /// /repos/{owner}/{repo}/compare/{base}...{head}`), or `None` when GitHub
    /// may have left some out: it lists at most 300 files of a comparison.
    pub async fn compare_files(
        &self,
        repo: &RepoName,
        base: &CommitSha,
        head: &CommitSha,
        deadline: Instant,
    ) -> Result<Option<Vec<String>>, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            files: Vec<File>,
        }
        #[derive(Deserialize)]
        struct File {
            filename: String,
            previous_filename: Option<String>,
        }
        let url = self.repo_url(repo, &format!("compare/{base}...{head}"));
        let answer = self.get::<Answer>(repo, &url, deadline).await?;
        if answer.files.len() >= MAX_COMPARED_FILES {
            return Ok(None);
        }
        let mut paths = Vec::new();
        for file in answer.files {
            paths.extend(file.previous_filename);
            paths.push(file.filename);
        }
        Ok(Some(paths))
    }

    /// The message of commit `sha` (`GET /repos/{owner}/{repo}/commits/{sha}`).
    pub async fn commit_message(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        deadline: Instant,
    ) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            commit: Commit,
        }
        #[derive(Deserialize)]
        struct Commit {
            message: String,
        }
        let url = self.repo_url(repo, &format!("commits/{sha}"));
        Ok(self
            .get::<Answer>(repo, &url, deadline)
            .await?
            .commit
            .message)
    }

    /// The commit statuses on `sha`, the latest per context (`GET
    /// /repos/{owner}/{repo}/commits/{ref}/status`; its first 100 contexts).
    pub async fn commit_statuses(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        deadline: Instant,
    ) -> Result<Vec<PostedCheck>, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            statuses: Vec<Status>,
        }
        #[derive(Deserialize)]
        struct Status {
            context: String,
            state: String,
            description: Option<String>,
        }
        let url = self.repo_url(repo, &format!("commits/{sha}/status?per_page=100"));
        Ok(self
            .get::<Answer>(repo, &url, deadline)
            .await?
            .statuses
            .into_iter()
            .map(|s| PostedCheck {
                name: s.context,
                state: s.state,
                summary: s.description,
            })
            .collect())
    }

    /// The check runs on `sha` (`GET /repos/{owner}/{repo}/commits/{ref}/check-runs`;
    /// the latest of each name, its first 100).
    pub async fn check_runs_on(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        deadline: Instant,
    ) -> Result<Vec<PostedCheck>, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            check_runs: Vec<Run>,
        }
        #[derive(Deserialize)]
        struct Run {
            name: String,
            status: String,
            conclusion: Option<String>,
            output: Output,
        }
        #[derive(Deserialize)]
        struct Output {
            title: Option<String>,
        }
        let url = self.repo_url(
            repo,
            &format!("commits/{sha}/check-runs?filter=latest&per_page=100"),
        );
        Ok(self
            .get::<Answer>(repo, &url, deadline)
            .await?
            .check_runs
            .into_iter()
            .map(|run| PostedCheck {
                name: run.name,
                state: run.conclusion.unwrap_or(run.status),
                summary: run.output.title,
            })
            .collect())
    }

    /// The permissions of the App's installation on `repo` (`GET
    /// /repos/{owner}/{repo}/installation`, as the App): `checks` -> `write`.
    pub async fn installation_permissions(
        &self,
        repo: &RepoName,
        deadline: Instant,
    ) -> Result<std::collections::BTreeMap<String, String>, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permissions: std::collections::BTreeMap<String, String>,
        }
        let url = self.repo_url(repo, "installation");
        Ok(self
            .get_page::<Answer>(On::App, &url, deadline)
            .await?
            .0
            .permissions)
    }

    /// A GET, retried as every request is, its answer read as `T`.
    pub(super) async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        repo: &RepoName,
        url: &str,
        deadline: Instant,
    ) -> Result<T, GitHubError> {
        Ok(self.get_page(On::Repository(repo), url, deadline).await?.0)
    }

    /// A GET about a repository or the App, its answer read as `T`, with the
    /// URL of the next page when the answer is one page of a list.
    pub(super) async fn get_page<T: for<'de> Deserialize<'de>>(
        &self,
        on: On<'_>,
        url: &str,
        deadline: Instant,
    ) -> Result<(T, Option<String>), GitHubError> {
        let answer = match self
            .send_on(on, Method::GET, url, Default::default(), deadline, None)
            .await?
        {
            Delivered::Accepted(answer) => answer,
            // No recheck is asked for, so none drops it.
            Delivered::Dropped(reason) => {
                return Err(GitHubError::Transient {
                    attempts: 1,
                    last: format!("request dropped: {reason}"),
                })
            }
        };
        let value = serde_json::from_str(&answer.body).map_err(|err| GitHubError::Transient {
            attempts: 1,
            last: format!("GitHub's answer to GET {url} is not what its description says: {err}"),
        })?;
        Ok((value, answer.next_page))
    }
}

/// A user name as one path segment: GitHub logins are letters, digits and
/// `-` (an App's bot user adds `[bot]`); anything else is escaped.
fn path_segment(user: &str) -> String {
    form_urlencoded::byte_serialize(user.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_or_more_may_approve() {
        for (permission, may) in [
            ("admin", true),
            ("write", true),
            ("read", false),
            ("none", false),
            ("triage", false),
        ] {
            let permission = Permission {
                permission: permission.into(),
                role_name: None,
            };
            assert_eq!(permission.may_approve(), may, "{permission:?}");
        }
    }

    #[test]
    fn user_names_stay_one_path_segment() {
        assert_eq!(path_segment("octocat"), "octocat");
        assert_eq!(path_segment("gantry-ci[bot]"), "gantry-ci%5Bbot%5D");
        assert_eq!(path_segment("../x"), "..%2Fx");
    }
}
