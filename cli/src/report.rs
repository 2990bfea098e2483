//! What every subcommand prints: a list of findings, each a line a person
//! reads (with the fix when something is wrong), or JSON for machines.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Fail,
    /// Worth knowing, not wrong.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub verdict: Verdict,
    /// What was looked at: `route routes[0] (main): pipeline app`.
    pub subject: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Ok,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            verdict: Verdict::Fail,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn note(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Note,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl From<Finding> for Report {
    fn from(finding: Finding) -> Self {
        Report {
            findings: vec![finding],
        }
    }
}

impl Report {
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub fn failed(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .count()
    }

    /// One line per finding; a failure's fix on the line after it.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for finding in &self.findings {
            let mark = match finding.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Fail => "FAIL",
                Verdict::Note => "    ",
            };
            text.push_str(&format!("{mark} {}: {}\n", finding.subject, finding.detail));
            if let Some(fix) = &finding.fix {
                text.push_str(&format!("     fix: {fix}\n"));
            }
        }
        let failed = self.failed();
        if failed > 0 {
            text.push_str(&format!(
                "{failed} of {} checks failed\n",
                self.findings.len()
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_carry_their_fix() {
        let mut report = Report::default();
        report.push(Finding::ok("ledger", "table gantry-ledger is ACTIVE"));
        report.push(Finding::fail(
            "route routes[0]",
            "pipeline app does not exist",
            "create it or fix GANTRY_ROUTES",
        ));
        assert_eq!(report.failed(), 1);
        let text = report.to_text();
        assert!(
            text.contains("ok   ledger: table gantry-ledger is ACTIVE\n"),
            "{text}"
        );
        assert!(text.contains("FAIL route routes[0]: pipeline app does not exist\n     fix: create it or fix GANTRY_ROUTES\n"), "{text}");
        assert!(text.ends_with("1 of 2 checks failed\n"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["findings"][1]["verdict"], "fail");
        assert!(json["findings"][0].get("fix").is_none());
    }
}
