"""A TCP proxy in a thread that forwards until told to stop, then keeps every socket open and drops every
byte: what a probe sees when the network path to its target dies mid-query (no reset, no answer)."""

from __future__ import annotations

import select
import socket
import threading
import time


class StallingProxy:
    """Listens on 127.0.0.1:<port> and forwards to `upstream`. It stalls when `stall()` is called or when
    a client sends bytes containing `stall_on`; from then on nothing is forwarded in either direction
    (that message included) and no socket is closed, so the client waits for an answer that never
    comes. Use as a context manager; leaving it closes everything."""

    def __init__(self, upstream: tuple[str, int], *, stall_on: bytes | None = None):
        self.upstream = upstream
        self.stall_on = stall_on
        self.stalled = threading.Event()
        self.stalled_at: float | None = None  # time.monotonic() when it stalled
        self.connections = 0
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="stalling-proxy", daemon=True)

    def __enter__(self) -> StallingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stall(self) -> None:
        if not self.stalled.is_set():
            self.stalled_at = time.monotonic()
            self.stalled.set()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        self._listener.close()
        for sock in list(self._sockets):
            sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        try:
            while not self._closing.is_set():
                readable, _, _ = select.select(list(peer), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:  # one side closed: close the other, as a forwarding path does
                        return
                    if sock is client and self.stall_on and self.stall_on in data:
                        self.stall()
                    if not self.stalled.is_set():
                        peer[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()
