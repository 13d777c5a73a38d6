//! The deployment files in `infra/`: they parse, keep their security settings, and name only
//! environment variables that the configuration reads, with `.env.example` naming all of them.
//!
//! These tests read files only. Nothing here builds an image or talks to Docker or Kubernetes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;
use somnium_domain::Role;

/// Rust sources whose string literals name the variables the configuration reads. The second
/// one is optional.
const CONFIG_SOURCE: &str = "bootstrap/src/config.rs";
const TELEMETRY_SOURCE: &str = "bootstrap/src/telemetry.rs";

const ENV_EXAMPLE: &str = "infra/.env.example";
const COMPOSE: &str = "infra/docker-compose.yml";
const DOCKERFILE: &str = "infra/Dockerfile";
const DOCKERIGNORE: &str = "infra/Dockerfile.dockerignore";
const K8S_DIR: &str = "infra/k8s";

/// The uid and gid the image creates and every manifest runs as.
const APP_UID: i64 = 10001;
/// Variables whose values are credentials or keys: they belong in `.env` or a Secret, never inline.
const SECRET_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "SOMNIUM_SIGNING_KEY",
    "SOMNIUM_DATA_KEYS",
    "SOMNIUM_BLIND_INDEX_KEY",
];
/// Variables naming key files that every production deployment must mount from a secret.
const REQUIRED_KEY_FILES: &[&str] = &["SOMNIUM_DATA_KEYS_FILE", "SOMNIUM_BLIND_INDEX_KEY_FILE"];
/// A key file a deployment may leave out, because the first signing key is then generated and
/// stored in the database. When it is set, it must come from a secret too.
const OPTIONAL_KEY_FILES: &[&str] = &["SOMNIUM_SIGNING_KEY_FILE"];
/// The default of `SOMNIUM_SHUTDOWN_GRACE_SECONDS`, used where a file leaves it unset.
/// NOTE: this copies the default in config.rs, so change both together.
const DEFAULT_SHUTDOWN_GRACE_SECONDS: i64 = 30;

// ---- Files ----

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_file(relative: &str) -> String {
    let path = repository_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{relative}: could not read: {error}"))
}

/// Parses every YAML document of a file, skipping empty ones.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read_file(relative);
    serde_yaml::Deserializer::from_str(&text)
        .enumerate()
        .map(|(index, document)| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{relative}: document {} is not valid YAML: {error}", index + 1))
        })
        .filter(|document| !document.is_null())
        .collect()
}

// ---- Scanning the configuration for variable names ----

fn continues_identifier(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

/// Returns the contents of every string literal in Rust source: plain, byte and raw strings, with
/// escapes left as written. Comments and character literals are skipped, so a `'"'` does not
/// open a string.
fn string_literals(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let at = |index: usize| chars.get(index).copied();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let current = chars[i];
        let next = at(i + 1);

        if current == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if current == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 1;
            i += 2;
            while i < chars.len() && depth > 0 {
                if chars[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else if current == 'r' && starts_raw_string(&chars, i) {
            let mut hashes = 0;
            let mut j = i + 1;
            while at(j) == Some('#') {
                hashes += 1;
                j += 1;
            }
            let start = j + 1;
            let mut end = start;
            while end < chars.len() && !(chars[end] == '"' && (1..=hashes).all(|k| at(end + k) == Some('#'))) {
                end += 1;
            }
            literals.push(chars[start..end.min(chars.len())].iter().collect());
            i = end + 1 + hashes;
        } else if current == '"' {
            let mut text = String::new();
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    text.push('\\');
                    j += 1;
                }
                if let Some(character) = at(j) {
                    text.push(character);
                }
                j += 1;
            }
            literals.push(text);
            i = j + 1;
        } else if current == '\'' {
            // A character literal ('x', '\n', '"') is skipped whole. A lifetime ('static) has no
            // closing quote, so only its quote is skipped.
            if next == Some('\\') {
                // Skip the backslash and the escaped character, then find the closing quote.
                let mut j = i + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == Some('\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    literals
}

/// Tells whether the `r` at `index` opens a raw string (`r"…"`, `r#"…"#`, `br"…"`) rather than
/// ending an identifier or starting a raw identifier (`r#type`).
fn starts_raw_string(chars: &[char], index: usize) -> bool {
    let previous = index.checked_sub(1).map(|i| chars[i]);
    let before_previous = index.checked_sub(2).map(|i| chars[i]);
    let byte_prefix = previous == Some('b') && !before_previous.is_some_and(continues_identifier);
    if previous.is_some_and(continues_identifier) && !byte_prefix {
        return false;
    }
    let mut j = index + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// Tells whether a whole word is a name the configuration could read: `SOMNIUM_*`, `OTEL_*`,
/// `DATABASE_URL`, `REDIS_URL` or `RUST_LOG`.
fn is_variable_name(word: &str) -> bool {
    if let Some(rest) = word.strip_prefix("SOMNIUM_") {
        return !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    }
    if let Some(rest) = word.strip_prefix("OTEL_") {
        return !rest.is_empty() && rest.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    }
    matches!(word, "DATABASE_URL" | "REDIS_URL" | "RUST_LOG")
}

/// Maps a per-role name (`SOMNIUM_SESSION_IDLE_SECONDS_ADMIN`) to its base name
/// (`SOMNIUM_SESSION_IDLE_SECONDS`). Other names are returned unchanged.
fn base_name(name: &str) -> &str {
    for role in Role::ALL {
        let base = name.strip_suffix(role.as_str()).and_then(|rest| rest.strip_suffix('_'));
        if let Some(base) = base.filter(|base| is_variable_name(base)) {
            return base;
        }
    }
    name
}

/// Collects the base names of the variables named in string literals of the given sources, each
/// with the first source that names it. A name ending in `_` is a prefix that code completes
/// with a role suffix, so it is left out.
fn variables_in_sources<'a>(sources: &[(&'a str, &str)]) -> BTreeMap<String, &'a str> {
    let mut variables = BTreeMap::new();
    for (path, source) in sources {
        for literal in string_literals(source) {
            let words = literal.split(|c: char| !continues_identifier(c));
            for word in words.filter(|word| is_variable_name(word) && !word.ends_with('_')) {
                variables.entry(base_name(word).to_owned()).or_insert(*path);
            }
        }
    }
    variables
}

/// Returns a source file without its unit-test module, whose literals include deliberately
/// misspelled variables.
fn without_tests(text: String) -> String {
    match text.find("#[cfg(test)]") {
        Some(start) => text[..start].to_owned(),
        None => text,
    }
}

/// Scans config.rs and, when it exists, telemetry.rs for the variables the configuration reads.
fn configuration_variables() -> BTreeMap<String, &'static str> {
    let mut sources = vec![(CONFIG_SOURCE, without_tests(read_file(CONFIG_SOURCE)))];
    if repository_root().join(TELEMETRY_SOURCE).exists() {
        sources.push((TELEMETRY_SOURCE, without_tests(read_file(TELEMETRY_SOURCE))));
    }
    let borrowed: Vec<(&'static str, &str)> = sources.iter().map(|(path, text)| (*path, text.as_str())).collect();
    let variables = variables_in_sources(&borrowed);
    assert!(
        variables.contains_key("SOMNIUM_ENV"),
        "{CONFIG_SOURCE}: the scan found no SOMNIUM_ENV, so it no longer finds the variables; fix string_literals"
    );
    variables
}

// ---- Reading .env files ----

/// Returns the names assigned in an env file with their line numbers: set lines (`NAME=value`)
/// and commented-out ones (`# NAME=value`), which document a variable left at its default.
fn env_file_assignments(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| assigned_name(line).map(|name| (index + 1, name.to_owned())))
        .collect()
}

fn assigned_name(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = line.strip_prefix('#').map_or(line, str::trim_start);
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (name, _) = line.split_once('=')?;
    let valid = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    valid.then_some(name)
}

fn env_example_variables() -> BTreeSet<String> {
    env_file_assignments(&read_file(ENV_EXAMPLE))
        .into_iter()
        .map(|(_, name)| base_name(&name).to_owned())
        .collect()
}

/// Lists the variables of `named` that the configuration does not read, one failure line each.
fn unread_variables(file: &str, named: &BTreeSet<String>, read: &BTreeMap<String, &str>) -> Vec<String> {
    named
        .iter()
        .filter(|name| !read.contains_key(base_name(name)))
        .map(|name| {
            format!(
                "{file}: {name} is not read by {CONFIG_SOURCE} or {TELEMETRY_SOURCE}; remove it or fix its spelling"
            )
        })
        .collect()
}

// ---- Kubernetes objects ----

struct KubernetesObject {
    file: String,
    value: Value,
}

impl KubernetesObject {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

fn kubernetes_objects() -> Vec<KubernetesObject> {
    let directory = repository_root().join(K8S_DIR);
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("{K8S_DIR}: could not list: {error}"))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{K8S_DIR}: no YAML files");

    let mut objects = Vec::new();
    for file in files {
        let relative = format!("{K8S_DIR}/{file}");
        for value in yaml_documents(&relative) {
            objects.push(KubernetesObject {
                file: relative.clone(),
                value,
            });
        }
    }
    objects
}

fn find_object<'a>(objects: &'a [KubernetesObject], kind: &str, name: &str) -> Option<&'a KubernetesObject> {
    objects
        .iter()
        .find(|object| object.kind() == kind && object.name() == name)
}

fn the_deployment(objects: &[KubernetesObject]) -> &KubernetesObject {
    let deployments: Vec<_> = objects.iter().filter(|object| object.kind() == "Deployment").collect();
    assert_eq!(deployments.len(), 1, "{K8S_DIR}: expected exactly one Deployment");
    deployments[0]
}

fn containers(deployment: &KubernetesObject) -> &[Value] {
    let containers = deployment.value["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{}: the Deployment has no containers", deployment.file));
    assert!(
        !containers.is_empty(),
        "{}: the Deployment has no containers",
        deployment.file
    );
    containers
}

/// Lists the Secret keys that a volume puts at `file_name`, each as (Secret name, key). A
/// `secret` volume has one source and a `projected` volume one per `secret` source. A source
/// with `items` maps keys to paths, and one without puts every key at its own name, so it is
/// listed with `file_name` as the key.
fn secret_keys_projected_as(volume: &Value, file_name: &str) -> Vec<(String, String)> {
    let mut sources: Vec<(&str, &Value)> = Vec::new();
    if let Some(secret_name) = volume["secret"]["secretName"].as_str() {
        sources.push((secret_name, &volume["secret"]["items"]));
    }
    for source in volume["projected"]["sources"].as_sequence().into_iter().flatten() {
        if let Some(secret_name) = source["secret"]["name"].as_str() {
            sources.push((secret_name, &source["secret"]["items"]));
        }
    }

    let mut keys = Vec::new();
    for (secret_name, items) in sources {
        match items.as_sequence() {
            Some(items) => {
                let key = items
                    .iter()
                    .find(|item| item["path"].as_str() == Some(file_name))
                    .and_then(|item| item["key"].as_str());
                if let Some(key) = key {
                    keys.push((secret_name.to_owned(), key.to_owned()));
                }
            }
            None => keys.push((secret_name.to_owned(), file_name.to_owned())),
        }
    }
    keys
}

/// Returns the keys of a mapping, or nothing when the value is not a mapping.
fn mapping_keys(value: &Value) -> Vec<String> {
    value
        .as_mapping()
        .map(|mapping| mapping.keys().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Returns a string or a list of strings as a list.
fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Sequence(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Parses a Kubernetes quantity (`250m`, `1`, `64Mi`, `1G`) into base units.
fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|value| value * factor);
        }
    }
    text.parse().ok()
}

fn quantity_of(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => quantity(text),
        Value::Number(number) => number.as_f64(),
        _ => None,
    }
}

/// Returns the shutdown grace that a ConfigMap sets, or else the configuration's default.
fn configured_shutdown_grace(objects: &[KubernetesObject]) -> i64 {
    objects
        .iter()
        .filter(|object| object.kind() == "ConfigMap")
        .find_map(|object| object.value["data"]["SOMNIUM_SHUTDOWN_GRACE_SECONDS"].as_str())
        .map_or(DEFAULT_SHUTDOWN_GRACE_SECONDS, |text| {
            text.parse()
                .unwrap_or_else(|_| panic!("{K8S_DIR}: SOMNIUM_SHUTDOWN_GRACE_SECONDS `{text}` is not whole seconds"))
        })
}

/// Returns the seconds a `preStop` hook of the form `sleep N` pauses before SIGTERM, or 0.
fn pre_stop_pause_seconds(container: &Value) -> i64 {
    let pre_stop = &container["lifecycle"]["preStop"];
    if let Some(seconds) = pre_stop["sleep"]["seconds"].as_i64() {
        return seconds;
    }
    let command = string_list(&pre_stop["exec"]["command"]);
    match command.as_slice() {
        [program, seconds] if program.ends_with("sleep") => seconds.parse().unwrap_or(0),
        _ => 0,
    }
}

// ---- Dockerfile ----

/// One Dockerfile instruction: the keyword in upper case and its arguments with line
/// continuations joined.
struct Instruction {
    keyword: String,
    arguments: String,
}

fn dockerfile_instructions(text: &str) -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, arguments) = pending
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((pending.trim(), ""));
        instructions.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            arguments: arguments.trim().to_owned(),
        });
        pending.clear();
    }
    instructions
}

/// Returns the instructions of the last stage, after its `FROM`.
fn final_stage(instructions: &[Instruction]) -> &[Instruction] {
    let last_from = instructions
        .iter()
        .rposition(|instruction| instruction.keyword == "FROM")
        .unwrap_or_else(|| panic!("{DOCKERFILE}: no FROM instruction"));
    &instructions[last_from + 1..]
}

/// Names set by `ENV`, in either form: `ENV A=1 B=2` or `ENV A 1`.
fn dockerfile_env_names(instructions: &[Instruction]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for instruction in instructions.iter().filter(|instruction| instruction.keyword == "ENV") {
        if instruction
            .arguments
            .split_whitespace()
            .next()
            .is_some_and(|word| word.contains('='))
        {
            for pair in instruction.arguments.split_whitespace() {
                if let Some((name, _)) = pair.split_once('=') {
                    names.insert(name.to_owned());
                }
            }
        } else if let Some(name) = instruction.arguments.split_whitespace().next() {
            names.insert(name.to_owned());
        }
    }
    names
}

// ---- .env.example ----

#[test]
fn env_example_names_every_variable() {
    let read = configuration_variables();
    let documented = env_example_variables();
    let failures: Vec<String> = read
        .iter()
        .filter(|(name, _)| !documented.contains(*name))
        .map(|(name, source)| {
            format!("{ENV_EXAMPLE}: {name} is missing. {source} reads it, so add it with a one-line comment")
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn env_example_names_no_unknown_variable() {
    let read = configuration_variables();
    let failures = unread_variables(ENV_EXAMPLE, &env_example_variables(), &read);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn env_example_comments_every_variable() {
    let text = read_file(ENV_EXAMPLE);
    let lines: Vec<&str> = text.lines().collect();
    for (line_number, name) in env_file_assignments(&text) {
        let comment = line_number
            .checked_sub(2)
            .map(|index| lines[index].trim())
            .filter(|line| line.starts_with('#') && assigned_name(line).is_none())
            .unwrap_or_else(|| panic!("{ENV_EXAMPLE}:{line_number}: {name} has no comment line right above it"));
        assert!(
            comment.contains("Default"),
            "{ENV_EXAMPLE}:{line_number}: the comment on {name} does not give its default"
        );
        assert!(
            comment.to_lowercase().contains("secret"),
            "{ENV_EXAMPLE}:{line_number}: the comment on {name} does not say whether it is a secret"
        );
    }
}

#[test]
fn env_example_uses_placeholders_for_secrets() {
    let text = read_file(ENV_EXAMPLE);
    for line in text.lines() {
        let Some(name) = assigned_name(line) else {
            continue;
        };
        if matches!(
            name,
            "DATABASE_URL" | "SOMNIUM_SIGNING_KEY" | "SOMNIUM_DATA_KEYS" | "SOMNIUM_BLIND_INDEX_KEY"
        ) {
            assert!(
                line.contains("change-me"),
                "{ENV_EXAMPLE}: {name} must hold the placeholder change-me, not a real credential"
            );
        }
    }
}

// ---- Scanner ----

#[test]
fn scanner_reports_new_variable_as_missing() {
    let original = read_file(CONFIG_SOURCE);
    let copy = format!("{original}\nconst ADDED_FOR_TEST: &str = \"SOMNIUM_ADDED_FOR_TEST\";\n");
    let documented = env_example_variables();

    let before = variables_in_sources(&[(CONFIG_SOURCE, original.as_str())]);
    let after = variables_in_sources(&[(CONFIG_SOURCE, copy.as_str())]);
    let newly_missing: Vec<&String> = after
        .keys()
        .filter(|name| !documented.contains(*name) && !before.contains_key(*name))
        .collect();

    assert_eq!(
        newly_missing,
        ["SOMNIUM_ADDED_FOR_TEST"],
        "a copy of {CONFIG_SOURCE} with one added literal"
    );
}

#[test]
fn scanner_skips_comments_and_prefixes() {
    let source = r###"
        // "SOMNIUM_IN_LINE_COMMENT"
        /* "SOMNIUM_IN_BLOCK" /* nested */ "SOMNIUM_AFTER_NESTED" */
        fn read(name: &'static str) -> char { if name.is_empty() { '\\' } else { '"' } }
        const A: &str = "SOMNIUM_AFTER_QUOTE";
        const B: &str = r#"SOMNIUM_IN_RAW "quoted""#;
        const C: &[u8] = b"SOMNIUM_IN_BYTES";
        let escaped = "\"SOMNIUM_AFTER_ESCAPE\"";
        let prefix = format!("SOMNIUM_PREFIX_{}", role);
        let message = "set SOMNIUM_ENV=production, not xSOMNIUM_GLUED or somnium_lower";
    "###;
    let found: Vec<String> = variables_in_sources(&[("example.rs", source)]).into_keys().collect();
    assert_eq!(
        found,
        [
            "SOMNIUM_AFTER_ESCAPE",
            "SOMNIUM_AFTER_QUOTE",
            "SOMNIUM_ENV",
            "SOMNIUM_IN_BYTES",
            "SOMNIUM_IN_RAW",
        ]
    );
}

#[test]
fn scanner_maps_role_suffix_to_base() {
    let source = r#"("SOMNIUM_SESSION_IDLE_SECONDS_ECMO_SPECIALIST", "SOMNIUM_SESSION_ABSOLUTE_SECONDS_NURSE")"#;
    let found: Vec<String> = variables_in_sources(&[("example.rs", source)]).into_keys().collect();
    assert_eq!(
        found,
        ["SOMNIUM_SESSION_ABSOLUTE_SECONDS", "SOMNIUM_SESSION_IDLE_SECONDS"]
    );
    assert_eq!(
        base_name("SOMNIUM_ADMIN"),
        "SOMNIUM_ADMIN",
        "a name that is only a role keeps it"
    );
}

#[test]
fn env_parser_reads_set_and_commented_lines() {
    let text = "# Prose with key=value inside.\nDATABASE_URL=postgres://x\n# RUST_LOG=info\n#SOMNIUM_ENV=production\n\nexport REDIS_URL=redis://r\n";
    let names: Vec<String> = env_file_assignments(text).into_iter().map(|(_, name)| name).collect();
    assert_eq!(names, ["DATABASE_URL", "RUST_LOG", "SOMNIUM_ENV", "REDIS_URL"]);
}

// ---- docker-compose.yml ----

fn compose() -> Value {
    let mut documents = yaml_documents(COMPOSE);
    assert_eq!(documents.len(), 1, "{COMPOSE}: expected one YAML document");
    documents.remove(0)
}

fn somnium_service(compose: &Value) -> &Value {
    let service = &compose["services"]["somnium"];
    assert!(service.is_mapping(), "{COMPOSE}: no service named somnium");
    service
}

/// Returns the names of a service's `environment`, in map or list (`NAME=value`) form.
fn compose_environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(mapping) => mapping
            .iter()
            .filter_map(|(name, value)| {
                let value = match value {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                };
                Some((name.as_str()?.to_owned(), value))
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|item| {
                let (name, value) = item.split_once('=').unwrap_or((item, ""));
                (name.to_owned(), value.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Returns the names of the secrets a service mounts, in short (`- name`) or long
/// (`- source: name`) form.
fn compose_service_secrets(service: &Value) -> Vec<String> {
    service["secrets"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_str().or_else(|| item["source"].as_str()))
        .map(str::to_owned)
        .collect()
}

/// Returns the variables of `REQUIRED_KEY_FILES` and those of `OPTIONAL_KEY_FILES` that
/// `is_set` reports set.
fn key_file_variables(is_set: impl Fn(&str) -> bool) -> Vec<&'static str> {
    REQUIRED_KEY_FILES
        .iter()
        .chain(OPTIONAL_KEY_FILES.iter().filter(|variable| is_set(variable)))
        .copied()
        .collect()
}

#[test]
fn compose_variables_are_read_by_config() {
    let compose = compose();
    let named: BTreeSet<String> = compose_environment(somnium_service(&compose)).into_keys().collect();
    let failures = unread_variables(
        &format!("{COMPOSE} (service somnium)"),
        &named,
        &configuration_variables(),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn compose_service_is_hardened() {
    let compose = compose();
    let service = somnium_service(&compose);

    assert_eq!(
        service["read_only"].as_bool(),
        Some(true),
        "{COMPOSE}: somnium needs read_only: true"
    );
    assert!(
        string_list(&service["security_opt"])
            .iter()
            .any(|option| option == "no-new-privileges:true"),
        "{COMPOSE}: somnium needs security_opt no-new-privileges:true"
    );
    assert!(
        string_list(&service["cap_drop"])
            .iter()
            .any(|capability| capability == "ALL"),
        "{COMPOSE}: somnium needs cap_drop: [ALL]"
    );
    assert!(
        string_list(&service["tmpfs"])
            .iter()
            .any(|mount| mount.split(':').next() == Some("/tmp")),
        "{COMPOSE}: somnium needs a tmpfs on /tmp, because its root filesystem is read-only"
    );
    if let Some(user) = service["user"].as_str() {
        let name = user.split(':').next().unwrap_or_default();
        assert_ne!(name, "root", "{COMPOSE}: somnium must not run as user {user}");
        assert_ne!(name, "0", "{COMPOSE}: somnium must not run as user {user}");
    }
}

#[test]
fn compose_keeps_data_in_named_volume() {
    let compose = compose();
    let declared = mapping_keys(&compose["volumes"]);
    let volumes = somnium_service(&compose)["volumes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let source = volumes.iter().find_map(|volume| match volume {
        Value::String(short) => {
            let mut parts = short.split(':');
            let source = parts.next()?;
            (parts.next()? == "/var/lib/somnium").then(|| source.to_owned())
        }
        long => (long["target"].as_str()? == "/var/lib/somnium")
            .then(|| long["source"].as_str().unwrap_or_default().to_owned()),
    });
    let source = source.unwrap_or_else(|| panic!("{COMPOSE}: somnium has no volume on /var/lib/somnium"));
    assert!(
        declared.contains(&source),
        "{COMPOSE}: the volume {source} on /var/lib/somnium is not a named volume declared under volumes:"
    );
}

#[test]
fn compose_keeps_secrets_out_of_environment() {
    let compose = compose();
    let service = somnium_service(&compose);
    let environment = compose_environment(service);

    assert!(
        string_list(&service["env_file"]).iter().any(|file| file == ".env"),
        "{COMPOSE}: somnium needs env_file: .env, where the secrets live"
    );
    for secret in SECRET_VARIABLES {
        assert!(
            !environment.contains_key(*secret),
            "{COMPOSE}: {secret} is a secret and must come from .env, not environment:"
        );
    }
}

#[test]
fn compose_reads_keys_from_secrets() {
    let compose = compose();
    let service = somnium_service(&compose);
    let environment = compose_environment(service);
    let service_secrets = compose_service_secrets(service);
    let declared = mapping_keys(&compose["secrets"]);

    for variable in key_file_variables(|variable| environment.contains_key(variable)) {
        let key_file = environment
            .get(variable)
            .unwrap_or_else(|| panic!("{COMPOSE}: somnium does not set {variable}"));
        let secret_name = key_file
            .strip_prefix("/run/secrets/")
            .unwrap_or_else(|| panic!("{COMPOSE}: {variable} {key_file} is not under /run/secrets/"));
        assert!(
            service_secrets.iter().any(|name| name == secret_name),
            "{COMPOSE}: {variable} names the secret {secret_name}, which somnium does not mount"
        );
        assert!(
            declared.iter().any(|name| name == secret_name),
            "{COMPOSE}: {variable} names the secret {secret_name}, which secrets: does not declare"
        );
        // .gitignore and Dockerfile.dockerignore both exclude infra/secrets/.
        let source = compose["secrets"][secret_name]["file"].as_str().unwrap_or_default();
        assert!(
            source.starts_with("./secrets/"),
            "{COMPOSE}: the secret {secret_name} must be a file under ./secrets/, not `{source}`"
        );
    }
}

#[test]
fn compose_waits_for_healthy_dependencies() {
    let compose = compose();
    let depends_on = &somnium_service(&compose)["depends_on"];
    let dependencies = mapping_keys(depends_on);
    for required in ["postgres", "redis"] {
        assert!(
            dependencies.iter().any(|dependency| dependency == required),
            "{COMPOSE}: somnium must depend on {required}, in the long form with a condition"
        );
    }
    for dependency in &dependencies {
        assert_eq!(
            depends_on[dependency.as_str()]["condition"].as_str(),
            Some("service_healthy"),
            "{COMPOSE}: somnium's dependency on {dependency} needs condition: service_healthy"
        );
        assert!(
            compose["services"][dependency.as_str()]["healthcheck"]["test"].is_sequence()
                || compose["services"][dependency.as_str()]["healthcheck"]["test"].is_string(),
            "{COMPOSE}: {dependency} has no healthcheck, so service_healthy never holds"
        );
    }

    let postgres = &compose["services"]["postgres"];
    let postgres_check = string_list(&postgres["healthcheck"]["test"]).join(" ");
    assert!(
        postgres_check.contains("pg_isready"),
        "{COMPOSE}: the postgres healthcheck must run pg_isready"
    );
    let data_volume = string_list(&postgres["volumes"])
        .into_iter()
        .find(|volume| volume.ends_with(":/var/lib/postgresql/data"))
        .unwrap_or_else(|| panic!("{COMPOSE}: postgres has no volume on /var/lib/postgresql/data"));
    let source = data_volume.split(':').next().unwrap_or_default();
    assert!(
        mapping_keys(&compose["volumes"]).iter().any(|name| name == source),
        "{COMPOSE}: the postgres volume {source} is not a named volume"
    );
}

#[test]
fn compose_builds_from_infra_dockerfile() {
    let compose = compose();
    let service = somnium_service(&compose);
    let context = service["build"]["context"].as_str().unwrap_or_default();
    let dockerfile = service["build"]["dockerfile"].as_str().unwrap_or_default();
    assert_eq!(
        context, "..",
        "{COMPOSE}: the build context must be the repository root"
    );
    assert_eq!(
        dockerfile, "infra/Dockerfile",
        "{COMPOSE}: the build must use infra/Dockerfile"
    );
    assert!(
        repository_root().join("infra").join(context).join(dockerfile).exists(),
        "{COMPOSE}: {context}/{dockerfile} does not exist"
    );
    assert!(
        string_list(&service["ports"]).iter().any(|port| port == "8080:8080"),
        "{COMPOSE}: somnium must publish 8080:8080"
    );
}

#[test]
fn compose_stop_grace_exceeds_shutdown_grace() {
    let compose = compose();
    let service = somnium_service(&compose);
    let grace = compose_environment(service)
        .get("SOMNIUM_SHUTDOWN_GRACE_SECONDS")
        .map_or(DEFAULT_SHUTDOWN_GRACE_SECONDS, |text| text.parse().unwrap());
    let stop = service["stop_grace_period"].as_str().unwrap_or_else(|| {
        panic!("{COMPOSE}: somnium needs stop_grace_period, because Docker's default of 10 seconds is too short")
    });
    let stop_seconds: i64 = stop
        .strip_suffix('s')
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("{COMPOSE}: write stop_grace_period in whole seconds such as 40s, not {stop}"));
    assert!(
        stop_seconds > grace,
        "{COMPOSE}: stop_grace_period {stop} must exceed SOMNIUM_SHUTDOWN_GRACE_SECONDS ({grace})"
    );
}

// ---- Kubernetes ----

#[test]
fn kubernetes_files_parse_as_objects() {
    let objects = kubernetes_objects();
    for object in &objects {
        assert!(
            object.value["apiVersion"].is_string(),
            "{}: a document has no apiVersion",
            object.file
        );
        assert!(!object.kind().is_empty(), "{}: a document has no kind", object.file);
        assert!(
            !object.name().is_empty(),
            "{}: a {} has no metadata.name",
            object.file,
            object.kind()
        );
    }
    let kinds: BTreeSet<&str> = objects.iter().map(KubernetesObject::kind).collect();
    for kind in [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Secret",
        "Service",
    ] {
        assert!(kinds.contains(kind), "{K8S_DIR}: no {kind}");
    }
}

#[test]
fn kubernetes_variables_are_read_by_config() {
    let objects = kubernetes_objects();
    let read = configuration_variables();
    let deployment = the_deployment(&objects);
    let mut failures = Vec::new();

    for object in objects.iter().filter(|object| object.kind() == "ConfigMap") {
        let named: BTreeSet<String> = mapping_keys(&object.value["data"]).into_iter().collect();
        failures.extend(unread_variables(
            &format!("{} (ConfigMap {})", object.file, object.name()),
            &named,
            &read,
        ));
    }
    for container in containers(deployment) {
        let named: BTreeSet<String> = container["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["name"].as_str().map(str::to_owned))
            .collect();
        failures.extend(unread_variables(&format!("{} (env)", deployment.file), &named, &read));

        // Every key of a Secret loaded with envFrom becomes a variable.
        for source in container["envFrom"].as_sequence().into_iter().flatten() {
            let Some(secret_name) = source["secretRef"]["name"].as_str() else {
                continue;
            };
            let secret = find_object(&objects, "Secret", secret_name).unwrap_or_else(|| {
                panic!(
                    "{}: envFrom names the Secret {secret_name}, which {K8S_DIR} does not define",
                    deployment.file
                )
            });
            let named: BTreeSet<String> = mapping_keys(&secret.value["stringData"])
                .into_iter()
                .chain(mapping_keys(&secret.value["data"]))
                .collect();
            failures.extend(unread_variables(
                &format!("{} (Secret {secret_name})", secret.file),
                &named,
                &read,
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kubernetes_references_existing_keys() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    for container in containers(deployment) {
        for source in container["envFrom"].as_sequence().into_iter().flatten() {
            if let Some(name) = source["configMapRef"]["name"].as_str() {
                assert!(
                    find_object(&objects, "ConfigMap", name).is_some(),
                    "{}: envFrom names the ConfigMap {name}, which {K8S_DIR} does not define",
                    deployment.file
                );
            }
        }
        for entry in container["env"].as_sequence().into_iter().flatten() {
            let variable = entry["name"].as_str().unwrap_or_default();
            for (reference, kind, field) in [
                ("secretKeyRef", "Secret", "stringData"),
                ("configMapKeyRef", "ConfigMap", "data"),
            ] {
                let selector = &entry["valueFrom"][reference];
                let (Some(name), Some(key)) = (selector["name"].as_str(), selector["key"].as_str()) else {
                    continue;
                };
                let object = find_object(&objects, kind, name).unwrap_or_else(|| {
                    panic!(
                        "{}: {variable} refers to the {kind} {name}, which {K8S_DIR} does not define",
                        deployment.file
                    )
                });
                assert!(
                    !object.value[field][key].is_null() || !object.value["data"][key].is_null(),
                    "{}: {variable} refers to key {key} of the {kind} {name}, which {} does not define",
                    deployment.file,
                    object.file
                );
            }
        }
    }
}

#[test]
fn kubernetes_keeps_secrets_out_of_plain_values() {
    let objects = kubernetes_objects();
    for object in objects.iter().filter(|object| object.kind() == "ConfigMap") {
        for secret in SECRET_VARIABLES {
            assert!(
                object.value["data"][*secret].is_null(),
                "{}: {secret} is a secret and belongs in a Secret, not the ConfigMap {}",
                object.file,
                object.name()
            );
        }
    }
    let deployment = the_deployment(&objects);
    for container in containers(deployment) {
        for entry in container["env"].as_sequence().into_iter().flatten() {
            let variable = entry["name"].as_str().unwrap_or_default();
            if SECRET_VARIABLES.contains(&variable) {
                assert!(
                    entry["value"].is_null(),
                    "{}: {variable} is a secret and must not be written inline",
                    deployment.file
                );
                assert!(
                    entry["valueFrom"]["secretKeyRef"].is_mapping(),
                    "{}: {variable} is a secret and must come from a secretKeyRef",
                    deployment.file
                );
            }
        }
    }
}

#[test]
fn configmap_values_are_strings() {
    for object in kubernetes_objects()
        .iter()
        .filter(|object| object.kind() == "ConfigMap")
    {
        for (key, value) in object.value["data"].as_mapping().into_iter().flatten() {
            assert!(
                value.is_string(),
                "{}: {} in ConfigMap {} must be a quoted string; Kubernetes rejects numbers and booleans",
                object.file,
                key.as_str().unwrap_or_default(),
                object.name()
            );
        }
    }
}

#[test]
fn secret_example_holds_placeholders_only() {
    for object in kubernetes_objects().iter().filter(|object| object.kind() == "Secret") {
        assert!(
            object.file.ends_with(".example.yaml"),
            "{}: a Secret belongs only in an *.example.yaml file with placeholders",
            object.file
        );
        assert!(
            object.value["data"].is_null(),
            "{}: Secret {} has base64 data. Use stringData with change-me placeholders instead",
            object.file,
            object.name()
        );
        for (key, value) in object.value["stringData"].as_mapping().into_iter().flatten() {
            assert!(
                value.as_str().is_some_and(|text| text.contains("change-me")),
                "{}: {} in Secret {} must hold a change-me placeholder",
                object.file,
                key.as_str().unwrap_or_default(),
                object.name()
            );
        }
    }
}

#[test]
fn deployment_runs_as_non_root() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let file = &deployment.file;
    let pod = &deployment.value["spec"]["template"]["spec"]["securityContext"];

    assert_eq!(
        pod["runAsNonRoot"].as_bool(),
        Some(true),
        "{file}: the pod needs runAsNonRoot: true"
    );
    assert_eq!(
        pod["runAsUser"].as_i64(),
        Some(APP_UID),
        "{file}: the pod needs runAsUser: {APP_UID}"
    );
    assert_eq!(
        pod["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault"),
        "{file}: the pod needs seccompProfile RuntimeDefault"
    );
    for container in containers(deployment) {
        let name = container["name"].as_str().unwrap_or_default();
        let context = &container["securityContext"];
        assert_eq!(
            context["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{file}: container {name} needs readOnlyRootFilesystem: true"
        );
        assert_eq!(
            context["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{file}: container {name} needs allowPrivilegeEscalation: false"
        );
        assert!(
            string_list(&context["capabilities"]["drop"])
                .iter()
                .any(|capability| capability == "ALL"),
            "{file}: container {name} needs capabilities.drop: [ALL]"
        );
        assert!(
            string_list(&context["capabilities"]["add"]).is_empty(),
            "{file}: container {name} must add no capabilities"
        );
        assert_ne!(
            context["runAsNonRoot"].as_bool(),
            Some(false),
            "{file}: container {name} sets runAsNonRoot: false"
        );
        if let Some(user) = context["runAsUser"].as_i64() {
            assert_eq!(
                user, APP_UID,
                "{file}: container {name} runs as uid {user}, not {APP_UID}"
            );
        }
    }
}

#[test]
fn deployment_has_probes() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let file = &deployment.file;
    for container in containers(deployment) {
        let name = container["name"].as_str().unwrap_or_default();
        let ports: Vec<&Value> = container["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|port| [&port["name"], &port["containerPort"]])
            .filter(|port| !port.is_null())
            .collect();
        for (probe, path) in [
            ("startupProbe", "/health/live"),
            ("livenessProbe", "/health/live"),
            ("readinessProbe", "/health/ready"),
        ] {
            let http = &container[probe]["httpGet"];
            assert_eq!(
                http["path"].as_str(),
                Some(path),
                "{file}: container {name} needs a {probe} on {path}"
            );
            assert!(
                ports.contains(&&http["port"]),
                "{file}: the {probe} of container {name} uses a port the container does not declare"
            );
        }
    }
}

#[test]
fn deployment_sets_resource_limits() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let file = &deployment.file;
    for container in containers(deployment) {
        let name = container["name"].as_str().unwrap_or_default();
        for resource in ["cpu", "memory"] {
            let request = quantity_of(&container["resources"]["requests"][resource]);
            let limit = quantity_of(&container["resources"]["limits"][resource]);
            let request = request.unwrap_or_else(|| panic!("{file}: container {name} needs a {resource} request"));
            let limit = limit.unwrap_or_else(|| panic!("{file}: container {name} needs a {resource} limit"));
            assert!(
                request <= limit,
                "{file}: container {name} requests more {resource} than its limit"
            );
        }
    }
}

#[test]
fn deployment_grace_period_exceeds_shutdown_grace() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let file = &deployment.file;
    let spec = &deployment.value["spec"];
    assert_eq!(
        spec["replicas"].as_i64(),
        Some(2),
        "{file}: the Deployment needs replicas: 2"
    );

    let termination = spec["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or_else(|| panic!("{file}: the pod needs terminationGracePeriodSeconds"));
    let shutdown = configured_shutdown_grace(&objects);
    for container in containers(deployment) {
        let pause = pre_stop_pause_seconds(container);
        assert!(
            termination > shutdown + pause,
            "{file}: terminationGracePeriodSeconds {termination} must exceed SOMNIUM_SHUTDOWN_GRACE_SECONDS \
             ({shutdown}) plus the preStop pause ({pause})"
        );
    }
}

#[test]
fn deployment_mounts_writable_dirs_as_empty_dir() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let file = &deployment.file;
    let volumes = &deployment.value["spec"]["template"]["spec"]["volumes"];
    let empty_dirs: Vec<&str> = volumes
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|volume| !volume["emptyDir"].is_null())
        .filter_map(|volume| volume["name"].as_str())
        .collect();
    for container in containers(deployment) {
        let name = container["name"].as_str().unwrap_or_default();
        for path in ["/tmp", "/var/lib/somnium"] {
            let mounted = container["volumeMounts"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|mount| {
                    mount["mountPath"].as_str() == Some(path)
                        && mount["name"]
                            .as_str()
                            .is_some_and(|volume| empty_dirs.contains(&volume))
                });
            assert!(
                mounted,
                "{file}: container {name} needs an emptyDir on {path}, because its root filesystem is read-only"
            );
        }
    }
}

#[test]
fn deployment_reads_keys_from_secret_volume() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let file = &deployment.file;
    let volumes = deployment.value["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for container in containers(deployment) {
        let name = container["name"].as_str().unwrap_or_default();
        let env: Vec<&Value> = container["env"].as_sequence().into_iter().flatten().collect();
        let value_of = |variable: &str| {
            env.iter()
                .find(|entry| entry["name"].as_str() == Some(variable))
                .and_then(|entry| entry["value"].as_str())
        };

        for variable in key_file_variables(|variable| value_of(variable).is_some()) {
            let key_file =
                value_of(variable).unwrap_or_else(|| panic!("{file}: container {name} does not set {variable}"));
            let (directory, file_name) = key_file.rsplit_once('/').unwrap_or_default();

            let mount = container["volumeMounts"]
                .as_sequence()
                .into_iter()
                .flatten()
                .find(|mount| mount["mountPath"].as_str() == Some(directory))
                .unwrap_or_else(|| panic!("{file}: {variable} {key_file} is not in a mounted volume"));
            assert_eq!(
                mount["readOnly"].as_bool(),
                Some(true),
                "{file}: the mount on {directory}, which holds {variable}, must be readOnly"
            );

            let volume_name = mount["name"].as_str().unwrap_or_default();
            let volume = volumes
                .iter()
                .find(|volume| volume["name"].as_str() == Some(volume_name))
                .unwrap_or_else(|| panic!("{file}: the volume {volume_name} is mounted but not defined"));
            let candidates = secret_keys_projected_as(volume, file_name);
            assert!(
                !candidates.is_empty(),
                "{file}: {variable} {key_file} does not come from a Secret of the volume {volume_name}"
            );
            let defined: Vec<(&KubernetesObject, &str)> = candidates
                .iter()
                .filter_map(|(secret_name, key)| {
                    find_object(&objects, "Secret", secret_name).map(|secret| (secret, key.as_str()))
                })
                .collect();
            assert!(
                !defined.is_empty(),
                "{file}: {variable} reads the Secret {}, which {K8S_DIR} does not define",
                candidates[0].0
            );
            let (secret, key) = defined[0];
            assert!(
                defined
                    .iter()
                    .any(|(secret, key)| !secret.value["stringData"][*key].is_null()),
                "{}: Secret {} has no key {key}, which {variable} reads",
                secret.file,
                secret.name()
            );
        }
    }
}

#[test]
fn service_exposes_port_8080() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let pod_labels = &deployment.value["spec"]["template"]["metadata"]["labels"];
    for service in objects.iter().filter(|object| object.kind() == "Service") {
        let file = &service.file;
        let spec = &service.value["spec"];
        assert_eq!(
            spec["type"].as_str(),
            Some("ClusterIP"),
            "{file}: the Service must be ClusterIP"
        );
        assert!(
            spec["ports"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|port| port["port"].as_i64() == Some(8080)),
            "{file}: the Service must expose port 8080"
        );
        for (label, value) in spec["selector"].as_mapping().into_iter().flatten() {
            assert_eq!(
                &pod_labels[label.as_str().unwrap_or_default()],
                value,
                "{file}: the selector label {} does not match the Deployment's pods",
                label.as_str().unwrap_or_default()
            );
        }
    }
}

#[test]
fn autoscaler_scales_between_2_and_10() {
    let objects = kubernetes_objects();
    let deployment = the_deployment(&objects);
    let autoscaler = objects
        .iter()
        .find(|object| object.kind() == "HorizontalPodAutoscaler")
        .unwrap_or_else(|| panic!("{K8S_DIR}: no HorizontalPodAutoscaler"));
    let file = &autoscaler.file;
    let spec = &autoscaler.value["spec"];

    assert_eq!(
        autoscaler.value["apiVersion"].as_str(),
        Some("autoscaling/v2"),
        "{file}: use autoscaling/v2"
    );
    assert_eq!(
        spec["scaleTargetRef"]["kind"].as_str(),
        Some("Deployment"),
        "{file}: scaleTargetRef.kind"
    );
    assert_eq!(
        spec["scaleTargetRef"]["name"].as_str(),
        Some(deployment.name()),
        "{file}: scaleTargetRef.name"
    );
    assert_eq!(spec["minReplicas"].as_i64(), Some(2), "{file}: minReplicas must be 2");
    assert_eq!(spec["maxReplicas"].as_i64(), Some(10), "{file}: maxReplicas must be 10");
    let cpu_target = spec["metrics"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|metric| metric["resource"]["name"].as_str() == Some("cpu"))
        .map(|metric| &metric["resource"]["target"]);
    let cpu_target = cpu_target.unwrap_or_else(|| panic!("{file}: no CPU metric"));
    assert_eq!(
        cpu_target["type"].as_str(),
        Some("Utilization"),
        "{file}: the CPU target must be Utilization"
    );
    assert_eq!(
        cpu_target["averageUtilization"].as_i64(),
        Some(70),
        "{file}: the CPU target must be 70 %"
    );
}

// ---- Dockerfile ----

#[test]
fn dockerfile_has_build_and_runtime_stages() {
    let instructions = dockerfile_instructions(&read_file(DOCKERFILE));
    let stages = instructions
        .iter()
        .filter(|instruction| instruction.keyword == "FROM")
        .count();
    assert!(
        stages >= 2,
        "{DOCKERFILE}: expected a build stage and a runtime stage, found {stages} FROM"
    );
    assert!(
        final_stage(&instructions)
            .iter()
            .any(|instruction| instruction.keyword == "COPY" && instruction.arguments.contains("--from=")),
        "{DOCKERFILE}: the runtime stage copies nothing from the build stage"
    );
}

#[test]
fn dockerfile_runs_as_non_root_user() {
    let instructions = dockerfile_instructions(&read_file(DOCKERFILE));
    let user = final_stage(&instructions)
        .iter()
        .rev()
        .find(|instruction| instruction.keyword == "USER")
        .map(|instruction| instruction.arguments.clone())
        .unwrap_or_else(|| panic!("{DOCKERFILE}: the runtime stage has no USER, so it runs as root"));
    let name = user.split(':').next().unwrap_or_default();
    assert_ne!(name, "root", "{DOCKERFILE}: USER {user} is root");
    assert_ne!(name, "0", "{DOCKERFILE}: USER {user} is root");
    // runAsNonRoot can verify only a numeric user, and the manifests run as this uid.
    assert_eq!(
        name,
        APP_UID.to_string(),
        "{DOCKERFILE}: USER {user} must be the numeric uid {APP_UID}"
    );
}

#[test]
fn dockerfile_has_healthcheck() {
    let instructions = dockerfile_instructions(&read_file(DOCKERFILE));
    let healthcheck = final_stage(&instructions)
        .iter()
        .find(|instruction| instruction.keyword == "HEALTHCHECK")
        .unwrap_or_else(|| panic!("{DOCKERFILE}: the runtime stage has no HEALTHCHECK"));
    assert!(
        healthcheck.arguments.contains("CMD"),
        "{DOCKERFILE}: HEALTHCHECK {} runs no command",
        healthcheck.arguments
    );
}

#[test]
fn dockerfile_adds_no_remote_url() {
    for instruction in dockerfile_instructions(&read_file(DOCKERFILE)) {
        if instruction.keyword != "ADD" {
            continue;
        }
        for remote in ["http://", "https://", "git@", "git://"] {
            assert!(
                !instruction.arguments.contains(remote),
                "{DOCKERFILE}: ADD {} fetches a remote source; download it in a RUN step with a checksum",
                instruction.arguments
            );
        }
    }
}

#[test]
fn dockerfile_variables_are_read_by_config() {
    let instructions = dockerfile_instructions(&read_file(DOCKERFILE));
    let named = dockerfile_env_names(&instructions);
    assert!(
        named.contains("SOMNIUM_LISTEN_ADDR"),
        "{DOCKERFILE}: ENV must set SOMNIUM_LISTEN_ADDR, because the default 127.0.0.1 is unreachable from outside"
    );
    let failures = unread_variables(DOCKERFILE, &named, &configuration_variables());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dockerignore_excludes_build_output() {
    let text = read_file(DOCKERIGNORE);
    let patterns: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.trim_start_matches("**/").trim_end_matches('/'))
        .collect();
    for required in ["target", "data", ".git", "node_modules"] {
        assert!(patterns.contains(required), "{DOCKERIGNORE}: must exclude {required}/");
    }
}
