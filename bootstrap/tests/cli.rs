//! The `somnium` binary as an operator runs it.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn somnium() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_somnium"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn production_without_database_url_names_the_variable() {
    let output = somnium()
        .env("SOMNIUM_ENV", "production")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn production_without_signing_key_names_the_variable() {
    let output = somnium()
        .env("SOMNIUM_ENV", "production")
        .env("DATABASE_URL", "postgres://127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SOMNIUM_SIGNING_KEY_FILE"), "{stderr}");
}

#[test]
fn openapi_prints_the_committed_spec() {
    let output = somnium().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json")).unwrap();
    assert!(
        output.stdout == committed,
        "openapi/openapi.json differs from `somnium openapi`"
    );
}

#[test]
fn migrate_creates_the_embedded_database_privately() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let output = somnium()
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(data_dir.join("somnium.db").exists());
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn invalid_number_is_reported_with_its_variable() {
    let output = somnium()
        .env("SOMNIUM_ACCESS_TOKEN_TTL_SECONDS", "86400")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SOMNIUM_ACCESS_TOKEN_TTL_SECONDS"), "{stderr}");
}
