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

/// The layers, top to bottom: a module may use its own layer's modules
/// (without a cycle) and those below, never one above.
const LAYERS: [&[&str]; 7] = [
    &["api", "worker", "drop_guard"],
    &["queue", "events"],
    &["pipeline"],
    &["orders", "customers", "leads", "exports"],
    &["stage"],
    &["services"],
    &["error", "gucs", "pg_compat"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules each module of src/ names as `crate::<module>`
/// (in `use` lines and in paths), comments left out; the tests and lib.rs,
/// which declares them all, are not modules of a layer.
fn module_uses() -> Vec<(String, String, PathBuf)> {
    let src = root().join("src");
    let mut uses = Vec::new();
    for (path, text) in files(&src, "rs") {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "tests" || module == "lib" {
            continue;
        }
        for line in text.lines().map(|l| l.split("//").next().unwrap_or("")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let used: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let used = if used.is_empty() {
                    // `use crate::{a, b}`: every name in the braces.
                    let inner = rest.trim_start_matches('{');
                    for name in
                        inner.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|n| !n.is_empty())
                    {
                        if layer_of(name).is_some() {
                            uses.push((module.clone(), name.to_string(), path.clone()));
                        }
                    }
                    continue;
                } else {
                    used
                };
                if used != module {
                    uses.push((module.clone(), used, path.clone()));
                }
            }
        }
    }
    uses
}

#[test]
fn no_module_uses_a_module_of_a_higher_layer() {
    let uses = module_uses();
    assert!(uses.len() > 30, "only {} uses found: the check lost its files", uses.len());
    for (module, used, path) in &uses {
        let from = layer_of(module).unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS"));
        let to =
            layer_of(used).unwrap_or_else(|| panic!("{} uses crate::{used}, which is in no layer", path.display()));
        assert!(from <= to, "{} ({module}) uses crate::{used}, a module of a higher layer", path.display());
    }
}

#[test]
fn modules_have_no_cycle() {
    let uses = module_uses();
    let modules: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let uses_of = |m: &str| -> Vec<String> {
        let mut out: Vec<String> = uses.iter().filter(|(from, _, _)| from == m).map(|(_, to, _)| to.clone()).collect();
        out.sort();
        out.dedup();
        out
    };
    // Depth-first from each module: reaching it again is a cycle.
    for start in &modules {
        let mut pending = uses_of(start);
        let mut seen: Vec<String> = Vec::new();
        while let Some(next) = pending.pop() {
            assert_ne!(next, *start, "modules form a cycle through {start}");
            if !seen.contains(&next) {
                pending.extend(uses_of(&next));
                seen.push(next);
            }
        }
    }
}

#[test]
fn the_api_calls_the_pipeline_not_its_stages() {
    for (module, used, path) in module_uses() {
        if module == "api" {
            assert!(
                !["orders", "customers", "leads", "stage"].contains(&used.as_str()),
                "{} reaches past the pipeline into crate::{used}",
                path.display()
            );
        }
    }
}

/// The statements that read raw lines select RAW_LINE_COLUMNS, in order,
/// and write_rejects.sql takes the text columns in that order.
#[test]
fn raw_lines_are_read_and_kept_with_the_one_column_list() {
    use crate::orders::transform::{RAW_LINE_COLUMNS, TEXT_COLUMNS};
    let selected: Vec<String> = RAW_LINE_COLUMNS.iter().map(|c| format!("r.{c}")).collect();
    for file in ["raw_lines.sql", "raw_lines_by_shop.sql", "rejected_lines.sql"] {
        let text = without_comments(&std::fs::read_to_string(root().join("sql/queries").join(file)).unwrap());
        let list = text.split("SELECT").nth(1).and_then(|s| s.split("FROM").next()).unwrap_or("");
        let columns: Vec<String> = list.split(',').map(|c| c.trim().to_string()).take(RAW_LINE_COLUMNS.len()).collect();
        assert_eq!(columns, selected, "{file} does not select RAW_LINE_COLUMNS in order");
    }
    let write = without_comments(&std::fs::read_to_string(root().join("sql/queries/write_rejects.sql")).unwrap());
    let alias = write.split("AS u(").nth(1).and_then(|s| s.split(')').next()).unwrap_or("");
    let names: Vec<&str> = alias.split(',').map(str::trim).skip(3).collect();
    assert_eq!(names, TEXT_COLUMNS, "write_rejects.sql takes the text columns in another order");
}
