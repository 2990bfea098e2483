//! S3: every version under a prefix (`ListObjectVersions`, paginated), and
//! deletion through `DeleteObjects` only, at most 1000 keys a call, a bounded
//! number of calls at once, with every per-key error collected and retried once.

use crate::budget::Budget;
use crate::plan::{ObjectVersion, Tally};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::stream::{self, StreamExt};
use gantry_core::aws::{is_transient, ServiceError};

/// S3's limit for one `DeleteObjects` call.
pub const MAX_KEYS_PER_DELETE: usize = 1000;
/// `DeleteObjects` calls in flight at once.
const DELETE_CONCURRENCY: usize = 4;
/// Per-key error codes worth one more try.
const RETRYABLE: [&str; 3] = ["InternalError", "SlowDown", "ServiceUnavailable"];

#[derive(Debug, thiserror::Error)]
#[error("listing s3://{bucket}/{prefix} failed")]
pub struct ListError {
    pub bucket: String,
    pub prefix: String,
    #[source]
    pub source: ServiceError<aws_sdk_s3::Error>,
}

/// A listing, or as much of it as the budget allowed.
pub struct Listing {
    pub versions: Vec<ObjectVersion>,
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDelete {
    pub key: String,
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct DeleteOutcome {
    pub deleted: Tally,
    pub failed: Vec<FailedDelete>,
    /// Versions not attempted because the budget ran out.
    pub not_attempted: Tally,
}

pub struct Store {
    s3: aws_sdk_s3::Client,
}

impl Store {
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Store { s3 }
    }

    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        budget: &Budget,
    ) -> Result<Listing, ListError> {
        let mut versions = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            if !budget.take() {
                return Ok(Listing {
                    versions,
                    complete: false,
                });
            }
            let page = self
                .s3
                .list_object_versions()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|err| ListError {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                    source: ServiceError::from_sdk(err),
                })?;
            for version in page.versions.unwrap_or_default() {
                versions.push(ObjectVersion {
                    key: version.key.unwrap_or_default().into(),
                    // "null" is a real id (objects written before versioning was
                    // enabled, or while suspended): a delete without it would only
                    // add a delete marker in a versioned bucket.
                    version_id: version.version_id.map(Into::into),
                    is_latest: version.is_latest.unwrap_or(false),
                    delete_marker: false,
                    last_modified: version.last_modified.map_or(0, |t| t.secs()),
                    size: version
                        .size
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                });
            }
            for marker in page.delete_markers.unwrap_or_default() {
                versions.push(ObjectVersion {
                    key: marker.key.unwrap_or_default().into(),
                    version_id: marker.version_id.map(Into::into),
                    is_latest: marker.is_latest.unwrap_or(false),
                    delete_marker: true,
                    last_modified: marker.last_modified.map_or(0, |t| t.secs()),
                    size: 0,
                });
            }
            if page.is_truncated != Some(true) {
                return Ok(Listing {
                    versions,
                    complete: true,
                });
            }
            key_marker = page.next_key_marker;
            version_marker = page.next_version_id_marker;
            if key_marker.is_none() {
                return Ok(Listing {
                    versions,
                    complete: true,
                });
            }
        }
    }

    /// Deletes `versions`, retrying per-key failures that S3 calls transient once.
    pub async fn delete(
        &self,
        bucket: &str,
        versions: &[ObjectVersion],
        budget: &Budget,
    ) -> DeleteOutcome {
        let mut outcome = self.delete_once(bucket, versions, budget).await;
        let (retry, failed): (Vec<FailedDelete>, Vec<FailedDelete>) =
            std::mem::take(&mut outcome.failed)
                .into_iter()
                .partition(|f| RETRYABLE.contains(&f.code.as_str()));
        outcome.failed = failed;
        if !retry.is_empty() {
            let retry: std::collections::HashSet<(&str, Option<&str>)> = retry
                .iter()
                .map(|f| (f.key.as_str(), f.version_id.as_deref()))
                .collect();
            let again: Vec<ObjectVersion> = versions
                .iter()
                .filter(|v| retry.contains(&(&*v.key, v.version_id.as_deref())))
                .cloned()
                .collect();
            let second = self.delete_once(bucket, &again, budget).await;
            outcome.deleted.merge(second.deleted);
            outcome.not_attempted.merge(second.not_attempted);
            outcome.failed.extend(second.failed);
        }
        outcome
    }

    async fn delete_once(
        &self,
        bucket: &str,
        versions: &[ObjectVersion],
        budget: &Budget,
    ) -> DeleteOutcome {
        let results: Vec<DeleteOutcome> = stream::iter(versions.chunks(MAX_KEYS_PER_DELETE))
            .map(|batch| self.delete_batch(bucket, batch, budget))
            .buffer_unordered(DELETE_CONCURRENCY)
            .collect()
            .await;
        let mut outcome = DeleteOutcome::default();
        for result in results {
            outcome.deleted.merge(result.deleted);
            outcome.not_attempted.merge(result.not_attempted);
            outcome.failed.extend(result.failed);
        }
        outcome
    }

    async fn delete_batch(
        &self,
        bucket: &str,
        batch: &[ObjectVersion],
        budget: &Budget,
    ) -> DeleteOutcome {
        let mut outcome = DeleteOutcome::default();
        if !budget.take() {
            batch.iter().for_each(|v| outcome.not_attempted.add(v));
            return outcome;
        }
        let identifiers: Result<Vec<ObjectIdentifier>, _> = batch
            .iter()
            .map(|v| {
                ObjectIdentifier::builder()
                    .key(&*v.key)
                    .set_version_id(v.version_id.as_deref().map(str::to_owned))
                    .build()
            })
            .collect();
        let request = identifiers.and_then(|objects| {
            Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
        });
        let request = match request {
            Ok(request) => request,
            Err(err) => {
                outcome.failed = failures(batch, "InvalidRequest", &err.to_string());
                return outcome;
            }
        };
        match self
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(request)
            .send()
            .await
        {
            Ok(output) => {
                let errors = output.errors.unwrap_or_default();
                for version in batch {
                    match error_for(&errors, version) {
                        Some(error) => outcome.failed.push(FailedDelete {
                            key: version.key.to_string(),
                            version_id: version.version_id.as_deref().map(str::to_owned),
                            code: error.code().unwrap_or("Unknown").to_owned(),
                            message: error.message().unwrap_or_default().to_owned(),
                        }),
                        None => outcome.deleted.add(version),
                    }
                }
            }
            Err(err) => {
                // The whole call failed: every key in it failed, retryable if the call was.
                let code = if is_transient(&err) {
                    "InternalError"
                } else {
                    "RequestFailed"
                };
                let message = gantry_core::logging::error_chain(&aws_sdk_s3::Error::from(err));
                outcome.failed = failures(batch, code, &message);
            }
        }
        outcome
    }
}

/// The per-key error `DeleteObjects` reported for `version`, if any. An error
/// that names no version counts against every version of its key: a failure is
/// never counted as a deletion.
fn error_for<'a>(
    errors: &'a [aws_sdk_s3::types::Error],
    version: &ObjectVersion,
) -> Option<&'a aws_sdk_s3::types::Error> {
    errors.iter().find(|e| {
        e.key() == Some(&*version.key)
            && (e.version_id().is_none() || e.version_id() == version.version_id.as_deref())
    })
}

fn failures(batch: &[ObjectVersion], code: &str, message: &str) -> Vec<FailedDelete> {
    batch
        .iter()
        .map(|v| FailedDelete {
            key: v.key.to_string(),
            version_id: v.version_id.as_deref().map(str::to_owned),
            code: code.to_owned(),
            message: message.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::Error as KeyError;

    fn version(key: &str, id: &str) -> ObjectVersion {
        ObjectVersion {
            key: key.into(),
            version_id: Some(id.into()),
            is_latest: false,
            delete_marker: false,
            last_modified: 0,
            size: 1,
        }
    }

    #[test]
    fn per_key_errors_match_by_version_or_by_key_alone() {
        let errors = [
            KeyError::builder()
                .key("a")
                .version_id("v1")
                .code("AccessDenied")
                .build(),
            KeyError::builder().key("b").code("SlowDown").build(),
        ];
        assert_eq!(
            error_for(&errors, &version("a", "v1")).and_then(|e| e.code()),
            Some("AccessDenied")
        );
        assert!(error_for(&errors, &version("a", "v2")).is_none());
        // No version named: every version of "b" failed, "null" included.
        assert_eq!(
            error_for(&errors, &version("b", "null")).and_then(|e| e.code()),
            Some("SlowDown")
        );
        assert_eq!(
            error_for(&errors, &version("b", "v7")).and_then(|e| e.code()),
            Some("SlowDown")
        );
        assert!(error_for(&errors, &version("c", "v1")).is_none());
    }
}
