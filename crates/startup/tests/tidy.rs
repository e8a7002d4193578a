//! Tidy checks over the whole source tree, run as a test (rust-analyzer's idea): invariants of
//! ARCHITECTURE.md and STYLE that grep can check.
//!
//! - No actors and no `LocalSet`/`spawn_local`: the earlier backend crash-looped on exactly that.
//! - Every Rust source file starts with a `//!` doc saying what it is responsible for.
//! - No module is named `utils` or `helpers`.

use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "target" | "corpus" | "artifacts") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for top in ["crates", "xtask"] {
        rust_files(&Path::new(ROOT).join(top), &mut files);
    }
    assert!(
        files.len() > 40,
        "the tidy walk found too few files ({}); is ROOT right?",
        files.len()
    );
    files
}

#[test]
fn no_actor_runtime_or_local_set_anywhere() {
    let banned = ["spawn_local", "LocalSet", "actix"];
    let mut offences = Vec::new();
    for file in sources() {
        if file.ends_with("tidy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if banned.iter().any(|b| code.contains(b)) {
                offences.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! doc: {missing:#?}");
}

#[test]
fn no_grab_bag_modules() {
    let grab_bags: Vec<String> = sources()
        .into_iter()
        .filter(|file| {
            matches!(
                file.file_stem().and_then(|s| s.to_str()),
                Some("utils" | "helpers" | "util" | "misc")
            )
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(grab_bags.is_empty(), "{grab_bags:#?}");
}
