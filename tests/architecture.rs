//! Dependencies point inward: the domain uses no runtime, framework, driver or crypto crate,
//! and no inner crate depends on an outer one.

use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

/// Crates the domain must not reach, directly or through another dependency.
const FORBIDDEN_IN_DOMAIN: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "poem",
    "poem-openapi",
    "axum",
    "actix-web",
    "hyper",
    "sea-orm",
    "sea-query",
    "sqlx",
    "diesel",
    "redis",
    "argon2",
    "josekit",
    "openssl",
    "ring",
    "aws-lc-rs",
    "rustls",
    "sha2",
    "hmac",
    "aes-gcm",
    "rand",
    "getrandom",
];

/// Normal (non-dev, non-build) dependencies of every package, by name.
fn dependency_graph() -> HashMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();

    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| (package["id"].as_str().unwrap(), package["name"].as_str().unwrap()))
        .collect();
    let mut graph = HashMap::new();
    for node in metadata["resolve"]["nodes"].as_array().unwrap() {
        let name = names[node["id"].as_str().unwrap()].to_owned();
        let normal: Vec<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|dependency| {
                dependency["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind["kind"].is_null())
            })
            .map(|dependency| names[dependency["pkg"].as_str().unwrap()].to_owned())
            .collect();
        graph.entry(name).or_insert_with(Vec::new).extend(normal);
    }
    graph
}

fn reachable(graph: &HashMap<String, Vec<String>>, root: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(name) = stack.pop() {
        for dependency in graph.get(&name).into_iter().flatten() {
            if seen.insert(dependency.clone()) {
                stack.push(dependency.clone());
            }
        }
    }
    seen
}

/// Lists every crate the domain is built with on its own. `cargo tree -p` resolves features for the
/// domain alone, so a feature another workspace member turns on (such as `uuid/v4` in the
/// tests) does not count against it.
fn domain_build_closure() -> HashSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "-p",
            "somnium-domain",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn domain_depends_on_no_infrastructure() {
    let closure = domain_build_closure();
    assert!(
        closure.contains("uuid"),
        "cargo tree output was not understood: {closure:?}"
    );
    let found: Vec<&&str> = FORBIDDEN_IN_DOMAIN
        .iter()
        .filter(|name| closure.contains(**name))
        .collect();
    assert!(found.is_empty(), "somnium-domain reaches {found:?}");
}

#[test]
fn dependencies_point_inward() {
    let graph = dependency_graph();
    let rules = [
        (
            "somnium-domain",
            &["somnium-application", "somnium-adapters", "somnium"][..],
        ),
        (
            "somnium-application",
            &[
                "somnium-adapters",
                "somnium",
                "poem",
                "sea-orm",
                "josekit",
                "argon2",
                "tokio",
            ][..],
        ),
        ("somnium-adapters", &["somnium"][..]),
    ];
    for (package, outer) in rules {
        let reached = reachable(&graph, package);
        for name in outer {
            assert!(!reached.contains(*name), "{package} depends on {name}");
        }
    }
}
