//! pgbouncer in transaction-pooling mode between the instances and PostgreSQL: every
//! transaction may run on another server connection, so sqlx's named prepared statements only
//! work because pgbouncer (1.21 and later) tracks them (`max_prepared_statements`) and prepares
//! them again where needed. It reaches PostgreSQL over TLS with full verification. Built from
//! Debian 13's source package by scripts/setup.sh (Debian 12's 1.18 cannot do this).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::postgres::PgNode;
use crate::peers::free_port;

pub const PGBOUNCER: &str = "/opt/gatehouse-peers/pgbouncer-1.24.1/bin/pgbouncer";

pub struct Pgbouncer {
    child: Child,
    pub port: u16,
    ini: PathBuf,
}

impl Pgbouncer {
    /// Starts pgbouncer (as the `postgres` user: it refuses root) in front of `pg`.
    pub async fn start(root: &Path, pg: &PgNode, ca: &Path) -> Pgbouncer {
        assert!(
            Path::new(PGBOUNCER).exists(),
            "{PGBOUNCER} is missing: run scripts/setup.sh (it builds pgbouncer 1.24.1)"
        );
        let dir: PathBuf = root.join("pgbouncer");
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let config = format!(
            "[databases]\n* = host=localhost port={pg_port}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {users}\n\
             pool_mode = transaction\nmax_prepared_statements = 200\n\
             max_client_conn = 500\ndefault_pool_size = 8\n\
             server_tls_sslmode = verify-full\nserver_tls_ca_file = {ca}\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            pg_port = pg.port,
            users = dir.join("users.txt").display(),
            ca = ca.display(),
        );
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&ini, config).unwrap();
        let owned = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(owned.success());
        let log = std::fs::File::create(dir.join("pgbouncer.log")).unwrap();
        let child = Command::new("runuser")
            .args(["-u", "postgres", "--", PGBOUNCER])
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pgbouncer never listened: {}",
                std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Pgbouncer { child, port, ini }
    }

    /// The instances' database URL: plain TCP to pgbouncer on loopback.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        // runuser's child is pgbouncer; ending runuser ends it.
        let _ = Command::new("pkill")
            .args(["-f", &format!("{PGBOUNCER} {}", self.ini.display())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
