//! Real PostgreSQL servers for the cluster tests (Debian's `postgresql-15`), made by the test:
//! a primary that serves TLS only (`hostssl`, the test CA's certificate for `localhost`), and a
//! synchronous streaming standby cloned from it with `pg_basebackup -R`, which the test
//! promotes after killing the primary. `synchronous_commit = on` with `synchronous_standby_names
//! = '*'`: a commit is acknowledged only once the standby has it — the property the failover
//! test relies on. Owned by the `postgres` OS user (initdb refuses root); stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tls::TestCa;
use crate::peers::free_port;

pub struct PgNode {
    pub port: u16,
    data: PathBuf,
    bin: PathBuf,
    stopped: bool,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/setup.sh)")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL server under /usr/lib/postgresql")
}

/// Runs a PostgreSQL program as the `postgres` user (the tests run as root).
fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A folder the `postgres` user may use: under `root` (made traversable), owned by postgres.
fn postgres_dir(root: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    dir
}

impl PgNode {
    /// A TLS-only primary with the CA's server certificate.
    pub fn primary(root: &Path, name: &str, ca: &TestCa) -> PgNode {
        let bin = pg_bin();
        let dir = postgres_dir(root, name);
        let data = dir.join("data");
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        for (from, to) in [
            (&ca.server_cert, "server.crt"),
            (&ca.server_key, "server.key"),
        ] {
            std::fs::copy(from, data.join(to)).unwrap();
        }
        let conf = String::from(
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             synchronous_commit = on\nwal_level = replica\nmax_wal_senders = 5\n\
             wal_keep_size = '64MB'\nfsync = off\nfull_page_writes = off\n",
        );
        append(&data.join("postgresql.conf"), &conf);
        // TLS for every client; plain connections are refused. Replication (the standby) too.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl replication all 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        own(&data);
        let mut node = PgNode {
            port: free_port(),
            data,
            bin,
            stopped: true,
        };
        node.start();
        node
    }

    /// A streaming standby of `primary`, cloned now (`pg_basebackup -R`), hot (readable).
    pub fn standby_of(primary: &PgNode, root: &Path, name: &str) -> PgNode {
        let dir = postgres_dir(root, name);
        let data = dir.join("data");
        let source = format!(
            "host=localhost port={} user=postgres sslmode=require application_name={name}",
            primary.port
        );
        as_postgres(
            &primary.bin.join("pg_basebackup"),
            &[
                "-d",
                &source,
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                // Not a spread checkpoint: that would wait minutes for nothing.
                "--checkpoint=fast",
                "--no-sync",
            ],
        );
        // Once promoted it stands alone: waiting for a standby of its own would hang every
        // commit (pg_basebackup copied the primary's setting).
        append(
            &data.join("postgresql.conf"),
            "synchronous_standby_names = ''\n",
        );
        let mut node = PgNode {
            port: free_port(),
            data,
            bin: primary.bin.clone(),
            stopped: true,
        };
        node.start();
        node
    }

    fn start(&mut self) {
        let log = self.data.parent().unwrap().join("server.log");
        let socket = self.data.parent().unwrap().to_str().unwrap().to_string();
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {socket}", self.port);
        as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
        self.stopped = false;
    }

    /// The URL a client uses with full verification against `ca` (host `localhost`).
    pub fn url(&self, ca: &Path, database: &str) -> String {
        verify_full_url("localhost", self.port, ca, database)
    }

    /// Runs one SQL statement as the superuser over the local socket; its output.
    pub fn sql(&self, statement: &str) -> String {
        self.sql_in("postgres", statement)
    }

    /// [`PgNode::sql`] in `database`.
    pub fn sql_in(&self, database: &str, statement: &str) -> String {
        let socket = self.data.parent().unwrap().to_str().unwrap().to_string();
        let out = as_postgres(
            Path::new("/usr/bin/psql"),
            &[
                "-h",
                &socket,
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `kill -9` of the postmaster: the machine's PostgreSQL vanishes mid-transaction.
    pub fn kill(&mut self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        let ok = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(ok.success());
        self.stopped = true;
    }

    /// From now on a commit waits until a standby has it (`synchronous_standby_names = '*'`).
    pub fn require_synchronous_standby(&self) {
        self.sql("ALTER SYSTEM SET synchronous_standby_names = '*'");
        self.sql("SELECT pg_reload_conf()");
    }

    /// Turns a standby into a primary (`pg_ctl promote`, waiting until it accepts writes).
    pub fn promote(&self) {
        as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "promote",
            ],
        );
    }
}

impl Drop for PgNode {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
                .output();
        }
    }
}

pub fn verify_full_url(host: &str, port: u16, ca: &Path, database: &str) -> String {
    format!(
        "postgres://postgres@{host}:{port}/{database}?sslmode=verify-full&sslrootcert={}",
        ca.display()
    )
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Gives the data folder's new files to postgres, the key private (PostgreSQL insists).
fn own(data: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        data.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(data)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}
