//! Operator commands: the first administrator, and the audit trail's verification and pruning.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use secrecy::SecretString;
use somnium::config::Config;
use somnium_application::{AdminError, AuditPruneError, CreateUserRequest};
use somnium_domain::audit::ChainVerification;
use somnium_domain::{Email, FullName, Password, RequestContext, Role};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn cli_context() -> RequestContext {
    RequestContext {
        client_ip: None,
        user_agent: Some("somnium-cli".to_owned()),
        request_id: None,
    }
}

/// Reads the password from a prompt on a terminal, or as one line of standard input otherwise,
/// so it never appears in the process list or shell history.
fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("could not read the password")?;
        let second = rpassword::prompt_password("Repeat the password: ").context("could not read the password")?;
        if first != second {
            bail!("the two passwords differ");
        }
        return Ok(SecretString::from(first));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input; pipe it in, for example: somnium create-admin --email … < password.txt");
    }
    Ok(SecretString::from(password))
}

pub async fn create_admin(config: &Config, email: &str, full_name: &str, force: bool) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|error| anyhow::anyhow!("--email is invalid: {error}"))?;
    let full_name = FullName::parse(full_name).map_err(|error| anyhow::anyhow!("--full-name is invalid: {error}"))?;
    let auth = somnium::auth_service(config).await?;
    let admins = auth.count_active_admins().await?;
    if admins > 0 && !force {
        bail!("{admins} active administrator(s) exist already; pass --force to create another");
    }

    let password = read_password()?;
    let password = Password::new(password).map_err(|error| anyhow::anyhow!("the password is invalid: {error}"))?;
    let request = CreateUserRequest {
        email,
        full_name,
        role: Role::Admin,
        temporary_password: password,
    };
    match auth.create_user(None, request, &cli_context()).await {
        Ok(user) => {
            println!("created administrator {}", user.id);
            Ok(())
        }
        Err(AdminError::WeakPassword(violations)) => {
            let rules: Vec<String> = violations
                .iter()
                .map(|violation| format!("{} ({})", violation.message, violation.code.as_str()))
                .collect();
            bail!("the password does not meet the password policy: {}", rules.join("; "))
        }
        Err(AdminError::EmailTaken) => bail!("an account with this email exists already"),
        Err(error) => Err(error).context("could not create the administrator"),
    }
}

pub async fn verify_audit(config: &Config) -> anyhow::Result<()> {
    let auth = somnium::auth_service(config).await?;
    match auth.verify_audit_trail(None, &cli_context()).await? {
        ChainVerification::Intact {
            events,
            last_sequence,
            checkpoint_sequence,
        } => {
            match checkpoint_sequence {
                Some(first) => {
                    println!("audit trail intact: {events} events from checkpoint {first} to {last_sequence}")
                }
                None => println!("audit trail intact: {events} events, last sequence {last_sequence}"),
            }
            Ok(())
        }
        ChainVerification::Broken { sequence, reason, .. } => {
            println!("audit trail BROKEN at sequence {sequence}: {reason}");
            std::process::exit(1);
        }
    }
}

pub async fn prune_audit(config: &Config, before: &str) -> anyhow::Result<()> {
    let before = OffsetDateTime::parse(before, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{before}T00:00:00Z"), &Rfc3339))
        .map_err(|_| anyhow::anyhow!("--before must be an RFC 3339 time or a date such as 2019-01-01"))?;
    let auth = somnium::auth_service(config).await?;
    match auth
        .prune_audit_trail(before, config.audit_retention, &cli_context())
        .await
    {
        Ok(outcome) => {
            println!(
                "pruned {} events; the chain now starts at sequence {}",
                outcome.pruned, outcome.first_sequence
            );
            Ok(())
        }
        Err(AuditPruneError::InsideRetention { retained_from, .. }) => bail!(
            "refusing to prune: events after {} are inside the retention period (SOMNIUM_AUDIT_RETENTION_DAYS)",
            retained_from.format(&Rfc3339).unwrap_or_default()
        ),
        Err(error) => Err(error).context("could not prune the audit trail"),
    }
}

/// Checks what `serve` would load before it binds: the signing key and the TLS files. The
/// variables themselves were validated when the configuration was read.
pub fn check_config(config: &Config) -> anyhow::Result<()> {
    // Development keys that do not exist yet are generated at the first start.
    somnium::keys::check_key_material(config)?;
    if let Some(tls) = &config.tls {
        for (variable, path) in [("SOMNIUM_TLS_CERT", &tls.cert), ("SOMNIUM_TLS_KEY", &tls.key)] {
            std::fs::metadata(path).with_context(|| format!("{variable}: cannot read {}", path.display()))?;
        }
    }
    Ok(())
}

/// Asks the local instance's readiness endpoint over plain HTTP, or only checks that the port
/// accepts connections when native TLS is on.
pub async fn healthcheck(config: &Config) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut address = config.listen_addr;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        if config.tls.is_some() {
            return Some(true);
        }
        let request = format!("GET /health/ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(3), attempt).await,
        Ok(Some(true))
    )
}
