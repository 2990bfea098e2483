//! Where each test is, as a report's raw JUnit XML says: CodeBuild's test
//! cases carry no file or line, but the XML that CodeBuild read them from
//! often does (pytest writes `file` and `line` on each `<testcase>`;
//! jest-junit and others write `file`, on the case or on its `<testsuite>`).
//! A case placed only by its file is put at line 1, so GitHub can still show
//! the failure on the file.

use super::snapshot::FailedTest;

/// One `<testcase>` with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCase {
    /// The enclosing `<testsuite>`'s name.
    pub suite: Option<String>,
    pub classname: Option<String>,
    pub name: String,
    pub file: String,
    pub line: u32,
}

/// Every test case in `xml` that a repository file can be found for. The
/// XML is read as far as it is well formed: a report cut short still places
/// the cases before the cut. Absolute paths are the build machine's, not the
/// repository's, and are left out.
pub fn placed_cases(xml: &str) -> Vec<PlacedCase> {
    let mut placed = Vec::new();
    // The open `<testsuite>` elements' names and files, innermost last.
    let mut suites: Vec<(Option<String>, Option<String>)> = Vec::new();
    let mut element: Option<Element> = None;
    for token in xmlparser::Tokenizer::from(xml) {
        let Ok(token) = token else { break };
        match token {
            xmlparser::Token::ElementStart { local, .. } => {
                element = Some(Element {
                    local: local.as_str().to_owned(),
                    attributes: Vec::new(),
                });
            }
            xmlparser::Token::Attribute { local, value, .. } => {
                if let Some(element) = element.as_mut() {
                    element
                        .attributes
                        .push((local.as_str().to_owned(), unescape(value.as_str())));
                }
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open | xmlparser::ElementEnd::Empty => {
                    let Some(opened) = element.take() else {
                        continue;
                    };
                    let empty = matches!(end, xmlparser::ElementEnd::Empty);
                    match opened.local.as_str() {
                        "testsuite" if !empty => {
                            suites.push((opened.get("name"), opened.get("file")));
                        }
                        "testcase" => {
                            let suite_file = suites.iter().rev().find_map(|(_, f)| f.clone());
                            if let Some(case) = opened.placed(suites.last(), suite_file) {
                                placed.push(case);
                            }
                        }
                        _ => {}
                    }
                }
                xmlparser::ElementEnd::Close(_, local) => {
                    if local.as_str() == "testsuite" {
                        suites.pop();
                    }
                }
            },
            _ => {}
        }
    }
    placed
}

/// The location of `test` among `cases`: the case of the same name whose
/// suite or class is the test's suite (CodeBuild reports either).
pub fn location_of(test: &FailedTest, cases: &[PlacedCase]) -> Option<(String, u32)> {
    cases
        .iter()
        .find(|case| {
            case.name == test.name
                && test.suite.as_ref().is_none_or(|suite| {
                    case.suite.as_ref() == Some(suite) || case.classname.as_ref() == Some(suite)
                })
        })
        .map(|case| (case.file.clone(), case.line))
}

struct Element {
    local: String,
    attributes: Vec<(String, String)>,
}

impl Element {
    fn get(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn placed(
        &self,
        suite: Option<&(Option<String>, Option<String>)>,
        suite_file: Option<String>,
    ) -> Option<PlacedCase> {
        let name = self.get("name")?;
        let file = self.get("file").or(suite_file)?;
        let file = file.trim_start_matches("./").to_owned();
        if file.is_empty() || file.starts_with('/') || file.contains(':') {
            return None;
        }
        let line = self
            .get("line")
            .and_then(|line| line.trim().parse::<u32>().ok())
            .filter(|line| *line > 0)
            .unwrap_or(1);
        Some(PlacedCase {
            suite: suite.and_then(|(name, _)| name.clone()),
            classname: self.get("classname"),
            name,
            file,
            line,
        })
    }
}

/// An attribute's value with XML's five entities and character references
/// replaced; an unknown reference is kept as written.
fn unescape(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let replaced = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match replaced {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // As pytest writes it (`--junitxml`, junit_family=xunit1, its default
    // before pytest 6 and still common).
    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" tests="2">
<testcase classname="tests.test_app" name="test_ok" file="tests/test_app.py" line="3" time="0.001"/>
<testcase classname="tests.test_app" name="test_total" file="tests/test_app.py" line="17" time="0.002"><failure message="assert 3 == 4">tests/test_app.py:18: AssertionError</failure></testcase>
</testsuite></testsuites>"#;

    // As jest-junit writes it with `addFileAttribute`: the file on the case.
    const JEST: &str = r#"<testsuites name="jest tests"><testsuite name="App &amp; friends" tests="1" file="/codebuild/output/src1/src/App.test.js">
<testcase classname="App renders" name="App renders the title" file="src/App.test.js" time="0.01"><failure>Error: expected</failure></testcase>
<testcase classname="App" name="abs" time="0.01"></testcase>
</testsuite></testsuites>"#;

    fn failed(suite: Option<&str>, name: &str) -> FailedTest {
        FailedTest {
            suite: suite.map(Into::into),
            name: name.into(),
            status: "FAILED".into(),
            message: None,
            raw_data: None,
            location: None,
        }
    }

    #[test]
    fn pytest_cases_are_placed_at_their_file_and_line() {
        let cases = placed_cases(PYTEST);
        assert_eq!(cases.len(), 2);
        assert_eq!(
            cases[1],
            PlacedCase {
                suite: Some("pytest".into()),
                classname: Some("tests.test_app".into()),
                name: "test_total".into(),
                file: "tests/test_app.py".into(),
                line: 17,
            }
        );
        let by_class = failed(Some("tests.test_app"), "test_total");
        assert_eq!(
            location_of(&by_class, &cases),
            Some(("tests/test_app.py".into(), 17))
        );
        let by_suite = failed(Some("pytest"), "test_total");
        assert_eq!(
            location_of(&by_suite, &cases),
            Some(("tests/test_app.py".into(), 17))
        );
        assert_eq!(
            location_of(&failed(Some("other"), "test_total"), &cases),
            None
        );
        assert_eq!(location_of(&failed(None, "test_missing"), &cases), None);
    }

    #[test]
    fn a_case_without_a_line_is_put_at_line_one_and_absolute_files_are_left_out() {
        let cases = placed_cases(JEST);
        assert_eq!(cases.len(), 1, "{cases:?}");
        assert_eq!(cases[0].suite.as_deref(), Some("App & friends"));
        assert_eq!(
            (cases[0].file.as_str(), cases[0].line),
            ("src/App.test.js", 1)
        );
    }

    #[test]
    fn a_report_cut_short_still_places_what_came_before() {
        let cut = &PYTEST[..PYTEST
            .find("<testcase classname=\"tests.test_app\" name=\"test_total\"")
            .unwrap()
            + 40];
        let cases = placed_cases(cut);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].name, "test_ok");
        assert!(placed_cases("not xml at all <<<").is_empty());
        assert!(placed_cases("").is_empty());
    }

    #[test]
    fn entities_are_replaced() {
        assert_eq!(
            unescape("a &lt;b&gt; &amp; &quot;c&quot; &#65;&#x42; &bogus; &"),
            "a <b> & \"c\" AB &bogus; &"
        );
    }
}
