//! The moving parts of a deployment on one machine: `gatehoused` processes (the real binary,
//! each with its own data folder, all on one database, all given the same key-encryption key)
//! and HAProxy (Debian's) in front of them with an HTTP health check, plus HAProxy as the TCP
//! switch in front of the PostgreSQL primary and its standby.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::free_port;
use crate::support::{gatehoused, APP};

/// Rate limits off: the load tests measure failures, not budgets.
pub const NO_LIMITS: &str = "[rate_limits]\nenabled = false\n";

/// The key-encryption key every instance of a test cluster shares (base64 of 32 bytes).
pub const KEK: &str = "dGVzdC1jbHVzdGVyLWtleS1lbmNyeXB0aW9uLWtleSE=";

pub struct Instance {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
}

impl Instance {
    /// Writes the instance's configuration (fast test hashing; `extra_toml` appended, e.g. a
    /// `[rate_limits]` table) and starts it; returns once `/health/ready` answers 204.
    pub async fn start(root: &Path, name: &str, database_url: &str, extra_toml: &str) -> Instance {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\n\
             data_dir = \"{data}\"\n\
             database_url = \"{database_url}\"\n\
             [passwords]\n\
             argon2_memory_kib = 256\n\
             argon2_iterations = 1\n\
             insecure_fast_hashing = true\n\
             [apps.{APP}]\n\
             name = \"Cluster\"\n\
             providers = [\"anon-user\", \"local-userpass\", \"api-key\"]\n\
             [apps.{APP}.userpass]\n\
             auto_confirm = true\n\
             {extra_toml}\n",
            data = dir.join("data").display(),
        );
        std::fs::write(dir.join("gatehoused.toml"), config).unwrap();
        let mut instance = Instance {
            port,
            child: None,
            dir,
        };
        instance.spawn();
        instance.wait_ready().await;
        instance
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap();
        let mut cmd = Command::new(gatehoused());
        for (name, _) in std::env::vars() {
            if name.starts_with("GATEHOUSE_") {
                cmd.env_remove(name);
            }
        }
        let child = cmd
            .arg("--config")
            .arg(self.dir.join("gatehoused.toml"))
            .env("GATEHOUSE_KEY_ENCRYPTION_KEY", KEK)
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The mails this instance sent (its dev outbox: no SMTP server is configured), one JSON
    /// document each.
    pub fn outbox(&self) -> Vec<serde_json::Value> {
        let path = self.dir.join("data").join("outbox.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    pub async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("gatehoused exited ({status}): {}", self.log());
            }
            let ready = http
                .get(format!("{}/health/ready", self.url()))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 204);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gatehoused never got ready: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `kill -9`: the instance vanishes with whatever it had in flight.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// HAProxy with a configuration written here; stopped on drop.
pub struct Haproxy {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Haproxy {
    /// HTTP load balancing over `backends` (round robin), each checked at `/health/ready` every
    /// 200 ms; a connection that fails is retried on another instance (`retry-on
    /// conn-failure`, `redispatch`): what dies in flight fails, nothing else does.
    pub async fn http(dir: &Path, backends: &[u16]) -> Haproxy {
        let port = free_port();
        let mut servers = String::new();
        for (i, b) in backends.iter().enumerate() {
            servers.push_str(&format!(
                "    server g{i} 127.0.0.1:{b} check inter 200ms fall 1 rise 2\n"
            ));
        }
        let config = format!(
            "global\n    maxconn 1024\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n\
             \x20   timeout server 30s\n    retries 3\n    option redispatch 1\n\
             \x20   retry-on conn-failure empty-response response-timeout\n\
             frontend web\n    bind 127.0.0.1:{port}\n    default_backend gatehoused\n\
             backend gatehoused\n    balance roundrobin\n\
             \x20   option httpchk GET /health/ready\n    http-check expect status 204\n\
             {servers}"
        );
        Haproxy::start(dir, "haproxy-http.cfg", &config, port).await
    }

    /// TCP switch in front of PostgreSQL: the primary, and the standby as the backup used when
    /// the primary is down (TCP check every 200 ms). TLS passes through untouched.
    pub async fn postgres(dir: &Path, primary: u16, standby: u16) -> Haproxy {
        let port = free_port();
        let config = format!(
            "global\n    maxconn 1024\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 60s\n\
             \x20   timeout server 60s\n\
             listen postgres\n    bind 127.0.0.1:{port}\n    option tcp-check\n\
             \x20   default-server inter 200ms fall 1 rise 2 on-marked-down shutdown-sessions\n\
             \x20   server primary 127.0.0.1:{primary} check\n\
             \x20   server standby 127.0.0.1:{standby} check backup\n"
        );
        Haproxy::start(dir, "haproxy-pg.cfg", &config, port).await
    }

    async fn start(dir: &Path, name: &str, config: &str, port: u16) -> Haproxy {
        let path = dir.join(name);
        std::fs::write(&path, config).unwrap();
        let check = Command::new("haproxy")
            .args(["-c", "-q", "-f"])
            .arg(&path)
            .output()
            .expect("haproxy runs (Debian package haproxy; scripts/setup.sh)");
        assert!(
            check.status.success(),
            "haproxy refuses {}: {}",
            path.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "haproxy never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Haproxy {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
