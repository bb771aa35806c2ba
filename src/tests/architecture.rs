//! Checks of the code's shape, without a database: the statements of
//! sql/queries and the layers of the modules.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of `dir` (recursively) whose name ends with `ext`, with its text.
fn files(dir: &Path, ext: &str) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                let text = std::fs::read_to_string(&path).unwrap();
                found.push((path, text));
            }
        }
    }
    found.sort();
    found
}

fn queries() -> Vec<(PathBuf, String)> {
    files(&root().join("sql/queries"), "sql")
}

#[test]
fn every_statement_file_starts_with_its_rules() {
    for (path, text) in queries() {
        assert!(text.starts_with("-- "), "{} does not start with a comment", path.display());
        let header: String = text.lines().take_while(|l| l.starts_with("--")).collect::<Vec<_>>().join("\n");
        assert!(header.contains("Rules it enforces"), "{} names no rules in its header", path.display());
    }
}

/// `text` without its `--` comments (none of the statements has `--`
/// inside a string literal).
fn without_comments(text: &str) -> String {
    text.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Whether `word` occurs in `line` at `at` as a whole identifier.
fn is_word_at(line: &str, at: usize, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line[at..].starts_with(word)
        && !line[..at].chars().next_back().is_some_and(ident)
        && !line[at + word.len()..].chars().next().is_some_and(ident)
}

/// The quoted literals of `text`.
fn literals(text: &str) -> Vec<String> {
    text.split('\'').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The statements of the queue compare and set `etl.jobs.state` with
/// literals where a parameter would change their plans (the claim's
/// `state IN (...)` must match the partial index etl.jobs_ready_idx): every
/// literal that follows a `state` column on its line must be a JobState
/// name, so that the states stay JobState's.
#[test]
fn every_job_state_literal_is_a_job_state() {
    use crate::queue::jobs::JobState;
    let mut checked = 0;
    for (path, text) in queries() {
        for line in without_comments(&text).lines() {
            let Some(at) = (0..line.len()).find(|&at| line.is_char_boundary(at) && is_word_at(line, at, "state"))
            else {
                continue;
            };
            for literal in literals(&line[at..]) {
                assert!(
                    JobState::from_name(&literal).is_some(),
                    "{}: '{literal}' beside a state is not a JobState name: {line}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} state literals found: the check lost its statements");
}
