//! A real nginx (Debian's `nginx` package) as the reverse proxy in front of a test server,
//! configured the way deployment guides and most setups do it:
//!
//! ```nginx
//! proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
//! ```
//!
//! which *appends* the connecting address to whatever `X-Forwarded-For` the client sent. So the
//! leftmost hop is the client's to choose, and only the hops nginx added can be believed.
//!
//! nginx listens on 127.0.0.1 and connects upstream from `UPSTREAM_SOURCE` (127.0.0.2), so the
//! server can tell the proxy (a trusted peer) from the test client (127.0.0.1, never trusted).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// The address nginx's connections to the upstream come from: the one to list in
/// `rate_limits.trusted_proxies`.
pub const UPSTREAM_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, the proxy's own address.
    pub base: String,
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is not installed: run scripts/setup.sh (it installs Debian's nginx)")
}

fn config(dir: &std::path::Path, port: u16, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_bind {UPSTREAM_SOURCE};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"#
    )
}

impl Nginx {
    /// Starts nginx proxying every path to `upstream` (e.g. `http://127.0.0.1:PORT`) and waits
    /// until it accepts connections (≤ 10 s).
    pub fn start(upstream: &str) -> Nginx {
        let binary = nginx_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        for attempt in 0..3 {
            let port = free_port();
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, config(dir.path(), port, upstream)).expect("write nginx.conf");
            let mut child = Command::new(&binary)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nginx starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    let log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    if attempt < 2 && log.contains("Address already in use") {
                        break; // the port was taken between our probe and nginx's bind
                    }
                    panic!("nginx exited ({status}): {log}");
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx {
                        child,
                        dir,
                        base: format!("http://127.0.0.1:{port}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx did not start in {}", dir.path().display());
    }

    /// The proxy's error log so far (for assertion messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
