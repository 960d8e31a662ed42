//! `tests/peers/smtp_capture.py`: a real SMTP server (aiosmtpd, with AUTH) writing each message
//! to a maildir, read back by Python's email package as a mail client would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_server::config::SmtpConfig;
use gatehouse_server::Secret;
use serde_json::Value;

/// The account the server signs in to the peer with.
const USER: &str = "mailer";
const PASS: &str = "mail-secret";

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn python() -> PathBuf {
    let py = peers().join(".venv/bin/python");
    assert!(
        py.exists(),
        "aiosmtpd is not installed: run scripts/setup.sh (it creates tests/peers/.venv)"
    );
    py
}

pub struct SmtpPeer {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpPeer {
    pub fn start() -> SmtpPeer {
        let maildir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let child = Command::new(python())
            .arg(peers().join("smtp_capture.py"))
            .args(["127.0.0.1", &port.to_string()])
            .arg(maildir.path().join("box"))
            .args([USER, PASS])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpPeer {
            child,
            port,
            maildir,
        }
    }

    /// The server's `[smtp]` for this peer (plain SMTP with AUTH, as on a private relay).
    pub fn config(&self) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            security: "none".into(),
            username: Some(USER.into()),
            password: Some(Secret::new(PASS)),
            from: "Gatehouse <no-reply@gatehouse.test>".into(),
        }
    }

    /// The first link in the newest mail to `rcpt` whose URL matches `pattern` (waits up to
    /// 10 s; MIME-decoded by Python's email package, as a mail client would).
    pub fn link(&self, rcpt: &str, pattern: &str) -> String {
        let out = Command::new(python())
            .arg(peers().join("readmail.py"))
            .arg(self.maildir.path().join("box"))
            .args([rcpt, pattern, "10"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "no mail to {rcpt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Every captured mail to `rcpt` as `{subject, body}`.
    pub fn mails(&self, rcpt: &str) -> Vec<Value> {
        const READ: &str = r#"
import email, email.policy, json, mailbox, sys
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
out = []
for key in box.keys():
    m = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
    if sys.argv[2].lower() in (m.get("X-RcptTo", "") + "," + m.get("To", "")).lower():
        body = m.get_body(preferencelist=("plain", "html")).get_content()
        out.append({"subject": str(m["Subject"]), "body": body})
print(json.dumps(out))
"#;
        let out = Command::new(python())
            .args(["-c", READ])
            .arg(self.maildir.path().join("box"))
            .arg(rcpt)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    /// Waits for a mail to `rcpt` whose subject contains `subject`.
    pub async fn wait_for(&self, rcpt: &str, subject: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(m) = self
                .mails(rcpt)
                .into_iter()
                .find(|m| m["subject"].as_str().unwrap().contains(subject))
            {
                return m;
            }
            assert!(Instant::now() < deadline, "no {subject:?} mail to {rcpt}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
