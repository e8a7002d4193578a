//! Invariant: `recon-domain` is pure. Its resolved dependency closure contains no async runtime,
//! database, HTTP or network crate, and its source neither opens files nor sockets (readers take
//! any `std::io::Read` from the caller). ARCHITECTURE.md states this; this test enforces it.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

/// Crates whose presence anywhere in the domain's dependency tree breaks the invariant.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "axum",
    "hyper",
    "tower",
    "tower-http",
    "reqwest",
    "redis",
    "deadpool-redis",
    "mio",
    "async-std",
    "smol",
    "tokio-util",
    "tracing-subscriber",
    "metrics-exporter-prometheus",
];

/// Source patterns that mean the domain does I/O itself.
const FORBIDDEN_SOURCE: &[&str] = &[
    "std::fs",
    "std::net",
    "File::open",
    "File::create",
    "TcpStream",
    "UdpSocket",
    "std::process",
    "std::env::var",
];

#[test]
fn the_domain_depends_on_no_io_crate_directly_or_transitively() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            manifest,
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata JSON");

    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes");
    let deps_of: HashMap<&str, Vec<&str>> = nodes
        .iter()
        .filter_map(|node| {
            let id = node["id"].as_str()?;
            // Only normal (non-dev, non-build) dependencies reach the library.
            let deps = node["deps"]
                .as_array()?
                .iter()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
                })
                .filter_map(|dep| dep["pkg"].as_str())
                .collect();
            Some((id, deps))
        })
        .collect();
    let root = names
        .iter()
        .find(|(_, name)| **name == "recon-domain")
        .map(|(id, _)| *id)
        .expect("recon-domain in metadata");

    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if seen.insert(id) {
            stack.extend(deps_of.get(id).into_iter().flatten().copied());
        }
    }
    let closure: BTreeSet<&str> = seen
        .iter()
        .filter_map(|id| names.get(id).copied())
        .collect();
    let offending: Vec<_> = closure
        .iter()
        .filter(|name| FORBIDDEN.contains(name))
        .collect();
    assert!(
        offending.is_empty(),
        "recon-domain must stay pure but depends on {offending:?} (closure: {closure:?})"
    );
}

#[test]
fn the_domain_source_opens_no_files_or_sockets() {
    let mut offences = Vec::new();
    visit(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut offences,
    );
    assert!(offences.is_empty(), "I/O in recon-domain: {offences:#?}");
}

fn visit(dir: &Path, offences: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit(&path, offences);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for pattern in FORBIDDEN_SOURCE {
                    if code.contains(pattern) {
                        offences.push(format!(
                            "{}:{}: {}",
                            path.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
}
