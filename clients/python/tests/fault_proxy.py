"""A TCP proxy in front of the real governor that misbehaves on purpose, one request at a time.

The client's retry rules are about the network between it and Paybound: a connection
refused, an answer that never comes, a 503 with ``Retry-After``, a stream cut in the
middle. This proxy produces those faults on a real socket while the governor behind it
is the real one, so what the tests check is what Paybound then did (one session, one
payment, the chain moved once), not what a stand-in was told.

Each request gets its own upstream connection (the proxy asks for ``Connection: close``),
so a plan applies to exactly one request; requests without a plan are forwarded.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import socket
import threading
from typing import Literal
from urllib.parse import urlsplit

Plan = Literal[
    "forward", "reply_503_retry_after", "reply_503", "reply_sellers_503_retry_after", "hold", "cut_after_first_event"
]

#: A request head is a few hundred bytes; the bound keeps a broken test from buffering forever.
HEAD_BYTES_MAX = 64 * 1024
HOLD_S = 30.0
IO_TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class FaultProxy:
    def __init__(self, target_url: str, port: int | None = None) -> None:
        target = urlsplit(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.port = port if port is not None else free_port()
        self.plans: collections.deque[Plan] = collections.deque()
        self.seen: list[SeenRequest] = []
        self._listener: socket.socket | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def start_after(self, delay_s: float) -> None:
        """Starts listening later: until then, connections to the port are refused."""
        timer = threading.Timer(delay_s, self.start)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.close()

    def requests_to(self, path_prefix: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.seen if r.path.startswith(path_prefix)]

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(IO_TIMEOUT_S)
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            request_line, headers = _parse_head(head)
            method, path, _ = request_line.split(" ", 2)
            body = rest
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = client.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self._lock:
                self.seen.append(SeenRequest(method, path, headers))
                plan: Plan = self.plans.popleft() if self.plans else "forward"
            if plan in ("reply_503", "reply_503_retry_after"):
                client.sendall(_paybound_503(retry_after=plan == "reply_503_retry_after"))
                return
            if plan == "reply_sellers_503_retry_after":
                client.sendall(_sellers_503())
                return
            upstream = socket.create_connection(self.target, timeout=IO_TIMEOUT_S)
            with upstream:
                upstream.sendall(_with_connection_close(request_line, headers) + body)
                if plan == "hold":
                    # The request took effect upstream; its answer never reaches the client.
                    self._closing.wait(HOLD_S)
                    return
                _relay(upstream, client, cut_after_first_event=plan == "cut_after_first_event")
        except OSError:
            return
        finally:
            client.close()


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > HEAD_BYTES_MAX:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _with_connection_close(request_line: str, headers: dict[str, str]) -> bytes:
    kept = {name: value for name, value in headers.items() if name not in ("connection", "keep-alive")}
    lines = [request_line, *(f"{name}: {value}" for name, value in kept.items()), "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _relay(upstream: socket.socket, client: socket.socket, *, cut_after_first_event: bool) -> None:
    relayed = b""
    while True:
        chunk = upstream.recv(65536)
        if not chunk:
            return
        if not cut_after_first_event:
            client.sendall(chunk)
            continue
        sent = len(relayed)
        relayed += chunk
        # The first event ends at the blank line after its id; nothing after it is relayed.
        first_id = relayed.find(b"\nid: ")
        first_end = relayed.find(b"\n\n", first_id) if first_id >= 0 else -1
        if first_end < 0:
            client.sendall(chunk)
            continue
        client.sendall(relayed[sent : first_end + 2])
        client.shutdown(socket.SHUT_RDWR)
        return


def _paybound_503(*, retry_after: bool) -> bytes:
    body = json.dumps(
        {
            "type": "https://paybound.dev/problems/not_ready",
            "title": "not ready",
            "status": 503,
            "code": "not_ready",
            "detail": "injected by the test's fault proxy",
        }
    ).encode()
    lines = [
        "HTTP/1.1 503 Service Unavailable",
        "content-type: application/problem+json",
        f"content-length: {len(body)}",
        "connection: close",
        *(["retry-after: 1"] if retry_after else []),
        "",
        "",
    ]
    return "\r\n".join(lines).encode("latin-1") + body


def _sellers_503() -> bytes:
    body = b'{"error":"busy"}'
    head = [
        "HTTP/1.1 503 Service Unavailable",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "retry-after: 1",
        "connection: close",
        "",
        "",
    ]
    return "\r\n".join(head).encode("latin-1") + body
