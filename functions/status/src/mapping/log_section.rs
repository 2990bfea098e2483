//! The last lines of a failed build's log, as its check run's text. Opt-in
//! per pipeline or project (`log_lines` in `GANTRY_STATUS_CONFIG`): check
//! output is public on a public repository, and a build's log can show what
//! a reviewer should not see. CodeBuild masks the secrets a buildspec reads
//! from Secrets Manager and Parameter Store; nothing else is masked.

use gantry_core::github::{cut, MAX_OUTPUT_BYTES};

pub use gantry_core::status_config::MAX_LOG_LINES;
/// A single line is cut here, so one long line cannot push out the rest.
const MAX_LINE_BYTES: usize = 1_000;

/// Markdown for `lines` (oldest first) of build `build_id`'s log: as many of
/// the last lines as fit GitHub's limit, colour codes removed, in a code
/// fence that no line can close.
pub fn text(build_id: &str, lines: &[String]) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|line| {
            cut(
                &without_escapes(line.trim_end_matches(['\r', '\n'])),
                MAX_LINE_BYTES,
            )
        })
        .collect();
    // CommonMark: a fence is closed only by a run of backticks at least as long.
    let longest_run = lines.iter().map(|line| longest_backtick_run(line)).max();
    let fence = "`".repeat(longest_run.unwrap_or(0).max(2) + 1);
    let heading = |shown: usize| {
        format!(
            "### Build log\n\nThe last {shown} lines of build `{}`:\n\n{fence}text\n",
            build_id.replace('`', "'")
        )
    };
    let closing = format!("{fence}\n");
    // Keep the newest lines: drop from the front until the whole fits.
    let mut budget = MAX_OUTPUT_BYTES - heading(lines.len()).len() - closing.len();
    let mut first = lines.len();
    while first > 0 && lines[first - 1].len() < budget {
        budget -= lines[first - 1].len() + 1;
        first -= 1;
    }
    let shown = &lines[first..];
    let mut text = heading(shown.len());
    for line in shown {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&closing);
    text
}

/// `line` without ANSI escape sequences (`ESC [ ... letter`), which build
/// tools print for colour and GitHub would show as noise.
fn without_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.clone().next() == Some('[') {
            chars.next();
            // Parameters and intermediates, up to the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() || c == '~' {
                    break;
                }
            }
        }
    }
    out
}

fn longest_backtick_run(line: &str) -> usize {
    line.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_last_lines_are_shown_in_a_fence_without_colours() {
        let text = text(
            "app:1",
            &lines(&[
                "Running tests\n",
                "\u{1b}[31merror\u{1b}[0m: 1 failed",
                "done",
            ]),
        );
        assert_eq!(
            text,
            "### Build log\n\nThe last 3 lines of build `app:1`:\n\n```text\nRunning tests\nerror: 1 failed\ndone\n```\n"
        );
    }

    #[test]
    fn no_line_can_close_the_fence() {
        let text = text("app:1", &lines(&["```", "echo ````x"]));
        assert!(text.contains("\n`````text\n"), "{text}");
        assert!(text.ends_with("\n`````\n"), "{text}");
    }

    #[test]
    fn the_newest_lines_are_kept_within_githubs_limit() {
        let many: Vec<String> = (0..200)
            .map(|i| format!("{i:04} {}", "x".repeat(2_000)))
            .collect();
        let text = text("app:1", &many);
        assert!(text.len() <= MAX_OUTPUT_BYTES, "{}", text.len());
        // Each line is cut to 1,000 bytes, so about 65 of them fit.
        assert!(text.contains("0199 x"), "the last line is kept");
        assert!(!text.contains("0100 x"), "older lines are dropped");
        let shown = text.lines().filter(|l| l.starts_with('0')).count();
        assert!(
            text.contains(&format!("The last {shown} lines")),
            "the heading counts what is shown"
        );
    }

    #[test]
    fn an_unfinished_escape_is_dropped_with_the_rest_of_its_line() {
        assert_eq!(without_escapes("ok \u{1b}[1;3"), "ok ");
        assert_eq!(without_escapes("a\u{1b}b"), "ab");
    }
}
