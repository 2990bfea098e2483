//! The pure decision: every listed version of one rule's prefix, the keys that
//! must survive, and the clock in; what to delete, and why the rest is kept, out.
//!
//! An artifact is a key whose current version is an object (not a delete marker).
//! Artifacts are grouped by the folder under the prefix (CodePipeline's
//! `<pipeline>/<artifact name>/<id>`), so the newest N of each kind survive.

use crate::config::Rule;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

pub const SECONDS_PER_DAY: i64 = 86_400;

/// One version of one key, as `ListObjectVersions` reports it. Unversioned
/// buckets report one version per key, with the version id "null". The
/// strings are boxed, not `String`s: a listing of a million versions is held
/// at once, and a `String`'s spare capacity field is 16 MB of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: Box<str>,
    pub version_id: Option<Box<str>>,
    pub is_latest: bool,
    pub delete_marker: bool,
    /// Seconds since the Unix epoch.
    pub last_modified: i64,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub objects: u64,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, version: &ObjectVersion) {
        self.objects += 1;
        self.bytes += version.size;
    }
    pub fn merge(&mut self, other: Tally) {
        self.objects += other.objects;
        self.bytes += other.bytes;
    }
}

/// Why a version survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// Produced or used by a running or the last successful execution.
    pub protected: Tally,
    /// Among the newest `keep_newest` artifacts of its kind.
    pub newest: Tally,
    /// Younger than `keep_days`.
    pub young: Tally,
}

impl Kept {
    pub fn merge(&mut self, other: Kept) {
        self.protected.merge(other.protected);
        self.newest.merge(other.newest);
        self.young.merge(other.young);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub examined: Tally,
    pub kept: Kept,
    pub delete: Vec<ObjectVersion>,
}

impl Plan {
    pub fn delete_tally(&self) -> Tally {
        let mut tally = Tally::default();
        self.delete.iter().for_each(|v| tally.add(v));
        tally
    }
}

/// Decides the fate of every version. Versions outside the rule's prefix are
/// never in the plan at all: not examined, not deleted.
pub fn plan(
    rule: &Rule,
    versions: Vec<ObjectVersion>,
    protected: &HashSet<String>,
    now: i64,
) -> Plan {
    let cutoff = now - i64::from(rule.keep_days) * SECONDS_PER_DAY;
    let versions: Vec<ObjectVersion> = versions
        .into_iter()
        .filter(|v| v.key.starts_with(&rule.prefix))
        .collect();

    let mut plan = Plan::default();
    // What each version comes to, decided while the listing is borrowed; then
    // the versions to delete are moved out of it, not copied: the plan of a
    // large prefix must not hold its listing twice.
    let doomed: Vec<bool> = {
        // The newest `keep_newest` live artifacts of each kind.
        let mut by_group: HashMap<&str, Vec<(&str, i64)>> = HashMap::new();
        for version in versions.iter().filter(|v| v.is_latest && !v.delete_marker) {
            by_group
                .entry(group(&rule.prefix, &version.key))
                .or_default()
                .push((&*version.key, version.last_modified));
        }
        let mut newest: HashSet<&str> = HashSet::new();
        for artifacts in by_group.values_mut() {
            artifacts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            newest.extend(artifacts.iter().take(rule.keep_newest).map(|(key, _)| *key));
        }
        drop(by_group);

        let superseded = superseded_at(&versions);
        versions
            .iter()
            .zip(superseded)
            .map(|(version, superseded)| {
                plan.examined.add(version);
                // A noncurrent version ages from when a newer one replaced it, as S3's own
                // NoncurrentDays does: an overwritten or deleted artifact stays
                // recoverable for keep_days after the overwrite, however old it was.
                let age_from = superseded.unwrap_or(version.last_modified);
                if protected.contains(&*version.key) {
                    plan.kept.protected.add(version);
                } else if version.is_latest
                    && !version.delete_marker
                    && newest.contains(&*version.key)
                {
                    plan.kept.newest.add(version);
                } else if age_from > cutoff {
                    plan.kept.young.add(version);
                } else {
                    return true;
                }
                false
            })
            .collect()
    };
    // In place: the listing's own buffer becomes the plan's.
    let mut doomed = doomed.into_iter();
    let mut versions = versions;
    versions.retain(|_| doomed.next().unwrap_or(false));
    plan.delete = versions;
    plan
}

/// For each noncurrent version, when the next newer version of its key was
/// written; `None` for latest versions and in unversioned buckets. Only keys
/// with a noncurrent version are grouped, so an unversioned listing costs nothing.
fn superseded_at(versions: &[ObjectVersion]) -> Vec<Option<i64>> {
    let mut superseded = vec![None; versions.len()];
    let mut times: HashMap<&str, Vec<i64>> = HashMap::new();
    for version in versions.iter().filter(|v| !v.is_latest) {
        times.entry(&*version.key).or_default();
    }
    if times.is_empty() {
        return superseded;
    }
    for version in versions {
        if let Some(key_times) = times.get_mut(&*version.key) {
            key_times.push(version.last_modified);
        }
    }
    for (index, version) in versions.iter().enumerate() {
        if version.is_latest {
            continue;
        }
        superseded[index] = times[&*version.key]
            .iter()
            .copied()
            .filter(|&t| t > version.last_modified)
            .min();
    }
    superseded
}

/// A realistic history for benchmarks: `objects` versions of one pipeline's
/// artifacts (four kinds, one a day apart in time, every tenth overwritten once
/// in a versioned bucket), with the rule that prunes it.
pub fn synthetic_history(objects: usize) -> (Rule, Vec<ObjectVersion>, i64) {
    let now = 1_700_000_000;
    let rule = Rule {
        label: "rules[0] (app-pipeline)".into(),
        bucket: "artifacts".into(),
        prefix: "app-pipeline/".into(),
        pipeline: Some("app-pipeline".into()),
        keep_newest: 10,
        keep_days: 14,
    };
    let kinds = ["SourceArti", "BuildArtif", "TestOutput", "DeployArti"];
    let versions = (0..objects)
        .map(|i| {
            let execution = i / kinds.len();
            let overwritten = i % 10 == 9;
            ObjectVersion {
                key: format!(
                    "app-pipeline/{}/{:07x}",
                    kinds[i % kinds.len()],
                    if overwritten {
                        execution - 1
                    } else {
                        execution
                    }
                )
                .into(),
                // As long as S3's own version ids (32 characters).
                version_id: Some(format!("{i:032}").into()),
                is_latest: !overwritten,
                delete_marker: false,
                last_modified: now - (objects - i) as i64 * 60,
                size: 4096 + (i as u64 % 1000),
            }
        })
        .collect();
    (rule, versions, now)
}

/// The first folder under the prefix: `<pipeline>/SourceArti/abc` -> `SourceArti`.
fn group<'a>(prefix: &str, key: &'a str) -> &'a str {
    let rest = &key[prefix.len().min(key.len())..];
    rest.split_once('/').map_or("", |(folder, _)| folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000;

    fn rule(keep_newest: usize, keep_days: u32) -> Rule {
        Rule {
            label: "rules[0]".into(),
            bucket: "artifacts".into(),
            prefix: "app-pipeline/".into(),
            pipeline: Some("app-pipeline".into()),
            keep_newest,
            keep_days,
        }
    }

    fn object(key: &str, days_old: i64) -> ObjectVersion {
        ObjectVersion {
            key: key.into(),
            version_id: None,
            is_latest: true,
            delete_marker: false,
            last_modified: NOW - days_old * SECONDS_PER_DAY - 1,
            size: 100,
        }
    }

    fn deleted_keys(plan: &Plan) -> Vec<String> {
        let mut keys: Vec<String> = plan.delete.iter().map(|v| v.key.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn keeps_newest_per_kind_young_and_protected_and_deletes_the_rest() {
        let versions = vec![
            object("app-pipeline/SourceArti/a", 30),
            object("app-pipeline/SourceArti/b", 20),
            object("app-pipeline/SourceArti/c", 10),
            object("app-pipeline/BuildArtif/x", 40),
            object("app-pipeline/BuildArtif/y", 2),
            object("other-pipeline/SourceArti/z", 90),
        ];
        let protected = HashSet::from(["app-pipeline/SourceArti/a".to_owned()]);
        let plan = plan(&rule(1, 7), versions, &protected, NOW);
        assert_eq!(
            deleted_keys(&plan),
            ["app-pipeline/BuildArtif/x", "app-pipeline/SourceArti/b"]
        );
        assert_eq!(
            plan.examined,
            Tally {
                objects: 5,
                bytes: 500
            },
            "other prefixes are not even examined"
        );
        assert_eq!(plan.kept.protected.objects, 1);
        assert_eq!(
            plan.kept.newest.objects, 2,
            "c and y are the newest of their kinds"
        );
        assert_eq!(plan.kept.young.objects, 0);
    }

    #[test]
    fn versioned_buckets_lose_old_noncurrent_versions_and_delete_markers() {
        let version = |key: &str, id: &str, latest: bool, marker: bool, days: i64| ObjectVersion {
            version_id: Some(id.into()),
            is_latest: latest,
            delete_marker: marker,
            ..object(key, days)
        };
        let versions = vec![
            version("app-pipeline/SourceArti/a", "2", true, false, 30),
            version("app-pipeline/SourceArti/a", "1", false, false, 31),
            version("app-pipeline/SourceArti/gone", "3", true, true, 20),
            version("app-pipeline/SourceArti/gone", "2", false, false, 21),
            version("app-pipeline/SourceArti/recent", "9", true, true, 1),
            version("app-pipeline/SourceArti/recent", "8", false, false, 12),
        ];
        let plan = plan(&rule(1, 7), versions, &HashSet::new(), NOW);
        let deleted: Vec<(String, String)> = plan
            .delete
            .iter()
            .map(|v| {
                (
                    v.key.to_string(),
                    v.version_id.as_deref().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            deleted,
            [
                ("app-pipeline/SourceArti/a".into(), "1".into()),
                ("app-pipeline/SourceArti/gone".into(), "3".into()),
                ("app-pipeline/SourceArti/gone".into(), "2".into()),
            ]
        );
        assert_eq!(plan.kept.newest.objects, 1);
        assert_eq!(
            plan.kept.young.objects, 2,
            "the recent delete marker, and the version it deleted a day ago"
        );
    }

    #[test]
    fn a_noncurrent_version_ages_from_when_it_was_replaced() {
        let version = |id: &str, latest: bool, days: i64| ObjectVersion {
            version_id: Some(id.into()),
            is_latest: latest,
            ..object("app-pipeline/SourceArti/a", days)
        };
        // Written 90 days ago, overwritten 2 days ago: recoverable for 7 days.
        let versions = vec![version("2", true, 2), version("1", false, 90)];
        let plan = plan(&rule(1, 7), versions.clone(), &HashSet::new(), NOW);
        assert!(plan.delete.is_empty(), "{:?}", plan.delete);
        assert_eq!(plan.kept.young.objects, 1);
        // Ten days after the overwrite it may go.
        let plan = plan_at(&versions, NOW + 8 * SECONDS_PER_DAY);
        assert_eq!(plan.delete.len(), 1);
        assert_eq!(plan.delete[0].version_id.as_deref(), Some("1"));
    }

    fn plan_at(versions: &[ObjectVersion], now: i64) -> Plan {
        plan(&rule(1, 7), versions.to_vec(), &HashSet::new(), now)
    }

    fn history() -> impl Strategy<Value = (Vec<ObjectVersion>, HashSet<String>, usize, u32)> {
        let version = (
            0..40u32,
            0..3u32,
            0..4u32,
            any::<bool>(),
            0..60i64,
            0..5000u64,
        );
        (
            proptest::collection::vec(version, 0..200),
            1..5usize,
            1..30u32,
            proptest::collection::vec(0..40u32, 0..8),
        )
            .prop_map(|(raw, keep_newest, keep_days, protected)| {
                let mut versions: Vec<ObjectVersion> = Vec::new();
                for (key, group, version, marker, days, size) in raw {
                    let prefix = if key % 10 == 0 {
                        "elsewhere/"
                    } else {
                        "app-pipeline/"
                    };
                    let key = format!("{prefix}G{group}/k{key}");
                    let latest = !versions.iter().any(|v| *v.key == *key && v.is_latest);
                    versions.push(ObjectVersion {
                        key: key.into(),
                        version_id: Some(format!("v{version}-{}", versions.len()).into()),
                        is_latest: latest,
                        delete_marker: marker,
                        last_modified: NOW - days * SECONDS_PER_DAY - i64::from(version),
                        size,
                    });
                }
                let protected = protected
                    .into_iter()
                    .map(|k| format!("app-pipeline/G{}/k{k}", k % 3))
                    .collect();
                (versions, protected, keep_newest, keep_days)
            })
    }

    proptest! {
        #[test]
        fn the_plan_never_deletes_what_the_policy_keeps((versions, protected, keep_newest, keep_days) in history()) {
            let rule = rule(keep_newest, keep_days);
            let plan = plan(&rule, versions.clone(), &protected, NOW);
            let cutoff = NOW - i64::from(keep_days) * SECONDS_PER_DAY;

            // A noncurrent version is young while the version that replaced it is.
            let replaced_at = |v: &ObjectVersion| {
                versions
                    .iter()
                    .filter(|w| !v.is_latest && w.key == v.key && w.last_modified > v.last_modified)
                    .map(|w| w.last_modified)
                    .min()
            };
            let young = |v: &ObjectVersion| {
                v.last_modified > cutoff || replaced_at(v).is_some_and(|t| t > cutoff)
            };
            for deleted in &plan.delete {
                prop_assert!(deleted.key.starts_with(&rule.prefix), "outside the prefix: {}", deleted.key);
                prop_assert!(!protected.contains(&*deleted.key), "protected: {}", deleted.key);
                prop_assert!(!young(deleted), "too young: {:?}", deleted);
            }
            // The newest `keep_newest` live artifacts of each kind survive.
            let mut groups: HashMap<String, Vec<&ObjectVersion>> = HashMap::new();
            for v in versions.iter().filter(|v| v.key.starts_with(&rule.prefix) && v.is_latest && !v.delete_marker) {
                groups.entry(group(&rule.prefix, &v.key).to_owned()).or_default().push(v);
            }
            for artifacts in groups.values_mut() {
                artifacts.sort_by(|a, b| b.last_modified.cmp(&a.last_modified).then_with(|| a.key.cmp(&b.key)));
                for survivor in artifacts.iter().take(keep_newest) {
                    prop_assert!(!plan.delete.contains(survivor), "newest deleted: {:?}", survivor);
                }
            }
            // Every examined version is either kept for a reason or deleted, and
            // nothing the policy lets go is kept.
            let in_prefix: Vec<&ObjectVersion> = versions.iter().filter(|v| v.key.starts_with(&rule.prefix)).collect();
            let kept = plan.kept.protected.objects + plan.kept.newest.objects + plan.kept.young.objects;
            prop_assert_eq!(kept + plan.delete.len() as u64, in_prefix.len() as u64);
            prop_assert_eq!(plan.examined.objects, in_prefix.len() as u64);
            let expected_deletions = in_prefix.iter().filter(|v| {
                let newest = v.is_latest && !v.delete_marker && groups
                    .get(group(&rule.prefix, &v.key))
                    .is_some_and(|g| g.iter().take(keep_newest).any(|s| std::ptr::eq(*s, **v)));
                !protected.contains(&*v.key) && !newest && !young(v)
            }).count();
            prop_assert_eq!(plan.delete.len(), expected_deletions);
        }
    }
}
