"""A real HTTP receiver for webhook tests: a server on a local port, in a thread, that records every
request and answers as told: "ok" (204), "500", or "slow" (sleeps past the sender's timeout, then 200).
`stop()` closes the port (a receiver that is down); `start()` opens it again."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int  # the status this receiver answered (the sender may have stopped listening)


@dataclass
class Receiver:
    port: int
    mode: str = "ok"
    slow_s: float = 2.0
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.answered < 300]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = {"ok": 204, "500": 500, "slow": 200}[receiver.mode]
                if receiver.mode == "slow":
                    time.sleep(receiver.slow_s)
                receiver.requests.append(Received(dict(self.headers.items()), body, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0" if status == 204 else "5")
                    self.end_headers()
                    if status != 204:
                        self.wfile.write(b"nope\n" if status == 500 else b"okay\n")
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None
