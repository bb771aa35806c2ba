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
