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
fn production_without_data_keys_names_the_variable() {
    let output = somnium()
        .env("SOMNIUM_ENV", "production")
        .env("DATABASE_URL", "postgres://127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SOMNIUM_DATA_KEYS_FILE"), "{stderr}");
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

fn run_with_stdin(command: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn create_admin_reads_the_password_from_stdin() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let create = |email: &str, force: bool, password: &str| {
        let mut command = somnium();
        command.env("SOMNIUM_DATA_DIR", &data_dir).args([
            "create-admin",
            "--email",
            email,
            "--full-name",
            "Grace Hopper",
        ]);
        if force {
            command.arg("--force");
        }
        run_with_stdin(&mut command, &format!("{password}\n"))
    };

    let weak = create("first@example.test", false, "password");
    assert!(!weak.status.success());
    let stderr = String::from_utf8_lossy(&weak.stderr);
    assert!(stderr.contains("common_password"), "{stderr}");

    let created = create("first@example.test", false, "Ward-7#Lumen-Root");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains("created administrator"));

    let second = create("second@example.test", false, "Ward-7#Lumen-Root");
    assert!(!second.status.success(), "a second administrator needs --force");
    assert!(String::from_utf8_lossy(&second.stderr).contains("--force"));
    let forced = create("second@example.test", true, "Ward-7#Lumen-Root");
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));

    let verify = somnium()
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("intact"));

    let prune = somnium()
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .args(["audit", "prune", "--before", "2999-01-01"])
        .output()
        .unwrap();
    assert!(!prune.status.success(), "pruning inside retention is refused");
    assert!(String::from_utf8_lossy(&prune.stderr).contains("retention"));
}

#[test]
fn audit_verify_exits_1_on_a_broken_chain() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let mut command = somnium();
    command
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .args(["create-admin", "--email", "grace@example.test"]);
    assert!(run_with_stdin(&mut command, "Ward-7#Lumen-Root\n").status.success());

    let database = data_dir.join("somnium.db");
    let sqlite = |sql: &str| {
        let status = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
            ])
            .arg(&database)
            .arg(sql)
            .status()
            .unwrap();
        assert!(status.success(), "{sql}");
    };
    sqlite("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET detail = 'forged' WHERE sequence = 1;");

    let verify = somnium()
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN at sequence 1"));
}

#[test]
fn development_reads_a_dotenv_file() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join(".env"),
        "SOMNIUM_ACCESS_TOKEN_TTL_SECONDS=99999\n",
    )
    .unwrap();
    let output = somnium()
        .current_dir(directory.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "the value from .env was read and rejected"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("SOMNIUM_ACCESS_TOKEN_TTL_SECONDS"));

    let overridden = somnium()
        .current_dir(directory.path())
        .env("SOMNIUM_ACCESS_TOKEN_TTL_SECONDS", "600")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        overridden.status.success(),
        "the environment wins over .env: {}",
        String::from_utf8_lossy(&overridden.stderr)
    );
}

#[test]
fn a_short_data_key_is_refused_before_anything_starts() {
    let output = somnium()
        .env("SOMNIUM_DATA_KEYS", "k1:c2hvcnQ=")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SOMNIUM_DATA_KEYS") && stderr.contains("exactly 32"),
        "{stderr}"
    );
}

#[test]
fn keys_commands_rotate_reencrypt_and_retire() {
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let run = |args: &[&str]| {
        let output = somnium()
            .env("SOMNIUM_DATA_DIR", &data_dir)
            .env("SOMNIUM_KEY_REFRESH_SECONDS", "1")
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        (stdout, stderr)
    };
    run(&["migrate"]);
    let (listed, _) = run(&["keys", "list"]);
    let ring_path = data_dir.join("data-keys");
    let ring = std::fs::read_to_string(&ring_path).unwrap();
    let (old_id, old_key) = ring.trim().split_once(':').unwrap();
    assert!(listed.contains(old_id), "{listed}");
    assert!(!listed.contains(old_key), "keys list printed key material");

    run(&["keys", "rotate-data"]);
    let rotated = std::fs::read_to_string(&ring_path).unwrap();
    assert_eq!(rotated.lines().count(), 2);
    assert!(rotated.lines().nth(1).unwrap().starts_with(old_id));
    assert_eq!(
        std::fs::metadata(&ring_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    run(&["keys", "rotate-data", "--staged"]);
    let staged = std::fs::read_to_string(&ring_path).unwrap();
    assert_eq!(staged.lines().count(), 3);
    let staged_id = staged.lines().nth(2).unwrap().split(':').next().unwrap().to_owned();
    run(&["keys", "promote-data", &staged_id]);
    let promoted = std::fs::read_to_string(&ring_path).unwrap();
    assert!(promoted.starts_with(&format!("{staged_id}:")));

    let (_, progress) = run(&["keys", "reencrypt", "--batch-size", "10"]);
    assert!(progress.contains("done:"), "{progress}");
    let early = somnium()
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .env("SOMNIUM_KEY_REFRESH_SECONDS", "1")
        .args(["keys", "retire-data", old_id])
        .output()
        .unwrap();
    assert!(
        !early.status.success(),
        "retiring right after a change must wait for running instances"
    );
    assert!(String::from_utf8_lossy(&early.stderr).contains("wait"));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    run(&["keys", "retire-data", old_id]);
    let retired = std::fs::read_to_string(&ring_path).unwrap();
    assert_eq!(retired.lines().count(), 2);
    assert!(!retired.contains(old_id));

    let (kid, schedule) = run(&["keys", "rotate-signing", "--activate-in", "0"]);
    assert!(schedule.contains("published"), "{schedule}");
    let (listed, _) = run(&["keys", "list"]);
    assert!(listed.contains(kid.trim()), "{listed}");
}

#[test]
fn rotate_data_prints_an_inline_ring_instead_of_writing_it() {
    let directory = tempfile::tempdir().unwrap();
    let ring = "k1:c29tbml1bS10ZXN0LWtleS0zMi1ieXRlcy1sb25nLiE=";
    let output = somnium()
        .env("SOMNIUM_DATA_DIR", directory.path().join("data"))
        .env("SOMNIUM_DATA_KEYS", ring)
        .args(["keys", "rotate-data"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.trim().strip_prefix("SOMNIUM_DATA_KEYS=").unwrap();
    assert!(line.ends_with(&format!(",{ring}")), "{line}");
}
