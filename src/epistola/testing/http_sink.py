"""A real HTTP server that records requests and answers as told: the peer for webhook and HTTP SMS tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True, kw_only=True)
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(frozen=True, kw_only=True)
class HttpAnswer:
    status: int = 200
    body: bytes = b'{"id": "ok"}'
    hang_up: bool = False  # read the request, then close the connection without answering


Responder = Callable[[HttpRequest, int], HttpAnswer]  # (request, number of earlier requests like it) -> answer


class HttpSink:
    """`with HttpSink(responder) as sink:` then POST to `sink.url`; `sink.requests` lists what came."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder or (lambda request, seen: HttpAnswer())
        self._lock = threading.Lock()
        self.requests: list[HttpRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None  # noqa: S101 - a test helper used wrongly should fail loudly
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HttpSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = HttpRequest(path=self.path, headers=dict(self.headers.items()), body=self.rfile.read(length))
                with sink._lock:
                    seen = sum(1 for r in sink.requests if r.body == request.body)
                    sink.requests.append(request)
                answer = sink.responder(request, seen)
                if answer.hang_up:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
