//! Outgoing mail: SMTP through lettre when configured, otherwise the dev outbox — every message
//! appended as one JSON line to `<data-dir>/outbox.jsonl` (and logged without its links, which
//! carry secrets). Sending happens in the background so that answering does not depend on whether
//! a mail was sent (no timing side channel between known and unknown addresses).

use std::path::PathBuf;
use std::sync::Arc;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Mutex;

use crate::config::SmtpConfig;

#[derive(Clone, Serialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Links in the body, so tools and tests need not parse text.
    pub links: Vec<String>,
    /// `email` or `sms` (the dev outbox holds both).
    pub channel: &'static str,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub enum Mailer {
    Outbox {
        path: PathBuf,
        lock: Arc<Mutex<()>>,
    },
    // Boxed: the transport (with its connection pool) is far larger than the outbox variant.
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Outbox { path, .. } => write!(f, "Mailer::Outbox({})", path.display()),
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
        }
    }
}

impl Mailer {
    pub fn new(smtp: Option<&SmtpConfig>, data_dir: &std::path::Path) -> anyhow::Result<Mailer> {
        let Some(smtp) = smtp else {
            let path = data_dir.join("outbox.jsonl");
            // The outbox holds live links and codes: 0600, narrowed when an older run left it
            // wider (new files are created 0600 in `deliver`).
            crate::files::tighten(&path, crate::files::PRIVATE_FILE)?;
            return Ok(Mailer::Outbox {
                path,
                lock: Arc::new(Mutex::new(())),
            });
        };
        // `none` is for a relay on this machine or a private network; anything across the
        // internet should use `starttls` (port 587) or `tls` (port 465), verified against the
        // Web PKI roots.
        let builder = match smtp.security.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| anyhow::anyhow!("smtp.host {:?}: {e}", smtp.host))?,
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| anyhow::anyhow!("smtp.host {:?}: {e}", smtp.host))?,
            other => anyhow::bail!(
                "smtp.security must be \"none\", \"starttls\" or \"tls\" (got {other:?})"
            ),
        };
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(std::time::Duration::from_secs(10)));
        if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user.clone(),
                    pass.expose().to_string(),
                ));
        }
        let from = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp.from {:?} is not a mail address: {e}", smtp.from))?;
        Ok(Mailer::Smtp {
            transport: Box::new(builder.build()),
            from,
        })
    }

    /// Queues a message; failures are logged, never surfaced to the requester.
    pub fn send(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.deliver(&mail).await {
                tracing::warn!(
                    to = %mail.to, subject = %mail.subject, error = %e,
                    "mail delivery failed"
                );
            }
        });
    }

    pub async fn deliver(&self, mail: &Mail) -> anyhow::Result<()> {
        match self {
            Mailer::Outbox { path, lock } => {
                let mut line = serde_json::to_vec(&OutboxLine {
                    at: crate::clock::Clock::default().now(),
                    mail,
                })?;
                line.push(b'\n');
                let _guard = lock.lock().await;
                let mut options = tokio::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                options.mode(crate::files::PRIVATE_FILE);
                let mut file = options.open(path).await?;
                file.write_all(&line).await?;
                file.flush().await?;
                tracing::info!(
                    to = %mail.to, subject = %mail.subject, outbox = %path.display(),
                    "mail written to the dev outbox"
                );
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(mail.to.parse()?)
                    .subject(mail.subject.clone())
                    .body(mail.text.clone())?;
                transport.send(message).await?;
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail sent over SMTP");
                Ok(())
            }
        }
    }
}

#[derive(Serialize)]
struct OutboxLine<'a> {
    at: i64,
    #[serde(flatten)]
    mail: &'a Mail,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(security: &str) -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            security: security.into(),
            username: None,
            password: None,
            from: "Gatehouse <no-reply@example.com>".into(),
        }
    }

    #[tokio::test]
    async fn every_documented_smtp_security_mode_builds_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in ["none", "starttls", "tls"] {
            assert!(
                matches!(
                    Mailer::new(Some(&smtp(mode)), dir.path()).unwrap(),
                    Mailer::Smtp { .. }
                ),
                "{mode}"
            );
        }
        let err = Mailer::new(Some(&smtp("ssl3")), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("starttls"), "{err}");
        let bad_from = SmtpConfig {
            from: "not an address".into(),
            ..smtp("none")
        };
        assert!(Mailer::new(Some(&bad_from), dir.path())
            .unwrap_err()
            .to_string()
            .contains("smtp.from"));
        assert!(matches!(
            Mailer::new(None, dir.path()).unwrap(),
            Mailer::Outbox { .. }
        ));
    }
}
