//! Reads that add to a check run but never decide it: the last lines of a
//! failed build's log (CloudWatch Logs) and the raw JUnit XML a test report
//! was read from (S3). Each is best effort: a run is posted without what
//! could not be read, and the reason is logged.

use crate::mapping::junit::{self, PlacedCase};
use crate::mapping::{LogStream, TestReport};
use gantry_core::aws::{FirstUse, ServiceError};
use std::collections::BTreeMap;

/// The most of one raw report that is read: its start places the cases in
/// it (the parser stops where the cut is), and a larger file is a build's
/// output, not a reviewer's summary.
pub const MAX_RAW_REPORT_BYTES: u64 = 5 * 1024 * 1024;
/// Raw report files read per check run.
pub const MAX_RAW_REPORTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("GetLogEvents for log stream {stream} of {group} failed")]
    Log {
        group: String,
        stream: String,
        #[source]
        source: ServiceError<aws_sdk_cloudwatchlogs::Error>,
    },
    #[error("GetObject for the raw test report s3://{bucket}/{key} failed")]
    RawReport {
        bucket: String,
        key: String,
        #[source]
        source: ServiceError<aws_sdk_s3::Error>,
    },
    #[error("reading the raw test report s3://{bucket}/{key} failed")]
    RawReportBody {
        bucket: String,
        key: String,
        #[source]
        source: aws_sdk_s3::primitives::ByteStreamError,
    },
}

/// Both clients are for failures only (a build's log tail, a test report's
/// raw file), so they are built on first use.
pub struct Evidence {
    logs: FirstUse<aws_sdk_cloudwatchlogs::Client>,
    objects: FirstUse<aws_sdk_s3::Client>,
}

impl Evidence {
    pub fn new(
        logs: impl Into<FirstUse<aws_sdk_cloudwatchlogs::Client>>,
        objects: impl Into<FirstUse<aws_sdk_s3::Client>>,
    ) -> Self {
        Evidence {
            logs: logs.into(),
            objects: objects.into(),
        }
    }

    /// The last `lines` lines of the build's log, oldest first.
    pub async fn log_tail(
        &self,
        stream: &LogStream,
        lines: u16,
    ) -> Result<Vec<String>, EvidenceError> {
        let output = self
            .logs
            .get()
            .get_log_events()
            .log_group_name(&stream.group)
            .log_stream_name(&stream.stream)
            // From the end: the newest `limit` events, in time order.
            .start_from_head(false)
            .limit(i32::from(lines))
            .send()
            .await
            .map_err(|err| EvidenceError::Log {
                group: stream.group.clone(),
                stream: stream.stream.clone(),
                source: ServiceError::from_sdk(err),
            })?;
        // CodeBuild writes a line per event; an event may still hold several.
        let mut tail: Vec<String> = output
            .events
            .unwrap_or_default()
            .into_iter()
            .filter_map(|event| event.message)
            .flat_map(|message| {
                message
                    .trim_end_matches(['\r', '\n'])
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let extra = tail.len().saturating_sub(usize::from(lines));
        tail.drain(..extra);
        Ok(tail)
    }

    /// Places each failed test of `reports` where the raw JUnit XML it was
    /// read from says it is, for the raw files kept in S3 (at most
    /// `MAX_RAW_REPORTS` of them). Returns what could not be read.
    pub async fn place_failed_tests(&self, reports: &mut [TestReport]) -> Vec<EvidenceError> {
        let mut files: BTreeMap<String, Vec<PlacedCase>> = BTreeMap::new();
        let mut errors = Vec::new();
        let locations: Vec<String> = reports
            .iter()
            .flat_map(|report| &report.failed)
            .filter_map(|test| test.raw_data.clone())
            .filter(|path| s3_location(path).is_some())
            .collect();
        for location in locations {
            if files.contains_key(&location) || files.len() == MAX_RAW_REPORTS {
                continue;
            }
            let Some((bucket, key)) = s3_location(&location) else {
                continue;
            };
            match self.raw_report(bucket, key).await {
                Ok(xml) => {
                    files.insert(location, junit::placed_cases(&xml));
                }
                Err(err) => {
                    errors.push(err);
                    files.insert(location, Vec::new());
                }
            }
        }
        for test in reports.iter_mut().flat_map(|report| &mut report.failed) {
            let cases = test.raw_data.as_ref().and_then(|path| files.get(path));
            if let Some(cases) = cases {
                test.location = junit::location_of(test, cases);
            }
        }
        errors
    }

    async fn raw_report(&self, bucket: &str, key: &str) -> Result<String, EvidenceError> {
        let output = self
            .objects
            .get()
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes=0-{}", MAX_RAW_REPORT_BYTES - 1))
            .send()
            .await
            .map_err(|err| EvidenceError::RawReport {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        let body = output
            .body
            .collect()
            .await
            .map_err(|source| EvidenceError::RawReportBody {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&body.into_bytes()).into_owned())
    }
}

/// `s3://bucket/key` as bucket and key; `None` for anything else (a path on
/// the build machine, which nothing can read after the build).
pub fn s3_location(path: &str) -> Option<(&str, &str)> {
    let (bucket, key) = path.strip_prefix("s3://")?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s3_locations_are_read() {
        assert_eq!(
            s3_location("s3://reports-bucket/app/run-1/junit.xml"),
            Some(("reports-bucket", "app/run-1/junit.xml"))
        );
        assert_eq!(s3_location("/codebuild/output/src1/src/junit.xml"), None);
        assert_eq!(s3_location("s3://bucket-only"), None);
        assert_eq!(s3_location("s3:///key"), None);
        assert_eq!(s3_location("https://example.com/junit.xml"), None);
    }
}
