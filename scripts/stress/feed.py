"""The loopback feed server: static files, `Range: bytes=N-`, throttled artifacts."""

from __future__ import annotations

import http.server
import time


class FeedHandler(http.server.BaseHTTPRequestHandler):
    """A static file server with `Range: bytes=N-` and throttled artifacts (downloads take long
    enough to be killed in the middle)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        srv = self.server
        rel = self.path.split("?", 1)[0].lstrip("/")
        try:
            data = (srv.root / rel).read_bytes()  # type: ignore[attr-defined]
        except OSError:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            srv.stats["ranged"] += 1  # type: ignore[attr-defined]
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        srv.stats["requests"] += 1  # type: ignore[attr-defined]
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        try:
            if rel.endswith(".sea"):
                chunk = 64 * 1024
                pause = chunk / srv.rate  # type: ignore[attr-defined]
                for at in range(0, len(body), chunk):
                    self.wfile.write(body[at : at + chunk])
                    time.sleep(pause)
            else:
                self.wfile.write(body)
        except OSError:
            pass  # a killed client


class FeedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client killed mid-request
