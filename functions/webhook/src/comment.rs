//! `issue_comment`: a maintainer's `/gantry run <sha>` on a pull request,
//! which approves building a fork's commit. Only a new comment counts (an
//! edit could turn an old comment into an approval of a newer commit), and
//! only on a pull request; everything else is ignored with the reason.
//! Whether its author may approve, and whether the commit is still the pull
//! request's head, `trigger` reads from GitHub.

use crate::payload::{Decision, IgnoreReason, PayloadError};
use gantry_core::contract::ApprovalComment;
use gantry_core::ids::{DeliveryId, RepoName};
use serde::Deserialize;

/// The command, at the start of a line of the comment.
pub const RUN_COMMAND: &str = "/gantry run";

#[derive(Deserialize)]
pub(crate) struct IssueCommentPayload {
    action: String,
    issue: Issue,
    comment: Comment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    /// Present only when the issue is a pull request.
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    body: Option<String>,
    user: User,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    clone_url: String,
}

pub(crate) fn decide_issue_comment(
    delivery: &DeliveryId,
    payload: IssueCommentPayload,
) -> Result<Decision, PayloadError> {
    if payload.action != "created" {
        return Ok(Decision::Ignore(IgnoreReason::UnhandledCommentAction(
            payload.action,
        )));
    }
    if payload.issue.pull_request.is_none() {
        return Ok(Decision::Ignore(IgnoreReason::CommentNotOnPullRequest));
    }
    let approved = match run_command(payload.comment.body.as_deref().unwrap_or("")) {
        Command::None => return Ok(Decision::Ignore(IgnoreReason::NoCommand)),
        Command::Malformed(written) => {
            return Ok(Decision::Ignore(IgnoreReason::MalformedCommand(written)))
        }
        Command::Run(sha) => sha,
    };
    Ok(Decision::PublishApproval(Box::new(ApprovalComment {
        delivery_id: delivery.clone(),
        repository: RepoName::parse(&payload.repository.full_name)?,
        clone_url: payload.repository.clone_url,
        pull_request: payload.issue.number,
        comment_id: payload.comment.id,
        author: payload.comment.user.login,
        approved,
    })))
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    None,
    /// `/gantry run` with no commit, or with something that is not one.
    Malformed(String),
    /// The named commit, lowercased.
    Run(String),
}

/// The first line that starts with `/gantry run` (after spaces; quoted
/// lines, `> ...`, are someone else's words and do not count). The commit
/// is 7 to 40 hex digits, so a short sha as GitHub shows it works.
fn run_command(body: &str) -> Command {
    let Some(rest) = body
        .lines()
        .map(str::trim_start)
        .find_map(|line| line.strip_prefix(RUN_COMMAND))
    else {
        return Command::None;
    };
    // `/gantry running` is not the command.
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Command::None;
    }
    let word = rest.split_whitespace().next().unwrap_or("");
    let sha = word.trim_matches('`');
    if (7..=40).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Command::Run(sha.to_ascii_lowercase())
    } else {
        Command::Malformed(word.chars().take(64).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{decide, EventName};

    fn fixture() -> serde_json::Value {
        let path = format!(
            "{}/../../events/github/issue_comment.created.payload.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn decided(payload: &serde_json::Value) -> Decision {
        let delivery = DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap();
        decide(
            &EventName::IssueComment,
            &delivery,
            &serde_json::to_vec(payload).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn only_a_new_pull_request_comment_with_the_command_is_published() {
        // GitHub's example is a comment on an issue.
        let mut payload = fixture();
        assert_eq!(
            decided(&payload),
            Decision::Ignore(IgnoreReason::CommentNotOnPullRequest)
        );
        payload["issue"]["pull_request"] = serde_json::json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
        assert_eq!(decided(&payload), Decision::Ignore(IgnoreReason::NoCommand));
        payload["comment"]["body"] = "/gantry run EC26C3E".into();
        let Decision::PublishApproval(approval) = decided(&payload) else {
            panic!("expected an approval")
        };
        assert_eq!(
            (
                approval.pull_request,
                approval.author.as_str(),
                approval.approved.as_str()
            ),
            (1, "Codertocat", "ec26c3e")
        );
        assert_eq!(approval.repository.as_str(), "Codertocat/Hello-World");
        payload["action"] = "edited".into();
        assert_eq!(
            decided(&payload),
            Decision::Ignore(IgnoreReason::UnhandledCommentAction("edited".into()))
        );
    }

    #[test]
    fn the_command_names_a_commit_by_7_to_40_hex_digits() {
        let cases = [
            ("/gantry run 6113728", Command::Run("6113728".into())),
            (
                "Looks good.\n\n/gantry run `6113728F27AE82C7B1A177C8D03F9E96E0ADF246` thanks",
                Command::Run("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
            ),
            ("  /gantry run abcdef0\r\n", Command::Run("abcdef0".into())),
            ("/gantry run", Command::Malformed(String::new())),
            ("/gantry run main", Command::Malformed("main".into())),
            ("/gantry run 61137", Command::Malformed("61137".into())),
            ("/gantry running 6113728", Command::None),
            ("> /gantry run 6113728\nquoted", Command::None),
            ("please /gantry run 6113728", Command::None),
            ("", Command::None),
        ];
        for (body, expected) in cases {
            assert_eq!(run_command(body), expected, "{body:?}");
        }
    }
}
