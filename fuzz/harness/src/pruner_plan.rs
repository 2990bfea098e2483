//! The pruner's policy parse and its plan over a listing.
//!
//! Input: "policy document NUL listing". The policy is `GANTRY_PRUNE_POLICY`;
//! the listing is `ListObjectVersions` in the AWS CLI's JSON shape, with
//! what else a run decides on beside it:
//!
//! ```json
//! {"pipelines": "app-pipeline", "now": 1700000000, "protected": ["app-pipeline/SourceArti/a"],
//!  "account_pipelines": ["app-pipeline"], "allowed_prefixes": "app-pipeline/",
//!  "Versions": [{"Key": "app-pipeline/SourceArti/a", "VersionId": "v1", "IsLatest": true,
//!                "LastModified": 1690000000, "Size": 100}],
//!  "DeleteMarkers": [{"Key": "...", "VersionId": "v2", "IsLatest": true, "LastModified": 1690000001}]}
//! ```
//!
//! Without a NUL the input is tried as a policy over a sample listing, and as
//! a listing under a sample policy.

use crate::split_at_nul;
use pruner::config::{PrunerConfig, Rule};
use pruner::plan::{self, ObjectVersion, Plan, SECONDS_PER_DAY};
use pruner::protect;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

const BUCKET: &str = "gantry-artifacts";
const SAMPLE_POLICY: &str = r#"{"keep_newest": 2, "keep_days": 7,
    "rules": [{"pipeline": "app-pipeline"}, {"prefix": "nightly-builds/", "keep_days": 30}]}"#;
const SAMPLE_LISTING: &str = r#"{"now": 1700000000, "protected": ["app-pipeline/BuildArtif/b"],
    "account_pipelines": ["app-pipeline", "app-pipeline-eu"],
    "Versions": [
        {"Key": "app-pipeline/SourceArti/a", "VersionId": "v1", "IsLatest": false, "LastModified": 1600000000, "Size": 10},
        {"Key": "app-pipeline/SourceArti/a", "VersionId": "v2", "IsLatest": true, "LastModified": 1690000000, "Size": 11},
        {"Key": "app-pipeline/SourceArti/c", "VersionId": "null", "IsLatest": true, "LastModified": 1699990000, "Size": 12},
        {"Key": "app-pipeline/BuildArtif/b", "VersionId": "v3", "IsLatest": true, "LastModified": 1500000000, "Size": 13},
        {"Key": "nightly-builds/web/1.zip", "VersionId": "v4", "IsLatest": false, "LastModified": 1500000000, "Size": 14},
        {"Key": "other/x", "IsLatest": true, "LastModified": 1, "Size": 15}],
    "DeleteMarkers": [
        {"Key": "nightly-builds/web/1.zip", "VersionId": "v5", "IsLatest": true, "LastModified": 1600000000}]}"#;

/// Times S3 can report, in seconds since the epoch (up to the year 9999), and
/// the largest object it stores (5 TiB): the listing's domain. Values outside
/// it are clamped, as no listing can hold them.
const LATEST_TIME: i64 = 253_402_300_799;
const LARGEST_OBJECT: u64 = 5 << 40;

pub fn pruner_plan(data: &[u8]) {
    match split_at_nul(data) {
        Some((policy, listing)) => {
            if let Some(listing) = Listing::parse(listing) {
                let pipelines = listing.pipelines.as_deref();
                if let Some(config) = parse_policy(policy, pipelines) {
                    run(&config, &listing);
                }
            }
        }
        None => {
            let sample =
                Listing::parse(SAMPLE_LISTING.as_bytes()).expect("the sample listing parses");
            if let Some(config) = parse_policy(data, Some("app-pipeline")) {
                run(&config, &sample);
            }
            if let Some(listing) = Listing::parse(data) {
                let pipelines = listing.pipelines.as_deref();
                if let Some(config) = parse_policy(SAMPLE_POLICY.as_bytes(), pipelines) {
                    run(&config, &listing);
                }
            }
        }
    }
}

/// `PrunerConfig::parse` as the cold start calls it (environment variables, so UTF-8).
fn parse_policy(policy: &[u8], pipelines: Option<&str>) -> Option<PrunerConfig> {
    let policy = std::str::from_utf8(policy).ok()?;
    match PrunerConfig::parse(BUCKET, pipelines, Some(policy)) {
        Ok(config) => Some(config),
        Err(err) => {
            let _ = err.to_string();
            None
        }
    }
}

/// Each rule as a run takes it: the pipelines whose artifacts it protects,
/// then the plan, and what every plan must hold.
fn run(config: &PrunerConfig, listing: &Listing) {
    if let Some(allowed) = &listing.allowed_prefixes {
        let _ = config
            .check_allowed(BUCKET, allowed)
            .map_err(|err| err.to_string());
    }
    for rule in &config.rules {
        let pipelines = protect::pipelines_under(
            &listing.account_pipelines,
            &rule.prefix,
            rule.pipeline.as_deref(),
        );
        if let Some(named) = &rule.pipeline {
            assert!(
                pipelines.contains(named),
                "{} does not protect its own pipeline",
                rule.label
            );
        }
        let plan = plan::plan(
            rule,
            listing.versions.clone(),
            &listing.protected,
            listing.now,
        );
        check(rule, listing, &plan);
    }
}

/// The plan's promises: nothing outside the prefix, nothing protected, nothing
/// younger than `keep_days` and none of the newest `keep_newest` artifacts of a
/// kind is deleted; every examined version is kept for one reason or deleted.
fn check(rule: &Rule, listing: &Listing, plan: &Plan) {
    let cutoff = listing.now - i64::from(rule.keep_days) * SECONDS_PER_DAY;
    let inside: Vec<&ObjectVersion> = listing
        .versions
        .iter()
        .filter(|v| v.key.starts_with(&rule.prefix))
        .collect();
    assert_eq!(plan.examined.objects, inside.len() as u64);
    let kept = plan.kept.protected.objects + plan.kept.newest.objects + plan.kept.young.objects;
    assert_eq!(
        plan.examined.objects,
        kept + plan.delete.len() as u64,
        "{plan:?}"
    );
    let kept_bytes = plan.kept.protected.bytes + plan.kept.newest.bytes + plan.kept.young.bytes;
    assert_eq!(plan.examined.bytes, kept_bytes + plan.delete_tally().bytes);

    // Live artifacts (latest and no delete marker) per kind, and how many of them go.
    let mut live: HashMap<&str, (usize, usize)> = HashMap::new();
    for version in inside.iter().filter(|v| v.is_latest && !v.delete_marker) {
        live.entry(kind(&rule.prefix, &version.key)).or_default().0 += 1;
    }
    for version in &plan.delete {
        assert!(
            version.key.starts_with(&rule.prefix),
            "{} is outside {}",
            version.key,
            rule.prefix
        );
        assert!(
            !listing.protected.contains(&*version.key),
            "{} is protected",
            version.key
        );
        assert!(
            version.last_modified <= cutoff,
            "{} is younger than {} days",
            version.key,
            rule.keep_days
        );
        if version.is_latest && !version.delete_marker {
            live.entry(kind(&rule.prefix, &version.key)).or_default().1 += 1;
        }
    }
    for (kind, (artifacts, deleted)) in live {
        assert!(
            artifacts - deleted >= artifacts.min(rule.keep_newest),
            "{kind}: {deleted} of {artifacts} live artifacts deleted, keep_newest {}",
            rule.keep_newest
        );
    }
}

/// The first folder under the prefix, as the plan groups artifacts.
fn kind<'a>(prefix: &str, key: &'a str) -> &'a str {
    key[prefix.len()..]
        .split_once('/')
        .map_or("", |(folder, _)| folder)
}

struct Listing {
    pipelines: Option<String>,
    now: i64,
    protected: HashSet<String>,
    account_pipelines: Vec<String>,
    allowed_prefixes: Option<String>,
    versions: Vec<ObjectVersion>,
}

impl Listing {
    fn parse(data: &[u8]) -> Option<Listing> {
        let listing: Value = serde_json::from_slice(data).ok()?;
        let listing = listing.as_object()?;
        let texts = |key: &str| -> Vec<String> {
            listing
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let mut versions = Vec::new();
        for (key, delete_marker) in [("Versions", false), ("DeleteMarkers", true)] {
            for version in listing
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(key) = version.get("Key").and_then(Value::as_str) else {
                    continue;
                };
                versions.push(ObjectVersion {
                    key: key.into(),
                    version_id: version
                        .get("VersionId")
                        .and_then(Value::as_str)
                        .map(Into::into),
                    is_latest: version
                        .get("IsLatest")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    delete_marker,
                    last_modified: time(version.get("LastModified")),
                    size: if delete_marker {
                        0
                    } else {
                        version
                            .get("Size")
                            .and_then(Value::as_u64)
                            .unwrap_or(0)
                            .min(LARGEST_OBJECT)
                    },
                });
            }
        }
        Some(Listing {
            pipelines: listing
                .get("pipelines")
                .and_then(Value::as_str)
                .map(str::to_owned),
            now: time(listing.get("now")),
            protected: texts("protected").into_iter().collect(),
            account_pipelines: texts("account_pipelines"),
            allowed_prefixes: listing
                .get("allowed_prefixes")
                .and_then(Value::as_str)
                .map(str::to_owned),
            versions: as_s3_lists(versions),
        })
    }
}

fn time(value: Option<&Value>) -> i64 {
    value
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .clamp(0, LATEST_TIME)
}

/// What S3 guarantees of a listing: each key has at most one latest version,
/// and a version id names one version of a key. Later duplicates are dropped.
fn as_s3_lists(versions: Vec<ObjectVersion>) -> Vec<ObjectVersion> {
    let mut latest = HashSet::new();
    let mut ids = HashSet::new();
    versions
        .into_iter()
        .filter(|v| !v.is_latest || latest.insert(v.key.clone()))
        .filter(|v| match &v.version_id {
            Some(id) => ids.insert((v.key.clone(), id.clone())),
            None => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_plan_and_delete_something() {
        let config = parse_policy(SAMPLE_POLICY.as_bytes(), None).unwrap();
        let listing = Listing::parse(SAMPLE_LISTING.as_bytes()).unwrap();
        run(&config, &listing);
        let deleted: usize = config
            .rules
            .iter()
            .map(|rule| {
                plan::plan(
                    rule,
                    listing.versions.clone(),
                    &listing.protected,
                    listing.now,
                )
                .delete
                .len()
            })
            .sum();
        assert!(deleted > 0, "the sample should exercise deletion");
        assert_eq!(
            pruner::config::pipeline_prefix("app-pipeline"),
            "app-pipeline/"
        );
    }
}
