//! A real static web server — nginx, the Debian package — on a loopback port, serving a release
//! directory exactly as a CDN would: `GET`, `Range` answered with `206`, its own keep-alive and
//! buffering. For checks that the client works against a server nobody wrote for it, beside the
//! in-process [`crate::server::Server`] that injects faults.
//!
//! [`Nginx::start`] returns `None` when nginx is not installed (`scripts/test.sh` installs it
//! when it may); callers then print that they skipped.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package installs nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx; stopped (killed by its pid) when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// Serves `root` on a free port of 127.0.0.1, with its configuration, logs and temporary
    /// files in `work`; `None` when nginx is not installed.
    pub fn start(root: &Path, work: &Path) -> Option<Self> {
        if !Path::new(NGINX).exists() {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        fs::create_dir_all(work.join("tmp")).expect("mkdir");
        let w = work.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {w}/nginx.pid;\nerror_log {w}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {w}/access.log;\n  client_body_temp_path {w}/tmp/body;\n  proxy_temp_path {w}/tmp/proxy;\n  \
             fastcgi_temp_path {w}/tmp/fastcgi;\n  uwsgi_temp_path {w}/tmp/uwsgi;\n  scgi_temp_path {w}/tmp/scgi;\n  \
             default_type application/octet-stream;\n  types {{ application/json json; }}\n  \
             server {{\n    listen 127.0.0.1:{port};\n    root {};\n    location / {{ }}\n  }}\n}}\n",
            root.display()
        );
        let conf_path = work.join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(NGINX)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(work)
            .arg("-e")
            .arg(work.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let server = Self { child, port, dir: work.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen: {}", server.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access log: one line per request, with its status (`206` for a range).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// The error log, for failure messages.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
