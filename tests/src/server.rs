//! A real HTTP/1.1 file server on 127.0.0.1, for update tests, with faults on demand.
//!
//! It serves a directory (`sea-pack release` output) the way any static server would — `GET`,
//! `Content-Length`, `Range: bytes=N-` answered with `206` — over real TCP, so the launcher's
//! reqwest client, timeouts and resume logic run for real. Faults are set per path suffix:
//! an HTTP status, a connection that is accepted and never answered, a body cut short, a
//! flipped byte, a body dripped one byte at a time (a slow-retrieval attack). Every request is logged for assertions (e.g. that a resume used `Range`).
//! Like a static server it sends an `ETag` (a hash of the content) and answers a matching
//! `If-None-Match` with `304 Not Modified` and no body; the log records the status and the body
//! bytes sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fault to inject for paths ending with a given suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Accept the connection, read the request, never answer.
    Hang,
    /// Announce the full length, send only this many bytes, close.
    Truncate(usize),
    /// Flip the byte at this offset of the body.
    Corrupt(usize),
    /// Ignore `Range` headers (always answer 200 with the whole file).
    NoRange,
    /// Answer the head at once, then send the body one byte per interval (never silent for
    /// long, so a read timeout never fires), until done or the client goes away.
    Drip(Duration),
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The status answered (0 when the connection was held or dropped without an answer).
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes: usize,
}

#[derive(Default)]
struct State {
    faults: HashMap<String, Fault>,
    log: Vec<Request>,
    held: Vec<TcpStream>,
}

/// A running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({})", self.addr)
    }
}

impl Server {
    /// Serves `root` on an ephemeral port of 127.0.0.1.
    pub fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(State::default()));
        let (root, stop2, state2) = (root.to_owned(), stop.clone(), state.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (root, state) = (root.clone(), state2.clone());
                std::thread::spawn(move || serve(stream, &root, &state));
            }
        });
        Self { addr, stop, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects `fault` for every path ending with `suffix`.
    pub fn fault(&self, suffix: &str, fault: Fault) {
        self.state.lock().expect("lock").faults.insert(suffix.to_owned(), fault);
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        self.state.lock().expect("lock").faults.clear();
    }

    /// Requests served so far.
    pub fn log(&self) -> Vec<Request> {
        self.state.lock().expect("lock").log.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Ok(mut state) = self.state.lock() {
            for s in state.held.drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn serve(stream: TcpStream, root: &Path, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    loop {
        let Some((path, range, if_none_match)) = read_request(&mut reader) else { return };
        let (fault, index) = {
            let Ok(mut st) = state.lock() else { return };
            let request = Request {
                path: path.clone(),
                range: range.clone(),
                if_none_match: if_none_match.clone(),
                status: 0,
                body_bytes: 0,
            };
            st.log.push(request);
            let fault = st.faults.iter().find(|(suffix, _)| path.ends_with(suffix.as_str())).map(|(_, f)| f.clone());
            (fault, st.log.len() - 1)
        };
        if fault == Some(Fault::Hang) {
            if let (Ok(mut st), Ok(clone)) = (state.lock(), stream.try_clone()) {
                st.held.push(clone);
            }
            return;
        }
        let (reuse, status, body_bytes) =
            respond(&mut stream, root, &path, range.as_deref(), if_none_match.as_deref(), fault.as_ref());
        if let Ok(mut st) = state.lock()
            && let Some(entry) = st.log.get_mut(index)
        {
            entry.status = status;
            entry.body_bytes = body_bytes;
        }
        if !reuse {
            return;
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<(String, Option<String>, Option<String>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut range = None;
    let mut if_none_match = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("if-none-match") {
                if_none_match = Some(value.trim().to_owned());
            }
        }
    }
    Some((path, range, if_none_match))
}

/// An `ETag` for `body`: FNV-1a of the content and its length, quoted (a strong validator).
pub fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{:x}-{hash:016x}\"", body.len())
}

/// Writes one response; returns whether the connection may be reused, the status and the body
/// bytes sent.
fn respond(
    stream: &mut TcpStream,
    root: &Path,
    path: &str,
    range: Option<&str>,
    if_none_match: Option<&str>,
    fault: Option<&Fault>,
) -> (bool, u16, usize) {
    if let Some(Fault::Status(code)) = fault {
        let _ = write!(stream, "HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\n\r\n");
        return (true, *code, 0);
    }
    if let Some(Fault::Redirect(location)) = fault {
        let _ = write!(stream, "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
        return (true, 302, 0);
    }
    let file: PathBuf = root.join(path.trim_start_matches('/'));
    let Ok(mut body) = std::fs::read(&file) else {
        let _ = write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return (true, 404, 0);
    };
    let tag = etag(&body);
    if fault.is_none() && if_none_match.is_some_and(|m| m.split(',').any(|t| t.trim() == tag || t.trim() == "*")) {
        let _ = write!(stream, "HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\n\r\n");
        return (true, 304, 0);
    }
    if let Some(Fault::Corrupt(at)) = fault
        && let Some(b) = body.get_mut(*at)
    {
        *b ^= 0x01;
    }
    let start = match (range, fault) {
        (_, Some(Fault::NoRange)) | (None, _) => None,
        (Some(r), _) => {
            r.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).and_then(|n| n.parse::<usize>().ok())
        }
    };
    let total = body.len();
    let (status, slice, code) = match start {
        Some(s) if s >= total => {
            let _ = write!(
                stream,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\n\r\n"
            );
            return (true, 416, 0);
        }
        Some(s) => (format!("206 Partial Content\r\nContent-Range: bytes {s}-{}/{total}", total - 1), &body[s..], 206),
        None => ("200 OK".to_owned(), &body[..], 200),
    };
    let head =
        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nETag: {tag}\r\n\r\n", slice.len());
    if stream.write_all(head.as_bytes()).is_err() {
        return (false, code, 0);
    }
    if let Some(Fault::Drip(interval)) = fault {
        for (sent, byte) in slice.iter().enumerate() {
            if stream.write_all(std::slice::from_ref(byte)).and_then(|()| stream.flush()).is_err() {
                return (false, code, sent);
            }
            std::thread::sleep(*interval);
        }
        return (true, code, slice.len());
    }
    if let Some(Fault::Truncate(n)) = fault {
        let n = (*n).min(slice.len());
        let _ = stream.write_all(&slice[..n]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return (false, code, n);
    }
    (stream.write_all(slice).is_ok(), code, slice.len())
}
