//! A real nginx serving a directory on a free loopback port, for tests that need exactly what a
//! static web server or CDN answers: its `ETag`, `Last-Modified`, `304 Not Modified` and `Range`.
//!
//! nginx runs in the foreground as one process (`daemon off; master_process off`) with a
//! configuration, logs and temporary directories of its own in a temporary directory; it is
//! killed (by its pid) when the [`Nginx`] is dropped. The access log records, per request, the
//! URI, the status, the body bytes sent and the conditional and `Range` headers received.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The request URI.
    pub uri: String,
    /// The status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// `If-None-Match` as received (`-` when absent).
    pub if_none_match: String,
    /// `If-Modified-Since` as received (`-` when absent).
    pub if_modified_since: String,
    /// `Range` as received (`-` when absent).
    pub range: String,
}

/// A running nginx; killed when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// Where nginx is, if installed (`/usr/sbin` is not on every `PATH`).
pub fn binary() -> Option<PathBuf> {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.is_file() {
        return Some(sbin);
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("nginx")).find(|p| p.is_file())
}

impl Nginx {
    /// Serves `root` on a free port of 127.0.0.1; `None` when nginx is not installed.
    pub fn start(root: &Path) -> Option<Self> {
        let nginx = binary()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  default_type application/octet-stream;\n  types {{ application/json json; }}\n\
               log_format sea '$request_uri $status $body_bytes_sent \"$http_if_none_match\" \"$http_if_modified_since\" \"$http_range\"';\n\
               access_log {d}/access.log sea;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {root}; location / {{ }} }}\n}}\n",
            root = root.display()
        );
        let conf_path = dir.path().join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let mut nginx = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
                panic!("nginx exited with {status} at start: {log}");
            }
            assert!(Instant::now() < deadline, "nginx did not listen on 127.0.0.1:{port} within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(nginx)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests served so far, oldest first.
    pub fn log(&self) -> Vec<Logged> {
        let text = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines().filter_map(parse_line).collect()
    }
}

fn parse_line(line: &str) -> Option<Logged> {
    let mut parts = line.splitn(4, ' ');
    let uri = parts.next()?.to_owned();
    let status = parts.next()?.parse().ok()?;
    let bytes = parts.next()?.parse().ok()?;
    let quoted: Vec<&str> = parts.next()?.split('"').filter(|s| !s.trim().is_empty()).collect();
    let field = |i: usize| quoted.get(i).map_or("-".to_owned(), |s| (*s).to_owned());
    Some(Logged { uri, status, bytes, if_none_match: field(0), if_modified_since: field(1), range: field(2) })
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_parse() {
        // nginx writes a `"` inside a value as `\x22`.
        let l = parse_line(r#"/stable.json 304 0 "\x2265f-1\x22" "Tue, 01 Dec 2026 19:00:00 GMT" "-""#).expect("line");
        assert_eq!(l.uri, "/stable.json");
        assert_eq!(l.status, 304);
        assert_eq!(l.if_none_match, "\\x2265f-1\\x22");
        assert_eq!(l.if_modified_since, "Tue, 01 Dec 2026 19:00:00 GMT");
        assert_eq!(l.range, "-");
    }
}
