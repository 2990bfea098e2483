//! A build's test results in its check run: each report's totals and every
//! failed test case (suite, name, message) in the summary, and an annotation
//! where the raw JUnit XML places a failed test (`junit`) or its message names
//! a file and line. CodeBuild's test cases carry no location of their own, and
//! GitHub requires one on an annotation, so a failure placed by neither is
//! listed in the summary only.

use super::report::cell;
use super::snapshot::{FailedTest, TestReport};
use gantry_core::github::{Annotation, AnnotationLevel};

/// Failed cases listed in the summary: the rest are counted.
pub const MAX_LISTED_FAILURES: usize = 100;

/// The summary's section for `reports` and the annotations found in them.
pub fn section(reports: &[TestReport]) -> (String, Vec<Annotation>) {
    let mut text = String::new();
    let mut annotations = Vec::new();
    let mut listed = 0;
    for report in reports {
        let counts: Vec<String> = report
            .counts
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(status, count)| format!("{count} {}", status_word(status)))
            .collect();
        text.push_str(&format!(
            "\n### Tests: {}\n\n{} tests: {}.\n",
            cell(&report.name),
            report.total,
            if counts.is_empty() {
                "none ran".to_owned()
            } else {
                counts.join(", ")
            }
        ));
        if report.failed.is_empty() {
            continue;
        }
        text.push_str("\n| Suite | Test | Status | Message |\n|---|---|---|---|\n");
        for test in &report.failed {
            if listed == MAX_LISTED_FAILURES {
                break;
            }
            listed += 1;
            text.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                cell(test.suite.as_deref().unwrap_or("")),
                cell(&test.name),
                cell(&test.status),
                cell(&first_line(test.message.as_deref().unwrap_or(""), 200)),
            ));
            if let Some(annotation) = annotation(test) {
                annotations.push(annotation);
            }
        }
        if report.more_failed || listed == MAX_LISTED_FAILURES {
            text.push_str("\nMore failed tests are in the report in the CodeBuild console.\n");
        }
    }
    (text, annotations)
}

/// An annotation where the raw JUnit XML placed the test, or else at the
/// first `path:line` its message names.
fn annotation(test: &FailedTest) -> Option<Annotation> {
    let message = test.message.as_deref().filter(|m| !m.trim().is_empty());
    let (path, line) = test
        .location
        .clone()
        .or_else(|| message.and_then(location))?;
    let title = match &test.suite {
        Some(suite) => format!("{suite} / {}", test.name),
        None => test.name.clone(),
    };
    Some(Annotation {
        path,
        start_line: line,
        end_line: line,
        annotation_level: AnnotationLevel::Failure,
        message: message.map_or_else(
            || format!("{} {}", test.name, status_word(&test.status)),
            str::to_owned,
        ),
        title: Some(title),
    })
}

/// The first `path:line` in `text`: a relative path with a file extension,
/// then `:` and a line number (`src/lib.rs:42`, `tests/test_app.py:17:5`,
/// `(App.test.js:8)`). Absolute paths are the build machine's and are not
/// repository paths, so they are skipped.
pub fn location(text: &str) -> Option<(String, u32)> {
    text.split(|c: char| c.is_whitespace() || "()[]<>'\",;".contains(c))
        .find_map(|word| {
            let mut parts = word.split(':');
            let path = parts.next()?.trim_start_matches("./");
            let line: u32 = parts.next()?.parse().ok()?;
            let file = path.rsplit('/').next()?;
            let looks_like_file = file.rsplit_once('.').is_some_and(|(stem, ext)| {
                // An extension has a letter: `1.2:3` is a version, not a file.
                !stem.is_empty()
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
                    && ext.chars().any(|c| c.is_ascii_alphabetic())
            });
            (line > 0 && looks_like_file && !path.starts_with('/') && !path.contains("://"))
                .then(|| (path.to_owned(), line))
        })
}

/// CodeBuild's test statuses as a count reads them.
fn status_word(status: &str) -> String {
    match status {
        "SUCCEEDED" => "succeeded".into(),
        "FAILED" => "failed".into(),
        "ERROR" => "errored".into(),
        "SKIPPED" => "skipped".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn first_line(text: &str, max: usize) -> String {
    gantry_core::github::cut(text.lines().next().unwrap_or(""), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_found_where_test_runners_write_them() {
        let cases = [
            (
                "assertion failed at src/lib.rs:42:9",
                Some(("src/lib.rs", 42)),
            ),
            ("  File \"tests/test_app.py\", line 17", None),
            (
                "AssertionError (tests/test_app.py:17)",
                Some(("tests/test_app.py", 17)),
            ),
            (
                "at Object.<anonymous> (./src/App.test.js:8:5)",
                Some(("src/App.test.js", 8)),
            ),
            ("expected 1 got 2", None),
            ("/codebuild/output/src1/src/app/main.go:12", None),
            ("see https://example.com:443/x", None),
            ("version 1.2:3", None),
            ("line 0 is not a line: a.rs:0", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                location(text),
                expected.map(|(p, l)| (p.to_owned(), l)),
                "{text}"
            );
        }
    }

    fn report(failed: Vec<FailedTest>) -> TestReport {
        TestReport {
            name: "unit-tests".into(),
            total: 10,
            counts: vec![
                ("SUCCEEDED".into(), 8),
                ("FAILED".into(), 2),
                ("SKIPPED".into(), 0),
            ],
            failed,
            more_failed: false,
        }
    }

    #[test]
    fn totals_and_every_failed_case_are_listed_and_located_ones_annotated() {
        let failed = vec![
            FailedTest {
                suite: Some("app::tests".into()),
                name: "adds|numbers".into(),
                status: "FAILED".into(),
                message: Some("assertion failed at src/lib.rs:42:9\nleft: 1\nright: 2".into()),
                raw_data: None,
                location: None,
            },
            FailedTest {
                suite: None,
                name: "flaky".into(),
                status: "ERROR".into(),
                message: Some("timed out".into()),
                raw_data: None,
                location: None,
            },
        ];
        let (text, annotations) = section(&[report(failed)]);
        assert!(
            text.contains("### Tests: unit-tests\n\n10 tests: 8 succeeded, 2 failed.\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "| app::tests | adds\\|numbers | FAILED | assertion failed at src/lib.rs:42:9 |"
            ),
            "{text}"
        );
        assert!(text.contains("|  | flaky | ERROR | timed out |"), "{text}");
        assert_eq!(annotations.len(), 1);
        let annotation = &annotations[0];
        assert_eq!(
            (annotation.path.as_str(), annotation.start_line),
            ("src/lib.rs", 42)
        );
        assert_eq!(
            annotation.title.as_deref(),
            Some("app::tests / adds|numbers")
        );
        assert!(annotation.message.contains("right: 2"));
    }

    #[test]
    fn the_raw_reports_location_comes_before_the_messages() {
        let placed = |message: Option<&str>| FailedTest {
            suite: Some("tests.test_app".into()),
            name: "test_total".into(),
            status: "FAILED".into(),
            message: message.map(Into::into),
            raw_data: Some("s3://reports/app/junit.xml".into()),
            location: Some(("tests/test_app.py".into(), 17)),
        };
        let (_, annotations) = section(&[report(vec![
            placed(Some("helper failed at src/helper.py:3")),
            placed(None),
        ])]);
        assert_eq!(annotations.len(), 2);
        for annotation in &annotations {
            assert_eq!(
                (annotation.path.as_str(), annotation.start_line),
                ("tests/test_app.py", 17)
            );
        }
        assert_eq!(annotations[0].message, "helper failed at src/helper.py:3");
        assert_eq!(annotations[1].message, "test_total failed");
    }

    #[test]
    fn a_report_without_failures_is_its_totals() {
        let (text, annotations) = section(&[report(vec![])]);
        assert!(text.contains("10 tests: 8 succeeded, 2 failed."));
        assert!(!text.contains("| Suite |"));
        assert!(annotations.is_empty());
        assert_eq!(section(&[]).0, "");
    }
}
