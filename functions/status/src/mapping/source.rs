//! Which repository and commit a build or execution built: read from its
//! source, or from the variables `trigger` set when it started it.

use super::snapshot::{BuildSnapshot, ExecutionSnapshot};
use crate::event::BuildChange;
use gantry_core::ids::{CommitSha, RepoName};

const GITHUB_SOURCES: [&str; 2] = ["GITHUB", "GITHUB_ENTERPRISE"];

/// The repository and commit of a build, or why it has none to report on.
pub(super) fn build_commit(
    change: &BuildChange,
    build: &BuildSnapshot,
) -> Result<(RepoName, CommitSha), String> {
    // The event and the build read describe the same source; the event's is
    // taken first as it is what CodeBuild reported for this very change.
    let event_source = change.additional_information.source.as_ref();
    let source_type = event_source
        .map(|s| s.source_type.as_str())
        .or(build.source_type.as_deref())
        .unwrap_or("");
    if source_type == "CODEPIPELINE" {
        return Err("the build runs inside a pipeline; the pipeline's status covers it".into());
    }
    let location = [
        build.source_location.as_deref(),
        event_source.and_then(|s| s.location.as_deref()),
    ];
    let repository = if GITHUB_SOURCES.contains(&source_type) {
        location.into_iter().flatten().find_map(repository_from_url)
    } else {
        None
    }
    .or_else(|| {
        variable(&build.environment, "GANTRY_REPOSITORY").and_then(|r| RepoName::parse(r).ok())
    });
    let Some(repository) = repository else {
        return Err(format!(
            "build source {source_type:?} is not a GitHub repository"
        ));
    };
    let commit = [
        build.resolved_source_version.as_deref(),
        build.source_version.as_deref(),
        change.additional_information.source_version.as_deref(),
        variable(&build.environment, "GANTRY_COMMIT"),
    ]
    .into_iter()
    .flatten()
    .find_map(|candidate| CommitSha::parse(candidate).ok());
    let Some(commit) = commit else {
        return Err("the build names no full commit SHA".into());
    };
    Ok((repository, commit))
}

/// The commit an execution built: the variables `trigger` set, or else the
/// source revision CodePipeline recorded (a GitHub or CodeConnections link).
pub(super) fn execution_commit(execution: &ExecutionSnapshot) -> Option<(RepoName, CommitSha)> {
    let from_variables = variable(&execution.variables, "GANTRY_REPOSITORY")
        .and_then(|r| RepoName::parse(r).ok())
        .zip(
            variable(&execution.variables, "GANTRY_COMMIT").and_then(|c| CommitSha::parse(c).ok()),
        );
    from_variables.or_else(|| {
        execution.revisions.iter().find_map(|revision| {
            let commit = CommitSha::parse(revision.revision_id.as_deref()?).ok()?;
            let repository = repository_from_revision_url(revision.revision_url.as_deref()?)?;
            Some((repository, commit))
        })
    })
}

fn variable<'a>(variables: &'a [(String, String)], name: &str) -> Option<&'a str> {
    variables
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `https://github.com/owner/repo(.git)`, or the same on a GitHub Enterprise host.
fn repository_from_url(location: &str) -> Option<RepoName> {
    let url = url::Url::parse(location).ok()?;
    let host = url.host_str()?;
    if host.ends_with("amazonaws.com") {
        return None;
    }
    let path = url.path().trim_matches('/').trim_end_matches(".git");
    let mut segments = path.rsplit('/');
    let name = segments.next()?;
    let owner = segments.next()?;
    RepoName::parse(&format!("{owner}/{name}")).ok()
}

/// CodeConnections' revision link carries `FullRepositoryId=owner/repo`; a
/// GitHub commit link is `https://github.com/owner/repo/commit/SHA`.
fn repository_from_revision_url(link: &str) -> Option<RepoName> {
    let url = url::Url::parse(link).ok()?;
    if let Some((_, id)) = url.query_pairs().find(|(key, _)| key == "FullRepositoryId") {
        return RepoName::parse(&id).ok();
    }
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    match segments.as_slice() {
        [owner, name, "commit", _] => RepoName::parse(&format!("{owner}/{name}")).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::fixtures::*;
    use crate::mapping::snapshot::RevisionSnapshot;

    fn repository(found: Result<(RepoName, CommitSha), String>) -> String {
        match found {
            Ok((repository, _)) => repository.to_string(),
            Err(reason) => panic!("no commit: {reason}"),
        }
    }

    #[test]
    fn builds_not_from_github_are_ignored() {
        let inside_pipeline = documented_build(0);
        assert!(matches!(
            build_commit(&change(&inside_pipeline), &inside_pipeline),
            Err(reason) if reason.contains("pipeline")
        ));
        let s3 = BuildSnapshot {
            source_type: Some("S3".into()),
            source_location: Some("bucket/key.zip".into()),
            ..documented_build(1)
        };
        assert!(build_commit(&change(&s3), &s3).is_err());
        // Started by trigger with Gantry's variables: the variables name the commit.
        let with_variables = BuildSnapshot {
            environment: vec![
                ("GANTRY_REPOSITORY".into(), "octo-org/app".into()),
                ("GANTRY_COMMIT".into(), SHA.into()),
            ],
            resolved_source_version: None,
            source_version: None,
            ..s3
        };
        assert_eq!(
            repository(build_commit(&change(&with_variables), &with_variables)),
            "octo-org/app"
        );
    }

    #[test]
    fn a_pipeline_without_variables_is_found_by_its_source_revision() {
        let mut snapshot = execution("Succeeded");
        snapshot.variables.clear();
        snapshot.revisions = vec![RevisionSnapshot {
            revision_id: Some(SHA.into()),
            revision_url: Some("https://us-west-2.console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=arn:aws:codeconnections:us-west-2:123456789012:connection/abc&referenceType=COMMIT&FullRepositoryId=octo-org/app&Commit=f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b".into()),
        }];
        let found = |snapshot: &ExecutionSnapshot| {
            execution_commit(snapshot).map(|(repository, commit)| {
                assert_eq!(commit.as_str(), SHA);
                repository.to_string()
            })
        };
        assert_eq!(found(&snapshot).as_deref(), Some("octo-org/app"));
        snapshot.revisions[0].revision_url =
            Some(format!("https://github.com/octo-org/web/commit/{SHA}"));
        assert_eq!(found(&snapshot).as_deref(), Some("octo-org/web"));
        // CodeCommit, S3 and others are not GitHub.
        snapshot.revisions[0].revision_url =
            Some("https://git-codecommit.us-west-2.amazonaws.com/v1/repos/x".into());
        assert_eq!(found(&snapshot), None);
    }
}
