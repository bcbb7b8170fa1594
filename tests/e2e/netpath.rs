//! The update client's way to its server in the statically linked stub (issue 11): host names
//! resolved through the system's `getent` (with the linked-in `files`/`dns` fallback without
//! it), proxies from the environment (a forward and a `CONNECT` proxy written here, on
//! 127.0.0.1), and certificates from the system store (`SSL_CERT_FILE`, a CA made here with the
//! `openssl` tool, and `openssl s_server` serving the feed over TLS on loopback).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_tests::faults::Publisher;
use sea_tests::{run, text};

/// Packs `version` of app `hello` with the feed at `feed_url` (the world's key).
fn pack(w: &Publisher, version: &str, feed_url: &str) -> PathBuf {
    let app = w.sb.app(&format!("hello-{version}")).exec("bin/app", format!("#!/bin/sh\necho \"hello {version}\"\n"));
    let key = w.key.to_string_lossy().into_owned();
    let flags = ["--compression", "zstd:1", "--feed", feed_url, "--public-key", &w.public_key, "--sign-key", &key];
    w.sb.pack(app.path(), "hello", version, "bin/app", &flags)
}

/// Releases `binaries` into the world's feed directory with artifacts under `base`.
fn release(w: &Publisher, binaries: &[&Path], base: &str) {
    let mut cmd = w.sb.sea_pack();
    cmd.arg("release").args(binaries).arg("--base-url").arg(base).arg("-o").arg(&w.dir).arg("--sign-key").arg(&w.key);
    let out = run(&mut cmd);
    assert!(out.status.success(), "release: {}", text(&out).1);
}

/// v1 and v2 with the feed at `<base>/stable.json`, v2 released: an update of v1 installs 2.0.0.
fn two_versions(w: &Publisher, base: &str) -> PathBuf {
    let url = format!("{base}/stable.json");
    let v1 = pack(w, "1.0.0", &url);
    let v2 = pack(w, "2.0.0", &url);
    release(w, &[&v1, &v2], base);
    v1
}

fn assert_installed(out: &Output) {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "update failed: {stderr}{stdout}");
    assert!(stderr.contains("installed 2.0.0"), "{stderr}");
}

/// The port of the world's loopback server.
fn port(w: &Publisher) -> u16 {
    w.server.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("server port")
}

/// A directory holding a `getent` that logs its arguments to `<dir>/getent.log`, then runs the
/// real one.
fn logging_getent(w: &Publisher) -> PathBuf {
    let dir = w.sb.path("getent-bin");
    fs::create_dir_all(&dir).expect("mkdir");
    let real =
        ["/usr/bin/getent", "/bin/getent"].into_iter().find(|p| Path::new(p).exists()).expect("getent installed");
    let script = format!("#!/bin/sh\necho \"$*\" >> '{}/getent.log'\nexec {real} \"$@\"\n", dir.display());
    fs::write(dir.join("getent"), script).expect("write");
    sea_tests::set_mode(&dir.join("getent"), 0o755);
    dir
}

fn path_with(dir: &Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
}

#[test]
fn a_feed_named_by_host_name_is_resolved_through_getent() {
    let w = Publisher::new("hello");
    let v1 = two_versions(&w, &format!("http://localhost:{}", port(&w)));
    let bin = logging_getent(&w);
    let out = run(w.update_cmd(&v1).env("PATH", path_with(&bin)));
    assert_installed(&out);
    let log = fs::read_to_string(bin.join("getent.log")).unwrap_or_default();
    assert!(log.lines().any(|l| l == "ahosts localhost"), "the launcher asked getent: {log:?}");
}

#[test]
fn without_getent_files_and_dns_still_resolve() {
    let w = Publisher::new("hello");
    let v1 = two_versions(&w, &format!("http://localhost:{}", port(&w)));
    // A PATH without getent (the update runs no other tool).
    let empty = w.sb.path("empty-bin");
    fs::create_dir_all(&empty).expect("mkdir");
    let out = run(w.update_cmd(&v1).env("PATH", &empty));
    assert_installed(&out);
}

/// A proxy on 127.0.0.1: absolute-form requests are forwarded (one upstream connection each),
/// `CONNECT` opens a tunnel. Every request line is logged.
struct Proxy {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log2.clone();
                std::thread::spawn(move || proxy_connection(stream, &log));
            }
        });
        Proxy { port, log }
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Reads a request head: its lines without the final empty one; None at EOF.
fn read_head(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn proxy_connection(client: TcpStream, log: &Mutex<Vec<String>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut client = client;
    while let Some(head) = read_head(&mut reader) {
        let Some(first) = head.first().cloned() else { return };
        if let Ok(mut l) = log.lock() {
            l.push(first.clone());
        }
        let mut parts = first.split(' ');
        let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        if method == "CONNECT" {
            let Ok(upstream) = TcpStream::connect(target) else { return };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (Ok(mut up_read), Ok(mut client_write)) = (upstream.try_clone(), client.try_clone()) else { return };
            let down = std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_read, &mut client_write);
                let _ = client_write.shutdown(Shutdown::Write);
            });
            let mut upstream = upstream;
            // What the client sent after the head is in the reader's buffer.
            let _ = std::io::copy(&mut reader, &mut upstream);
            let _ = upstream.shutdown(Shutdown::Write);
            let _ = down.join();
            return;
        }
        // Absolute form: http://host:port/path.
        let Some(rest) = target.strip_prefix("http://") else { return };
        let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        let Ok(mut upstream) = TcpStream::connect(authority) else { return };
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        for line in &head[1..] {
            let name = line.split(':').next().unwrap_or_default().to_ascii_lowercase();
            if name != "connection" && name != "proxy-connection" {
                request.push_str(line);
                request.push_str("\r\n");
            }
        }
        request.push_str("Connection: close\r\n\r\n");
        if upstream.write_all(request.as_bytes()).is_err() {
            return;
        }
        let Some(response) = read_response(&mut BufReader::new(upstream)) else { return };
        if client.write_all(&response).is_err() {
            return;
        }
    }
}

/// One whole response: its head, then `Content-Length` bytes of body (none for a 304), so that
/// a server keeping the connection open does not hold the proxy.
fn read_response(upstream: &mut impl BufRead) -> Option<Vec<u8>> {
    let head = read_head(upstream)?;
    let status = head.first()?.split(' ').nth(1)?.to_owned();
    let length = head
        .iter()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let mut body = vec![0u8; if status == "304" { 0 } else { length? }];
    upstream.read_exact(&mut body).ok()?;
    let mut response = head.join("\r\n").into_bytes();
    response.extend_from_slice(b"\r\n\r\n");
    response.extend(body);
    Some(response)
}

#[test]
fn an_http_proxy_from_the_environment_carries_the_update() {
    let w = Publisher::new("hello");
    let v1 = two_versions(&w, &format!("http://localhost:{}", port(&w)));
    let proxy = Proxy::start();
    let bin = logging_getent(&w);
    // The proxy is named by host name too: its name goes through the resolver.
    let out = run(w
        .update_cmd(&v1)
        .env("PATH", path_with(&bin))
        .env("HTTP_PROXY", format!("http://localhost:{}", proxy.port)));
    assert_installed(&out);
    let lines = proxy.lines();
    let feed = format!("GET http://localhost:{}/stable.json HTTP/1.1", port(&w));
    assert!(lines.contains(&feed), "the feed went through the proxy: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("2.0.0")), "so did the download: {lines:?}");
    let log = fs::read_to_string(bin.join("getent.log")).unwrap_or_default();
    assert!(log.lines().any(|l| l == "ahosts localhost"), "{log:?}");

    // NO_PROXY names the host: the proxy sees nothing more.
    let before = proxy.lines().len();
    let out = run(w
        .update_cmd(&v1)
        .env("HOME", w.sb.path("other-home"))
        .env("HTTP_PROXY", format!("http://127.0.0.1:{}", proxy.port))
        .env("NO_PROXY", "localhost"));
    assert_installed(&out);
    assert_eq!(proxy.lines().len(), before, "NO_PROXY bypasses the proxy: {:?}", proxy.lines());
}

/// A CA and a certificate for `localhost` signed by it, made with the `openssl` tool.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    fs::create_dir_all(dir).expect("mkdir");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl tool is needed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=sea test CA"],
        ]
        .concat(),
    );
    openssl(&[&["req"], &ec[..], &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"]].concat());
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("leaf.pem"), dir.join("leaf.key"))
}

/// `openssl s_server -HTTP` serving `root` over TLS on 127.0.0.1; killed when dropped. In that
/// mode each file is a whole HTTP response: [`TlsServer::publish`] writes them.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    /// Writes into `root` every file of `feed` as a `200` response, and `404`s for `missing`.
    fn publish(feed: &Path, root: &Path, missing: &[&str]) {
        fs::create_dir_all(root).expect("mkdir");
        for entry in fs::read_dir(feed).expect("feed dir").flatten() {
            let body = fs::read(entry.path()).expect("read");
            let mut response = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            response.extend(body);
            fs::write(root.join(entry.file_name()), response).expect("write");
        }
        for name in missing {
            fs::write(root.join(name), "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n").expect("write");
        }
    }

    fn start(root: &Path, cert: &Path, key: &Path) -> Self {
        let mut child = Command::new("openssl")
            .args(["s_server", "-HTTP", "-accept", "127.0.0.1:0", "-cert"])
            .arg(cert)
            .arg("-key")
            .arg(key)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the openssl tool is needed");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("ACCEPT ").and_then(|a| a.rsplit(':').next()?.parse().ok()))
            .expect("s_server prints its address");
        std::thread::spawn(move || lines.for_each(drop));
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_with_a_ca_from_ssl_cert_file_directly_and_through_a_connect_proxy() {
    let w = Publisher::new("hello");
    let (ca, cert, key) = certificates(&w.sb.path("tls"));
    let root = w.sb.path("tls-root");
    fs::create_dir_all(&root).expect("mkdir");
    let tls = TlsServer::start(&root, &cert, &key);
    let v1 = two_versions(&w, &format!("https://localhost:{}", tls.port));
    // No trust statement is published: the client asks for one and gets a 404.
    TlsServer::publish(&w.dir, &root, &["trust.json", "trust.json.minisig"]);

    // The CA is not trusted: the update fails on the certificate, and installs nothing.
    let out = run(&mut w.update_cmd(&v1));
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "an unknown CA must be refused: {stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");

    // Trusted through the system store's variable: it works, directly...
    let out = run(w.update_cmd(&v1).env("SSL_CERT_FILE", &ca));
    assert_installed(&out);

    // ...and through a CONNECT proxy (a fresh home: 2.0.0 is not installed there yet).
    let proxy = Proxy::start();
    let out = run(w
        .update_cmd(&v1)
        .env("HOME", w.sb.path("proxied-home"))
        .env("SSL_CERT_FILE", &ca)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port)));
    assert_installed(&out);
    let lines = proxy.lines();
    let tunnel = format!("CONNECT localhost:{} HTTP/1.1", tls.port);
    assert!(lines.contains(&tunnel), "the update tunnelled through the proxy: {lines:?}");
}
