//! What the running binary writes to its log: one line per request, no secret ever, and a clean
//! exit on SIGTERM.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

struct Server {
    child: Child,
    base: String,
    _directory: tempfile::TempDir,
    data_dir: std::path::PathBuf,
}

fn start() -> Server {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_somnium"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOMNIUM_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("SOMNIUM_DATA_DIR", &data_dir)
        .env("SOMNIUM_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("SOMNIUM_SHUTDOWN_GRACE_SECONDS", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _directory: directory,
        data_dir,
    }
}

async fn wait_until_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{base}/health/ready")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready");
}

fn stop(mut server: Server) -> (Option<i32>, String) {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    let mut log = String::new();
    server.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    (exit.code(), log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secret_and_sigterm_exits_cleanly() {
    let server = start();
    let client = reqwest::Client::new();
    let base = server.base.clone();
    wait_until_ready(&client, &base).await;

    let email = "Logged.Patient@Example.test";
    let password = "Quiet-Ward-7#Lumen";
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let registered = post(
        "/api/v1/auth/register",
        json!({ "email": email, "password": password, "full_name": "Ada Reed" }),
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), 201);
    let wrong = post(
        "/api/v1/auth/login",
        json!({ "email": email, "password": "Wrong-Ward-7#Lumen" }),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    let login: Value = post("/api/v1/auth/login", json!({ "email": email, "password": password }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let refreshed: Value = post("/api/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let logout = client
        .post(format!("{base}/api/v1/auth/logout"))
        .bearer_auth(&access)
        .header("x-request-id", "trace-logout-1")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);

    let database = server.data_dir.join("somnium.db");
    let hash = Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select password_hash from users').fetchone()[0])"])
        .arg(&database)
        .output()
        .unwrap();
    let password_hash = String::from_utf8(hash.stdout).unwrap().trim().to_owned();
    assert!(password_hash.starts_with("$argon2id$"));

    let (code, log) = stop(server);
    assert_eq!(code, Some(0), "SIGTERM ends the process with exit code 0");

    let mut secrets = vec![
        ("password", password.to_owned()),
        ("wrong password", "Wrong-Ward-7#Lumen".to_owned()),
        ("email", email.to_owned()),
        ("normalized email", email.to_lowercase()),
        ("access token", login["access_token"].as_str().unwrap().to_owned()),
        ("refreshed access token", access.clone()),
        ("refresh token", refresh.clone()),
        (
            "rotated refresh token",
            refreshed["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("device token", login["device_token"].as_str().unwrap().to_owned()),
        ("password hash", password_hash),
    ];
    for token in [refresh.clone(), refreshed["refresh_token"].as_str().unwrap().to_owned()] {
        secrets.push(("refresh token hash", hex::encode(Sha256::digest(token.as_bytes()))));
    }
    // A JWT's signature part alone would betray a leak even if the rest was cut.
    secrets.push(("access token signature", access.rsplit('.').next().unwrap().to_owned()));

    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        for (what, secret) in &secrets {
            assert!(!line.contains(secret.as_str()), "the log contains the {what}: {line}");
        }
    }

    let requests: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["message"] == "request")
        .collect();
    let logout_line = requests
        .iter()
        .find(|entry| entry["request_id"] == "trace-logout-1")
        .expect("the logout request is logged with its request id");
    assert_eq!(logout_line["method"], "POST");
    assert_eq!(logout_line["path"], "/api/v1/auth/logout");
    assert_eq!(logout_line["status"], 204);
    assert!(logout_line["latency_ms"].is_number());
    assert!(log.contains("somnium stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_logs_the_shutdown_and_exits_0() {
    let server = start();
    let client = reqwest::Client::new();
    let base = server.base.clone();
    wait_until_ready(&client, &base).await;
    let (code, log) = stop(server);
    let not_debug: Vec<&str> = log
        .lines()
        .filter(|line| !line.contains(r#""level":"DEBUG""#))
        .collect();
    assert_eq!(code, Some(0), "{}", not_debug.join("\n"));
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn config_check_validates_without_starting() {
    let directory = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_somnium"));
        command
            .env_clear()
            .env("SOMNIUM_DATA_DIR", directory.path().join("data"));
        for (name, value) in vars {
            command.env(name, value);
        }
        command.args(["config", "check"]).output().unwrap()
    };
    let missing_key = run(&[("SOMNIUM_SIGNING_KEY_FILE", "/nonexistent/key.pem")]);
    assert_eq!(missing_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing_key.stderr).contains("SOMNIUM_SIGNING_KEY_FILE"));

    let missing_ring = run(&[("SOMNIUM_DATA_KEYS_FILE", "/nonexistent/data-keys")]);
    assert_eq!(missing_ring.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing_ring.stderr).contains("SOMNIUM_DATA_KEYS_FILE"));

    let production = run(&[
        ("SOMNIUM_ENV", "production"),
        ("DATABASE_URL", "postgres://db/x"),
        ("SOMNIUM_DATA_KEYS_FILE", "/data-keys"),
        ("SOMNIUM_BLIND_INDEX_KEY_FILE", "/blind-index-key"),
    ]);
    assert_eq!(production.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&production.stderr).contains("SOMNIUM_TLS_CERT"));

    let star = run(&[("SOMNIUM_CORS_ORIGINS", "*")]);
    assert_eq!(star.status.code(), Some(2));

    let fine = run(&[]);
    assert!(fine.status.success(), "{}", String::from_utf8_lossy(&fine.stderr));
    assert!(String::from_utf8_lossy(&fine.stdout).contains("configuration is valid"));
}
